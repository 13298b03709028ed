//! Interop with the official phoenix.js client: `tests/interop/interop.js` (npm `phoenix`
//! with `ws`) run by node against an endpoint started here with the hooks it expects.
//!
//! A missing `node` or a missing `tests/interop/node_modules` (install it with `npm ci` in
//! `tests/interop`, as `cargo xtask test` does) fails this test; it never skips.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fawkes::endpoint::{Builder, Hooks, JoinDecision, Payload, Refused, Reply};
use serde_json::json;

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("interop")
}

fn hooks() -> Hooks {
    Hooks::new()
        .on_connect(|req| match req.param("token") {
            Some("bad") => Err(Refused::new("bad token")),
            _ => Ok(()),
        })
        .on_join(|req| match req.topic {
            "room:refused" => JoinDecision::refuse("nope"),
            topic => JoinDecision::Accept(json!({ "joined": topic })),
        })
        .on_event(|req| match req.event {
            "ping" => {
                let payload: serde_json::Value = req
                    .payload
                    .as_json()
                    .and_then(|j| serde_json::from_str(j.as_str()).ok())
                    .unwrap_or_default();
                Some(Reply::ok(json!({ "pong": payload })))
            }
            "broadcast_me" => {
                let b = req.broadcaster;
                b.broadcast(req.topic, "json_msg", json!({"n": 1}))
                    .expect("JSON broadcast");
                b.broadcast(req.topic, "bin_msg", Payload::binary(vec![1u8, 2, 3]))
                    .expect("binary broadcast");
                Some(Reply::ok(json!({})))
            }
            _ => Some(fawkes::endpoint::not_handled()),
        })
}

#[test]
fn phoenix_js_interop() {
    let dir = interop_dir();
    let version = Command::new("node").arg("--version").output();
    let version = match version {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => panic!(
            "`node --version` failed ({}): install Node.js 18 or later",
            out.status
        ),
        Err(e) => panic!(
            "node is required for the phoenix.js interop test and was not found ({e}): \
             install Node.js 18 or later (and npm), then run `npm ci` in tests/interop"
        ),
    };
    assert!(
        dir.join("node_modules").join("phoenix").is_dir()
            && dir.join("node_modules").join("ws").is_dir(),
        "tests/interop/node_modules is missing: run `npm ci` in {} (cargo xtask test does)",
        dir.display()
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let endpoint = runtime.block_on(async {
        Builder::new()
            .handler(hooks())
            .idle_timeout(Duration::from_millis(1500))
            .bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind")
    });
    let url = format!("ws://{}/socket", endpoint.local_addr());
    // The endpoint serves on the runtime's worker threads while node runs.
    let out = Command::new("node")
        .arg("interop.js")
        .arg(&url)
        .current_dir(&dir)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("node {version}{stdout}{stderr}");
    assert!(
        out.status.success(),
        "phoenix.js interop failed:\n{stdout}\n{stderr}"
    );
    for scenario in [
        "connect and join ok",
        "join refused",
        "JSON and binary broadcasts received",
        "heartbeats keep the connection open past the idle timeout",
        "leave fires onClose",
        "V1 client works",
        "refused connect does not open",
        "push answered by the event hook resolves ok",
    ] {
        assert!(
            stdout.contains(&format!("ok {scenario}\n")),
            "scenario {scenario:?} did not pass:\n{stdout}"
        );
    }
    let stats = endpoint.stats();
    assert!(stats.refused_connects >= 1, "{stats:?}");
    assert!(stats.refused_joins >= 1, "{stats:?}");
    runtime.block_on(endpoint.shutdown(fawkes::endpoint::Shutdown::Stop));
}
