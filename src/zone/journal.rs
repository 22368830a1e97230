//! What a zone transfer sends, and the journal of differences IXFR (RFC 1995) is served from.
//!
//! ```text
//! Zone ─transfer_records─► [Record] (every record but the SOA, RRSIGs included, owner order)
//! old zone, new zone ─Change::between─► Change { from, to, removed, added }
//! Journal (on the Zone, carried across reloads) ─push─► the last N changes ─chain(serial)─► IXFR or AXFR
//! ```
//! A record is compared octet for octet (owner as wire, type, TTL, RDATA as loaded): what the
//! zone file says is what a secondary gets, and a difference in any octet is a change.
use std::collections::VecDeque;
use std::sync::Arc;

use hickory_proto::rr::RecordType;

use super::tree::Zone;

/// One record as a transfer writes it (class IN).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Record {
    /// Owner, uncompressed wire form, in the zone file's letter case.
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: Box<[u8]>,
}

impl Record {
    /// Appends the record in wire form (no compression).
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.owner);
        out.extend_from_slice(&self.rtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&self.ttl.to_be_bytes());
        out.extend_from_slice(&(self.rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.rdata);
    }
    /// The octets [`Record::write`] appends.
    pub fn wire_len(&self) -> usize {
        self.owner.len() + 10 + self.rdata.len()
    }
}

/// The differences between two versions of a zone.
#[derive(Debug)]
pub struct Change {
    pub old_soa: Record,
    pub new_soa: Record,
    pub removed: Vec<Record>,
    pub added: Vec<Record>,
}

impl Change {
    /// What turns `old` into `new` (their SOAs included).
    pub fn between(old: &Zone, new: &Zone) -> Option<Change> {
        let (old_soa, new_soa) = (old.soa_record()?, new.soa_record()?);
        let (a, b) = (old.transfer_records(), new.transfer_records());
        let (mut removed, mut added) = (Vec::new(), Vec::new());
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x == y => {
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x < y => {
                    removed.push(x.clone());
                    i += 1;
                }
                (Some(_), Some(y)) => {
                    added.push(y.clone());
                    j += 1;
                }
                (Some(x), None) => {
                    removed.push(x.clone());
                    i += 1;
                }
                (None, Some(y)) => {
                    added.push(y.clone());
                    j += 1;
                }
                (None, None) => break,
            }
        }
        Some(Change { old_soa, new_soa, removed, added })
    }
    pub fn from_serial(&self) -> u32 {
        serial_of(&self.old_soa)
    }
    pub fn to_serial(&self) -> u32 {
        serial_of(&self.new_soa)
    }
}

fn serial_of(soa: &Record) -> u32 {
    super::master::wire::soa_serial(&soa.rdata).unwrap_or(0)
}

/// The last changes of a zone, oldest first; cheap to clone (each change is shared).
#[derive(Clone, Debug, Default)]
pub struct Journal {
    changes: VecDeque<Arc<Change>>,
}

impl Journal {
    /// This journal with `change` added, keeping at most `limit` changes (0: none).
    pub fn with(&self, change: Change, limit: usize) -> Journal {
        let mut j = self.clone();
        if limit == 0 {
            j.changes.clear();
            return j;
        }
        // A change back to a serial the journal holds (a reverted file) would make the chain
        // ambiguous: start the journal again from this change.
        if j.changes.iter().any(|c| c.from_serial() == change.to_serial()) {
            j.changes.clear();
        }
        j.changes.push_back(Arc::new(change));
        while j.changes.len() > limit {
            j.changes.pop_front();
        }
        j
    }

    /// The changes from `serial` to the newest, in order, when the journal reaches that far back.
    pub fn chain(&self, serial: u32) -> Option<Vec<Arc<Change>>> {
        let start = self.changes.iter().position(|c| c.from_serial() == serial)?;
        let chain: Vec<Arc<Change>> = self.changes.iter().skip(start).cloned().collect();
        let linked = chain.windows(2).all(|w| w[0].to_serial() == w[1].from_serial());
        linked.then_some(chain)
    }

