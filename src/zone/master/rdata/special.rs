//! Types whose presentation format is more than a list of fields: WKS, NSAP, LOC, NXT,
//! APL, IPSECKEY and CAA, and the EUI and ILNP address forms.
use super::{Ctx, Cursor, FieldError, at, ipv4, ipv6, rtype};
use crate::zone::master::{name, text};

pub(crate) fn parse(rtype: u16, cur: &mut Cursor<'_>, ctx: &Ctx<'_>) -> Result<Vec<u8>, FieldError> {
    match rtype {
        11 => wks(cur),
        22 => nsap(cur),
        29 => loc(cur),
        30 => nxt(cur, ctx),
        42 => apl(cur),
        45 => ipseckey(cur, ctx),
        257 => caa(cur),
        _ => unreachable!("no special parser for type {rtype}"),
    }
}

/// Well-known service names for WKS (IANA port numbers; NSD asks getservbyname()).
const SERVICES: &[(&str, u16)] = &[
    ("echo", 7),
    ("discard", 9),
    ("daytime", 13),
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("time", 37),
    ("domain", 53),
    ("tftp", 69),
    ("gopher", 70),
    ("finger", 79),
    ("http", 80),
    ("kerberos", 88),
    ("pop3", 110),
    ("sunrpc", 111),
    ("nntp", 119),
    ("ntp", 123),
    ("imap", 143),
    ("snmp", 161),
    ("snmp-trap", 162),
    ("ldap", 389),
    ("https", 443),
];

/// WKS (RFC 1035 §3.4.2): address, protocol, then services as a bitmap of ports.
fn wks(cur: &mut Cursor<'_>) -> Result<Vec<u8>, FieldError> {
    let t = cur.next("IPv4 address")?;
    let mut out = at(t, ipv4(&t.text))?.octets().to_vec();
    let t = cur.next("protocol")?;
    let p = at(t, text::ascii(&t.text))?.to_ascii_lowercase();
    let proto = match p.as_str() {
        "tcp" => 6,
        "udp" => 17,
        _ => at(t, text::u8_(&t.text, "protocol"))?,
    };
    out.push(proto);
    let mut bits: Vec<u8> = Vec::new();
    for t in cur.rest() {
        let s = at(t, text::ascii(&t.text))?.to_ascii_lowercase();
        let port = match SERVICES.iter().find(|(n, _)| *n == s) {
            Some((_, p)) => *p,
            None => at(t, text::u16_(&t.text, "port"))?,
        };
        let byte = usize::from(port / 8);
        if bits.len() <= byte {
            bits.resize(byte + 1, 0);
        }
        bits[byte] |= 0x80 >> (port % 8);
    }
    out.extend_from_slice(&bits);
    Ok(out)
}

/// NSAP (RFC 1706): `0x` then hex digits, dots allowed anywhere after the prefix.
fn nsap(cur: &mut Cursor<'_>) -> Result<Vec<u8>, FieldError> {
    let t = cur.next("NSAP address")?;
    let s = at(t, text::ascii(&t.text))?;
    let Some(digits) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) else {
        return Err(FieldError { line: t.line, msg: format!("'{s}' is not an NSAP address (0x...)") });
    };
    let hex: Vec<u8> = digits.bytes().filter(|c| *c != b'.').collect();
    at(t, text::hex(&[&hex]))
}

/// NXT (RFC 2535 §5.2): next name, then a bitmap of the types below 128.
fn nxt(cur: &mut Cursor<'_>, ctx: &Ctx<'_>) -> Result<Vec<u8>, FieldError> {
    let t = cur.next("next domain name")?;
    let mut out = at(t, name::parse(&t.text, ctx.origin))?;
    let mut bits: Vec<u8> = Vec::new();
    for t in cur.rest() {
        let code = at(t, rtype(&t.text))?;
        if code >= 128 {
            return Err(FieldError {
                line: t.line,
                msg: format!("NXT cannot list type {code} (only types below 128)"),
            });
        }
        let byte = usize::from(code / 8);
        if bits.len() <= byte {
            bits.resize(byte + 1, 0);
        }
        bits[byte] |= 0x80 >> (code % 8);
    }
    out.extend_from_slice(&bits);
    Ok(out)
}

