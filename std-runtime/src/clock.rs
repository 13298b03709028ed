//! The one mapping between tokio's clock and the core's: the core takes time as an argument
//! (milliseconds since an origin), and every task reads it here, so tests that pause tokio's
//! clock drive the core's timers too.

use fawkes_core::time::{Duration, Instant};

/// Milliseconds since a tokio instant taken when the clock was made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: tokio::time::Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub(crate) fn new() -> Self {
        Clock {
            origin: tokio::time::Instant::now(),
        }
    }

    /// Now, in the core's terms.
    pub(crate) fn now(self) -> Instant {
        self.to_core(tokio::time::Instant::now())
    }

    /// A tokio instant in the core's terms (saturating at the origin).
    pub(crate) fn to_core(self, at: tokio::time::Instant) -> Instant {
        let millis = at.saturating_duration_since(self.origin).as_millis();
        Instant::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
    }

    /// A core instant as a tokio instant, for `sleep_until`.
    pub(crate) fn to_tokio(self, at: Instant) -> tokio::time::Instant {
        self.origin + std::time::Duration::from_millis(at.as_millis())
    }

    /// A core duration as a std duration.
    pub(crate) fn duration(d: Duration) -> std::time::Duration {
        std::time::Duration::from_millis(d.as_millis())
    }
}
