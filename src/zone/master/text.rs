//! Presentation-format primitives: escapes, numbers, TTLs, character-strings, times and
//! the binary encodings. Each function takes one raw token and returns bytes or a number,
//! or a message (the caller adds the file and line).
use std::borrow::Cow;

use data_encoding::{BASE32HEX_NOPAD, BASE64, Encoding};

/// Decodes RFC 1035 §5.1 escapes: `\DDD` (exactly three digits, at most 255) is that octet,
/// `\X` (X not a digit) is X. A `\` with one or two digits, a value over 255, or a `\` at
/// the end is an error: the loaders that accept them make up an octet (Knot turns `\256`
/// into 0, NSD into the text `256`), which would change the data silently.
pub(crate) fn unescape(raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let (b, used) = escape_at(raw, i)?;
        out.push(b);
        i += used;
    }
    Ok(out)
}

/// The octet of the escape starting at `raw[i]` (a backslash) and its length in bytes.
pub(crate) fn escape_at(raw: &[u8], i: usize) -> Result<(u8, usize), String> {
    match raw.get(i + 1) {
        None => Err("'\\' at the end of a token".into()),
        Some(d) if d.is_ascii_digit() => {
            let digits = raw.get(i + 1..i + 4).filter(|s| s.iter().all(u8::is_ascii_digit));
            let Some(digits) = digits else {
                let shown = String::from_utf8_lossy(&raw[i..(i + 4).min(raw.len())]).into_owned();
                return Err(format!("'{shown}': a '\\' followed by a digit needs exactly three digits (\\DDD)"));
            };
            let v = digits.iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0'));
            if v > 255 {
                return Err(format!(
                    "'\\{}' is not an octet (\\DDD is at most \\255)",
                    String::from_utf8_lossy(digits)
                ));
            }
            Ok((v as u8, 4))
        }
        Some(&c) => Ok((c, 2)),
    }
}

/// A token as ASCII text, escapes decoded (numbers, addresses and mnemonics).
///
/// Borrowed from `raw` when it holds no escape (most fields of a large zone: an address, a
/// TTL; copying each field to a new `String` first was a tenth of parsing a million A records).
pub(crate) fn ascii(raw: &[u8]) -> Result<Cow<'_, str>, String> {
    let not_ascii = || "expected ASCII text".to_string();
    if !raw.contains(&b'\\') {
        return std::str::from_utf8(raw).ok().filter(|s| s.is_ascii()).map(Cow::Borrowed).ok_or_else(not_ascii);
    }
    let bytes = unescape(raw)?;
    String::from_utf8(bytes).ok().filter(|s| s.is_ascii()).map(Cow::Owned).ok_or_else(not_ascii)
}

/// A decimal number of at most `max`; `what` names it in the message.
pub(crate) fn number(raw: &[u8], max: u64, what: &str) -> Result<u64, String> {
    let s = ascii(raw)?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{s}' is not a number ({what})"));
    }
    match s.parse::<u64>() {
        Ok(v) if v <= max => Ok(v),
        _ => Err(format!("{what} '{s}' is over {max}")),
    }
}

pub(crate) fn u8_(raw: &[u8], what: &str) -> Result<u8, String> {
    number(raw, u8::MAX.into(), what).map(|v| v as u8)
}
pub(crate) fn u16_(raw: &[u8], what: &str) -> Result<u16, String> {
    number(raw, u16::MAX.into(), what).map(|v| v as u16)
}
pub(crate) fn u32_(raw: &[u8], what: &str) -> Result<u32, String> {
    number(raw, u32::MAX.into(), what).map(|v| v as u32)
}

