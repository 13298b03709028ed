//! BENCHMARKS.md: the generated table between two markers; everything outside them
//! (hand-written notes, the firmware section of `cargo xtask firmware`) is kept as it is.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::results::{Records, Row};

const BEGIN: &str = "<!-- BEGIN cargo xtask bench: generated, edits here are overwritten -->";
const END: &str = "<!-- END cargo xtask bench -->";

/// The sections in table order; a section a run did not record is left out.
const SECTIONS: [&str; 6] = [
    "Codec",
    "Session",
    "Client",
    "Endpoint",
    "Relay",
    "Footprint",
];

/// About the run, for the block's first lines.
pub(super) struct RunInfo {
    pub(super) quick: bool,
    pub(super) plot_link: &'static str,
    pub(super) machine: String,
}

/// Writes (or creates) `path` with a fresh generated block.
pub(super) fn write(records: &Records, run: &RunInfo, path: &Path) -> Result<(), String> {
    let block = block(records, run);
    let old = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let text = splice(old.as_deref(), &block)?;
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `old` with its generated block replaced by `block` (a new file if there is none).
fn splice(old: Option<&str>, block: &str) -> Result<String, String> {
    let Some(old) = old else {
        return Ok(format!(
            "# Benchmarks\n\n\
             Every figure is fawkes against a real peer measured in the same run of \
             `cargo xtask bench` on the same machine; the ratio says how many times better \
             fawkes is (above 1: better). Regenerate with `cargo xtask bench`: only the part \
             between the markers is rewritten.\n\n{BEGIN}\n{block}{END}\n\n\
             ## Notes\n\n(hand-written analysis goes here)\n"
        ));
    };
    match (old.find(BEGIN), old.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            Ok(format!("{}{BEGIN}\n{block}{}", &old[..begin], &old[end..]))
        }
        (None, None) => Ok(format!("{old}\n{BEGIN}\n{block}{END}\n")),
        _ => {
            Err("BENCHMARKS.md: the generated block's markers are damaged; fix them by hand".into())
        }
    }
}

fn block(records: &Records, run: &RunInfo) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{}Machine: {}.\n",
        if run.quick {
            "**Quick smoke run (`--quick`): too short for the figures to mean much.** "
        } else {
            ""
        },
        run.machine
    );
    let mut by_section: BTreeMap<usize, Vec<&Row>> = BTreeMap::new();
    for row in &records.rows {
        let order = SECTIONS
            .iter()
            .position(|s| *s == row.section)
            .unwrap_or(SECTIONS.len());
        by_section.entry(order).or_default().push(row);
    }
    let _ = writeln!(
        out,
        "| figure | fawkes | peer | ratio | goal | what the peer is | reproduce |\n\
         | --- | ---: | ---: | ---: | --- | --- | --- |"
    );
    for rows in by_section.values() {
        if let Some(first) = rows.first() {
            let _ = writeln!(out, "| **{}** | | | | | | |", first.section);
        }
        for row in rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | `{}` |",
                row.figure,
                quantity(row.fawkes, &row.unit),
                match row.peer_value {
                    Some(v) => format!("{}: {}", row.peer, quantity(v, &row.unit)),
                    None => "—".into(),
                },
                row.ratio().map_or("—".into(), |r| format!("{r:.2}x")),
                verdict(row),
                row.peer_what,
                row.command
            );
        }
    }
    if !records.rows.iter().any(|r| r.figure.contains("firmware")) {
        let _ = writeln!(
            out,
            "| firmware `.text` and `.data+.bss` (thumbv7em-none-eabihf) | from `cargo xtask firmware` (issue 15) | | | `.text` ≤ 48 KiB | | `cargo xtask firmware` |"
        );
    }
    let missed: Vec<String> = records.rows.iter().filter_map(shortfall).collect();
    if !missed.is_empty() {
        let _ = writeln!(out, "\nGoals missed in this run:\n");
        for line in missed {
            let _ = writeln!(out, "- {line}");
        }
    }
    let _ = writeln!(
        out,
        "\n![fan-out deliveries per second against subscriber count]({})\n",
        run.plot_link
    );
    out
}

