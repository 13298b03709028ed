//! Waiting in tests: for a future or for a condition another task changes, each under one
//! deadline, never a fixed sleep standing in for the event.

#![allow(dead_code)] // each test file uses its own part

use std::future::Future;
use std::time::Duration;

/// How long any one wait may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// `f`'s output, or a panic naming `what` after [`WAIT`].
pub(crate) async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Waits until `cond` holds: for state another task changes (the registry of an endpoint),
/// checked after each yield with a deadline, not a fixed sleep.
pub(crate) async fn until(what: &str, cond: impl Fn() -> bool) {
    within(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}
