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
mod tests {
    extern crate std;

    use std::string::String;
    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;

    fn table(patterns: &[(&str, u8)]) -> Router8<u8> {
        let mut router = Router8::new();
        for &(pattern, value) in patterns {
            assert_eq!(router.insert(pattern, value), Ok(None), "{pattern}");
        }
        router
    }

    #[test]
    fn exact_beats_prefix() {
        let router = table(&[("rooms:*", 1), ("rooms:lobby", 2), ("*", 3)]);
        assert_eq!(router.lookup("rooms:lobby"), Some(("rooms:lobby", &2)));
        assert_eq!(router.lookup("rooms:lobby2"), Some(("rooms:*", &1)));
        // Insertion order does not matter.
        let router = table(&[("rooms:lobby", 2), ("*", 3), ("rooms:*", 1)]);
        assert_eq!(router.lookup("rooms:lobby"), Some(("rooms:lobby", &2)));
    }

    #[test]
    fn longest_prefix_wins() {
        let router = table(&[("a*", 1), ("a:b:*", 3), ("a:*", 2)]);
        assert_eq!(router.lookup("a:b:c"), Some(("a:b:*", &3)));
        assert_eq!(router.lookup("a:b"), Some(("a:*", &2)));
        assert_eq!(router.lookup("ab"), Some(("a*", &1)));
        assert_eq!(router.lookup("b"), None);
        // A prefix pattern matches the bare prefix too, as in Phoenix.
        assert_eq!(router.lookup("a:b:"), Some(("a:b:*", &3)));
        assert_eq!(router.lookup("a"), Some(("a*", &1)));
    }

    #[test]
    fn lone_star_matches_everything() {
        let router = table(&[("*", 9)]);
        assert_eq!(router.lookup("anything"), Some(("*", &9)));
        assert_eq!(router.lookup(""), Some(("*", &9)));
        assert_eq!(router.lookup("*"), Some(("*", &9)));
        assert_eq!(router.get("*"), Some(&9));
        assert_eq!(router.get("x"), None);
    }

    #[test]
    fn get_compares_patterns_exactly() {
        let router = table(&[("rooms:*", 1), ("lobby", 2)]);
        assert_eq!(router.get("rooms:*"), Some(&1));
        assert_eq!(router.get("rooms:x"), None);
        assert_eq!(router.get("rooms:"), None);
        assert!(router.contains("lobby"));
        assert!(!router.contains("lobby*"));
        // An exact pattern and the prefix pattern with the same text are different patterns.
        let router = table(&[("lobby", 1), ("lobby*", 2)]);
        assert_eq!(router.get("lobby"), Some(&1));
        assert_eq!(router.get("lobby*"), Some(&2));
        assert_eq!(router.lookup("lobby"), Some(("lobby", &1)));
        assert_eq!(router.lookup("lobby1"), Some(("lobby*", &2)));
    }

    #[test]
    fn insert_replaces_value() {
        let mut router = table(&[("a", 1), ("b*", 2)]);
        let used = router.bytes_used();
        assert_eq!(router.insert("b*", 5), Ok(Some(2)));
        assert_eq!(router.insert("a", 6), Ok(Some(1)));
        assert_eq!(router.len(), 2);
        assert_eq!(router.bytes_used(), used);
        assert!(router.iter().eq([("a", &6), ("b*", &5)]));
    }

    #[test]
    fn replace_works_in_a_full_table() {
        let mut router: Router<u8, 2, 4> = Router::new();
        router.insert("ab", 1).unwrap();
        router.insert("cd", 2).unwrap();
        assert!(router.is_full());
        assert_eq!(router.insert("ab", 3), Ok(Some(1)));
        assert_eq!(router.insert("e", 4), Err(RouterError::Full));
    }

