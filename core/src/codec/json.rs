//! An iterative JSON scanner that validates and locates values without building them.
//!
//! The codec never materialises a payload: it only needs to know where each value starts and
//! ends, and that the bytes are valid JSON. Strings are skipped by a one-pass search for the
//! bytes that end a plain run (quote, backslash, control character) that works on whole words
//! and blocks the compiler can vectorise, with no `unsafe` and no dependency; containers are
//! tracked in a bit stack, so nesting costs no recursion and no memory beyond one `u128`.

use super::error::{DecodeError, DecodeErrorKind as Kind, Field};
use super::text::Text;

/// How deeply arrays and objects may nest inside one payload (a V2 frame's own array is not
/// counted).
///
/// Phoenix itself has no limit, but every level is a place to hide a resource attack; 128 is
/// far beyond any real message.
pub const MAX_NESTING: usize = 128;

/// A validated JSON value, borrowed as text: exactly the bytes that were on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawJson<'a>(&'a str);

impl<'a> RawJson<'a> {
    /// Checks that `text` is exactly one JSON value (surrounding whitespace allowed).
    ///
    /// ```
    /// use fawkes_core::codec::RawJson;
    /// assert!(RawJson::new(r#"{"body":"hi"}"#).is_ok());
    /// assert!(RawJson::new(r#"{"body":}"#).is_err());
    /// ```
    pub fn new(text: &'a str) -> Result<Self, DecodeError> {
        let mut scanner = Scanner::new(text);
        scanner.skip_ws();
        scanner.value()?;
        scanner.skip_ws();
        scanner.expect_end()?;
        Ok(RawJson(text))
    }

    /// The empty object `{}`, the payload Phoenix uses when there is nothing to say.
    pub const EMPTY_OBJECT: RawJson<'static> = RawJson("{}");

    /// Wraps text that the scanner has already validated.
    pub(crate) const fn validated(text: &'a str) -> Self {
        RawJson(text)
    }

    /// Wraps text that was checked before, by [`RawJson::new`] or by decoding the message
    /// it came in, without scanning it again: for a host that keeps the checked text in a
    /// type of its own and encodes it many times.
    ///
    /// Not checking is the caller's promise, not a memory-safety matter: text that is not
    /// one JSON value is written as it is, and the peer receives a frame it cannot decode.
    ///
    /// ```
    /// use fawkes_core::codec::RawJson;
    /// let checked = RawJson::new(r#"{"a":1}"#).expect("JSON");
    /// let kept: &str = checked.as_str();
    /// assert_eq!(RawJson::trusted(kept), checked);
    /// ```
    pub const fn trusted(text: &'a str) -> Self {
        RawJson(text)
    }

    /// The JSON text.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }

    /// The JSON text as bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0.as_bytes()
    }

    /// Decodes the value into `T` with `serde-json-core`, borrowing strings from the frame.
    ///
    /// Strings with escapes cannot be borrowed; use [`RawJson::deserialize_escaped`] for
    /// types that hold `&str` fields which may contain escapes.
    pub fn deserialize<T: serde::Deserialize<'a>>(&self) -> Result<T, serde_json_core::de::Error> {
        serde_json_core::from_str(self.0).map(|(value, _)| value)
    }

    /// Like [`RawJson::deserialize`], unescaping strings into `scratch`.
    pub fn deserialize_escaped<T: serde::Deserialize<'a>>(
        &self,
        scratch: &mut [u8],
    ) -> Result<T, serde_json_core::de::Error> {
        serde_json_core::from_str_escaped(self.0, scratch).map(|(value, _)| value)
    }

    /// Finds the value of `key` in this object (the last one if the key repeats), comparing
    /// keys after unescaping. `Ok(None)` when the key is absent; an error when this is not
    /// an object.
    pub fn get(&self, key: &str) -> Result<Option<RawJson<'a>>, DecodeError> {
        let mut found = None;
        for_each_member(self.0, |name, value| {
            if name == *key {
                found = Some(value);
            }
        })?;
        Ok(found)
    }
}

impl core::fmt::Debug for RawJson<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RawJson({})", self.0)
    }
}

impl core::fmt::Display for RawJson<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.0)
    }
}

