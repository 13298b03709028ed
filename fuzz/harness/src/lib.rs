//! # fawkes-fuzz-harness
//!
//! The checks behind every fuzz target of fawkes, as plain functions of the fuzzer's bytes:
//! one `pub fn <target>(data: &[u8])` per target. They panic when a property fails.
//!
//! Two callers share them, so a crash found once stays a regression test:
//!
//! * the cargo-fuzz crate in `fuzz/` (nightly, libFuzzer), whose targets are one line each;
//! * the stable test `tests/replay.rs`, run by `cargo test --workspace`, which feeds every file
//!   of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` to the same function.
//!
//! See `FUZZING.md` at the repository root for the targets and how to run them.

mod binary;
mod connection;
mod oracle;
mod round_trip;
pub mod seeds;
mod server;
mod session;
mod text;
mod upgrade;
mod ws;

pub use binary::v2_binary;
pub use connection::connection;
pub use round_trip::round_trip;
pub use server::server;
pub use session::session;
pub use text::{v1_text, v2_text};
pub use upgrade::upgrade_response;
pub use ws::ws_decoder;

/// A fuzz target: its name (the cargo-fuzz binary and the corpus folder) and its check.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, in the order `cargo xtask fuzz` runs them.
pub const TARGETS: &[Target] = &[
    ("v2_text", v2_text),
    ("v1_text", v1_text),
    ("v2_binary", v2_binary),
    ("round_trip", round_trip),
    ("ws_decoder", ws_decoder),
    ("upgrade_response", upgrade_response),
    ("session", session),
    ("connection", connection),
    ("server", server),
];
