//! The application's hooks: who may connect, which joins succeed, how client events are
//! answered. They run on the connection's task, one frame at a time (as Phoenix's transport
//! process blocks on `join/3`): keep them quick and hand slow work to other tasks.

use std::net::SocketAddr;

use fawkes_core::codec::Payload;
use serde_json::Value;

use super::pubsub::{Broadcaster, Payload as PushPayload};
use super::ConnectionId;

/// An upgrade request to authorize (Phoenix's `connect/3`).
#[derive(Debug)]
#[non_exhaustive]
pub struct ConnectRequest<'a> {
    /// The id the connection will have.
    pub connection: ConnectionId,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The query-string params, decoded, in order (`vsn` included, as Phoenix passes it).
    pub params: &'a [(String, String)],
    /// The request headers.
    pub headers: &'a hyper::HeaderMap,
    /// The token of the `base64url.bearer.phx.` subprotocol, decoded (phoenix.js
    /// `authToken`). Never logged.
    pub auth_token: Option<&'a [u8]>,
}

impl ConnectRequest<'_> {
    /// The first param named `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A join to decide (`join/3`).
#[derive(Debug)]
#[non_exhaustive]
pub struct JoinRequest<'a> {
    /// The joining connection.
    pub connection: ConnectionId,
    /// The topic.
    pub topic: &'a str,
    /// The join payload (JSON text; binary payloads as their bytes).
    pub payload: Payload<'a>,
}

/// A client event on a joined channel (`handle_in/3`).
#[derive(Debug)]
#[non_exhaustive]
pub struct EventRequest<'a> {
    /// The sending connection (for [`Broadcaster::broadcast_from`]).
    pub connection: ConnectionId,
    /// The channel's topic.
    pub topic: &'a str,
    /// The event name.
    pub event: &'a str,
    /// The payload, borrowed from the frame.
    pub payload: Payload<'a>,
    /// Broadcasts from inside the hook.
    pub broadcaster: &'a Broadcaster,
}

/// An accepted join about to be subscribed to its topic (see [`Handler::subscribe`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct Joined<'a> {
    /// The joined connection.
    pub connection: ConnectionId,
    /// The topic.
    pub topic: &'a str,
}

/// A message for the one connection that just joined (Phoenix's `push/3` from
/// `join/3` or `handle_info(:after_join, ...)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    /// The event.
    pub event: String,
    /// The payload.
    pub payload: PushPayload,
}

impl Push {
    /// A push of `event` with `payload`.
    pub fn new(event: impl Into<String>, payload: impl Into<PushPayload>) -> Self {
        Push {
            event: event.into(),
            payload: payload.into(),
        }
    }
}

/// A join's outcome.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum JoinDecision {
    /// `{:ok, response, socket}`: joined, the reply carries `response`.
    Accept(Value),
    /// `{:error, response}`: refused, the reply carries `response` (e.g.
    /// `{"reason": "unauthorized"}`).
    Refuse(Value),
}

impl JoinDecision {
    /// Joined with an empty response (`{:ok, socket}`).
    pub fn ok() -> Self {
        JoinDecision::Accept(Value::Object(Default::default()))
    }

    /// Refused with `{"reason": reason}`.
    pub fn refuse(reason: &str) -> Self {
        JoinDecision::Refuse(serde_json::json!({ "reason": reason }))
    }
}

/// A reply to a client event (`{:reply, {status, response}, socket}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// `"ok"`, `"error"` or any other status.
    pub status: String,
    /// The response.
    pub response: Value,
}

impl Reply {
    /// An ok reply.
    pub fn ok(response: Value) -> Self {
        Reply {
            status: "ok".into(),
            response,
        }
    }

    /// An error reply.
    pub fn error(response: Value) -> Self {
        Reply {
            status: "error".into(),
            response,
        }
    }
}

/// Why a connect was refused (answered 403 with an empty body, as Phoenix's `:error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// For the logs (never sent to the client).
    pub reason: String,
}

impl Refused {
    /// A refusal with a reason for the logs.
    pub fn new(reason: impl Into<String>) -> Self {
        Refused {
            reason: reason.into(),
        }
    }
}

