//! What the message bus tests (issue 14) need on the machine: Debian's `redis-server`,
//! which the tests start themselves on free ports.

use std::process::Command;

/// `redis-server` from Debian's packages when it is missing; a clear failure where it
/// cannot be installed.
pub(crate) fn install_redis() -> Result<(), String> {
    let found = || {
        Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if found() {
        return Ok(());
    }
    let has_apt = Command::new("apt-get")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_apt {
        return Err(
            "`redis-server` not found, and no apt-get to install it: the bus tests \
                    (tests/bus.rs) need Redis 6+ (Debian/Ubuntu package `redis-server`)"
                .into(),
        );
    }
    let install = ["install", "-y", "--no-install-recommends", "redis-server"];
    if crate::run("install Redis", "apt-get", &install).is_err() {
        crate::run("update the package lists", "apt-get", &["update"])?;
        crate::run("install Redis", "apt-get", &install)?;
    }
    if found() {
        Ok(())
    } else {
        Err("`redis-server` still not found after installing redis-server".into())
    }
}
