//! On-demand upstream joins: the local endpoint's join and leave hooks tell each upstream
//! task which of its local topics have subscribers. The hooks only send a note (they run
//! on connection tasks and must not wait); the upstream task counts and decides.

use std::sync::Arc;

use fawkes_core::router::Router64;
use tokio::sync::mpsc;

use super::memory::Memory;
use crate::endpoint::{
    ConnectRequest, ConnectionId, EventRequest, Handler, JoinDecision, JoinRequest, Joined, Push,
    Refused, Reply,
};

/// A local subscriber came or went on a topic one upstream serves on demand.
#[derive(Debug)]
pub(crate) enum Note {
    /// A local join of the local topic was accepted.
    Joined(String),
    /// A local channel on the local topic ended.
    Left(String),
}

/// One upstream's on-demand patterns (over local topics) and its task's inbox.
pub(crate) struct Demand {
    patterns: Box<Router64<()>>,
    notes: mpsc::UnboundedSender<Note>,
}

impl Demand {
    /// The demand of `patterns`; `Err` names a pattern the topic table refuses.
    pub(crate) fn new(
        patterns: &[String],
        notes: mpsc::UnboundedSender<Note>,
    ) -> Result<Self, String> {
        let mut table = Box::<Router64<()>>::default();
        for pattern in patterns {
            table.insert(pattern, ()).map_err(|_| pattern.clone())?;
        }
        Ok(Demand {
            patterns: table,
            notes,
        })
    }

    fn wants(&self, topic: &str) -> bool {
        self.patterns.lookup(topic).is_some()
    }
}

/// The application's local handler, with every accepted join and every end of one reported
/// to the upstreams that serve the topic on demand.
pub(crate) struct DemandHandler {
    inner: Arc<dyn Handler>,
    demands: Vec<Demand>,
    /// What late local joiners get (presence state, replayed messages).
    memory: Arc<Memory>,
}

impl DemandHandler {
    pub(crate) fn new(inner: Arc<dyn Handler>, demands: Vec<Demand>, memory: Arc<Memory>) -> Self {
        DemandHandler {
            inner,
            demands,
            memory,
        }
    }

    fn note(&self, topic: &str, note: impl Fn(String) -> Note) {
        for demand in self.demands.iter().filter(|d| d.wants(topic)) {
            // A closed inbox means the repeater is shutting down: nothing to join any more.
            let _ = demand.notes.send(note(topic.to_owned()));
        }
    }
}

impl Handler for DemandHandler {
    fn connect(&self, request: &ConnectRequest<'_>) -> Result<(), Refused> {
        self.inner.connect(request)
    }

    fn join(&self, request: &JoinRequest<'_>) -> JoinDecision {
        let decision = self.inner.join(request);
        if matches!(decision, JoinDecision::Accept(_)) {
            self.note(request.topic, Note::Joined);
        }
        decision
    }

    fn subscribe(&self, joined: &Joined<'_>, subscribe: &mut dyn FnMut()) -> Vec<Push> {
        let mut pushes = Vec::new();
        let remembered = self.memory.subscribe(joined.topic, || {
            pushes = self.inner.subscribe(joined, subscribe);
            subscribe();
        });
        pushes.extend(remembered);
        pushes
    }

    fn event(&self, request: &EventRequest<'_>) -> Option<Reply> {
        self.inner.event(request)
    }

    fn left(&self, connection: ConnectionId, topic: &str) {
        self.inner.left(connection, topic);
        self.note(topic, Note::Left);
    }

    fn disconnected(&self, connection: ConnectionId) {
        self.inner.disconnected(connection);
    }
}
