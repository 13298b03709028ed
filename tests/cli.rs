//! The `fawkes` binary, run as a user runs it: `demo`, `push` and `tail` (with their exit
//! statuses) against endpoints over real sockets, `serve` with its token and SIGTERM, the
//! config file, and no secret in any log line.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use fawkes::endpoint::{self, Endpoint, Hooks, JoinDecision, Reply};
use futures_util::StreamExt as _;
use serde_json::json;

const FAWKES: &str = env!("CARGO_BIN_EXE_fawkes");
const WAIT: Duration = Duration::from_secs(20);

fn fawkes(args: &[&str]) -> Command {
    let mut command = Command::new(FAWKES);
    command
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("FAWKES_TOKEN");
    command
}

/// Runs to the end in a blocking thread, so the endpoint keeps serving meanwhile.
async fn output(mut command: Command) -> Output {
    let run = tokio::task::spawn_blocking(move || command.output().expect("run fawkes"));
    tokio::time::timeout(WAIT, run)
        .await
        .expect("fawkes did not exit in time")
        .expect("join")
}

fn status(out: &Output) -> i32 {
    out.status.code().expect("exited with a status")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The test application: joins of "refused" refused; "ok" answered ok, "err" with an
/// error, "silent" never.
async fn app_endpoint() -> Endpoint {
    let hooks = Hooks::new()
        .on_join(|req| match req.topic {
            "refused" => JoinDecision::refuse("nope"),
            _ => JoinDecision::ok(),
        })
        .on_event(|req| match req.event {
            "ok" => Some(Reply::ok(json!({ "pong": 1 }))),
            "err" => Some(Reply::error(json!({ "reason": "bad" }))),
            _ => None,
        });
    Endpoint::builder()
        .handler(hooks)
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/socket/websocket")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_prints_the_repeated_messages_and_exits_0() {
    let out = output(fawkes(&[
        "demo",
        "--count",
        "3",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "20ms",
    ]))
    .await;
    let text = stdout(&out);
    assert_eq!(
        status(&out),
        0,
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let repeated: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("repeated #"))
        .collect();
    assert_eq!(repeated.len(), 3, "{text}");
    assert!(
        repeated[0].ends_with(
            r#"rooms:lobby tick {"seq":1,"price":1.0e+2,"symbol":"FWK","note":"caf\u00e9"}"#
        ),
        "the tick must arrive as published: {text}"
    );
    assert!(text.contains("join it with phoenix.js"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_exit_statuses_tell_what_happened() {
    let endpoint = app_endpoint().await;
    let u = url(endpoint.local_addr());
    let push = |topic: &str, event: &str| {
        fawkes(&[
            "push",
            &u,
            "--topic",
            topic,
            "--event",
            event,
            "--timeout",
            "500ms",
        ])
    };

    let ok = output(push("rooms:a", "ok")).await;
    assert_eq!((status(&ok), stdout(&ok).trim()), (0, r#"{"pong":1}"#));
    let err = output(push("rooms:a", "err")).await;
    assert_eq!(
        (status(&err), stdout(&err).trim()),
        (3, r#"{"reason":"bad"}"#)
    );
    let refused = output(push("refused", "ok")).await;
    assert_eq!(
        status(&refused),
        4,
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let silent = output(push("rooms:a", "silent")).await;
    assert_eq!(status(&silent), 5);

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = url(closed.local_addr().unwrap());
    drop(closed);
    let unreachable = output(fawkes(&["push", &gone, "--topic", "t", "--event", "e"])).await;
    assert_eq!(status(&unreachable), 6);
    let usage = output(fawkes(&["push", &u, "--topic", "t"])).await;
    assert_eq!(status(&usage), 2, "no --event is a usage error");
    endpoint.shutdown(endpoint::Shutdown::Stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_one_line_per_message() {
    let endpoint = app_endpoint().await;
    let u = url(endpoint.local_addr());
    let child = fawkes(&[
        "tail",
        &u,
        "--topic",
        "rooms:lobby",
        "--json",
        "--count",
        "2",
    ])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    until("tail did not join", || {
        endpoint.subscribers("rooms:lobby") > 0
    })
    .await;
    let tricky = r#"{"b":1.50,"a":"\u00e9"}"#;
    endpoint
        .broadcast(
            "rooms:lobby",
            "m",
            endpoint::Payload::raw_json(tricky).unwrap(),
        )
        .unwrap();
    endpoint
        .broadcast(
            "rooms:lobby",
            "bin",
            endpoint::Payload::binary(vec![1u8, 2, 3]),
        )
        .unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(status(&out), 0);
    assert_eq!(
        stdout(&out),
        format!(
            "{{\"topic\":\"rooms:lobby\",\"event\":\"m\",\"payload\":{tricky}}}\n\
             {{\"topic\":\"rooms:lobby\",\"event\":\"bin\",\"binary\":\"AQID\"}}\n"
        )
    );
    let refused = output(fawkes(&["tail", &u, "--topic", "refused"])).await;
    assert_eq!(status(&refused), 4);
    endpoint.shutdown(endpoint::Shutdown::Stop).await;
}

/// Starts `fawkes serve` and returns it with the address it printed.
fn serve(extra: &[&str]) -> (Child, SocketAddr) {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut child = fawkes(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = listening_on(&mut child);
    (child, addr)
}

/// The first line `serve` and `repeat` print: the address they listen on.
fn listening_on(child: &mut Child) -> SocketAddr {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix("listening on ws://")
        .and_then(|rest| rest.strip_suffix("/socket/websocket"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap()
}

/// Waits until `cond` holds (state another process changes), checked every few
/// milliseconds, failing with `what` after [`WAIT`].
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The next message a client receives.
/// Starts `fawkes repeat` of `upstream`'s `rooms:lobby` (with `extra` flags), joins
/// `local_topic` on it with a fawkes client, and waits until the repeater joined upstream.
async fn repeat_joined(
    upstream: &Endpoint,
    extra: &[&str],
    local_topic: &str,
    stderr: Stdio,
) -> (Child, fawkes::client::Client, fawkes::client::Events) {
    let upstream_url = url(upstream.local_addr());
    let mut args = vec![
        "repeat",
        "--upstream",
        &upstream_url,
        "--topic",
        "rooms:lobby",
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let mut child = fawkes(&args)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let local = url(listening_on(&mut child));
    let (client, events) = fawkes::client::Client::builder(&local).connect().unwrap();
    client
        .join(local_topic, fawkes::client::Payload::empty())
        .await
        .unwrap();
    until("repeat did not join upstream", || {
        upstream.subscribers("rooms:lobby") > 0
    })
    .await;
    (child, client, events)
}

async fn next_message(events: &mut fawkes::client::Events) -> fawkes::client::Message {
    loop {
        match tokio::time::timeout(WAIT, events.recv()).await.unwrap() {
            Some(fawkes::client::Event::Message(m)) => break m,
            Some(_) => {}
            None => panic!("client stopped"),
        }
    }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_checks_the_local_token_and_never_logs_it() {
    let (mut child, addr) = serve(&["--local-token", "s3cret-token"]);
    let u = url(addr);
    let wrong = output(fawkes(&[
        "push", &u, "--topic", "t", "--event", "e", "--token", "guess",
    ]))
    .await;
    assert_eq!(
        status(&wrong),
        6,
        "a refused connect is a connection failure"
    );
    let mut right = fawkes(&[
        "push",
        &u,
        "--topic",
        "t",
        "--event",
        "e",
        "--token",
        "s3cret-token",
    ]);
    right.env("RUST_LOG", "trace");
    let right = output(right).await;
    assert_eq!(
        status(&right),
        3,
        "connected; the endpoint does not handle the event"
    );
    assert_eq!(stdout(&right).trim(), r#"{"reason":"event not handled"}"#);
    assert!(!String::from_utf8_lossy(&right.stderr).contains("s3cret-token"));
    sigterm(&child);
    let out = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut log = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
        (status, log)
    })
    .await
    .unwrap();
    assert!(out.0.success(), "SIGTERM exits 0: {}", out.1);
    assert!(
        !out.1.contains("s3cret-token"),
        "the token reached the log:\n{}",
        out.1
    );
}

/// One HTTP/1.1 request over a plain TCP connection: the status code and the body.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, tcp.read_to_string(&mut response))
        .await
        .expect("HTTP response in time")
        .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_against_fawkes_serve_receives_what_the_broadcast_api_sends() {
    let (mut serve, addr) = serve(&["--local-token", "tok"]);
    let u = url(addr);
    let tail = fawkes(&[
        "tail",
        &u,
        "--topic",
        "rooms:lobby",
        "--count",
        "2",
        "--token",
        "tok",
    ])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, metrics) = http(addr, "GET", "/metrics", "", "").await;
        if metrics.lines().any(|l| l == "fawkes_endpoint_channels 1") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "tail did not join:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let bearer = "Authorization: Bearer tok\r\n";
    let path = "/api/broadcast/rooms:lobby/new_msg";
    assert_eq!(http(addr, "POST", path, "", "{}").await.0, 401, "no token");
    assert_eq!(
        http(addr, "POST", path, "Authorization: Bearer nope\r\n", "{}")
            .await
            .0,
        401
    );
    assert_eq!(http(addr, "POST", path, bearer, "{not json").await.0, 400);
    assert_eq!(
        http(addr, "POST", path, bearer, r#"{"body":1.0e+2}"#).await,
        (200, "ok\n".into())
    );
    let binary = "Content-Type: application/octet-stream\r\nAuthorization: Bearer tok\r\n";
    assert_eq!(
        http(
            addr,
            "POST",
            "/api/broadcast/rooms%3Alobby/blob",
            binary,
            "ab"
        )
        .await
        .0,
        200
    );
    let out = tokio::task::spawn_blocking(move || tail.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(status(&out), 0);
    assert_eq!(
        stdout(&out),
        "rooms:lobby new_msg {\"body\":1.0e+2}\nrooms:lobby blob <2 bytes>\n"
    );
    sigterm(&serve);
    assert!(serve.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_local_clients_with_1001_and_exits_0() {
    let (mut child, addr) = serve(&[]);
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(url(addr), tcp)
        .await
        .unwrap();
    sigterm(&child);
    let close = tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => break frame,
                Some(Ok(_)) => {}
                other => panic!("no close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("close frame");
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1001));
    drop(ws);
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_relays_an_upstream_and_shuts_down_on_sigterm() {
    let upstream = app_endpoint().await;
    let (mut child, client, mut events) = repeat_joined(
        &upstream,
        &["--map", "rooms:*=up:*"],
        "up:lobby",
        Stdio::null(),
    )
    .await;
    upstream
        .broadcast(
            "rooms:lobby",
            "m",
            endpoint::Payload::raw_json(r#"{"v":1.0e+2}"#).unwrap(),
        )
        .unwrap();
    let message = next_message(&mut events).await;
    assert_eq!(
        (message.topic.as_str(), message.payload.as_json_str()),
        ("up:lobby", Some(r#"{"v":1.0e+2}"#))
    );
    sigterm(&child);
    // The local client sees the close (1001) and the upstream sees the repeater leave.
    let closed = loop {
        match tokio::time::timeout(WAIT, events.recv()).await.unwrap() {
            Some(fawkes::client::Event::Disconnected { reason, .. }) => break reason,
            Some(_) => {}
            None => panic!("client stopped"),
        }
    };
    assert!(format!("{closed:?}").contains("1001"), "{closed:?}");
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    until("the upstream connection stayed", || {
        upstream.subscribers("rooms:lobby") == 0
    })
    .await;
    client.disconnect().await;
    upstream.shutdown(endpoint::Shutdown::Stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_survives_an_upstream_restart_and_logs_the_outage() {
    let upstream = app_endpoint().await;
    let addr = upstream.local_addr();
    let (mut child, client, mut events) =
        repeat_joined(&upstream, &[], "rooms:lobby", Stdio::piped()).await;
    // The upstream dies and comes back on the same port.
    upstream.shutdown(endpoint::Shutdown::Stop).await;
    let upstream = Endpoint::builder().bind(addr).await.unwrap();
    until("repeat did not rejoin", || {
        upstream.subscribers("rooms:lobby") > 0
    })
    .await;
    upstream
        .broadcast("rooms:lobby", "after", json!({}))
        .unwrap();
    let message = next_message(&mut events).await;
    assert_eq!(message.event, "after");
    client.disconnect().await;
    sigterm(&child);
    let (status, log) = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut log = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
        (status, log)
    })
    .await
    .unwrap();
    assert!(status.success());
    for needle in [
        "upstream disconnected",
        "upstream back after an outage",
        "joined upstream",
    ] {
        assert!(log.contains(needle), "{needle:?} not in the log:\n{log}");
    }
    upstream.shutdown(endpoint::Shutdown::Stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_writes_one_json_object_per_log_line() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = url(closed.local_addr().unwrap());
    drop(closed);
    let mut command = fawkes(&[
        "--log-format",
        "json",
        "push",
        &gone,
        "--topic",
        "t",
        "--event",
        "e",
        "--token",
        "tok3n",
    ]);
    command.env("RUST_LOG", "info");
    let out = output(command).await;
    assert_eq!(status(&out), 6);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (logs, other): (Vec<&str>, Vec<&str>) = stderr.lines().partition(|l| l.starts_with('{'));
    assert!(logs.len() >= 2, "{stderr}");
    for line in &logs {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            record["level"].is_string() && record["fields"].is_object(),
            "{line}"
        );
    }
    // The one line that is not a log record is the command's own error message.
    assert_eq!(other.len(), 1, "{stderr}");
    assert!(other[0].starts_with("fawkes: "), "{stderr}");
    assert!(!stderr.contains("tok3n"), "the token reached the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_file_fills_in_flags_and_refuses_unknown_keys() {
    let endpoint = app_endpoint().await;
    let dir = std::env::temp_dir().join(format!("fawkes-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        format!(
            "[push]\nurl = \"{}\"\ntopic = \"rooms:a\"\nevent = \"ok\"\n",
            url(endpoint.local_addr())
        ),
    )
    .unwrap();
    let out = output(fawkes(&["--config", good.to_str().unwrap(), "push"])).await;
    assert_eq!((status(&out), stdout(&out).trim()), (0, r#"{"pong":1}"#));
    let flag_wins = output(fawkes(&[
        "--config",
        good.to_str().unwrap(),
        "push",
        "--event",
        "err",
    ]))
    .await;
    assert_eq!(status(&flag_wins), 3, "a flag beats the file");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[push]\ntopik = \"x\"\n").unwrap();
    let out = output(fawkes(&["--config", bad.to_str().unwrap(), "push"])).await;
    assert_eq!(status(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("topik"));
    std::fs::remove_dir_all(&dir).unwrap();
    endpoint.shutdown(endpoint::Shutdown::Stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_replays_the_last_messages_from_the_environment_over_the_file() {
    let upstream = app_endpoint().await;
    let dir = std::env::temp_dir().join(format!("fawkes-cli-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("repeat.toml");
    let config = format!(
        "[repeat]\nupstream = \"{}\"\ntopic = [\"feed\"]\nreplay = 5\nlisten = \"127.0.0.1:0\"\n",
        url(upstream.local_addr())
    );
    std::fs::write(&file, config).unwrap();
    let mut child = fawkes(&["--config", file.to_str().unwrap(), "repeat"])
        .env("FAWKES_REPLAY", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let local = url(listening_on(&mut child));
    until("repeat did not join upstream", || {
        upstream.subscribers("feed") > 0
    })
    .await;
    // An early local client proves the repeater has seen every message.
    let (early, mut early_events) = fawkes::client::Client::builder(&local).connect().unwrap();
    early.join("feed", json!({})).await.unwrap();
    for n in 0..4 {
        upstream
            .broadcast("feed", "tick", json!({ "n": n }))
            .unwrap();
    }
    for _ in 0..4 {
        next_message(&mut early_events).await;
    }
    let (late, mut events) = fawkes::client::Client::builder(&local).connect().unwrap();
    late.join("feed", json!({})).await.unwrap();
    for n in [2, 3] {
        let message = next_message(&mut events).await;
        assert_eq!(message.payload.to_value().unwrap(), json!({ "n": n }));
    }
    upstream
        .broadcast("feed", "tick", json!({ "n": 4 }))
        .unwrap();
    let live = next_message(&mut events).await;
    assert_eq!(
        live.payload.to_value().unwrap(),
        json!({ "n": 4 }),
        "2 replayed, then live"
    );
    sigterm(&child);
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    early.disconnect().await;
    late.disconnect().await;
    std::fs::remove_dir_all(&dir).unwrap();
    upstream.shutdown(endpoint::Shutdown::Stop).await;
}
