//! fawkes: the host side of the Phoenix Channels protocol core.
//!
//! Everything the protocol says is decided by [`fawkes_core`]; this crate does sockets,
//! tasks, timers and fan-out on tokio:
//!
//! - [`client`]: the async client (ws and wss) with a cloneable handle and a `Handler` trait;
//! - [`endpoint`]: a Phoenix-compatible local broadcast endpoint for phoenix.js and every
//!   other Phoenix client;
//! - [`repeater`]: upstream clients re-broadcast, byte for byte, into the local endpoint;
//! - [`JsonText`]: a JSON payload, checked once where it enters and shared by all three.

pub mod client;
mod clock;
pub mod endpoint;
mod json;
pub mod repeater;

pub use fawkes_core as core;
pub use json::{JsonError, JsonText};

/// The README's code blocks (the core's firmware loop and the tokio examples), compiled by
/// `cargo test --doc -p fawkes`.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
