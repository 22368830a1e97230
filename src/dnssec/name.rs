//! Domain names in uncompressed wire form (RFC 1035 §3.1): a `&[u8]` of length-prefixed labels
//! ending in the root label. Everything the signer consumes and produces is in this form, so the
//! server can pass the bytes it already has, and nothing here allocates except the explicit
//! `*_into`/`to_*` helpers.
//!
//! Case: a length octet is at most 63, below `'A'` (65), so ASCII-lowercasing a whole wire name
//! lowercases its labels and leaves the length octets untouched.
use std::cmp::Ordering;

use super::buf::Bytes;
use super::error::{Error, Result};

/// The most labels a name can have (255 octets: 127 one-octet labels and the root).
pub const MAX_LABELS: usize = 128;
/// The root name.
pub const ROOT: &[u8] = &[0];

/// Checks the name that starts at `buf[at..]` and returns its length in octets. Rejects
/// compression pointers and extended label types (RDATA given to the signer must be uncompressed),
/// labels over 63 octets, names over 255 octets, and names running past the buffer.
pub fn check_at(buf: &[u8], at: usize) -> Result<usize> {
    let mut i = at;
    loop {
        let Some(&len) = buf.get(i) else { return Err(Error::BadName("runs past the end of its buffer")) };
        if len & 0xC0 != 0 {
            return Err(Error::BadName("compressed or extended label"));
        }
        i += 1 + len as usize;
        if i - at > 255 {
            return Err(Error::BadName("longer than 255 octets"));
        }
        if len == 0 {
            return Ok(i - at);
        }
        if i > buf.len() {
            return Err(Error::BadName("runs past the end of its buffer"));
        }
    }
}

/// Checks that `name` is exactly one well-formed wire name.
pub fn check(name: &[u8]) -> Result<()> {
    if check_at(name, 0)? != name.len() {
        return Err(Error::BadName("trailing octets after the root label"));
    }
    Ok(())
}

/// The labels of a (checked) name, leftmost first, without their length octets; the root is not
/// yielded.
pub fn labels(name: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut i = 0;
    std::iter::from_fn(move || {
        let len = *name.get(i)? as usize;
        if len == 0 || len > 63 {
            return None;
        }
        let l = name.get(i + 1..i + 1 + len)?;
        i += 1 + len;
        Some(l)
    })
}

/// Number of labels, not counting the root.
pub fn label_count(name: &[u8]) -> usize {
    labels(name).count()
}

/// The RRSIG Labels field for an owner name (RFC 4034 §3.1.3): the labels not counting the root
/// nor a leading wildcard label `*`.
pub fn rrsig_labels(name: &[u8]) -> u8 {
    let n = label_count(name);
    let wild = is_wildcard(name);
    (n - usize::from(wild)) as u8
}

/// Whether the leftmost label is `*`.
pub fn is_wildcard(name: &[u8]) -> bool {
    name.len() >= 2 && name[0] == 1 && name[1] == b'*'
}

/// The name without its leftmost label (the root stays the root; a malformed name gives `[]`).
pub fn parent(name: &[u8]) -> &[u8] {
    match name.first() {
        Some(&len) if len > 0 => name.get(1 + len as usize..).unwrap_or(&[]),
        _ => name,
    }
}

/// The rightmost `n` labels of `name` (and the root).
pub fn suffix(name: &[u8], n: usize) -> &[u8] {
    let total = label_count(name);
    let mut s = name;
    for _ in n..total {
        s = parent(s);
    }
    s
}

/// Label start offsets into `offsets`, leftmost first; returns how many (the root not counted).
fn offsets(name: &[u8], offsets: &mut [u8; MAX_LABELS]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while let Some(&len) = name.get(i) {
        // Stop at the root, at capacity, and (for an unchecked name) at a label past the end.
        if len == 0 || n == MAX_LABELS || i + 1 + len as usize > name.len() {
            break;
        }
        offsets[n] = i as u8;
        n += 1;
        i += 1 + len as usize;
    }
    n
}

fn label_at(name: &[u8], off: u8) -> &[u8] {
    let off = off as usize;
    let len = name[off] as usize;
    &name[off + 1..off + 1 + len]
}

/// Compares two labels as RFC 4034 §6.1 says: as lowercase octet strings, a shorter prefix first.
pub fn label_cmp(a: &[u8], b: &[u8]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    a.len().cmp(&b.len())
}

/// Canonical DNS name order (RFC 4034 §6.1): compare label by label from the right. No allocation.
pub fn canonical_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let mut oa = [0u8; MAX_LABELS];
    let mut ob = [0u8; MAX_LABELS];
    let na = offsets(a, &mut oa);
    let nb = offsets(b, &mut ob);
    for k in 1..=na.min(nb) {
        match label_cmp(label_at(a, oa[na - k]), label_at(b, ob[nb - k])) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    na.cmp(&nb)
}

/// Equality ignoring ASCII case (RFC 4343: letters only; a length octet is never a letter).
pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Whether `name` is `ancestor` or below it (ignoring case).
pub fn is_at_or_below(name: &[u8], ancestor: &[u8]) -> bool {
    // Strip labels from the left until the rest is no longer than `ancestor`: it then starts on a
    // label boundary of `name`, and is `ancestor` exactly when the two are equal ignoring case.
    let mut s = name;
    while s.len() > ancestor.len() && s.first().is_some_and(|&l| l > 0) {
        s = parent(s);
    }
    eq_ignore_case(s, ancestor)
}

