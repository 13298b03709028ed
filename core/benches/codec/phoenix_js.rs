//! The phoenix.js peer of the codec bench: the official serializer (`Serializer.decode` /
//! `Serializer.encode` of npm `phoenix`) timed by node on the same frames, in the same run
//! (`tests/interop/bench/codec.js`; its packages come from `npm ci` in tests/interop, which
//! `cargo xtask bench` runs).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::Command;

use super::Case;

/// The script, beside the interop packages it requires.
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/interop/bench/codec.js"
);

/// phoenix.js's nanoseconds per call of one frame.
#[derive(Default)]
pub(crate) struct Times {
    pub(crate) decode_ns: Option<f64>,
    pub(crate) encode_ns: Option<f64>,
}

/// Times every case under node, `ms` per function. Fails loudly without node or the
/// packages: the figures would otherwise lack their peer.
pub(crate) fn run(cases: &[Case], ms: u64) -> HashMap<String, Times> {
    let mut frames = Vec::new();
    for case in cases {
        let mut frame = serde_json::json!({
            "name": case.name,
            "decode": !case.encode_only,
            "encode": true,
        });
        match &case.text {
            Some(text) => frame["text"] = text.as_str().into(),
            None => {
                let hex = case.bytes().iter().fold(String::new(), |mut s, b| {
                    let _ = write!(s, "{b:02x}");
                    s
                });
                frame["binary_hex"] = hex.into();
            }
        }
        frames.push(frame);
    }
    let path =
        std::env::temp_dir().join(format!("fawkes-codec-frames-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::Value::Array(frames).to_string()).expect("write the frames");
    let out = Command::new("node")
        .arg(SCRIPT)
        .arg(&path)
        .arg(ms.to_string())
        .output()
        .unwrap_or_else(|e| panic!("the phoenix.js codec peer needs node (Node.js 18+): {e}"));
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "node {SCRIPT} failed ({}): {}; run the bench with `cargo xtask bench codec`, which \
         installs the phoenix package (npm ci in tests/interop)",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let value: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("codec.js prints one JSON line");
    let mut times = HashMap::new();
    if let Some(results) = value["results"].as_object() {
        for (name, result) in results {
            times.insert(
                name.clone(),
                Times {
                    decode_ns: result["decode_ns"].as_f64(),
                    encode_ns: result["encode_ns"].as_f64(),
                },
            );
        }
    }
    times
}
