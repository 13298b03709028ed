//! The upgrade-response parser: incremental behaviour, the accept check, subprotocols.
//!
//! The expected key is fixed (RFC 6455's sample nonce), so its accept value,
//! `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`, is what the seeds carry.

use fawkes_core::ws::{parse_response, Accept, HandshakeError, Key, Status, UpgradeRequest};

/// The key whose accept value the corpus carries.
pub(crate) const NONCE: [u8; 16] = *b"the sample nonce";

/// `parse_response` on arbitrary bytes.
pub fn upgrade_response(data: &[u8]) {
    let key = Key::new(NONCE);
    let accept = key.accept();
    let result = parse_response(data, &accept);
    match result {
        Ok(Status::Complete(handshake)) => {
            let len = handshake.header_len;
            assert!(len > 0 && len <= data.len());
            assert!(
                data[..len].ends_with(b"\n"),
                "head must end with a blank line"
            );
            // The head alone gives the same handshake: what follows is not looked at.
            assert_eq!(parse_response(&data[..len], &accept), result);
            // Any shorter prefix is incomplete.
            let step = (len / 64).max(1);
            for k in (0..len).step_by(step).chain([len - 1]) {
                assert_eq!(
                    parse_response(&data[..k], &accept),
                    Ok(Status::Partial),
                    "prefix {k} of a {len}-byte head"
                );
            }
            if let Some(protocol) = handshake.subprotocol {
                assert!(!protocol.is_empty() && !protocol.contains(','));
                assert_eq!(protocol.trim_matches([' ', '\t']), protocol);
            }
            // Another key's accept never matches.
            let other = Accept::for_key(Key::new([0; 16]).as_str());
            assert_eq!(
                parse_response(data, &other),
                Err(HandshakeError::AcceptMismatch)
            );
            // A request checks the selected subprotocol against what it offered.
            let plain = UpgradeRequest::new("example.com", "/socket/websocket", key);
            let with_token = plain.auth_token("secret");
            let offered = [("Sec-WebSocket-Protocol", "chat, v2.fawkes")];
            let with_header = plain.headers(&offered);
            let selected = handshake.subprotocol;
            let expect = |ok: bool| {
                if ok {
                    Ok(Status::Complete(handshake))
                } else {
                    Err(HandshakeError::UnexpectedSubprotocol)
                }
            };
            assert_eq!(plain.parse_response(data), expect(selected.is_none()));
            // With a token the server must select `phoenix` (spec §1.6, §6.3).
            let token_expect = match selected {
                None => Err(HandshakeError::MissingSubprotocol),
                other => expect(other == Some("phoenix")),
            };
            assert_eq!(with_token.parse_response(data), token_expect);
            assert_eq!(
                with_header.parse_response(data),
                expect(matches!(selected, None | Some("chat" | "v2.fawkes")))
            );
        }
        Ok(Status::Partial) => {
            // Nothing decided yet: the same must hold for every prefix.
            for k in [0, data.len() / 2] {
                let prefix = parse_response(&data[..k], &accept);
                assert_eq!(prefix, Ok(Status::Partial), "prefix {k} of a partial head");
            }
        }
        Err(HandshakeError::Status { code }) => assert_ne!(code, 101),
        Err(_) => {}
    }
}