/// A TTL or SOA timer: seconds, or units `1w2d3h4m5s` in either case (BIND, Knot, NSD).
/// At most 2^32-1 (RFC 2181 §8 says over 2^31-1 means 0 to a resolver, but we keep the value
/// the file gives; NSD silently loads 0 for 2^32).
pub(crate) fn ttl(raw: &[u8]) -> Result<u32, String> {
    let s = ascii(raw)?;
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return number(raw, u32::MAX.into(), "TTL").map(|v| v as u32);
    }
    let mut total: u64 = 0;
    let mut cur: Option<u64> = None;
    for c in s.bytes() {
        if c.is_ascii_digit() {
            cur = Some(cur.unwrap_or(0).saturating_mul(10).saturating_add(u64::from(c - b'0')));
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            b's' => 1,
            b'm' => 60,
            b'h' => 3600,
            b'd' => 86400,
            b'w' => 604800,
            _ => return Err(format!("'{s}' is not a TTL (unknown unit '{}')", c as char)),
        };
        let n = cur.take().ok_or_else(|| format!("'{s}' is not a TTL (a unit needs a number before it)"))?;
        total = total.saturating_add(n.saturating_mul(unit));
    }
    if cur.is_some() {
        return Err(format!("'{s}' is not a TTL (a number after a unit needs a unit too)"));
    }
    u32::try_from(total).map_err(|_| format!("TTL '{s}' is over 4294967295 seconds"))
}

/// One character-string (RFC 1035 §3.3): the decoded octets, at most 255.
pub(crate) fn char_string(raw: &[u8]) -> Result<Vec<u8>, String> {
    let v = unescape(raw)?;
    if v.len() > 255 {
        return Err(format!(
            "character-string of {} octets: the limit is 255 (split it into several quoted strings)",
            v.len()
        ));
    }
    Ok(v)
}

/// Appends a character-string with its length octet.
pub(crate) fn push_char_string(out: &mut Vec<u8>, raw: &[u8]) -> Result<(), String> {
    let v = char_string(raw)?;
    out.push(v.len() as u8);
    out.extend_from_slice(&v);
    Ok(())
}

/// Hex digits from several tokens joined (white space may split them anywhere).
pub(crate) fn hex(tokens: &[&[u8]]) -> Result<Vec<u8>, String> {
    let mut s = Vec::new();
    for t in tokens {
        s.extend_from_slice(&unescape(t)?);
    }
    if let Some(bad) = s.iter().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("'{}' is not a hex digit", char::from(*bad).escape_default()));
    }
    if s.len() % 2 == 1 {
        return Err(format!("{} hex digits: hex data needs an even number", s.len()));
    }
    Ok(s.chunks(2).map(|p| (hexval(p[0]) << 4) | hexval(p[1])).collect())
}

