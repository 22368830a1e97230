//! Writing a reply: header, the echoed question, the three sections and our OPT record,
//! within the size the client can take, straight into the caller's buffer.
//!
//! The sections are lists of [`Rrs`]: RRsets borrowed from the snapshot (zone records, the
//! negative SOA), or a pooled answer taken from the steering decision (addresses or a CNAME).
//! Nothing is cloned and nothing is allocated: names are written with compression against
//! a fixed table of the label offsets already in the message ([`Compressor`], the question's
//! name at offset 12 first), so an owner that is the query name becomes the pointer `0xC00C`.
//! Compression is case-sensitive, so every name keeps the case of its source (the question's
//! 0x20 case, the zone file's case for data). Zone RDATA is the wire form the zone file
//! means, copied as it is; only the names inside the RDATA of the RFC 1035 types (NS, MD, MF,
//! CNAME, SOA, MB, MG, MR, PTR, MINFO, MX) are compressed, as RFC 3597 §4 allows for them
//! alone: every other type, known or not, goes out octet for octet as stored.
//!
//! Truncation follows RFC 2181 §9 and RFC 9471: whole RRsets only; if an answer or
//! authority RRset does not fit, TC is set and nothing after it is sent; additional
//! records that do not fit are left out without TC. Room for the OPT record is kept
//! back first, so a truncated reply still carries EDNS.
use std::net::IpAddr;

use hickory_proto::rr::Name;

use super::wire::{ClientSubnet, QueryHeader, Question};
use crate::zone::master::name::{labels, wire_len};
use crate::zone::master::wire::compressible;
use crate::zone::{RRset, Rrs, Section};

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
    pub answer: &'a Section<'a>,
    pub authority: &'a Section<'a>,
    pub additional: &'a Section<'a>,
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

/// Label offsets a message remembers for compression; also the most labels a name has (255
/// octets make at most 127 labels and the root).
const COMPRESSION_CAP: usize = 128;
/// Offsets kept inline: enough for the names of a typical reply.
const OFFSETS_HEAD: usize = 16;

/// Up to [`COMPRESSION_CAP`] message offsets, in the order pushed. The first
/// [`OFFSETS_HEAD`] are inline; the rest go in a second array made (zeroed) only when a
/// reply has that many. Zeroing a whole 256-byte table for each reply was a `memset` call
/// per query, 2.8 % of a pooled query's user time (`perf record`, the bench's ECS load).
struct Offsets {
    head: [u16; OFFSETS_HEAD],
    tail: Option<[u16; COMPRESSION_CAP - OFFSETS_HEAD]>,
    len: usize,
}

impl Offsets {
    const fn new() -> Self {
        Offsets { head: [0; OFFSETS_HEAD], tail: None, len: 0 }
    }

    /// Keeps `offset`; nothing when full.
    fn push(&mut self, offset: u16) {
        match self.len.checked_sub(OFFSETS_HEAD) {
            None => self.head[self.len] = offset,
            Some(k) if k < COMPRESSION_CAP - OFFSETS_HEAD => {
                self.tail.get_or_insert([0; COMPRESSION_CAP - OFFSETS_HEAD])[k] = offset;
            }
            Some(_) => return,
        }
        self.len += 1;
    }

    /// The first `n` offsets kept (all of them when there are fewer).
    fn first(&self, n: usize) -> impl Iterator<Item = u16> + '_ {
        let n = n.min(self.len);
        let tail = self.tail.as_ref().map_or(&[][..], |t| &t[..n.saturating_sub(OFFSETS_HEAD)]);
        self.head[..n.min(OFFSETS_HEAD)].iter().chain(tail).copied()
    }

    fn all(&self) -> impl Iterator<Item = u16> + '_ {
        self.first(self.len)
    }
}