/// APL (RFC 3123): items `[!]afi:address/prefix`; the address is cut after its last
/// non-zero octet.
fn apl(cur: &mut Cursor<'_>) -> Result<Vec<u8>, FieldError> {
    let mut out = Vec::new();
    for t in cur.rest() {
        let s = at(t, text::ascii(&t.text))?;
        let bad = |why: &str| FieldError { line: t.line, msg: format!("'{s}' is not an APL item: {why}") };
        let (neg, item) = match s.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, &*s),
        };
        let (afi, rest) = item.split_once(':').ok_or_else(|| bad("expected [!]family:address/prefix"))?;
        let (addr, prefix) = rest.rsplit_once('/').ok_or_else(|| bad("no /prefix"))?;
        let prefix: u8 = prefix.parse().map_err(|_| bad("bad prefix length"))?;
        let (family, mut bytes, max) = match afi {
            "1" => {
                (1u16, addr.parse::<std::net::Ipv4Addr>().map_err(|_| bad("bad IPv4 address"))?.octets().to_vec(), 32)
            }
            "2" => {
                (2u16, addr.parse::<std::net::Ipv6Addr>().map_err(|_| bad("bad IPv6 address"))?.octets().to_vec(), 128)
            }
            _ => return Err(bad("the address family must be 1 (IPv4) or 2 (IPv6)")),
        };
        if prefix > max {
            return Err(bad("prefix longer than the address"));
        }
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        out.extend_from_slice(&family.to_be_bytes());
        out.push(prefix);
        out.push(bytes.len() as u8 | if neg { 0x80 } else { 0 });
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

/// IPSECKEY (RFC 4025): precedence, gateway type, algorithm, gateway, optional key.
fn ipseckey(cur: &mut Cursor<'_>, ctx: &Ctx<'_>) -> Result<Vec<u8>, FieldError> {
    let mut out = Vec::new();
    let t = cur.next("precedence")?;
    out.push(at(t, text::u8_(&t.text, "precedence"))?);
    let t = cur.next("gateway type")?;
    let gtype = at(t, text::u8_(&t.text, "gateway type"))?;
    out.push(gtype);
    let t = cur.next("algorithm")?;
    out.push(at(t, text::u8_(&t.text, "algorithm"))?);
    let g = cur.next("gateway")?;
    match gtype {
        0 if g.text == b"." => {}
        0 => return Err(FieldError { line: g.line, msg: "gateway type 0 needs '.' as the gateway".into() }),
        1 => out.extend_from_slice(&at(g, ipv4(&g.text))?.octets()),
        2 => out.extend_from_slice(&at(g, ipv6(&g.text))?.octets()),
        3 => out.extend_from_slice(&at(g, name::parse(&g.text, ctx.origin))?),
        _ => return Err(FieldError { line: t.line, msg: format!("gateway type {gtype} is not 0, 1, 2 or 3") }),
    }
    let rest = cur.rest();
    if !rest.is_empty() {
        let raw: Vec<&[u8]> = rest.iter().map(|t| t.text.as_slice()).collect();
        out.extend_from_slice(&at(&rest[0], text::base64(&raw))?);
    }
    Ok(out)
}

