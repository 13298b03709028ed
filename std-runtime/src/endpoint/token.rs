//! Shared-token checks: the [`TokenGate`] connect hook and the broadcast API's bearer token
//! compare through the one constant-time [`matches`].

use super::hooks::{ConnectRequest, Handler, Refused};

/// Whether `presented` is `expected`, compared without stopping at the first difference,
/// so the time taken tells nothing about how much of a guess was right.
pub(crate) fn matches(presented: &[u8], expected: &[u8]) -> bool {
    presented.len() == expected.len()
        && presented
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A connect hook for a shared token: clients must present it as phoenix.js's `authToken`
/// (the Phoenix 1.8 subprotocol) or as a `token` connect param; without a token set,
/// everyone may connect. The token is never logged.
pub struct TokenGate {
    token: Option<String>,
}

impl TokenGate {
    /// A gate for `token` (`None`: open to all).
    pub fn new(token: Option<String>) -> Self {
        TokenGate { token }
    }
}

impl std::fmt::Debug for TokenGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGate")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Handler for TokenGate {
    fn connect(&self, request: &ConnectRequest<'_>) -> Result<(), Refused> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let presented = request
            .auth_token
            .or_else(|| request.param("token").map(str::as_bytes));
        match presented {
            Some(presented) if matches(presented, token.as_bytes()) => Ok(()),
            Some(_) => Err(Refused::new("wrong token")),
            None => Err(Refused::new("no token presented")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn tokens_compare_exactly() {
        assert!(matches(b"secret", b"secret"));
        assert!(!matches(b"secret", b"secreT"));
        assert!(!matches(b"secret", b"secret2"));
    }
}
