//! TOML reading for gslbd.toml and the pool files, with every problem collected: all syntax
//! errors of a file (the parser recovers and goes on), a duplicate key named, and the
//! deserialization errors of each section and of each named table in it, not just the first.
//!
//! ```text
//! text ─DeTable::parse_recoverable─► syntax errors (all) ─► per top-level key ─► per named table ─► Raw* structs
//! ```
use std::ops::Range;
use std::path::Path;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diag::{ConfigError, line_of};

/// A parsed document, its top-level keys with their spans and values.
pub(crate) type Doc<'i> = Vec<(Spanned<String>, Spanned<DeValue<'i>>)>;

/// Parses `text`; every syntax error, each with its line (a duplicate key says which).
pub(crate) fn parse<'i>(path: &Path, text: &'i str) -> Result<Doc<'i>, Vec<ConfigError>> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return Err(errors.iter().map(|e| error(path, text, e)).collect());
    }
    Ok(entries(doc.into_inner()))
}

/// The entries of a table, keys as owned strings, in file order.
pub(crate) fn entries(table: DeTable<'_>) -> Vec<(Spanned<String>, Spanned<DeValue<'_>>)> {
    let mut v: Vec<_> = table.into_iter().map(|(k, v)| (Spanned::new(k.span(), k.get_ref().to_string()), v)).collect();
    v.sort_by_key(|(k, _)| k.span().start);
    v
}

/// One TOML error as a config error: its line, and its message in one line.
pub(crate) fn error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let span = e.span();
    let line = span.clone().map_or(0, |s| line_of(text, s.start));
    let mut msg = e.message().trim().replace('\n', "; ");
    if msg.starts_with("duplicate key")
        && let Some(key) = span.clone().and_then(|s| text.get(s)).map(|k| k.trim().trim_matches('"'))
        && !key.is_empty()
        && !msg.contains(key)
    {
        msg = format!("duplicate key '{key}': it is already set above in the same table");
    } else if let Some(key) = key_of_line(text, span.as_ref().map_or(0, |s| s.start)) {
        // serde names the expected type but not the key: the key is on the value's line.
        if msg.starts_with("invalid type") || msg.starts_with("invalid value") {
            msg = format!("{key}: {msg}");
        }
    }
    ConfigError::new(path, line, msg)
}

/// The key of a `key = value` line when `offset` falls in its value.
fn key_of_line(text: &str, offset: usize) -> Option<&str> {
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let eq = start + text.get(start..)?.find('=')?;
    if offset <= eq {
        return None;
    }
    let key = text.get(start..eq)?.trim().trim_matches('"');
    (!key.is_empty() && !key.contains(['[', '{', ','])).then_some(key)
}

/// Deserializes one value, pushing its error (if any) to `errors`.
pub(crate) fn value<T: DeserializeOwned>(
    errors: &mut Vec<ConfigError>,
    path: &Path,
    text: &str,
    v: Spanned<DeValue<'_>>,
) -> Option<T> {
    match T::deserialize(v.into_deserializer()) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(error(path, text, &e));
            None
        }
    }
}

/// A table of named tables (`[pool.NAME]`, `[probe.NAME]`): each entry on its own, so a
/// mistake in one does not hide those in the others.
pub(crate) fn named<T: DeserializeOwned>(
    errors: &mut Vec<ConfigError>,
    path: &Path,
    text: &str,
    key: &str,
    v: Spanned<DeValue<'_>>,
) -> Vec<(Spanned<String>, Spanned<T>)> {
    let span = v.span();
    match v.into_inner() {
        DeValue::Table(t) => entries(t)
            .into_iter()
            .filter_map(|(k, v)| value::<Spanned<T>>(errors, path, text, v).map(|t| (k, t)))
            .collect(),
        _ => {
            errors.push(at(path, text, span, format!("{key} must be a table of named tables ([{key}.NAME])")));
            Vec::new()
        }
    }
}

/// An array of tables (`[[zone]]`): each element on its own.
pub(crate) fn array<T: DeserializeOwned>(
    errors: &mut Vec<ConfigError>,
    path: &Path,
    text: &str,
    key: &str,
    v: Spanned<DeValue<'_>>,
) -> Vec<T> {
    let span = v.span();
    match v.into_inner() {
        DeValue::Array(items) => items.into_iter().filter_map(|i| value::<T>(errors, path, text, i)).collect(),
        _ => {
            errors.push(at(path, text, span, format!("{key} must be an array of tables ([[{key}]])")));
            Vec::new()
        }
    }
}

/// An error at a span.
pub(crate) fn at(path: &Path, text: &str, span: Range<usize>, msg: String) -> ConfigError {
    ConfigError::new(path, line_of(text, span.start), msg)
}
