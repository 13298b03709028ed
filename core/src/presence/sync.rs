//! phoenix.js's `Presence.syncState` and `Presence.syncDiff` on the caller's storage.

use super::event::{Error, Event};
use super::scan::{self, FrameMeta};
use super::storage::Storage;
use super::table::State;
use crate::codec::{RawJson, Text};

/// Which of a frame presence's metas join.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Joining {
    /// All of them, replacing stored metas with the same refs (`syncDiff`).
    All,
    /// Only those whose ref is not stored yet (`syncState`).
    Unknown,
}

impl<S: Storage> State<S> {
    /// phoenix.js's `syncState`: makes this state equal `new_state` (a `presence_state`
    /// payload), reporting joins (metas not stored before), then leaves (keys gone, then
    /// metas gone), in phoenix.js's order.
    ///
    /// A malformed payload changes nothing. A presence that does not fit is skipped and
    /// reported after the rest is applied.
    pub fn sync_state(
        &mut self,
        new_state: RawJson<'_>,
        mut on_event: impl FnMut(Event<'_>),
    ) -> Result<(), Error> {
        scan::validate_presences(new_state)?;
        for i in 0..self.len {
            self.set_mark(i, false);
        }
        let mut overflow = None;
        // Joins, in the new state's order.
        scan::for_each_presence(new_state, |key, metas| {
            match self.join(&key, metas, Joining::Unknown, &mut on_event) {
                Ok(i) => self.set_mark(i, true),
                Err(e) => {
                    overflow.get_or_insert(e);
                    if let Some(i) = self.find(&key) {
                        self.set_mark(i, true);
                    }
                }
            }
            Ok(())
        })?;
        // Keys the new state does not have, in stored order.
        let mut i = 0;
        while i < self.len {
            if self.slot(i).mark {
                self.set_mark(i, false);
                i = i.saturating_add(1);
            } else {
                self.leave(i, |_| true, &mut on_event);
            }
        }
        // Metas the new state does not have, in its order.
        scan::for_each_presence(new_state, |key, metas| {
            if let Some(i) = self.find(&key) {
                if self
                    .metas(i, 0, usize::MAX)
                    .any(|m| !scan::has_ref(metas, &m.phx_ref))
                {
                    self.leave(i, |r| !scan::has_ref(metas, r), &mut on_event);
                }
            }
            Ok(())
        })?;
        overflow.map_or(Ok(()), Err)
    }

    /// phoenix.js's `syncDiff`: applies a `presence_diff` payload (`joins`, then `leaves`),
    /// reporting each.
    ///
    /// A malformed payload changes nothing. A join that does not fit is skipped and
    /// reported after the rest is applied.
    pub fn sync_diff(
        &mut self,
        diff: RawJson<'_>,
        mut on_event: impl FnMut(Event<'_>),
    ) -> Result<(), Error> {
        let (joins, leaves) = scan::diff_halves(diff)?;
        let mut overflow = None;
        if let Some(joins) = joins {
            scan::for_each_presence(joins, |key, metas| {
                if let Err(e) = self.join(&key, metas, Joining::All, &mut on_event) {
                    overflow.get_or_insert(e);
                }
                Ok(())
            })?;
        }
        if let Some(leaves) = leaves {
            scan::for_each_presence(leaves, |key, metas| {
                if let Some(i) = self.find(&key) {
                    self.leave(i, |r| scan::has_ref(metas, r), &mut on_event);
                }
                Ok(())
            })?;
        }
        overflow.map_or(Ok(()), Err)
    }

    /// Joins the frame's `metas` under `key`; returns the presence's index. Checks every
    /// capacity before changing anything.
    fn join(
        &mut self,
        key: &Text<'_>,
        metas: RawJson<'_>,
        joining: Joining,
        on_event: &mut impl FnMut(Event<'_>),
    ) -> Result<usize, Error> {
        let found = self.find(key);
        let joins = |state: &Self, m: &FrameMeta<'_>| match (joining, found) {
            (Joining::Unknown, Some(i)) => !state.stores_ref(i, &m.phx_ref),
            _ => true,
        };
        let (mut count, mut bytes) = (0usize, 0usize);
        scan::for_each_meta(metas, |m| {
            if joins(self, &m) {
                count = count.saturating_add(1);
                bytes = bytes.saturating_add(m.json.as_str().len());
            }
            Ok(())
        })?;
        if joining == Joining::Unknown && count == 0 {
            if let Some(i) = found {
                return Ok(i); // nothing new under a known key: no join (phoenix.js)
            }
        }
        // Stored metas whose refs join again are replaced.
        let replaced = |r: &Text<'_>| scan::has_ref(metas, r);
        let (kept, freed) = match found {
            Some(i) => self
                .metas(i, 0, usize::MAX)
                .fold((0usize, 0usize), |(k, f), m| {
                    if joining == Joining::All && replaced(&m.phx_ref) {
                        (k, f.saturating_add(m.json.as_str().len()))
                    } else {
                        (k.saturating_add(1), f)
                    }
                }),
            None => (0, 0),
        };
        let per = self.metas_per_presence();
        if kept.saturating_add(count) > per {
            return Err(Error::TooManyMetas { capacity: per });
        }
        if found.is_none() && self.len >= self.capacity() {
            return Err(Error::TooManyPresences {
                capacity: self.capacity(),
            });
        }
        let need = bytes.saturating_add(if found.is_none() { key.len() } else { 0 });
        let capacity = self.storage.parts().bytes.len();
        if self.live.saturating_sub(freed).saturating_add(need) > capacity {
            return Err(Error::OutOfBytes { capacity });
        }
        // Everything fits: apply.
        let i = match found {
            Some(i) => {
                if joining == Joining::All {
                    let keep = self.partition(i, replaced);
                    self.truncate(i, keep);
                }
                self.reserve(need)?;
                i
            }
            None => {
                self.reserve(need)?;
                self.insert(key)?
            }
        };
        let stored_before = self.meta_count(i);
        scan::for_each_meta(metas, |m| {
            let joining_now = match joining {
                Joining::All => true,
                // Compare with the metas stored before this join only.
                Joining::Unknown => !self
                    .metas(i, 0, stored_before)
                    .any(|s| s.phx_ref == m.phx_ref),
            };
            if joining_now {
                self.push_meta(i, m.json.as_str(), m.ref_span, scan::escaped(&m.phx_ref));
            }
            Ok(())
        })?;
        on_event(Event::Join {
            key: self.key(i),
            is_new: found.is_none(),
            current: self.metas(i, 0, usize::MAX),
            joined: self.metas(i, stored_before, usize::MAX),
        });
        Ok(i)
    }

    /// Removes the metas of presence `i` for which `leaving` holds, reporting them, and the
    /// presence when none remain (phoenix.js reports a leave even when no meta matched).
    fn leave(
        &mut self,
        i: usize,
        leaving: impl FnMut(&Text<'_>) -> bool,
        on_event: &mut impl FnMut(Event<'_>),
    ) {
        let keep = self.partition(i, leaving);
        on_event(Event::Leave {
            key: self.key(i),
            current: self.metas(i, 0, keep),
            left: self.metas(i, keep, usize::MAX),
        });
        self.truncate(i, keep);
        if keep == 0 {
            self.remove(i);
        }
    }
}
