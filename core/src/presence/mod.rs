//! Phoenix Presence on the client side: phoenix.js's `Presence` (`assets/js/phoenix/presence.js`)
//! in the caller's fixed storage, on raw JSON.
//!
//! A Phoenix channel that tracks presences pushes `presence_state` (every presence, to the
//! client that just joined) and broadcasts `presence_diff` (`joins` and `leaves`). Each
//! presence is a key with a list of metas, one per tracked process, told apart by their
//! `phx_ref`:
//!
//! ```json
//! {"alice": {"metas": [{"phx_ref": "F1", "online_at": 1}, {"phx_ref": "F2"}]}}
//! ```
//!
//! - [`State`] is phoenix.js's static API: [`State::sync_state`], [`State::sync_diff`],
//!   [`State::list`] with a chooser, plus [`State::write_state`] to send the state on.
//! - [`Presence`] is phoenix.js's `Presence` object for one channel: diffs that arrive
//!   before the state are kept pending and applied after it; a new join ref (a rejoin)
//!   makes the view pending again until the next state, which is synced against the old one
//!   (so presences that stayed produce no events).
//!
//! Joins and leaves are reported as [`Event`]s to a closure, as phoenix.js's `onJoin` and
//! `onLeave`; they borrow the state, so nothing is copied or queued.
//!
//! **Memory.** The state outlives the frame, so it copies what it keeps into the caller's
//! [`Storage`]: per presence a [`Slot`] (the key) and a fixed share of [`MetaSlot`]s, and one
//! byte arena holding every key (unescaped) and every meta's JSON text verbatim. The bound
//! is the size of those tables; [`Presence`] adds its pending-diff buffer. A payload that
//! does not fit is applied as far as it fits and the rest reported as an [`Error`], never
//! dropped silently. Fields of a presence other than `metas` (added by a server's
//! `fetch/2`) are not kept. Lookups are linear in the presences, and meta comparisons
//! quadratic in one presence's metas: sized for the tens-to-thousands of a device or a
//! repeater topic.
//!
//! ```
//! use fawkes_core::codec::RawJson;
//! use fawkes_core::presence::{Event, FixedBuffers, Presence, State};
//!
//! // 8 presences, 4 metas each, 1 KiB of metas; 256 bytes of pending diffs.
//! let mut presence = Presence::new(State::new(FixedBuffers::<8, 32, 1024>::new()), [0u8; 256]);
//! let diff = RawJson::new(r#"{"joins":{"bob":{"metas":[{"phx_ref":"2"}]}},"leaves":{}}"#).unwrap();
//! // Before the state: pending.
//! presence.handle_diff("1", diff, |_| {}).unwrap();
//! let state = RawJson::new(r#"{"alice":{"metas":[{"phx_ref":"1"}]}}"#).unwrap();
//! let mut joined = Vec::new();
//! presence
//!     .handle_state("1", state, |event| {
//!         if let Event::Join { key, .. } = event {
//!             joined.push(key.to_owned());
//!         }
//!     })
//!     .unwrap();
//! assert_eq!(joined, ["alice", "bob"]);
//! let keys: Vec<&str> = presence.state().list(|key, _metas| key).collect();
//! assert_eq!(keys, ["alice", "bob"]);
//! ```

mod encode;
mod event;
mod scan;
mod storage;
mod sync;
mod table;

pub use event::{Error, Event, Malformed, Meta, Metas};
pub use storage::{Buffers, FixedBuffers, MetaSlot, Parts, PartsMut, Slot, Storage};
pub use table::State;

use crate::codec::json::Scanner;
use crate::codec::RawJson;

/// The event phoenix.js listens to for the full state.
pub const STATE_EVENT: &str = "presence_state";
/// The event phoenix.js listens to for diffs.
pub const DIFF_EVENT: &str = "presence_diff";
/// The longest join ref a [`Presence`] remembers (refs are decimal counters).
pub const MAX_JOIN_REF: usize = 20;

/// What a diff did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Synced {
    /// Applied to the state (phoenix.js calls `onSync`).
    Applied,
    /// Kept until the state arrives.
    Pending,
}

