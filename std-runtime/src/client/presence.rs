//! [`Presence`]: phoenix.js's `Presence` for one channel of the client, fed with the
//! client's [`Event`]s. The sync itself is `fawkes_core::presence`; this view owns its
//! storage on the heap and hands out owned events and metas (deserializable into any type).

use bytes::Bytes;
use fawkes_core::codec::RawJson;
use fawkes_core::presence::{self as core_presence, Buffers, MetaSlot, Slot, Synced};
use serde::de::DeserializeOwned;

use super::event::{Event, Message};

pub use fawkes_core::presence::{Error as PresenceError, DIFF_EVENT, STATE_EVENT};

/// How much one [`Presence`] may hold (allocated once, when the view is made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceCapacity {
    /// Presences (keys).
    pub presences: usize,
    /// Metas under one key (one per tracked process: tabs, devices).
    pub metas_per_presence: usize,
    /// Bytes of keys and meta JSON in all.
    pub bytes: usize,
    /// Bytes of diffs kept while the state has not arrived.
    pub pending: usize,
}

impl Default for PresenceCapacity {
    /// 1,024 presences of up to 8 metas, 256 KiB of metas, 64 KiB of pending diffs.
    fn default() -> Self {
        PresenceCapacity {
            presences: 1024,
            metas_per_presence: 8,
            bytes: 256 << 10,
            pending: 64 << 10,
        }
    }
}

/// The heap storage of a presence state.
pub(crate) type HeapBuffers = Buffers<Vec<Slot>, Vec<MetaSlot>, Vec<u8>>;

/// Heap tables for `capacity`.
pub(crate) fn heap_buffers(capacity: &PresenceCapacity) -> HeapBuffers {
    Buffers {
        slots: vec![Slot::EMPTY; capacity.presences],
        metas: vec![
            MetaSlot::EMPTY;
            capacity
                .presences
                .saturating_mul(capacity.metas_per_presence)
        ],
        bytes: vec![0; capacity.bytes],
    }
}

/// One meta, owned: its JSON object as the server sent it and its `phx_ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The meta's `phx_ref`.
    pub phx_ref: String,
    /// The meta object's JSON text.
    pub json: Bytes,
}

impl Meta {
    fn from_core(meta: core_presence::Meta<'_>) -> Self {
        Meta {
            phx_ref: meta.phx_ref.chars().collect(),
            json: Bytes::copy_from_slice(meta.json.as_bytes()),
        }
    }

    /// The meta as your own type.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.json)
    }
}

fn owned(metas: core_presence::Metas<'_>) -> Vec<Meta> {
    metas.map(Meta::from_core).collect()
}

/// A join or a leave (phoenix.js's `onJoin` / `onLeave`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PresenceEvent {
    /// Metas joined under `key`.
    Join {
        /// The key.
        key: String,
        /// Whether the key was absent before.
        is_new: bool,
        /// Every meta after the join.
        current: Vec<Meta>,
        /// The metas that joined.
        joined: Vec<Meta>,
    },
    /// Metas left `key`.
    Leave {
        /// The key.
        key: String,
        /// The metas that remain (empty: the key is gone).
        current: Vec<Meta>,
        /// The metas that left.
        left: Vec<Meta>,
    },
}

impl PresenceEvent {
    pub(crate) fn from_core(event: core_presence::Event<'_>) -> Option<Self> {
        match event {
            core_presence::Event::Join {
                key,
                is_new,
                current,
                joined,
            } => Some(PresenceEvent::Join {
                key: key.to_owned(),
                is_new,
                current: owned(current),
                joined: owned(joined),
            }),
            core_presence::Event::Leave { key, current, left } => Some(PresenceEvent::Leave {
                key: key.to_owned(),
                current: owned(current),
                left: owned(left),
            }),
            _ => None,
        }
    }
}

/// phoenix.js's `Presence` for the channel `topic`: give it every [`Event`] of the client
/// with [`Presence::handle`]; it follows the channel's joins (each one is a new join ref:
/// diffs wait for that join's `presence_state`) and its `presence_state` /
/// `presence_diff` messages.
///
/// ```no_run
/// use fawkes::client::{Client, Presence, PresenceEvent};
/// use serde::Deserialize;
/// use serde_json::json;
///
/// #[derive(Deserialize)]
/// struct Device {
///     online_at: u64,
/// }
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let (client, mut events) = Client::builder("ws://localhost:4000/socket/websocket").connect()?;
/// let mut presence = Presence::new("rooms:lobby");
/// client.join("rooms:lobby", json!({})).await?;
/// while let Some(event) = events.recv().await {
///     if let Some(changes) = presence.handle(&event)? {
///         for change in changes {
///             if let PresenceEvent::Join { key, is_new: true, .. } = change {
///                 println!("{key} is online");
///             }
///         }
///         let online: Vec<(String, Vec<Device>)> = presence.list_as()?;
///         println!("{} online", online.len());
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub struct Presence {
    topic: String,
    inner: core_presence::Presence<HeapBuffers, Vec<u8>>,
    /// Counts the channel's joins: the join ref the core's view compares.
    joins: u64,
    join_ref: String,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("topic", &self.topic)
            .field("presences", &self.inner.state().len())
            .finish()
    }
}

