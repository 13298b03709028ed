//! The state's tables: presences in arrival order, each with a run of meta slots, and the
//! byte arena (append-only, compacted in place when a write does not fit at the end).

use super::event::{Error, Metas};
use super::storage::{MetaSlot, Slot, Span, Storage};
use crate::codec::Text;

/// A presence state: what phoenix.js keeps in `presence.state`, in the caller's storage.
///
/// Keys are kept in the order they first joined (phoenix.js lists an object's keys in
/// insertion order too, except integer-like keys, which JavaScript sorts first).
#[derive(Debug, Clone)]
pub struct State<S> {
    pub(crate) storage: S,
    /// Presences in use (the first `len` slots).
    pub(crate) len: usize,
    /// Arena bytes written (the next write goes here).
    pub(crate) used: usize,
    /// Arena bytes still referenced by a key or a meta.
    pub(crate) live: usize,
}

impl<S: Storage> State<S> {
    /// An empty state in `storage` (whatever it held is ignored).
    pub fn new(storage: S) -> Self {
        State {
            storage,
            len: 0,
            used: 0,
            live: 0,
        }
    }

    /// How many presences (keys) there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no presence.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every presence (no events).
    pub fn clear(&mut self) {
        self.len = 0;
        self.used = 0;
        self.live = 0;
    }

    /// How many presences fit.
    pub fn capacity(&self) -> usize {
        self.storage.parts().slots.len()
    }

    /// How many metas one presence may hold.
    pub fn metas_per_presence(&self) -> usize {
        let parts = self.storage.parts();
        parts
            .metas
            .len()
            .checked_div(parts.slots.len())
            .unwrap_or(0)
    }