/// phoenix.js's `Presence` for one channel: the [`State`], the join ref it was synced
/// under, and diffs that arrived before the state (in `pending`, any byte buffer).
#[derive(Debug, Clone)]
pub struct Presence<S, D> {
    state: State<S>,
    pending: D,
    pending_len: usize,
    join_ref: Option<heapless::String<MAX_JOIN_REF>>,
}

impl<S: Storage, D: AsRef<[u8]> + AsMut<[u8]>> Presence<S, D> {
    /// A view with an empty state, pending until the first state arrives.
    pub fn new(state: State<S>, pending: D) -> Self {
        Presence {
            state,
            pending,
            pending_len: 0,
            join_ref: None,
        }
    }

    /// The synced state.
    pub fn state(&self) -> &State<S> {
        &self.state
    }

    /// phoenix.js's `inPendingSyncState`: no state yet under the channel's current join
    /// ref `join_ref`.
    pub fn is_pending(&self, join_ref: &str) -> bool {
        self.join_ref.as_deref() != Some(join_ref)
    }

    /// Handles `event` if it is [`STATE_EVENT`] or [`DIFF_EVENT`] (`None` otherwise).
    /// `join_ref` is the channel's current join ref.
    pub fn handle(
        &mut self,
        join_ref: &str,
        event: &str,
        payload: RawJson<'_>,
        on_event: impl FnMut(Event<'_>),
    ) -> Option<Result<Synced, Error>> {
        match event {
            STATE_EVENT => Some(
                self.handle_state(join_ref, payload, on_event)
                    .map(|()| Synced::Applied),
            ),
            DIFF_EVENT => Some(self.handle_diff(join_ref, payload, on_event)),
            _ => None,
        }
    }

    /// A `presence_state` under the channel's current `join_ref`: synced against the
    /// current state, then the pending diffs applied in order. The first error is returned
    /// after everything that could be applied was.
    pub fn handle_state(
        &mut self,
        join_ref: &str,
        payload: RawJson<'_>,
        mut on_event: impl FnMut(Event<'_>),
    ) -> Result<(), Error> {
        let join_ref = heapless::String::try_from(join_ref).map_err(|_| Error::JoinRefTooLong)?;
        self.join_ref = Some(join_ref);
        let mut first = self.state.sync_state(payload, &mut on_event).err();
        let pending = self
            .pending
            .as_ref()
            .get(..self.pending_len)
            .unwrap_or_default();
        // Stored by `handle_diff` as valid JSON texts one after another.
        let text = core::str::from_utf8(pending).unwrap_or_default();
        let mut s = Scanner::new(text);
        loop {
            s.skip_ws();
            if s.peek().is_none() {
                break;
            }
            let Ok(diff) = s.value() else { break };
            if let Err(e) = self.state.sync_diff(diff, &mut on_event) {
                first.get_or_insert(e);
            }
        }
        self.pending_len = 0;
        first.map_or(Ok(()), Err)
    }

    /// A `presence_diff`: applied, or kept until the state arrives.
    pub fn handle_diff(
        &mut self,
        join_ref: &str,
        payload: RawJson<'_>,
        on_event: impl FnMut(Event<'_>),
    ) -> Result<Synced, Error> {
        if !self.is_pending(join_ref) {
            return self
                .state
                .sync_diff(payload, on_event)
                .map(|()| Synced::Applied);
        }
        let bytes = payload.as_bytes();
        let buf = self.pending.as_mut();
        let capacity = buf.len();
        let start = self.pending_len;
        // One space between texts keeps adjacent numbers apart (a diff is an object anyway).
        let end = start.saturating_add(bytes.len()).saturating_add(1);
        let Some(dst) = buf.get_mut(start..end) else {
            return Err(Error::PendingFull { capacity });
        };
        if let Some((space, text)) = dst.split_first_mut() {
            *space = b' ';
            text.copy_from_slice(bytes);
        }
        self.pending_len = end;
        Ok(Synced::Pending)
    }
}