/// The application's side of the endpoint. Every method has a default: connects and joins
/// accepted, events answered with an error reply `{"reason": "event not handled"}`.
pub trait Handler: Send + Sync + 'static {
    /// Authorizes an upgrade: `Err` answers 403.
    fn connect(&self, request: &ConnectRequest<'_>) -> Result<(), Refused> {
        let _ = request;
        Ok(())
    }

    /// Decides a join of a routed topic.
    fn join(&self, request: &JoinRequest<'_>) -> JoinDecision {
        let _ = request;
        JoinDecision::ok()
    }

    /// Answers a client event; `None` sends no reply (the client's push times out).
    fn event(&self, request: &EventRequest<'_>) -> Option<Reply> {
        let _ = request;
        Some(not_handled())
    }

    /// An accepted join is subscribed to its topic's broadcasts: call `subscribe` (once)
    /// to do it. What this returns is pushed to the joiner right after its join reply and
    /// before every broadcast published after `subscribe` ran, so a snapshot taken under the
    /// same lock as the broadcasts it must not miss (or repeat) is exact: Phoenix's
    /// `push(socket, "presence_state", ...)` after join. If `subscribe` is not called, the
    /// connection is subscribed after this returns. With an asynchronous [`PubSub`](super::PubSub)
    /// adapter, "after" means published to the adapter after.
    ///
    /// The default subscribes and pushes nothing.
    fn subscribe(&self, joined: &Joined<'_>, subscribe: &mut dyn FnMut()) -> Vec<Push> {
        let _ = joined;
        subscribe();
        Vec::new()
    }

    /// A channel joined through [`Handler::join`] ended: left, closed, or its connection
    /// went. Called once for every accepted join, before [`Handler::disconnected`].
    fn left(&self, connection: ConnectionId, topic: &str) {
        let _ = (connection, topic);
    }

    /// The connection is gone (after its last frame).
    fn disconnected(&self, connection: ConnectionId) {
        let _ = connection;
    }
}

/// The default answer to an event: an error reply `{"reason": "event not handled"}`.
pub fn not_handled() -> Reply {
    Reply::error(serde_json::json!({ "reason": "event not handled" }))
}

/// The default handler: every connect and join accepted, events not handled.
#[derive(Debug, Clone, Copy, Default)]
pub struct Permissive;

impl Handler for Permissive {}

/// A handler made of closures: `Hooks::new().on_join(|req| ...)`.
#[allow(clippy::type_complexity)]
pub struct Hooks {
    connect: Option<Box<dyn Fn(&ConnectRequest<'_>) -> Result<(), Refused> + Send + Sync>>,
    join: Option<Box<dyn Fn(&JoinRequest<'_>) -> JoinDecision + Send + Sync>>,
    event: Option<Box<dyn Fn(&EventRequest<'_>) -> Option<Reply> + Send + Sync>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("connect", &self.connect.is_some())
            .field("join", &self.join.is_some())
            .field("event", &self.event.is_some())
            .finish()
    }
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks::new()
    }
}

impl Hooks {
    /// No hooks: the [`Handler`] defaults.
    pub fn new() -> Self {
        Hooks {
            connect: None,
            join: None,
            event: None,
        }
    }

    /// The connect authorization.
    pub fn on_connect(
        mut self,
        f: impl Fn(&ConnectRequest<'_>) -> Result<(), Refused> + Send + Sync + 'static,
    ) -> Self {
        self.connect = Some(Box::new(f));
        self
    }

    /// The join decision.
    pub fn on_join(
        mut self,
        f: impl Fn(&JoinRequest<'_>) -> JoinDecision + Send + Sync + 'static,
    ) -> Self {
        self.join = Some(Box::new(f));
        self
    }

    /// The event answer.
    pub fn on_event(
        mut self,
        f: impl Fn(&EventRequest<'_>) -> Option<Reply> + Send + Sync + 'static,
    ) -> Self {
        self.event = Some(Box::new(f));
        self
    }
}

impl Handler for Hooks {
    fn connect(&self, request: &ConnectRequest<'_>) -> Result<(), Refused> {
        self.connect.as_ref().map_or(Ok(()), |f| f(request))
    }

    fn join(&self, request: &JoinRequest<'_>) -> JoinDecision {
        self.join
            .as_ref()
            .map_or_else(JoinDecision::ok, |f| f(request))
    }

    fn event(&self, request: &EventRequest<'_>) -> Option<Reply> {
        match &self.event {
            Some(f) => f(request),
            None => Some(not_handled()),
        }
    }
}
