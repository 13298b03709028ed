//! What the repeater remembers per local topic for clients that join later: the upstream's
//! presences (`presence.rs`). One lock covers remembering, broadcasting what is remembered,
//! and a local join's subscription with its snapshot, so a late joiner gets the snapshot,
//! then exactly the broadcasts that came after it.
//!
//! Messages of other events pass by with one event-name check.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::presence::{self, Outcome, TopicPresence};
use crate::client::{Event, Message};
use crate::endpoint::{BroadcastError, Broadcaster, Push};

/// What one local topic remembers.
#[derive(Default)]
struct TopicMemory {
    presence: Option<TopicPresence>,
}

/// The repeater's memory, shared by the upstream tasks and the local join hook.
#[derive(Default)]
pub(crate) struct Memory {
    topics: Mutex<HashMap<String, TopicMemory>>,
}

impl Memory {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, TopicMemory>> {
        // A panic elsewhere while holding it leaves plain data behind: keep going.
        self.topics.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether messages of `event` go through [`Memory::forward`].
    pub(crate) fn remembers(&self, event: &str) -> bool {
        presence::is_presence_event(event)
    }

    /// Remembers an upstream message of the local topic `local` and broadcasts what local
    /// clients get for it, under the lock.
    pub(crate) fn forward(
        &self,
        local: &str,
        message: Message,
        broadcaster: &Broadcaster,
    ) -> Result<(), BroadcastError> {
        let mut topics = self.lock();
        let memory = topics.entry(local.to_owned()).or_default();
        let view = memory
            .presence
            .get_or_insert_with(|| TopicPresence::new(&message.topic));
        match view.apply(message) {
            Outcome::Forward(message) => {
                broadcaster.broadcast(local, &message.event, message.payload)
            }
            Outcome::Send(event, json) => {
                broadcaster.broadcast(local, event, presence::payload(json))
            }
            Outcome::Nothing => Ok(()),
        }
    }

    /// An upstream event other than a message (a rejoin makes presence diffs wait).
    pub(crate) fn upstream_event(&self, local: &str, event: &Event) {
        if let Event::Joined { .. } = event {
            if let Some(view) = self.lock().get_mut(local).and_then(|m| m.presence.as_mut()) {
                view.upstream_event(event);
            }
        }
    }

    /// Subscribes a local joiner of `topic` (with `subscribe`) and returns what it must get
    /// right after its join reply.
    pub(crate) fn subscribe(&self, topic: &str, subscribe: impl FnOnce()) -> Vec<Push> {
        let topics = self.lock();
        subscribe();
        let mut pushes = Vec::new();
        if let Some(memory) = topics.get(topic) {
            if let Some(state) = memory.presence.as_ref().and_then(TopicPresence::snapshot) {
                pushes.push(Push::new(
                    crate::client::STATE_EVENT,
                    crate::endpoint::Payload::Json(state.into()),
                ));
            }
        }
        pushes
    }
}
