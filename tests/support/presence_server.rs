//! A presence-tracking application for a fawkes endpoint, standing in for a Phoenix channel
//! with `Phoenix.Presence`: it pushes `presence_state` to each joiner right after its join
//! reply, and broadcasts a `presence_diff` for every track and untrack the test makes.
//!
//! Tracks and snapshots share one lock with the subscription
//! ([`Handler::subscribe`]), so a joiner gets the state, then exactly the later diffs.

#![allow(dead_code)] // each test target uses part of it

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use fawkes::endpoint::{Broadcaster, Endpoint, Handler, Joined, Push};
use serde_json::{json, Map, Value};

/// topic -> key -> metas, in tracking order.
type Presences = BTreeMap<String, Vec<(String, Vec<Value>)>>;

/// The tracker: what the server knows, and the broadcaster its diffs go out on.
#[derive(Default)]
pub(crate) struct Tracker {
    presences: Mutex<Presences>,
    broadcaster: OnceLock<Broadcaster>,
}

fn state_of(entries: &[(String, Vec<Value>)]) -> Value {
    let mut out = Map::new();
    for (key, metas) in entries {
        out.insert(key.clone(), json!({ "metas": metas }));
    }
    Value::Object(out)
}

impl Tracker {
    /// Tracks `meta` (which carries its `phx_ref`) under `key` and broadcasts the join.
    pub(crate) fn track(&self, topic: &str, key: &str, meta: Value) {
        let mut presences = self.presences.lock().unwrap();
        let entries = presences.entry(topic.to_owned()).or_default();
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some((_, metas)) => metas.push(meta.clone()),
            None => entries.push((key.to_owned(), vec![meta.clone()])),
        }
        let diff = json!({"joins": {key: {"metas": [meta]}}, "leaves": {}});
        self.broadcast(topic, diff);
    }

    /// Untracks the meta `phx_ref` of `key` and broadcasts the leave.
    pub(crate) fn untrack(&self, topic: &str, key: &str, phx_ref: &str) {
        let mut presences = self.presences.lock().unwrap();
        let entries = presences.entry(topic.to_owned()).or_default();
        let at = entries
            .iter()
            .position(|(k, _)| k == key)
            .expect("tracked key");
        let metas = &mut entries[at].1;
        let i = metas
            .iter()
            .position(|m| m["phx_ref"] == phx_ref)
            .expect("tracked ref");
        let meta = metas.remove(i);
        if metas.is_empty() {
            entries.remove(at);
        }
        let diff = json!({"joins": {}, "leaves": {key: {"metas": [meta]}}});
        self.broadcast(topic, diff);
    }

    /// Sets what is tracked without broadcasting (the state a restarted server starts with).
    pub(crate) fn preset(&self, topic: &str, entries: Vec<(String, Vec<Value>)>) {
        self.presences
            .lock()
            .unwrap()
            .insert(topic.to_owned(), entries);
    }

    /// The `presence_state` payload of `topic`.
    pub(crate) fn state(&self, topic: &str) -> Value {
        let presences = self.presences.lock().unwrap();
        state_of(presences.get(topic).map_or(&[][..], Vec::as_slice))
    }

    fn broadcast(&self, topic: &str, diff: Value) {
        if let Some(b) = self.broadcaster.get() {
            b.broadcast(topic, "presence_diff", diff)
                .expect("broadcast");
        }
    }
}

/// The endpoint's handler: the shared [`Tracker`].
pub(crate) struct TrackerApp(pub(crate) Arc<Tracker>);

impl Handler for TrackerApp {
    fn subscribe(&self, joined: &Joined<'_>, subscribe: &mut dyn FnMut()) -> Vec<Push> {
        let presences = self.0.presences.lock().unwrap();
        subscribe();
        let state = state_of(presences.get(joined.topic).map_or(&[][..], Vec::as_slice));
        vec![Push::new("presence_state", state)]
    }
}

/// An endpoint on `addr` running `tracker`.
pub(crate) async fn tracking_endpoint(addr: SocketAddr, tracker: Arc<Tracker>) -> Endpoint {
    let endpoint = Endpoint::builder()
        .handler(TrackerApp(tracker.clone()))
        .bind(addr)
        .await
        .expect("tracking endpoint");
    // A restarted server gets a new tracker, so this is its first broadcaster.
    let _ = tracker.broadcaster.set(endpoint.broadcaster());
    endpoint
}
