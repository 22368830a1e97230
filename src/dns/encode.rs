//! Writing a reply: header, the echoed question, the three sections and our OPT record,
//! within the size the client can take, straight into the caller's buffer.
//!
//! The sections are lists of [`Rrs`]: RRsets borrowed from the snapshot (zone records, the
//! negative SOA), or a pooled answer taken from the steering decision (addresses or a CNAME).
//! Nothing is cloned and nothing is allocated: names are written with compression against
//! a fixed table of the label offsets already in the message ([`Compressor`], the question's
//! name at offset 12 first), so an owner that is the query name becomes the pointer `0xC00C`.
//! Compression is case-sensitive, as hickory's encoder was, so every name keeps the case of
//! its source (the question's 0x20 case, the zone file's case for data). Names inside RDATA
//! are compressed for the RFC 1035 types hickory compresses (NS, CNAME, PTR, MX, SOA); other
//! types are written by hickory's own RDATA encoder, uncompressed.
//!
//! Truncation follows RFC 2181 §9 and RFC 9471: whole RRsets only; if an answer or
//! authority RRset does not fit, TC is set and nothing after it is sent; additional
//! records that do not fit are left out without TC. Room for the OPT record is kept
//! back first, so a truncated reply still carries EDNS.
use std::net::IpAddr;

use hickory_proto::rr::{Name, RData};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use super::wire::{ClientSubnet, QueryHeader, Question};
use crate::zone::Rrs;

/// The OPT record of a reply.
#[derive(Clone, Copy, Debug)]
pub struct EdnsReply<'a> {
    /// The payload size we advertise.
    pub payload: u16,
    pub dnssec_ok: bool,
    pub nsid: Option<&'a [u8]>,
    /// The client's subnet echoed with our scope prefix.
    pub ecs: Option<(ClientSubnet, u8)>,
    /// The whole COOKIE option (code, length, data) for the reply (RFC 7873).
    pub cookie: Option<&'a [u8]>,
}

/// A reply ready to encode.
#[derive(Debug)]
pub struct Reply<'a> {
    pub header: QueryHeader,
    pub authoritative: bool,
    /// The full 12-bit rcode; the upper 8 bits go into the OPT record.
    pub rcode: u16,
    pub question: Option<&'a Question>,
    pub answer: &'a [Rrs<'a>],
    pub authority: &'a [Rrs<'a>],
    pub additional: &'a [Rrs<'a>],
    /// The addresses of an [`Rrs::Addresses`] RRset.
    pub addrs: &'a [IpAddr],
    pub edns: Option<EdnsReply<'a>>,
}

/// What was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    pub len: usize,
    pub truncated: bool,
}

fn opt_len(e: &EdnsReply<'_>) -> usize {
    let mut n = 11;
    if let Some(nsid) = e.nsid {
        n += 4 + nsid.len();
    }
    if let Some((ecs, _)) = e.ecs {
        n += 8 + (ecs.source_prefix() as usize).div_ceil(8);
    }
    n + e.cookie.map_or(0, <[u8]>::len)
}

/// Label offsets a message remembers for compression.
const COMPRESSION_CAP: usize = 128;

/// Offsets of the labels already written that a later name may point at (RFC 1035 §4.1.4).
/// A fixed table: names past its capacity are written in full, never wrongly.
pub struct Compressor<'q> {
    starts: [u16; COMPRESSION_CAP],
    len: usize,
    /// The question's name, written at offset 12: an owner that is this very name (the
    /// lookup hands out the question's own `Name` for answers at the query name) is the
    /// pointer 0xC00C without a search.
    question: Option<&'q Name>,
}

impl Default for Compressor<'_> {
    fn default() -> Self {
        Compressor { starts: [0; COMPRESSION_CAP], len: 0, question: None }
    }
}

impl<'q> Compressor<'q> {
    fn remember(&mut self, offset: usize) {
        // Pointers have 14 bits.
        if offset < 0x3FFF && self.len < COMPRESSION_CAP {
            self.starts[self.len] = offset as u16;
            self.len += 1;
        }
    }