fn hexval(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// Base64 from several tokens joined (RFC 4034 §2.2: white space is allowed anywhere).
pub(crate) fn base64(tokens: &[&[u8]]) -> Result<Vec<u8>, String> {
    decode_joined(tokens, &BASE64, "Base64")
}

/// Base32hex without padding (RFC 5155 §3.3), letters in either case.
pub(crate) fn base32hex(raw: &[u8]) -> Result<Vec<u8>, String> {
    let up: Vec<u8> = unescape(raw)?.to_ascii_uppercase();
    BASE32HEX_NOPAD.decode(&up).map_err(|e| format!("'{}' is not base32hex: {e}", String::from_utf8_lossy(raw)))
}

fn decode_joined(tokens: &[&[u8]], enc: &Encoding, what: &str) -> Result<Vec<u8>, String> {
    let mut s = Vec::new();
    for t in tokens {
        s.extend_from_slice(&unescape(t)?);
    }
    enc.decode(&s).map_err(|e| format!("not valid {what}: {e}"))
}

/// An RRSIG/SIG time (RFC 4034 §3.2): `YYYYMMDDHHmmSS` in UTC, or seconds since the epoch.
/// The date form is taken modulo 2^32 (serial arithmetic, RFC 4034 §3.1.5).
pub(crate) fn sig_time(raw: &[u8]) -> Result<u32, String> {
    let s = ascii(raw)?;
    if !s.bytes().all(|b| b.is_ascii_digit()) || s.is_empty() {
        return Err(format!("'{s}' is not a time (YYYYMMDDHHmmSS or seconds)"));
    }
    if s.len() != 14 {
        return number(raw, u32::MAX.into(), "time in seconds").map(|v| v as u32);
    }
    let f = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap_or(0);
    let (y, mo, d, h, mi, se) = (f(0, 4), f(4, 6), f(6, 8), f(8, 10), f(10, 12), f(12, 14));
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mdays = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if y < 1970 || !(1..=12).contains(&mo) || d < 1 || d > mdays[(mo - 1) as usize] || h > 23 || mi > 59 || se > 60 {
        return Err(format!("'{s}' is not a valid date and time (YYYYMMDDHHmmSS, from 1970)"));
    }
    Ok((crate::util::clock::days_from_civil(y, mo as u32, d as u32) * 86400 + h * 3600 + mi * 60 + se)
        .rem_euclid(1 << 32) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(unescape(br#"\065\066C"#).unwrap(), b"ABC");
        assert_eq!(unescape(br#"\195\133LAND"#).unwrap(), b"\xC3\x85LAND");
        assert_eq!(unescape(br#"a\"b\\c\;"#).unwrap(), b"a\"b\\c;");
        assert!(unescape(br#"a\256"#).unwrap_err().contains("not an octet"));
        assert!(unescape(br#"\2/i"#).unwrap_err().contains("three digits"));
        assert!(unescape(br#"a\"#).is_err());
    }

    #[test]
    fn ascii_borrows_a_token_without_escapes_and_decodes_one_with() {
        assert!(matches!(ascii(b"192.0.2.1"), Ok(Cow::Borrowed("192.0.2.1"))));
        assert!(matches!(ascii(br#"1\050.0.2.1"#).as_deref(), Ok("12.0.2.1")));
        assert!(matches!(ascii(br#"1\050.0.2.1"#), Ok(Cow::Owned(_))));
        // Not ASCII: refused with or without an escape.
        assert_eq!(ascii("\u{e9}t\u{e9}".as_bytes()).unwrap_err(), "expected ASCII text");
        assert_eq!(ascii(br#"\195\169"#).unwrap_err(), "expected ASCII text");
        assert!(ascii(br#"a\256"#).unwrap_err().contains("not an octet"));
    }

    #[test]
    fn ttls() {
        assert_eq!(ttl(b"300").unwrap(), 300);
        assert_eq!(ttl(b"1h30M").unwrap(), 5400);
        assert_eq!(ttl(b"1W").unwrap(), 604800);
        assert_eq!(ttl(b"4294967295").unwrap(), u32::MAX);
        assert!(ttl(b"4294967296").is_err());
        assert!(ttl(b"1x").unwrap_err().contains("unknown unit"));
        assert!(ttl(b"1h5").is_err());
    }

    #[test]
    fn strings_and_encodings() {
        assert_eq!(char_string(&[b'a'; 255]).unwrap().len(), 255);
        assert!(char_string(&[b'a'; 256]).unwrap_err().contains("256 octets"));
        assert_eq!(hex(&[b"C000", b"02 01".split(|c| *c == b' ').next().unwrap()]).unwrap(), [0xC0, 0, 2]);
        assert!(hex(&[b"0G01"]).is_err());
        assert!(hex(&[b"ABC"]).is_err());
        assert_eq!(base64(&[b"AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BS", b"Gvgqt4AQ=="]).unwrap().len(), 34);
        assert!(base64(&[b"AwEA!Aa5Z"]).is_err());
        assert_eq!(base32hex(b"2vptu5timamqttgl4luu9kg21e0aor3s").unwrap().len(), 20);
    }

    #[test]
    fn times() {
        assert_eq!(sig_time(b"20300101000000").unwrap(), 1893456000);
        assert_eq!(sig_time(b"20200101000000").unwrap(), 1577836800);
        assert_eq!(sig_time(b"1893456000").unwrap(), 1893456000);
        assert!(sig_time(b"20301301000000").is_err());
    }
}
