//! Exit statuses, documented in `fawkes push --help`.

use std::process::ExitCode;

use fawkes::client::Error;

/// Anything else went wrong.
pub(crate) const FAILURE: u8 = 1;
/// Bad flags or config (clap's own status for usage errors).
pub(crate) const USAGE: u8 = 2;
/// The server answered the push with an error status.
pub(crate) const ERROR_REPLY: u8 = 3;
/// The server refused the join.
pub(crate) const JOIN_REFUSED: u8 = 4;
/// No reply in time.
pub(crate) const TIMEOUT: u8 = 5;
/// The socket could not be reached (or the connection was lost for good).
pub(crate) const CONNECTION: u8 = 6;

/// The status for a failed client call.
pub(crate) fn for_error(error: &Error) -> u8 {
    match error {
        Error::Reply(_) => ERROR_REPLY,
        Error::JoinRefused(_) => JOIN_REFUSED,
        Error::Timeout => TIMEOUT,
        Error::Disconnected | Error::Aborted(_) => CONNECTION,
        _ => FAILURE,
    }
}

/// What a failed call means, for the one line printed on stderr.
pub(crate) fn describe(error: &Error) -> String {
    match error {
        Error::Disconnected => {
            "cannot reach the socket (RUST_LOG=fawkes=info shows each attempt)".into()
        }
        other => other.to_string(),
    }
}

/// Prints `message` on stderr and returns `status`.
pub(crate) fn fail(status: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("fawkes: {message}");
    ExitCode::from(status)
}
