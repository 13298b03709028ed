//! Presence through the repeater, with phoenix.js's own `Presence` as the judge: an
//! upstream fawkes endpoint tracking presences (`support/presence_server.rs`), the repeater,
//! and two local phoenix.js clients (`tests/interop/presence.js`), one joined before and one
//! after three presences arrived. Both must list exactly the upstream's presences; after the
//! upstream restarts on its port with the same presences back (and one more), both agree
//! again, and no leave or join callback fired for the presences that stayed.
#[path = "support/wait.rs"]
mod wait;

#[path = "support/presence_server.rs"]
mod presence_server;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use fawkes::client::Client;
use fawkes::endpoint::{Endpoint, Shutdown};
use fawkes::repeater::{Repeater, Upstream};
use presence_server::{tracking_endpoint, Tracker};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::ChildStdout;
use wait::{until, within};

const TOPIC: &str = "room:presence";
/// The upstream's state as the script prints `presence.list()`: sorted by key.
fn listed(state: &Value) -> Value {
    let mut keys: Vec<&String> = state.as_object().unwrap().keys().collect();
    keys.sort();
    Value::Array(
        keys.into_iter()
            .map(|k| json!({"key": k, "metas": state[k]["metas"]}))
            .collect(),
    )
}

/// The node script's lines, with what each client printed so far.
struct Script {
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<Value>,
    /// Where the current step's lines start (the two clients' lines interleave).
    step: usize,
}

impl Script {
    /// Starts a step: later waits look at lines from here on.
    fn step(&mut self) {
        self.step = self.seen.len();
    }

    /// Waits until `client` printed a line matching `done` in this step; returns that line.
    async fn until(&mut self, what: &str, client: &str, done: impl Fn(&Value) -> bool) -> Value {
        if let Some(v) = self.seen[self.step..]
            .iter()
            .find(|v| v["client"] == client && done(v))
        {
            return v.clone();
        }
        within(what, async {
            loop {
                let line = self
                    .lines
                    .next_line()
                    .await
                    .expect("node's stdout")
                    .expect("node exited early");
                let value: Value = serde_json::from_str(&line).expect("a JSON line");
                self.seen.push(value.clone());
                if value["client"] == client && done(&value) {
                    return value;
                }
            }
        })
        .await
    }

    async fn synced_to(&mut self, client: &str, list: &Value) {
        self.until(&format!("client {client} to list {list}"), client, |v| {
            v["sync"] == *list
        })
        .await;
    }

    /// The callbacks (`join` / `leave` with the key) `client` printed from line `from` on.
    fn callbacks(&self, client: &str, from: usize) -> Vec<String> {
        self.seen[from..]
            .iter()
            .filter(|v| v["client"] == client)
            .filter_map(|v| {
                for kind in ["join", "leave"] {
                    if let Some(key) = v[kind].as_str() {
                        return Some(format!("{kind} {key}"));
                    }
                }
                None
            })
            .collect()
    }
}

fn meta(phx_ref: &str, n: u32) -> Value {
    json!({"phx_ref": phx_ref, "online_at": n})
}

fn presences(refs: &[(&str, &str)]) -> Vec<(String, Vec<Value>)> {
    refs.iter()
        .enumerate()
        .map(|(n, (key, r))| ((*key).to_owned(), vec![meta(r, n as u32)]))
        .collect()
}

async fn upstream(addr: std::net::SocketAddr, tracker: Arc<Tracker>) -> Endpoint {
    tracking_endpoint(addr, tracker).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phoenix_js_clients_see_the_upstreams_presences_across_an_upstream_restart() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop");
    assert!(
        dir.join("node_modules/phoenix").is_dir(),
        "tests/interop/node_modules is missing: run `npm ci` in {} (cargo xtask test does)",
        dir.display()
    );
    let tracker = Arc::new(Tracker::default());
    let remote = upstream("127.0.0.1:0".parse().unwrap(), tracker.clone()).await;
    let addr = remote.local_addr();
    let client = Client::builder(format!("ws://{addr}/socket/websocket"));
    let repeater = Repeater::builder()
        .upstream(Upstream::new(client).topic(TOPIC))
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("repeater");
    until("the upstream join", || remote.subscribers(TOPIC) == 1).await;

    let mut node = tokio::process::Command::new("node")
        .arg("presence.js")
        .arg(format!("ws://{}/socket", repeater.local_addr()))
        .arg(TOPIC)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("node is required for this test and did not start: {e}"));
    let mut stdin = node.stdin.take().unwrap();
    let mut script = Script {
        lines: BufReader::new(node.stdout.take().unwrap()).lines(),
        seen: Vec::new(),
        step: 0,
    };
    // Client a joins before any presence: it syncs the (empty) state.
    script.synced_to("a", &json!([])).await;

    // Three presences arrive; a follows the diffs.
    script.step();
    for (n, (key, r)) in [("alice", "a1"), ("bob", "b1"), ("carol", "c1")]
        .iter()
        .enumerate()
    {
        tracker.track(TOPIC, key, meta(r, n as u32));
    }
    let three = listed(&tracker.state(TOPIC));
    script.synced_to("a", &three).await;

    // Client b joins late: the repeater's presence_state gives it the same list.
    script.step();
    stdin.write_all(b"join b\n").await.unwrap();
    script.synced_to("b", &three).await;

    // The upstream restarts on its port; the same presences come back (same refs) and
    // dave is new.
    script.step();
    let restart = script.seen.len();
    remote.shutdown(Shutdown::Restart).await;
    let tracker = Arc::new(Tracker::default());
    tracker.preset(
        TOPIC,
        presences(&[("alice", "a1"), ("bob", "b1"), ("carol", "c1")]),
    );
    tracker.track(TOPIC, "dave", meta("d1", 3)); // before anyone joined: no broadcast
    let remote = upstream(addr, tracker.clone()).await;
    let four = listed(&tracker.state(TOPIC));
    script.synced_to("a", &four).await;
    script.synced_to("b", &four).await;
    // And a live diff after the restart still reaches both.
    script.step();
    tracker.track(TOPIC, "erin", meta("e1", 4));
    let five = listed(&tracker.state(TOPIC));
    script.synced_to("a", &five).await;
    script.synced_to("b", &five).await;
    for client in ["a", "b"] {
        assert_eq!(
            script.callbacks(client, restart),
            ["join dave", "join erin"],
            "client {client}: no leave or re-join for the presences that stayed"
        );
    }

    stdin.write_all(b"quit\n").await.unwrap();
    assert!(within("node's exit", node.wait()).await.unwrap().success());
    repeater.shutdown().await;
    remote.shutdown(Shutdown::Stop).await;
}
