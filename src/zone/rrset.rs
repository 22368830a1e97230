//! One RRset as a zone stores it: the RDATA of its records in wire form, the octets the zone
//! file means and nothing re-encoded, with the few fields a lookup reads parsed once at load.
use std::net::IpAddr;

use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::master::wire;

/// The records of one owner name and type, all with one TTL.
///
/// The RDATA is kept as `RDLENGTH RDATA` pairs, exactly as they follow the owner, type, class
/// and TTL of each record on the wire (uncompressed; the encoder compresses the names of the
/// RFC 1035 types only, RFC 3597 §4): one allocation per RRset, and a transfer or a signer
/// reads the records without any parsing.
#[derive(Clone, Debug)]
pub struct RRset {
    pub rtype: RecordType,
    pub ttl: u32,
    data: Box<[u8]>,
    count: usize,
    /// The name each record points at, for the types a lookup follows or adds glue for
    /// (CNAME, DNAME, NS, MX, SRV), in record order; empty for every other type.
    targets: Box<[Name]>,
    /// The RRSIG records covering this RRset, as an RRset of type RRSIG with this RRset's TTL
    /// (RFC 4034 §3): sent beside it when the query has DO=1. Filled from the zone file for a
    /// pre-signed zone; an online signer fills the same slot.
    pub sigs: Option<Box<RRset>>,
}

impl RRset {
    /// An RRset of `rtype` from the records' uncompressed RDATA, in order.
    pub fn new<'r>(rtype: RecordType, ttl: u32, rdatas: impl IntoIterator<Item = &'r [u8]>) -> RRset {
        let code = u16::from(rtype);
        let mut data = Vec::new();
        let mut targets = Vec::new();
        let mut count = 0;
        for r in rdatas {
            let len = u16::try_from(r.len()).unwrap_or(u16::MAX);
            data.extend_from_slice(&len.to_be_bytes());
            data.extend_from_slice(&r[..usize::from(len)]);
            count += 1;
            if matches!(code, 2 | 5 | 15 | 33 | 39) {
                targets.push(wire::target(code, r).and_then(name_from_wire).unwrap_or_else(Name::root));
            }
        }
        RRset { rtype, ttl, data: data.into_boxed_slice(), count, targets: targets.into_boxed_slice(), sigs: None }
    }

    /// The same records with another TTL (the SOA of negative answers, RFC 2308 §5).
    pub fn with_ttl(&self, ttl: u32) -> RRset {
        let mut s = self.clone();
        s.ttl = ttl;
        if let Some(sigs) = s.sigs.as_mut() {
            sigs.ttl = ttl;
        }
        s
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Each record's RDATA, uncompressed wire form.
    pub fn rdatas(&self) -> Rdatas<'_> {
        Rdatas { data: &self.data }
    }

    /// The `RDLENGTH RDATA` pairs of all records, back to back (what a transfer writes after
    /// each owner, type, class and TTL).
    pub fn wire(&self) -> &[u8] {
        &self.data
    }

    /// The targets of a CNAME, DNAME, NS, MX or SRV RRset, one per record.
    pub fn targets(&self) -> &[Name] {
        &self.targets
    }

    /// The first record's target: what a CNAME or DNAME points at.
    pub fn target(&self) -> Option<&Name> {
        self.targets.first()
    }

    /// The addresses of an A or AAAA RRset.
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.rdatas().filter_map(|r| match r.len() {
            4 => <[u8; 4]>::try_from(r).ok().map(IpAddr::from),
            16 => <[u8; 16]>::try_from(r).ok().map(IpAddr::from),
            _ => None,
        })
    }
}

/// The RDATA of an RRset's records, one slice each (see [`RRset::rdatas`]).
#[derive(Clone, Debug)]
pub struct Rdatas<'a> {
    data: &'a [u8],
}

impl<'a> Rdatas<'a> {
    /// The records of `RDLENGTH RDATA` pairs laid out as [`RRset::wire`] has them.
    pub fn over(data: &'a [u8]) -> Rdatas<'a> {
        Rdatas { data }
    }
}

impl<'a> Iterator for Rdatas<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.data.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        let (r, rest) = rest.split_at_checked(len)?;
        self.data = rest;
        Some(r)
    }
}

/// A hickory `Name` from an uncompressed wire-form name, labels and case exactly as given.
pub fn name_from_wire(wire: &[u8]) -> Option<Name> {
    Name::read(&mut BinDecoder::new(wire)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_targets_round_trip() {
        let mx1 = b"\x00\x0a\x04Mail\x07example\x00".as_slice();
        let mx2 = b"\x00\x14\x01b\x00".as_slice();
        let set = RRset::new(RecordType::MX, 300, [mx1, mx2]);
        assert_eq!(set.len(), 2);
        assert_eq!(set.rdatas().collect::<Vec<_>>(), vec![mx1, mx2]);
        assert_eq!(set.targets()[0].to_ascii(), "Mail.example.");
        assert_eq!(set.targets()[1].to_ascii(), "b.");
        assert_eq!(&set.wire()[..2], &[0, mx1.len() as u8]);
        let a = RRset::new(RecordType::A, 60, [[192u8, 0, 2, 1].as_slice()]);
        assert_eq!(a.addrs().collect::<Vec<_>>(), vec!["192.0.2.1".parse::<IpAddr>().unwrap()]);
        assert!(a.targets().is_empty());
    }
}
