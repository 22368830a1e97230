//! BIND's `$GENERATE start-stop[/step] lhs [ttl] [class] type rhs`.
//!
//! `lhs` and `rhs` are single tokens (BIND reads exactly one token for each; quote the
//! RDATA when it has several fields). In both, `$` is the iterator, `${offset[,width[,base]]}`
//! formats it (bases d, o, x, X, n and N; n/N write reversed nibbles separated by dots, as
//! for ip6.arpa), `$$` is a literal `$`, and `\$` stays `\$` for the zone-file parser to
//! read as `$`. The substituted rhs is then split into fields as a record's RDATA is.
//! Knot 3.2 and NSD 4.6 do not read `$GENERATE`; the semantics here are BIND 9.18's,
//! checked against `named-compilezone`.

/// A parsed range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    pub start: u32,
    pub stop: u32,
    pub step: u32,
}

impl Range {
    pub fn values(self) -> impl Iterator<Item = u32> {
        (self.start..=self.stop).step_by(self.step as usize)
    }
    pub fn count(self) -> u64 {
        u64::from(self.stop - self.start) / u64::from(self.step) + 1
    }
}

/// `start-stop` or `start-stop/step`.
pub(crate) fn range(s: &str) -> Result<Range, String> {
    let bad = || format!("'{s}' is not a $GENERATE range (start-stop or start-stop/step)");
    let (span, step) = match s.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().map_err(|_| bad())?),
        None => (s, 1),
    };
    let (a, b) = span.split_once('-').ok_or_else(bad)?;
    let start: u32 = a.parse().map_err(|_| bad())?;
    let stop: u32 = b.parse().map_err(|_| bad())?;
    if start > stop {
        return Err(format!("$GENERATE range '{s}' runs backwards"));
    }
    if step == 0 {
        return Err(format!("$GENERATE range '{s}' has step 0"));
    }
    Ok(Range { start, stop, step })
}

/// Substitutes the iterator value `i` into a raw template.
pub(crate) fn substitute(raw: &[u8], i: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(raw.len() + 8);
    let mut k = 0;
    while k < raw.len() {
        match raw[k] {
            b'\\' => {
                out.push(b'\\');
                if let Some(&c) = raw.get(k + 1) {
                    out.push(c);
                }
                k += 2;
            }
            b'$' if raw.get(k + 1) == Some(&b'$') => {
                out.push(b'$');
                k += 2;
            }
            b'$' if raw.get(k + 1) == Some(&b'{') => {
                let end = raw[k..].iter().position(|c| *c == b'}').ok_or("'${' without a closing '}'")? + k;
                let spec = std::str::from_utf8(&raw[k + 2..end]).map_err(|_| "bad ${...} modifier")?;
                out.extend_from_slice(format(i, spec)?.as_bytes());
                k = end + 1;
            }
            b'$' => {
                out.extend_from_slice(i.to_string().as_bytes());
                k += 1;
            }
            c => {
                out.push(c);
                k += 1;
            }
        }
    }
    Ok(out)
}

/// Formats `i` by a `${offset,width,base}` modifier (all parts optional after the first).
fn format(i: u32, spec: &str) -> Result<String, String> {
    let bad =
        || format!("'${{{spec}}}' is not a $GENERATE modifier (${{offset[,width[,base]]}}, base d, o, x, X, n or N)");
    let mut parts = spec.split(',');
    let offset: i64 = match parts.next() {
        Some(o) if !o.is_empty() => o.strip_prefix('+').unwrap_or(o).parse().map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    let width: usize = match parts.next() {
        Some(w) => w.parse().map_err(|_| bad())?,
        None => 0,
    };
    let base = match parts.next() {
        Some(b) if b.len() == 1 => b.as_bytes()[0],
        Some(_) => return Err(bad()),
        None => b'd',
    };
    if parts.next().is_some() || width > 255 {
        return Err(bad());
    }
    let v = i64::from(i).checked_add(offset).ok_or_else(bad)?;
    // BIND formats a C int; the unsigned bases show a negative value in two's complement.
    let u = v as i32 as u32;
    Ok(match base {
        b'd' => format!("{v:0width$}"),
        b'o' => format!("{u:0width$o}"),
        b'x' => format!("{u:0width$x}"),
        b'X' => format!("{u:0width$X}"),
        b'n' | b'N' => nibbles(u, width, base == b'N'),
        _ => return Err(bad()),
    })
}

/// Reversed nibbles joined by dots; `width` counts characters, dots included, and pads with
/// `0` nibbles (`${0,3,n}` of 1 is `1.0`; of 255 with width 0 is `f.f`).
fn nibbles(mut v: u32, mut width: usize, upper: bool) -> String {
    let digits: &[u8; 16] = if upper { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
    let mut s = String::new();
    loop {
        s.push(digits[(v & 0xf) as usize] as char);
        v >>= 4;
        width = width.saturating_sub(1);
        if width > 0 || v != 0 {
            s.push('.');
            width = width.saturating_sub(1);
        }
        if v == 0 && width == 0 {
            return s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(t: &str, i: u32) -> String {
        String::from_utf8(substitute(t.as_bytes(), i).unwrap()).unwrap()
    }

    #[test]
    fn modifiers_match_named_compilezone() {
        assert_eq!(sub("host$", 10), "host10");
        assert_eq!(sub("pad${0,3,d}", 1), "pad001");
        assert_eq!(sub("${0,4,x}|${10,2,X}|${0,0,o}", 2), "0002|0C|2");
        assert_eq!(sub("${-300,2,d}|${+5}|${0,0}", 250), "-50|255|250");
        assert_eq!(sub("${0,0,n}|${0,2,n}|${0,3,n}|${0,4,n}|${0,5,N}", 1), "1|1.|1.0|1.0.|1.0.0");
        assert_eq!(sub("${254,0,n}|${254,4,n}|${254,5,n}", 1), "f.f|f.f.|f.f.0");
        assert_eq!(sub("${9,3,N}", 1), "A.0");
        assert_eq!(sub("dollar\\$$ {}$$", 1), "dollar\\$1 {}$");
        assert!(substitute(b"${0,3,q}", 1).is_err());
        assert!(substitute(b"${0,3", 1).is_err());
        assert!(substitute(b"${9223372036854775807}", 1).is_err());
    }

    #[test]
    fn ranges() {
        assert_eq!(range("10-20/5").unwrap().values().collect::<Vec<_>>(), [10, 15, 20]);
        assert_eq!(range("1-4").unwrap().count(), 4);
        assert!(range("5-1").unwrap_err().contains("backwards"));
        assert!(range("1-x").is_err());
        assert!(range("1-2/0").is_err());
    }
}
