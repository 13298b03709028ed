//! `cargo xtask bench`: every figure of BENCHMARKS.md, fawkes against a real peer measured
//! in the same run.
//!
//! Each bench appends its figures as JSON lines to the file named by `FAWKES_BENCH_RESULTS`
//! (`benches/support/results.rs` writes them); this module runs the benches with that
//! variable set, then turns the lines into the table (`report.rs`) and the fan-out plot
//! (`plot.rs`). One file per concern: `setup.rs` installs the peers, `results.rs` reads the
//! lines, `embedded.rs` reads the firmware's footprint from `cargo xtask firmware`.

mod embedded;
mod plot;
mod report;
mod results;
mod setup;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::workspace_root;

/// The parts, in the order a full run takes them (memory-hungry and long ones last;
/// `bus` prints its own table, see BENCHMARKS.md's bus section; `firmware` is
/// `cargo xtask firmware`, its footprint read into the table).
const PARTS: [&str; 7] = [
    "codec", "session", "client", "endpoint", "repeater", "bus", "firmware",
];

/// What one `cargo xtask bench` invocation does.
struct Options {
    quick: bool,
    /// Measure nothing: rewrite the table and plot from the last run's results.
    render: bool,
    /// `None`: every part.
    only: Option<String>,
    /// Arguments passed on to the one part's bench binary.
    extra: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        quick: false,
        render: false,
        only: None,
        extra: Vec::new(),
    };
    for arg in args {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--render" => options.render = true,
            part if options.only.is_none() && PARTS.contains(&part) => {
                options.only = Some(part.to_owned());
            }
            other if options.only.is_some() => options.extra.push(other.to_owned()),
            other => {
                return Err(format!(
                "bench: unknown part or option `{other}`; parts: {}, options: --quick, --render",
                PARTS.join(", ")
            ))
            }
        }
    }
    Ok(options)
}

/// `cargo xtask bench [--quick] [PART [ARGS]]`, or `cargo xtask bench --render`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let root = workspace_root();
    let out_dir = root.join("target").join("bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let results = out_dir.join("results.jsonl");

    if !options.render {
        measure(&options, &results)?;
    }
    let records = results::read(&results)?;
    let kind = records.run.ok_or_else(|| {
        format!(
            "{}: no results of a run to render; run `cargo xtask bench` first",
            results.display()
        )
    })?;
    // A full run regenerates the committed file; a quick or partial run writes beside the
    // results, so a smoke never overwrites the committed figures.
    let (markdown, svg, svg_link) = if kind.quick || kind.partial {
        (
            out_dir.join("BENCHMARKS.md"),
            out_dir.join("fanout.svg"),
            "fanout.svg",
        )
    } else {
        (
            root.join("BENCHMARKS.md"),
            root.join("benches").join("fanout.svg"),
            "benches/fanout.svg",
        )
    };
    plot::fanout(&records, &svg)?;
    let run = report::RunInfo {
        quick: kind.quick,
        plot_link: svg_link,
        machine: machine(),
    };
    report::write(&records, &run, &markdown)?;
    println!(
        "\nxtask bench: {} figures; table in {}, plot in {}",
        records.rows.len(),
        markdown.display(),
        svg.display()
    );
    Ok(())
}

/// Runs the parts, their figures into a fresh `results` file.
fn measure(options: &Options, results: &Path) -> Result<(), String> {
    let parts: Vec<&str> = match &options.only {
        Some(part) => vec![part.as_str()],
        None => PARTS.to_vec(),
    };
    results::start(results, options.quick, options.only.is_some())?;
    let peers = setup::install(&parts)?;
    for part in &parts {
        match *part {
            "firmware" => embedded::run(results)?,
            bench => run_part(bench, options, results, &peers)?,
        }
    }
    Ok(())
}

/// Runs one part's bench with the results variable set.
fn run_part(
    part: &str,
    options: &Options,
    results: &Path,
    peers: &setup::Peers,
) -> Result<(), String> {
    let mut args: Vec<String> = match part {
        "codec" => ["bench", "-p", "fawkes-core", "--bench", "codec", "--"]
            .map(String::from)
            .to_vec(),
        bench => ["bench", "-p", "fawkes", "--bench", bench, "--"]
            .map(String::from)
            .to_vec(),
    };
    args.extend(options.extra.iter().cloned());
    println!("\n==> bench {part}: cargo {}", args.join(" "));
    let mut command = Command::new("cargo");
    command
        .args(&args)
        .current_dir(workspace_root())
        .env("FAWKES_BENCH_RESULTS", results)
        .env("FAWKES_BENCH_QUICK", if options.quick { "1" } else { "0" });
    if let Some(client) = &peers.phoenix_channels_client {
        command.env(setup::PEER_CLIENT_VAR, client);
    }
    let status = command
        .status()
        .map_err(|e| format!("bench {part}: cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("bench {part} failed ({status})"))
    }
}

/// One line about the machine the figures come from.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let rustc = crate::output("rustc", &["--version"]).unwrap_or_default();
    let node = crate::output("node", &["--version"]).unwrap_or_default();
    format!(
        "{cpus} CPUs ({model}), {}, node {}",
        rustc.trim(),
        node.trim()
    )
}

/// The peers crate's directory (its own workspace, never built by `cargo xtask test`).
fn peers_dir() -> PathBuf {
    workspace_root().join("benches").join("peers")
}
