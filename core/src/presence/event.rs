//! What a sync reports: joins and leaves as borrowed views, and the typed errors.

use core::fmt;

use super::storage::MetaSlot;
use crate::codec::{DecodeError, RawJson, Text};

/// A join or a leave, as phoenix.js's `onJoin` / `onLeave` callbacks see them. Every view
/// borrows the state (and so lives only for the callback).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Metas joined under `key` (`onJoin(key, currentPresence, newPresence)`).
    Join {
        /// The presence's key.
        key: &'a str,
        /// Whether the key was absent before (phoenix.js: `currentPresence` undefined).
        is_new: bool,
        /// Every meta of the presence after the join.
        current: Metas<'a>,
        /// The metas that joined (the last ones of `current`).
        joined: Metas<'a>,
    },
    /// Metas left `key` (`onLeave(key, currentPresence, leftPresence)`).
    Leave {
        /// The presence's key.
        key: &'a str,
        /// The metas that remain; empty when the presence is gone.
        current: Metas<'a>,
        /// The stored metas that left (refs of the diff that were not stored are not
        /// listed: the state never had them).
        left: Metas<'a>,
    },
}

/// The metas of a presence (or part of them), in order.
#[derive(Clone)]
pub struct Metas<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) slots: core::slice::Iter<'a, MetaSlot>,
}

impl<'a> Metas<'a> {
    pub(crate) fn new(bytes: &'a [u8], slots: &'a [MetaSlot]) -> Self {
        Metas {
            bytes,
            slots: slots.iter(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.len() == 0
    }
}

impl<'a> Iterator for Metas<'a> {
    type Item = Meta<'a>;

    fn next(&mut self) -> Option<Meta<'a>> {
        let slot = self.slots.next()?;
        Some(Meta::stored(self.bytes, slot))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.slots.size_hint()
    }
}

impl ExactSizeIterator for Metas<'_> {}

impl fmt::Debug for Metas<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// One meta: its JSON object exactly as the server sent it, and its `phx_ref`.
#[derive(Debug, Clone, Copy)]
pub struct Meta<'a> {
    /// The meta object (with `phx_ref` and every other field).
    pub json: RawJson<'a>,
    /// The meta's `phx_ref`.
    pub phx_ref: Text<'a>,
}

impl<'a> Meta<'a> {
    fn stored(bytes: &'a [u8], slot: &MetaSlot) -> Self {
        // The arena holds only validated JSON copied whole, so both lookups succeed; the
        // fallbacks keep a corrupted table from panicking.
        let text = bytes
            .get(slot.json.start..slot.json.end())
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("{}");
        let raw = text
            .get(slot.phx_ref.start..slot.phx_ref.end())
            .unwrap_or_default();
        let phx_ref = if slot.ref_escaped {
            Text::escaped(raw)
        } else {
            Text::new(raw)
        };
        Meta {
            json: RawJson::validated(text),
            phx_ref,
        }
    }
}

/// What is wrong with a presence payload that is valid JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Malformed {
    /// A state, a diff, its `joins`/`leaves` or a presence is not an object.
    NotAnObject,
    /// A presence without a `metas` array.
    NoMetas,
    /// A meta that is not an object.
    MetaNotAnObject,
    /// A meta without a `phx_ref` string.
    NoPhxRef,
}

/// Why a presence payload was not (entirely) applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The payload is not valid JSON. Nothing was applied.
    Json(DecodeError),
    /// The payload is JSON but not a presence state or diff. Nothing was applied.
    Malformed(Malformed),
    /// A new key did not fit: every slot holds a presence. That key's join was skipped;
    /// the rest of the payload was applied.
    TooManyPresences {
        /// The number of slots.
        capacity: usize,
    },
    /// A presence would hold more metas than its share of meta slots. That key's join was
    /// skipped; the rest was applied.
    TooManyMetas {
        /// Metas per presence.
        capacity: usize,
    },
    /// The arena cannot hold the join's bytes even after compaction. That key's join was
    /// skipped; the rest was applied.
    OutOfBytes {
        /// The arena's size.
        capacity: usize,
    },
    /// A diff arrived before the state and the pending buffer cannot hold it; it was
    /// dropped (the state, when it comes, is complete anyway).
    PendingFull {
        /// The pending buffer's size.
        capacity: usize,
    },
    /// The channel's join ref is longer than [`MAX_JOIN_REF`](super::MAX_JOIN_REF).
    JoinRefTooLong,
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Json(e)
    }
}

impl From<Malformed> for Error {
    fn from(e: Malformed) -> Self {
        Error::Malformed(e)
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Malformed::NotAnObject => "expected a JSON object",
            Malformed::NoMetas => "a presence without a `metas` array",
            Malformed::MetaNotAnObject => "a meta that is not an object",
            Malformed::NoPhxRef => "a meta without a `phx_ref` string",
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Json(e) => write!(f, "presence payload: {e}"),
            Error::Malformed(m) => write!(f, "presence payload: {m}"),
            Error::TooManyPresences { capacity } => {
                write!(f, "more than {capacity} presences")
            }
            Error::TooManyMetas { capacity } => {
                write!(f, "more than {capacity} metas in one presence")
            }
            Error::OutOfBytes { capacity } => {
                write!(f, "presence metas exceed the {capacity}-byte arena")
            }
            Error::PendingFull { capacity } => {
                write!(f, "pending diffs exceed the {capacity}-byte buffer")
            }
            Error::JoinRefTooLong => f.write_str("join ref too long"),
        }
    }
}

impl core::error::Error for Error {}
