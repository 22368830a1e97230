//! The authoritative data of one zone and the RFC 1034 §4.3.2 / RFC 4592 lookup over it.
//!
//! A zone is a hash map from owner name to node. Every name between the apex and an
//! owner exists as a node too (an empty non-terminal when it holds no RRsets), so the
//! closest encloser of any query name is found by walking its ancestors.
//! Lookups return references into the zone; nothing here allocates per query except
//! the section vectors that the caller owns.
use std::collections::HashMap;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::config::ConfigError;
use crate::dns::encode::{Rrs, Section};
use crate::steer::{Content, MemberId, MemberInfo, MemberTarget, PoolId, Pools};

use super::parse::SourceRecord;

/// The records of one owner name and type, all with one TTL.
#[derive(Clone, Debug)]
pub struct RRset {
    pub rtype: RecordType,
    pub ttl: u32,
    pub records: Vec<Record>,
}

/// An owner name's RRsets, and what the name is in the tree.
#[derive(Clone, Debug, Default)]
pub struct Node {
    pub rrsets: Vec<RRset>,
    /// Set when the node holds NS and is not the apex: everything at and below it is delegated.
    pub delegation: bool,
    /// The pool that answers A/AAAA at this name, if it is a pooled name.
    pub pool: Option<PoolId>,
}

impl Node {
    pub fn rrset(&self, t: RecordType) -> Option<&RRset> {
        self.rrsets.iter().find(|r| r.rtype == t)
    }
    /// A node with no data of its own: an empty non-terminal.
    pub fn is_empty_nonterminal(&self) -> bool {
        self.rrsets.is_empty() && self.pool.is_none()
    }
}

/// One zone, validated: exactly one SOA at the apex, NS at the apex, no CNAME beside other data.
#[derive(Debug)]
pub struct Zone {
    pub origin: Name,
    /// The pools of this zone's pooled names (empty when the zone has no pool file).
    pub pools: Pools,
    nodes: HashMap<Name, Node, NameHash>,
    /// The SOA record, with its TTL already lowered to min(TTL, MINIMUM) for negative answers (RFC 2308 §5).
    negative_soa: Record,
    soa: Record,
}

/// The hasher of the owner-name map. hickory hashes a `Name` one byte at a time (lower-cased);
/// with std's SipHash that was the largest single cost of both loading a big zone and of a
/// lookup. This is a multiply-rotate hash (FxHash's step) keyed per process: the keys are the
/// operator's own names, and a query only looks up, so collisions cannot be forced into the table.
#[derive(Clone, Debug)]
pub struct NameHash(u64);

impl NameHash {
    fn new() -> NameHash {
        NameHash(crate::dns::server::entropy_seed() | 1)
    }
}

impl std::hash::BuildHasher for NameHash {
    type Hasher = NameHasher;
    fn build_hasher(&self) -> NameHasher {
        NameHasher(self.0)
    }
}

/// See [`NameHash`].
pub struct NameHasher(u64);

impl NameHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for NameHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // A final avalanche, so that the low bits hashbrown uses depend on every byte.
        let mut z = self.0;
        z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        z ^ (z >> 33)
    }
}

