//! Refs on the wire: decimal strings of a per-session counter, as phoenix.js makes them.

use crate::codec::{Text, TextForm};

/// A ref formatted as decimal text on the stack.
pub(crate) struct RefText {
    buf: [u8; 20],
    start: usize,
}

impl RefText {
    pub(crate) fn new(mut value: u64) -> Self {
        let mut buf = [b'0'; 20];
        let mut start = buf.len();
        loop {
            start = start.saturating_sub(1);
            if let Some(digit) = buf.get_mut(start) {
                // `value % 10` is below 10, so the cast cannot truncate.
                *digit = b'0'.wrapping_add((value % 10) as u8);
            }
            value /= 10;
            if value == 0 || start == 0 {
                break;
            }
        }
        RefText { buf, start }
    }

    pub(crate) fn as_str(&self) -> &str {
        self.buf
            .get(self.start..)
            .and_then(|digits| core::str::from_utf8(digits).ok())
            .unwrap_or("0")
    }
}

/// Reads one of our refs back. Anything that is not a plain decimal `u64` is not ours.
pub(crate) fn parse(text: Text<'_>) -> Option<u64> {
    let mut value: u64 = 0;
    let mut digits = 0u8;
    let mut push = |c: char| -> Option<()> {
        let digit = c.to_digit(10)?;
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
        digits = digits.saturating_add(1);
        Some(())
    };
    match text.form() {
        TextForm::Literal | TextForm::Number => text.raw().chars().try_for_each(&mut push)?,
        TextForm::Escaped => text.chars().try_for_each(&mut push)?,
    }
    (digits > 0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        for n in [0u64, 1, 9, 10, 12345, u64::MAX] {
            let text = RefText::new(n);
            assert_eq!(text.as_str(), std::format!("{n}"));
            assert_eq!(parse(Text::new(text.as_str())), Some(n));
        }
        assert_eq!(parse(Text::new("")), None);
        assert_eq!(parse(Text::new("1a")), None);
        assert_eq!(parse(Text::new("18446744073709551616")), None);
    }
}
