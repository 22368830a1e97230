//! SVCB and HTTPS (RFC 9460): priority, target name, and `key[=value]` parameters.
//!
//! A value may be quoted (`port="1501"`, the quoted part is a separate adjacent token from
//! the lexer). Zone-file escapes are decoded first; list values (alpn, mandatory, hints)
//! are then split on commas, where `\,` and `\\` escape at that second level (RFC 9460
//! Appendix A.1). Parameters go on the wire sorted by key, each key at most once, and every
//! key named in `mandatory` must be present (§8).
use super::{Ctx, Cursor, FieldError, at, ipv4, ipv6};
use crate::zone::master::{name, text};

const KEYS: &[(&str, u16)] = &[
    ("mandatory", 0),
    ("alpn", 1),
    ("no-default-alpn", 2),
    ("port", 3),
    ("ipv4hint", 4),
    ("ech", 5),
    ("ipv6hint", 6),
    ("dohpath", 7),
    ("ohttp", 8),
];

pub(crate) fn parse(cur: &mut Cursor<'_>, ctx: &Ctx<'_>) -> Result<Vec<u8>, FieldError> {
    let t = cur.next("priority")?;
    let mut out = at(t, text::u16_(&t.text, "priority"))?.to_be_bytes().to_vec();
    let t = cur.next("target name")?;
    out.extend_from_slice(&at(t, name::parse(&t.text, ctx.origin))?);
    let toks = cur.rest();
    let mut params: Vec<(u16, Vec<u8>, usize)> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        i += 1;
        if t.quoted {
            return Err(FieldError { line: t.line, msg: format!("expected a parameter key, found \"{}\"", t.show()) });
        }
        let (key_raw, inline) = match t.text.iter().position(|c| *c == b'=') {
            Some(p) => (&t.text[..p], Some(&t.text[p + 1..])),
            None => (&t.text[..], None),
        };
        // `key=` followed directly by a quoted token: that token is the value.
        let value_raw: Option<&[u8]> = match inline {
            Some(v) if v.is_empty() && toks.get(i).is_some_and(|n| n.quoted && n.adjacent) => {
                i += 1;
                Some(&toks[i - 1].text)
            }
            other => other,
        };
        let key = at(t, key_code(key_raw))?;
        let value = match value_raw {
            Some(raw) => Some(at(t, text::unescape(raw))?),
            None => None,
        };
        // RFC 9460 §2.1: a value written as keyNNNNN=... is its wire form as is, whatever
        // the key (Knot does so; NSD 4.6 parses key1=h2 as an alpn list).
        let generic = key_raw.starts_with(b"key");
        let wire = if generic { value.clone().unwrap_or_default() } else { at(t, value_wire(key, value.as_deref()))? };
        if params.iter().any(|(k, _, _)| *k == key) {
            return Err(FieldError { line: t.line, msg: format!("SVCB parameter {} given twice", key_name(key)) });
        }
        params.push((key, wire, t.line));
    }
    params.sort_by_key(|(k, _, _)| *k);
    if let Some((_, mandatory, line)) = params.iter().find(|(k, _, _)| *k == 0) {
        for k in mandatory.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])) {
            if !params.iter().any(|(p, _, _)| *p == k) {
                return Err(FieldError {
                    line: *line,
                    msg: format!("mandatory lists {} but the record does not have it", key_name(k)),
                });
            }
        }
    }
    for (key, wire, line) in &params {
        if wire.len() > usize::from(u16::MAX) {
            return Err(FieldError { line: *line, msg: "SVCB parameter value over 65535 octets".into() });
        }
        out.extend_from_slice(&key.to_be_bytes());
        out.extend_from_slice(&(wire.len() as u16).to_be_bytes());
        out.extend_from_slice(wire);
    }
    Ok(out)
}

fn key_code(raw: &[u8]) -> Result<u16, String> {
    let s = text::ascii(raw)?;
    if let Some((_, k)) = KEYS.iter().find(|(n, _)| *n == s) {
        return Ok(*k);
    }
    match s.strip_prefix("key") {
        Some(d) if !d.is_empty() && d.len() <= 5 && d.bytes().all(|b| b.is_ascii_digit()) => {
            d.parse::<u16>().map_err(|_| format!("'{s}' is not an SVCB key (key0 to key65535)"))
        }
        _ => Err(format!("'{s}' is not an SVCB parameter key")),
    }
}

fn key_name(k: u16) -> String {
    KEYS.iter().find(|(_, c)| *c == k).map(|(n, _)| n.to_string()).unwrap_or_else(|| format!("key{k}"))
}