/// Calls `visit(key, value)` for each member of the object in `text`, in wire order.
pub(crate) fn for_each_member<'a>(
    text: &'a str,
    mut visit: impl FnMut(Text<'a>, RawJson<'a>),
) -> Result<(), DecodeError> {
    let mut s = Scanner::new(text);
    s.skip_ws();
    s.object(|s, key| {
        let value = s.value()?;
        visit(key, value);
        Ok(())
    })?;
    s.skip_ws();
    s.expect_end()
}

/// Calls `visit(key, value)` for each member of the object in `text`, in wire order, and
/// stops at the first error `visit` returns.
pub(crate) fn try_for_each_member<'a, E: From<DecodeError>>(
    text: &'a str,
    mut visit: impl FnMut(Text<'a>, RawJson<'a>) -> Result<(), E>,
) -> Result<(), E> {
    let mut failed = None;
    let mut s = Scanner::new(text);
    s.skip_ws();
    let walked = s.object(|s, key| {
        let value = s.value()?;
        match visit(key, value) {
            Ok(()) => Ok(()),
            Err(e) => {
                failed = Some(e);
                // Stops the walk; the visitor's own error is returned below.
                Err(s.error(Kind::TrailingData))
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    walked?;
    s.skip_ws();
    Ok(s.expect_end()?)
}

/// Calls `visit(element)` for each element of the array in `text`, in wire order, and stops
/// at the first error `visit` returns. `NotAnArray` when `text` is another value.
pub(crate) fn try_for_each_element<'a, E: From<DecodeError>>(
    text: &'a str,
    mut visit: impl FnMut(RawJson<'a>) -> Result<(), E>,
) -> Result<(), E> {
    let mut s = Scanner::new(text);
    s.skip_ws();
    match s.peek() {
        Some(b'[') => s.bump(),
        Some(_) => return Err(s.error(Kind::NotAnArray).into()),
        None => return Err(s.error(Kind::UnexpectedEnd).into()),
    }
    s.skip_ws();
    if s.peek() == Some(b']') {
        s.bump();
    } else {
        loop {
            s.skip_ws();
            visit(s.value()?)?;
            s.skip_ws();
            match s.peek() {
                Some(b',') => s.bump(),
                Some(b']') => {
                    s.bump();
                    break;
                }
                Some(b) => return Err(s.error(Kind::UnexpectedByte(b)).into()),
                None => return Err(s.error(Kind::UnexpectedEnd).into()),
            }
        }
    }
    s.skip_ws();
    Ok(s.expect_end()?)
}

/// A cursor over JSON text. Every method leaves `pos` on the first byte it did not consume.
pub(crate) struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) const fn new(text: &'a str) -> Self {
        Scanner { text, pos: 0 }
    }

    pub(crate) const fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) const fn error(&self, kind: Kind) -> DecodeError {
        DecodeError::new(self.pos, kind)
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Moves past the byte just peeked.
    pub(crate) fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1);
    }

    #[inline(always)]
    pub(crate) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.bump();
        }
    }

    pub(crate) fn expect(&mut self, byte: u8) -> Result<(), DecodeError> {
        match self.peek() {
            Some(b) if b == byte => {
                self.bump();
                Ok(())
            }
            Some(b) => Err(self.error(Kind::UnexpectedByte(b))),
            None => Err(self.error(Kind::UnexpectedEnd)),
        }
    }

    pub(crate) fn expect_end(&self) -> Result<(), DecodeError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error(Kind::TrailingData)),
        }
    }

    /// The text from `start` to the current position, which the caller has scanned as one
    /// value.
    pub(crate) fn since(&self, start: usize) -> Result<RawJson<'a>, DecodeError> {
        self.slice(start, self.pos).map(RawJson::validated)
    }

    fn slice(&self, start: usize, end: usize) -> Result<&'a str, DecodeError> {
        // Both ends sit next to ASCII delimiters, so this never fails on scanned input.
        self.text
            .get(start..end)
            .ok_or(DecodeError::new(start, Kind::UnexpectedEnd))
    }

    /// Walks the object at `pos`: for each member, reads the key and the `:`, then lets
    /// `member` read the value (it must consume exactly one value).
    pub(crate) fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, Text<'a>) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        match self.peek() {
            Some(b'{') => self.bump(),
            Some(_) => return Err(self.error(Kind::NotAnObject)),
            None => return Err(self.error(Kind::UnexpectedEnd)),
        }
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.bump();
            return Ok(());
        }
        loop {
            self.skip_ws();
            let key = self.string()?;
            self.skip_ws();
            self.expect(b':')?;
            self.skip_ws();
            member(self, key)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.bump(),
                Some(b'}') => {
                    self.bump();
                    return Ok(());
                }
                Some(b) => return Err(self.error(Kind::UnexpectedByte(b))),
                None => return Err(self.error(Kind::UnexpectedEnd)),
            }
        }
    }

    /// Reads a string at `pos` (which must be on its opening quote), validating escapes.
    #[inline(always)]
    pub(crate) fn string(&mut self) -> Result<Text<'a>, DecodeError> {
        let open = self.pos;
        match self.peek() {
            Some(b'"') => self.bump(),
            Some(b) => return Err(self.error(Kind::UnexpectedByte(b))),
            None => return Err(self.error(Kind::UnexpectedEnd)),
        }
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut escaped = false;
        loop {
            let rest = bytes.get(self.pos..).unwrap_or_default();
            let Some(hit) = find_special(rest) else {
                return Err(DecodeError::new(open, Kind::UnterminatedString));
            };
            self.pos = self.pos.saturating_add(hit);
            match self.peek() {
                Some(b'"') => {
                    let raw = self.slice(start, self.pos)?;
                    self.bump();
                    return Ok(if escaped {
                        Text::escaped(raw)
                    } else {
                        Text::new(raw)
                    });
                }
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                _ => return Err(self.error(Kind::ControlCharacter)),
            }
        }
    }

    /// Validates one escape sequence at `pos` (on the backslash) and moves past it.
    #[cold]
    fn escape(&mut self) -> Result<(), DecodeError> {
        let at = self.pos;
        self.bump();
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.bump();
                Ok(())
            }
            Some(b'u') => {
                self.bump();
                let unit = self.hex4(at)?;
                match unit {
                    0xD800..=0xDBFF => {
                        // A high surrogate must be followed by an escaped low surrogate.
                        if self.peek() != Some(b'\\') {
                            return Err(DecodeError::new(at, Kind::InvalidEscape));
                        }
                        self.bump();
                        if self.peek() != Some(b'u') {
                            return Err(DecodeError::new(at, Kind::InvalidEscape));
                        }
                        self.bump();
                        match self.hex4(at)? {
                            0xDC00..=0xDFFF => Ok(()),
                            _ => Err(DecodeError::new(at, Kind::InvalidEscape)),
                        }
                    }
                    0xDC00..=0xDFFF => Err(DecodeError::new(at, Kind::InvalidEscape)),
                    _ => Ok(()),
                }
            }
            Some(_) => Err(DecodeError::new(at, Kind::InvalidEscape)),
            None => Err(DecodeError::new(at, Kind::UnterminatedString)),
        }
    }

    fn hex4(&mut self, escape_at: usize) -> Result<u16, DecodeError> {
        let mut unit: u16 = 0;
        for _ in 0..4 {
            let Some(byte) = self.peek() else {
                return Err(DecodeError::new(escape_at, Kind::UnterminatedString));
            };
            let Some(digit) = hex_value(byte) else {
                return Err(DecodeError::new(escape_at, Kind::InvalidEscape));
            };
            unit = (unit << 4) | u16::from(digit);
            self.bump();
        }
        Ok(unit)
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), DecodeError> {
        let end = self.pos.saturating_add(word.len());
        match self.text.as_bytes().get(self.pos..end) {
            Some(found) if found == word => {
                self.pos = end;
                Ok(())
            }
            _ => Err(self.error(Kind::InvalidLiteral)),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.bump();
        }
        self.pos.saturating_sub(start)
    }

    /// Reads a number per RFC 8259: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<&'a str, DecodeError> {
        let start = self.pos;
        let invalid = DecodeError::new(start, Kind::InvalidNumber);
        if self.peek() == Some(b'-') {
            self.bump();
        }
        match self.peek() {
            Some(b'0') => self.bump(),
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(invalid),
        }
        if self.peek() == Some(b'.') {
            self.bump();
            if self.digits() == 0 {
                return Err(invalid);
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.bump();
            if let Some(b'+' | b'-') = self.peek() {
                self.bump();
            }
            if self.digits() == 0 {
                return Err(invalid);
            }
        }
        self.slice(start, self.pos)
    }

    /// Reads a ref-like field: `null`, a string, or (tolerated from other clients) a number.
    #[inline(always)]
    pub(crate) fn optional_ref(&mut self, field: Field) -> Result<Option<Text<'a>>, DecodeError> {
        match self.peek() {
            Some(b'n') => self.literal(b"null").map(|()| None),
            Some(b'"') => self.string().map(Some),
            Some(b'-' | b'0'..=b'9') => self.number().map(|n| Some(Text::number(n))),
            Some(_) => Err(self.error(Kind::WrongType(field))),
            None => Err(self.error(Kind::UnexpectedEnd)),
        }
    }

    /// Reads a field that must be a JSON string.
    #[inline(always)]
    pub(crate) fn required_string(&mut self, field: Field) -> Result<Text<'a>, DecodeError> {
        match self.peek() {
            Some(b'"') => self.string(),
            Some(_) => Err(self.error(Kind::WrongType(field))),
            None => Err(self.error(Kind::UnexpectedEnd)),
        }
    }

    /// Skips one JSON value of any type, iteratively, and returns its text.
    pub(crate) fn value(&mut self) -> Result<RawJson<'a>, DecodeError> {
        self.nested_value(0)
    }

    /// Like [`Scanner::value`], for a value inside `outer` levels of containers that the
    /// caller is walking itself, so the nesting limit still counts from the payload's top.
    pub(crate) fn nested_value(&mut self, outer: usize) -> Result<RawJson<'a>, DecodeError> {
        let start = self.pos;
        // Bit i of `objects` says whether container level i+1 is an object (else an array).
        let mut objects: u128 = 0;
        let mut depth: usize = 0;
        let limit = MAX_NESTING.saturating_sub(outer);
        'value: loop {
            // Here a value must begin.
            self.skip_ws();
            match self.peek() {
                Some(open @ (b'{' | b'[')) => {
                    if depth >= limit {
                        return Err(self.error(Kind::NestingTooDeep));
                    }
                    let is_object = open == b'{';
                    objects = (objects << 1) | u128::from(is_object);
                    depth = depth.saturating_add(1);
                    self.bump();
                    self.skip_ws();
                    let close = if is_object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.bump();
                        objects >>= 1;
                        depth = depth.saturating_sub(1);
                    } else if is_object {
                        self.member_key()?;
                        continue 'value;
                    } else {
                        continue 'value;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => {
                    self.number()?;
                }
                Some(b) => return Err(self.error(Kind::UnexpectedByte(b))),
                None => return Err(self.error(Kind::UnexpectedEnd)),
            }
            // A value just ended: close containers until one wants another element.
            loop {
                if depth == 0 {
                    return self.slice(start, self.pos).map(RawJson::validated);
                }
                let in_object = objects & 1 == 1;
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.bump();
                        if in_object {
                            self.skip_ws();
                            self.member_key()?;
                        }
                        continue 'value;
                    }
                    Some(b'}') if in_object => {}
                    Some(b']') if !in_object => {}
                    Some(b) => return Err(self.error(Kind::UnexpectedByte(b))),
                    None => return Err(self.error(Kind::UnexpectedEnd)),
                }
                self.bump();
                objects >>= 1;
                depth = depth.saturating_sub(1);
            }
        }
    }

    /// Reads `"key" :` inside an object.
    fn member_key(&mut self) -> Result<(), DecodeError> {
        self.string()?;
        self.skip_ws();
        self.expect(b':')
    }
}

