//! The codec bench's rows for `cargo xtask bench` (the results channel): messages per
//! second of fawkes against the in-process Rust peer (timed interleaved with it) and
//! against phoenix.js (timed by node in the same run).

use std::collections::HashMap;

use super::phoenix_js::Times;
use super::results::{self, Better, Goal, Peer, Row};

/// One measured pair of the ratio table.
pub(crate) struct Measured {
    pub(crate) op: &'static str,
    pub(crate) frame: &'static str,
    pub(crate) bytes: usize,
    pub(crate) text: bool,
    pub(crate) peer: &'static str,
    pub(crate) ours_ns: f64,
    pub(crate) theirs_ns: f64,
}

const COMMAND: &str = "cargo xtask bench codec";

/// The goals: decode of small text frames at least 5x each peer, of 64 KiB
/// payloads at least 1.5x; none for encode or binary frames.
fn goal(m: &Measured) -> Goal {
    match (m.op, m.text, m.bytes) {
        ("decode", true, 0..1024) => Goal::Ratio(5.0),
        ("decode", true, 65536..) => Goal::Ratio(1.5),
        _ => Goal::None,
    }
}

fn what(peer: &str) -> &'static str {
    match peer {
        "serde_json_value" => {
            "`serde_json::from_str::<Value>`, fields moved out as `String`s (existing Rust clients' way)"
        }
        "serde_json" => "`serde_json::to_string` of the 5-tuple, payload a parsed `Value`",
        "owned_copy" => "a plain binary decoder into `String`s and a `Vec<u8>`",
        "owned_vec" => "a plain binary encoder into a fresh `Vec<u8>`",
        _ => "",
    }
}

/// Appends one row per measured pair, and one per phoenix.js figure of the same frame.
pub(crate) fn record(measured: &[Measured], node: &HashMap<String, Times>) {
    for m in measured {
        let figure = format!("{} {} ({} B)", m.op, m.frame, m.bytes);
        let against = |name: &str, what: &str, peer_ns: f64| {
            results::row(&Row {
                section: "Codec",
                figure: &figure,
                unit: "msg/s",
                fawkes: 1e9 / m.ours_ns,
                better: Better::Higher,
                peer: Peer {
                    name,
                    what,
                    value: Some(1e9 / peer_ns),
                },
                goal: goal(m),
                command: COMMAND,
            });
        };
        against(m.peer, what(m.peer), m.theirs_ns);
        let js = node.get(m.frame).and_then(|t| match m.op {
            "decode" => t.decode_ns,
            _ => t.encode_ns,
        });
        if let Some(js_ns) = js {
            against(
                "phoenix.js",
                "phoenix.js 1.7.21 `Serializer.decode`/`encode` under node",
                js_ns,
            );
        }
    }
}
