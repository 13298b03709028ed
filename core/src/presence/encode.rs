//! The state written back as a `presence_state` payload (what a repeater pushes to a client
//! that joins late).

use super::event::Metas;
use super::storage::Storage;
use super::table::State;
use crate::codec::writer::Writer;
use crate::codec::EncodeError;

impl<S: Storage> State<S> {
    /// Writes the state as a `presence_state` payload, `{"key":{"metas":[...]},...}`, each
    /// meta exactly as received. [`EncodeError::BufferTooSmall`] says how much room it needs.
    ///
    /// ```
    /// use fawkes_core::codec::RawJson;
    /// use fawkes_core::presence::{FixedBuffers, State};
    ///
    /// let mut state = State::new(FixedBuffers::<4, 8, 256>::new());
    /// let payload = RawJson::new(r#"{"u1":{"metas":[{"phx_ref":"a"}]}}"#).unwrap();
    /// state.sync_state(payload, |_| {}).unwrap();
    /// let mut out = [0u8; 64];
    /// let n = state.write_state(&mut out).unwrap();
    /// assert_eq!(&out[..n], payload.as_bytes());
    /// ```
    pub fn write_state(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(out);
        w.byte(b'{');
        for (n, (key, metas)) in self.iter().enumerate() {
            if n > 0 {
                w.byte(b',');
            }
            write_presence(&mut w, key, metas);
        }
        w.byte(b'}');
        w.finish()
    }
}

/// `"key":{"metas":[...]}`.
fn write_presence(w: &mut Writer<'_>, key: &str, metas: Metas<'_>) {
    w.json_string(key);
    w.bytes(br#":{"metas":["#);
    for (n, meta) in metas.enumerate() {
        if n > 0 {
            w.byte(b',');
        }
        w.bytes(meta.json.as_bytes());
    }
    w.bytes(b"]}");
}
