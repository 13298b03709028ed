//! Session settings, with phoenix.js's defaults.

use crate::codec::Vsn;
use crate::time::Duration;

/// A delay schedule: `steps[attempt - 1]` milliseconds, then `then` for every later attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delays, in milliseconds.
    pub steps: &'static [u64],
    /// The delay once `steps` is used up, in milliseconds.
    pub then: u64,
}

impl Backoff {
    /// phoenix.js `reconnectAfterMs`: 10, 50, 100, 150, 200, 250, 500, 1000, 2000 ms, then 5 s.
    pub const RECONNECT: Backoff = Backoff {
        steps: &[10, 50, 100, 150, 200, 250, 500, 1000, 2000],
        then: 5000,
    };

    /// phoenix.js `rejoinAfterMs`: 1, 2, 5 s, then 10 s.
    pub const REJOIN: Backoff = Backoff {
        steps: &[1000, 2000, 5000],
        then: 10_000,
    };

    /// The delay before attempt number `attempt` (counted from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        Duration::from_millis(self.steps.get(index).copied().unwrap_or(self.then))
    }
}

/// Random spread added to reconnect delays, so that many clients dropped at once do not
/// come back in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jitter {
    /// The most that is added, in percent of the delay (0 to 100).
    pub max_percent: u8,
    /// Seed for the session's small PRNG: supply real randomness (the core has none).
    pub seed: u64,
}

/// Session settings. [`Config::default`] follows phoenix.js.
///
/// Build it as `Config { timeout: ..., ..Config::default() }` so that settings added later
/// keep their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The serializer: V2 unless the server only speaks V1.
    pub vsn: Vsn,
    /// Time between a heartbeat reply and the next heartbeat, and how long a heartbeat may
    /// wait for its reply before the connection is declared dead (30 s).
    pub heartbeat_interval: Duration,
    /// How long a join, push or leave waits for its reply (10 s).
    pub timeout: Duration,
    /// How long the transport may take to connect, from [`Event::Connect`](super::Event) to
    /// `handle_connected` (10 s).
    pub connect_timeout: Duration,
    /// Delays between reconnect attempts. The attempt count resets only once a connection
    /// has proven itself (a heartbeat reply, or `stable_after` of uptime), so a server that
    /// accepts the upgrade and closes at once is not re-dialled every 10 ms.
    pub reconnect: Backoff,
    /// How long a connection must stay up to reset the reconnect backoff without a
    /// heartbeat reply (10 s).
    pub stable_after: Duration,
    /// Delays between rejoin attempts of a channel after a join error or a crash.
    pub rejoin: Backoff,
    /// Stop reconnecting after this many failed attempts in a row (`None`: never stop, the
    /// default, since a repeater must run for months).
    pub max_reconnect_attempts: Option<u32>,
    /// Optional random spread on reconnect delays.
    pub jitter: Option<Jitter>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            vsn: Vsn::V2,
            heartbeat_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            reconnect: Backoff::RECONNECT,
            stable_after: Duration::from_secs(10),
            rejoin: Backoff::REJOIN,
            max_reconnect_attempts: None,
            jitter: None,
        }
    }
}
