//! The channel table of one connection: a small fixed array of entries, with every topic and
//! ref packed into one byte arena.
//!
//! An entry is a few bytes of metadata; its text, after one marker byte that keeps every
//! entry's place in the arena distinct (an entry with an empty topic and null refs would
//! otherwise share its start with a neighbour), (topic, join ref, the join's
//! own ref and, after a duplicate join, the replaced join's ref) lives back to back in the
//! arena, so a connection pays for the topics it joined, not for the longest topic times the
//! channel limit. Removing an entry moves the text after it down (at most the arena size, no
//! allocation).

use heapless::Vec;

use crate::codec::Text;

use super::event::ChannelId;

/// What a queued lifecycle frame announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// `phx_close`: the channel ended gracefully (left, stopped, or replaced).
    Close,
    /// `phx_error`: the channel crashed.
    Error,
}

/// The JSON form a stored ref had on the wire: Phoenix echoes refs with their type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Null,
    String,
    Number,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The join awaits the application's decision.
    Joining,
    Joined,
    /// Gone for the client; kept only until its queued frames are written.
    Dead,
}

/// One channel. Its text in the arena, from `start`: the marker byte, topic, join ref, join's
/// ref, old join ref (after a duplicate join, until the old join's `phx_close` is written).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) generation: u16,
    pub(crate) phase: Phase,
    /// A `phx_close`/`phx_error` for this join is queued, with its place in the queue.
    pub(crate) own: Option<(Lifecycle, u16)>,
    /// A `phx_close` for the replaced join is queued (held while this join is `Joining`).
    pub(crate) old: Option<u16>,
    start: u16,
    topic_len: u16,
    join_len: u16,
    ref_len: u16,
    old_len: u16,
    join_form: Form,
    ref_form: Form,
    old_form: Form,
}

/// A ref to store: its form and characters.
pub(crate) fn form_of(text: Option<Text<'_>>) -> Form {
    match text.map(|t| t.form()) {
        None => Form::Null,
        Some(crate::codec::TextForm::Number) => Form::Number,
        Some(_) => Form::String,
    }
}

/// Bytes a text takes in the arena (unescaped characters, or a number's digits).
fn stored_len(text: Option<Text<'_>>) -> usize {
    text.map_or(0, |t| t.len())
}

/// The channel table: at most `N` channels whose text adds up to at most `BYTES` bytes.
#[derive(Debug)]
pub(crate) struct Table<const N: usize, const BYTES: usize> {
    entries: [Option<Entry>; N],
    arena: Vec<u8, BYTES>,
    next_generation: u16,
}

impl<const N: usize, const BYTES: usize> Table<N, BYTES> {
    pub(crate) const fn new() -> Self {
        Table {
            entries: [None; N],
            arena: Vec::new(),
            next_generation: 0,
        }
    }

    /// This table in one of another capacity: the same slots, generations and arena
    /// offsets, so every [`ChannelId`] stays valid. `None` when an occupied slot or the
    /// text does not fit.
    pub(crate) fn resized<const N2: usize, const BYTES2: usize>(
        &self,
    ) -> Option<Table<N2, BYTES2>> {
        let mut table = Table::<N2, BYTES2>::new();
        for (slot, entry) in self.entries.iter().enumerate() {
            if let Some(entry) = entry {
                *table.entries.get_mut(slot)? = Some(*entry);
            }
        }
        table.arena.extend_from_slice(&self.arena).ok()?;
        table.next_generation = self.next_generation;
        Some(table)
    }

    /// Channels in the table, dead ones that still owe a frame included.
    pub(crate) fn len(&self) -> usize {
        self.entries.iter().flatten().count()
    }

    pub(crate) fn bytes_used(&self) -> usize {
        self.arena.len()
    }