impl Presence {
    /// A view of `topic` with the default [`PresenceCapacity`].
    pub fn new(topic: impl Into<String>) -> Self {
        Presence::with_capacity(topic, PresenceCapacity::default())
    }

    /// A view of `topic` holding at most `capacity`.
    pub fn with_capacity(topic: impl Into<String>, capacity: PresenceCapacity) -> Self {
        Presence {
            topic: topic.into(),
            inner: core_presence::Presence::new(
                core_presence::State::new(heap_buffers(&capacity)),
                vec![0; capacity.pending],
            ),
            joins: 0,
            join_ref: String::from("0"),
        }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Follows one client event: `Ok(Some(changes))` when the state was synced (phoenix.js's
    /// `onSync`, with the joins and leaves in order), `Ok(None)` for events of other topics,
    /// other messages, and diffs kept until the state arrives. An `Err` says what did not
    /// fit or was malformed; what could be applied was.
    pub fn handle(&mut self, event: &Event) -> Result<Option<Vec<PresenceEvent>>, PresenceError> {
        match event {
            Event::Joined { topic, .. } if *topic == self.topic => {
                self.joins = self.joins.wrapping_add(1);
                self.join_ref = self.joins.to_string();
                Ok(None)
            }
            Event::Message(message) if message.topic == self.topic => self.message(message),
            _ => Ok(None),
        }
    }

    fn message(&mut self, message: &Message) -> Result<Option<Vec<PresenceEvent>>, PresenceError> {
        if message.event != STATE_EVENT && message.event != DIFF_EVENT {
            return Ok(None);
        }
        let Some(text) = message.payload.as_json_str() else {
            return Ok(None);
        };
        let payload = RawJson::new(text)?;
        let mut changes = Vec::new();
        let synced = self
            .inner
            .handle(&self.join_ref, &message.event, payload, |e| {
                changes.extend(PresenceEvent::from_core(e));
            });
        match synced {
            Some(Ok(Synced::Applied)) => Ok(Some(changes)),
            Some(Ok(Synced::Pending)) | None => Ok(None),
            Some(Err(e)) => Err(e),
        }
    }

    /// Whether no `presence_state` arrived since the channel last joined (diffs wait).
    pub fn is_pending(&self) -> bool {
        self.inner.is_pending(&self.join_ref)
    }

    /// phoenix.js's `list()`: every presence with its metas, in order.
    pub fn list(&self) -> Vec<(String, Vec<Meta>)> {
        self.list_by(|key, metas| (key.to_owned(), metas.to_vec()))
    }

    /// phoenix.js's `list(chooser)`.
    pub fn list_by<T>(&self, mut chooser: impl FnMut(&str, &[Meta]) -> T) -> Vec<T> {
        self.inner
            .state()
            .iter()
            .map(|(key, metas)| chooser(key, &owned(metas)))
            .collect()
    }

    /// Every presence with its metas deserialized into `T`.
    pub fn list_as<T: DeserializeOwned>(&self) -> Result<Vec<(String, Vec<T>)>, serde_json::Error> {
        self.inner
            .state()
            .iter()
            .map(|(key, metas)| {
                let metas = metas
                    .map(|m| serde_json::from_str(m.json.as_str()))
                    .collect::<Result<Vec<T>, _>>()?;
                Ok((key.to_owned(), metas))
            })
            .collect()
    }

    /// The state as a `presence_state` payload: `{"key":{"metas":[...]},...}`, each meta
    /// as the server sent it.
    pub fn state_json(&self) -> String {
        let mut out = vec![0u8; 256];
        loop {
            match self.inner.state().write_state(&mut out) {
                Ok(n) => {
                    out.truncate(n);
                    // Keys were checked UTF-8 and metas are verbatim UTF-8 JSON.
                    return String::from_utf8_lossy(&out).into_owned();
                }
                Err(fawkes_core::codec::EncodeError::BufferTooSmall { required }) => {
                    out.resize(required, 0);
                }
                Err(_) => return String::from("{}"),
            }
        }
    }

    /// The metas of `key`.
    pub fn get(&self, key: &str) -> Option<Vec<Meta>> {
        self.inner.state().get(key).map(owned)
    }

    /// How many presences there are.
    pub fn len(&self) -> usize {
        self.inner.state().len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.inner.state().is_empty()
    }
}
