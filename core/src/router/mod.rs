//! Fixed-capacity topic table: exact topics and `prefix*` patterns mapped to caller values.
//!
//! A [`Router`] maps topic *patterns* to values of the caller's choosing (a channel slot, a
//! route id, ...). A pattern is either
//!
//! - an exact topic, `"rooms:lobby"`, which matches only that topic, or
//! - a prefix pattern ending in `*`, `"rooms:*"`, which matches every topic starting with
//!   `rooms:` (including `rooms:` itself). A lone `"*"` matches every topic.
//!
//! These are the patterns of Phoenix's `channel "rooms:*", RoomChannel`; like Phoenix, a `*`
//! anywhere but at the end is rejected. Phoenix tries routes in the order they were defined;
//! this table is order-independent instead: [`Router::lookup`] prefers an exact pattern over
//! any prefix pattern, and the longest prefix among prefix patterns. That gives the same answer
//! as Phoenix whenever routes are declared most specific first, which is how they are written.
//!
//! Topics to resolve can be plain `&str`s or [`Text`]s straight from a decoded
//! message, escapes and all (`"rooms\u003alobby"` finds `"rooms:*"`): see [`TopicKey`].
//!
//! ```
//! use fawkes_core::router::{Router, Router8, RouterError};
//!
//! let mut routes: Router8<u8> = Router::new();
//! routes.insert("rooms:*", 1)?;
//! routes.insert("rooms:lobby", 2)?;
//! routes.insert("*", 0)?;
//!
//! assert_eq!(routes.lookup("rooms:lobby"), Some(("rooms:lobby", &2))); // exact wins
//! assert_eq!(routes.lookup("rooms:42"), Some(("rooms:*", &1))); // then the longest prefix
//! assert_eq!(routes.lookup("phoenix"), Some(("*", &0)));
//! assert_eq!(routes.matches("rooms:lobby").count(), 3);
//!
//! assert_eq!(routes.insert("rooms:*", 7), Ok(Some(1))); // replaces, returning the old value
//! assert_eq!(routes.insert("rooms:*:x", 9), Err(RouterError::InvalidPattern));
//! assert_eq!(routes.remove("*"), Some(0));
//! assert_eq!(routes.lookup("phoenix"), None);
//! # Ok::<(), RouterError>(())
//! ```
//!
//! # Storage
//!
//! `Router<V, N, BYTES>` holds at most `N` patterns whose text adds up to at most `BYTES`
//! bytes. The text of all patterns is packed into one `BYTES`-byte buffer, next to an `N`-byte
//! array of pattern lengths and the `N` values. A table sized per entry for the longest topic
//! (255 bytes) would spend about 2 KiB on 8 entries that typically hold 10 to 40 bytes each;
//! packed, [`Router8<u8>`] (8 patterns, 512 bytes of text) is 544 bytes on a 64-bit target.
//! The price is that a full table can be out of entries ([`RouterError::Full`]) or out of text
//! space ([`RouterError::OutOfSpace`]), and that [`Router::remove`] moves the text of later
//! patterns down (at most `BYTES` bytes, no allocation). Lengths and values are separate
//! arrays so that a small `V` pays no padding.
//!
//! Every operation is a linear scan. With tables of tens of entries, that is faster than
//! anything cleverer and keeps the code small.

use core::fmt;
use core::iter::{FusedIterator, Take};
use core::slice;

use crate::codec::Text;

/// The longest pattern a [`Router`] accepts, in bytes (including a trailing `*`).
///
/// Phoenix's binary serializer caps topics at 255 bytes, and each pattern's length is stored
/// in one byte.
pub const MAX_TOPIC_LEN: usize = u8::MAX as usize;

/// A table for up to 4 patterns with 256 bytes of pattern text (a 255-byte topic fits).
pub type Router4<V> = Router<V, 4, 256>;
/// A table for up to 8 patterns with 512 bytes of pattern text.
pub type Router8<V> = Router<V, 8, 512>;
/// A table for up to 16 patterns with 1 KiB of pattern text.
pub type Router16<V> = Router<V, 16, 1024>;
/// A table for up to 32 patterns with 2 KiB of pattern text.
pub type Router32<V> = Router<V, 32, 2048>;
/// A table for up to 64 patterns with 4 KiB of pattern text.
pub type Router64<V> = Router<V, 64, 4096>;

/// Why a pattern could not be inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RouterError {
    /// All `N` entries are in use.
    Full,
    /// The pattern does not fit in the `BYTES` of pattern text that are left.
    OutOfSpace,
    /// The pattern is longer than [`MAX_TOPIC_LEN`] bytes.
    PatternTooLong,
    /// The pattern is empty or has a `*` before its last character.
    InvalidPattern,
}