    pub fn len(&self) -> usize {
        self.changes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
    /// The oldest serial IXFR can start from.
    pub fn oldest_serial(&self) -> Option<u32> {
        self.changes.front().map(|c| c.from_serial())
    }
}

impl Zone {
    /// The SOA as a transfer writes it.
    pub fn soa_record(&self) -> Option<Record> {
        let (owner, soa) = self.soa()?;
        let rdata = soa.rdatas().next()?;
        Some(Record { owner: super::name_wire(owner), rtype: 6, ttl: soa.ttl, rdata: rdata.into() })
    }

    /// Every record of the zone but the SOA (RRSIGs included; for an online-signed zone its
    /// NSEC chain, `online::chain`), sorted, so two
    /// versions compare with one merge. Pooled names contribute only what the zone file holds
    /// for them (a secondary cannot steer: their A/AAAA are the pool's business).
    pub fn transfer_records(&self) -> Vec<Record> {
        let mut out = Vec::with_capacity(self.record_count());
        for (name, node) in self.names() {
            let owner = super::name_wire(name);
            out.extend(self.pooled_static(node, &owner));
            for set in &node.rrsets {
                if set.rtype == RecordType::SOA && *name == self.origin {
                    if let Some(sigs) = &set.sigs {
                        push_set(&mut out, &owner, sigs);
                    }
                    continue;
                }
                push_set(&mut out, &owner, set);
                if let Some(sigs) = &set.sigs {
                    push_set(&mut out, &owner, sigs);
                }
            }
        }
        // An online-signed zone: the NSEC chain a secondary needs in place of white lies.
        out.extend(super::online::chain::transfer_chain(self));
        out.sort();
        out
    }
}

impl Zone {
    /// The A/AAAA records a pooled node sends to secondaries (`transfer = { static = [...] }`
    /// of its pool); none for other nodes and for `transfer = "omit"`.
    pub fn pooled_static(&self, node: &super::Node, owner: &[u8]) -> Vec<Record> {
        let Some(pool) = node.pool.and_then(|id| self.pools.pool(id)) else { return Vec::new() };
        let ttl = pool.ttl.get();
        pool.transfer_static
            .iter()
            .map(|a| {
                let (rtype, rdata): (u16, Box<[u8]>) = match a {
                    std::net::IpAddr::V4(v4) => (1, v4.octets().into()),
                    std::net::IpAddr::V6(v6) => (28, v6.octets().into()),
                };
                Record { owner: owner.to_vec(), rtype, ttl, rdata }
            })
            .collect()
    }
}

fn push_set(out: &mut Vec<Record>, owner: &[u8], set: &super::RRset) {
    for r in set.rdatas() {
        out.push(Record { owner: owner.to_vec(), rtype: u16::from(set.rtype), ttl: set.ttl, rdata: r.into() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::{Signing, parse_zone};
    use hickory_proto::rr::Name;
    use std::path::Path;

    fn zone(serial: u32, body: &str) -> Zone {
        let text = format!(
            "$ORIGIN example.test.\n$TTL 300\n@ SOA ns host {serial} 7200 900 1209600 300\n@ NS ns\nns A 192.0.2.53\n{body}"
        );
        parse_zone(text.as_bytes(), Path::new("z"), &Name::from_ascii("example.test.").unwrap(), Signing::None).unwrap()
    }

    #[test]
    fn changes_and_chains() {
        let (z1, z2, z3) =
            (zone(1, "www A 192.0.2.1\n"), zone(2, "www A 192.0.2.2\n"), zone(3, "www 60 A 192.0.2.2\nx TXT hi\n"));
        let c12 = Change::between(&z1, &z2).unwrap();
        assert_eq!((c12.from_serial(), c12.to_serial(), c12.removed.len(), c12.added.len()), (1, 2, 1, 1));
        let c23 = Change::between(&z2, &z3).unwrap();
        assert_eq!((c23.removed.len(), c23.added.len()), (1, 2), "a TTL change replaces the record");
        let j = Journal::default().with(c12, 5).with(c23, 5);
        assert_eq!(j.chain(1).map(|c| c.len()), Some(2));
        assert_eq!(j.chain(2).map(|c| c.len()), Some(1));
        assert!(j.chain(0).is_none() && j.chain(3).is_none());
        let bounded = j.with(Change::between(&z3, &zone(4, "")).unwrap(), 2);
        assert_eq!((bounded.len(), bounded.oldest_serial()), (2, Some(2)));
    }
}
