//! RDATA: presentation format to uncompressed wire format, for every type in
//! [`types::TYPES`] and, in RFC 3597 generic form, for any type.
//!
//! The result is the canonical wire RDATA that goes into the zone unchanged: names keep
//! the file's letter case and are never compressed here (the encoder decides what it may
//! compress, RFC 3597 §4).
mod special;
mod svcb;
pub(crate) mod types;

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::zone::master::lexer::Token;
use crate::zone::master::{name, text};
use types::{F, Layout};

/// A problem in the RDATA, at the line of the token that has it.
#[derive(Debug)]
pub(crate) struct FieldError {
    pub line: usize,
    pub msg: String,
}

/// Walks the RDATA tokens of one record.
pub(crate) struct Cursor<'a> {
    toks: &'a [Token],
    pos: usize,
    /// The line of the record's last token: where a missing field is noticed.
    end_line: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(toks: &'a [Token], end_line: usize) -> Cursor<'a> {
        Cursor { toks, pos: 0, end_line }
    }
    /// The next token; `what` names the missing field in the error.
    pub fn next(&mut self, what: &str) -> Result<&'a Token, FieldError> {
        let t = self.toks.get(self.pos).ok_or_else(|| self.missing(what))?;
        self.pos += 1;
        Ok(t)
    }
    pub fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.pos)
    }
    /// All tokens left.
    pub fn rest(&mut self) -> &'a [Token] {
        let r = &self.toks[self.pos.min(self.toks.len())..];
        self.pos = self.toks.len();
        r
    }
    pub fn missing(&self, what: &str) -> FieldError {
        FieldError { line: self.end_line, msg: format!("{what} missing") }
    }
    /// An error unless every token was used.
    pub fn finish(&self) -> Result<(), FieldError> {
        match self.toks.get(self.pos) {
            None => Ok(()),
            Some(t) => {
                let extra: Vec<String> = self.toks[self.pos..].iter().map(Token::show).collect();
                Err(FieldError { line: t.line, msg: format!("trailing data after the record: '{}'", extra.join(" ")) })
            }
        }
    }
}

/// Attaches the token's line to a message.
pub(crate) fn at<T>(t: &Token, r: Result<T, String>) -> Result<T, FieldError> {
    r.map_err(|msg| FieldError { line: t.line, msg })
}

/// What RDATA parsing needs from the loader.
pub(crate) struct Ctx<'a> {
    /// The origin in force, wire form (relative names in RDATA end in it).
    pub origin: &'a [u8],
}

/// Parses the RDATA tokens of a record of type `rtype`.
pub(crate) fn parse(rtype: u16, toks: &[Token], end_line: usize, ctx: &Ctx<'_>) -> Result<Vec<u8>, FieldError> {
    let mut cur = Cursor::new(toks, end_line);
    if toks.first().is_some_and(|t| !t.quoted && t.text == b"\\#") {
        cur.next("\\#")?;
        return generic(&mut cur);
    }
    let Some(info) = types::info(rtype) else {
        return Err(FieldError {
            line: toks.first().map(|t| t.line).unwrap_or(end_line),
            msg: format!(
                "{} has no presentation format: write it as \\# LENGTH HEX (RFC 3597)",
                types::type_name(rtype)
            ),
        });
    };
    let out = match info.layout {
        Layout::Fields(fields) => {
            let mut out = Vec::with_capacity(32);
            for f in fields {
                field(*f, &mut cur, ctx, &mut out)?;
            }
            out
        }
        Layout::GenericOnly => {
            return Err(FieldError {
                line: toks.first().map(|t| t.line).unwrap_or(end_line),
                msg: format!("{} can only be written as \\# LENGTH HEX (RFC 3597)", info.name),
            });
        }
        Layout::Special => match rtype {
            64 | 65 => svcb::parse(&mut cur, ctx)?,
            _ => special::parse(rtype, &mut cur, ctx)?,
        },
    };
    cur.finish()?;
    if out.len() > usize::from(u16::MAX) {
        return Err(FieldError { line: end_line, msg: format!("RDATA of {} octets: the limit is 65535", out.len()) });
    }
    Ok(out)
}

/// RFC 3597 §5: `\# LENGTH HEX...`; the hex must be exactly LENGTH octets.
fn generic(cur: &mut Cursor<'_>) -> Result<Vec<u8>, FieldError> {
    let len_tok = cur.next("RFC 3597 RDATA length")?;
    let len = at(len_tok, text::u16_(&len_tok.text, "RFC 3597 RDATA length"))?;
    let rest = cur.rest();
    let raw: Vec<&[u8]> = rest.iter().map(|t| t.text.as_slice()).collect();
    let last = rest.last().unwrap_or(len_tok);
    let data = at(last, text::hex(&raw))?;
    if data.len() != usize::from(len) {
        return Err(FieldError {
            line: last.line,
            msg: format!("RFC 3597 data is {} octets but its length says {len}", data.len()),
        });
    }
    Ok(data)
}

