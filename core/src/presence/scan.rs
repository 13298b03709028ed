//! Walking presence payloads in the frame with the codec's scanner: presences by key, their
//! `metas` arrays, each meta's `phx_ref`. Nothing is built; every walk is validated first,
//! so a malformed payload changes nothing.

use super::event::{Error, Malformed};
use super::storage::Span;
use crate::codec::json::{try_for_each_element, try_for_each_member, Scanner};
use crate::codec::{RawJson, Text, TextForm};

/// A meta in the frame: its JSON and its `phx_ref`.
#[derive(Clone, Copy)]
pub(crate) struct FrameMeta<'a> {
    pub(crate) json: RawJson<'a>,
    pub(crate) phx_ref: Text<'a>,
    /// The inside of the `phx_ref` string, relative to the meta's start.
    pub(crate) ref_span: Span,
}

fn starts_with(json: RawJson<'_>, byte: u8) -> bool {
    json.as_str().trim_start().as_bytes().first() == Some(&byte)
}

fn object(json: RawJson<'_>) -> Result<(), Error> {
    if starts_with(json, b'{') {
        Ok(())
    } else {
        Err(Malformed::NotAnObject.into())
    }
}

/// The `metas` array of a presence object.
pub(crate) fn metas(presence: RawJson<'_>) -> Result<RawJson<'_>, Error> {
    object(presence)?;
    match presence.get("metas")? {
        Some(metas) if starts_with(metas, b'[') => Ok(metas),
        _ => Err(Malformed::NoMetas.into()),
    }
}

/// A meta object and its `phx_ref` (the last one, if the key repeats).
pub(crate) fn frame_meta(json: RawJson<'_>) -> Result<FrameMeta<'_>, Error> {
    if !starts_with(json, b'{') {
        return Err(Malformed::MetaNotAnObject.into());
    }
    let text = json.as_str();
    let mut s = Scanner::new(text);
    let mut found = None;
    s.skip_ws();
    s.object(|s, key| {
        if key.eq_str("phx_ref") && s.peek() == Some(b'"') {
            let open = s.pos();
            let phx_ref = s.string()?;
            let span = Span {
                start: open.saturating_add(1),
                len: phx_ref.raw().len(),
            };
            found = Some((phx_ref, span));
        } else {
            if key.eq_str("phx_ref") {
                found = None;
            }
            s.value()?;
        }
        Ok(())
    })?;
    let (phx_ref, ref_span) = found.ok_or(Malformed::NoPhxRef)?;
    Ok(FrameMeta {
        json,
        phx_ref,
        ref_span,
    })
}

/// Calls `visit` for each meta of a `metas` array.
pub(crate) fn for_each_meta<'a>(
    metas: RawJson<'a>,
    mut visit: impl FnMut(FrameMeta<'a>) -> Result<(), Error>,
) -> Result<(), Error> {
    try_for_each_element(metas.as_str(), |json| visit(frame_meta(json)?))
}

/// Calls `visit(key, metas)` for each presence of a state (or of a diff's `joins` or
/// `leaves`).
pub(crate) fn for_each_presence<'a>(
    presences: RawJson<'a>,
    mut visit: impl FnMut(Text<'a>, RawJson<'a>) -> Result<(), Error>,
) -> Result<(), Error> {
    object(presences)?;
    try_for_each_member(presences.as_str(), |key, presence| {
        visit(key, metas(presence)?)
    })
}

/// Checks a whole state (or a diff's half): every presence has metas, every meta a ref.
pub(crate) fn validate_presences(presences: RawJson<'_>) -> Result<(), Error> {
    for_each_presence(presences, |_, metas| for_each_meta(metas, |_| Ok(())))
}

/// A diff's `joins` and `leaves`, validated (an absent half is empty).
pub(crate) fn diff_halves(
    diff: RawJson<'_>,
) -> Result<(Option<RawJson<'_>>, Option<RawJson<'_>>), Error> {
    object(diff)?;
    let joins = diff.get("joins")?;
    let leaves = diff.get("leaves")?;
    for half in [joins, leaves].into_iter().flatten() {
        validate_presences(half)?;
    }
    Ok((joins, leaves))
}

/// Whether `metas` holds a meta with this ref.
pub(crate) fn has_ref(metas: RawJson<'_>, phx_ref: &Text<'_>) -> bool {
    let mut found = false;
    // Validated before: errors cannot happen, and would only mean "not found".
    let _ = for_each_meta(metas, |m| {
        found |= m.phx_ref == *phx_ref;
        Ok(())
    });
    found
}

/// Whether a ref's wire form has escapes.
pub(crate) fn escaped(text: &Text<'_>) -> bool {
    text.form() == TextForm::Escaped
}
