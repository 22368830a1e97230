//! The authoritative data of one zone and the walk down its tree.
//!
//! A zone is a hash map from owner name to node. Every name between the apex and an
//! owner exists as a node too (an empty non-terminal when it holds no RRsets), so the
//! closest encloser of any query name is found by walking its ancestors ([`Zone::find`]).
use std::collections::HashMap;

use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::hash::NameHash;
use super::parse::SourceRecord;
use super::source::{DataDigest, ZoneSource};
use crate::diag::ConfigError;
use crate::pool::{PoolId, Pools};

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
    /// The file, SOA line, serial and data digest, for the checks of a reload.
    pub source: ZoneSource,
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
        let mut digest = DataDigest::new();
        let mut soa_file = std::path::PathBuf::new();
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
                soa_file = sr.file.to_path_buf();
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
                    digest.add(&rec);
                    set.records.push(rec);
                }
                None => {
                    digest.add(&rec);
                    node.rrsets.push(RRset { rtype, ttl: rec.ttl, records: vec![rec] })
                }
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
        let Some((soa, soa_line)) = soa else {
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
        let (minimum, serial) = match &soa.data {
            RData::SOA(s) => (s.minimum, s.serial),
            _ => (soa.ttl, 0),
        };
        let mut negative_soa = soa.clone();
        negative_soa.ttl = soa.ttl.min(minimum);
        let source = ZoneSource { file: soa_file, soa_line, serial, digest: digest.finish() };
        Ok(Zone { origin, pools: Pools::default(), nodes, negative_soa, soa, source })
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
pub(crate) fn labels(name: &Name) -> usize {
    name.iter().count()
}

/// The ancestor of `name` with `labels` labels, as a fully qualified name (hickory's
/// `trim_to` drops the FQDN flag, which is part of name equality, and allocates). Built by
/// reading the labels back from wire form on the stack: no heap for names under 32 bytes.
pub(crate) fn ancestor(name: &Name, labels: usize) -> Name {
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
