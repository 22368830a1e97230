//! Names just before and just after a name in canonical order: the "epsilon functions" of
//! RFC 4470 §3 for minimally covering NSEC records.
//!
//! Order is RFC 4034 §6.1 order on lowercase labels, so when a label octet is stepped up or down
//! the uppercase range `A`..`Z` is skipped: it sorts as lowercase and holds no name of its own.
//!
//! The predecessor is not the exact one of RFC 4471 (which would usually be a 255-octet name of
//! `\255` labels, costing ~240 octets per NSEC in every negative answer). It is the name with the
//! last octet of the first label stepped down and a `\255` octet appended (`b` → `a\255`).
//! The span it opens, (predecessor, name), holds only names that have a label containing the octet
//! 0xFF at that position, so it covers no existing name as long as no zone name has a 0xFF octet
//! in a label; the server checks that at load ([`label_has_ff`]). The successors are exact.
use super::name::{self, NameBuf, lowercase_onto, push_label_lower};

/// The next octet value in canonical order, skipping uppercase letters; `None` after 0xFF.
fn step_up(c: u8) -> Option<u8> {
    match c.to_ascii_lowercase() {
        0xFF => None,
        0x40 => Some(0x5B),
        c => Some(c + 1),
    }
}

/// The previous octet value in canonical order, skipping uppercase letters; `None` before 0.
fn step_down(c: u8) -> Option<u8> {
    match c.to_ascii_lowercase() {
        0 => None,
        0x5B => Some(0x40),
        c => Some(c - 1),
    }
}

/// Whether `name` is a well-formed wire name strictly below `apex` (anything else gets the apex
/// back from the functions here instead of a panic).
fn strictly_below(name: &[u8], apex: &[u8]) -> bool {
    name::check(name).is_ok() && name.len() > apex.len() && name::is_at_or_below(name, apex)
}

/// Whether any label of `name` has an octet 0xFF: such a name could fall inside a span opened by
/// [`predecessor`], so a zone holding one must not use these white lies (refuse it at load).
pub fn label_has_ff(name: &[u8]) -> bool {
    name::labels(name).any(|l| l.contains(&0xFF))
}

/// The immediate successor of `name`: its first child `\000.name`, if that fits in 255 octets;
/// otherwise [`successor_sibling`]. Written (lowercase) to `out`, which is cleared first.
pub fn successor(name: &[u8], apex: &[u8], out: &mut NameBuf) {
    out.clear();
    if name.len() + 2 <= 255 {
        out.extend_from_slice(&[1, 0]);
        lowercase_onto(name, out);
    } else {
        successor_sibling(name, apex, out);
    }
}

/// The first name after `name` and all of its descendants (exact): `name` with `\000` appended
/// to its first label, or with the label stepped up when it cannot grow. Past the last possible
/// name of the zone it wraps to `apex`, as the last NSEC of a chain does. `name` must be below `apex`.
pub fn successor_sibling(name: &[u8], apex: &[u8], out: &mut NameBuf) {
    out.clear();
    if !strictly_below(name, apex) {
        lowercase_onto(apex, out);
        return;
    }
    let mut n = name;
    while n.len() > apex.len() {
        let len = n[0] as usize;
        let label = &n[1..1 + len];
        let parent = name::parent(n);
        if len < 63 && n.len() < 255 {
            out.push(len as u8 + 1);
            lowercase_onto(label, out);
            out.push(0);
            lowercase_onto(parent, out);
            return;
        }
        // The label cannot grow: step up its last octet that can be stepped up, dropping the 0xFF
        // octets after it (no longer label of that prefix can exist).
        let mut l = [0u8; 63];
        l[..len].copy_from_slice(label);
        let mut k = len;
        while k > 0 {
            k -= 1;
            if let Some(up) = step_up(l[k]) {
                l[k] = up;
                push_label_lower(out, &l[..=k]);
                lowercase_onto(parent, out);
                return;
            }
        }
        n = parent;
    }
    lowercase_onto(apex, out);
}