impl fmt::Display for RouterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RouterError::Full => "topic table is full",
            RouterError::OutOfSpace => "topic table is out of pattern space",
            RouterError::PatternTooLong => "topic pattern is longer than 255 bytes",
            RouterError::InvalidPattern => "topic pattern is empty or has a `*` before its end",
        })
    }
}

impl core::error::Error for RouterError {}

/// A topic that can be resolved against a [`Router`]'s patterns.
///
/// Implemented for `str` and for the codec's [`Text`], which compares by characters, so a topic
/// decoded with JSON escapes matches without being copied out first. Implement it for your own
/// topic representation if needed.
pub trait TopicKey {
    /// Whether the topic's characters equal `pattern`.
    fn eq_str(&self, pattern: &str) -> bool;
    /// Whether the topic's characters start with `prefix`.
    fn starts_with(&self, prefix: &str) -> bool;
}

impl TopicKey for str {
    fn eq_str(&self, pattern: &str) -> bool {
        self == pattern
    }

    fn starts_with(&self, prefix: &str) -> bool {
        str::starts_with(self, prefix)
    }
}

impl TopicKey for Text<'_> {
    fn eq_str(&self, pattern: &str) -> bool {
        Text::eq_str(self, pattern)
    }

    fn starts_with(&self, prefix: &str) -> bool {
        Text::starts_with(self, prefix)
    }
}

/// A fixed-capacity table of up to `N` topic patterns, with `BYTES` bytes for their text,
/// each mapped to a `V`.
///
/// See the [module docs](self) for the pattern syntax, precedence and storage layout, and
/// [`Router4`] .. [`Router64`] for common sizes.
#[derive(Clone)]
pub struct Router<V, const N: usize, const BYTES: usize> {
    /// The patterns' text, back to back, in entry order.
    text: heapless::String<BYTES>,
    /// `lens[i]` is the byte length of pattern `i`; meaningful for `i < values.len()`.
    lens: [u8; N],
    /// `values[i]` belongs to pattern `i`.
    values: heapless::Vec<V, N>,
}

impl<V, const N: usize, const BYTES: usize> Router<V, N, BYTES> {
    /// An empty table.
    pub const fn new() -> Self {
        Router {
            text: heapless::String::new(),
            lens: [0; N],
            values: heapless::Vec::new(),
        }
    }

    /// Maps `pattern` to `value`.
    ///
    /// If the table already has this exact pattern, its value is replaced and the old one is
    /// returned; this needs no extra space. Otherwise the pattern is added (`Ok(None)`).
    ///
    /// # Errors
    ///
    /// The table is unchanged and `value` is dropped if the pattern is invalid
    /// ([`RouterError::InvalidPattern`], [`RouterError::PatternTooLong`]) or it is new and
    /// there is no free entry ([`RouterError::Full`]) or not enough text space left
    /// ([`RouterError::OutOfSpace`]), checked in that order.
    pub fn insert(&mut self, pattern: &str, value: V) -> Result<Option<V>, RouterError> {
        let len = validate(pattern)?;
        if let Some(old) = self.get_mut(pattern) {
            return Ok(Some(core::mem::replace(old, value)));
        }
        let Some(len_slot) = self.lens.get_mut(self.values.len()) else {
            return Err(RouterError::Full);
        };
        let text_len = self.text.len();
        self.text
            .push_str(pattern)
            .map_err(|_| RouterError::OutOfSpace)?;
        if self.values.push(value).is_err() {
            // `lens` and `values` have the same capacity, so this does not happen; keep the
            // text consistent anyway.
            self.text.truncate(text_len);
            return Err(RouterError::Full);
        }
        *len_slot = len;
        Ok(None)
    }

    /// Removes `pattern` (compared exactly, not matched) and returns its value.
    ///
    /// Later entries keep their relative order; the freed entry and text can be reused.
    pub fn remove(&mut self, pattern: &str) -> Option<V> {
        let (index, start) = self.position(pattern)?;
        let end = start.checked_add(pattern.len())?;
        let count = self.values.len();
        // Checked before touching anything, so that the calls below cannot panic.
        if index >= count || self.text.get(start..end).is_none() {
            return None;
        }
        let value = self.values.remove(index);
        // Dropping the iterator removes the range; the bytes after it move down.
        drop(self.text.drain(start..end));
        if let Some(tail) = self.lens.get_mut(index..count) {
            // Non-empty: `index < count`.
            tail.rotate_left(1);
        }
        Some(value)
    }