/// Parses one field of a fixed layout and appends its wire form.
fn field(f: F, cur: &mut Cursor<'_>, ctx: &Ctx<'_>, out: &mut Vec<u8>) -> Result<(), FieldError> {
    match f {
        F::Name => {
            let t = cur.next("domain name")?;
            out.extend_from_slice(&at(t, name::parse(&t.text, ctx.origin))?);
        }
        F::U8 => {
            let t = cur.next("8-bit number")?;
            out.push(at(t, text::u8_(&t.text, "8-bit field"))?);
        }
        F::U16 => {
            let t = cur.next("16-bit number")?;
            out.extend_from_slice(&at(t, text::u16_(&t.text, "16-bit field"))?.to_be_bytes());
        }
        F::U32 => {
            let t = cur.next("32-bit number")?;
            out.extend_from_slice(&at(t, text::u32_(&t.text, "32-bit field"))?.to_be_bytes());
        }
        F::Ttl => {
            let t = cur.next("time value")?;
            out.extend_from_slice(&at(t, text::ttl(&t.text))?.to_be_bytes());
        }
        F::Ipv4 => {
            let t = cur.next("IPv4 address")?;
            out.extend_from_slice(&at(t, ipv4(&t.text))?.octets());
        }
        F::Ipv6 => {
            let t = cur.next("IPv6 address")?;
            out.extend_from_slice(&at(t, ipv6(&t.text))?.octets());
        }
        F::Str => {
            let t = cur.next("character-string")?;
            at(t, text::push_char_string(out, &t.text))?;
        }
        F::OptStr => {
            if let Some(t) = cur.peek() {
                cur.next("character-string")?;
                at(t, text::push_char_string(out, &t.text))?;
            }
        }
        F::Strs => {
            let toks = cur.rest();
            if toks.is_empty() {
                return Err(cur.missing("character-string"));
            }
            for t in toks {
                at(t, text::push_char_string(out, &t.text))?;
            }
        }
        F::Alg => {
            let t = cur.next("algorithm")?;
            out.push(at(t, mnemonic_u8(&t.text, types::ALGORITHMS, "algorithm"))?);
        }
        F::Type => {
            let t = cur.next("record type")?;
            out.extend_from_slice(&at(t, rtype(&t.text))?.to_be_bytes());
        }
        F::Time => {
            let t = cur.next("time")?;
            out.extend_from_slice(&at(t, text::sig_time(&t.text))?.to_be_bytes());
        }
        F::B64 => {
            let toks = cur.rest();
            if toks.is_empty() {
                return Err(cur.missing("Base64 data"));
            }
            let raw: Vec<&[u8]> = toks.iter().map(|t| t.text.as_slice()).collect();
            out.extend_from_slice(&at(&toks[0], text::base64(&raw))?);
        }
        F::Hex => {
            let toks = cur.rest();
            if toks.is_empty() {
                return Err(cur.missing("hex data"));
            }
            let raw: Vec<&[u8]> = toks.iter().map(|t| t.text.as_slice()).collect();
            out.extend_from_slice(&at(&toks[0], text::hex(&raw))?);
        }
        F::Salt => {
            let t = cur.next("salt")?;
            let salt = if t.text == b"-" { Vec::new() } else { at(t, text::hex(&[&t.text]))? };
            if salt.len() > 255 {
                return Err(FieldError { line: t.line, msg: "salt over 255 octets".into() });
            }
            out.push(salt.len() as u8);
            out.extend_from_slice(&salt);
        }
        F::B32 => {
            let t = cur.next("next hashed owner name")?;
            let h = at(t, text::base32hex(&t.text))?;
            if h.is_empty() || h.len() > 255 {
                return Err(FieldError { line: t.line, msg: "next hashed owner name must be 1 to 255 octets".into() });
            }
            out.push(h.len() as u8);
            out.extend_from_slice(&h);
        }
        F::Bitmap => {
            let toks = cur.rest();
            let mut codes = Vec::with_capacity(toks.len());
            for t in toks {
                codes.push(at(t, rtype(&t.text))?);
            }
            out.extend_from_slice(&type_bitmap(&codes));
        }
        F::Eui48 | F::Eui64 => {
            let t = cur.next("EUI address")?;
            let n = if f == F::Eui48 { 6 } else { 8 };
            out.extend_from_slice(&at(t, special::eui(&t.text, n))?);
        }
        F::Ilnp64 => {
            let t = cur.next("64-bit locator")?;
            out.extend_from_slice(&at(t, special::ilnp64(&t.text))?);
        }
        F::CertType => {
            let t = cur.next("certificate type")?;
            let s = at(t, text::ascii(&t.text))?;
            let v = match types::CERT_TYPES.iter().find(|(n, _)| n.eq_ignore_ascii_case(&s)) {
                Some((_, v)) => *v,
                None => at(t, text::u16_(&t.text, "certificate type"))?,
            };
            out.extend_from_slice(&v.to_be_bytes());
        }
        F::RawStr => {
            let t = cur.next("target")?;
            out.extend_from_slice(&at(t, text::unescape(&t.text))?);
        }
    }
    Ok(())
}

