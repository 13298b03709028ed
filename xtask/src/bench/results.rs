//! Reads the JSON lines the benches append (`benches/support/results.rs` writes them).

use std::path::Path;

use serde_json::Value;

/// One table row, as a bench recorded it.
pub(super) struct Row {
    pub(super) section: String,
    pub(super) figure: String,
    pub(super) unit: String,
    pub(super) fawkes: f64,
    pub(super) higher_is_better: bool,
    pub(super) peer: String,
    pub(super) peer_what: String,
    pub(super) peer_value: Option<f64>,
    pub(super) goal_ratio: Option<f64>,
    pub(super) goal_at_most: Option<f64>,
    pub(super) command: String,
}

impl Row {
    /// How many times better than the peer fawkes is (above 1: better).
    pub(super) fn ratio(&self) -> Option<f64> {
        let peer = self.peer_value?;
        let ratio = if self.higher_is_better {
            self.fawkes / peer
        } else {
            peer / self.fawkes
        };
        ratio.is_finite().then_some(ratio)
    }
}

/// One point of a plot series.
pub(super) struct Point {
    pub(super) series: String,
    pub(super) x: f64,
    pub(super) y: f64,
}

/// What kind of run recorded the figures (the file's first line).
#[derive(Clone, Copy)]
pub(super) struct RunKind {
    pub(super) quick: bool,
    /// Only some parts ran.
    pub(super) partial: bool,
}

/// Everything one run recorded.
pub(super) struct Records {
    pub(super) run: Option<RunKind>,
    pub(super) rows: Vec<Row>,
    pub(super) points: Vec<Point>,
}

/// Starts a fresh results file with the run's kind.
pub(super) fn start(path: &Path, quick: bool, partial: bool) -> Result<(), String> {
    let line = serde_json::json!({"kind": "run", "quick": quick, "partial": partial});
    std::fs::write(path, format!("{line}\n")).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads the results file (missing: nothing was recorded).
pub(super) fn read(path: &Path) -> Result<Records, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut records = Records {
        run: None,
        rows: Vec::new(),
        points: Vec::new(),
    };
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = || format!("{}:{}", path.display(), n + 1);
        let value: Value = serde_json::from_str(line).map_err(|e| format!("{}: {e}", at()))?;
        match value["kind"].as_str() {
            Some("row") => records.rows.push(row(&value).ok_or_else(|| {
                format!(
                    "{}: a row needs section, figure, unit, fawkes, command",
                    at()
                )
            })?),
            Some("run") => {
                records.run = Some(RunKind {
                    quick: value["quick"].as_bool().unwrap_or(true),
                    partial: value["partial"].as_bool().unwrap_or(true),
                })
            }
            Some("point") => records.points.push(Point {
                series: string(&value["series"]).ok_or_else(|| format!("{}: series", at()))?,
                x: value["x"].as_f64().ok_or_else(|| format!("{}: x", at()))?,
                y: value["y"].as_f64().ok_or_else(|| format!("{}: y", at()))?,
            }),
            _ => return Err(format!("{}: unknown kind", at())),
        }
    }
    Ok(records)
}

fn string(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

fn row(value: &Value) -> Option<Row> {
    Some(Row {
        section: string(&value["section"])?,
        figure: string(&value["figure"])?,
        unit: string(&value["unit"])?,
        fawkes: value["fawkes"].as_f64()?,
        higher_is_better: value["higher_is_better"].as_bool().unwrap_or(true),
        peer: string(&value["peer"]).unwrap_or_default(),
        peer_what: string(&value["peer_what"]).unwrap_or_default(),
        peer_value: value["peer_value"].as_f64(),
        goal_ratio: value["goal_ratio"].as_f64(),
        goal_at_most: value["goal_at_most"].as_f64(),
        command: string(&value["command"])?,
    })
}