    /// The metas of `key`, if it is present.
    pub fn get(&self, key: &str) -> Option<Metas<'_>> {
        let i = self.find(&Text::new(key))?;
        Some(self.metas(i, 0, usize::MAX))
    }

    /// Every presence as `(key, metas)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Metas<'_>)> + '_ {
        (0..self.len).map(|i| (self.key(i), self.metas(i, 0, usize::MAX)))
    }

    /// phoenix.js's `Presence.list(presences, chooser)`: `chooser(key, metas)` for each
    /// presence, in order.
    pub fn list<'s, T: 's>(
        &'s self,
        mut chooser: impl FnMut(&'s str, Metas<'s>) -> T + 's,
    ) -> impl Iterator<Item = T> + 's {
        self.iter().map(move |(key, metas)| chooser(key, metas))
    }

    pub(crate) fn slot(&self, i: usize) -> Slot {
        self.storage
            .parts()
            .slots
            .get(i)
            .copied()
            .unwrap_or(Slot::EMPTY)
    }

    pub(crate) fn key(&self, i: usize) -> &str {
        let parts = self.storage.parts();
        let span = self.slot(i).key;
        parts
            .bytes
            .get(span.start..span.end())
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    fn meta_run(&self, i: usize) -> (usize, usize) {
        let start = i.saturating_mul(self.metas_per_presence());
        (start, start.saturating_add(self.slot(i).metas))
    }

    /// The stored metas of presence `i`, from index `from` up to (not including) `to`.
    pub(crate) fn metas(&self, i: usize, from: usize, to: usize) -> Metas<'_> {
        let parts = self.storage.parts();
        let (start, end) = self.meta_run(i);
        let lo = start.saturating_add(from).min(end);
        let hi = start.saturating_add(to).min(end);
        Metas::new(parts.bytes, parts.metas.get(lo..hi).unwrap_or_default())
    }

    pub(crate) fn meta_count(&self, i: usize) -> usize {
        self.slot(i).metas
    }

    /// The index of the presence with this key.
    pub(crate) fn find(&self, key: &Text<'_>) -> Option<usize> {
        (0..self.len).find(|&i| key.eq_str(self.key(i)))
    }

    /// Whether presence `i` holds a meta with this ref.
    pub(crate) fn stores_ref(&self, i: usize, phx_ref: &Text<'_>) -> bool {
        self.metas(i, 0, usize::MAX).any(|m| m.phx_ref == *phx_ref)
    }

    pub(crate) fn set_mark(&mut self, i: usize, mark: bool) {
        if let Some(slot) = self.storage.parts_mut().slots.get_mut(i) {
            slot.mark = mark;
        }
    }

    /// Makes room for `need` more arena bytes, compacting if that is enough.
    pub(crate) fn reserve(&mut self, need: usize) -> Result<(), Error> {
        let capacity = self.storage.parts().bytes.len();
        if self.used.saturating_add(need) <= capacity {
            return Ok(());
        }
        if self.live.saturating_add(need) > capacity {
            return Err(Error::OutOfBytes { capacity });
        }
        self.compact();
        Ok(())
    }

    /// Copies `data` to the end of the arena (after [`State::reserve`]).
    fn alloc(&mut self, data: &[u8]) -> Span {
        let start = self.used;
        let end = start.saturating_add(data.len());
        if let Some(dst) = self.storage.parts_mut().bytes.get_mut(start..end) {
            dst.copy_from_slice(data);
        }
        self.used = end;
        self.live = self.live.saturating_add(data.len());
        Span {
            start,
            len: data.len(),
        }
    }

    /// Adds a presence with no metas (after [`State::reserve`] for the key's bytes).
    pub(crate) fn insert(&mut self, key: &Text<'_>) -> Result<usize, Error> {
        let capacity = self.capacity();
        if self.len >= capacity {
            return Err(Error::TooManyPresences { capacity });
        }
        let start = self.used;
        let len = key.len();
        let end = start.saturating_add(len);
        let written = match self.storage.parts_mut().bytes.get_mut(start..end) {
            Some(dst) => key.unescape_into(dst).map(str::len),
            None => None,
        };
        let len = written.ok_or(Error::OutOfBytes {
            capacity: self.storage.parts().bytes.len(),
        })?;
        self.used = start.saturating_add(len);
        self.live = self.live.saturating_add(len);
        let i = self.len;
        if let Some(slot) = self.storage.parts_mut().slots.get_mut(i) {
            *slot = Slot {
                key: Span { start, len },
                metas: 0,
                mark: false,
            };
        }
        self.len = self.len.saturating_add(1);
        Ok(i)
    }

    /// Appends a meta to presence `i` (room checked by the caller).
    pub(crate) fn push_meta(&mut self, i: usize, json: &str, ref_span: Span, escaped: bool) {
        let (_, end) = self.meta_run(i);
        let span = self.alloc(json.as_bytes());
        let parts = self.storage.parts_mut();
        if let Some(slot) = parts.metas.get_mut(end) {
            *slot = MetaSlot {
                json: span,
                phx_ref: ref_span,
                ref_escaped: escaped,
            };
            if let Some(s) = parts.slots.get_mut(i) {
                s.metas = s.metas.saturating_add(1);
            }
        }
    }

    /// Moves the metas of presence `i` for which `leaving` holds to the end of its run,
    /// keeping both groups in order; returns how many stay.
    pub(crate) fn partition(
        &mut self,
        i: usize,
        mut leaving: impl FnMut(&Text<'_>) -> bool,
    ) -> usize {
        let n = self.meta_count(i);
        // Insertion-style stable partition in place: O(n²) moves on a run of n metas, with
        // no scratch memory.
        let mut kept = 0;
        for k in 0..n {
            let goes = self
                .metas(i, k, k.saturating_add(1))
                .next()
                .is_some_and(|m| leaving(&m.phx_ref));
            if !goes {
                let (start, _) = self.meta_run(i);
                let run = self.storage.parts_mut().metas;
                if let Some(window) =
                    run.get_mut(start.saturating_add(kept)..=start.saturating_add(k))
                {
                    window.rotate_right(1);
                }
                kept = kept.saturating_add(1);
            }
        }
        kept
    }

    /// Drops the metas of presence `i` past the first `keep`, freeing their bytes.
    pub(crate) fn truncate(&mut self, i: usize, keep: usize) {
        let freed: usize = self
            .metas(i, keep, usize::MAX)
            .map(|m| m.json.as_str().len())
            .sum();
        self.live = self.live.saturating_sub(freed);
        if let Some(slot) = self.storage.parts_mut().slots.get_mut(i) {
            slot.metas = slot.metas.min(keep);
        }
    }

    /// Removes presence `i`, keeping the others in order.
    pub(crate) fn remove(&mut self, i: usize) {
        if i >= self.len {
            return;
        }
        self.truncate(i, 0);
        self.live = self.live.saturating_sub(self.slot(i).key.len);
        let per = self.metas_per_presence();
        let len = self.len;
        let parts = self.storage.parts_mut();
        if let Some(slots) = parts.slots.get_mut(i..len) {
            slots.rotate_left(1);
        }
        let from = i.saturating_mul(per);
        let to = len.saturating_mul(per);
        if let Some(metas) = parts.metas.get_mut(from..to) {
            metas.rotate_left(per.min(metas.len()));
        }
        self.len = len.saturating_sub(1);
        if self.len == 0 {
            self.used = 0;
            self.live = 0;
        }
    }

    /// Slides every live key and meta down to the start of the arena, in address order, so
    /// the free bytes are all at the end. O(n²) in live spans, run only when a write does not
    /// fit at the end: no scratch memory needed.
    fn compact(&mut self) {
        let per = self.metas_per_presence();
        let len = self.len;
        let mut cursor = 0usize;
        loop {
            // The live span with the lowest start at or past the cursor is the next to move.
            let mut next: Option<(usize, Option<usize>, Span)> = None;
            let parts = self.storage.parts();
            for (i, slot) in parts.slots.iter().take(len).enumerate() {
                let mut consider = |span: Span, meta: Option<usize>| {
                    if span.len > 0
                        && span.start >= cursor
                        && next.is_none_or(|(_, _, best)| span.start < best.start)
                    {
                        next = Some((i, meta, span));
                    }
                };
                consider(slot.key, None);
                let start = i.saturating_mul(per);
                for (k, meta) in parts.metas.iter().enumerate().skip(start).take(slot.metas) {
                    consider(meta.json, Some(k));
                }
            }
            let Some((i, meta, span)) = next else { break };
            let parts = self.storage.parts_mut();
            if span.end() > parts.bytes.len() {
                break; // never: spans are written inside the arena
            }
            parts.bytes.copy_within(span.start..span.end(), cursor);
            let moved = Span {
                start: cursor,
                len: span.len,
            };
            match meta {
                None => {
                    if let Some(slot) = parts.slots.get_mut(i) {
                        slot.key = moved;
                    }
                }
                Some(k) => {
                    if let Some(m) = parts.metas.get_mut(k) {
                        m.json = moved;
                    }
                }
            }
            cursor = moved.end();
        }
        self.used = cursor;
        self.live = cursor;
    }
}
