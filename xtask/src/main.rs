//! Developer tasks for fawkes: `cargo xtask <task>`.
//!
//! `cargo xtask test` is the one test command: the README documents it and `.ci/run` runs
//! exactly it. It installs what it needs (the embedded target, rustfmt, clippy), so a fresh
//! machine needs nothing but rustup.

mod apt;
mod bench;
mod bus;
mod firmware;

use std::env;
use std::process::{Command, ExitCode};

/// The embedded target that proves `fawkes-core` is `no_std` without `alloc`.
const EMBEDDED_TARGET: &str = "thumbv7em-none-eabihf";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("bench") => bench::run(args.get(1..).unwrap_or_default()),
        Some("fuzz") => fuzz(args.get(1..).unwrap_or_default()),
        Some("firmware") => firmware::firmware(),
        Some("help") | Some("--help") | None => {
            print_help();
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`; see `cargo xtask help`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print_help() {
    println!(
        "cargo xtask <task>\n\n\
         test          the full gate: fmt, clippy -D warnings, every test (fuzz corpus replay\n\
         \x20             included), the {EMBEDDED_TARGET} build, `firmware`, a {SMOKE_SECONDS} s nightly\n\
         \x20             smoke of every fuzz target ({SKIP_SMOKE_VAR}=1 skips the smoke)\n\
         bench [--quick] [PART [ARGS]]\n\
         \x20             every figure against its peer in the same run (codec, session, client,\n\
         \x20             endpoint, repeater, bus, firmware), written to BENCHMARKS.md and\n\
         \x20             benches/fanout.svg; --quick (a short smoke) or one PART writes\n\
         \x20             target/bench/ instead; --render rewrites them from the last run's\n\
         \x20             target/bench/results.jsonl without measuring\n\
         firmware      build examples/firmware, boot it in QEMU (mps2-an386) against `fawkes serve`\n\
         \x20             through the serial bridge, check what it prints, print its footprint\n\
         fuzz [--seconds N] [TARGET]\n\
         \x20             run the fuzz targets on nightly, {DEFAULT_FUZZ_SECONDS} s each by default, and merge\n\
         \x20             inputs with new coverage into fuzz/corpus/<target>; targets: {}",
        FUZZ_TARGETS.join(", ")
    );
}

/// Runs a command from the workspace root, failing with its description if it fails.
fn run(what: &str, program: &str, args: &[&str]) -> Result<(), String> {
    println!("\n==> {what}: {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("{what}: cannot run `{program}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn workspace_root() -> std::path::PathBuf {
    let manifest = env!("CARGO_MANIFEST_DIR");
    std::path::Path::new(manifest)
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| manifest.into())
}

/// Installs the rustup components and targets the gate needs, if missing.
fn install_toolchain_parts() -> Result<(), String> {
    let components = output("rustup", &["component", "list", "--installed"])
        .map_err(|e| format!("{e}: rustup is required (https://rustup.rs)"))?;
    for component in ["rustfmt", "clippy"] {
        if !components.lines().any(|l| l.starts_with(component)) {
            run(
                "install component",
                "rustup",
                &["component", "add", component],
            )?;
        }
    }
    let targets = output("rustup", &["target", "list", "--installed"])?;
    if !targets.lines().any(|l| l.trim() == EMBEDDED_TARGET) {
        run(
            "install target",
            "rustup",
            &["target", "add", EMBEDDED_TARGET],
        )?;
    }
    Ok(())
}

