//! The firmware rows: `cargo xtask firmware` (issue 15) is run as it is, and the footprint
//! lines it prints become rows of the table, in the results file's own format.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

/// The firmware's lines to read: (name as printed, figure, goal in bytes).
const LINES: [(&str, &str, Option<u64>); 4] = [
    (
        "codec + session + ws",
        "firmware `.text` of codec + session + ws (thumbv7em-none-eabihf, 4 channels, 1 KiB messages)",
        Some(48 * 1024),
    ),
    (".text", "firmware `.text`, the whole binary", None),
    (".data + .bss", "firmware static RAM (`.data` + `.bss`)", None),
    (
        "static RAM + stack",
        "firmware static RAM + peak stack",
        Some(16 * 1024),
    ),
];

/// Runs `cargo xtask firmware` (this binary, `firmware`) and appends its footprint rows.
pub(super) fn run(results: &Path) -> Result<(), String> {
    println!("\n==> bench firmware: cargo xtask firmware");
    let exe = std::env::current_exe().map_err(|e| format!("bench firmware: {e}"))?;
    let out = Command::new(exe)
        .arg("firmware")
        .current_dir(crate::workspace_root())
        .output()
        .map_err(|e| format!("bench firmware: cannot run xtask: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(format!("cargo xtask firmware failed ({})", out.status));
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(results)
        .map_err(|e| format!("{}: {e}", results.display()))?;
    for (name, figure, goal) in LINES {
        let bytes = figure_of(&stdout, name).ok_or_else(|| {
            format!("bench firmware: no `{name}` line in cargo xtask firmware's footprint")
        })?;
        let row = serde_json::json!({
            "kind": "row",
            "section": "Footprint",
            "figure": figure,
            "unit": "B",
            "fawkes": bytes as f64,
            "higher_is_better": false,
            "peer": "no peer",
            "peer_what": "none: no other no_std Phoenix client exists; against the issue's goal",
            "peer_value": null,
            "goal_ratio": null,
            "goal_at_most": goal.map(|g| g as f64),
            "command": "cargo xtask firmware",
        });
        writeln!(file, "{row}").map_err(|e| format!("{}: {e}", results.display()))?;
    }
    Ok(())
}

/// The bytes on the footprint line named `name` (`  NAME<pad to 22> BYTES B  KiB  note`).
fn figure_of(output: &str, name: &str) -> Option<u64> {
    output.lines().find_map(|line| {
        let rest = line.strip_prefix("  ")?;
        let (label, figures) = rest.split_at_checked(22)?;
        if label.trim() != name {
            return None;
        }
        figures.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::figure_of;

    #[test]
    fn footprint_lines_are_read_by_name() {
        let output = "\nfirmware footprint (...)\n  .text                  49304 B  48.1 KiB  the whole firmware\n  codec + session + ws   44312 B  43.3 KiB  goal <= 48 KiB: met\n  .data + .bss              20 B   0.0 KiB  \n";
        assert_eq!(figure_of(output, ".text"), Some(49304));
        assert_eq!(figure_of(output, "codec + session + ws"), Some(44312));
        assert_eq!(figure_of(output, ".data + .bss"), Some(20));
        assert_eq!(figure_of(output, ".rodata"), None);
    }
}
