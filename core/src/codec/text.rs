//! [`Text`]: a string field of a message (ref, topic, event, status) as it was on the wire.

use core::fmt;

use super::json::hex_value;

/// How a [`Text`] holds its characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TextForm {
    /// The characters themselves: from a binary frame, a JSON string without escapes, or the
    /// caller. Written to JSON with escaping where needed.
    Literal,
    /// The inside of a JSON string that contains backslash escapes, exactly as received.
    /// Written back to JSON untouched; unescaped for binary frames and comparisons.
    Escaped,
    /// A JSON number used as a ref by a client that does not send strings. Written back as a
    /// number, so a reply echoes the ref with its original JSON type.
    Number,
}

/// A string field of a message, borrowed from the frame.
///
/// Comparisons look at the characters, not the encoding: a topic sent as `"room\u003alobby"`
/// equals `"room:lobby"`. [`Text::as_str`] borrows without copying when the wire form had no
/// escapes, which is the common case; [`Text::chars`] and [`Text::unescape_into`] handle the
/// rest.
#[derive(Clone, Copy)]
pub struct Text<'a> {
    raw: &'a str,
    form: TextForm,
}

impl<'a> Text<'a> {
    /// A literal string.
    pub const fn new(text: &'a str) -> Self {
        Text {
            raw: text,
            form: TextForm::Literal,
        }
    }

    /// The inside of a JSON string with escapes; the scanner has validated them.
    pub(crate) const fn escaped(raw: &'a str) -> Self {
        Text {
            raw,
            form: TextForm::Escaped,
        }
    }

    /// The digits of a JSON number; the scanner has validated them.
    pub(crate) const fn number(raw: &'a str) -> Self {
        Text {
            raw,
            form: TextForm::Number,
        }
    }

    /// How the characters are held.
    pub const fn form(&self) -> TextForm {
        self.form
    }

    /// The wire form: the characters, the escaped JSON string contents, or the number.
    pub const fn raw(&self) -> &'a str {
        self.raw
    }

    /// The characters, borrowed, unless the wire form had escapes.
    pub const fn as_str(&self) -> Option<&'a str> {
        match self.form {
            TextForm::Escaped => None,
            TextForm::Literal | TextForm::Number => Some(self.raw),
        }
    }

    /// The characters, unescaped on the fly.
    pub fn chars(&self) -> Chars<'a> {
        Chars {
            rest: self.raw,
            unescape: self.form == TextForm::Escaped,
        }
    }

    /// The length of the characters in UTF-8 bytes (after unescaping).
    pub fn len(&self) -> usize {
        match self.form {
            TextForm::Escaped => self
                .chars()
                .fold(0usize, |n, c| n.saturating_add(c.len_utf8())),
            TextForm::Literal | TextForm::Number => self.raw.len(),
        }
    }

    /// Whether there are no characters.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Writes the characters into `buf` and returns them as a `&str`, or `None` if `buf` is
    /// too small.
    pub fn unescape_into<'b>(&self, buf: &'b mut [u8]) -> Option<&'b str> {
        let mut len = 0usize;
        for c in self.chars() {
            let end = len.checked_add(c.len_utf8())?;
            c.encode_utf8(buf.get_mut(len..end)?);
            len = end;
        }
        core::str::from_utf8(buf.get(..len)?).ok()
    }

    /// Copies the characters into a fixed-capacity string, or `None` if they do not fit.
    pub fn to_heapless<const N: usize>(&self) -> Option<heapless::String<N>> {
        let mut out = heapless::String::new();
        match self.as_str() {
            Some(s) => out.push_str(s).ok()?,
            None => {
                for c in self.chars() {
                    out.push(c).ok()?;
                }
            }
        }
        Some(out)
    }

    /// Whether the characters equal `other`'s.
    pub fn eq_str(&self, other: &str) -> bool {
        match self.as_str() {
            Some(s) => s == other,
            None => self.chars().eq(other.chars()),
        }
    }

    /// Whether the characters start with `prefix`.
    pub fn starts_with(&self, prefix: &str) -> bool {
        match self.as_str() {
            Some(s) => s.starts_with(prefix),
            None => {
                let mut mine = self.chars();
                prefix.chars().all(|p| mine.next() == Some(p))
            }
        }
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(text: &'a str) -> Self {
        Text::new(text)
    }
}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        self.eq_str(other)
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.eq_str(other)
    }
}

