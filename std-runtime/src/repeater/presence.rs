//! Presence through the repeater. The upstream sends `presence_state` once, to the
//! repeater's own join, so local clients that join later would see diffs against a state
//! they never got. The repeater therefore keeps, per local topic, phoenix.js's view of the
//! upstream's presences (the client's [`Presence`], so the sync is the core's):
//!
//! - a local client that joins a topic with a state gets a `presence_state` push of it right
//!   after its join reply, then the diffs as they come (the snapshot and the subscription
//!   share the lock under which diffs are applied and broadcast, so nothing is missed or
//!   doubled);
//! - upstream diffs are applied, then forwarded byte for byte;
//! - the first upstream state is forwarded as the (synced) state; every later one (after an
//!   upstream reconnect) replaces the old state, and local clients get the diff from the old
//!   state to the new one instead, so presences that stayed cause no leave and re-join.
//!   Diffs that arrive while the upstream rejoin waits for its state are held, as phoenix.js
//!   does, and are part of that diff.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::client::{self, Event, Message, Meta, Presence, DIFF_EVENT, STATE_EVENT};
use crate::json::JsonText;

/// Whether the repeater handles this event itself (the only per-message cost for others).
pub(crate) fn is_presence_event(event: &str) -> bool {
    event == STATE_EVENT || event == DIFF_EVENT
}

/// The presence of one local topic.
pub(crate) struct TopicPresence {
    view: Presence,
    /// Whether a state was synced yet (local clients have one only from then on).
    synced: bool,
}

/// What to broadcast locally for one upstream presence message.
pub(crate) enum Outcome {
    /// The upstream message, as it came.
    Forward(Message),
    /// A synthesized message of this event and JSON payload.
    Send(&'static str, String),
    /// Nothing (held until the state, or a state that changed nothing).
    Nothing,
}

impl TopicPresence {
    pub(crate) fn new(upstream_topic: &str) -> Self {
        TopicPresence {
            view: Presence::new(upstream_topic),
            synced: false,
        }
    }

    /// The upstream channel (re)joined: diffs wait for its state.
    pub(crate) fn upstream_event(&mut self, event: &Event) {
        // Only `Joined` matters; the view ignores the rest.
        let _ = self.view.handle(event);
    }

    /// The state to push to a local joiner, once there is one.
    pub(crate) fn snapshot(&self) -> Option<String> {
        self.synced.then(|| self.view.state_json())
    }

    /// Applies an upstream `presence_state` or `presence_diff`; says what local clients get.
    pub(crate) fn apply(&mut self, message: Message) -> Outcome {
        let is_state = message.event == STATE_EVENT;
        let before = (is_state && self.synced).then(|| self.view.list());
        let event = Event::Message(message);
        let synced = match self.view.handle(&event) {
            Ok(synced) => synced.is_some(),
            Err(e) => {
                tracing::warn!(topic = %self.view.topic(), error = %e, "upstream presence not fully applied");
                true
            }
        };
        let Event::Message(message) = event else {
            return Outcome::Nothing;
        };
        if !synced {
            return Outcome::Nothing; // held until the state
        }
        if !is_state {
            return Outcome::Forward(message);
        }
        self.synced = true;
        match before {
            None => Outcome::Send(STATE_EVENT, self.view.state_json()),
            Some(before) => match diff(&before, &self.view.list()) {
                Some(diff) => Outcome::Send(DIFF_EVENT, diff),
                None => Outcome::Nothing,
            },
        }
    }
}

type Listing = [(String, Vec<Meta>)];

/// The `presence_diff` that turns `old` into `new` (phoenix.js's `syncState` on the
/// receiving side computes the same joins and leaves), or `None` when they are equal.
fn diff(old: &Listing, new: &Listing) -> Option<String> {
    let index = |list: &Listing| -> HashMap<String, Vec<String>> {
        list.iter()
            .map(|(key, metas)| {
                (
                    key.clone(),
                    metas.iter().map(|m| m.phx_ref.clone()).collect(),
                )
            })
            .collect()
    };
    let (old_refs, new_refs) = (index(old), index(new));
    let only = |from: &Listing, other: &HashMap<String, Vec<String>>| -> Vec<(String, Vec<Meta>)> {
        from.iter()
            .filter_map(|(key, metas)| {
                let theirs = other.get(key);
                let mine: Vec<Meta> = metas
                    .iter()
                    .filter(|m| theirs.is_none_or(|refs| !refs.contains(&m.phx_ref)))
                    .cloned()
                    .collect();
                (!mine.is_empty()).then(|| (key.clone(), mine))
            })
            .collect()
    };
    let (joins, leaves) = (only(new, &old_refs), only(old, &new_refs));
    if joins.is_empty() && leaves.is_empty() {
        return None;
    }
    let mut out = String::from(r#"{"joins":"#);
    write_presences(&mut out, &joins);
    out.push_str(r#","leaves":"#);
    write_presences(&mut out, &leaves);
    out.push('}');
    Some(out)
}

/// `{"key":{"metas":[...]},...}` with each meta's JSON verbatim.
fn write_presences(out: &mut String, presences: &[(String, Vec<Meta>)]) {
    out.push('{');
    for (n, (key, metas)) in presences.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        let key = serde_json::Value::String(key.clone());
        let _ = write!(out, r#"{key}:{{"metas":["#);
        for (i, meta) in metas.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&String::from_utf8_lossy(&meta.json));
        }
        out.push_str("]}");
    }
    out.push('}');
}

/// A synthesized JSON text (a state or a diff), checked: built from metas that were
/// checked, it is checked again as a whole (presence events are rare) so that a fault here
/// can never send a local client invalid JSON. `None`, logged, if it is not JSON.
pub(crate) fn checked(json: String) -> Option<JsonText> {
    JsonText::new(json)
        .map_err(|e| tracing::warn!(error = %e, "synthesized presence payload is not JSON"))
        .ok()
}

/// The client's payload for a synthesized message (`{}` if it is not JSON).
pub(crate) fn payload(json: String) -> client::Payload {
    checked(json).map_or_else(client::Payload::empty, client::Payload::Json)
}
