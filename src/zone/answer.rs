//! The RRsets of a reply's sections, borrowed from the zones or standing for a pooled answer:
//! what a lookup produces and the encoder writes. Fixed capacity, on the stack.
use std::net::IpAddr;

use hickory_proto::rr::rdata::{CNAME, NULL};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::rrset::RRset;

/// One RRset of a reply section, borrowed (no record is copied to answer a query).
#[derive(Clone, Copy, Debug)]
pub enum Rrs<'a> {
    /// An RRset of a zone, carrying `owner` (the query name in the query's case, a CNAME
    /// target, a wildcard's synthesized name, or the owner as the zone file wrote it), and
    /// its RRSIGs when they go with it (DO=1 and a signed zone).
    Set { owner: &'a Name, set: &'a RRset, sigs: Option<&'a RRset> },
    /// A pooled name's A/AAAA answer: the reply's [`Reply::addrs`], all with this TTL, and
    /// the RRSIGs an online signer made for this very set (DO=1).
    Addresses { owner: &'a Name, ttl: u32, sigs: Option<&'a RRset> },
    /// A CNAME that is not in a zone: a pooled name's hand-off to a regional load balancer
    /// (signed like an address answer), or the CNAME a DNAME synthesizes (RFC 6672 §3.1,
    /// never signed: a validator synthesizes it from the signed DNAME).
    Cname { owner: &'a Name, ttl: u32, target: &'a Name, sigs: Option<&'a RRset> },
    /// A CHAOS-class RRset (RFC 4892: `id.server.` TXT and the like, see [`super::Chaos`]):
    /// written like a zone RRset, with class CH.
    Chaos { owner: &'a Name, set: &'a RRset },
}

impl<'a> Rrs<'a> {
    /// A zone RRset without signatures.
    pub fn set(owner: &'a Name, set: &'a RRset) -> Rrs<'a> {
        Rrs::Set { owner, set, sigs: None }
    }

    /// The records of the RRset, for explain and tests (allocates; never on the query path).
    /// Zone data is read back from its wire form by hickory; a type hickory cannot read is
    /// shown in RFC 3597 form.
    pub fn to_records(&self, addrs: &[IpAddr]) -> Vec<Record> {
        match *self {
            Rrs::Set { owner, set, sigs } => {
                let mut out = wire_records(owner, set, CLASS_IN);
                if let Some(s) = sigs {
                    out.extend(wire_records(owner, s, CLASS_IN));
                }
                out
            }
            Rrs::Chaos { owner, set } => wire_records(owner, set, CLASS_CH),
            Rrs::Addresses { owner, ttl, sigs } => {
                let mut out: Vec<Record> = addrs
                    .iter()
                    .map(|a| {
                        let rdata = match a {
                            IpAddr::V4(v4) => RData::A((*v4).into()),
                            IpAddr::V6(v6) => RData::AAAA((*v6).into()),
                        };
                        Record::from_rdata(owner.clone(), ttl, rdata)
                    })
                    .collect();
                out.extend(sigs.map(|s| wire_records(owner, s, CLASS_IN)).unwrap_or_default());
                out
            }
            Rrs::Cname { owner, ttl, target, sigs } => {
                let mut out = vec![Record::from_rdata(owner.clone(), ttl, RData::CNAME(CNAME(target.clone())))];
                out.extend(sigs.map(|s| wire_records(owner, s, CLASS_IN)).unwrap_or_default());
                out
            }
        }
    }
}

/// The record classes an [`Rrs`] is written with.
const CLASS_IN: u16 = 1;
const CLASS_CH: u16 = 3;

/// hickory records from a zone RRset's wire form, of `class`.
fn wire_records(owner: &Name, set: &RRset, class: u16) -> Vec<Record> {
    set.rdatas()
        .map(|rdata| {
            let mut buf = Vec::with_capacity(rdata.len() + 64);
            for l in owner.iter() {
                buf.push(l.len() as u8);
                buf.extend_from_slice(l);
            }
            buf.push(0);
            buf.extend_from_slice(&u16::from(set.rtype).to_be_bytes());
            buf.extend_from_slice(&class.to_be_bytes());
            buf.extend_from_slice(&set.ttl.to_be_bytes());
            buf.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            buf.extend_from_slice(rdata);
            Record::read(&mut BinDecoder::new(&buf)).unwrap_or_else(|_| {
                let code = RecordType::from(u16::from(set.rtype));
                Record::from_rdata(owner.clone(), set.ttl, RData::Unknown { code, rdata: NULL::with(rdata.to_vec()) })
            })
        })
        .collect()
}

/// The most RRsets one section holds. An answer is at most a CNAME/DNAME chain of 12 (a
/// DNAME step adds two), its end, and a pooled hand-off's chain; glue beyond this many RRsets
/// is left out of the additional section (which may always be cut, RFC 2181 §9).
pub const SECTION_CAP: usize = 32;

/// A fixed-capacity list of RRsets: a reply section, on the stack.
#[derive(Clone, Copy, Debug)]
pub struct Section<'a> {
    len: usize,
    items: [Option<Rrs<'a>>; SECTION_CAP],
}

impl Default for Section<'_> {
    fn default() -> Self {
        Section::new()
    }
}

impl<'a> Section<'a> {
    pub const fn new() -> Section<'a> {
        Section { len: 0, items: [None; SECTION_CAP] }
    }
    /// Adds an RRset; false (and nothing added) when the section is full.
    pub fn push(&mut self, r: Rrs<'a>) -> bool {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(r);
                self.len += 1;
                true
            }
            None => false,
        }
    }
    pub fn extend(&mut self, other: &Section<'a>) {
        for r in other.iter() {
            self.push(*r);
        }
    }
    /// The RRsets, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Rrs<'a>> {
        self.items[..self.len.min(SECTION_CAP)].iter().flatten()
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Whether this very RRset (the same one in memory) is already in the section.
    pub fn contains(&self, set: &RRset) -> bool {
        self.iter().any(|r| matches!(r, Rrs::Set { set: x, .. } if std::ptr::eq(*x, set)))
    }
}
