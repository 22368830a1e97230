//! Domain names: presentation form to uncompressed wire form, letter case kept.
//!
//! `@` is the origin; a name without a final unescaped `.` is relative to the origin;
//! `\.` is a dot inside a label and `\DDD`/`\X` are escapes (RFC 1035 §5.1). Labels are
//! at most 63 octets, names at most 255 (RFC 1035 §2.3.4). Empty labels (`a..b`, `.a`) are
//! errors, except the root name `.` itself.
use crate::zone::master::text::escape_at;

/// The root name in wire form.
pub const ROOT: &[u8] = &[0];

/// Parses a name token (raw, escapes undecoded) relative to `origin` (wire form).
pub(crate) fn parse(raw: &[u8], origin: &[u8]) -> Result<Vec<u8>, String> {
    if raw == b"@" {
        return Ok(origin.to_vec());
    }
    if raw == b"." {
        return Ok(ROOT.to_vec());
    }
    let shown = || String::from_utf8_lossy(raw).into_owned();
    if raw.is_empty() {
        return Err("empty domain name".into());
    }
    let mut out = Vec::with_capacity(raw.len() + 2 + origin.len());
    let mut label_start = out.len();
    out.push(0);
    let mut i = 0;
    let mut absolute = false;
    while i < raw.len() {
        let c = raw[i];
        if c == b'.' {
            let len = out.len() - label_start - 1;
            if len == 0 {
                return Err(format!("'{}' has an empty label", shown()));
            }
            out[label_start] = len as u8;
            i += 1;
            if i == raw.len() {
                absolute = true;
                break;
            }
            label_start = out.len();
            out.push(0);
            continue;
        }
        let (b, used) = if c == b'\\' { escape_at(raw, i)? } else { (c, 1) };
        out.push(b);
        i += used;
        if out.len() - label_start - 1 > 63 {
            return Err(format!("'{}' has a label over 63 octets", shown()));
        }
    }
    if !absolute {
        let len = out.len() - label_start - 1;
        if len == 0 {
            return Err(format!("'{}' has an empty label", shown()));
        }
        out[label_start] = len as u8;
        out.extend_from_slice(origin);
    } else {
        out.push(0);
    }
    if out.len() > 255 {
        return Err(format!("'{}' is {} octets long in wire form: the limit is 255", shown(), out.len()));
    }
    Ok(out)
}

pub use crate::dnssec::name::{eq_ignore_case, labels, to_text};

/// The length of the wire-form name at the start of `wire`, or `None` if it is malformed
/// (compression pointers are not allowed in zone data).
pub fn wire_len(wire: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let len = usize::from(*wire.get(i)?);
        if len > 63 {
            return None;
        }
        i += 1 + len;
        if i > 255 || i > wire.len() {
            return None;
        }
        if len == 0 {
            return Some(i);
        }
    }
}

/// Whether `name` equals `zone` or is below it (case-insensitive, both wire form).
pub fn is_subdomain(name: &[u8], zone: &[u8]) -> bool {
    name.len() >= zone.len() && eq_ignore_case(&name[name.len() - zone.len()..], zone) && {
        // The suffix must start on a label boundary of `name`.
        let mut i = 0;
        let cut = name.len() - zone.len();
        while i < cut {
            i += 1 + usize::from(name[i]);
        }
        i == cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &[u8] = b"\x07example\x03com\x00";

    #[test]
    fn relative_absolute_at_and_escapes() {
        assert_eq!(parse(b"@", ORIGIN).unwrap(), ORIGIN);
        assert_eq!(parse(b"www", ORIGIN).unwrap(), b"\x03www\x07example\x03com\x00");
        assert_eq!(parse(b"A.b.", ORIGIN).unwrap(), b"\x01A\x01b\x00");
        assert_eq!(parse(b"sp\\032ace", ORIGIN).unwrap()[..7], *b"\x06sp ace");
        assert_eq!(parse(b"a\\000l.", ORIGIN).unwrap(), b"\x03a\x00l\x00");
        assert_eq!(parse(b"dot\\.in.", ORIGIN).unwrap(), b"\x06dot.in\x00");
        assert_eq!(parse(b"0/25", ORIGIN).unwrap()[..5], *b"\x040/25");
        assert_eq!(to_text(&parse(b"a\\032b\\.c", ORIGIN).unwrap()), "a\\032b\\.c.example.com.");
    }

    #[test]
    fn limits() {
        assert!(parse(&[b'a'; 63], ORIGIN).is_ok());
        assert!(parse(&[b'a'; 64], ORIGIN).unwrap_err().contains("63"));
        assert!(parse(b"a..b", ORIGIN).unwrap_err().contains("empty label"));
        assert!(parse(b".a", ORIGIN).unwrap_err().contains("empty label"));
        let long = [[b'b'; 60].as_slice(); 4].join(&b'.');
        assert!(parse(&long, ORIGIN).unwrap_err().contains("255"));
        assert!(parse(b"a\\256", ORIGIN).is_err());
    }

    #[test]
    fn subdomains() {
        let www = parse(b"WWW.Example.COM.", ORIGIN).unwrap();
        assert!(is_subdomain(&www, ORIGIN));
        assert!(is_subdomain(ORIGIN, ORIGIN));
        assert!(!is_subdomain(b"\x08xexample\x03com\x00", ORIGIN));
        assert_eq!(wire_len(&www), Some(www.len()));
    }
}