/// Whether `b` ends a run of plain string bytes: a quote, a backslash or a control character.
#[inline(always)]
const fn is_special(b: u8) -> bool {
    (b == b'"') | (b == b'\\') | (b < 0x20)
}

/// The index of the first `"`, `\` or control character in `bytes`, in one pass.
///
/// Most strings in a frame are short (refs, topics, events, keys), a few are very long (a
/// base64 blob, a document). The first 64 bytes go eight at a time (SWAR); after that,
/// 64-byte blocks get a branch-free test that the compiler turns into SIMD compares, and
/// the block with a hit is searched with SWAR again.
#[inline]
fn find_special(bytes: &[u8]) -> Option<usize> {
    let head = bytes.get(..64).unwrap_or(bytes);
    if let Some(i) = swar_find(head) {
        return Some(i);
    }
    let mut done = head.len();
    for block in bytes.get(done..).unwrap_or_default().chunks_exact(64) {
        if block.iter().fold(false, |any, &b| any | is_special(b)) {
            break;
        }
        done = done.saturating_add(64);
    }
    swar_find(bytes.get(done..).unwrap_or_default()).map(|i| done.saturating_add(i))
}

/// [`find_special`] eight bytes at a time: Mycroft's has-less-than / has-zero-byte tricks.
/// Borrows only propagate upwards from a real hit, so the lowest flagged byte is exact.
#[inline(always)]
fn swar_find(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    const QUOTES: u64 = ONES.wrapping_mul(b'"' as u64);
    const BACKSLASHES: u64 = ONES.wrapping_mul(b'\\' as u64);
    const SPACES: u64 = ONES.wrapping_mul(0x20);
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0usize;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let control = x.wrapping_sub(SPACES) & !x;
        let quote = (x ^ QUOTES).wrapping_sub(ONES) & !(x ^ QUOTES);
        let backslash = (x ^ BACKSLASHES).wrapping_sub(ONES) & !(x ^ BACKSLASHES);
        let hits = (control | quote | backslash) & HIGH;
        if hits != 0 {
            return Some(at.saturating_add((hits.trailing_zeros() >> 3) as usize));
        }
        at = at.saturating_add(8);
    }
    let tail = chunks.remainder().iter().position(|&b| is_special(b));
    tail.map(|i| at.saturating_add(i))
}