    #[test]
    fn remove_then_reuse_the_slot() {
        let mut router: Router<u8, 3, 12> = Router::new();
        router.insert("aaa", 1).unwrap();
        router.insert("bbbb*", 2).unwrap();
        router.insert("cc", 3).unwrap();
        assert_eq!(router.insert("d", 4), Err(RouterError::Full));

        assert_eq!(router.remove("bbbb*"), Some(2));
        assert_eq!(router.remove("bbbb*"), None);
        assert_eq!(router.remove("cc*"), None);
        assert_eq!(router.len(), 2);
        assert_eq!(router.bytes_used(), 5);
        assert!(router.iter().eq([("aaa", &1), ("cc", &3)]));
        assert_eq!(router.lookup("cc"), Some(("cc", &3)));
        assert_eq!(router.lookup("bbbbx"), None);

        // Both the entry and the text are free again.
        assert_eq!(router.insert("ddddddd", 4), Ok(None));
        assert!(router.iter().eq([("aaa", &1), ("cc", &3), ("ddddddd", &4)]));
        assert_eq!(router.lookup("ddddddd"), Some(("ddddddd", &4)));

        // Removing the first and the last entries.
        assert_eq!(router.remove("aaa"), Some(1));
        assert_eq!(router.remove("ddddddd"), Some(4));
        assert!(router.iter().eq([("cc", &3)]));
        assert_eq!(router.remove("cc"), Some(3));
        assert!(router.is_empty());
        assert_eq!(router.bytes_used(), 0);
    }

    #[test]
    fn full_table() {
        let mut router: Router<u8, 2, 64> = Router::new();
        assert_eq!(router.capacity(), 2);
        router.insert("a", 1).unwrap();
        assert!(!router.is_full());
        router.insert("b*", 2).unwrap();
        assert!(router.is_full());
        assert_eq!(router.insert("c", 3), Err(RouterError::Full));
        assert_eq!(router.len(), 2);
        assert_eq!(router.lookup("c"), None);
    }

    #[test]
    fn out_of_space() {
        let mut router: Router<u8, 4, 8> = Router::new();
        assert_eq!(router.bytes_capacity(), 8);
        router.insert("abcde", 1).unwrap();
        assert_eq!(router.insert("fghi", 2), Err(RouterError::OutOfSpace));
        // The failed insert left nothing behind.
        assert_eq!(router.bytes_used(), 5);
        assert!(router.iter().eq([("abcde", &1)]));
        assert_eq!(router.insert("fgh", 2), Ok(None));
        assert_eq!(router.bytes_used(), 8);
        assert!(!router.is_full());
        assert_eq!(router.insert("i", 3), Err(RouterError::OutOfSpace));
    }

    #[test]
    fn pattern_too_long() {
        let long = "x".repeat(MAX_TOPIC_LEN);
        let mut router: Router4<u8> = Router::new();
        assert_eq!(router.insert(&long, 1), Ok(None));
        assert_eq!(router.lookup(long.as_str()), Some((long.as_str(), &1)));
        let longer = "x".repeat(MAX_TOPIC_LEN + 1);
        assert_eq!(router.insert(&longer, 2), Err(RouterError::PatternTooLong));
        let long_prefix = "x".repeat(MAX_TOPIC_LEN) + "*";
        assert_eq!(
            router.insert(&long_prefix, 2),
            Err(RouterError::PatternTooLong)
        );
        assert_eq!(router.len(), 1);
    }

    #[test]
    fn invalid_patterns() {
        let mut router = table(&[]);
        for pattern in ["", "a*b", "*a", "**", "a**", "rooms:*:x", "*:*"] {
            assert_eq!(
                router.insert(pattern, 1),
                Err(RouterError::InvalidPattern),
                "{pattern:?}"
            );
        }
        assert!(router.is_empty());
        // Looking up or removing them is harmless.
        assert_eq!(router.remove(""), None);
        assert_eq!(router.get("a*b"), None);
    }

