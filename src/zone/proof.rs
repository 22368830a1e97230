//! Denial-of-existence proofs from a pre-signed zone's own NSEC or NSEC3 records, added to
//! the authority section of DO=1 answers (RFC 4035 §3.1.3, RFC 5155 §7.2). Each proof is the
//! set of records a validator needs; a record two proofs share is sent once. Nothing here
//! allocates (names under 32 octets stay on the stack, NSEC3 hashes are computed there).
use hickory_proto::rr::{Name, RecordType};

use super::answer::{Rrs, Section};
use super::dnssec::Denial;
use super::tree::{Zone, ancestor, labels};

/// Adds the NSEC or NSEC3 RRset at `owner`, with its RRSIGs, unless the section has it.
fn add<'a>(zone: &'a Zone, owner: Option<&Name>, out: &mut Section<'a>) {
    let rtype = if zone.denial().is_nsec3() { RecordType::NSEC3 } else { RecordType::NSEC };
    let Some((key, node)) = owner.and_then(|o| zone.entry(o)) else { return };
    if let Some(set) = node.rrset(rtype)
        && !out.contains(set)
    {
        out.push(Rrs::Set { owner: key, set, sigs: set.sigs.as_deref() });
    }
}

/// The name one label below `encloser` on the way to `name` (RFC 5155 §1.3 "next closer").
fn next_closer(name: &Name, encloser: &Name) -> Name {
    ancestor(name, (labels(encloser) + 1).min(labels(name)))
}

fn wildcard_of(encloser: &Name) -> Option<Name> {
    encloser.prepend_label("*").ok()
}

/// NXDOMAIN: `name` does not exist, and neither does `*.<encloser>`, its closest encloser's
/// wildcard (RFC 4035 §3.1.3.2, RFC 5155 §7.2.2).
pub(super) fn no_name<'a>(zone: &'a Zone, name: &Name, encloser: &Name, out: &mut Section<'a>) {
    let d = zone.denial();
    let wild = wildcard_of(encloser);
    match d {
        Denial::None => {}
        Denial::Nsec(_) => {
            add(zone, d.nsec_at_or_before(name), out);
            if let Some(w) = &wild {
                add(zone, d.nsec_at_or_before(w), out);
            }
        }
        Denial::Nsec3 { .. } => {
            add(zone, d.nsec3_matching(encloser), out);
            add(zone, d.nsec3_covering(&next_closer(name, encloser)), out);
            if let Some(w) = &wild {
                add(zone, d.nsec3_covering(w), out);
            }
        }
    }
}

/// NODATA: `name` exists (it may be an empty non-terminal) but has no RRset of the type
/// asked for (RFC 4035 §3.1.3.1, RFC 5155 §7.2.3 and §7.2.4). Also the proof that a
/// delegation has no DS (RFC 4035 §3.1.4.1, RFC 5155 §7.2.7).
pub(super) fn no_type<'a>(zone: &'a Zone, name: &Name, out: &mut Section<'a>) {
    let d = zone.denial();
    match d {
        Denial::None => {}
        // The NSEC at the name, or for an empty non-terminal the one that covers it.
        Denial::Nsec(_) => add(zone, d.nsec_at_or_before(name), out),
        Denial::Nsec3 { .. } => match d.nsec3_matching(name) {
            Some(owner) => add(zone, Some(owner), out),
            // No NSEC3 of its own (an opt-out span): the closest provable encloser proof.
            None => closest_provable_encloser(zone, name, out),
        },
    }
}

/// The closest provable encloser of `name` and the NSEC3 that covers its next closer name
/// (RFC 5155 §7.2.1).
fn closest_provable_encloser<'a>(zone: &'a Zone, name: &Name, out: &mut Section<'a>) {
    let d = zone.denial();
    for n in (labels(&zone.origin)..labels(name)).rev() {
        let a = ancestor(name, n);
        if let Some(owner) = d.nsec3_matching(&a) {
            add(zone, Some(owner), out);
            add(zone, d.nsec3_covering(&ancestor(name, n + 1)), out);
            return;
        }
    }
}

/// A positive answer synthesized from a wildcard: proof that `name` itself does not exist
/// (RFC 4035 §3.1.3.3, RFC 5155 §7.2.6).
pub(super) fn wildcard_answer<'a>(zone: &'a Zone, name: &Name, encloser: &Name, out: &mut Section<'a>) {
    let d = zone.denial();
    match d {
        Denial::None => {}
        Denial::Nsec(_) => add(zone, d.nsec_at_or_before(name), out),
        Denial::Nsec3 { .. } => add(zone, d.nsec3_covering(&next_closer(name, encloser)), out),
    }
}

/// NODATA from a wildcard: `name` does not exist and its wildcard `source` has no RRset of
/// the type (RFC 4035 §3.1.3.4, RFC 5155 §7.2.5).
pub(super) fn wildcard_no_type<'a>(zone: &'a Zone, name: &Name, encloser: &Name, source: &Name, out: &mut Section<'a>) {
    let d = zone.denial();
    match d {
        Denial::None => {}
        Denial::Nsec(_) => {
            add(zone, d.nsec_at_or_before(name), out);
            add(zone, Some(source), out);
        }
        Denial::Nsec3 { .. } => {
            add(zone, d.nsec3_matching(encloser), out);
            add(zone, d.nsec3_covering(&next_closer(name, encloser)), out);
            add(zone, d.nsec3_matching(source), out);
        }
    }
}
