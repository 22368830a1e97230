//! Online denial of existence by minimally covering NSEC records, "white lies" (RFC 4470):
//! which NSEC records prove a negative answer, built per query on the stack.
//!
//! NXDOMAIN is proven by an NSEC covering the *next closer name* (the child of the closest
//! encloser on the way to the query name: covering it covers the query name, and its span's
//! common ancestor with the query name is the closest encloser, so a validator derives the
//! right one) and an NSEC covering `*.<closest encloser>` (no wildcard). NODATA is an NSEC
//! *at* the query name listing its types. Both covering spans are `(predecessor, successor)`
//! from [`super::epsilon`], so they cover no existing name.
//!
//! Why white lies and not compact denial (RFC 9824, NXNAME), measured with both by the
//! prototype (HANDOFF of issue 15): the Debian Unbound 1.17 returns compact denial's NXDOMAIN
//! as NOERROR to every client (it sends no CO flag), while white lies keep NXDOMAIN with AD=1;
//! dnsviz and zonemaster accept both; the cost is one more signature per NXDOMAIN, and that
//! one (the `*.<encloser>` cover) depends only on the encloser, a name of the zone, so it is
//! cached. A wildcard answer's RRSIG stays the one made at load under the `*` owner.
//!
//! Nothing here signs or allocates: each record is returned as (owner, NSEC RDATA) on the
//! stack, for the caller to sign or find in its cache. Type lists passed in are the types
//! present at a name; RRSIG and NSEC are added here.
use super::epsilon;
use super::error::Result;
use super::name::{self, NameBuf, lowercase_onto};
use super::nsec::{NsecRdata, TYPE_NSEC, TYPE_RRSIG, Types, nsec_rdata};

/// An NSEC record to sign and serve (TTL: min(SOA TTL, SOA MINIMUM), RFC 9077).
#[derive(Clone, Debug)]
pub struct Nsec {
    /// Lowercase wire form.
    pub owner: NameBuf,
    pub rdata: NsecRdata,
}

/// Looks up the types present at a name of the zone: `Some(types)` when the name exists (an
/// empty non-terminal gives an empty list), `None` when it does not. Asked only in the rare
/// case where a span's end may be an existing name.
pub type TypesAt<'a> = &'a dyn Fn(&[u8]) -> Option<Types>;

fn with_nsec_rrsig(types: &[u16]) -> Types {
    let mut t = Types::new();
    t.extend_from_slice(types);
    t.extend_from_slice(&[TYPE_RRSIG, TYPE_NSEC]);
    t
}

/// The next closer name (RFC 5155 §1.3): `qname` cut to one label more than `closest_encloser`.
pub fn next_closer<'q>(qname: &'q [u8], closest_encloser: &[u8]) -> &'q [u8] {
    name::suffix(qname, name::label_count(closest_encloser) + 1)
}

/// The white lie that covers `name` and all of its descendants: `(predecessor, successor_sibling)`.
/// `name` must not exist and must be below `apex`.
pub fn white_lie_cover(name: &[u8], apex: &[u8], types_at: TypesAt<'_>) -> Result<Nsec> {
    name::check(name)?;
    let mut owner = NameBuf::new();
    let mut next = NameBuf::new();
    let may_exist = epsilon::predecessor(name, apex, &mut owner);
    epsilon::successor_sibling(name, apex, &mut next);
    let present = if may_exist { types_at(owner.as_slice()).unwrap_or_default() } else { Types::new() };
    Ok(Nsec { rdata: nsec_rdata(next.as_slice(), with_nsec_rrsig(present.as_slice()).as_slice())?, owner })
}

/// `*.<closest encloser>`, lowercase.
pub fn wildcard_of(closest_encloser: &[u8]) -> NameBuf {
    let mut wild = NameBuf::new();
    wild.extend_from_slice(&[1, b'*']);
    lowercase_onto(closest_encloser, &mut wild);
    wild
}

/// NSEC *at* an existing name listing its `types` (NODATA proof). The next name is
/// `\000.name`; at a delegation point (whose children are the child zone's) it is the first
/// name after the delegation's subtree (RFC 9824 §3.4), `sub\000.parent`. With no DS in
/// `types` at a delegation this is the insecure delegation proof.
pub fn nsec_at(name: &[u8], types: &[u16], delegation: bool, apex: &[u8]) -> Result<Nsec> {
    name::check(name)?;
    let mut next = NameBuf::new();
    if delegation {
        epsilon::successor_sibling(name, apex, &mut next);
    } else {
        epsilon::successor(name, apex, &mut next);
    }
    let mut owner = NameBuf::new();
    lowercase_onto(name, &mut owner);
    Ok(Nsec { owner, rdata: nsec_rdata(next.as_slice(), with_nsec_rrsig(types).as_slice())? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnssec::nsec::{bitmap_types, parse_nsec};

    fn n(t: &str) -> Vec<u8> {
        name::from_text(t, None).unwrap()
    }

    #[test]
    fn nxdomain_spans() {
        let apex = n("example.");
        let none: TypesAt<'_> = &|_| None;
        let q = n("x.nope.example.");
        let first = white_lie_cover(next_closer(&q, &apex), &apex, none).unwrap();
        assert_eq!(name::to_text(first.owner.as_slice()), "nopd\\255.example.");
        let (next, bm) = parse_nsec(first.rdata.as_slice()).unwrap();
        assert_eq!(name::to_text(next), "nope\\000.example.");
        assert_eq!(bitmap_types(bm).unwrap(), vec![46, 47]);
        let wild = wildcard_of(&apex);
        let second = white_lie_cover(wild.as_slice(), &apex, none).unwrap();
        assert_eq!(name::to_text(second.owner.as_slice()), "\\)\\255.example.");
        assert_eq!(name::to_text(parse_nsec(second.rdata.as_slice()).unwrap().0), "*\\000.example.");
        let at = nsec_at(&n("Www.example."), &[1, 28], false, &apex).unwrap();
        assert_eq!(name::to_text(at.owner.as_slice()), "www.example.");
        let (next, bm) = parse_nsec(at.rdata.as_slice()).unwrap();
        assert_eq!(name::to_text(next), "\\000.www.example.");
        assert_eq!(bitmap_types(bm).unwrap(), vec![1, 28, 46, 47]);
        let cut = nsec_at(&n("child.example."), &[2], true, &apex).unwrap();
        assert_eq!(name::to_text(parse_nsec(cut.rdata.as_slice()).unwrap().0), "child\\000.example.");
    }
}
