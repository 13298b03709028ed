//! What both presence test files compare: a state as phoenix.js holds it.

use fawkes_core::presence::{State, Storage};
use serde_json::{json, Map, Value};

/// The state as phoenix.js holds it: `{key: {metas: [...]}}`, in the state's key order.
pub(crate) fn state_json<S: Storage>(s: &State<S>) -> Value {
    let mut out = Map::new();
    for (key, metas) in s.iter() {
        let metas: Vec<Value> = metas
            .map(|m| serde_json::from_str(m.json.as_str()).unwrap())
            .collect();
        out.insert(key.to_owned(), json!({ "metas": metas }));
    }
    Value::Object(out)
}
