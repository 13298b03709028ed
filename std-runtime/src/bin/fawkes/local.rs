//! What `serve`, `repeat` and `demo` share: the local token check and the signals that
//! shut a service down.

use fawkes::endpoint::{ConnectRequest, Handler, Refused};

use crate::secret::Secret;

/// Local clients must present the token: phoenix.js's `authToken` (the Phoenix 1.8
/// subprotocol) or a `token` connect param. Without a token, everyone may connect.
pub(crate) struct TokenGate {
    pub(crate) token: Option<Secret>,
}

impl Handler for TokenGate {
    fn connect(&self, request: &ConnectRequest<'_>) -> Result<(), Refused> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let expected = token.expose().as_bytes();
        let presented = request
            .auth_token
            .or_else(|| request.param("token").map(str::as_bytes));
        match presented {
            Some(presented) if constant_time_eq(presented, expected) => Ok(()),
            Some(_) => Err(Refused::new("wrong local token")),
            None => Err(Refused::new("no local token presented")),
        }
    }
}

/// Compares without stopping at the first difference, so the time taken tells nothing
/// about how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: shutting down"),
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("interrupted: shutting down");
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_compare_exactly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
