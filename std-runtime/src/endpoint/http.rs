//! The HTTP side, on the endpoint's one port (hyper 1, HTTP/1.1): `GET /health`,
//! `GET /metrics`, and the WebSocket upgrade at the socket path, decided as Phoenix does
//! (spec §1): request checks (400), `check_origin` (403), `vsn` and query params from the
//! core's [`connect`], the auth-token subprotocol, the application's connect hook (403).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use fawkes_core::codec::Vsn;
use fawkes_core::server::connect::{self, AuthToken, Query, AUTH_TOKEN_PROTOCOL};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::api;
use super::connection::Connection;
use super::hooks::ConnectRequest;
use super::shutdown::Guard;
use super::socket::Sock;
use super::{queue, ConnectionId, Inner};
use crate::clock::Clock;

type Body = Full<Bytes>;

/// Serves one TCP connection: HTTP requests until it upgrades, closes, or the endpoint
/// shuts down.
pub(crate) async fn serve(tcp: TcpStream, peer: SocketAddr, inner: Arc<Inner>) {
    let mut guard = inner.shutdown.guard();
    let io = TokioIo::new(tcp);
    let service = service_fn(move |req: Request<Incoming>| {
        let inner = inner.clone();
        async move {
            let api = inner.settings.api.enabled
                && req.method() == Method::POST
                && req.uri().path().starts_with(api::PREFIX);
            Ok::<_, Infallible>(if api {
                api::broadcast(req, &inner).await
            } else {
                route(req, peer, &inner)
            })
        }
    });
    let conn = http1::Builder::new()
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "HTTP connection failed");
            }
        }
        _ = guard.signalled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = status;
    response
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn route(req: Request<Incoming>, peer: SocketAddr, inner: &Arc<Inner>) -> Response<Body> {
    if req.uri().path() == inner.settings.path {
        return upgrade(req, peer, inner);
    }
    match (req.method(), req.uri().path()) {
        // A degraded bus stays 200: local delivery works, and a load balancer must not
        // take every node out at once because the bus they share went down.
        (&Method::GET, "/health") => {
            let body = match inner.broadcaster.adapter.degraded() {
                None => "ok\n".into(),
                Some(why) => format!("degraded: {why}\n"),
            };
            text(StatusCode::OK, "text/plain; charset=utf-8", body)
        }
        (&Method::GET, "/metrics") => text(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            inner.metrics.encode(),
        ),
        _ => empty(StatusCode::NOT_FOUND),
    }
}

/// Whether a comma-separated header has `token` (case-insensitively).
fn has_token(headers: &hyper::HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case(token)))
    })
}

fn refuse(inner: &Inner, status: u16, why: &str) -> Response<Body> {
    inner.metrics.refused_connects.inc();
    tracing::info!(status, why, "upgrade refused");
    empty(StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN))
}

fn decode(component: connect::Component<'_>) -> Option<String> {
    let mut buf = vec![0u8; component.raw().len()];
    component.decode_into(&mut buf).ok().map(str::to_owned)
}