fn test() -> Result<(), String> {
    install_toolchain_parts()?;
    run("format", "cargo", &["fmt", "--all", "--", "--check"])?;
    run(
        "clippy",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run(
        "clippy (core without default features)",
        "cargo",
        &[
            "clippy",
            "-p",
            "fawkes-core",
            "--no-default-features",
            "--lib",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    install_interop_packages()?;
    bus::install_redis()?;
    run("tests", "cargo", &["test", "--workspace", "--all-targets"])?;
    run("doc tests", "cargo", &["test", "--workspace", "--doc"])?;
    for features in [
        &["--no-default-features"][..],
        &[],
        &["--features", "async,defmt"],
        &["--no-default-features", "--features", "log"],
    ] {
        let mut args = vec![
            "build",
            "-p",
            "fawkes-core",
            "--lib",
            "--target",
            EMBEDDED_TARGET,
        ];
        args.extend_from_slice(features);
        run("no_std build", "cargo", &args)?;
    }
    firmware::firmware()?;
    fuzz_smoke()?;
    println!("\nxtask test: all checks passed");
    Ok(())
}

/// The phoenix.js interop package the endpoint's `endpoint_interop` test runs, installed
/// from its lockfile. node and npm are required: their absence fails the gate, clearly.
fn install_interop_packages() -> Result<(), String> {
    for tool in ["node", "npm"] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Err(format!(
                "`{tool}` not found: the phoenix.js interop test (tests/interop) needs Node.js 18+ \
                 and npm (e.g. `apt-get install nodejs npm`)"
            ));
        }
    }
    let dir = workspace_root().join("tests").join("interop");
    println!("\n==> phoenix.js interop packages: npm ci (in tests/interop)");
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .status()
        .map_err(|e| format!("npm ci: cannot run `npm`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("npm ci in tests/interop failed ({status})"))
    }
}

// ----- fuzzing ---------------------------------------------------------------------------
//
// The targets live in `fuzz/` (a cargo-fuzz crate, outside the workspace); their checks live
// in `fuzz/harness` (a workspace member), whose test `replay.rs` replays every committed
// corpus file on stable as part of `cargo test --workspace` above. See FUZZING.md.

/// The cargo-fuzz targets, as listed in `fuzz/Cargo.toml` and `fuzz/harness/src/lib.rs`.
const FUZZ_TARGETS: [&str; 9] = [
    "v2_text",
    "v1_text",
    "v2_binary",
    "round_trip",
    "ws_decoder",
    "upgrade_response",
    "session",
    "connection",
    "server",
];

/// Seconds per target for `cargo xtask fuzz` without `--seconds`.
const DEFAULT_FUZZ_SECONDS: u32 = 60;

/// Seconds per target in the smoke that ends `cargo xtask test`.
const SMOKE_SECONDS: u32 = 10;

/// Set to `1` to skip the nightly fuzz smoke in `cargo xtask test` (documented in FUZZING.md).
const SKIP_SMOKE_VAR: &str = "FAWKES_SKIP_FUZZ_SMOKE";

/// The build flags every fuzz run uses, so the smoke and long runs share one build: no
/// sanitizer (the code is safe Rust; this roughly doubles the speed) but debug assertions,
/// so arithmetic overflow panics.
const FUZZ_BUILD_FLAGS: [&str; 3] = ["--sanitizer", "none", "--debug-assertions"];

/// Checks for the nightly toolchain and installs cargo-fuzz if it is missing.
fn install_fuzz_tools() -> Result<(), String> {
    let toolchains = output("rustup", &["toolchain", "list"])
        .map_err(|e| format!("{e}: rustup is required (https://rustup.rs)"))?;
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        return Err(format!(
            "the fuzz smoke needs the nightly toolchain (cargo-fuzz builds with \
             sanitizer-coverage flags only nightly accepts). Install it with \
             `rustup toolchain install nightly`, or set {SKIP_SMOKE_VAR}=1 to skip the smoke \
             (the stable corpus replay still runs in `cargo test`)."
        ));
    }
    let installed = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !installed {
        run(
            "install cargo-fuzz",
            "cargo",
            &["install", "cargo-fuzz", "--locked"],
        )?;
    }
    Ok(())
}

/// Fuzzes `target` for `seconds`, reading the committed corpus and regressions and writing
/// new inputs to `scratch`. A crash fails with the way to reproduce it.
fn fuzz_run(target: &str, seconds: u32, scratch: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let scratch = scratch.display().to_string();
    let corpus = format!("fuzz/corpus/{target}");
    let regressions = format!("fuzz/regressions/{target}");
    let max_time = format!("-max_total_time={seconds}");
    let mut args = vec!["+nightly", "fuzz", "run"];
    args.extend_from_slice(&FUZZ_BUILD_FLAGS);
    args.extend_from_slice(&[target, &scratch, &corpus]);
    if workspace_root().join(&regressions).is_dir() {
        args.push(&regressions);
    }
    args.extend_from_slice(&["--", &max_time, "-timeout=10", "-print_final_stats=1"]);
    run(&format!("fuzz {target}"), "cargo", &args).map_err(|e| {
        format!(
            "{e}: the crashing input is in fuzz/artifacts/{target}/. Reproduce it with \
             `cargo +nightly fuzz run --sanitizer none --debug-assertions {target} <file>`, \
             or on stable by copying it to fuzz/regressions/{target}/ and running \
             `cargo test -p fawkes-fuzz-harness`"
        )
    })
}

/// The last step of `cargo xtask test`: every target for a few seconds on nightly.
fn fuzz_smoke() -> Result<(), String> {
    if env::var(SKIP_SMOKE_VAR).is_ok_and(|v| v == "1") {
        println!("\n==> fuzz smoke: skipped ({SKIP_SMOKE_VAR}=1)");
        return Ok(());
    }
    install_fuzz_tools()?;
    let mut build = vec!["+nightly", "fuzz", "build"];
    build.extend_from_slice(&FUZZ_BUILD_FLAGS);
    run("fuzz build", "cargo", &build)?;
    // New inputs go to a scratch folder, so the smoke never changes the committed corpus.
    let scratch = env::temp_dir().join("fawkes-fuzz-smoke");
    let _ = std::fs::remove_dir_all(&scratch);
    for target in FUZZ_TARGETS {
        fuzz_run(target, SMOKE_SECONDS, &scratch.join(target))?;
    }
    Ok(())
}

/// `cargo xtask fuzz [--seconds N] [TARGET]`: fuzz, then merge inputs with new coverage into
/// the committed corpus (`-merge=1` keeps only those that add coverage).
fn fuzz(args: &[String]) -> Result<(), String> {
    let mut seconds = DEFAULT_FUZZ_SECONDS;
    let mut targets: Vec<&str> = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = rest.next().ok_or("--seconds needs a value")?;
                seconds = value
                    .parse()
                    .map_err(|_| format!("--seconds: `{value}` is not a number"))?;
            }
            name if FUZZ_TARGETS.contains(&name) => targets.push(name),
            other => {
                return Err(format!(
                    "unknown fuzz target or option `{other}`; targets: {}",
                    FUZZ_TARGETS.join(", ")
                ))
            }
        }
    }
    if targets.is_empty() {
        targets = FUZZ_TARGETS.to_vec();
    }
    install_fuzz_tools()?;
    let scratch = workspace_root().join("fuzz/target/new-corpus");
    for target in targets {
        let new = scratch.join(target);
        fuzz_run(target, seconds, &new)?;
        let corpus = format!("fuzz/corpus/{target}");
        let new = new.display().to_string();
        let mut merge = vec!["+nightly", "fuzz", "run"];
        merge.extend_from_slice(&FUZZ_BUILD_FLAGS);
        merge.extend_from_slice(&[target, &corpus, &new, "--", "-merge=1"]);
        run(
            &format!("merge new coverage into {corpus}"),
            "cargo",
            &merge,
        )?;
    }
    Ok(())
}