/// Offsets of the labels already written that a later name may point at (RFC 1035 §4.1.4).
/// A fixed table: names past its capacity are written in full, never wrongly.
pub struct Compressor<'q> {
    starts: Offsets,
    /// The question's name, written at offset 12: an owner that is this very name (the
    /// lookup hands out the question's own `Name` for answers at the query name) is the
    /// pointer 0xC00C without a search.
    question: Option<&'q Name>,
}

impl Default for Compressor<'_> {
    fn default() -> Self {
        Compressor { starts: Offsets::new(), question: None }
    }
}

impl<'q> Compressor<'q> {
    fn remember(&mut self, offset: usize) {
        // Pointers have 14 bits.
        if offset < 0x3FFF {
            self.starts.push(offset as u16);
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
        self.write_labels(out, name.iter(), compress);
    }

    /// Writes `wire`, a name as [`query_name`] returns it, uncompressed, and remembers its labels.
    fn write_raw(&mut self, out: &mut Vec<u8>, wire: &[u8]) {
        let start = out.len();
        out.extend_from_slice(wire);
        let mut at = 0;
        while let Some(&len) = wire.get(at)
            && len != 0
        {
            self.remember(start + at);
            at += 1 + usize::from(len);
        }
    }

    /// Writes the uncompressed wire-form name `wire` (zone data) like [`Self::write_name`].
    pub fn write_wire(&mut self, out: &mut Vec<u8>, wire: &[u8], compress: bool) {
        self.write_labels(out, labels(wire), compress);
    }

    fn write_labels<'l>(&mut self, out: &mut Vec<u8>, labels: impl Iterator<Item = &'l [u8]>, compress: bool) {
        // Written out in full first; then the longest suffix already in the message, if
        // any, is replaced by a pointer to it.
        let start = out.len();
        let mut label_starts = Offsets::new();
        for l in labels {
            label_starts.push((out.len() - start) as u16);
            out.push(l.len() as u8);
            out.extend_from_slice(l);
        }
        out.push(0);
        if compress {
            for (k, ls) in label_starts.all().enumerate() {
                let at = start + usize::from(ls);
                let found = self.starts.all().find(|&p| Self::matches(&out[..start], usize::from(p), &out[at..]));
                if let Some(p) = found {
                    out.truncate(at);
                    out.extend_from_slice(&(0xC000 | p).to_be_bytes());
                    for ls in label_starts.first(k) {
                        self.remember(start + usize::from(ls));
                    }
                    return;
                }
            }
        }
        for ls in label_starts.all() {
            self.remember(start + usize::from(ls));
        }
    }
}

