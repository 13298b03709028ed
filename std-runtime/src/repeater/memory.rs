//! What the repeater remembers per local topic for clients that join later: the upstream's
//! presences (`presence.rs`) and, with the replay option, the last messages (`replay.rs`). One lock covers remembering, broadcasting what is remembered,
//! and a local join's subscription with its snapshot, so a late joiner gets the snapshot,
//! then exactly the broadcasts that came after it.
//!
//! Without replay, messages of other events pass by with one event-name check.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::presence::{self, Outcome, TopicPresence};
use super::replay::Replay;
use crate::client::{Event, Message};
use crate::endpoint::{BroadcastError, Broadcaster, Payload, Push};

/// What one local topic remembers.
#[derive(Default)]
struct TopicMemory {
    presence: Option<TopicPresence>,
    replay: Replay,
}

/// The repeater's memory, shared by the upstream tasks and the local join hook.
#[derive(Default)]
pub(crate) struct Memory {
    topics: Mutex<HashMap<String, TopicMemory>>,
    /// How many messages per topic a new local joiner gets replayed (0: none).
    replay: usize,
}

impl Memory {
    /// A memory replaying the last `replay` messages of each topic.
    pub(crate) fn new(replay: usize) -> Self {
        Memory {
            topics: Mutex::default(),
            replay,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, TopicMemory>> {
        // A panic elsewhere while holding it leaves plain data behind: keep going.
        self.topics.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether messages of `event` go through [`Memory::forward`].
    pub(crate) fn remembers(&self, event: &str) -> bool {
        self.replay > 0 || presence::is_presence_event(event)
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
        if !presence::is_presence_event(&message.event) {
            let payload: Payload = message.payload.into();
            memory
                .replay
                .record(self.replay, &message.event, payload.clone());
            return broadcaster.broadcast(local, &message.event, payload);
        }
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
            let snapshot = memory.presence.as_ref().and_then(TopicPresence::snapshot);
            if let Some(state) = snapshot.and_then(presence::checked) {
                pushes.push(Push::new(crate::client::STATE_EVENT, Payload::Json(state)));
            }
            pushes.extend(memory.replay.pushes());
        }
        pushes
    }
}