pub(crate) const fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte.wrapping_sub(b'0')),
        b'a'..=b'f' => Some(byte.wrapping_sub(b'a').wrapping_add(10)),
        b'A'..=b'F' => Some(byte.wrapping_sub(b'A').wrapping_add(10)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Kind {
        RawJson::new(text).unwrap_err().kind
    }

    #[test]
    fn accepts_every_value_type() {
        for ok in [
            "{}",
            "[]",
            " { \"a\" : [1, -2.5e+3, true, false, null, \"x\\u00e9\\ud83d\\ude00\"] } ",
            "0",
            "\"\"",
            "[[[]],{}]",
        ] {
            RawJson::new(ok).unwrap();
        }
    }

    #[test]
    fn rejects_malformed_values() {
        assert_eq!(kind("{\"a\" 1}"), Kind::UnexpectedByte(b'1'));
        assert_eq!(kind("[1,]"), Kind::UnexpectedByte(b']'));
        assert_eq!(kind("01"), Kind::TrailingData);
        assert_eq!(kind("1."), Kind::InvalidNumber);
        assert_eq!(kind("tru"), Kind::InvalidLiteral);
        assert_eq!(kind("\"\\x\""), Kind::InvalidEscape);
        assert_eq!(kind("\"\\ud800\""), Kind::InvalidEscape);
        assert_eq!(kind("\"\\udc00\""), Kind::InvalidEscape);
        assert_eq!(kind("\"abc"), Kind::UnterminatedString);
        assert_eq!(kind("\"a\nb\""), Kind::ControlCharacter);
        assert_eq!(kind("[1"), Kind::UnexpectedEnd);
        assert_eq!(kind("{\"a\":1]"), Kind::UnexpectedByte(b']'));
    }

    #[test]
    fn nesting_limit_is_exact() {
        let mut deep = [0u8; 2 * (MAX_NESTING + 1)];
        let (open, close) = deep.split_at_mut(MAX_NESTING + 1);
        open.fill(b'[');
        close.fill(b']');
        let too_deep = core::str::from_utf8(&deep).unwrap();
        assert_eq!(kind(too_deep), Kind::NestingTooDeep);
        let just_fits = &too_deep[1..too_deep.len() - 1];
        RawJson::new(just_fits).unwrap();
    }

    #[test]
    fn get_finds_members_by_unescaped_key() {
        let obj = RawJson::new(r#"{"st\u0061tus":"ok","response":{"a":[1]}}"#).unwrap();
        assert_eq!(obj.get("status").unwrap().unwrap().as_str(), "\"ok\"");
        assert_eq!(
            obj.get("response").unwrap().unwrap().as_str(),
            "{\"a\":[1]}"
        );
        assert_eq!(obj.get("nope").unwrap(), None);
        assert!(RawJson::new("[1]").unwrap().get("a").is_err());
    }
}
