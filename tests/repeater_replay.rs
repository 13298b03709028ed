//! The repeater's replay option over real sockets: with `replay(3)`, a local client that
//! joins late gets exactly the last 3 messages of the topic, in order, right after its join
//! reply, then the live ones; without it (the default), only the live ones.
#[path = "support/wait.rs"]
mod wait;

use fawkes::client::Client;
use fawkes::endpoint::{Endpoint, Shutdown};
use fawkes::repeater::{Repeater, Upstream};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use wait::{until, within};

const TOPIC: &str = "feed";
type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A raw V2 client of the repeater that has sent its join (join ref and ref "1").
async fn join(repeater: &Repeater) -> Ws {
    let addr = repeater.local_addr();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
    let (mut ws, _) = within("connect", tokio_tungstenite::client_async(url, tcp))
        .await
        .unwrap();
    let join = json!(["1", "1", TOPIC, "phx_join", {}]).to_string();
    ws.send(Message::text(join)).await.unwrap();
    ws
}

async fn next(ws: &mut Ws) -> Value {
    loop {
        let frame = within("a frame", ws.next()).await.unwrap().unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

async fn repeater(remote: &Endpoint, replay: Option<usize>) -> Repeater {
    let url = format!("ws://{}/socket/websocket", remote.local_addr());
    let mut builder =
        Repeater::builder().upstream(Upstream::new(Client::builder(url)).topic(TOPIC));
    if let Some(n) = replay {
        builder = builder.replay(n);
    }
    let repeater = builder.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    until("the upstream join", || remote.subscribers(TOPIC) == 1).await;
    repeater
}

/// Broadcasts `tick` n = `from..to` upstream and waits until `early` saw them all.
async fn ticks(remote: &Endpoint, early: &mut Ws, from: u32, to: u32) {
    for n in from..to {
        remote.broadcast(TOPIC, "tick", json!({ "n": n })).unwrap();
    }
    for n in from..to {
        assert_eq!(
            next(early).await,
            json!([null, null, TOPIC, "tick", {"n": n}])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_gets_exactly_the_last_n_messages_in_order_then_live_ones() {
    let remote = Endpoint::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let repeater = repeater(&remote, Some(3)).await;
    let mut early = join(&repeater).await;
    let reply = next(&mut early).await;
    assert_eq!(reply[4]["status"], "ok", "{reply}");
    ticks(&remote, &mut early, 0, 5).await;

    let mut late = join(&repeater).await;
    let reply = next(&mut late).await;
    assert_eq!(reply[3], "phx_reply");
    for n in 2..5 {
        // Pushed to this join: they carry its join ref.
        assert_eq!(
            next(&mut late).await,
            json!(["1", null, TOPIC, "tick", {"n": n}])
        );
    }
    ticks(&remote, &mut early, 5, 6).await;
    assert_eq!(
        next(&mut late).await,
        json!([null, null, TOPIC, "tick", {"n": 5}])
    );

    drop((early, late));
    repeater.shutdown().await;
    remote.shutdown(Shutdown::Stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_option_a_late_joiner_gets_only_live_messages() {
    let remote = Endpoint::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let repeater = repeater(&remote, None).await;
    let mut early = join(&repeater).await;
    next(&mut early).await;
    ticks(&remote, &mut early, 0, 3).await;

    let mut late = join(&repeater).await;
    assert_eq!(next(&mut late).await[3], "phx_reply");
    ticks(&remote, &mut early, 3, 4).await;
    assert_eq!(
        next(&mut late).await,
        json!([null, null, TOPIC, "tick", {"n": 3}])
    );

    drop((early, late));
    repeater.shutdown().await;
    remote.shutdown(Shutdown::Stop).await;
}
