//! Where a presence state lives: the caller's tables and byte arena, fixed in size.
//!
//! A state needs three tables: one [`Slot`] per presence (its key), `metas_per_presence`
//! [`MetaSlot`]s per presence (each meta's JSON and its `phx_ref`), and a byte arena holding
//! the keys (unescaped) and every meta's JSON text exactly as received. The memory bound is
//! therefore `slots × size_of::<Slot>() + metas × size_of::<MetaSlot>() + bytes`, chosen by
//! the caller and never exceeded: what does not fit is a typed error.

/// A byte range in the arena.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) len: usize,
}

impl Span {
    pub(crate) const EMPTY: Span = Span { start: 0, len: 0 };

    pub(crate) fn end(self) -> usize {
        self.start.saturating_add(self.len)
    }
}

/// One presence: its key in the arena and how many metas it holds. Opaque; make tables of
/// them with [`Slot::EMPTY`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slot {
    pub(crate) key: Span,
    pub(crate) metas: usize,
    /// Seen in the state being synced (`sync_state`'s first pass).
    pub(crate) mark: bool,
}

impl Slot {
    /// An unused slot.
    pub const EMPTY: Slot = Slot {
        key: Span::EMPTY,
        metas: 0,
        mark: false,
    };
}

/// One meta of a presence: its JSON text in the arena and where its `phx_ref` string sits
/// inside it. Opaque; make tables of them with [`MetaSlot::EMPTY`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaSlot {
    pub(crate) json: Span,
    /// The inside of the `phx_ref` string, relative to `json.start`.
    pub(crate) phx_ref: Span,
    pub(crate) ref_escaped: bool,
}

impl MetaSlot {
    /// An unused meta slot.
    pub const EMPTY: MetaSlot = MetaSlot {
        json: Span::EMPTY,
        phx_ref: Span::EMPTY,
        ref_escaped: false,
    };
}

/// The three tables of a state, borrowed mutably at once.
pub struct PartsMut<'a> {
    /// One per presence.
    pub slots: &'a mut [Slot],
    /// `slots.len() × metas_per_presence`; presence `i` owns the run starting at
    /// `i × metas_per_presence`.
    pub metas: &'a mut [MetaSlot],
    /// The arena of keys and meta JSON.
    pub bytes: &'a mut [u8],
}

/// The three tables of a state, borrowed.
pub struct Parts<'a> {
    /// One per presence.
    pub slots: &'a [Slot],
    /// `slots.len() × metas_per_presence`.
    pub metas: &'a [MetaSlot],
    /// The arena of keys and meta JSON.
    pub bytes: &'a [u8],
}

/// Storage for a [`State`](super::State): fixed arrays on a microcontroller, boxed slices
/// on a host. Implemented by [`Buffers`] for anything that derefs to the three slices.
pub trait Storage {
    /// The tables.
    fn parts(&self) -> Parts<'_>;
    /// The tables, mutably.
    fn parts_mut(&mut self) -> PartsMut<'_>;
}

/// The three tables as any containers of slices: arrays (`Buffers::new` on fixed sizes) or
/// `Vec`s / boxed slices.
///
/// The number of metas per presence is `metas.len() / slots.len()`.
#[derive(Debug, Clone)]
pub struct Buffers<S, M, B> {
    /// One [`Slot`] per presence.
    pub slots: S,
    /// [`MetaSlot`]s, `metas_per_presence` per slot.
    pub metas: M,
    /// The byte arena.
    pub bytes: B,
}

/// Fixed-capacity storage: `P` presences, `METAS` meta slots in all (`METAS / P` per
/// presence), `BYTES` of arena.
pub type FixedBuffers<const P: usize, const METAS: usize, const BYTES: usize> =
    Buffers<[Slot; P], [MetaSlot; METAS], [u8; BYTES]>;

impl<const P: usize, const METAS: usize, const BYTES: usize> FixedBuffers<P, METAS, BYTES> {
    /// Empty tables.
    pub const fn new() -> Self {
        Buffers {
            slots: [Slot::EMPTY; P],
            metas: [MetaSlot::EMPTY; METAS],
            bytes: [0; BYTES],
        }
    }
}

impl<const P: usize, const METAS: usize, const BYTES: usize> Default
    for FixedBuffers<P, METAS, BYTES>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<S, M, B> Storage for Buffers<S, M, B>
where
    S: AsRef<[Slot]> + AsMut<[Slot]>,
    M: AsRef<[MetaSlot]> + AsMut<[MetaSlot]>,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    fn parts(&self) -> Parts<'_> {
        Parts {
            slots: self.slots.as_ref(),
            metas: self.metas.as_ref(),
            bytes: self.bytes.as_ref(),
        }
    }

    fn parts_mut(&mut self) -> PartsMut<'_> {
        PartsMut {
            slots: self.slots.as_mut(),
            metas: self.metas.as_mut(),
            bytes: self.bytes.as_mut(),
        }
    }
}
