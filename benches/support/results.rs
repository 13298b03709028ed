//! The results channel of `cargo xtask bench`: every figure a bench measures is appended as
//! one JSON line to the file named by `FAWKES_BENCH_RESULTS`, and xtask turns the lines into
//! BENCHMARKS.md's table and plot. Without the variable nothing is written (the benches
//! still print their own tables).
//!
//! Shared by the benches of both crates (`#[path]`), so the line format is defined once;
//! `xtask/src/bench/results.rs` reads it.

// Each bench binary uses only part of this module.
#![allow(dead_code)]

use std::io::Write as _;

/// The variable naming the JSON-lines file.
const RESULTS_VAR: &str = "FAWKES_BENCH_RESULTS";

/// Which way a figure is better, so the ratio always reads "times better than the peer".
#[derive(Clone, Copy)]
pub(crate) enum Better {
    Higher,
    Lower,
}

/// What a figure is judged against.
#[derive(Clone, Copy)]
pub(crate) enum Goal {
    /// No goal in the issue.
    None,
    /// fawkes at least this many times better than the peer.
    Ratio(f64),
    /// fawkes at most this value (in the figure's unit), for absolute footprint goals.
    AtMost(f64),
}

/// The peer a figure is measured against in the same run.
pub(crate) struct Peer<'a> {
    /// Short name for the table's peer column.
    pub(crate) name: &'a str,
    /// What the peer is (one line).
    pub(crate) what: &'a str,
    /// The peer's figure; `None` when there is no peer for this figure (said in `what`).
    pub(crate) value: Option<f64>,
}

/// One row of the table.
pub(crate) struct Row<'a> {
    /// The table section (`Codec`, `Session`, `Client`, `Endpoint`, `Relay`, `Footprint`).
    pub(crate) section: &'a str,
    pub(crate) figure: &'a str,
    pub(crate) unit: &'a str,
    pub(crate) fawkes: f64,
    pub(crate) better: Better,
    pub(crate) peer: Peer<'a>,
    pub(crate) goal: Goal,
    /// The command that reproduces the row.
    pub(crate) command: &'a str,
}

/// Appends `row` to the results file, if one is named.
pub(crate) fn row(row: &Row<'_>) {
    let (goal_ratio, goal_at_most) = match row.goal {
        Goal::None => (None, None),
        Goal::Ratio(r) => (Some(r), None),
        Goal::AtMost(v) => (None, Some(v)),
    };
    append(&serde_json::json!({
        "kind": "row",
        "section": row.section,
        "figure": row.figure,
        "unit": row.unit,
        "fawkes": row.fawkes,
        "higher_is_better": matches!(row.better, Better::Higher),
        "peer": row.peer.name,
        "peer_what": row.peer.what,
        "peer_value": row.peer.value,
        "goal_ratio": goal_ratio,
        "goal_at_most": goal_at_most,
        "command": row.command,
    }));
}

/// Appends one point of the plot's `series` (fan-out deliveries per second at `x`
/// subscribers).
pub(crate) fn point(series: &str, x: f64, y: f64) {
    append(&serde_json::json!({ "kind": "point", "series": series, "x": x, "y": y }));
}

fn append(line: &serde_json::Value) {
    let Some(path) = std::env::var_os(RESULTS_VAR) else {
        return;
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{RESULTS_VAR}={}: {e}", path.to_string_lossy()));
    writeln!(file, "{line}").unwrap_or_else(|e| panic!("{RESULTS_VAR}: {e}"));
}
