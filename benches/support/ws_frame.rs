//! Server WebSocket frames for the benches that play the server's side of the bytes.

/// An unmasked, unfragmented server text frame carrying `text`.
pub(crate) fn server_text_frame(text: &str) -> Vec<u8> {
    let mut frame = vec![0x81u8];
    match text.len() {
        n @ 0..=125 => frame.push(n as u8),
        n @ 126..=65535 => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(text.as_bytes());
    frame
}
