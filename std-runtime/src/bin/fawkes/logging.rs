//! Logs on stderr through `tracing`: `RUST_LOG` filters (default: the command's own level),
//! text (colored only on a terminal) or JSON.
//! The core's `log` records arrive through `tracing`'s log bridge.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the subscriber for the whole process; `default` is the filter when `RUST_LOG`
/// is not set (`warn` for one-shot commands, whose output is stdout, `info` for services).
pub(crate) fn init(format: LogFormat, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