/// CAA (RFC 8659 §4.1): flags, tag (letters and digits), value (the rest, as octets).
fn caa(cur: &mut Cursor<'_>) -> Result<Vec<u8>, FieldError> {
    let t = cur.next("flags")?;
    let mut out = vec![at(t, text::u8_(&t.text, "flags"))?];
    let t = cur.next("tag")?;
    let tag = at(t, text::unescape(&t.text))?;
    if tag.is_empty() || tag.len() > 255 || !tag.iter().all(u8::is_ascii_alphanumeric) {
        return Err(FieldError {
            line: t.line,
            msg: format!("CAA tag '{}' must be 1 to 255 letters and digits (RFC 8659 §4.1)", t.show()),
        });
    }
    out.push(tag.len() as u8);
    out.extend_from_slice(&tag);
    let t = cur.next("value")?;
    out.extend_from_slice(&at(t, text::unescape(&t.text))?);
    Ok(out)
}

/// LOC altitude bounds in centimeters: -100000.00 m to 42849672.95 m (RFC 1876 §3).
const ALT_MIN_CM: i64 = -10_000_000;
const ALT_MAX_CM: i64 = 4_284_967_295;
/// The largest size or precision, 90000000.00 m, in centimeters.
const PREC_MAX_CM: i64 = 9_000_000_000;

/// LOC (RFC 1876 §3): `d [m [s]] N|S d [m [s]] E|W alt[m] [size[m] [hp[m] [vp[m]]]]`.
fn loc(cur: &mut Cursor<'_>) -> Result<Vec<u8>, FieldError> {
    let lat = angle(cur, b"NS", 90)?;
    let lon = angle(cur, b"EW", 180)?;
    let t = cur.next("altitude")?;
    let alt = at(t, meters(&t.text, ALT_MIN_CM, ALT_MAX_CM))?;
    let mut prec = [100i64, 1_000_000, 1_000]; // size 1m, horizontal 10000m, vertical 10m
    for p in prec.iter_mut() {
        let Some(t) = cur.peek() else { break };
        cur.next("precision")?;
        *p = at(t, meters(&t.text, 0, PREC_MAX_CM))?;
    }
    let mut out = vec![0u8];
    out.extend(prec.iter().map(|cm| precision(*cm)));
    out.extend_from_slice(&lat.to_be_bytes());
    out.extend_from_slice(&lon.to_be_bytes());
    out.extend_from_slice(&((alt - ALT_MIN_CM) as u32).to_be_bytes());
    Ok(out)
}

/// Degrees, optional minutes and seconds, then a hemisphere letter; in thousandths of an
/// arc second offset by 2^31 (RFC 1876).
fn angle(cur: &mut Cursor<'_>, hemis: &[u8; 2], max_deg: u32) -> Result<u32, FieldError> {
    let t = cur.next("degrees")?;
    let deg = at(t, text::u32_(&t.text, "degrees"))?;
    let mut parts = [0u32; 2]; // minutes, milliseconds
    let mut n = 0;
    let hemi = loop {
        let t = cur.next("hemisphere")?;
        if t.text.len() == 1 && hemis.contains(&t.text[0].to_ascii_uppercase()) {
            break (t, t.text[0].to_ascii_uppercase());
        }
        if n == 2 {
            return Err(FieldError {
                line: t.line,
                msg: format!("expected {} or {}", hemis[0] as char, hemis[1] as char),
            });
        }
        parts[n] = if n == 0 { at(t, text::u32_(&t.text, "minutes"))? } else { at(t, seconds(&t.text))? };
        n += 1;
    };
    let (t, h) = hemi;
    if deg > max_deg || parts[0] > 59 || parts[1] > 59_999 || (deg == max_deg && (parts[0] | parts[1]) != 0) {
        return Err(FieldError {
            line: t.line,
            msg: format!("position out of range (at most {max_deg} degrees, minutes and seconds under 60)"),
        });
    }
    let v = (deg * 3600 + parts[0] * 60) * 1000 + parts[1];
    Ok(if h == hemis[0] { (1u32 << 31) + v } else { (1u32 << 31) - v })
}