/// A number, or one of the given mnemonics (case-insensitive).
pub(crate) fn mnemonic_u8(raw: &[u8], table: &[(&str, u8)], what: &str) -> Result<u8, String> {
    let s = text::ascii(raw)?;
    if let Some((_, v)) = table.iter().find(|(n, _)| n.eq_ignore_ascii_case(&s)) {
        return Ok(*v);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return text::u8_(raw, what);
    }
    Err(format!("'{s}' is not a known {what}"))
}

/// A record type mnemonic or TYPEnnn.
pub(crate) fn rtype(raw: &[u8]) -> Result<u16, String> {
    let s = text::ascii(raw)?;
    types::type_code(&s).ok_or_else(|| format!("'{s}' is not a record type"))
}

/// An IPv4 address in dotted-quad form, no leading zeros (as Knot, NSD and BIND read it).
pub(crate) fn ipv4(raw: &[u8]) -> Result<Ipv4Addr, String> {
    let s = text::ascii(raw)?;
    s.parse().map_err(|_| format!("'{s}' is not an IPv4 address"))
}

pub(crate) fn ipv6(raw: &[u8]) -> Result<Ipv6Addr, String> {
    let s = text::ascii(raw)?;
    s.parse().map_err(|_| format!("'{s}' is not an IPv6 address"))
}

/// The RFC 4034 §4.1.2 type bitmap of a set of types (windows of 256, trailing zero octets
/// dropped). Duplicates and order do not matter.
pub(crate) fn type_bitmap(codes: &[u16]) -> Vec<u8> {
    let mut sorted = codes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let window = (sorted[i] >> 8) as u8;
        let mut bits = [0u8; 32];
        let mut len = 0;
        while i < sorted.len() && (sorted[i] >> 8) as u8 == window {
            let low = (sorted[i] & 0xff) as usize;
            bits[low / 8] |= 0x80 >> (low % 8);
            len = low / 8 + 1;
            i += 1;
        }
        out.push(window);
        out.push(len as u8);
        out.extend_from_slice(&bits[..len]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::master::lexer::split_words;

    const ORIGIN: &[u8] = b"\x07example\x03com\x00";

    fn rd(rtype: &str, text: &str) -> Result<Vec<u8>, String> {
        let toks = split_words(text.as_bytes(), 1).unwrap();
        let code = types::type_code(rtype).unwrap();
        parse(code, &toks, 1, &Ctx { origin: ORIGIN }).map_err(|e| e.msg)
    }

    #[test]
    fn generic_for_known_and_unknown() {
        assert_eq!(rd("TYPE65534", r"\# 4 C0000201").unwrap(), [0xC0, 0, 2, 1]);
        assert_eq!(rd("A", r"\# 4 C000 0202").unwrap(), [0xC0, 0, 2, 2]);
        assert_eq!(rd("TYPE65280", r"\# 0").unwrap(), b"");
        assert!(rd("TYPE65534", r"\# 4 C00002").unwrap_err().contains("3 octets"));
        assert!(rd("TYPE65534", "192.0.2.1").unwrap_err().contains("RFC 3597"));
        assert!(rd("NULL", "abc").unwrap_err().contains("RFC 3597"));
    }

    #[test]
    fn fixed_layouts() {
        assert_eq!(rd("A", "192.0.2.1").unwrap(), [192, 0, 2, 1]);
        assert!(rd("A", "01.2.3.4").is_err());
        assert_eq!(rd("MX", "10 @").unwrap(), [&[0u8, 10][..], ORIGIN].concat());
        assert_eq!(rd("TXT", r#""\065\066C""#).unwrap(), b"\x03ABC");
        assert_eq!(rd("TXT", r#""" b"#).unwrap(), b"\x00\x01b");
        assert!(rd("TXT", "").unwrap_err().contains("missing"));
        assert!(rd("A", "192.0.2.1 junk").unwrap_err().contains("trailing data after the record: 'junk'"));
        assert_eq!(rd("DNSKEY", "256 3 RSASHA256 AwEAAQ==").unwrap(), [1, 0, 3, 8, 3, 1, 0, 1]);
        assert_eq!(rd("NSEC3PARAM", "1 0 0 -").unwrap(), [1, 0, 0, 0, 0]);
        assert_eq!(rd("URI", r#"10 1 "ftp://x/""#).unwrap(), b"\x00\x0a\x00\x01ftp://x/");
        assert_eq!(rd("CERT", "PGP 0 0 AQID").unwrap(), [0, 3, 0, 0, 0, 1, 2, 3]);
    }

    #[test]
    fn bitmaps() {
        assert_eq!(type_bitmap(&[1, 46, 47]), [0, 6, 0x40, 0, 0, 0, 0, 0x03]);
        assert_eq!(
            type_bitmap(&[65534]),
            [
                255, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0x02
            ]
        );
        assert_eq!(type_bitmap(&[]), b"");
        assert!(rd("NSEC", "a.example. A FOO").unwrap_err().contains("'FOO' is not a record type"));
    }
}