/// The wire value of one parameter from its (zone-escape-decoded) presentation value.
fn value_wire(key: u16, value: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let need = || format!("{} needs a value", key_name(key));
    match key {
        0 => {
            let mut keys = Vec::new();
            for item in list(value.ok_or_else(need)?)? {
                let k = key_code(&item)?;
                if k == 0 {
                    return Err("mandatory must not list itself".into());
                }
                if keys.contains(&k) {
                    return Err(format!("mandatory lists {} twice", key_name(k)));
                }
                keys.push(k);
            }
            keys.sort_unstable();
            Ok(keys.iter().flat_map(|k| k.to_be_bytes()).collect())
        }
        1 => {
            let mut out = Vec::new();
            for item in list(value.ok_or_else(need)?)? {
                if item.is_empty() || item.len() > 255 {
                    return Err("an alpn id must be 1 to 255 octets".into());
                }
                out.push(item.len() as u8);
                out.extend_from_slice(&item);
            }
            Ok(out)
        }
        2 | 8 => match value {
            None => Ok(Vec::new()),
            Some(_) => Err(format!("{} takes no value", key_name(key))),
        },
        3 => Ok(text::u16_(value.ok_or_else(need)?, "port")?.to_be_bytes().to_vec()),
        4 => {
            let mut out = Vec::new();
            for item in list(value.ok_or_else(need)?)? {
                out.extend_from_slice(&ipv4(&item)?.octets());
            }
            Ok(out)
        }
        5 => text::base64(&[value.ok_or_else(need)?]),
        6 => {
            let mut out = Vec::new();
            for item in list(value.ok_or_else(need)?)? {
                out.extend_from_slice(&ipv6(&item)?.octets());
            }
            Ok(out)
        }
        7 => Ok(value.ok_or_else(need)?.to_vec()),
        _ => Ok(value.unwrap_or_default().to_vec()),
    }
}

/// Splits a value-list on commas; `\,` is a comma and `\\` a backslash inside an item.
fn list(v: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut items = vec![Vec::new()];
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'\\' => {
                let c = *v.get(i + 1).ok_or("a value list ends in '\\'")?;
                items.last_mut().expect("not empty").push(c);
                i += 2;
            }
            b',' => {
                items.push(Vec::new());
                i += 1;
            }
            c => {
                items.last_mut().expect("not empty").push(c);
                i += 1;
            }
        }
    }
    if items.iter().any(Vec::is_empty) {
        return Err("empty item in a comma-separated list".into());
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::super::{Ctx, parse as rdata};
    use crate::zone::master::lexer::split_words;

    fn rd(text: &str) -> Result<Vec<u8>, String> {
        let toks = split_words(text.as_bytes(), 1).unwrap();
        rdata(64, &toks, 1, &Ctx { origin: b"\x07example\x03com\x00" }).map_err(|e| e.msg)
    }

    #[test]
    fn rfc9460_appendix_d_vectors() {
        // D.2 figure 3: port="53" with a quoted value.
        assert_eq!(rd(r#"16 foo.example.com. port="53""#).unwrap()[..4], [0, 16, 3, b'f']);
        // D.2 figure 8/9: alpn with escaped comma and backslash, both spellings.
        let a = rd(r#"16 foo.example.org. alpn="f\\\\oo\\,bar,h2""#).unwrap();
        let b = rd(r#"16 foo.example.org. alpn=f\\\092oo\092,bar,h2"#).unwrap();
        assert_eq!(a, b);
        assert!(a.ends_with(b"\x00\x01\x00\x0c\x08f\\oo,bar\x02h2"));
        // D.2 figure 7: keys sorted on the wire, mandatory sorted.
        let c = rd("16 foo.example.org. alpn=h2,h3-19 mandatory=ipv4hint,alpn ipv4hint=192.0.2.1").unwrap();
        assert!(c.ends_with(
            b"\x00\x00\x00\x04\x00\x01\x00\x04\x00\x01\x00\x09\x02h2\x05h3-19\x00\x04\x00\x04\xc0\x00\x02\x01"
        ));
    }

    #[test]
    fn generic_keys_are_raw() {
        assert!(rd("1 . key1=h2").unwrap().ends_with(b"\x00\x01\x00\x02h2"));
        assert!(rd("1 . alpn=h2").unwrap().ends_with(b"\x00\x01\x00\x03\x02h2"));
        assert!(rd(r#"1 . key65535="" key65000"#).unwrap().ends_with(b"\xfd\xe8\x00\x00\xff\xff\x00\x00"));
    }

    #[test]
    fn errors() {
        assert!(rd("1 . port=99999").unwrap_err().contains("over 65535"));
        assert!(rd("1 . alpn=h2 alpn=h3").unwrap_err().contains("twice"));
        assert!(rd("1 . mandatory=port alpn=h2").unwrap_err().contains("mandatory lists port"));
        assert!(rd("1 . no-default-alpn=x").unwrap_err().contains("no value"));
        assert!(rd("1 . key65536=x").is_err());
        assert!(rd("1 . bogus=1").is_err());
    }
}