    #[test]
    fn escaped_text_topics() {
        let router = table(&[("rooms:*", 1), ("rooms:lobby", 2), ("users:*", 3)]);
        // `rooms\u003alobby` is `rooms:lobby`.
        let lobby = Text::escaped(r"rooms\u003alobby");
        assert_eq!(router.lookup(&lobby), Some(("rooms:lobby", &2)));
        let other = Text::escaped(r"rooms\u003a\u0034\u0032");
        assert_eq!(router.lookup(&other), Some(("rooms:*", &1)));
        let user = Text::escaped(r"\u0075sers:\/1");
        assert_eq!(router.lookup(&user), Some(("users:*", &3)));
        let none = Text::escaped(r"room\u0073");
        assert_eq!(router.lookup(&none), None);
        assert_eq!(router.matches(&lobby).count(), 2);
        // Literal texts borrow and compare directly.
        assert_eq!(router.lookup(&Text::new("rooms:x")), Some(("rooms:*", &1)));
    }

    #[test]
    fn matches_lists_every_match_in_order() {
        let router = table(&[("*", 0), ("b", 1), ("a:*", 2), ("a:b", 3), ("a:b*", 4)]);
        let found: Vec<_> = router.matches("a:b").collect();
        assert_eq!(found, [("*", &0), ("a:*", &2), ("a:b", &3), ("a:b*", &4)]);
        assert_eq!(
            router.matches("b").collect::<Vec<_>>(),
            [("*", &0), ("b", &1)]
        );
        let empty = Router8::<u8>::new();
        assert_eq!(empty.matches("x").count(), 0);
        assert_eq!(empty.lookup("x"), None);
    }

    #[test]
    fn mutable_access() {
        let mut router = table(&[("a*", 1), ("ab", 2)]);
        *router.get_mut("a*").unwrap() += 10;
        let (pattern, value) = router.lookup_mut("abc").unwrap();
        assert_eq!(pattern, "a*");
        *value += 10;
        for (_, value) in &mut router {
            *value += 1;
        }
        assert!(router
            .iter_mut()
            .map(|(p, v)| (p, *v))
            .eq([("a*", 22), ("ab", 3)]));
        assert_eq!(router.iter().len(), 2);
        assert_eq!(router.get_mut("zz"), None);
        assert!(router.lookup_mut("zz").is_none());
    }

    #[test]
    fn clear_and_debug() {
        let mut router = table(&[("a*", 1), ("b", 2)]);
        assert_eq!(std::format!("{router:?}"), r#"{"a*": 1, "b": 2}"#);
        router.clear();
        assert!(router.is_empty());
        assert_eq!(router.bytes_used(), 0);
        assert_eq!(router.lookup("a"), None);
        assert_eq!(router.insert("c", 3), Ok(None));
        assert!(router.iter().eq([("c", &3)]));
        assert_eq!(std::format!("{router:?}"), r#"{"c": 3}"#);
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            std::format!("{}", RouterError::InvalidPattern),
            "topic pattern is empty or has a `*` before its end"
        );
        let error: &dyn core::error::Error = &RouterError::Full;
        assert_eq!(std::format!("{error}"), "topic table is full");
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn sizes() {
        use core::mem::size_of;
        // The text buffer and two lengths, plus one length byte and one `V` per entry.
        assert_eq!(size_of::<Router8<u8>>(), 512 + 8 + 8 + 8 + 8);
        assert_eq!(size_of::<Router64<u8>>(), 4096 + 8 + 64 + 8 + 64);
    }

    /// The same semantics, the obvious way.
    struct Model {
        entries: Vec<(String, u8)>,
        entry_cap: usize,
        byte_cap: usize,
    }

    impl Model {
        fn insert(&mut self, pattern: &str, value: u8) -> Result<Option<u8>, RouterError> {
            if pattern.len() > MAX_TOPIC_LEN {
                return Err(RouterError::PatternTooLong);
            }
            let star = pattern.find('*');
            if pattern.is_empty() || star.is_some_and(|i| i + 1 != pattern.len()) {
                return Err(RouterError::InvalidPattern);
            }
            if let Some((_, old)) = self.entries.iter_mut().find(|(p, _)| p == pattern) {
                return Ok(Some(core::mem::replace(old, value)));
            }
            if self.entries.len() == self.entry_cap {
                return Err(RouterError::Full);
            }
            if self.bytes_used() + pattern.len() > self.byte_cap {
                return Err(RouterError::OutOfSpace);
            }
            self.entries.push((pattern.into(), value));
            Ok(None)
        }

        fn remove(&mut self, pattern: &str) -> Option<u8> {
            let i = self.entries.iter().position(|(p, _)| p == pattern)?;
            Some(self.entries.remove(i).1)
        }

        fn bytes_used(&self) -> usize {
            self.entries.iter().map(|(p, _)| p.len()).sum()
        }

        fn matches<'a>(&'a self, topic: &'a str) -> impl Iterator<Item = (&'a str, u8)> + 'a {
            self.entries
                .iter()
                .filter(move |(p, _)| match p.strip_suffix('*') {
                    Some(prefix) => topic.starts_with(prefix),
                    None => p == topic,
                })
                .map(|(p, v)| (p.as_str(), *v))
        }

        fn lookup<'a>(&'a self, topic: &'a str) -> Option<(&'a str, u8)> {
            let mut found: Vec<_> = self.matches(topic).collect();
            if let Some(exact) = found.iter().find(|(p, _)| !p.ends_with('*')) {
                return Some(*exact);
            }
            found.sort_by_key(|(p, _)| p.len());
            found.pop()
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(String, u8),
        Remove(String),
        Lookup(String),
        Clear,
    }

