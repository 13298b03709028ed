//! # fawkes-core
//!
//! The `no_std`, allocation-free protocol core of fawkes, a Phoenix Channels client.
//!
//! Every layer is sans-IO: bytes and time go in, bytes and events come out. Nothing here
//! allocates, reads a clock or panics on input; every capacity is fixed at compile time or
//! supplied by the caller.
//!
//! | module | role |
//! | --- | --- |
//! | [`codec`] | Phoenix message serializers (V2 JSON, V1 JSON, V2 binary), both roles |
//! | [`connection`] | WebSocket codec + session over one byte stream (feature `ws`) |
//! | [`io`] | blocking and async drivers over `embedded-io` streams (features `io`, `async`) |
//! | [`router`] | fixed-capacity topic table: exact topics and `prefix*` patterns |
//! | [`session`] | the channels state machine: refs, joins, heartbeat, reconnect, rejoin, timeouts |
//! | [`time`] | the caller's clock as milliseconds: [`time::Instant`], [`time::Duration`] |
//! | [`ws`] | RFC 6455 client codec: upgrade handshake and frames (feature `ws`) |
//!
//! The crate forbids `unsafe` and denies `unwrap`, `expect`, `panic`, slice indexing and
//! unchecked arithmetic outside tests, so that no input can reach a panic.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

#[macro_use]
mod log;

// Bottom-up: each module only uses the ones above it.
pub mod codec;
#[cfg(feature = "ws")]
pub mod connection;
#[cfg(feature = "io")]
pub mod io;
mod refs;
pub mod router;
pub mod server;
pub mod session;
pub mod time;
pub mod url;
#[cfg(feature = "ws")]
pub mod ws;

/// The README's code blocks, compiled by `cargo test --doc -p fawkes-core`.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
