//! What `cargo xtask bench` installs and builds before measuring: the npm packages the
//! phoenix.js peers run from (`npm ci` in tests/interop, from its lockfile), the rustup
//! parts, `redis-server` for the bus bench, and the `benches/peers` crate (the
//! `phoenix_channels_client` peer).

use std::path::PathBuf;
use std::process::Command;

use crate::workspace_root;

/// The variable that tells the client bench where the peer client binary is.
pub(super) const PEER_CLIENT_VAR: &str = "FAWKES_PEER_CLIENT";

/// The peer binaries built for this run.
pub(super) struct Peers {
    /// `benches/peers`' binary, when the client part runs.
    pub(super) phoenix_channels_client: Option<PathBuf>,
}

/// Installs what `parts` need; builds the peer crate if the client part runs.
pub(super) fn install(parts: &[&str]) -> Result<Peers, String> {
    crate::install_toolchain_parts()?;
    if parts
        .iter()
        .any(|p| ["codec", "session", "client"].contains(p))
    {
        crate::install_interop_packages()?;
    }
    if parts.contains(&"bus") {
        crate::bus::install_redis()?;
    }
    let phoenix_channels_client = if parts.contains(&"client") {
        Some(build_peers()?)
    } else {
        None
    };
    Ok(Peers {
        phoenix_channels_client,
    })
}

/// Builds `benches/peers` in release, in its own target directory (its `--cfg
/// tokio_unstable`, which `phoenix_channels_client`'s tokio features require, would
/// otherwise rebuild the workspace's tokio).
fn build_peers() -> Result<PathBuf, String> {
    let dir = super::peers_dir();
    let target = workspace_root().join("target").join("peers");
    println!(
        "\n==> peer clients: cargo build --release in {}",
        dir.display()
    );
    let status = Command::new("cargo")
        .args(["build", "--release", "--locked"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTFLAGS", "--cfg tokio_unstable")
        .status()
        .map_err(|e| format!("building benches/peers: cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building benches/peers (phoenix_channels_client) failed ({status})"
        ));
    }
    Ok(target.join("release").join("fawkes-bench-peers"))
}