/// How a query name relates to the zone's data: the result of the tree walk.
#[derive(Debug)]
pub enum Found<'z> {
    /// The name exists (possibly as an empty non-terminal).
    Exact(&'z Node),
    /// The name does not exist but the wildcard `*.<closest encloser>` does.
    Wildcard(&'z Node),
    /// The name is at or below a delegation point (not counting DS at the point itself).
    Delegation(&'z Name, &'z Node),
    /// The name does not exist and no wildcard covers it.
    NxDomain,
}

impl Zone {
    /// Builds a zone from parsed records, reporting every structural problem with its line.
    pub fn build(origin: Name, records: Vec<SourceRecord>) -> Result<Zone, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut nodes: HashMap<Name, Node, NameHash> = HashMap::with_hasher(NameHash::new());
        nodes.insert(origin.clone(), Node::default());
        let mut soa: Option<(Record, usize)> = None;
        let mut first_file = None;
        // Lines where each (owner, type) first appeared, for CNAME conflict reports.
        let mut cname_line: HashMap<Name, (std::sync::Arc<std::path::Path>, usize)> = HashMap::new();
        for sr in records {
            if first_file.is_none() {
                first_file = Some(sr.file.to_path_buf());
            }
            let rec = sr.record;
            let owner = rec.name.clone();
            if !origin.zone_of(&owner) {
                errors.push(ConfigError::new(
                    sr.file.as_ref(),
                    sr.line,
                    format!("{owner} is outside the zone {origin}"),
                ));
                continue;
            }
            let rtype = rec.record_type();
            if rtype == RecordType::SOA {
                if owner != origin {
                    errors.push(ConfigError::new(
                        sr.file.as_ref(),
                        sr.line,
                        format!("SOA at {owner}: an SOA belongs only at the zone apex {origin}"),
                    ));
                    continue;
                }
                if let Some((_, l)) = &soa {
                    errors.push(ConfigError::new(
                        sr.file.as_ref(),
                        sr.line,
                        format!("second SOA record (the first is on line {l})"),
                    ));
                    continue;
                }
                soa = Some((rec.clone(), sr.line));
            }
            if rtype == RecordType::CNAME {
                cname_line.entry(owner.clone()).or_insert((sr.file.clone(), sr.line));
            }
            if !nodes.contains_key(&owner) {
                // Create the owner and the empty non-terminals up to the first name that exists.
                nodes.insert(owner.clone(), Node::default());
                let mut n = labels(&owner) - 1;
                while n > labels(&origin) {
                    let a = ancestor(&owner, n);
                    if nodes.contains_key(&a) {
                        break;
                    }
                    nodes.insert(a, Node::default());
                    n -= 1;
                }
            }
            let Some(node) = nodes.get_mut(&owner) else { continue };
            match node.rrsets.iter_mut().find(|r| r.rtype == rtype) {
                Some(set) => {
                    if set.records.iter().any(|r| r.data == rec.data) {
                        continue; // a duplicate record is one record (RFC 2181 §5)
                    }
                    if rtype == RecordType::CNAME {
                        errors.push(ConfigError::new(
                            sr.file.as_ref(),
                            sr.line,
                            format!("{owner}: a name can have only one CNAME"),
                        ));
                        continue;
                    }
                    // RFC 2181 §5.2: one TTL per RRset; the first record's TTL is used.
                    let mut rec = rec;
                    rec.ttl = set.ttl;
                    set.records.push(rec);
                }
                None => node.rrsets.push(RRset { rtype, ttl: rec.ttl, records: vec![rec] }),
            }
        }
        let file = first_file.unwrap_or_default();
        // CNAME and other data (RFC 1034 §3.6.2, RFC 2181 §10.1).
        for (name, node) in &nodes {
            if node.rrset(RecordType::CNAME).is_some() && node.rrsets.len() > 1 {
                let (f, l) = cname_line.get(name).map(|(f, l)| (f.to_path_buf(), *l)).unwrap_or((file.clone(), 0));
                errors.push(ConfigError::new(f, l, format!("{name} has a CNAME and other data")));
            }
        }
        let apex = nodes.get(&origin).expect("apex inserted");
        if apex.rrset(RecordType::NS).is_none() {
            errors.push(ConfigError::new(&file, 0, format!("zone {origin} has no NS records at its apex")));
        }
        let Some((soa, _)) = soa else {
            errors.push(ConfigError::new(&file, 0, format!("zone {origin} has no SOA record at its apex")));
            errors.sort_by_key(|e| e.line);
            return Err(errors);
        };
        if !errors.is_empty() {
            errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            return Err(errors);
        }
        for (name, node) in nodes.iter_mut() {
            node.delegation = *name != origin && node.rrset(RecordType::NS).is_some();
        }
        let minimum = match &soa.data {
            RData::SOA(s) => s.minimum,
            _ => soa.ttl,
        };
        let mut negative_soa = soa.clone();
        negative_soa.ttl = soa.ttl.min(minimum);
        Ok(Zone { origin, pools: Pools::default(), nodes, negative_soa, soa })
    }

    pub fn soa(&self) -> &Record {
        &self.soa
    }
    /// The SOA for the authority section of NXDOMAIN and NODATA answers.
    pub fn negative_soa(&self) -> &Record {
        &self.negative_soa
    }
    pub fn node(&self, name: &Name) -> Option<&Node> {
        self.nodes.get(name)
    }
    pub fn node_mut(&mut self, name: &Name) -> Option<&mut Node> {
        self.nodes.get_mut(name)
    }
    /// Adds an (empty) node and its missing ancestors; used to place pooled names.
    pub fn ensure_node(&mut self, name: &Name) -> &mut Node {
        let mut n = labels(name);
        while n > labels(&self.origin) {
            self.nodes.entry(ancestor(name, n)).or_default();
            n -= 1;
        }
        self.nodes.get_mut(name).expect("inserted above")
    }
    /// Makes the pooled names of `pools` answer from their pools. A pooled name may not
    /// also have static A, AAAA or CNAME records, nor sit at or below a delegation.
    /// Errors point at the pooled name's line in the pool file.
    pub fn attach_pools(
        &mut self,
        mut pools: Pools,
        pool_file: &std::path::Path,
        pool_text: &str,
    ) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        self.attach_delegations(&mut pools, pool_file, pool_text, &mut errors);
        let mut placed = Vec::new();
        for (lower, pool) in pools.names() {
            let name = Name::from(lower.clone());
            // The line is looked up only for an error: a scan per name would be quadratic.
            let line = || key_line(pool_text, &name, &self.origin);
            if let Found::Delegation(cut, _) = self.find(&name, RecordType::A) {
                errors.push(ConfigError::new(
                    pool_file,
                    line(),
                    format!("pooled name {name} is at or below the delegation {cut}"),
                ));
                continue;
            }
            if let Some(node) = self.nodes.get(&name) {
                for t in [RecordType::A, RecordType::AAAA, RecordType::CNAME] {
                    if node.rrset(t).is_some() {
                        errors.push(ConfigError::new(
                            pool_file,
                            line(),
                            format!("pooled name {name} also has static {t} records in the zone file"),
                        ));
                    }
                }
            }
            placed.push((name, pool));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        for (name, pool) in placed {
            self.ensure_node(&name).pool = Some(pool);
        }
        self.pools = pools;
        Ok(())
    }

    /// Checks every `delegate` region against this zone: its target must be at or below a
    /// zone cut, and each in-zone name server of the cut must have glue. Fills the cut and
    /// the glue addresses, each as a new health-checked member of the region (probed with
    /// the region's probe, so the region is up while any glue address is up).
    fn attach_delegations(
        &self,
        pools: &mut Pools,
        pool_file: &std::path::Path,
        pool_text: &str,
        errors: &mut Vec<ConfigError>,
    ) {
        let mut infos = std::mem::take(&mut pools.members);
        for pool in &mut pools.pools {
            for region in pool.regions.iter_mut() {
                let Content::Cname { target, delegation: Some(d), id } = &mut region.content else {
                    continue;
                };
                let ctx = format!("pool {}, region {}", pool.name, region.name);
                let line = crate::config::line_of(pool_text, d.offset);
                let Found::Delegation(cut, node) = self.find(target, RecordType::A) else {
                    errors.push(ConfigError::new(pool_file, line, format!(
                        "{ctx}: delegate target {target} is not at or below a zone cut (NS delegation) in the zone file of {}",
                        self.origin
                    )));
                    continue;
                };
                let (pool_id, region_id) = match infos.get(id.index()) {
                    Some(m) => (m.pool, m.region),
                    None => continue,
                };
                let mut glue = Vec::new();
                for r in node.rrset(RecordType::NS).map(|s| s.records.as_slice()).unwrap_or(&[]) {
                    let RData::NS(ns) = &r.data else { continue };
                    if !self.origin.zone_of(&ns.0) {
                        continue; // out of zone: the resolver looks it up; no glue needed
                    }
                    let addrs: Vec<std::net::IpAddr> = self
                        .node(&ns.0)
                        .map(|n| {
                            [RecordType::A, RecordType::AAAA]
                                .iter()
                                .filter_map(|t| n.rrset(*t))
                                .flat_map(|set| set.records.iter())
                                .filter_map(|r| r.data.ip_addr())
                                .collect()
                        })
                        .unwrap_or_default();
                    if addrs.is_empty() {
                        errors.push(ConfigError::new(pool_file, line, format!(
                            "{ctx}: name server {} of the delegation {cut} has no glue (A or AAAA records) in the zone file",
                            ns.0
                        )));
                    }
                    for a in addrs {
                        if !glue.iter().any(|(_, g)| *g == a) {
                            let gid = MemberId(infos.len() as u32);
                            infos.push(MemberInfo {
                                pool: pool_id,
                                region: region_id,
                                target: MemberTarget::Address(a),
                                down_in_file: false,
                                probe: d.probe.clone(),
                            });
                            glue.push((gid, a));
                        }
                    }
                }
                if glue.is_empty() && d.probe.is_some() {
                    errors.push(ConfigError::new(pool_file, line, format!(
                        "{ctx}: the delegation {cut} has no in-zone name servers with glue, so the region's probe has no address to probe"
                    )));
                }
                d.cut = Some(cut.clone());
                d.glue = glue;
            }
        }
        pools.members = infos;
    }

    pub fn names(&self) -> impl Iterator<Item = (&Name, &Node)> {
        self.nodes.iter()
    }
    pub fn record_count(&self) -> usize {
        self.nodes.values().flat_map(|n| n.rrsets.iter()).map(|s| s.records.len()).sum()
    }

    /// Walks from the apex down to `qname` (which must be in the zone), stopping at a
    /// delegation or at the first missing name. A DS query at a delegation point is
    /// answered from this (the parent) side, so it does not stop there.
    pub fn find(&self, qname: &Name, qtype: RecordType) -> Found<'_> {
        let top = labels(&self.origin);
        let bottom = labels(qname);
        let mut encloser = &self.origin;
        for n in top + 1..=bottom {
            let above;
            let name = if n == bottom {
                qname
            } else {
                above = ancestor(qname, n);
                &above
            };
            match self.nodes.get_key_value(name) {
                Some((key, node)) => {
                    if node.delegation && !(n == bottom && qtype == RecordType::DS) {
                        return Found::Delegation(key, node);
                    }
                    encloser = key;
                }
                None => {
                    // RFC 4592 §3.3.1: the source of synthesis is *.<closest encloser>.
                    return match encloser.prepend_label("*").ok().and_then(|w| self.nodes.get(&w)) {
                        Some(w) => Found::Wildcard(w),
                        None => Found::NxDomain,
                    };
                }
            }
        }
        match self.nodes.get(qname) {
            Some(node) => Found::Exact(node),
            None => Found::NxDomain, // qname is the apex's ancestor; cannot happen for in-zone names
        }
    }
}

