//! The RFC 1034 §4.3.2 answer to one query from the zones' static data: exact matches,
//! CNAME chains (a loop stops at the first repeat), DNAME substitution (RFC 6672 §3.2),
//! RFC 4592 wildcards, referrals with glue, and negative answers with the SOA; for a
//! signed zone and DO=1, the RRSIGs and the NSEC/NSEC3 proofs (RFC 4035 §3.1): from the
//! zone file's chain when it is pre-signed ([`proof`]), white lies when it is signed online
//! ([`super::online::deny`]).
//! Lookups return references into the zones; nothing here allocates (but for names over
//! 32 octets, which hickory keeps on the heap, and an online signer's cache miss).
use std::cell::{Cell, OnceCell};
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::answer::{Rrs, Section};
use super::dnssec::Signing;
use super::key::WireKey;
use super::online::{Signed, deny};
use super::proof;
use super::rrset::RRset;
use super::set::{ZoneChoice, ZoneSet};
use super::tree::{Found, Node, Zone};
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
    /// The query asked for DNSSEC (DO=1) and the zone is signed: RRSIGs and proofs went in.
    pub signed: bool,
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

/// CNAME and DNAME chains inside the zone are followed at most this far.
pub const MAX_CNAME_CHAIN: usize = 12;

/// Signed records one answer holds from an online signer's caches.
pub const HELD_SIGNED: usize = 8;

/// What a lookup makes up, kept by the caller for as long as the answer that borrows it: the
/// targets of DNAME substitutions (on the stack, one per step of a chain) and the signed
/// records an online signer hands out (a reference count each, no copy). Each table is set
/// up on its first use: most answers use neither, and making and dropping the 20 empty slots
/// on every query was ~108 instructions of a pooled answer's ~5,230 (callgrind).
#[derive(Debug, Default)]
pub struct Synthesized {
    names: OnceCell<[OnceCell<Name>; MAX_CNAME_CHAIN]>,
    signed: OnceCell<[OnceCell<Arc<Signed>>; HELD_SIGNED]>,
    /// Of the signed records held: how many came from a cache, how many were signed for this answer.
    hits: Cell<u8>,
    misses: Cell<u8>,
}

impl Synthesized {
    fn keep(&self, name: Name) -> Option<&Name> {
        let slot = self.names.get_or_init(Default::default).iter().find(|c| c.get().is_none())?;
        Some(slot.get_or_init(|| name))
    }

    /// Keeps `signed` (from a cache when `hit`) for the answer; `None` when every slot is
    /// taken (the record is left out).
    pub fn hold(&self, signed: Arc<Signed>, hit: bool) -> Option<&Signed> {
        let slot = self.signed.get_or_init(Default::default).iter().find(|c| c.get().is_none())?;
        let counter = if hit { &self.hits } else { &self.misses };
        counter.set(counter.get().saturating_add(1));
        Some(slot.get_or_init(|| signed))
    }

    /// Of the signed records the answer holds: (from a cache, signed for it).
    pub fn cache_use(&self) -> (u8, u8) {
        (self.hits.get(), self.misses.get())
    }
}

impl Default for Lookup<'_> {
    fn default() -> Self {
        Lookup::new()
    }
}

impl<'a> Lookup<'a> {
    fn empty(rcode: ResponseCode, authoritative: bool) -> Lookup<'a> {
        Lookup {
            rcode,
            authoritative,
            answer: Section::new(),
            authority: Section::new(),
            additional: Section::new(),
            pooled: None,
            signed: false,
        }
    }
    /// An authoritative NOERROR with nothing in it yet: what a lookup fills.
    pub fn new() -> Lookup<'a> {
        Lookup::empty(ResponseCode::NoError, true)
    }
    pub fn refused() -> Lookup<'a> {
        Lookup::empty(ResponseCode::Refused, false)
    }
    /// A configured zone that is not served (its files had errors): SERVFAIL, no AA.
    pub fn servfail() -> Lookup<'a> {
        Lookup::empty(ResponseCode::ServFail, false)
    }
    /// The answer, authority and additional records, owners filled in (for explain and
    /// tests: this allocates). `addrs` are the pooled addresses of an `Rrs::Addresses`.
    pub fn records(&self, addrs: &[std::net::IpAddr]) -> [Vec<Record>; 3] {
        let flat = |s: &Section<'_>| s.iter().flat_map(|r| r.to_records(addrs)).collect::<Vec<_>>();
        [flat(&self.answer), flat(&self.authority), flat(&self.additional)]
    }
}

