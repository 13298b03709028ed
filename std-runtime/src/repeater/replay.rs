//! The replay option: per local topic, the last N messages, pushed to each new local joiner
//! right after its join reply (off by default; Phoenix itself keeps nothing), so a
//! dashboard does not start empty. Presence events are not kept: the presence state a
//! joiner gets already holds them.

use std::collections::VecDeque;

use crate::endpoint::{Payload, Push};

/// The last messages of one local topic, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    messages: VecDeque<(String, Payload)>,
}

impl Replay {
    /// Keeps `event` with `payload`, dropping the oldest beyond `keep`.
    pub(crate) fn record(&mut self, keep: usize, event: &str, payload: Payload) {
        while self.messages.len() >= keep {
            if self.messages.pop_front().is_none() {
                break;
            }
        }
        if keep > 0 {
            self.messages.push_back((event.to_owned(), payload));
        }
    }

    /// The kept messages as pushes, in order.
    pub(crate) fn pushes(&self) -> impl Iterator<Item = Push> + '_ {
        self.messages
            .iter()
            .map(|(event, payload)| Push::new(event.clone(), payload.clone()))
    }
}
