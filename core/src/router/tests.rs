//! Unit tests of the topic table.
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