fn upgrade(mut req: Request<Incoming>, peer: SocketAddr, inner: &Arc<Inner>) -> Response<Body> {
    if req.method() != Method::GET {
        return refuse(inner, connect::BAD_REQUEST, "method is not GET");
    }
    let headers = req.headers();
    let valid = has_token(headers, header::CONNECTION, "upgrade")
        && has_token(headers, header::UPGRADE, "websocket")
        && headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v.as_bytes() == b"13");
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY).filter(|_| valid) else {
        inner.metrics.refused_connects.inc();
        return text(
            StatusCode::BAD_REQUEST,
            "text/plain; charset=utf-8",
            "not a WebSocket upgrade request (RFC 6455 §4.2.1)".into(),
        );
    };
    let accept = derive_accept_key(key.as_bytes());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if !inner.settings.check_origin.allows(origin) {
        inner.metrics.refused_connects.inc();
        tracing::error!(origin, "origin not allowed (check_origin)");
        return empty(StatusCode::FORBIDDEN);
    }
    let query = req.uri().query().unwrap_or("");
    let vsn = match connect::negotiate(Query::new(query)) {
        Ok(vsn) => vsn,
        Err(status) => return refuse(inner, status, "vsn"),
    };
    let params: Vec<(String, String)> = Query::new(query)
        .pairs()
        .filter_map(|(k, v)| Some((decode(k)?, decode(v)?)))
        .collect();
    let protocols = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok());
    let token = match protocols.map(AuthToken::from_header) {
        Some(token @ AuthToken::Present(encoded)) => {
            let mut buf = vec![0u8; encoded.len()];
            match token.decode_into(&mut buf) {
                Some(Ok(decoded)) => Some(decoded.to_vec()),
                // Phoenix's `Base.decode64!` raises.
                _ => {
                    return refuse(inner, 500, "auth token is not base64");
                }
            }
        }
        _ => None,
    };
    let connection = inner.next_connection();
    let request = ConnectRequest {
        connection,
        peer,
        params: &params,
        headers,
        auth_token: token.as_deref(),
    };
    if let Err(refused) = inner.handler.connect(&request) {
        inner.metrics.refused_connects.inc();
        tracing::info!(%peer, reason = refused.reason, "connect refused");
        return empty(StatusCode::FORBIDDEN);
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    let inner_task = inner.clone();
    // Taken now, not in the task: the HTTP side's guard goes with the upgrade, and a
    // shutdown between the two must still wait for this connection's close frame.
    let guard = inner.shutdown.guard();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => start(TokioIo::new(upgraded), vsn, connection, inner_task, guard).await,
            Err(e) => tracing::debug!(%peer, error = %e, "upgrade failed"),
        }
    });
    let mut response = empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if token.is_some() {
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(AUTH_TOKEN_PROTOCOL),
        );
    }
    response
}

/// The tungstenite settings of every connection: a small read buffer, the frame size
/// limit (data frames are written by the connection's own writer).
pub(crate) fn ws_config(inner: &Inner) -> WebSocketConfig {
    let s = &inner.settings;
    WebSocketConfig::default()
        .read_buffer_size(s.read_buffer)
        // Only control frames go through tungstenite's writes: straight out.
        .write_buffer_size(0)
        .max_message_size(Some(s.max_frame_size))
        .max_frame_size(Some(s.max_frame_size))
}

/// Runs an upgraded connection.
pub(crate) async fn start<S>(io: S, vsn: Vsn, id: ConnectionId, inner: Arc<Inner>, guard: Guard)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_config(&inner))).await;
    let (outbox, inbox) = queue::bounded(inner.settings.send_queue);
    let clock = Clock::new();
    let socket = Sock::new(vsn, inner.core_config(), clock.now());
    Connection {
        id,
        ws,
        socket,
        inbox,
        outbox,
        inner,
        clock,
        guard,
        topics: Vec::new(),
        writer: super::writer::Writer::default(),
        idle: Box::pin(tokio::time::sleep(std::time::Duration::from_secs(3600))),
        idle_at: None,
    }
    .run()
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size_of_future<F: std::future::Future>(_: &F) -> usize {
        std::mem::size_of::<F>()
    }

    /// The memory budget of an idle connection (≤ 8 KiB in all): its task and its small
    /// socket stay small (the rare paths are boxed; the full socket only once needed).
    #[test]
    fn an_idle_connection_stays_small() {
        assert!(std::mem::size_of::<super::super::socket::SmallSocket>() <= 512);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let endpoint = super::super::Endpoint::bind("127.0.0.1:0".parse().expect("addr"))
                .await
                .expect("bind");
            let (io, _peer) = tokio::io::duplex(64);
            let guard = endpoint.inner.shutdown.guard();
            let task = start(io, Vsn::V2, ConnectionId(1), endpoint.inner.clone(), guard);
            let size = size_of_future(&task);
            assert!(size <= 2048, "the connection task is {size} bytes");
        });
    }
}
