//! What the message bus tests and bench (issue 14) need on the machine: Debian's
//! `redis-server`, which they start themselves on free ports.

/// `redis-server` from Debian's packages when it is missing.
pub(crate) fn install_redis() -> Result<(), String> {
    crate::apt::ensure(
        "redis-server",
        "redis-server",
        "the bus tests (tests/bus.rs, tests/bus_repeater.rs) need Redis 6+",
    )
}
