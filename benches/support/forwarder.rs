//! The raw limit of the relay bench: a plain tokio-tungstenite forwarder with no protocol
//! work. It joins the upstream topic (one hand-written `phx_join`), answers any text from a
//! local client with a canned `phx_reply`, and hands every upstream text frame, unparsed
//! and uncopied, to every local connection. What the repeater costs beyond this is the
//! price of doing Phoenix properly (refs, heartbeats, routing, per-topic fan-out, metrics).
//!
//! It runs in its own process, like `fawkes repeat`: this bench binary re-executed with
//! `--forwarder UPSTREAM TOPIC`, on one tokio thread.

use std::net::SocketAddr;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

/// Frames buffered per local connection before it lags (the bench keeps far fewer in flight).
const BACKLOG: usize = 8192;

/// Runs the forwarder until killed: prints `listening on ws://ADDR/socket/websocket`.
pub(crate) async fn run(upstream: SocketAddr, topic: String) {
    let (tx, _) = broadcast::channel::<Message>(BACKLOG);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let local = listener.local_addr().expect("addr");
    // Said before joining: the bench reads this line before it serves the join.
    println!("listening on ws://{local}/socket/websocket");
    let mut up = super::subscribe(upstream, &topic).await;
    let accept = {
        let tx = tx.clone();
        async move {
            loop {
                let (tcp, _) = listener.accept().await.expect("accept");
                tokio::spawn(serve(tcp, tx.subscribe(), topic.clone()));
            }
        }
    };
    let relay = async move {
        while let Some(Ok(frame)) = up.next().await {
            if frame.is_text() {
                let _ = tx.send(frame);
            }
        }
    };
    tokio::select! {
        () = accept => {}
        () = relay => {}
    }
}

/// One local connection: the canned join reply, then every relayed frame, written in
/// batches (all that is waiting, then one flush).
async fn serve(tcp: TcpStream, mut frames: broadcast::Receiver<Message>, topic: String) {
    tcp.set_nodelay(true).expect("nodelay");
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let reply = format!(r#"["1","1","{topic}","phx_reply",{{"status":"ok","response":{{}}}}]"#);
    loop {
        tokio::select! {
            input = stream.next() => match input {
                Some(Ok(Message::Text(_))) => {
                    if sink.send(Message::text(reply.clone())).await.is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                _ => return,
            },
            frame = frames.recv() => {
                let Ok(frame) = frame else { return };
                if sink.feed(frame).await.is_err() {
                    return;
                }
                while let Ok(frame) = frames.try_recv() {
                    if sink.feed(frame).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}
