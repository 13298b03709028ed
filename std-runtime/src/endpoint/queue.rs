//! The bounded send queue of one connection: broadcasts are pushed by whichever task
//! broadcasts, and drained in batches by the connection's task. A full queue never blocks
//! the broadcaster: the push fails and the slow-consumer policy applies. An idle queue
//! allocates nothing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use super::writer::{OutFrame, Writer};
use tokio::sync::Notify;

struct State {
    items: VecDeque<OutFrame>,
    /// The queue overflowed under [`SlowConsumer::Disconnect`](super::SlowConsumer): the
    /// connection is being closed and takes nothing more.
    overflowed: bool,
    closed: bool,
    high_water: usize,
}

struct Shared {
    state: Mutex<State>,
    capacity: usize,
    ready: Notify,
    overflow: Notify,
}

/// Why a push failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The queue is full.
    Full,
    /// The connection is closing.
    Closed,
}

/// The producer side, held by the registry for each subscription.
#[derive(Clone)]
pub(crate) struct Outbox {
    shared: Arc<Shared>,
}

/// The consumer side, held by the connection task.
pub(crate) struct Inbox {
    shared: Arc<Shared>,
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared
        .state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A queue of `capacity` frames.
pub(crate) fn bounded(capacity: usize) -> (Outbox, Inbox) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            overflowed: false,
            closed: false,
            high_water: 0,
        }),
        capacity,
        ready: Notify::new(),
        overflow: Notify::new(),
    });
    (
        Outbox {
            shared: shared.clone(),
        },
        Inbox { shared },
    )
}

impl Outbox {
    /// Queues a frame; returns the depth after the push. When full, `disconnect` marks the
    /// queue overflowed (the connection task closes it).
    pub(crate) fn push(&self, frame: OutFrame, disconnect: bool) -> Result<usize, PushError> {
        let mut state = lock(&self.shared);
        if state.closed || state.overflowed {
            return Err(PushError::Closed);
        }
        if state.items.len() >= self.shared.capacity {
            if disconnect {
                state.overflowed = true;
                drop(state);
                // Both: the task may be waiting for frames or writing a batch.
                self.shared.overflow.notify_one();
                self.shared.ready.notify_one();
            }
            return Err(PushError::Full);
        }
        state.items.push_back(frame);
        let depth = state.items.len();
        state.high_water = state.high_water.max(depth);
        let was_empty = depth == 1;
        drop(state);
        if was_empty {
            self.shared.ready.notify_one();
        }
        Ok(depth)
    }
}

impl Inbox {
    /// Waits until frames may be queued or the queue overflowed (spurious wake-ups are
    /// possible).
    pub(crate) async fn ready(&self) {
        self.shared.ready.notified().await;
    }

    /// Waits until the queue overflowed.
    pub(crate) async fn overflowed(&self) {
        loop {
            if lock(&self.shared).overflowed {
                return;
            }
            self.shared.overflow.notified().await;
        }
    }

    /// Whether the queue overflowed.
    pub(crate) fn is_overflowed(&self) -> bool {
        lock(&self.shared).overflowed
    }

    /// Moves every queued frame to the writer.
    pub(crate) fn drain_into(&self, writer: &mut Writer) {
        let mut state = lock(&self.shared);
        for frame in state.items.drain(..) {
            writer.push(frame);
        }
        // An idle connection gives back what a burst grew.
        if state.items.capacity() > 64 {
            state.items.shrink_to(16);
        }
    }

    /// Takes every queued frame (tests look at them).
    #[cfg(test)]
    pub(crate) fn take_frames(&self) -> Vec<OutFrame> {
        lock(&self.shared).items.drain(..).collect()
    }

    /// The deepest the queue has been.
    pub(crate) fn high_water(&self) -> usize {
        lock(&self.shared).high_water
    }

    /// Refuses every later push.
    pub(crate) fn close(&self) {
        lock(&self.shared).closed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(non_snake_case)]
    mod Message {
        pub(super) fn text(t: &'static str) -> super::OutFrame {
            super::OutFrame {
                text: true,
                payload: bytes::Bytes::from_static(t.as_bytes()),
            }
        }
    }

    #[test]
    fn bounded_and_overflow() {
        let (outbox, inbox) = bounded(2);
        assert_eq!(outbox.push(Message::text("a"), true), Ok(1));
        assert_eq!(outbox.push(Message::text("b"), true), Ok(2));
        assert_eq!(outbox.push(Message::text("c"), true), Err(PushError::Full));
        assert!(inbox.is_overflowed());
        assert_eq!(
            outbox.push(Message::text("d"), true),
            Err(PushError::Closed)
        );
        let mut out = Writer::default();
        inbox.drain_into(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(inbox.high_water(), 2);
    }

    #[test]
    fn drop_policy_keeps_the_queue() {
        let (outbox, inbox) = bounded(1);
        assert_eq!(outbox.push(Message::text("a"), false), Ok(1));
        assert_eq!(outbox.push(Message::text("b"), false), Err(PushError::Full));
        assert!(!inbox.is_overflowed());
        let mut out = Writer::default();
        inbox.drain_into(&mut out);
        assert_eq!(outbox.push(Message::text("c"), false), Ok(1));
        inbox.close();
        assert_eq!(
            outbox.push(Message::text("d"), false),
            Err(PushError::Closed)
        );
    }
}