/// Appends the lowercase form of `name` to `out`.
pub fn lowercase_into(name: &[u8], out: &mut Vec<u8>) {
    out.extend(name.iter().map(u8::to_ascii_lowercase));
}

/// The lowercase form of `name`.
pub fn to_lowercase(name: &[u8]) -> Vec<u8> {
    name.to_ascii_lowercase()
}

/// A name being built on the stack (255 octets always fit inline).
pub type NameBuf = Bytes<256>;

/// Appends the lowercase form of `name` to a stack buffer.
pub fn lowercase_onto<const N: usize>(name: &[u8], out: &mut Bytes<N>) {
    for &c in name {
        out.push(c.to_ascii_lowercase());
    }
}

/// Appends one label, lowercased, with its length octet.
pub fn push_label_lower<const N: usize>(out: &mut Bytes<N>, label: &[u8]) {
    out.push(label.len() as u8);
    lowercase_onto(label, out);
}

/// The lowercase wire form of a hickory name, on the stack.
pub fn wire_lower(name: &hickory_proto::rr::Name) -> NameBuf {
    let mut out = NameBuf::new();
    for label in name.iter() {
        push_label_lower(&mut out, label);
    }
    out.push(0);
    out
}

/// Parses a name in presentation form (`www.example.com.`, escapes `\.` and `\DDD`). A name without
/// the final dot is relative to `origin` (an error when there is none). `@` is the origin.
pub fn from_text(text: &str, origin: Option<&[u8]>) -> Result<Vec<u8>> {
    let bad = || Error::BadNameText(text.to_string());
    if text == "@" {
        return origin.map(<[u8]>::to_vec).ok_or_else(bad);
    }
    if text == "." {
        return Ok(ROOT.to_vec());
    }
    let mut out = Vec::with_capacity(text.len() + 2);
    let mut label: Vec<u8> = Vec::with_capacity(63);
    let b = text.as_bytes();
    let mut i = 0;
    let mut absolute = false;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let d = b.get(i + 1..i + 4);
                if let Some(d) = d.filter(|d| d.iter().all(u8::is_ascii_digit)) {
                    let v = (d[0] - b'0') as u32 * 100 + (d[1] - b'0') as u32 * 10 + (d[2] - b'0') as u32;
                    label.push(u8::try_from(v).map_err(|_| bad())?);
                    i += 4;
                } else {
                    label.push(*b.get(i + 1).ok_or_else(bad)?);
                    i += 2;
                }
            }
            b'.' => {
                if label.is_empty() || label.len() > 63 {
                    return Err(bad());
                }
                out.push(label.len() as u8);
                out.extend_from_slice(&label);
                label.clear();
                i += 1;
                if i == b.len() {
                    absolute = true;
                }
            }
            c => {
                label.push(c);
                i += 1;
            }
        }
    }
    if !label.is_empty() {
        if label.len() > 63 {
            return Err(bad());
        }
        out.push(label.len() as u8);
        out.extend_from_slice(&label);
    }
    if absolute {
        out.push(0);
    } else {
        out.extend_from_slice(origin.ok_or_else(bad)?);
    }
    check(&out).map_err(|_| bad())?;
    Ok(out)
}

/// The presentation form, absolute (with the final dot), escaping as BIND does.
pub fn to_text(name: &[u8]) -> String {
    let mut s = String::with_capacity(name.len() + 4);
    for l in labels(name) {
        for &c in l {
            match c {
                b'.' | b';' | b'\\' | b'"' | b'(' | b')' | b'@' | b'$' => {
                    s.push('\\');
                    s.push(c as char);
                }
                0x21..=0x7E => s.push(c as char),
                _ => s.push_str(&format!("\\{c:03}")),
            }
        }
        s.push('.');
    }
    if s.is_empty() {
        s.push('.');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(t: &str) -> Vec<u8> {
        from_text(t, None).unwrap()
    }

    #[test]
    fn text_round_trip_and_escapes() {
        assert_eq!(n("www.Example.com."), b"\x03www\x07Example\x03com\x00");
        assert_eq!(to_text(&n("a\\.b.\\000\\255.example.")), "a\\.b.\\000\\255.example.");
        assert_eq!(from_text("www", Some(&n("example.com."))).unwrap(), n("www.example.com."));
        assert!(from_text("a..b.", None).is_err());
        assert!(from_text(&format!("{}.", "a".repeat(64)), None).is_err());
        assert!(check(b"\x03www\xc0\x0c").is_err());
    }

    #[test]
    fn canonical_order_is_rfc4034_6_1() {
        // The example list of RFC 4034 §6.1, in order.
        let order = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        for w in order.windows(2) {
            assert_eq!(canonical_cmp(&n(w[0]), &n(w[1])), Ordering::Less, "{} < {}", w[0], w[1]);
        }
        assert_eq!(canonical_cmp(&n("A.example."), &n("a.EXAMPLE.")), Ordering::Equal);
    }

    #[test]
    fn labels_and_wildcards() {
        assert_eq!(rrsig_labels(&n("*.a.example.")), 2);
        assert_eq!(rrsig_labels(&n("a.example.")), 2);
        assert_eq!(rrsig_labels(ROOT), 0);
        assert_eq!(suffix(&n("a.b.example."), 1), n("example.").as_slice());
        assert!(is_at_or_below(&n("A.b.example."), &n("B.example.")));
        assert!(!is_at_or_below(&n("ab.example."), &n("b.example.")));
    }
}