impl PartialEq for Text<'_> {
    fn eq(&self, other: &Text<'_>) -> bool {
        match (self.as_str(), other.as_str()) {
            (Some(a), Some(b)) => a == b,
            _ => self.chars().eq(other.chars()),
        }
    }
}

impl Eq for Text<'_> {}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.form {
            TextForm::Number => f.write_str(self.raw),
            TextForm::Literal | TextForm::Escaped => write!(f, "\"{}\"", self.raw),
        }
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(s) => f.write_str(s),
            None => self.chars().try_for_each(|c| fmt::Write::write_char(f, c)),
        }
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Text<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.raw)
    }
}

/// The characters of a [`Text`], unescaped. Created by [`Text::chars`].
#[derive(Clone)]
pub struct Chars<'a> {
    rest: &'a str,
    unescape: bool,
}

impl Chars<'_> {
    fn hex4(&mut self) -> Option<u32> {
        let (digits, rest) = self.rest.split_at_checked(4)?;
        self.rest = rest;
        digits.bytes().try_fold(0u32, |unit, byte| {
            Some((unit << 4) | u32::from(hex_value(byte)?))
        })
    }

    /// Decodes the escape after a backslash. The scanner validated it, so the fallbacks
    /// (U+FFFD) are only reached for text it never saw.
    fn escape(&mut self) -> char {
        let mut chars = self.rest.chars();
        let Some(kind) = chars.next() else {
            return char::REPLACEMENT_CHARACTER;
        };
        self.rest = chars.as_str();
        match kind {
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let Some(high) = self.hex4() else {
                    return char::REPLACEMENT_CHARACTER;
                };
                if (0xD800..0xDC00).contains(&high) {
                    let low = self
                        .rest
                        .strip_prefix("\\u")
                        .and_then(|rest| {
                            self.rest = rest;
                            self.hex4()
                        })
                        .unwrap_or(0);
                    let code = 0x10000u32
                        .wrapping_add((high.wrapping_sub(0xD800)) << 10)
                        .wrapping_add(low.wrapping_sub(0xDC00));
                    char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
                } else {
                    char::from_u32(high).unwrap_or(char::REPLACEMENT_CHARACTER)
                }
            }
            // `"`, `\` and `/` stand for themselves.
            other => other,
        }
    }
}

impl Iterator for Chars<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let mut chars = self.rest.chars();
        let c = chars.next()?;
        self.rest = chars.as_str();
        if self.unescape && c == '\\' {
            Some(self.escape())
        } else {
            Some(c)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_equals_its_characters() {
        let t = Text::escaped(r#"room\u003alobby \"q\" \\ \n \ud83d\ude00 \/"#);
        assert_eq!(t, "room:lobby \"q\" \\ \n \u{1F600} /");
        assert_eq!(t.len(), "room:lobby \"q\" \\ \n \u{1F600} /".len());
        assert!(t.as_str().is_none());
        let mut buf = [0u8; 64];
        assert_eq!(
            t.unescape_into(&mut buf),
            Some("room:lobby \"q\" \\ \n \u{1F600} /")
        );
        assert_eq!(t.unescape_into(&mut [0u8; 4]), None);
        assert!(t.starts_with("room:"));
        assert!(!t.starts_with("rooms"));
    }

    #[test]
    fn literal_and_number_forms_borrow() {
        assert_eq!(Text::new("abc").as_str(), Some("abc"));
        assert_eq!(Text::number("12").as_str(), Some("12"));
        assert_eq!(Text::number("12"), Text::new("12"));
        assert_eq!(Text::new("x").to_heapless::<4>().unwrap().as_str(), "x");
        assert!(Text::new("toolong").to_heapless::<4>().is_none());
    }
}
