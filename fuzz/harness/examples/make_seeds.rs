//! Writes the seed corpora to `fuzz/corpus/<target>/seed-*`:
//! `cargo run -p fawkes-fuzz-harness --example make_seeds [target...]` (every target when
//! none is named; name some to regenerate only theirs, e.g. after an input format change).

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let only: Vec<String> = std::env::args().skip(1).collect();
    let seeds = fawkes_fuzz_harness::seeds::all(&root.join("core/tests/fixtures"));
    let mut written = 0;
    for seed in &seeds {
        if !only.is_empty() && !only.iter().any(|t| t == seed.target) {
            continue;
        }
        let dir = root.join("fuzz/corpus").join(seed.target);
        std::fs::create_dir_all(&dir).expect("corpus folder");
        std::fs::write(dir.join(format!("seed-{}", seed.name)), &seed.data).expect("write seed");
        written += 1;
    }
    println!("wrote {written} seeds");
}