    /// Whether the name at `at` in `buf` (labels, possibly ending in a pointer) is exactly the
    /// uncompressed labels `new` (ending in the root label), bytes and case included.
    fn matches(buf: &[u8], mut at: usize, new: &[u8]) -> bool {
        let mut i = 0;
        // Each pointer we wrote points backwards, so this ends; the bound makes sure.
        for _ in 0..256 {
            let Some(&len) = buf.get(at) else { return false };
            if len & 0xC0 == 0xC0 {
                let Some(&lo) = buf.get(at + 1) else { return false };
                at = (usize::from(len & 0x3F) << 8) | usize::from(lo);
                continue;
            }
            let l = usize::from(len) + 1;
            match (buf.get(at..at + l), new.get(i..i + l)) {
                (Some(a), Some(b)) if a == b => {}
                _ => return false,
            }
            if len == 0 {
                return true;
            }
            at += l;
            i += l;
        }
        false
    }

    /// Writes `name`, compressed against earlier names when `compress`, and remembers the
    /// offsets of the labels it wrote out.
    pub fn write_name(&mut self, out: &mut Vec<u8>, name: &Name, compress: bool) {
        if compress && self.question.is_some_and(|q| std::ptr::eq(q, name)) {
            out.extend_from_slice(&[0xC0, 0x0C]);
            return;
        }
        // Written out in full first; then the longest suffix already in the message, if
        // any, is replaced by a pointer to it.
        let start = out.len();
        let mut label_starts = [0u16; 128];
        let mut n = 0;
        for l in name.iter() {
            if n < label_starts.len() {
                label_starts[n] = (out.len() - start) as u16;
                n += 1;
            }
            out.push(l.len() as u8);
            out.extend_from_slice(l);
        }
        out.push(0);
        if compress {
            for k in 0..n {
                let at = start + usize::from(label_starts[k]);
                let table = &self.starts[..self.len];
                if let Some(&p) = table.iter().find(|&&p| Self::matches(&out[..start], usize::from(p), &out[at..])) {
                    out.truncate(at);
                    out.extend_from_slice(&(0xC000 | p).to_be_bytes());
                    for &ls in &label_starts[..k] {
                        self.remember(start + usize::from(ls));
                    }
                    return;
                }
            }
        }
        for &ls in &label_starts[..n] {
            self.remember(start + usize::from(ls));
        }
    }
}

/// Writes one resource record: owner, type, class, TTL and RDATA (length patched in).
fn write_record(
    out: &mut Vec<u8>,
    comp: &mut Compressor,
    owner: &Name,
    rtype: u16,
    class: u16,
    ttl: u32,
    rdata: RdataRef<'_>,
) {
    comp.write_name(out, owner, true);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&class.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    match rdata {
        RdataRef::Addr(IpAddr::V4(a)) => out.extend_from_slice(&a.octets()),
        RdataRef::Addr(IpAddr::V6(a)) => out.extend_from_slice(&a.octets()),
        RdataRef::Name(n) => comp.write_name(out, n, true),
        RdataRef::Data(d) => write_rdata(out, comp, d),
    }
    let len = (out.len() - at - 2).min(u16::MAX as usize) as u16;
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
}