    /// The value of `pattern`, compared exactly (`"rooms:*"` finds only `"rooms:*"`).
    pub fn get(&self, pattern: &str) -> Option<&V> {
        let (index, _) = self.position(pattern)?;
        self.values.get(index)
    }

    /// The value of `pattern`, compared exactly, mutably.
    pub fn get_mut(&mut self, pattern: &str) -> Option<&mut V> {
        let (index, _) = self.position(pattern)?;
        self.values.get_mut(index)
    }

    /// Whether the table has `pattern`, compared exactly.
    pub fn contains(&self, pattern: &str) -> bool {
        self.position(pattern).is_some()
    }

    /// Resolves a concrete topic: the exact pattern equal to it if there is one, otherwise the
    /// longest prefix pattern it starts with. Returns the pattern and its value.
    pub fn lookup<K: TopicKey + ?Sized>(&self, topic: &K) -> Option<(&str, &V)> {
        let (index, pattern) = resolve(self.patterns(), topic)?;
        Some((pattern, self.values.get(index)?))
    }

    /// Like [`Router::lookup`], with the value borrowed mutably.
    pub fn lookup_mut<K: TopicKey + ?Sized>(&mut self, topic: &K) -> Option<(&str, &mut V)> {
        // Borrow the fields apart: the pattern from `text`, the value from `values`.
        let patterns = Patterns::new(&self.text, &self.lens, self.values.len());
        let (index, pattern) = resolve(patterns, topic)?;
        Some((pattern, self.values.get_mut(index)?))
    }

    /// Every pattern that matches `topic`, exact or prefix, in table order.
    pub fn matches<'r, 't, K: TopicKey + ?Sized>(&'r self, topic: &'t K) -> Matches<'r, 't, V, K> {
        Matches {
            iter: self.iter(),
            topic,
        }
    }

    /// All patterns and their values, in table order: insertion order, with removed entries
    /// taken out and replaced values keeping their place.
    pub fn iter(&self) -> Iter<'_, V> {
        Iter {
            patterns: self.patterns(),
            values: self.values.iter(),
        }
    }

    /// All patterns and their values, mutably, in table order.
    pub fn iter_mut(&mut self) -> IterMut<'_, V> {
        IterMut {
            patterns: Patterns::new(&self.text, &self.lens, self.values.len()),
            values: self.values.iter_mut(),
        }
    }

    /// The number of patterns.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The most patterns the table can hold: `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Whether all `N` entries are in use. A table that is not full can still reject a pattern
    /// with [`RouterError::OutOfSpace`]; see [`Router::bytes_used`].
    pub fn is_full(&self) -> bool {
        self.values.is_full()
    }

    /// The bytes of pattern text in use, out of [`Router::bytes_capacity`].
    pub fn bytes_used(&self) -> usize {
        self.text.len()
    }

    /// The bytes available for pattern text: `BYTES`.
    pub const fn bytes_capacity(&self) -> usize {
        BYTES
    }

    /// Removes every pattern.
    pub fn clear(&mut self) {
        self.text.clear();
        self.values.clear();
    }

    fn patterns(&self) -> Patterns<'_> {
        Patterns::new(&self.text, &self.lens, self.values.len())
    }

    /// The index and text offset of `pattern`.
    fn position(&self, pattern: &str) -> Option<(usize, usize)> {
        let mut start = 0usize;
        for (index, candidate) in self.patterns().enumerate() {
            if candidate == pattern {
                return Some((index, start));
            }
            start = start.saturating_add(candidate.len());
        }
        None
    }
}

impl<V, const N: usize, const BYTES: usize> Default for Router<V, N, BYTES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: fmt::Debug, const N: usize, const BYTES: usize> fmt::Debug for Router<V, N, BYTES> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'r, V, const N: usize, const BYTES: usize> IntoIterator for &'r Router<V, N, BYTES> {
    type Item = (&'r str, &'r V);
    type IntoIter = Iter<'r, V>;

    fn into_iter(self) -> Iter<'r, V> {
        self.iter()
    }
}

impl<'r, V, const N: usize, const BYTES: usize> IntoIterator for &'r mut Router<V, N, BYTES> {
    type Item = (&'r str, &'r mut V);
    type IntoIter = IterMut<'r, V>;

    fn into_iter(self) -> IterMut<'r, V> {
        self.iter_mut()
    }
}

