//! Property: a client that syncs the server's state once and then applies every diff the
//! server broadcasts holds exactly the server's state (and a fresh `presence_state` after
//! all of them changes nothing and reports nothing).
//!
//! The server is modelled as Phoenix.Tracker presents it: a map from key to the metas
//! tracked under it, in tracking order; a diff carries the metas that joined (fresh refs)
//! and the ones that left (refs tracked before the diff).

use std::collections::BTreeMap;

use fawkes_core::codec::RawJson;
use fawkes_core::presence::{FixedBuffers, State};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

mod presence_support;
use presence_support::state_json as client_json;

/// key -> metas in tracking order.
type Server = BTreeMap<String, Vec<Value>>;

#[derive(Debug, Clone)]
enum Op {
    /// Track a new meta under key `k`.
    Track(u8, u8),
    /// Untrack the `n`th meta (modulo) under the `k`th present key (modulo).
    Untrack(u8, u8),
    /// Update: untrack one meta and track its replacement, in one diff.
    Update(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, any::<u8>()).prop_map(|(k, v)| Op::Track(k, v)),
        (any::<u8>(), any::<u8>()).prop_map(|(k, n)| Op::Untrack(k, n)),
        (any::<u8>(), any::<u8>()).prop_map(|(k, n)| Op::Update(k, n)),
    ]
}

fn state_json(server: &Server) -> Value {
    let mut out = Map::new();
    for (k, metas) in server {
        if !metas.is_empty() {
            out.insert(k.clone(), json!({ "metas": metas }));
        }
    }
    Value::Object(out)
}

/// Applies one batch of operations to the server and returns the diff it broadcasts.
fn step(server: &mut Server, ops: &[Op], next_ref: &mut u32) -> Value {
    let mut joins: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut leaves: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    // Refs that exist before this diff may leave; refs it creates may not.
    let before: Server = server.clone();
    for op in ops {
        let mut track = |server: &mut Server, key: String, v: u8| {
            *next_ref += 1;
            let meta = json!({"phx_ref": format!("r{next_ref}"), "v": v});
            server.entry(key.clone()).or_default().push(meta.clone());
            joins.entry(key).or_default().push(meta);
        };
        match *op {
            Op::Track(k, v) => track(server, format!("user:{k}"), v),
            Op::Untrack(k, n) | Op::Update(k, n) => {
                let keys: Vec<&String> = before.keys().collect();
                if keys.is_empty() {
                    continue;
                }
                let key = keys[k as usize % keys.len()].clone();
                let old = &before[&key];
                let meta = old[n as usize % old.len()].clone();
                let metas = server.entry(key.clone()).or_default();
                let Some(at) = metas.iter().position(|m| *m == meta) else {
                    continue; // already left in this batch
                };
                metas.remove(at);
                leaves.entry(key.clone()).or_default().push(meta);
                if let Op::Update(..) = op {
                    track(server, key, n);
                }
            }
        }
    }
    server.retain(|_, metas| !metas.is_empty());
    let half = |m: BTreeMap<String, Vec<Value>>| -> Value {
        Value::Object(
            m.into_iter()
                .map(|(k, metas)| (k, json!({ "metas": metas })))
                .collect(),
        )
    };
    json!({"joins": half(joins), "leaves": half(leaves)})
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn diffs_applied_to_the_state_give_the_servers_state(
        initial in prop::collection::vec(op(), 0..6),
        batches in prop::collection::vec(prop::collection::vec(op(), 1..4), 0..30),
    ) {
        let mut server = Server::new();
        let mut next_ref = 0;
        step(&mut server, &initial, &mut next_ref);
        let mut client = State::new(FixedBuffers::<8, 256, 4096>::new());
        let text = state_json(&server).to_string();
        client.sync_state(RawJson::new(&text).unwrap(), |_| {}).unwrap();
        let synced_at_start = client.clone();
        for ops in &batches {
            let diff = step(&mut server, ops, &mut next_ref).to_string();
            client.sync_diff(RawJson::new(&diff).unwrap(), |_| {}).unwrap();
            prop_assert_eq!(client_json(&client), state_json(&server));
        }
        // A presence_state equal to what the client holds reports nothing.
        let text = state_json(&server).to_string();
        let mut events = 0;
        client.sync_state(RawJson::new(&text).unwrap(), |_| events += 1).unwrap();
        prop_assert_eq!(events, 0);
        prop_assert_eq!(client_json(&client), state_json(&server));
        // And syncing the old state straight to the new one lands on the same state.
        let mut old = synced_at_start;
        old.sync_state(RawJson::new(&text).unwrap(), |_| {}).unwrap();
        prop_assert_eq!(client_json(&old), state_json(&server));
    }
}