#[derive(Clone, Copy)]
enum RdataRef<'a> {
    Addr(IpAddr),
    Name(&'a Name),
    Data(&'a RData),
}

fn write_rdata(out: &mut Vec<u8>, comp: &mut Compressor, data: &RData) {
    match data {
        RData::A(a) => out.extend_from_slice(&a.0.octets()),
        RData::AAAA(a) => out.extend_from_slice(&a.0.octets()),
        RData::NS(n) => comp.write_name(out, &n.0, true),
        RData::CNAME(n) => comp.write_name(out, &n.0, true),
        RData::PTR(n) => comp.write_name(out, &n.0, true),
        RData::MX(mx) => {
            out.extend_from_slice(&mx.preference.to_be_bytes());
            comp.write_name(out, &mx.exchange, true);
        }
        RData::SOA(soa) => {
            comp.write_name(out, &soa.mname, true);
            comp.write_name(out, &soa.rname, true);
            for v in [soa.serial, soa.refresh as u32, soa.retry as u32, soa.expire as u32, soa.minimum] {
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        RData::SRV(srv) => {
            // RFC 2782: the target is not compressed.
            for v in [srv.priority, srv.weight, srv.port] {
                out.extend_from_slice(&v.to_be_bytes());
            }
            comp.write_name(out, &srv.target, false);
        }
        other => {
            // Types without compressible names: hickory's encoder, appending at the end.
            let start = out.len();
            let mut enc = BinEncoder::with_offset(out, start as u32);
            if other.emit(&mut enc).is_err() {
                out.truncate(start);
            }
        }
    }
}

/// Encodes `reply` into `out` (cleared first), never longer than `limit` bytes (≥ 512).
/// `out` should have room for a whole message (64 KiB) so that nothing is allocated.
pub fn encode(reply: &Reply<'_>, limit: usize, out: &mut Vec<u8>) -> Written {
    out.clear();
    let limit = limit.clamp(512, u16::MAX as usize);
    let room = limit - reply.edns.as_ref().map(opt_len).unwrap_or(0);
    let mut truncated = false;
    let mut counts = [0u16; 4];
    let mut comp = Compressor::default();
    // The header is written with zero counts and patched at the end.
    debug_assert!(out.is_empty());
    out.extend_from_slice(&[0u8; 12]);
    if let Some(q) = reply.question {
        comp.write_name(out, &q.name, false);
        out.extend_from_slice(&u16::from(q.qtype).to_be_bytes());
        out.extend_from_slice(&q.qclass.to_be_bytes());
        if out.len() > room {
            out.truncate(12);
            comp = Compressor::default();
        } else {
            counts[0] = 1;
            comp.question = Some(&q.name);
        }
    }
    let sections = [reply.answer, reply.authority, reply.additional];
    'sections: for (si, section) in sections.iter().enumerate() {
        for rrs in section.iter() {
            let mark = out.len();
            let n = write_rrs(out, &mut comp, rrs, reply.addrs);
            if out.len() > room {
                out.truncate(mark);
                if si < 2 {
                    truncated = true;
                }
                break 'sections;
            }
            counts[si + 1] = counts[si + 1].saturating_add(n);
        }
    }
    if let Some(e) = reply.edns {
        write_opt(out, &e, reply.rcode);
        counts[3] += 1;
    }
    let h = &reply.header;
    let mut flags: u16 = 0x8000 | ((h.opcode as u16 & 0xF) << 11) | (reply.rcode & 0xF);
    if reply.authoritative {
        flags |= 0x0400;
    }
    if truncated {
        flags |= 0x0200;
    }
    if h.rd {
        flags |= 0x0100;
    }
    if h.cd {
        flags |= 0x0010;
    }
    out[0..2].copy_from_slice(&h.id.to_be_bytes());
    out[2..4].copy_from_slice(&flags.to_be_bytes());
    for (k, c) in counts.iter().enumerate() {
        out[4 + 2 * k..6 + 2 * k].copy_from_slice(&c.to_be_bytes());
    }
    Written { len: out.len(), truncated }
}

/// Writes one RRset; returns how many records it wrote.
fn write_rrs(out: &mut Vec<u8>, comp: &mut Compressor, rrs: &Rrs<'_>, addrs: &[IpAddr]) -> u16 {
    match *rrs {
        Rrs::Records { owner, records } => {
            for r in records {
                let owner = owner.unwrap_or(&r.name);
                write_record(
                    out,
                    comp,
                    owner,
                    u16::from(r.record_type()),
                    u16::from(r.dns_class),
                    r.ttl,
                    RdataRef::Data(&r.data),
                );
            }
            records.len() as u16
        }
        Rrs::Addresses { owner, ttl } => {
            for a in addrs {
                let rtype = if a.is_ipv4() { 1 } else { 28 };
                write_record(out, comp, owner, rtype, 1, ttl, RdataRef::Addr(*a));
            }
            addrs.len() as u16
        }
        Rrs::Cname { owner, ttl, target } => {
            write_record(out, comp, owner, 5, 1, ttl, RdataRef::Name(target));
            1
        }
    }
}

fn write_opt(out: &mut Vec<u8>, e: &EdnsReply<'_>, rcode: u16) {
    out.push(0); // owner: the root
    out.extend_from_slice(&41u16.to_be_bytes());
    out.extend_from_slice(&e.payload.to_be_bytes());
    let ext_rcode = ((rcode >> 4) & 0xFF) as u32;
    let ttl = (ext_rcode << 24) | if e.dnssec_ok { 0x8000 } else { 0 };
    out.extend_from_slice(&ttl.to_be_bytes());
    let rdlen_at = out.len();
    out.extend_from_slice(&[0, 0]);
    if let Some(nsid) = e.nsid {
        out.extend_from_slice(&3u16.to_be_bytes());
        out.extend_from_slice(&(nsid.len() as u16).to_be_bytes());
        out.extend_from_slice(nsid);
    }
    if let Some((ecs, scope)) = e.ecs {
        // The parser guarantees the prefix fits the family; `min` keeps even a wrong one in bounds.
        let prefix = ecs.source_prefix();
        let mut octets = [0u8; 16];
        let len = match ecs.addr() {
            std::net::IpAddr::V4(a) => {
                octets[..4].copy_from_slice(&a.octets());
                4
            }
            std::net::IpAddr::V6(a) => {
                octets = a.octets();
                16
            }
        };
        let n = (prefix as usize).div_ceil(8).min(len);
        out.extend_from_slice(&8u16.to_be_bytes());
        out.extend_from_slice(&((4 + n) as u16).to_be_bytes());
        out.extend_from_slice(&ecs.family().to_be_bytes());
        out.push(prefix);
        out.push(scope.min(prefix));
        out.extend_from_slice(&octets[..n]);
    }
    if let Some(cookie) = e.cookie {
        out.extend_from_slice(cookie);
    }
    let rdlen = (out.len() - rdlen_at - 2) as u16;
    out[rdlen_at..rdlen_at + 2].copy_from_slice(&rdlen.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::Section;
    use hickory_proto::op::Message;
    use hickory_proto::rr::{Record, RecordType};
    use std::str::FromStr;

    fn q(name: &str, t: RecordType) -> Question {
        Question { name: Name::from_ascii(name).unwrap(), qtype: t, qclass: 1 }
    }

    fn header() -> QueryHeader {
        QueryHeader { id: 9, opcode: 0, rd: false, cd: false }
    }

    #[test]
    fn owner_at_the_query_name_is_a_pointer_to_the_question_and_case_is_kept() {
        let question = q("WwW.Example.COM.", RecordType::A);
        let addrs = ["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()];
        let answer = [Rrs::Addresses { owner: &question.name, ttl: 30 }];
        let reply = Reply {
            header: header(),
            authoritative: true,
            rcode: 0,
            question: Some(&question),
            answer: &answer,
            authority: &[],
            additional: &[],
            addrs: &addrs,
            edns: None,
        };
        let mut out = Vec::new();
        let w = encode(&reply, 512, &mut out);
        // header 12 + question (17 + 4) + 2 × (pointer 2 + 10 + 4)
        assert_eq!(w.len, 12 + 21 + 2 * 16);
        assert_eq!(&out[33..35], &[0xC0, 0x0C]);
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.answers.len(), 2);
        assert_eq!(m.answers[0].name.to_ascii(), "WwW.Example.COM.");
    }

    #[test]
    fn rdata_names_compress_against_earlier_suffixes() {
        let question = q("example.com.", RecordType::MX);
        let mx = Record::from_rdata(
            Name::from_str("example.com.").unwrap(),
            60,
            RData::MX(hickory_proto::rr::rdata::MX::new(10, Name::from_str("mail.example.com.").unwrap())),
        );
        let records = [mx];
        let answer = Section::from_records(&records);
        let reply = Reply {
            header: header(),
            authoritative: true,
            rcode: 0,
            question: Some(&question),
            answer: answer.as_slice(),
            authority: &[],
            additional: &[],
            addrs: &[],
            edns: None,
        };
        let mut out = Vec::new();
        encode(&reply, 512, &mut out);
        // owner → C00C; exchange = "mail" + pointer to example.com at 12.
        let tail = &out[out.len() - 9..];
        assert_eq!(tail, &[0, 10, 4, b'm', b'a', b'i', b'l', 0xC0, 0x0C]);
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.answers[0].data.to_string(), "10 mail.example.com.");
    }

    #[test]
    fn whole_rrsets_are_cut_and_tc_set() {
        let question = q("big.example.", RecordType::TXT);
        let txt = |i: usize| {
            Record::from_rdata(
                Name::from_str("big.example.").unwrap(),
                60,
                RData::TXT(hickory_proto::rr::rdata::TXT::new(vec![format!("{i:0>200}")])),
            )
        };
        let records: Vec<Record> = (0..4).map(txt).collect();
        let answer = Section::from_records(&records);
        let reply = Reply {
            header: header(),
            authoritative: true,
            rcode: 0,
            question: Some(&question),
            answer: answer.as_slice(),
            authority: &[],
            additional: &[],
            addrs: &[],
            edns: None,
        };
        let mut out = Vec::new();
        let w = encode(&reply, 512, &mut out);
        assert!(w.truncated);
        assert_eq!(&out[6..8], &[0, 0], "the one RRset did not fit: nothing of it is sent");
        assert_eq!(out[2] & 0x02, 0x02);
    }
}
