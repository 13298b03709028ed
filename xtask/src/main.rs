//! Developer tasks for fawkes: `cargo xtask <task>`.
//!
//! `cargo xtask test` is the one test command: the README documents it and `.ci/run` runs
//! exactly it. It installs what it needs (the embedded target, rustfmt, clippy), so a fresh
//! machine needs nothing but rustup.

use std::env;
use std::process::{Command, ExitCode};

/// The embedded target that proves `fawkes-core` is `no_std` without `alloc`.
const EMBEDDED_TARGET: &str = "thumbv7em-none-eabihf";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("bench") => bench(args.get(1..).unwrap_or_default()),
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
         test          the full gate: fmt, clippy -D warnings, every test, the {EMBEDDED_TARGET} build\n\
         bench [ARGS]  criterion benches (FAWKES_BENCH_QUICK=1 for a short smoke run)"
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
            run("install component", "rustup", &["component", "add", component])?;
        }
    }
    let targets = output("rustup", &["target", "list", "--installed"])?;
    if !targets.lines().any(|l| l.trim() == EMBEDDED_TARGET) {
        run("install target", "rustup", &["target", "add", EMBEDDED_TARGET])?;
    }
    Ok(())
}

fn test() -> Result<(), String> {
    install_toolchain_parts()?;
    run("format", "cargo", &["fmt", "--all", "--", "--check"])?;
    run(
        "clippy",
        "cargo",
        &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
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
    run("tests", "cargo", &["test", "--workspace", "--all-targets"])?;
    run("doc tests", "cargo", &["test", "--workspace", "--doc"])?;
    for features in [&["--no-default-features"][..], &[], &["--features", "defmt"]] {
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
    println!("\nxtask test: all checks passed");
    Ok(())
}

fn bench(extra: &[String]) -> Result<(), String> {
    let mut args = vec!["bench", "-p", "fawkes-core"];
    args.extend(extra.iter().map(String::as_str));
    run("benchmarks", "cargo", &args)
}