/// The question's name as the query `packet` holds it at offset 12, up to and with its root
/// label, when it is plain labels (no compression pointer): what the reply echoes, octet for
/// octet (the parser read the same octets into the question's `Name`).
pub fn query_name(packet: &[u8]) -> Option<&[u8]> {
    let name = packet.get(12..)?;
    let mut at = 0;
    loop {
        let len = *name.get(at)?;
        if len & 0xC0 != 0 || at > 255 {
            return None;
        }
        at += 1 + usize::from(len);
        if len == 0 {
            return name.get(..at);
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
        RdataRef::Wire(t, d) => write_rdata(out, comp, t, d),
    }
    let len = (out.len() - at - 2).min(u16::MAX as usize) as u16;
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
}

#[derive(Clone, Copy)]
enum RdataRef<'a> {
    Addr(IpAddr),
    Name(&'a Name),
    /// Zone RDATA of this type, uncompressed wire form.
    Wire(u16, &'a [u8]),
}

/// Writes zone RDATA: the octets as stored, with the names of the RFC 1035 types compressed.
fn write_rdata(out: &mut Vec<u8>, comp: &mut Compressor, rtype: u16, rdata: &[u8]) {
    if !compressible(rtype) {
        out.extend_from_slice(rdata);
        return;
    }
    // The layout of each compressible type: a 16-bit preference before the name (MX), two
    // names (SOA, MINFO), then fixed fields (SOA's five 32-bit numbers).
    let (skip, names) = match rtype {
        15 => (2, 1),
        6 | 14 => (0, 2),
        _ => (0, 1),
    };
    let Some(head) = rdata.get(..skip) else {
        out.extend_from_slice(rdata);
        return;
    };
    let mark = out.len();
    out.extend_from_slice(head);
    let mut at = skip;
    for _ in 0..names {
        let Some(len) = rdata.get(at..).and_then(wire_len) else {
            // Not the layout of its type (the loader refuses such RDATA): copy it as it is.
            out.truncate(mark);
            out.extend_from_slice(rdata);
            return;
        };
        comp.write_wire(out, &rdata[at..at + len], true);
        at += len;
    }
    out.extend_from_slice(&rdata[at..]);
}

/// Encodes `reply` into `out` (cleared first), never longer than `limit` bytes (≥ 512).
/// `out` should have room for a whole message (64 KiB) so that nothing is allocated.
pub fn encode(reply: &Reply<'_>, limit: usize, out: &mut Vec<u8>) -> Written {
    encode_query(reply, None, limit, out)
}

/// [`encode`], with the question's name copied from `qname_wire`, its octets in the query
/// (uncompressed, as [`query_name`] finds them), rather than written label by label.
pub fn encode_query(reply: &Reply<'_>, qname_wire: Option<&[u8]>, limit: usize, out: &mut Vec<u8>) -> Written {
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
        match qname_wire {
            Some(wire) => comp.write_raw(out, wire),
            None => comp.write_name(out, &q.name, false),
        }
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
        Rrs::Set { owner, set, sigs } => {
            let n = write_set(out, comp, owner, set, 1);
            sigs.map_or(n, |s| n.saturating_add(write_set(out, comp, owner, s, 1)))
        }
        // Class CH (RFC 4892).
        Rrs::Chaos { owner, set } => write_set(out, comp, owner, set, 3),
        Rrs::Addresses { owner, ttl, sigs } => {
            for a in addrs {
                let rtype = if a.is_ipv4() { 1 } else { 28 };
                write_record(out, comp, owner, rtype, 1, ttl, RdataRef::Addr(*a));
            }
            (addrs.len() as u16).saturating_add(write_sigs(out, comp, owner, sigs))
        }
        Rrs::Cname { owner, ttl, target, sigs } => {
            write_record(out, comp, owner, 5, 1, ttl, RdataRef::Name(target));
            1u16.saturating_add(write_sigs(out, comp, owner, sigs))
        }
    }
}

/// Writes the records of one stored RRset, of `class`; returns how many.
fn write_set(out: &mut Vec<u8>, comp: &mut Compressor, owner: &Name, set: &RRset, class: u16) -> u16 {
    let rtype = u16::from(set.rtype);
    let mut n = 0u16;
    for rdata in set.rdatas() {
        write_record(out, comp, owner, rtype, class, set.ttl, RdataRef::Wire(rtype, rdata));
        n = n.saturating_add(1);
    }
    n
}

/// Writes the RRSIG records of a pooled answer (an online signer's) after its records.
fn write_sigs(out: &mut Vec<u8>, comp: &mut Compressor, owner: &Name, sigs: Option<&RRset>) -> u16 {
    sigs.map_or(0, |s| write_set(out, comp, owner, s, 1))
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
        // A scope longer than the source says the source block holds two answers (RFC 7871
        // §7.2.1); it never exceeds the address.
        let scope = scope.min((len * 8) as u8);
        out.extend_from_slice(&8u16.to_be_bytes());
        out.extend_from_slice(&((4 + n) as u16).to_be_bytes());
        out.extend_from_slice(&ecs.family().to_be_bytes());
        out.push(prefix);
        out.push(scope);
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
    use hickory_proto::op::Message;
    use hickory_proto::rr::RecordType;
    use std::str::FromStr;

    fn q(name: &str, t: RecordType) -> Question {
        Question { name: Name::from_ascii(name).unwrap(), qtype: t, qclass: 1 }
    }

    fn header() -> QueryHeader {
        QueryHeader { id: 9, opcode: 0, rd: false, cd: false }
    }

    fn reply<'a>(question: &'a Question, answer: &'a Section<'a>, addrs: &'a [IpAddr]) -> Reply<'a> {
        const EMPTY: Section<'static> = Section::new();
        Reply {
            header: header(),
            authoritative: true,
            rcode: 0,
            question: Some(question),
            answer,
            authority: &EMPTY,
            additional: &EMPTY,
            addrs,
            edns: None,
        }
    }

    #[test]
    fn owner_at_the_query_name_is_a_pointer_to_the_question_and_case_is_kept() {
        let question = q("WwW.Example.COM.", RecordType::A);
        let addrs = ["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()];
        let mut answer = Section::new();
        answer.push(Rrs::Addresses { owner: &question.name, ttl: 30, sigs: None });
        let mut out = Vec::new();
        let w = encode(&reply(&question, &answer, &addrs), 512, &mut out);
        // header 12 + question (17 + 4) + 2 × (pointer 2 + 10 + 4)
        assert_eq!(w.len, 12 + 21 + 2 * 16);
        assert_eq!(&out[33..35], &[0xC0, 0x0C]);
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.answers.len(), 2);
        assert_eq!(m.answers[0].name.to_ascii(), "WwW.Example.COM.");
    }

    #[test]
    fn the_question_copied_from_the_query_is_what_writing_its_name_gives() {
        let mut m = Message::new(7, hickory_proto::op::MessageType::Query, hickory_proto::op::OpCode::Query);
        m.add_query(hickory_proto::op::Query::query(Name::from_ascii("WwW.gSlB.Example.").unwrap(), RecordType::A));
        let packet = m.to_vec().unwrap();
        let wire = query_name(&packet).unwrap();
        assert_eq!(wire, b"\x03WwW\x04gSlB\x07Example\x00");
        let question = q("WwW.gSlB.Example.", RecordType::A);
        let addrs = ["192.0.2.1".parse().unwrap()];
        let mut answer = Section::new();
        let cname = Name::from_ascii("www.gslb.example.").unwrap();
        answer.push(Rrs::Cname { owner: &question.name, ttl: 5, target: &cname, sigs: None });
        answer.push(Rrs::Addresses { owner: &cname, ttl: 30, sigs: None });
        let (mut a, mut b) = (Vec::new(), Vec::new());
        encode(&reply(&question, &answer, &addrs), 512, &mut a);
        encode_query(&reply(&question, &answer, &addrs), Some(wire), 512, &mut b);
        assert_eq!(a, b);
        // A pointer, a runt or a bad label type: not copied.
        assert_eq!(query_name(&[0u8; 12]), None);
        assert_eq!(query_name(&[&[0u8; 12][..], &[0xC0, 12]].concat()), None);
        assert_eq!(query_name(&[&[0u8; 12][..], &[3, b'a']].concat()), None);
        assert_eq!(query_name(&[&[0u8; 12][..], &[0]].concat()), Some(&[0u8][..]));
    }

    #[test]
    fn rdata_names_of_rfc1035_types_compress_against_earlier_suffixes() {
        let question = q("example.com.", RecordType::MX);
        let owner = Name::from_str("example.com.").unwrap();
        let mx = RRset::new(RecordType::MX, 60, [b"\x00\x0a\x04mail\x07example\x03com\x00".as_slice()]);
        let mut answer = Section::new();
        answer.push(Rrs::set(&owner, &mx));
        let mut out = Vec::new();
        encode(&reply(&question, &answer, &[]), 512, &mut out);
        // owner → pointer to the question's name; exchange = "mail" + pointer to example.com at 12.
        let tail = &out[out.len() - 9..];
        assert_eq!(tail, &[0, 10, 4, b'm', b'a', b'i', b'l', 0xC0, 0x0C]);
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.answers[0].data.to_string(), "10 mail.example.com.");
    }

    #[test]
    fn names_past_the_inline_offsets_are_remembered_and_pointed_at() {
        // 40 NS targets remember 80 label offsets (the first 16 inline, the rest in the second
        // array); the PTR targets repeat the last ten and must each become one pointer.
        let wire = |i: usize| {
            let (a, b) = (format!("ns{i}"), format!("d{i}"));
            [&[a.len() as u8][..], a.as_bytes(), &[b.len() as u8], b.as_bytes(), b"\x07example\x03com\x00"].concat()
        };
        let question = q("example.com.", RecordType::NS);
        let owner = Name::from_str("example.com.").unwrap();
        let ns_rdata: Vec<Vec<u8>> = (0..40).map(wire).collect();
        let ns = RRset::new(RecordType::NS, 60, ns_rdata.iter().map(Vec::as_slice));
        let ptr_rdata: Vec<Vec<u8>> = (30..40).map(wire).collect();
        let ptr = RRset::new(RecordType::PTR, 60, ptr_rdata.iter().map(Vec::as_slice));
        let mut answer = Section::new();
        answer.push(Rrs::set(&owner, &ns));
        answer.push(Rrs::set(&owner, &ptr));
        let mut out = Vec::new();
        encode(&reply(&question, &answer, &[]), 4096, &mut out);
        let m = Message::from_vec(&out).unwrap();
        let targets: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
        let want: Vec<String> = (0..40).chain(30..40).map(|i| format!("ns{i}.d{i}.example.com.")).collect();
        assert_eq!(targets, want);
        // Each PTR record: owner pointer 2, type/class/TTL 8, RDLENGTH 2, RDATA one pointer 2.
        let ptr_records = &out[out.len() - 10 * 14..];
        for r in ptr_records.chunks(14) {
            assert_eq!(&r[10..12], &[0, 2], "{r:?}");
            assert_eq!(r[12] & 0xC0, 0xC0, "{r:?}");
        }
    }

    #[test]
    fn rdata_of_other_types_goes_out_as_stored_names_uncompressed_and_case_kept() {
        // SRV (RFC 2782) and DNAME (RFC 6672) names are never compressed, and keep their case.
        let question = q("example.com.", RecordType::SRV);
        let owner = Name::from_str("example.com.").unwrap();
        let srv_rdata = b"\x00\x00\x00\x05\x13\xc4\x03SiP\x07example\x03com\x00".as_slice();
        let srv = RRset::new(RecordType::SRV, 60, [srv_rdata]);
        let unknown_rdata = [0xde, 0xad, 0x07, b'e', b'x'].as_slice();
        let unknown = RRset::new(RecordType::Unknown(65280), 60, [unknown_rdata]);
        let mut answer = Section::new();
        answer.push(Rrs::set(&owner, &srv));
        answer.push(Rrs::set(&owner, &unknown));
        let mut out = Vec::new();
        encode(&reply(&question, &answer, &[]), 512, &mut out);
        let srv_at = out.windows(srv_rdata.len()).position(|w| w == srv_rdata);
        assert!(srv_at.is_some(), "SRV RDATA verbatim");
        assert!(out.ends_with(&[&[0, 5][..], unknown_rdata].concat()), "unknown type verbatim with its length");
    }

    #[test]
    fn whole_rrsets_are_cut_and_tc_set() {
        let question = q("big.example.", RecordType::TXT);
        let owner = Name::from_str("big.example.").unwrap();
        let strings: Vec<Vec<u8>> = (0..4).map(|i| [&[200u8][..], format!("{i:0>200}").as_bytes()].concat()).collect();
        let txt = RRset::new(RecordType::TXT, 60, strings.iter().map(|s| s.as_slice()));
        let mut answer = Section::new();
        answer.push(Rrs::set(&owner, &txt));
        let mut out = Vec::new();
        let w = encode(&reply(&question, &answer, &[]), 512, &mut out);
        assert!(w.truncated);
        assert_eq!(&out[6..8], &[0, 0], "the one RRset did not fit: nothing of it is sent");
        assert_eq!(out[2] & 0x02, 0x02);
    }
}
