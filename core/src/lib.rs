//! # fawkes-core
//!
//! The `no_std`, allocation-free protocol core of fawkes: a Phoenix Channels client, and the
//! server side of the protocol.
//!
//! Every layer is sans-IO: bytes and time go in, bytes and events come out. Nothing here
//! allocates, reads a clock or panics on input; every capacity is fixed at compile time or
//! supplied by the caller.
//!
//! The modules, bottom-up (each uses only the ones above it):
//!
//! | module | role |
//! | --- | --- |
//! | [`time`] | the caller's clock as milliseconds: [`time::Instant`], [`time::Duration`] |
//! | [`codec`] | Phoenix message serializers (V2 JSON, V1 JSON, V2 binary), both roles |
//! | [`router`] | fixed-capacity topic table: exact topics and `prefix*` patterns (for topic mapping and on-demand joins) |
//! | [`presence`] | Phoenix Presence sync (phoenix.js's `Presence`) in fixed storage, on raw JSON |
//! | [`session`] | the client channels state machine: refs, joins, heartbeat, reconnect, rejoin, timeouts |
//! | [`server`] | its mirror, one Phoenix transport process per client connection (Phoenix 1.7.24's rules) |
//! | [`url`] | `ws://` / `wss://` URL parser |
//! | [`ws`] | RFC 6455 client codec: upgrade handshake and frames (feature `ws`) |
//! | [`connection`] | WebSocket codec + session over one byte stream (feature `ws`) |
//! | [`io`] | blocking and async drivers over `embedded-io` streams (features `io`, `async`) |
//!
//! Logging (feature `defmt` or `log`) goes through the crate's `net_*!` macros.
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

// rustfmt sorts these; the bottom-up order is the table above.
pub mod codec;
#[cfg(feature = "ws")]
pub mod connection;
#[cfg(feature = "io")]
pub mod io;
pub mod presence;
mod refs;
pub mod router;
pub mod server;
pub mod session;
pub mod time;
pub mod url;
#[cfg(feature = "ws")]
pub mod ws;
