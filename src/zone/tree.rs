//! The authoritative data of one zone and the walk down its tree.
//!
//! A zone is a hash map from owner name to node. Every name between the apex and an
//! owner exists as a node too (an empty non-terminal when it holds no RRsets), so the
//! closest encloser of any query name is found by walking its ancestors ([`Zone::find`]).
//! Keys compare without letter case, as lower-cased wire-form names ([`super::nodes`]): the
//! walk lower-cases the query name once and looks its ancestors up as suffixes of it. Each
//! key keeps the case the zone file first wrote it in, which is the owner the records go
//! out with.
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::dnssec::{Denial, Signing};
use super::key::{WireKey, wildcard_of, wire_buf};
use super::nodes::NodeMap;
use super::rrset::RRset;
use super::source::ZoneSource;
use crate::diag::ConfigError;
use crate::pool::{PoolId, Pools};

/// An owner name's RRsets, and what the name is in the tree.
#[derive(Clone, Debug, Default)]
pub struct Node {
    /// One RRset per type, in the order the zone file first wrote each. RRSIGs hang off the
    /// RRset they cover ([`RRset::sigs`]); an RRSIG whose covered type has no RRset here is
    /// kept as an RRset of type RRSIG (one per type covered).
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
    /// The RRSIG RRset at this name over the type with the lowest number (what a query for
    /// type RRSIG gets), among those hanging off the RRsets and those covering no RRset here.
    pub fn first_signatures(&self) -> Option<&RRset> {
        let covered = |s: &RRset| s.rdatas().next().and_then(|r| r.get(..2)).map(|b| u16::from_be_bytes([b[0], b[1]]));
        self.rrsets
            .iter()
            .filter_map(|s| if s.rtype == RecordType::RRSIG { Some(s) } else { s.sigs.as_deref() })
            .min_by_key(|s| covered(s))
    }
}

/// One zone, validated: one SOA at the apex, NS at the apex, no CNAME beside other data,
/// nothing below a DNAME (the loader's checks, [`super::master`]).
#[derive(Clone, Debug)]
pub struct Zone {
    pub origin: Name,
    /// The pools of this zone's pooled names (empty when the zone has no pool file).
    pub pools: Pools,
    pub signing: Signing,
    /// What the loader warned about (mixed TTLs in an RRset, no TTL given), file:line each.
    pub warnings: Vec<ConfigError>,
    /// The files the zone was read from: its zone file, then each `$INCLUDE`d file.
    pub files: Vec<std::path::PathBuf>,
    /// The file, SOA line, serial and data digest, for the checks of a reload.
    pub source: ZoneSource,
    pub(super) nodes: NodeMap,
    /// The SOA RRset with its TTL lowered to min(TTL, MINIMUM) for negative answers (RFC 2308 §5).
    pub(super) negative_soa: RRset,
    /// The NSEC or NSEC3 chain of a pre-signed zone.
    pub(super) denial: Denial,
    /// Whether the apex holds a DNAME (then every name below it is redirected).
    pub(super) apex_dname: bool,
    /// The origin's label count (looked at by every lookup).
    pub(super) origin_labels: usize,
    /// The differences from earlier versions, for IXFR (carried across reloads by the config).
    pub journal: super::Journal,
    /// The online signer of a zone with `signing = "online"`, once it is signed
    /// ([`super::online::sign::sign_zone`]).
    pub signer: Option<std::sync::Arc<super::online::Signer>>,
}

