//! The NSEC chain a transfer of an online-signed zone carries (issue 16): a secondary cannot
//! make white lies, so it gets a complete chain over the transferred names instead.
//!
//! Every authoritative name with data (not an empty non-terminal, nothing below a zone cut
//! but the cut itself, RFC 4035 §2.3) in canonical order (RFC 4034 §6.1); each gets an NSEC
//! whose next name is the following one (the last points back to the apex) and whose bitmap is
//! its transferred types plus RRSIG and NSEC (at a cut: NS, DS). Pooled names send only their
//! zone-file data (their steered A/AAAA are not transferred), so their bitmaps hold only that,
//! and a pooled name without other data is not in the chain. Each NSEC is signed with the
//! zone's ZSK through the signer's denial cache (an unchanged NSEC keeps its signature), with
//! the TTL of the signer's NSEC records, min(SOA TTL, SOA MINIMUM).
use hickory_proto::rr::{Name, RecordType};

use crate::dnssec::name::{canonical_cmp, to_lowercase};
use crate::dnssec::nsec::nsec_rdata;
use crate::zone::journal::Record;
use crate::zone::tree::{Found, Zone};

const TYPE_RRSIG: u16 = 46;
const TYPE_NSEC: u16 = 47;

/// The NSEC records of the zone's transfer and their RRSIGs, and the RRSIGs of the pooled
/// names' static addresses; empty when the zone is not signed online (or has no ZSK).
pub fn transfer_chain(zone: &Zone) -> Vec<Record> {
    let Some(signer) = zone.signer.as_deref() else { return Vec::new() };
    let mut names: Vec<(Vec<u8>, Vec<u16>)> = Vec::new();
    let mut sigs = Vec::new();
    for (name, node) in zone.names() {
        if below_cut(zone, name) {
            continue;
        }
        let mut types: Vec<u16> = node
            .rrsets
            .iter()
            .filter(|s| s.rtype != RecordType::RRSIG)
            .filter(|s| !node.delegation || matches!(s.rtype, RecordType::NS | RecordType::DS))
            .map(|s| u16::from(s.rtype))
            .collect();
        // A pooled name sent with its pool's static addresses, signed here like an answer.
        let statics = zone.pooled_static(node, &[]);
        for (rtype, code) in [(RecordType::A, 1u16), (RecordType::AAAA, 28)] {
            let addrs: Vec<std::net::IpAddr> = node
                .pool
                .and_then(|id| zone.pools.pool(id))
                .map(|p| p.transfer_static.iter().copied().filter(|a| a.is_ipv4() == (code == 1)).collect())
                .unwrap_or_default();
            let Some(ttl) = statics.iter().find(|r| r.rtype == code).map(|r| r.ttl) else { continue };
            if let Some((signed, _)) = signer.addresses(name, rtype, ttl, &addrs) {
                let owner = crate::zone::name_wire(name);
                sigs.extend(signed.sigs.rdatas().map(|r| Record {
                    owner: owner.clone(),
                    rtype: TYPE_RRSIG,
                    ttl,
                    rdata: r.into(),
                }));
            }
        }
        types.extend(statics.iter().map(|r| r.rtype));
        types.sort_unstable();
        types.dedup();
        if types.is_empty() {
            continue;
        }
        types.extend([TYPE_RRSIG, TYPE_NSEC]);
        names.push((to_lowercase(&crate::zone::name_wire(name)), types));
    }
    names.sort_by(|a, b| canonical_cmp(&a.0, &b.0));
    let mut out = sigs;
    out.reserve(names.len() * 2);
    for (i, (owner, types)) in names.iter().enumerate() {
        let next = &names[(i + 1) % names.len()].0;
        let Ok(rdata) = nsec_rdata(next, types) else { continue };
        let Some((signed, _)) = signer.nsec(owner, rdata.as_slice()) else { continue };
        out.push(Record {
            owner: owner.clone(),
            rtype: TYPE_NSEC,
            ttl: signer.nsec_ttl,
            rdata: rdata.as_slice().into(),
        });
        for sig in signed.sigs.rdatas() {
            out.push(Record { owner: owner.clone(), rtype: TYPE_RRSIG, ttl: signer.nsec_ttl, rdata: sig.into() });
        }
    }
    out
}

/// Whether `name` is strictly below a zone cut (glue, or occluded data).
fn below_cut(zone: &Zone, name: &Name) -> bool {
    matches!(zone.find(name, RecordType::DS), Found::Delegation(cut, _) if cut != name)
}
