//! Denial of existence for an online-signed zone, per query: the NSEC white lies of
//! `dnssec::denial`, signed or found in the zone's denial cache, added to the authority
//! section (RFC 4035 §3.1.3). The same proofs as [`crate::zone`]'s pre-signed ones, from
//! records made for the query instead of a chain in the zone file:
//!
//! | answer | records |
//! |---|---|
//! | NXDOMAIN | cover of the next closer name; cover of `*.<closest encloser>` |
//! | NODATA (also an empty non-terminal, a pooled name without that family) | NSEC at the name, its types |
//! | DS absent at a cut (insecure delegation) | NSEC at the cut: NS, no DS |
//! | wildcard answer | cover of the next closer name |
//! | wildcard NODATA | cover of the next closer name; NSEC at the wildcard |
//!
//! Nothing here allocates on a cache hit: names and RDATA are built on the stack, and the
//! signed record is kept alive for the reply by the caller's [`Synthesized`].
use hickory_proto::rr::{Name, RecordType};

use super::Signer;
use crate::dnssec::denial::{self, Nsec, next_closer, white_lie_cover, wildcard_of};
use crate::dnssec::name::wire_lower;
use crate::dnssec::nsec::Types;
use crate::zone::answer::{Rrs, Section};
use crate::zone::lookup::Synthesized;
use crate::zone::rrset::name_from_wire;
use crate::zone::tree::{Node, Zone};

/// The types at a node, as its NSEC lists them: at a cut only NS and DS (the rest is the
/// child's); a pooled name has A and AAAA, less `exclude` (the type a pooled NODATA denies).
pub fn node_types(node: &Node, exclude: Option<RecordType>) -> Types {
    let mut t = Types::new();
    for s in &node.rrsets {
        let keep = if node.delegation {
            matches!(s.rtype, RecordType::NS | RecordType::DS)
        } else {
            s.rtype != RecordType::RRSIG
        };
        if keep && Some(s.rtype) != exclude {
            t.push(u16::from(s.rtype));
        }
    }
    if node.pool.is_some() {
        for p in [RecordType::A, RecordType::AAAA] {
            if Some(p) != exclude {
                t.push(u16::from(p));
            }
        }
    }
    t
}

/// Signs (or finds) `nsec` and adds it to `out`.
fn add<'a>(signer: &Signer, nsec: &Nsec, synth: &'a Synthesized, out: &mut Section<'a>) {
    let Some((signed, hit)) = signer.nsec(nsec.owner.as_slice(), nsec.rdata.as_slice()) else { return };
    let Some(held) = synth.hold(signed, hit) else { return };
    if let Some(record) = &held.record {
        let (owner, set) = &**record;
        out.push(Rrs::Set { owner, set, sigs: Some(&held.sigs) });
    }
}

fn signer_of(zone: &Zone) -> Option<&Signer> {
    zone.signer.as_deref()
}

/// A span end that may be an existing name gets that name's real types.
fn types_at(zone: &Zone) -> impl Fn(&[u8]) -> Option<Types> + '_ {
    |wire| name_from_wire(wire).and_then(|n| zone.node(&n)).map(|node| node_types(node, None))
}

/// NXDOMAIN: `name` does not exist; `encloser` is its closest encloser.
pub fn no_name<'a>(zone: &'a Zone, name: &Name, encloser: &Name, synth: &'a Synthesized, out: &mut Section<'a>) {
    let Some(signer) = signer_of(zone) else { return };
    let (q, ce) = (wire_lower(name), wire_lower(encloser));
    let lookup = types_at(zone);
    let Ok(first) = white_lie_cover(next_closer(q.as_slice(), ce.as_slice()), signer.apex(), &lookup) else {
        return;
    };
    add(signer, &first, synth, out);
    let wild = wildcard_of(ce.as_slice());
    if let Ok(second) = white_lie_cover(wild.as_slice(), signer.apex(), &lookup)
        && second.owner.as_slice() != first.owner.as_slice()
    {
        add(signer, &second, synth, out);
    }
}

/// NODATA at the existing `name` (an empty non-terminal too), or the absent DS at a cut;
/// `exclude` is the type a pooled name has no answer of.
pub fn no_type<'a>(
    zone: &'a Zone,
    name: &Name,
    node: &Node,
    exclude: Option<RecordType>,
    synth: &'a Synthesized,
    out: &mut Section<'a>,
) {
    let Some(signer) = signer_of(zone) else { return };
    let owner = wire_lower(name);
    let types = node_types(node, exclude);
    if let Ok(nsec) = denial::nsec_at(owner.as_slice(), types.as_slice(), node.delegation, signer.apex()) {
        add(signer, &nsec, synth, out);
    }
}

/// The NSEC at an existing name, as the answer to a query for type NSEC.
pub fn nsec_answer<'a>(zone: &'a Zone, name: &Name, node: &Node, synth: &'a Synthesized, out: &mut Section<'a>) {
    no_type(zone, name, node, None, synth, out);
}

/// A wildcard answer: `name` itself does not exist.
pub fn wildcard_answer<'a>(
    zone: &'a Zone,
    name: &Name,
    encloser: &Name,
    synth: &'a Synthesized,
    out: &mut Section<'a>,
) {
    let Some(signer) = signer_of(zone) else { return };
    let (q, ce) = (wire_lower(name), wire_lower(encloser));
    if let Ok(cover) = white_lie_cover(next_closer(q.as_slice(), ce.as_slice()), signer.apex(), &types_at(zone)) {
        add(signer, &cover, synth, out);
    }
}

/// NODATA from a wildcard: `name` does not exist, and its wildcard `source` lacks the type.
pub fn wildcard_no_type<'a>(
    zone: &'a Zone,
    name: &Name,
    encloser: &Name,
    source: &Name,
    source_node: &Node,
    synth: &'a Synthesized,
    out: &mut Section<'a>,
) {
    wildcard_answer(zone, name, encloser, synth, out);
    no_type(zone, source, source_node, None, synth, out);
}