/// A name just before `name` (see the module docs) into `out`, which is cleared first. Returns
/// true when the result may be an existing name (the parent, or a name that could not take a
/// `\255`): an NSEC there must then carry that name's real types. `name` must be below `apex`.
pub fn predecessor(name: &[u8], apex: &[u8], out: &mut NameBuf) -> bool {
    out.clear();
    if !strictly_below(name, apex) {
        lowercase_onto(apex, out);
        return true;
    }
    let len = name[0] as usize;
    let parent = name::parent(name);
    // The label, lowercased, with room for one more octet.
    let mut l = [0u8; 64];
    for (d, s) in l.iter_mut().zip(&name[1..1 + len]) {
        *d = s.to_ascii_lowercase();
    }
    let mut n = len.saturating_sub(1);
    let last = if len > 0 { l[n] } else { 0 };
    match step_down(last) {
        None => {
            // The label ends in \000: `prefix` sorts just before `prefix\000`, after all of
            // `prefix`'s descendants.
            if n == 0 {
                lowercase_onto(parent, out);
                return true;
            }
        }
        Some(down) => {
            l[n] = down;
            n += 1;
            if n < 63 && name.len() < 255 {
                l[n] = 0xFF;
                push_label_lower(out, &l[..=n]);
                lowercase_onto(parent, out);
                return false;
            }
        }
    }
    // `base` = prefix.parent; the names between it and `name` are its descendants: the deepest
    // ones start with `\255`, so `\255.base` opens a span of names with 0xFF labels only.
    if parent.len() + n + 1 + 2 <= 255 {
        out.extend_from_slice(&[1, 0xFF]);
        push_label_lower(out, &l[..n]);
        lowercase_onto(parent, out);
        false
    } else {
        push_label_lower(out, &l[..n]);
        lowercase_onto(parent, out);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    fn n(t: &str) -> Vec<u8> {
        name::from_text(t, None).unwrap()
    }

    #[test]
    fn garbage_does_not_panic() {
        let apex = n("example.");
        let mut o = NameBuf::new();
        for bad in [&b""[..], b"\x05ab", b"\x3fxyz\x00", b"\x07example\x00", b"\x01a\x03com\x00"] {
            assert!(predecessor(bad, &apex, &mut o));
            assert_eq!(o.as_slice(), apex);
            successor_sibling(bad, &apex, &mut o);
            assert_eq!(o.as_slice(), apex);
        }
    }

    #[test]
    fn small_cases() {
        let apex = n("example.");
        let mut o = NameBuf::new();
        assert!(!predecessor(&n("b.example."), &apex, &mut o));
        assert_eq!(name::to_text(o.as_slice()), "a\\255.example.");
        assert!(!predecessor(&n("B.example."), &apex, &mut o));
        assert_eq!(name::to_text(o.as_slice()), "a\\255.example.");
        // '[' (0x5B) steps down past the uppercase letters to '@'.
        predecessor(&n("\\[.example."), &apex, &mut o);
        assert_eq!(name::to_text(o.as_slice()), "\\@\\255.example.");
        assert!(predecessor(&n("\\000.example."), &apex, &mut o));
        assert_eq!(o.as_slice(), apex);
        assert!(!predecessor(&n("ab\\000.example."), &apex, &mut o));
        assert_eq!(name::to_text(o.as_slice()), "\\255.ab.example.");
        successor(&n("B.example."), &apex, &mut o);
        assert_eq!(name::to_text(o.as_slice()), "\\000.b.example.");
        successor_sibling(&n("B.example."), &apex, &mut o);
        assert_eq!(name::to_text(o.as_slice()), "b\\000.example.");
        successor_sibling(&n("*.example."), &apex, &mut o);
        assert_eq!(name::to_text(o.as_slice()), "*\\000.example.");
        // A 63-octet label cannot grow: its last octet steps up ('@' to '[').
        let long = format!("{}@.example.", "a".repeat(62));
        successor_sibling(&n(&long), &apex, &mut o);
        assert_eq!(name::to_text(o.as_slice()), format!("{}[.example.", "a".repeat(62)));
    }

    #[test]
    fn spans_are_ordered_around_the_name() {
        let apex = n("example.");
        let mut p = NameBuf::new();
        let mut s = NameBuf::new();
        for t in ["a.example.", "zz.b.example.", "*.example.", "\\000.example.", "xn--bcher-kva.example.", "@.example."]
        {
            let q = n(t);
            predecessor(&q, &apex, &mut p);
            successor(&q, &apex, &mut s);
            assert_eq!(name::canonical_cmp(p.as_slice(), &q), Ordering::Less, "{t}");
            assert_eq!(name::canonical_cmp(&q, s.as_slice()), Ordering::Less, "{t}");
            successor_sibling(&q, &apex, &mut s);
            assert_eq!(name::canonical_cmp(&q, s.as_slice()), Ordering::Less, "{t}");
        }
    }
}
