//! phoenix.js's presence behaviour (`assets/js/phoenix/presence.js`), case by case: the
//! static `syncState` / `syncDiff` / `list`, the join and leave callbacks, and the
//! channel-bound `Presence` (diffs before the state, a rejoin's new join ref).

use fawkes_core::codec::RawJson;
use fawkes_core::presence::{Error, Event, FixedBuffers, Presence, State, Synced};
use serde_json::{json, Value};

mod presence_support;
use presence_support::state_json;

type Small = FixedBuffers<8, 32, 1024>;

fn state() -> State<Small> {
    State::new(Small::new())
}

fn raw(v: &Value) -> String {
    v.to_string()
}

/// One callback as phoenix.js's `onJoin(key, current, new)` / `onLeave(key, current, left)`
/// would see it, with the metas' refs.
#[derive(Debug, PartialEq)]
enum Call {
    Join {
        key: String,
        is_new: bool,
        current: Vec<String>,
        joined: Vec<String>,
    },
    Leave {
        key: String,
        current: Vec<String>,
        left: Vec<String>,
    },
}

fn refs(metas: fawkes_core::presence::Metas<'_>) -> Vec<String> {
    metas
        .map(|m| m.phx_ref.as_str().unwrap().to_owned())
        .collect()
}

fn record(calls: &mut Vec<Call>) -> impl FnMut(Event<'_>) + '_ {
    |event| {
        calls.push(match event {
            Event::Join {
                key,
                is_new,
                current,
                joined,
            } => Call::Join {
                key: key.into(),
                is_new,
                current: refs(current),
                joined: refs(joined),
            },
            Event::Leave { key, current, left } => Call::Leave {
                key: key.into(),
                current: refs(current),
                left: refs(left),
            },
            _ => unreachable!(),
        })
    }
}

fn join(key: &str, current: &[&str], joined: &[&str], is_new: bool) -> Call {
    Call::Join {
        key: key.into(),
        is_new,
        current: current.iter().map(|s| s.to_string()).collect(),
        joined: joined.iter().map(|s| s.to_string()).collect(),
    }
}

fn leave(key: &str, current: &[&str], left: &[&str]) -> Call {
    Call::Leave {
        key: key.into(),
        current: current.iter().map(|s| s.to_string()).collect(),
        left: left.iter().map(|s| s.to_string()).collect(),
    }
}

fn sync_state<S: fawkes_core::presence::Storage>(s: &mut State<S>, v: Value) -> Vec<Call> {
    let text = raw(&v);
    let mut calls = Vec::new();
    s.sync_state(RawJson::new(&text).unwrap(), record(&mut calls))
        .unwrap();
    calls
}

fn sync_diff<S: fawkes_core::presence::Storage>(s: &mut State<S>, v: Value) -> Vec<Call> {
    let text = raw(&v);
    let mut calls = Vec::new();
    s.sync_diff(RawJson::new(&text).unwrap(), record(&mut calls))
        .unwrap();
    calls
}

fn fixture_state() -> Value {
    json!({
        "u1": {"metas": [{"id": 1, "phx_ref": "1"}]},
        "u2": {"metas": [{"id": 2, "phx_ref": "2"}]},
        "u3": {"metas": [{"id": 3, "phx_ref": "3"}]},
    })
}

// --- syncState ---

#[test]
fn sync_state_syncs_an_empty_state() {
    let mut s = state();
    let new_state = json!({"u1": {"metas": [{"id": 1, "phx_ref": "1"}]}});
    sync_state(&mut s, new_state.clone());
    assert_eq!(state_json(&s), new_state);
}

#[test]
fn sync_state_joins_new_presences_and_leaves_left_ones() {
    let mut s = state();
    sync_state(
        &mut s,
        json!({"u4": {"metas": [{"id": 4, "phx_ref": "4"}]}}),
    );
    let calls = sync_state(&mut s, fixture_state());
    assert_eq!(
        calls,
        [
            join("u1", &["1"], &["1"], true),
            join("u2", &["2"], &["2"], true),
            join("u3", &["3"], &["3"], true),
            leave("u4", &[], &["4"]),
        ]
    );
    assert_eq!(state_json(&s), fixture_state());
}

#[test]
fn sync_state_joins_only_newly_added_metas() {
    let mut s = state();
    sync_state(
        &mut s,
        json!({"u3": {"metas": [{"id": 3, "phx_ref": "3"}]}}),
    );
    let calls = sync_state(
        &mut s,
        json!({"u3": {"metas": [{"id": 3, "phx_ref": "3"}, {"id": 3, "phx_ref": "3.new"}]}}),
    );
    assert_eq!(calls, [join("u3", &["3", "3.new"], &["3.new"], false)]);
    assert_eq!(
        state_json(&s),
        json!({"u3": {"metas": [{"id": 3, "phx_ref": "3"}, {"id": 3, "phx_ref": "3.new"}]}})
    );
}

#[test]
fn sync_state_leaves_only_removed_metas_and_keeps_the_rest_silent() {
    let mut s = state();
    sync_state(
        &mut s,
        json!({
            "u1": {"metas": [{"phx_ref": "a"}, {"phx_ref": "b"}]},
            "u2": {"metas": [{"phx_ref": "c"}]},
        }),
    );
    let calls = sync_state(
        &mut s,
        json!({
            "u1": {"metas": [{"phx_ref": "b"}]},
            "u2": {"metas": [{"phx_ref": "c"}]},
        }),
    );
    // u2 stayed as it was: no callback at all.
    assert_eq!(calls, [leave("u1", &["b"], &["a"])]);
}

// --- syncDiff ---

#[test]
fn sync_diff_syncs_an_empty_state() {
    let mut s = state();
    let joins = json!({"u1": {"metas": [{"id": 1, "phx_ref": "1"}]}});
    sync_diff(&mut s, json!({"joins": joins, "leaves": {}}));
    assert_eq!(state_json(&s), joins);
}

#[test]
fn sync_diff_removes_a_presence_whose_metas_are_empty_and_adds_metas() {
    let mut s = state();
    sync_state(&mut s, fixture_state());
    let calls = sync_diff(
        &mut s,
        json!({
            "joins": {"u1": {"metas": [{"id": 1, "phx_ref": "1.2"}]}},
            "leaves": {"u2": {"metas": [{"id": 2, "phx_ref": "2"}]}},
        }),
    );
    assert_eq!(
        calls,
        [
            join("u1", &["1", "1.2"], &["1.2"], false),
            leave("u2", &[], &["2"]),
        ]
    );
    assert_eq!(
        state_json(&s),
        json!({
            "u1": {"metas": [{"id": 1, "phx_ref": "1"}, {"id": 1, "phx_ref": "1.2"}]},
            "u3": {"metas": [{"id": 3, "phx_ref": "3"}]},
        })
    );
}

#[test]
fn sync_diff_removes_a_meta_and_keeps_the_key_while_others_remain() {
    let mut s = state();
    sync_state(
        &mut s,
        json!({"u1": {"metas": [{"id": 1, "phx_ref": "1"}, {"id": 1, "phx_ref": "1.2"}]}}),
    );
    let calls = sync_diff(
        &mut s,
        json!({"joins": {}, "leaves": {"u1": {"metas": [{"id": 1, "phx_ref": "1"}]}}}),
    );
    assert_eq!(calls, [leave("u1", &["1.2"], &["1"])]);
    assert_eq!(
        state_json(&s),
        json!({"u1": {"metas": [{"id": 1, "phx_ref": "1.2"}]}})
    );
}

#[test]
fn sync_diff_join_with_a_known_ref_replaces_that_meta() {
    // A presence update: phoenix.js keeps the other metas first, then the joined ones.
    let mut s = state();
    sync_state(
        &mut s,
        json!({"u1": {"metas": [{"s": "away", "phx_ref": "1"}, {"phx_ref": "2"}]}}),
    );
    sync_diff(
        &mut s,
        json!({"joins": {"u1": {"metas": [{"s": "here", "phx_ref": "1"}]}}, "leaves": {}}),
    );
    assert_eq!(
        state_json(&s),
        json!({"u1": {"metas": [{"phx_ref": "2"}, {"s": "here", "phx_ref": "1"}]}})
    );
}

#[test]
fn sync_diff_leave_of_an_unknown_key_is_ignored() {
    let mut s = state();
    let calls = sync_diff(
        &mut s,
        json!({"joins": {}, "leaves": {"nobody": {"metas": [{"phx_ref": "1"}]}}}),
    );
    assert!(calls.is_empty());
    assert!(s.is_empty());
}

// --- list ---

#[test]
fn list_returns_every_presence_by_default() {
    let mut s = state();
    sync_state(&mut s, fixture_state());
    let listed: Vec<(String, Vec<String>)> =
        s.list(|key, metas| (key.to_owned(), refs(metas))).collect();
    assert_eq!(
        listed,
        [
            ("u1".into(), vec!["1".into()]),
            ("u2".into(), vec!["2".into()]),
            ("u3".into(), vec!["3".into()]),
        ]
    );
}

#[test]
fn list_with_a_chooser_picks_the_first_meta() {
    let mut s = state();
    sync_state(
        &mut s,
        json!({"u1": {"metas": [{"first": true, "phx_ref": "1"}, {"first": false, "phx_ref": "2"}]}}),
    );
    let chosen: Vec<Value> = s
        .list(|_, mut metas| serde_json::from_str(metas.next().unwrap().json.as_str()).unwrap())
        .collect();
    assert_eq!(chosen, [json!({"first": true, "phx_ref": "1"})]);
}

// --- the channel-bound Presence ---

fn presence() -> Presence<Small, [u8; 512]> {
    Presence::new(state(), [0; 512])
}

#[test]
fn presence_syncs_state_and_diffs() {
    let mut p = presence();
    let st = raw(&json!({"u1": {"metas": [{"id": 1, "phx_ref": "1"}]}}));
    p.handle("1", "presence_state", RawJson::new(&st).unwrap(), |_| {})
        .unwrap()
        .unwrap();
    let diff = raw(&json!({"joins": {}, "leaves": {"u1": {"metas": [{"id": 1, "phx_ref": "1"}]}}}));
    let synced = p.handle("1", "presence_diff", RawJson::new(&diff).unwrap(), |_| {});
    assert_eq!(synced, Some(Ok(Synced::Applied)));
    assert!(p.state().is_empty());
    assert_eq!(p.handle("1", "other", RawJson::EMPTY_OBJECT, |_| {}), None);
}

#[test]
fn presence_applies_pending_diffs_once_the_state_arrives() {
    let mut p = presence();
    let diff = raw(&json!({
        "joins": {"u2": {"metas": [{"id": 2, "phx_ref": "2"}]}},
        "leaves": {"u1": {"metas": [{"id": 1, "phx_ref": "1"}]}},
    }));
    assert!(p.is_pending("1"));
    assert_eq!(
        p.handle_diff("1", RawJson::new(&diff).unwrap(), |_| panic!(
            "no events while pending"
        )),
        Ok(Synced::Pending)
    );
    assert!(p.state().is_empty());
    let st = raw(&json!({"u1": {"metas": [{"id": 1, "phx_ref": "1"}]}}));
    let mut calls = Vec::new();
    p.handle_state("1", RawJson::new(&st).unwrap(), record(&mut calls))
        .unwrap();
    assert_eq!(
        calls,
        [
            join("u1", &["1"], &["1"], true),
            join("u2", &["2"], &["2"], true),
            leave("u1", &[], &["1"]),
        ]
    );
    assert_eq!(
        state_json(p.state()),
        json!({"u2": {"metas": [{"id": 2, "phx_ref": "2"}]}})
    );
    assert!(!p.is_pending("1"));
}

#[test]
fn a_new_join_ref_makes_diffs_pending_until_the_next_state() {
    let mut p = presence();
    let st =
        raw(&json!({"u1": {"metas": [{"phx_ref": "1"}]}, "u2": {"metas": [{"phx_ref": "2"}]}}));
    p.handle_state("1", RawJson::new(&st).unwrap(), |_| {})
        .unwrap();
    // The channel rejoined (join ref 3): its diffs wait for the new state.
    let diff = raw(&json!({"joins": {"u3": {"metas": [{"phx_ref": "3"}]}}, "leaves": {}}));
    assert_eq!(
        p.handle_diff("3", RawJson::new(&diff).unwrap(), |_| {}),
        Ok(Synced::Pending)
    );
    // The new state still has u1 and u2: no callback for them, only u3's join.
    let mut calls = Vec::new();
    p.handle_state("3", RawJson::new(&st).unwrap(), record(&mut calls))
        .unwrap();
    assert_eq!(calls, [join("u3", &["3"], &["3"], true)]);
    assert_eq!(p.state().len(), 3);
}

// --- capacities and bad input ---

#[test]
fn overflow_is_reported_and_the_rest_applied() {
    let mut s = State::new(FixedBuffers::<2, 2, 256>::new());
    let text = raw(&json!({
        "a": {"metas": [{"phx_ref": "1"}]},
        "b": {"metas": [{"phx_ref": "2"}]},
        "c": {"metas": [{"phx_ref": "3"}]},
    }));
    assert_eq!(
        s.sync_state(RawJson::new(&text).unwrap(), |_| {}),
        Err(Error::TooManyPresences { capacity: 2 })
    );
    assert_eq!(s.len(), 2);
    let two = raw(&json!({"joins": {"a": {"metas": [{"phx_ref": "x"}, {"phx_ref": "y"}]}}}));
    assert_eq!(
        s.sync_diff(RawJson::new(&two).unwrap(), |_| {}),
        Err(Error::TooManyMetas { capacity: 1 })
    );
    assert_eq!(refs(s.get("a").unwrap()), ["1"]);
}

#[test]
fn the_arena_is_compacted_before_it_is_declared_full() {
    let mut s = State::new(FixedBuffers::<4, 8, 96>::new());
    // 20 rounds of join + leave: far more bytes written than the arena holds.
    for round in 0..20 {
        let meta = json!({"phx_ref": format!("r{round}"), "pad": "xxxxxxxxxx"});
        sync_diff(
            &mut s,
            json!({"joins": {"k": {"metas": [meta.clone()]}}, "leaves": {}}),
        );
        if round > 0 {
            let old = json!({"phx_ref": format!("r{}", round - 1)});
            sync_diff(
                &mut s,
                json!({"joins": {}, "leaves": {"k": {"metas": [old]}}}),
            );
        }
        assert_eq!(state_json(&s), json!({"k": {"metas": [meta]}}));
    }
    let big = raw(&json!({"joins": {"z": {"metas": [{"phx_ref": "z", "pad": "y".repeat(96)}]}}}));
    assert_eq!(
        s.sync_diff(RawJson::new(&big).unwrap(), |_| {}),
        Err(Error::OutOfBytes { capacity: 96 })
    );
}

#[test]
fn pending_overflow_is_reported() {
    let mut p = Presence::new(state(), [0u8; 16]);
    let diff = raw(&json!({"joins": {"u": {"metas": [{"phx_ref": "1"}]}}, "leaves": {}}));
    assert_eq!(
        p.handle_diff("1", RawJson::new(&diff).unwrap(), |_| {}),
        Err(Error::PendingFull { capacity: 16 })
    );
}

#[test]
fn malformed_payloads_change_nothing() {
    let mut s = state();
    sync_state(&mut s, fixture_state());
    let before = state_json(&s);
    for bad in [
        r#"[]"#,
        r#"{"u1": 3}"#,
        r#"{"u1": {"metas": {}}}"#,
        r#"{"u1": {"metas": [1]}}"#,
        r#"{"u9": {"metas": [{"id": 9}]}}"#,
        r#"{"u9": {"metas": [{"phx_ref": 9}]}}"#,
    ] {
        let payload = RawJson::new(bad).unwrap();
        assert!(
            matches!(s.sync_state(payload, |_| {}), Err(Error::Malformed(_))),
            "{bad}"
        );
        let diff = format!(r#"{{"joins": {bad}}}"#);
        assert!(
            s.sync_diff(RawJson::new(&diff).unwrap(), |_| {}).is_err(),
            "{diff}"
        );
        assert_eq!(state_json(&s), before);
    }
}

#[test]
fn escaped_keys_and_refs_compare_by_characters() {
    let mut s = state();
    let st = r#"{"caf\u00e9": {"metas": [{"phx_ref": "a\u002fb"}]}}"#;
    s.sync_state(RawJson::new(st).unwrap(), |_| {}).unwrap();
    assert!(s.get("café").is_some());
    let diff = r#"{"leaves": {"café": {"metas": [{"phx_ref": "a/b"}]}}}"#;
    s.sync_diff(RawJson::new(diff).unwrap(), |_| {}).unwrap();
    assert!(s.is_empty());
}

#[test]
fn write_state_round_trips() {
    let mut s = state();
    sync_state(&mut s, fixture_state());
    let mut out = [0u8; 256];
    let n = s.write_state(&mut out).unwrap();
    let written: Value = serde_json::from_slice(&out[..n]).unwrap();
    assert_eq!(written, fixture_state());
    let mut small = [0u8; 8];
    assert_eq!(
        s.write_state(&mut small),
        Err(fawkes_core::codec::EncodeError::BufferTooSmall { required: n })
    );
}
