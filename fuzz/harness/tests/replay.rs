//! Replays every committed fuzz input through its target's checks, on stable Rust:
//! `fuzz/corpus/<target>/*` (seeds and coverage-increasing inputs) and
//! `fuzz/regressions/<target>/*` (inputs that once crashed). A crash found once stays a test.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use fawkes_fuzz_harness::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str) {
    let (_, check) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("known target");
    let corpus = files(&fuzz_dir().join("corpus").join(target));
    assert!(!corpus.is_empty(), "no committed corpus for {target}");
    let regressions = files(&fuzz_dir().join("regressions").join(target));
    let mut failed = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = std::fs::read(path).expect("readable input");
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: failing inputs:\n{}",
        failed.join("\n")
    );
    println!(
        "{target}: {} corpus and {} regression inputs pass",
        corpus.len(),
        regressions.len()
    );
}

#[test]
fn every_target_is_replayed() {
    let mut names: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    let mut tested = [
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
    tested.sort_unstable();
    assert_eq!(names, tested);
}

#[test]
fn replay_v2_text() {
    replay("v2_text");
}

#[test]
fn replay_v1_text() {
    replay("v1_text");
}

#[test]
fn replay_v2_binary() {
    replay("v2_binary");
}

#[test]
fn replay_round_trip() {
    replay("round_trip");
}

#[test]
fn replay_ws_decoder() {
    replay("ws_decoder");
}

#[test]
fn replay_upgrade_response() {
    replay("upgrade_response");
}

#[test]
fn replay_session() {
    replay("session");
}

#[test]
fn replay_connection() {
    replay("connection");
}

#[test]
fn replay_server() {
    replay("server");
}