/// How a query name relates to the zone's data: the result of the tree walk.
#[derive(Debug)]
pub enum Found<'z> {
    /// The name exists (possibly as an empty non-terminal), with its owner as stored.
    Exact(&'z Name, &'z Node),
    /// The name does not exist but the wildcard `source` = `*.<encloser>` does (RFC 4592).
    Wildcard { source: &'z Name, node: &'z Node, encloser: &'z Name },
    /// The name is at or below a delegation point (not counting DS at the point itself: the
    /// parent's data, RFC 4035 §2.4).
    Delegation(&'z Name, &'z Node),
    /// The name is below a DNAME owner (RFC 6672 §2.3; a DNAME does not redirect its own name).
    Dname(&'z Name, &'z Node),
    /// The name does not exist and no wildcard covers it; `encloser` is its closest encloser.
    NxDomain { encloser: &'z Name },
}

impl Zone {
    /// The SOA RRset, with the owner it is served under.
    pub fn soa(&self) -> Option<(&Name, &RRset)> {
        let (apex, node) = self.nodes.get_key_value(&self.origin)?;
        Some((apex, node.rrset(RecordType::SOA)?))
    }
    /// The apex owner (as the zone file wrote it) and the SOA for the authority section of
    /// NXDOMAIN and NODATA answers.
    pub fn negative_soa(&self) -> (&Name, &RRset) {
        let apex = self.nodes.get_key_value(&self.origin).map(|(k, _)| k).unwrap_or(&self.origin);
        (apex, &self.negative_soa)
    }
    pub fn node(&self, name: &Name) -> Option<&Node> {
        self.nodes.get(name)
    }
    /// The node and its owner as stored (the zone file's letter case).
    pub fn entry(&self, name: &Name) -> Option<(&Name, &Node)> {
        self.nodes.get_key_value(name)
    }
    pub fn node_mut(&mut self, name: &Name) -> Option<&mut Node> {
        self.nodes.get_mut(name)
    }
    /// Adds an (empty) node and its missing ancestors; used to place pooled names.
    pub fn ensure_node(&mut self, name: &Name) -> &mut Node {
        let mut n = labels(name);
        while n > self.origin_labels {
            self.nodes.get_or_default(&ancestor(name, n));
            n -= 1;
        }
        self.nodes.get_or_default(name)
    }
    /// Serves the zone with SOA serial `serial` (the serial policies `unixtime` and
    /// `increment`): the SOA, the negative SOA and [`ZoneSource::serial`] change, nothing else.
    /// A zone signed online gets its SOA signed again with its ZSK; a pre-signed SOA cannot be,
    /// so it is left alone and `false` returned.
    pub fn set_serial(&mut self, serial: u32) -> bool {
        let origin = self.origin.clone();
        let signer = self.signer.clone();
        let Some(node) = self.nodes.get_mut(&origin) else { return false };
        let Some(soa) = node.rrsets.iter_mut().find(|r| r.rtype == RecordType::SOA) else { return false };
        if soa.sigs.is_some() && signer.is_none() {
            return false;
        }
        let Some(mut rdata) = soa.rdatas().next().map(<[u8]>::to_vec) else { return false };
        let Some(at) = rdata.len().checked_sub(20) else { return false };
        rdata[at..at + 4].copy_from_slice(&serial.to_be_bytes());
        let mut new = RRset::new(RecordType::SOA, soa.ttl, [rdata.as_slice()]);
        if soa.sigs.is_some() {
            match signer.as_deref().and_then(|s| s.sign_set(&new)) {
                Some(sigs) => new.sigs = Some(Box::new(sigs)),
                None => return false,
            }
        }
        *soa = new;
        self.negative_soa = soa.with_ttl(self.negative_soa.ttl);
        self.source.serial = serial;
        true
    }
    pub fn names(&self) -> impl Iterator<Item = (&Name, &Node)> {
        self.nodes.iter()
    }
    pub fn record_count(&self) -> usize {
        self.nodes
            .values()
            .flat_map(|n| n.rrsets.iter())
            .map(|s| s.len() + s.sigs.as_ref().map_or(0, |g| g.len()))
            .sum()
    }
    /// The NSEC/NSEC3 chain (empty for an unsigned zone).
    pub fn denial(&self) -> &Denial {
        &self.denial
    }

    /// Walks from the apex down to `qname` (which must be in the zone), stopping at a
    /// delegation, at a DNAME above the name, or at the first missing name. A DS query at a
    /// delegation point is answered from this (the parent) side, so it does not stop there.
    /// (An NSEC query there gets the referral, as from Knot: the cut's NSEC goes out only as
    /// a proof.)
    pub fn find(&self, qname: &Name, qtype: RecordType) -> Found<'_> {
        self.find_key(&WireKey::new(qname), qtype)
    }

    /// [`Zone::find`] of the name `key` holds (lower-cased once by the caller).
    pub(crate) fn find_key(&self, key: &WireKey, qtype: RecordType) -> Found<'_> {
        let top = self.origin_labels;
        let bottom = key.labels();
        // The apex is looked up only when it is the answer or the closest encloser.
        let apex = || self.nodes.get_wire(key.suffix(top));
        if bottom <= top || self.apex_dname {
            let Some((apex, apex_node)) = apex() else {
                return Found::NxDomain { encloser: &self.origin };
            };
            if bottom > top {
                return Found::Dname(apex, apex_node);
            }
            // The apex itself (or, for a name outside the zone, which cannot happen, above it).
            return if bottom == top { Found::Exact(apex, apex_node) } else { Found::NxDomain { encloser: apex } };
        }
        let mut below_apex = None;
        for n in top + 1..=bottom {
            match self.nodes.get_wire(key.suffix(n)) {
                Some((key, node)) => {
                    if node.delegation && !(n == bottom && qtype == RecordType::DS) {
                        return Found::Delegation(key, node);
                    }
                    if n == bottom {
                        return Found::Exact(key, node);
                    }
                    if node.rrset(RecordType::DNAME).is_some() {
                        return Found::Dname(key, node);
                    }
                    below_apex = Some(key);
                }
                None => {
                    let encloser = below_apex.or_else(|| apex().map(|(k, _)| k)).unwrap_or(&self.origin);
                    // RFC 4592 §3.3.1: the source of synthesis is *.<closest encloser>.
                    let mut buf = wire_buf();
                    let wild = wildcard_of(key.suffix(n - 1), &mut buf).and_then(|w| self.nodes.get_wire(w));
                    return match wild {
                        Some((source, node)) => Found::Wildcard { source, node, encloser },
                        None => Found::NxDomain { encloser },
                    };
                }
            }
        }
        Found::NxDomain { encloser: &self.origin } // not reached: the loop returns at `bottom`
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
