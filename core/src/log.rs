//! Logging macros that map to `defmt` (feature `defmt`), `log` (feature `log`) or nothing,
//! after smoltcp's `net_log!`.
//!
//! `net_trace!`, `net_debug!`, `net_info!`, `net_warn!` and `net_error!` take a format string
//! and its arguments, like `log::debug!`. With both features on, `defmt` wins: firmware that
//! enables `defmt` for `Format` impls and gets `log` through another crate still logs once,
//! and `--all-features` builds. With neither, nothing is generated: the arguments are only
//! type-checked inside a closure that is never called, so they are not evaluated, and a
//! variable used only in a log line raises no unused-variable warning.
//!
//! One format string serves both backends, so keep to their common ground:
//!
//! * placeholders are `{}` and `{:?}` only: no width, precision, `{=u8}` hints or named
//!   arguments;
//! * every argument implements `defmt::Format` and `core::fmt::Display` (for `{}`) or
//!   `Debug` (for `{:?}`): integers, `bool`, `&str`, and the crate's error types, which
//!   implement `Display` and derive `Format` under the `defmt` feature;
//! * the format string is a literal, and arguments are expressions without side effects (with
//!   no backend they are not evaluated).
//!
//! Levels: `trace` for per-frame detail, `debug` for dropped input and decisions the caller
//! can see in events anyway, `warn` for a peer that broke the protocol.

// `allow`: without the `ws` feature nothing logs yet.
#[cfg(feature = "defmt")]
#[allow(unused_macros)]
macro_rules! net_log {
    (trace, $($arg:expr),* $(,)?) => { ::defmt::trace!($($arg),*) };
    (debug, $($arg:expr),* $(,)?) => { ::defmt::debug!($($arg),*) };
    (info, $($arg:expr),* $(,)?) => { ::defmt::info!($($arg),*) };
    (warn, $($arg:expr),* $(,)?) => { ::defmt::warn!($($arg),*) };
    (error, $($arg:expr),* $(,)?) => { ::defmt::error!($($arg),*) };
}

#[cfg(all(feature = "log", not(feature = "defmt")))]
#[allow(unused_macros)]
macro_rules! net_log {
    (trace, $($arg:expr),* $(,)?) => { ::log::trace!($($arg),*) };
    (debug, $($arg:expr),* $(,)?) => { ::log::debug!($($arg),*) };
    (info, $($arg:expr),* $(,)?) => { ::log::info!($($arg),*) };
    (warn, $($arg:expr),* $(,)?) => { ::log::warn!($($arg),*) };
    (error, $($arg:expr),* $(,)?) => { ::log::error!($($arg),*) };
}

#[cfg(not(any(feature = "log", feature = "defmt")))]
#[allow(unused_macros)]
macro_rules! net_log {
    ($level:ident, $($arg:expr),* $(,)?) => {{
        // Never called: the arguments are checked and count as used, and nothing runs.
        let _ = || { $( let _ = &$arg; )* };
    }};
}

/// Per-frame detail.
#[allow(unused_macros)]
macro_rules! net_trace {
    ($($arg:expr),* $(,)?) => { net_log!(trace, $($arg),*) };
}

/// Dropped input, and decisions the caller also sees as events or errors.
#[allow(unused_macros)]
macro_rules! net_debug {
    ($($arg:expr),* $(,)?) => { net_log!(debug, $($arg),*) };
}

/// Connection lifecycle.
#[allow(unused_macros)]
macro_rules! net_info {
    ($($arg:expr),* $(,)?) => { net_log!(info, $($arg),*) };
}

/// The peer broke the protocol.
#[allow(unused_macros)]
macro_rules! net_warn {
    ($($arg:expr),* $(,)?) => { net_log!(warn, $($arg),*) };
}

/// A failure the core cannot recover from by itself.
#[allow(unused_macros)]
macro_rules! net_error {
    ($($arg:expr),* $(,)?) => { net_log!(error, $($arg),*) };
}

#[cfg(test)]
mod tests {
    #[test]
    fn arguments_are_not_evaluated_without_a_backend() {
        let mut calls = 0;
        let mut count = || {
            calls += 1;
            calls
        };
        let unused_otherwise = 7;
        net_debug!("{} {}", count(), unused_otherwise);
        net_trace!("no arguments");
        net_warn!("trailing comma {}", 1,);
        #[cfg(not(any(feature = "log", feature = "defmt")))]
        assert_eq!(count(), 1);
    }
}