/// Checks the pattern syntax and returns its length byte.
fn validate(pattern: &str) -> Result<u8, RouterError> {
    let len = u8::try_from(pattern.len()).map_err(|_| RouterError::PatternTooLong)?;
    let body = pattern.strip_suffix('*').unwrap_or(pattern);
    if pattern.is_empty() || body.contains('*') {
        return Err(RouterError::InvalidPattern);
    }
    Ok(len)
}

/// Whether `pattern` matches `topic`.
fn is_match<K: TopicKey + ?Sized>(pattern: &str, topic: &K) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => topic.starts_with(prefix),
        None => topic.eq_str(pattern),
    }
}

/// The index and text of the pattern that wins for `topic`.
fn resolve<'a, K: TopicKey + ?Sized>(
    patterns: Patterns<'a>,
    topic: &K,
) -> Option<(usize, &'a str)> {
    let mut best: Option<(usize, &'a str)> = None;
    for (index, pattern) in patterns.enumerate() {
        match pattern.strip_suffix('*') {
            // Exact patterns are unique, so the first equal one is the answer.
            None if topic.eq_str(pattern) => return Some((index, pattern)),
            None => {}
            // Prefixes are unique too, so lengths never tie.
            Some(prefix) => {
                let longer = best.is_none_or(|(_, b)| pattern.len() > b.len());
                if longer && topic.starts_with(prefix) {
                    best = Some((index, pattern));
                }
            }
        }
    }
    best
}

/// The pattern strings, cut from the packed text by their lengths.
#[derive(Clone)]
struct Patterns<'a> {
    rest: &'a str,
    lens: Take<slice::Iter<'a, u8>>,
}

impl<'a> Patterns<'a> {
    fn new(text: &'a str, lens: &'a [u8], count: usize) -> Self {
        Patterns {
            rest: text,
            lens: lens.iter().take(count),
        }
    }
}

impl<'a> Iterator for Patterns<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let len = usize::from(*self.lens.next()?);
        // Lengths always cut at pattern boundaries; `None` would only end the walk early.
        let (pattern, rest) = self.rest.split_at_checked(len)?;
        self.rest = rest;
        Some(pattern)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.lens.size_hint()
    }
}

/// The patterns and values of a [`Router`]. Created by [`Router::iter`].
pub struct Iter<'a, V> {
    patterns: Patterns<'a>,
    values: slice::Iter<'a, V>,
}

// Not derived: that would require `V: Clone`.
impl<V> Clone for Iter<'_, V> {
    fn clone(&self) -> Self {
        Iter {
            patterns: self.patterns.clone(),
            values: self.values.clone(),
        }
    }
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a str, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        Some((self.patterns.next()?, self.values.next()?))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.values.size_hint()
    }
}

impl<V> ExactSizeIterator for Iter<'_, V> {}
impl<V> FusedIterator for Iter<'_, V> {}

impl<V: fmt::Debug> fmt::Debug for Iter<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// The patterns and values of a [`Router`], values mutable. Created by [`Router::iter_mut`].
pub struct IterMut<'a, V> {
    patterns: Patterns<'a>,
    values: slice::IterMut<'a, V>,
}

impl<'a, V> Iterator for IterMut<'a, V> {
    type Item = (&'a str, &'a mut V);

    fn next(&mut self) -> Option<Self::Item> {
        Some((self.patterns.next()?, self.values.next()?))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.values.size_hint()
    }
}

impl<V> ExactSizeIterator for IterMut<'_, V> {}
impl<V> FusedIterator for IterMut<'_, V> {}

impl<V> fmt::Debug for IterMut<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IterMut").finish_non_exhaustive()
    }
}

/// The patterns of a [`Router`] that match a topic. Created by [`Router::matches`].
pub struct Matches<'r, 't, V, K: ?Sized> {
    iter: Iter<'r, V>,
    topic: &'t K,
}

impl<'r, V, K: TopicKey + ?Sized> Iterator for Matches<'r, '_, V, K> {
    type Item = (&'r str, &'r V);

    fn next(&mut self) -> Option<Self::Item> {
        let topic = self.topic;
        self.iter.find(|(pattern, _)| is_match(pattern, topic))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, self.iter.size_hint().1)
    }
}

impl<V, K: TopicKey + ?Sized> FusedIterator for Matches<'_, '_, V, K> {}

impl<V, K: ?Sized> Clone for Matches<'_, '_, V, K> {
    fn clone(&self) -> Self {
        Matches {
            iter: self.iter.clone(),
            topic: self.topic,
        }
    }
}

impl<V, K: ?Sized> fmt::Debug for Matches<'_, '_, V, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Matches").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
