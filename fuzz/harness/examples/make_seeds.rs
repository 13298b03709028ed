//! Writes the seed corpora to `fuzz/corpus/<target>/seed-*`:
//! `cargo run -p fawkes-fuzz-harness --example make_seeds`.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let seeds = fawkes_fuzz_harness::seeds::all(&root.join("core/tests/fixtures"));
    for seed in &seeds {
        let dir = root.join("fuzz/corpus").join(seed.target);
        std::fs::create_dir_all(&dir).expect("corpus folder");
        std::fs::write(dir.join(format!("seed-{}", seed.name)), &seed.data).expect("write seed");
    }
    println!("wrote {} seeds", seeds.len());
}