    /// Every entry with its id.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (ChannelId, &Entry)> + '_ {
        self.entries.iter().enumerate().filter_map(|(slot, e)| {
            let e = e.as_ref()?;
            let slot = u8::try_from(slot).ok()?;
            Some((
                ChannelId {
                    slot,
                    generation: e.generation,
                },
                e,
            ))
        })
    }

    pub(crate) fn get(&self, id: ChannelId) -> Option<&Entry> {
        self.entries
            .get(usize::from(id.slot))?
            .as_ref()
            .filter(|e| e.generation == id.generation)
    }

    pub(crate) fn get_mut(&mut self, id: ChannelId) -> Option<&mut Entry> {
        self.entries
            .get_mut(usize::from(id.slot))?
            .as_mut()
            .filter(|e| e.generation == id.generation)
    }

    /// The live channel (joining or joined) for `topic`.
    pub(crate) fn find(&self, topic: Text<'_>) -> Option<ChannelId> {
        self.iter()
            .find(|(_, e)| e.phase != Phase::Dead && topic == self.topic(e))
            .map(|(id, _)| id)
    }

    pub(crate) fn topic(&self, e: &Entry) -> &str {
        self.str_at(text_start(e), e.topic_len)
    }

    /// The join ref the client sent on `phx_join` (`None` for `null`).
    pub(crate) fn join_ref(&self, e: &Entry) -> Option<Text<'_>> {
        let at = text_start(e).saturating_add(usize::from(e.topic_len));
        self.text_at(at, e.join_len, e.join_form)
    }

    /// The `phx_join`'s own ref.
    pub(crate) fn join_msg_ref(&self, e: &Entry) -> Option<Text<'_>> {
        let at = text_start(e)
            .saturating_add(usize::from(e.topic_len))
            .saturating_add(usize::from(e.join_len));
        self.text_at(at, e.ref_len, e.ref_form)
    }

    /// The replaced join's ref, while its `phx_close` is queued.
    pub(crate) fn old_join_ref(&self, e: &Entry) -> Option<Text<'_>> {
        let at = text_start(e)
            .saturating_add(usize::from(e.topic_len))
            .saturating_add(usize::from(e.join_len))
            .saturating_add(usize::from(e.ref_len));
        self.text_at(at, e.old_len, e.old_form)
    }

    /// The channel's `socket.join_ref`: the join ref, or the join's ref when it was `null`
    /// (`join_ref || ref` in `Phoenix.Channel.Server.join/4`). Replies and pushes carry it.
    pub(crate) fn channel_join_ref(&self, e: &Entry) -> Option<Text<'_>> {
        self.join_ref(e).or_else(|| self.join_msg_ref(e))
    }

    fn str_at(&self, at: usize, len: u16) -> &str {
        self.arena
            .get(at..at.saturating_add(usize::from(len)))
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    fn text_at(&self, at: usize, len: u16, form: Form) -> Option<Text<'_>> {
        let s = self.str_at(at, len);
        match form {
            Form::Null => None,
            Form::String => Some(Text::new(s)),
            Form::Number => Some(Text::number(s)),
        }
    }

    /// Whether a new entry with these texts fits (a free slot and arena room).
    pub(crate) fn has_room(&self, texts: usize) -> bool {
        self.free_slot().is_some() && self.arena_room(texts)
    }

    fn arena_room(&self, extra: usize) -> bool {
        let total = self.arena.len().saturating_add(extra);
        total <= BYTES && total <= usize::from(u16::MAX)
    }

    fn free_slot(&self) -> Option<usize> {
        self.entries
            .iter()
            .position(Option::is_none)
            .filter(|&slot| slot <= usize::from(u8::MAX))
    }

    /// Bytes a join with these refs takes.
    pub(crate) fn join_bytes(
        topic: Text<'_>,
        join_ref: Option<Text<'_>>,
        msg_ref: Option<Text<'_>>,
    ) -> usize {
        MARKER
            .saturating_add(topic.len())
            .saturating_add(stored_len(join_ref))
            .saturating_add(stored_len(msg_ref))
    }

    /// Adds a joining channel, or `None` when the table is out of slots or text space.
    pub(crate) fn insert(
        &mut self,
        topic: Text<'_>,
        join_ref: Option<Text<'_>>,
        msg_ref: Option<Text<'_>>,
    ) -> Option<ChannelId> {
        let slot = self.free_slot()?;
        let slot_byte = u8::try_from(slot).ok()?;
        let start = self.arena.len();
        if !self.arena_room(Self::join_bytes(topic, join_ref, msg_ref)) {
            return None;
        }
        let start16 = u16::try_from(start).ok()?;
        self.arena.push(0).ok()?;
        let topic_len = self.append(Some(topic))?;
        let join_len = self.append(join_ref)?;
        let ref_len = self.append(msg_ref)?;
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let entry = Entry {
            generation,
            phase: Phase::Joining,
            own: None,
            old: None,
            start: start16,
            topic_len,
            join_len,
            ref_len,
            old_len: 0,
            join_form: form_of(join_ref),
            ref_form: form_of(msg_ref),
            old_form: Form::Null,
        };
        *self.entries.get_mut(slot)? = Some(entry);
        Some(ChannelId {
            slot: slot_byte,
            generation,
        })
    }

    /// Replaces the join of `id` by a new one on the same slot and topic, keeping the old
    /// join ref for the `phx_close` owed to it. Returns the new id, or `None` (nothing
    /// changed) when the arena has no room.
    pub(crate) fn replace(
        &mut self,
        id: ChannelId,
        join_ref: Option<Text<'_>>,
        msg_ref: Option<Text<'_>>,
    ) -> Option<ChannelId> {
        let e = *self.get(id)?;
        let new_len = stored_len(join_ref).saturating_add(stored_len(msg_ref));
        // Room for the new refs once the old join's own ref is dropped.
        let extra = new_len.saturating_sub(usize::from(e.ref_len));
        if !self.arena_room(extra) {
            return None;
        }
        let topic_end = text_start(&e).saturating_add(usize::from(e.topic_len));
        let ref_at = topic_end.saturating_add(usize::from(e.join_len));
        // [topic][old join][old ref] -> [topic][old join] -> [topic][new join][new ref][old join]
        self.remove_range(id.slot, ref_at, usize::from(e.ref_len));
        let gap = self.make_gap(id.slot, topic_end, new_len)?;
        let join_len = write(gap, join_ref)?;
        let ref_len = write(gap.get_mut(usize::from(join_len)..)?, msg_ref)?;
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let entry = self.entries.get_mut(usize::from(id.slot))?.as_mut()?;
        *entry = Entry {
            generation,
            phase: Phase::Joining,
            own: None,
            old: None,
            start: e.start,
            topic_len: e.topic_len,
            join_len,
            ref_len,
            old_len: e.join_len,
            join_form: form_of(join_ref),
            ref_form: form_of(msg_ref),
            old_form: e.join_form,
        };
        Some(ChannelId {
            slot: id.slot,
            generation,
        })
    }

    /// Forgets the replaced join's ref once its `phx_close` is written.
    pub(crate) fn drop_old(&mut self, id: ChannelId) {
        let Some(e) = self.get(id).copied() else {
            return;
        };
        let at = text_start(&e)
            .saturating_add(usize::from(e.topic_len))
            .saturating_add(usize::from(e.join_len))
            .saturating_add(usize::from(e.ref_len));
        self.remove_range(id.slot, at, usize::from(e.old_len));
        if let Some(entry) = self.get_mut(id) {
            entry.old = None;
            entry.old_len = 0;
            entry.old_form = Form::Null;
        }
    }

    /// Removes a channel and its text.
    pub(crate) fn remove(&mut self, id: ChannelId) {
        let Some(e) = self.get(id).copied() else {
            return;
        };
        let len = MARKER
            .saturating_add(usize::from(e.topic_len))
            .saturating_add(usize::from(e.join_len))
            .saturating_add(usize::from(e.ref_len))
            .saturating_add(usize::from(e.old_len));
        self.remove_range(id.slot, usize::from(e.start), len);
        if let Some(entry) = self.entries.get_mut(usize::from(id.slot)) {
            *entry = None;
        }
    }

    /// Appends a text's characters to the arena; the caller checked the room.
    fn append(&mut self, text: Option<Text<'_>>) -> Option<u16> {
        let at = self.arena.len();
        let len = stored_len(text);
        self.arena.resize(at.checked_add(len)?, 0).ok()?;
        write(self.arena.get_mut(at..)?, text)
    }

    /// Deletes `len` bytes at `at`, moving later text (and the entries that own it) down.
    /// The entry in `owner` holds the range and fixes its own lengths.
    fn remove_range(&mut self, owner: u8, at: usize, len: usize) {
        if len == 0 {
            return;
        }
        let end = at.saturating_add(len);
        if end > self.arena.len() {
            return;
        }
        self.arena.copy_within(end.., at);
        self.arena.truncate(self.arena.len().saturating_sub(len));
        let shift = u16::try_from(len).unwrap_or(u16::MAX);
        self.shift_after(owner, at, |start| start.saturating_sub(shift));
    }

    /// Opens `len` bytes at `at` (the caller checked the room), moving later text up; returns
    /// the gap.
    fn make_gap(&mut self, owner: u8, at: usize, len: usize) -> Option<&mut [u8]> {
        let old_len = self.arena.len();
        self.arena.resize(old_len.checked_add(len)?, 0).ok()?;
        let end = at.checked_add(len)?;
        self.arena.copy_within(at..old_len, end);
        let shift = u16::try_from(len).ok()?;
        self.shift_after(owner, at, |start| start.saturating_add(shift));
        self.arena.get_mut(at..end)
    }

    fn shift_after(&mut self, owner: u8, at: usize, f: impl Fn(u16) -> u16) {
        for (slot, entry) in self.entries.iter_mut().enumerate() {
            if let Some(e) = entry {
                if usize::from(e.start) >= at && slot != usize::from(owner) {
                    e.start = f(e.start);
                }
            }
        }
    }
}

/// The marker byte before each entry's text.
const MARKER: usize = 1;

/// Where an entry's topic starts, after its marker.
fn text_start(e: &Entry) -> usize {
    usize::from(e.start).saturating_add(MARKER)
}

/// Writes a text's characters at the start of `buf`, returning their length.
fn write(buf: &mut [u8], text: Option<Text<'_>>) -> Option<u16> {
    let Some(text) = text else {
        return Some(0);
    };
    let len = match text.as_str() {
        Some(s) => {
            buf.get_mut(..s.len())?.copy_from_slice(s.as_bytes());
            s.len()
        }
        None => text.unescape_into(buf)?.len(),
    };
    u16::try_from(len).ok()
}
