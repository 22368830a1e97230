//! The RFC 1034 §4.3.2 / RFC 4592 answer to one query from the zones' static data: exact
//! matches, CNAME chains, wildcards, referrals with glue and negative answers with the SOA.
//! Lookups return references into the zones; nothing here allocates.
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::answer::{Rrs, Section};
use super::tree::{Found, RRset, Zone, ZoneSet};
use crate::pool::PoolId;

/// The answer to one query from static zone data, before EDNS and encoding. Every RRset is
/// borrowed from the zone set (or is the query name itself): building one allocates nothing.
#[derive(Debug)]
pub struct Lookup<'a> {
    pub rcode: ResponseCode,
    pub authoritative: bool,
    pub answer: Section<'a>,
    pub authority: Section<'a>,
    pub additional: Section<'a>,
    /// A pooled name reached by the lookup, whose A/AAAA answer the steering decides.
    pub pooled: Option<Pooled<'a>>,
}

/// Where the lookup ended on a pooled name.
#[derive(Clone, Copy, Debug)]
pub struct Pooled<'a> {
    /// Index of the zone in [`ZoneSet::zones`]; its `pools` hold `pool`.
    pub zone: usize,
    pub pool: PoolId,
    /// The owner the address records carry (the query's letter case, or the CNAME target).
    pub owner: &'a Name,
}

impl<'a> Lookup<'a> {
    pub fn refused() -> Lookup<'a> {
        Lookup {
            rcode: ResponseCode::Refused,
            authoritative: false,
            answer: Section::new(),
            authority: Section::new(),
            additional: Section::new(),
            pooled: None,
        }
    }
    /// The answer, authority and additional records, owners filled in (for explain and
    /// tests: this allocates). `addrs` are the pooled addresses of an `Rrs::Addresses`.
    pub fn records(&self, addrs: &[std::net::IpAddr]) -> [Vec<Record>; 3] {
        let flat = |s: &Section<'_>| s.as_slice().iter().flat_map(|r| r.to_records(addrs)).collect::<Vec<_>>();
        [flat(&self.answer), flat(&self.authority), flat(&self.additional)]
    }
}

/// CNAME chains inside the zone are followed at most this far (loops end here too).
const MAX_CNAME_CHAIN: usize = 12;

/// Answers `qname`/`qtype` from the zone set. `qname` keeps the query's letter case,
/// which is used for the owner of answers at the query name (RFC 4343).
pub fn lookup<'a>(zones: &'a ZoneSet, qname: &'a Name, qtype: RecordType) -> Lookup<'a> {
    let Some((zone_index, zone)) = zones.zone_for(qname) else {
        return Lookup::refused();
    };
    let mut out = Lookup { rcode: ResponseCode::NoError, authoritative: true, ..Lookup::refused() };
    let negative = |out: &mut Lookup<'a>| {
        out.authority.push(Rrs::Records { owner: None, records: std::slice::from_ref(zone.negative_soa()) });
    };
    let mut name: &'a Name = qname;
    for _ in 0..MAX_CNAME_CHAIN {
        let node = match zone.find(name, qtype) {
            Found::Exact(n) | Found::Wildcard(n) => n,
            Found::Delegation(cut, node) => {
                // A referral (RFC 1034 §4.3.2 step 3b). After a CNAME the answer stays authoritative.
                if out.answer.is_empty() {
                    out.authoritative = false;
                }
                if let Some(ns) = node.rrset(RecordType::NS) {
                    out.authority.push(Rrs::Records { owner: None, records: &ns.records });
                    add_glue(zone, ns, Some(cut), &mut out.additional);
                }
                return out;
            }
            Found::NxDomain => {
                out.rcode = ResponseCode::NXDomain;
                negative(&mut out);
                return out;
            }
        };
        // Records at the node carry the name asked for: the query's case, or the name a
        // wildcard synthesizes (RFC 4592).
        let at_name = |records: &'a [Record]| Rrs::Records { owner: Some(name), records };
        if let Some(cname) = node.rrset(RecordType::CNAME)
            && qtype != RecordType::CNAME
        {
            out.answer.push(at_name(&cname.records));
            let Some(RData::CNAME(target)) = cname.records.first().map(|r| &r.data) else { break };
            let target = &target.0;
            if !zone.origin.zone_of(target) {
                return out; // out of zone: the resolver follows it
            }
            name = target;
            continue;
        }
        if let Some(pool) = node.pool
            && matches!(qtype, RecordType::A | RecordType::AAAA | RecordType::ANY)
        {
            out.pooled = Some(Pooled { zone: zone_index, pool, owner: name });
            return out;
        }
        if qtype == RecordType::ANY {
            // RFC 8482 §4.2: answer with one RRset of the name.
            match node.rrsets.first() {
                Some(set) => {
                    out.answer.push(at_name(&set.records));
                }
                None => negative(&mut out),
            }
            return out;
        }
        match node.rrset(qtype) {
            Some(set) => {
                out.answer.push(at_name(&set.records));
                if matches!(qtype, RecordType::NS | RecordType::MX | RecordType::SRV) {
                    add_glue(zone, set, None, &mut out.additional);
                }
            }
            None => negative(&mut out),
        }
        return out;
    }
    // The chain is too long or loops: return what was collected (RFC 1034 §3.6.2 leaves it to the resolver).
    out
}

/// Adds the A and AAAA records of in-zone targets of NS, MX or SRV records.
/// For a referral, `cut` is the delegation point: glue at or below it is served although it is occluded.
fn add_glue<'a>(zone: &'a Zone, set: &'a RRset, cut: Option<&Name>, additional: &mut Section<'a>) {
    for r in &set.records {
        let target = match &r.data {
            RData::NS(ns) => &ns.0,
            RData::MX(mx) => &mx.exchange,
            RData::SRV(srv) => &srv.target,
            _ => continue,
        };
        if !zone.origin.zone_of(target) {
            continue;
        }
        // Data below another delegation point is not ours to give, except glue of this cut.
        if let Found::Delegation(c, _) = zone.find(target, RecordType::A)
            && cut.is_none_or(|cut| !cut.zone_of(c))
        {
            continue;
        }
        let Some(node) = zone.node(target) else { continue };
        for t in [RecordType::A, RecordType::AAAA] {
            if let Some(addrs) = node.rrset(t) {
                // Two records naming one target: its addresses once.
                if !additional.contains_records(&addrs.records) {
                    additional.push(Rrs::Records { owner: None, records: &addrs.records });
                }
            }
        }
    }
}
