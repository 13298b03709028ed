//! Tools the gate runs for real (QEMU, Redis), installed from Debian's packages when
//! missing; a clear failure where they cannot be.

use std::process::Command;

/// Makes sure `program` runs (`program --version`), installing `package` with apt-get if
/// not; `needs` says who needs it, for the error.
pub(crate) fn ensure(program: &str, package: &str, needs: &str) -> Result<(), String> {
    let found = || {
        Command::new(program)
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
        return Err(format!(
            "`{program}` not found, and no apt-get to install it: {needs} \
             (Debian/Ubuntu package `{package}`)"
        ));
    }
    let install = ["install", "-y", "--no-install-recommends", package];
    let what = format!("install {package}");
    if crate::run(&what, "apt-get", &install).is_err() {
        crate::run("update the package lists", "apt-get", &["update"])?;
        crate::run(&what, "apt-get", &install)?;
    }
    if found() {
        Ok(())
    } else {
        Err(format!(
            "`{program}` still not found after installing {package}"
        ))
    }
}
