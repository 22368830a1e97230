//! The RRsets of a reply's sections, borrowed from the zones or standing for a pooled answer:
//! what a lookup produces and the encoder writes. Fixed capacity, on the stack.
use std::net::IpAddr;

use hickory_proto::rr::{Name, RData, Record};

/// One RRset of a reply section, borrowed (no record is copied to answer a query).
#[derive(Clone, Copy, Debug)]
pub enum Rrs<'a> {
    /// Records of one owner and type from a zone. `owner` replaces the records' own owner
    /// (the query name in the query's case, a CNAME target, a wildcard's synthesized name).
    Records { owner: Option<&'a Name>, records: &'a [Record] },
    /// A pooled name's A/AAAA answer: the reply's [`Reply::addrs`], all with this TTL.
    Addresses { owner: &'a Name, ttl: u32 },
    /// A pooled name's CNAME hand-off to a regional load balancer.
    Cname { owner: &'a Name, ttl: u32, target: &'a Name },
}

impl Rrs<'_> {
    /// The records of the RRset, for explain and tests (allocates; never on the query path).
    pub fn to_records(&self, addrs: &[IpAddr]) -> Vec<Record> {
        match *self {
            Rrs::Records { owner, records } => records
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    if let Some(o) = owner {
                        r.name = o.clone();
                    }
                    r
                })
                .collect(),
            Rrs::Addresses { owner, ttl } => addrs
                .iter()
                .map(|a| {
                    let rdata = match a {
                        IpAddr::V4(v4) => RData::A((*v4).into()),
                        IpAddr::V6(v6) => RData::AAAA((*v6).into()),
                    };
                    Record::from_rdata(owner.clone(), ttl, rdata)
                })
                .collect(),
            Rrs::Cname { owner, ttl, target } => {
                vec![Record::from_rdata(
                    owner.clone(),
                    ttl,
                    RData::CNAME(hickory_proto::rr::rdata::CNAME(target.clone())),
                )]
            }
        }
    }
}

/// The most RRsets one section holds. An answer is at most a CNAME chain of 12, its end,
/// and a pooled hand-off's chain (27); glue beyond this many RRsets is left out of the
/// additional section (which may always be cut, RFC 2181 §9).
pub const SECTION_CAP: usize = 32;

/// A fixed-capacity list of RRsets: a reply section, on the stack.
#[derive(Clone, Copy, Debug)]
pub struct Section<'a> {
    len: usize,
    items: [Rrs<'a>; SECTION_CAP],
}

impl Default for Section<'_> {
    fn default() -> Self {
        Section::new()
    }
}

impl<'a> Section<'a> {
    pub const fn new() -> Section<'a> {
        Section { len: 0, items: [Rrs::Records { owner: None, records: &[] }; SECTION_CAP] }
    }
    /// Adds an RRset; false (and nothing added) when the section is full.
    pub fn push(&mut self, r: Rrs<'a>) -> bool {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = r;
                self.len += 1;
                true
            }
            None => false,
        }
    }
    pub fn extend(&mut self, other: &Section<'a>) {
        for r in other.as_slice() {
            self.push(*r);
        }
    }
    pub fn as_slice(&self) -> &[Rrs<'a>] {
        &self.items[..self.len.min(SECTION_CAP)]
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Whether this exact RRset (same records in memory) is already in the section.
    pub fn contains_records(&self, records: &[Record]) -> bool {
        self.as_slice().iter().any(|r| matches!(r, Rrs::Records { records: x, .. } if std::ptr::eq(*x, records)))
    }
    /// Groups `records` into RRsets (consecutive records of one owner and type), owners kept.
    pub fn from_records(records: &'a [Record]) -> Section<'a> {
        let mut s = Section::new();
        let mut i = 0;
        while i < records.len() {
            let mut j = i + 1;
            while j < records.len()
                && records[j].name == records[i].name
                && records[j].record_type() == records[i].record_type()
            {
                j += 1;
            }
            s.push(Rrs::Records { owner: None, records: &records[i..j] });
            i = j;
        }
        s
    }
}