/// Answers `qname`/`qtype` from the zone set. `qname` keeps the query's letter case,
/// which is used for the owner of answers at the query name (RFC 4343). `dnssec_ok` is the
/// query's DO bit; `synth` holds the names DNAME substitution makes.
pub fn lookup<'a>(
    zones: &'a ZoneSet,
    qname: &'a Name,
    qtype: RecordType,
    dnssec_ok: bool,
    synth: &'a Synthesized,
) -> Lookup<'a> {
    let mut out = Lookup::new();
    lookup_into(zones, qname, &WireKey::new(qname), qtype, dnssec_ok, synth, &mut out);
    out
}

/// [`lookup`] into `out`, a [`Lookup::new`] (a `Lookup` is some 4 KB: the query path keeps
/// one in place rather than have it moved). `key` is `qname` lower-cased (the query path
/// makes it from the packet's octets): the zone and each ancestor are matched as its suffixes.
pub fn lookup_into<'a>(
    zones: &'a ZoneSet,
    qname: &'a Name,
    key: &WireKey,
    qtype: RecordType,
    dnssec_ok: bool,
    synth: &'a Synthesized,
    out: &mut Lookup<'a>,
) {
    let (zone_index, zone) = match zones.zone_for_key(key, qtype) {
        ZoneChoice::Zone(i, z) => (i, z),
        ZoneChoice::Failed(_) => {
            *out = Lookup::servfail();
            return;
        }
        ZoneChoice::None => {
            *out = Lookup::refused();
            return;
        }
    };
    let mut w = Walk { zone, zone_index, qtype, dnssec: dnssec_ok && zone.signing != Signing::None, synth, out };
    w.out.signed = w.dnssec;
    let mut visited: [Option<&'a Name>; MAX_CNAME_CHAIN] = [None; MAX_CNAME_CHAIN];
    let mut name: &'a Name = qname;
    for step in 0..MAX_CNAME_CHAIN {
        visited[step] = Some(name);
        let found = if step == 0 { zone.find_key(key, qtype) } else { zone.find(name, qtype) };
        let next = match found {
            Found::Delegation(cut, node) => {
                w.referral(cut, node);
                None
            }
            Found::NxDomain { encloser } => {
                // RFC 6604: the rcode is that of the last name of a chain.
                w.out.rcode = ResponseCode::NXDomain;
                w.negative();
                if w.dnssec {
                    match zone.signing {
                        Signing::Online => deny::no_name(zone, name, encloser, synth, &mut w.out.authority),
                        _ => proof::no_name(zone, name, encloser, &mut w.out.authority),
                    }
                }
                None
            }
            Found::Dname(owner, node) => w.dname(name, owner, node, synth),
            Found::Exact(_, node) => w.at_node(name, node, None),
            Found::Wildcard { source, node, encloser } => w.at_node(name, node, Some((source, encloser))),
        };
        match next {
            // Follow a target in this zone, unless the chain has been there: a loop ends at
            // the first repeat, each record once.
            Some(target) if zone.origin.zone_of(target) && !visited[..=step].iter().flatten().any(|v| *v == target) => {
                name = target;
            }
            _ => return,
        }
    }
    // The chain is too long: what was collected stands (RFC 1034 §3.6.2 leaves it to the resolver).
}

/// The first `prefix` labels of `name` followed by `target` (RFC 6672 §2.2), or `None` when
/// that is longer than 255 octets. Built in wire form on the stack (no heap for names under
/// 32 octets, like [`super::tree::ancestor`]).
fn substitute(name: &Name, prefix: usize, target: &Name) -> Option<Name> {
    let mut buf = [0u8; 255];
    let mut len = 0;
    for label in name.iter().take(prefix).chain(target.iter()) {
        let end = len + 1 + label.len();
        // The root label still has to fit after this one.
        if end >= buf.len() {
            return None;
        }
        buf[len] = label.len() as u8;
        buf[len + 1..end].copy_from_slice(label);
        len = end;
    }
    Name::read(&mut BinDecoder::new(&buf[..=len])).ok()
}

/// The state of one lookup as it walks a chain in one zone.
struct Walk<'a, 'o> {
    zone: &'a Zone,
    zone_index: usize,
    qtype: RecordType,
    /// DO=1 and a signed zone: RRSIGs and denial proofs go in.
    dnssec: bool,
    synth: &'a Synthesized,
    out: &'o mut Lookup<'a>,
}

impl<'a> Walk<'a, '_> {
    /// An RRset as it goes out: with its RRSIGs when the query asked for DNSSEC.
    fn rrs(&self, owner: &'a Name, set: &'a RRset) -> Rrs<'a> {
        Rrs::Set { owner, set, sigs: if self.dnssec { set.sigs.as_deref() } else { None } }
    }

    fn negative(&mut self) {
        let (apex, soa) = self.zone.negative_soa();
        let soa = self.rrs(apex, soa);
        self.out.authority.push(soa);
    }

    /// A referral (RFC 1034 §4.3.2 step 3b), with the DS or the proof that there is none
    /// (RFC 4035 §3.1.4). After a CNAME the answer stays authoritative.
    fn referral(&mut self, cut: &'a Name, node: &'a Node) {
        if self.out.answer.is_empty() {
            self.out.authoritative = false;
        }
        let Some(ns) = node.rrset(RecordType::NS) else { return };
        self.out.authority.push(Rrs::set(cut, ns));
        if self.dnssec {
            match node.rrset(RecordType::DS) {
                Some(ds) => {
                    let ds = self.rrs(cut, ds);
                    self.out.authority.push(ds);
                }
                None if self.online() => deny::no_type(self.zone, cut, node, None, self.synth, &mut self.out.authority),
                None => proof::no_type(self.zone, cut, &mut self.out.authority),
            }
        }
        self.glue(ns, Some(cut));
    }

    /// A DNAME above `name` (RFC 6672 §3.2): the DNAME, then the CNAME it synthesizes from
    /// `name` (the DNAME's TTL, unsigned), whose target the chain follows; YXDOMAIN when the
    /// new name would be longer than 255 octets.
    fn dname(&mut self, name: &'a Name, owner: &'a Name, node: &'a Node, synth: &'a Synthesized) -> Option<&'a Name> {
        let dname = node.rrset(RecordType::DNAME)?;
        let rrs = self.rrs(owner, dname);
        self.out.answer.push(rrs);
        let target = dname.target()?;
        let prefix = name.iter().count() - owner.iter().count();
        let Some(new) = substitute(name, prefix, target).and_then(|n| synth.keep(n)) else {
            self.out.rcode = ResponseCode::YXDomain;
            return None;
        };
        self.out.answer.push(Rrs::Cname { owner: name, ttl: dname.ttl, target: new, sigs: None });
        // A query for the CNAME itself has its answer (RFC 1034 §4.3.2 step 3a).
        (self.qtype != RecordType::CNAME).then_some(new)
    }

    /// The answer at an existing node or a wildcard's (`wild`: its owner and the closest
    /// encloser), with `name` as the owner. Returns the CNAME target to follow, if any.
    fn at_node(&mut self, name: &'a Name, node: &'a Node, wild: Option<(&'a Name, &'a Name)>) -> Option<&'a Name> {
        let qtype = self.qtype;
        if qtype == RecordType::RRSIG {
            // The signatures themselves, asked for by type: like Knot, one RRset of them, the
            // RRSIGs over the type with the lowest number (RFC 8482 §4.2 lets ANY answer one
            // RRset; RRSIG queries are no more useful in full).
            match node.first_signatures() {
                Some(s) => {
                    self.out.answer.push(Rrs::set(name, s));
                }
                None => self.no_type(name, node, wild),
            }
            return None;
        }
        if qtype == RecordType::NSEC && self.online() && wild.is_none() {
            // An online zone has no NSEC records until asked: the one at this name, signed.
            let mut found = Section::new();
            deny::no_type(self.zone, name, node, None, self.synth, &mut found);
            for r in found.iter() {
                if let Rrs::Set { owner, set, sigs } = *r {
                    self.out.answer.push(Rrs::Set { owner, set, sigs: if self.dnssec { sigs } else { None } });
                }
            }
            return None;
        }
        if let Some(cname) = node.rrset(RecordType::CNAME)
            && qtype != RecordType::CNAME
            && node.rrset(qtype).is_none()
        {
            // (Beside a CNAME only NSEC and RRSIG may be, RFC 4035 §2.5: asked for, they are answered.)
            let rrs = self.rrs(name, cname);
            self.out.answer.push(rrs);
            self.wildcard_proof(name, wild);
            // ANY matches the CNAME itself (RFC 1034 §4.3.2 step 3a): not followed.
            return if qtype == RecordType::ANY { None } else { cname.target() };
        }
        if let Some(pool) = node.pool
            && matches!(qtype, RecordType::A | RecordType::AAAA | RecordType::ANY)
        {
            self.out.pooled = Some(Pooled { zone: self.zone_index, pool, owner: name });
            return None;
        }
        // ANY: one RRset of the name (RFC 8482 §4.2).
        let set = if qtype == RecordType::ANY { node.rrsets.first() } else { node.rrset(qtype) };
        match set {
            Some(set) => {
                let rrs = self.rrs(name, set);
                self.out.answer.push(rrs);
                self.wildcard_proof(name, wild);
                if matches!(qtype, RecordType::NS | RecordType::MX | RecordType::SRV) {
                    self.glue(set, None);
                }
            }
            None => self.no_type(name, node, wild),
        }
        None
    }

    fn online(&self) -> bool {
        self.zone.signing == Signing::Online
    }

    /// NODATA: the SOA, and with DNSSEC the proof that the type is absent (`node` is the
    /// name's, or for a wildcard the wildcard's).
    fn no_type(&mut self, name: &'a Name, node: &'a Node, wild: Option<(&'a Name, &'a Name)>) {
        self.negative();
        if !self.dnssec {
            return;
        }
        let (zone, synth, out) = (self.zone, self.synth, &mut self.out.authority);
        match (wild, self.zone.signing == Signing::Online) {
            (None, true) => deny::no_type(zone, name, node, None, synth, out),
            (None, false) => proof::no_type(zone, name, out),
            (Some((source, encloser)), true) => deny::wildcard_no_type(zone, name, encloser, source, node, synth, out),
            (Some((source, encloser)), false) => proof::wildcard_no_type(zone, name, encloser, source, out),
        }
    }

    fn wildcard_proof(&mut self, name: &'a Name, wild: Option<(&'a Name, &'a Name)>) {
        if let (true, Some((_, encloser))) = (self.dnssec, wild) {
            match self.zone.signing {
                Signing::Online => {
                    deny::wildcard_answer(self.zone, name, encloser, self.synth, &mut self.out.authority)
                }
                _ => proof::wildcard_answer(self.zone, name, encloser, &mut self.out.authority),
            }
        }
    }

    /// Adds the A and AAAA records of in-zone targets of NS, MX or SRV records. For a
    /// referral, `cut` is the delegation point: glue at or below it is served although it is
    /// occluded.
    fn glue(&mut self, set: &'a RRset, cut: Option<&Name>) {
        let zone = self.zone;
        for target in set.targets() {
            if !zone.origin.zone_of(target) {
                continue;
            }
            // Data below another delegation point is not ours to give, except glue of this cut.
            if let Found::Delegation(c, _) = zone.find(target, RecordType::A)
                && cut.is_none_or(|cut| !cut.zone_of(c))
            {
                continue;
            }
            let Some((owner, node)) = zone.entry(target) else { continue };
            for t in [RecordType::A, RecordType::AAAA] {
                if let Some(addrs) = node.rrset(t)
                    && !self.out.additional.contains(addrs)
                {
                    // Two records naming one target: its addresses once.
                    let rrs = self.rrs(owner, addrs);
                    self.out.additional.push(rrs);
                }
            }
        }
    }
}