/// Seconds with up to three decimals, as milliseconds.
fn seconds(raw: &[u8]) -> Result<u32, String> {
    let s = text::ascii(raw)?;
    let v = decimal(&s, 3).ok_or_else(|| format!("'{s}' is not a number of seconds"))?;
    u32::try_from(v).map_err(|_| format!("'{s}' seconds is too large"))
}

/// Meters with up to two decimals and an optional `m`, in centimeters, within bounds.
fn meters(raw: &[u8], min: i64, max: i64) -> Result<i64, String> {
    let s = text::ascii(raw)?;
    let body = s.strip_suffix('m').or_else(|| s.strip_suffix('M')).unwrap_or(&s);
    let (neg, body) = match body.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, body),
    };
    let v = decimal(body, 2).ok_or_else(|| format!("'{s}' is not a distance in meters"))?;
    let v = if neg { -v } else { v };
    if v < min || v > max {
        return Err(format!("'{s}' is out of range"));
    }
    Ok(v)
}

/// A decimal with at most `places` fraction digits, scaled to an integer.
fn decimal(s: &str, places: u32) -> Option<i64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > places as usize || int.len() > 12 {
        return None;
    }
    let mut v: i64 = int.parse().ok()?;
    for i in 0..places as usize {
        v = v * 10 + frac.as_bytes().get(i).map_or(0, |d| i64::from(d - b'0'));
    }
    Some(v)
}

/// RFC 1876 size/precision encoding: mantissa (high nibble) times 10^exponent (low nibble)
/// centimeters, the mantissa truncated (RFC 1876 Appendix A, `precsize_aton`).
fn precision(cm: i64) -> u8 {
    let mut exp = 0u32;
    while exp < 9 && cm >= 10i64.pow(exp + 1) {
        exp += 1;
    }
    let mantissa = (cm / 10i64.pow(exp)).min(9) as u8;
    (mantissa << 4) | exp as u8
}

/// EUI-48 or EUI-64 (RFC 7043 §3.2/§4.2): `n` pairs of hex digits joined by `-`.
pub(crate) fn eui(raw: &[u8], n: usize) -> Result<Vec<u8>, String> {
    let s = text::ascii(raw)?;
    let parts: Vec<&str> = s.split('-').collect();
    if parts.len() != n || parts.iter().any(|p| p.len() != 2) {
        return Err(format!("'{s}' is not an EUI-{} address ({n} hex pairs separated by '-')", n * 8));
    }
    text::hex(&[parts.concat().as_bytes()])
}

/// A 64-bit ILNP value (RFC 6742 §2.3): four groups of 1-4 hex digits separated by `:`.
pub(crate) fn ilnp64(raw: &[u8]) -> Result<Vec<u8>, String> {
    let s = text::ascii(raw)?;
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || format!("'{s}' is not a 64-bit locator (four hex groups separated by ':')");
    if parts.len() != 4 {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(8);
    for p in parts {
        if p.is_empty() || p.len() > 4 {
            return Err(bad());
        }
        out.extend_from_slice(&u16::from_str_radix(p, 16).map_err(|_| bad())?.to_be_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loc_encoding() {
        assert_eq!(precision(100), 0x12);
        assert_eq!(precision(1_000_000), 0x16);
        assert_eq!(precision(1_000), 0x13);
        assert_eq!(precision(150), 0x12);
        assert_eq!(precision(0), 0x00);
        assert_eq!(precision(PREC_MAX_CM), 0x99);
        assert_eq!(decimal("23.5", 3), Some(23500));
        assert_eq!(decimal("23.0001", 3), None);
    }

    #[test]
    fn addresses() {
        assert_eq!(eui(b"00-00-5e-00-53-2a", 6).unwrap(), [0, 0, 0x5e, 0, 0x53, 0x2a]);
        assert!(eui(b"00-00-5e-00-53", 6).is_err());
        assert_eq!(ilnp64(b"0014:4fff:ff20:ee64").unwrap(), [0, 0x14, 0x4f, 0xff, 0xff, 0x20, 0xee, 0x64]);
    }
}