    fn pattern() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => "[ab:]{0,4}\\*?",
            2 => "[ab:*]{0,5}",
            1 => "a{250,260}\\*?",
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (pattern(), any::<u8>()).prop_map(|(p, v)| Op::Insert(p, v)),
            3 => pattern().prop_map(Op::Remove),
            4 => "[ab:*]{0,5}".prop_map(Op::Lookup),
            1 => Just(Op::Clear),
        ]
    }

    /// The topic as JSON string contents, with `:` and `b` escaped.
    fn escaped(topic: &str) -> String {
        topic
            .chars()
            .map(|c| match c {
                ':' => String::from(r"\u003a"),
                'b' => String::from(r"\u0062"),
                c => String::from(c),
            })
            .collect()
    }

    fn check_ops<const N: usize, const BYTES: usize>(ops: &[Op]) -> Result<(), TestCaseError> {
        let mut router: Router<u8, N, BYTES> = Router::new();
        let mut model = Model {
            entries: Vec::new(),
            entry_cap: N,
            byte_cap: BYTES,
        };
        for op in ops {
            match op {
                Op::Insert(p, v) => prop_assert_eq!(router.insert(p, *v), model.insert(p, *v)),
                Op::Remove(p) => prop_assert_eq!(router.remove(p), model.remove(p)),
                Op::Lookup(topic) => {
                    let want = model.lookup(topic);
                    let got = router.lookup(topic.as_str()).map(|(p, v)| (p, *v));
                    prop_assert_eq!(got, want);
                    let raw = escaped(topic);
                    let text = Text::escaped(&raw);
                    let got = router.lookup(&text).map(|(p, v)| (p, *v));
                    prop_assert_eq!(got, want);
                    let got: Vec<_> = router
                        .matches(topic.as_str())
                        .map(|(p, v)| (p, *v))
                        .collect();
                    let want: Vec<_> = model.matches(topic).collect();
                    prop_assert_eq!(got, want);
                }
                Op::Clear => {
                    router.clear();
                    model.entries.clear();
                }
            }
            let got: Vec<_> = router.iter().map(|(p, v)| (p, *v)).collect();
            let want: Vec<_> = model
                .entries
                .iter()
                .map(|(p, v)| (p.as_str(), *v))
                .collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(router.len(), model.entries.len());
            prop_assert_eq!(router.bytes_used(), model.bytes_used());
            prop_assert_eq!(router.is_full(), model.entries.len() == N);
            for (p, v) in &model.entries {
                prop_assert_eq!(router.get(p), Some(v));
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn matches_model_small(ops in proptest::collection::vec(op(), 0..64)) {
            check_ops::<4, 16>(&ops)?;
        }

        #[test]
        fn matches_model_roomy(ops in proptest::collection::vec(op(), 0..64)) {
            check_ops::<6, 600>(&ops)?;
        }
    }
}