/// The goal and whether this run met it.
fn verdict(row: &Row) -> String {
    match (row.goal_ratio, row.goal_at_most, row.ratio()) {
        (Some(goal), _, Some(ratio)) => {
            format!(
                "≥ {goal}x: {}",
                if ratio >= goal { "met" } else { "**missed**" }
            )
        }
        (Some(goal), _, None) => format!("≥ {goal}x: no peer figure"),
        (None, Some(limit), _) => format!(
            "≤ {}: {}",
            quantity(limit, &row.unit),
            if row.fawkes <= limit {
                "met"
            } else {
                "**missed**"
            }
        ),
        (None, None, _) => String::new(),
    }
}

/// By how much a missed goal was missed.
fn shortfall(row: &Row) -> Option<String> {
    if let (Some(goal), Some(ratio)) = (row.goal_ratio, row.ratio()) {
        if ratio < goal {
            return Some(format!(
                "{} ({}), against {}: {ratio:.2}x for a goal of {goal}x, {:.0}% short",
                row.figure,
                row.section,
                row.peer,
                100.0 * (1.0 - ratio / goal)
            ));
        }
    }
    if let Some(limit) = row.goal_at_most {
        if row.fawkes > limit {
            return Some(format!(
                "{} ({}): {} for a limit of {}, {:.0}% over",
                row.figure,
                row.section,
                quantity(row.fawkes, &row.unit),
                quantity(limit, &row.unit),
                100.0 * (row.fawkes / limit - 1.0)
            ));
        }
    }
    None
}

/// A figure with its unit, scaled for reading (`12.35 M msg/s`, `3.00 KiB`, `73.1 ms`).
fn quantity(value: f64, unit: &str) -> String {
    match unit {
        "B" if value >= 1024.0 => return format!("{:.2} KiB", value / 1024.0),
        "B" => return format!("{value:.0} B"),
        "µs" if value >= 1000.0 => return format!("{:.1} ms", value / 1000.0),
        "µs" if value >= 10.0 => return format!("{value:.0} µs"),
        _ => {}
    }
    let (scaled, prefix) = if value >= 1e9 {
        (value / 1e9, "G ")
    } else if value >= 1e6 {
        (value / 1e6, "M ")
    } else if value >= 1e4 {
        (value / 1e3, "k ")
    } else {
        (value, "")
    };
    if scaled >= 100.0 {
        format!("{scaled:.0} {prefix}{unit}")
    } else {
        format!("{scaled:.2} {prefix}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_keeps_what_is_outside_the_markers() {
        let old =
            format!("# B\n\nintro\n{BEGIN}\nold table\n{END}\n\n## Firmware footprint\nkept\n");
        let new = splice(Some(&old), "new table\n").expect("splices");
        assert_eq!(
            new,
            format!("# B\n\nintro\n{BEGIN}\nnew table\n{END}\n\n## Firmware footprint\nkept\n")
        );
    }

    #[test]
    fn splice_refuses_damaged_markers() {
        assert!(splice(Some(&format!("{END}\n{BEGIN}\n")), "x").is_err());
        assert!(splice(Some(&format!("{BEGIN} only")), "x").is_err());
    }

    #[test]
    fn a_new_file_has_the_block_between_markers() {
        let new = splice(None, "table\n").expect("creates");
        assert!(new.contains(&format!("{BEGIN}\ntable\n{END}")));
    }

    #[test]
    fn quantities_scale() {
        assert_eq!(quantity(12_345_678.0, "msg/s"), "12.35 M msg/s");
        assert_eq!(quantity(420.4, "MB/s"), "420 MB/s");
        assert_eq!(quantity(73_100.0, "µs"), "73.1 ms");
        assert_eq!(quantity(3072.0, "B"), "3.00 KiB");
        assert_eq!(quantity(512.0, "B"), "512 B");
    }
}