/// The number of labels of `name`, a leading `*` included (hickory's `num_labels` leaves it out).
fn labels(name: &Name) -> usize {
    name.iter().count()
}

/// The ancestor of `name` with `labels` labels, as a fully qualified name (hickory's
/// `trim_to` drops the FQDN flag, which is part of name equality, and allocates). Built by
/// reading the labels back from wire form on the stack: no heap for names under 32 bytes.
fn ancestor(name: &Name, labels: usize) -> Name {
    let total = name.iter().count();
    let mut buf = [0u8; 256];
    let mut len = 0;
    for label in name.iter().skip(total.saturating_sub(labels)) {
        if len + 1 + label.len() >= buf.len() {
            break; // cannot happen: a name is at most 255 bytes
        }
        buf[len] = label.len() as u8;
        buf[len + 1..len + 1 + label.len()].copy_from_slice(label);
        len += 1 + label.len();
    }
    buf[len] = 0;
    Name::read(&mut BinDecoder::new(&buf[..len + 1])).unwrap_or_else(|_| {
        let mut n = name.trim_to(labels);
        n.set_fqdn(true);
        n
    })
}

/// The line of the `[names]` key for `name` in a pool file (relative or absolute form), or 0.
fn key_line(text: &str, name: &Name, origin: &Name) -> usize {
    let abs = name.to_ascii();
    let rel =
        abs.strip_suffix(&format!(".{}", origin.to_ascii())).map(str::to_string).unwrap_or_else(|| "@".to_string());
    text.lines()
        .position(|l| {
            let k = l.split('=').next().unwrap_or("").trim().trim_matches('"');
            k.eq_ignore_ascii_case(&rel) || k.eq_ignore_ascii_case(&abs)
        })
        .map(|i| i + 1)
        .unwrap_or(0)
}

