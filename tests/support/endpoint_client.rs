//! The client side of the endpoint tests: a tokio-tungstenite client speaking Phoenix V2
//! (or V1) JSON, raw HTTP requests, an endpoint on 127.0.0.1 port 0. Every wait is bounded
//! by a deadline that fails the test.

#![allow(dead_code)] // each test target uses part of it

use std::net::SocketAddr;
use std::time::Duration;

use fawkes::endpoint::{Builder, Endpoint};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub(crate) const DEADLINE: Duration = Duration::from_secs(20);

pub(crate) async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

pub(crate) struct Client {
    pub(crate) ws: WebSocketStream<TcpStream>,
    pub(crate) next_ref: u64,
}

/// What a connection attempt got.
pub(crate) enum Opened {
    Ws(Box<Client>),
    Refused(u16),
}

pub(crate) async fn open(addr: SocketAddr, query: &str, headers: &[(&str, &str)]) -> Opened {
    let tcp = TcpStream::connect(addr).await.expect("TCP connect");
    let mut request = format!("ws://{addr}/socket/websocket?{query}")
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        request.headers_mut().insert(
            hyper::header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    match within("upgrade", tokio_tungstenite::client_async(request, tcp)).await {
        Ok((ws, _)) => Opened::Ws(Box::new(Client { ws, next_ref: 1 })),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Opened::Refused(response.status().as_u16())
        }
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

pub(crate) async fn connect(addr: SocketAddr) -> Client {
    connect_vsn(addr, "2.0.0").await
}

pub(crate) async fn connect_vsn(addr: SocketAddr, vsn: &str) -> Client {
    match open(addr, &format!("vsn={vsn}"), &[]).await {
        Opened::Ws(c) => *c,
        Opened::Refused(status) => panic!("refused with {status}"),
    }
}

impl Client {
    pub(crate) async fn send(&mut self, text: &str) {
        within("send", self.ws.send(Message::text(text)))
            .await
            .expect("send");
    }

    pub(crate) async fn next(&mut self) -> Message {
        loop {
            match within("a frame", self.ws.next()).await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(m)) => return m,
                Some(Err(e)) => panic!("read failed: {e}"),
                None => panic!("the server hung up"),
            }
        }
    }

    pub(crate) async fn json(&mut self) -> Value {
        match self.next().await {
            Message::Text(t) => serde_json::from_str(t.as_str()).expect("JSON"),
            other => panic!("expected text, got {other:?}"),
        }
    }

    /// The close code the server sent (reading past anything before it).
    pub(crate) async fn close_code(&mut self) -> u16 {
        loop {
            match within("the close", self.ws.next()).await {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(Message::Close(None))) => return 1005,
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("read failed before the close: {e}"),
                None => panic!("the server hung up without a close frame"),
            }
        }
    }

    pub(crate) fn take_ref(&mut self) -> String {
        let r = self.next_ref.to_string();
        self.next_ref += 1;
        r
    }

    /// Joins `topic`; returns the join ref and the reply.
    pub(crate) async fn join(&mut self, topic: &str) -> (String, Value) {
        let r = self.take_ref();
        self.send(&json!([r, r, topic, "phx_join", {}]).to_string())
            .await;
        let reply = self.json().await;
        (r, reply)
    }

    pub(crate) async fn join_ok(&mut self, topic: &str) -> String {
        let (r, reply) = self.join(topic).await;
        assert_eq!(reply[3], "phx_reply", "{reply}");
        assert_eq!(reply[4]["status"], "ok", "join of {topic}: {reply}");
        r
    }

    pub(crate) async fn heartbeat(&mut self) {
        let r = self.take_ref();
        self.send(&json!([null, r, "phoenix", "heartbeat", {}]).to_string())
            .await;
        let reply = self.json().await;
        assert_eq!(
            reply,
            json!([null, r, "phoenix", "phx_reply", {"response": {}, "status": "ok"}])
        );
    }
}

pub(crate) async fn start(builder: Builder) -> Endpoint {
    builder
        .bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind")
}

pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    within("the response", tcp.read_to_string(&mut response))
        .await
        .expect("read");
    response
}

impl Opened {
    pub(crate) fn refused(self) -> u16 {
        match self {
            Opened::Refused(status) => status,
            Opened::Ws(_) => panic!("the upgrade was accepted"),
        }
    }
}
