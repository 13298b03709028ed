//! `POST /api/broadcast/:topic/:event`: broadcasts for scripts (`curl -d '{"a":1}'`), off
//! unless [`Builder::broadcast_api`](super::Builder::broadcast_api) turns it on. The body is
//! the payload: JSON text (checked, sent as written), or binary with
//! `Content-Type: application/octet-stream`. With a token, requests must carry
//! `Authorization: Bearer <token>` (401 otherwise); the token is never logged.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use percent_encoding::percent_decode_str;

use super::pubsub::Payload;
use super::{token, Inner};
use crate::json::JsonText;

/// The path prefix of the broadcast API.
pub(crate) const PREFIX: &str = "/api/broadcast/";

/// The API's settings.
#[derive(Clone, Default)]
pub(crate) struct Api {
    pub(crate) enabled: bool,
    pub(crate) token: Option<String>,
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Answers one broadcast request (the caller checked the method and the prefix).
pub(crate) async fn broadcast(req: Request<Incoming>, inner: &Inner) -> Response<Full<Bytes>> {
    let api = &inner.settings.api;
    if let Some(token) = &api.token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
        if !presented.is_some_and(|p| token::matches(p, token.as_bytes())) {
            tracing::info!("broadcast API: missing or wrong token");
            return reply(StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n");
        }
    }
    let path = req.uri().path().strip_prefix(PREFIX).unwrap_or_default();
    let Some((topic, event)) = path.split_once('/') else {
        return reply(
            StatusCode::NOT_FOUND,
            "use POST /api/broadcast/:topic/:event\n",
        );
    };
    let (Ok(topic), Ok(event)) = (
        percent_decode_str(topic).decode_utf8(),
        percent_decode_str(event).decode_utf8(),
    ) else {
        return reply(StatusCode::BAD_REQUEST, "topic and event must be UTF-8\n");
    };
    if topic.is_empty() || event.is_empty() || event.contains('/') {
        return reply(
            StatusCode::NOT_FOUND,
            "use POST /api/broadcast/:topic/:event\n",
        );
    }
    let binary = req
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/octet-stream"));
    let (topic, event) = (topic.into_owned(), event.into_owned());
    let body = Limited::new(req.into_body(), inner.settings.max_frame_size);
    let body = match body.collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body too large or cut short\n",
            )
        }
    };
    let payload = if binary {
        Payload::Binary(body)
    } else {
        // Checked here, once, and kept without a copy.
        match JsonText::from_bytes(body) {
            Ok(json) => Payload::Json(json),
            Err(_) => return reply(StatusCode::BAD_REQUEST, "the body is not one JSON value\n"),
        }
    };
    match inner.broadcaster.broadcast(&topic, &event, payload) {
        Ok(()) => reply(StatusCode::OK, "ok\n"),
        Err(e) => {
            tracing::warn!(%topic, %event, error = %e, "broadcast API: broadcast failed");
            reply(StatusCode::BAD_REQUEST, "the broadcast cannot be encoded\n")
        }
    }
}
