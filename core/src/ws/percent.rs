//! Percent-encoding of query components, byte for byte like JavaScript's
//! `encodeURIComponent` (what phoenix.js uses for connect params).

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `true` for the bytes `encodeURIComponent` leaves alone: ASCII letters, digits and
/// `- _ . ! ~ * ' ( )`.
const fn is_unreserved(byte: u8) -> bool {
    matches!(byte,
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9'
        | b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')')
}

/// Feeds the percent-encoded form of `component` to `put`, one run of bytes at a time.
/// Every other byte of the UTF-8 encoding becomes `%XX` with uppercase hex digits
/// (so a space is `%20`, never `+`).
pub(super) fn encode_component(component: &str, mut put: impl FnMut(&[u8])) {
    let mut rest = component.as_bytes();
    while !rest.is_empty() {
        // Pass the longest unreserved run through in one call, then escape one byte.
        let run = rest.iter().take_while(|&&b| is_unreserved(b)).count();
        let (plain, tail) = rest.split_at_checked(run).unwrap_or((rest, &[]));
        if !plain.is_empty() {
            put(plain);
        }
        let Some((&byte, tail)) = tail.split_first() else {
            break;
        };
        let hi = HEX
            .get(usize::from(byte.wrapping_shr(4)))
            .copied()
            .unwrap_or(b'0');
        let lo = HEX.get(usize::from(byte & 0x0F)).copied().unwrap_or(b'0');
        put(&[b'%', hi, lo]);
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::encode_component;

    fn encode(s: &str) -> heapless::Vec<u8, 256> {
        let mut out = heapless::Vec::new();
        encode_component(s, |b| out.extend_from_slice(b).unwrap());
        out
    }

    #[test]
    fn matches_encode_uri_component() {
        // Expected values from `encodeURIComponent` in a JavaScript console.
        assert_eq!(&encode("abc-_.!~*'()XYZ09")[..], b"abc-_.!~*'()XYZ09");
        assert_eq!(
            &encode("a b&c=d/e?f#g+h%")[..],
            b"a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh%25"
        );
        assert_eq!(&encode("h\u{e9}\u{1F600}")[..], b"h%C3%A9%F0%9F%98%80");
        assert_eq!(&encode("")[..], b"");
    }
}
