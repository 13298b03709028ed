//! A client for `tail` and `push`, built from the socket flags.

use fawkes::client::{Builder, Client, ConfigError};

use crate::cli::SocketArgs;
use crate::settings::DEFAULT_TIMEOUT;

/// The builder for the socket the flags name, with the timeout applied to the connect,
/// the handshakes and every reply.
pub(crate) fn builder(args: &SocketArgs) -> Result<Builder, String> {
    let url = args
        .url
        .as_deref()
        .ok_or("no socket URL: pass one, or set `url` in the config file")?;
    let timeout = args.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let mut builder = Client::builder(url)
        .timeout(timeout)
        .connect_timeout(timeout);
    for (key, value) in &args.params {
        builder = builder.param(key, value);
    }
    if let Some(token) = &args.token {
        builder = builder.auth_token(token.expose());
    }
    if let Some(path) = &args.ca_file {
        builder = builder.ca_file(path);
    }
    Ok(builder)
}

/// A configuration error as a one-line message.
pub(crate) fn config_error(e: ConfigError) -> String {
    format!("invalid client settings: {e}")
}