/// Every zone the server is authoritative for.
#[derive(Debug, Default)]
pub struct ZoneSet {
    zones: Vec<Zone>,
}

impl ZoneSet {
    pub fn new(mut zones: Vec<Zone>) -> ZoneSet {
        // Most specific origin first, so the first match is the deepest zone.
        zones.sort_by_key(|z| std::cmp::Reverse(labels(&z.origin)));
        ZoneSet { zones }
    }
    /// The deepest zone that contains `name`, with its index in [`ZoneSet::zones`].
    pub fn zone_for(&self, name: &Name) -> Option<(usize, &Zone)> {
        self.zones.iter().enumerate().find(|(_, z)| z.origin.zone_of(name))
    }
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }
}

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
        if let Some(cname) = node.rrset(RecordType::CNAME) {
            if qtype != RecordType::CNAME {
                out.answer.push(at_name(&cname.records));
                let Some(RData::CNAME(target)) = cname.records.first().map(|r| &r.data) else { break };
                let target = &target.0;
                if !zone.origin.zone_of(target) {
                    return out; // out of zone: the resolver follows it
                }
                name = target;
                continue;
            }
        }
        if let Some(pool) = node.pool {
            if matches!(qtype, RecordType::A | RecordType::AAAA | RecordType::ANY) {
                out.pooled = Some(Pooled { zone: zone_index, pool, owner: name });
                return out;
            }
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
        if let Found::Delegation(c, _) = zone.find(target, RecordType::A) {
            if cut.is_none_or(|cut| !cut.zone_of(c)) {
                continue;
            }
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
