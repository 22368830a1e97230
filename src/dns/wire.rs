//! Parsing a query off the wire: header, the one question, and the OPT record with its
//! NSID, Client Subnet and COOKIE options (RFC 6891, 5001, 7871, 7873).
//!
//! Everything is read from the borrowed packet with bounds checks; nothing here panics
//! or allocates beyond the question name (kept inline by hickory for names under 32 bytes).
//! The outcome says what the RFCs ask for: drop the packet, answer an error, or answer the query.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use ipnet::IpNet;

use crate::cookie::QueryCookie;

/// Header bits of a query that a reply copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryHeader {
    pub id: u16,
    pub opcode: u8,
    pub rd: bool,
    pub cd: bool,
}

/// The question, with the name in the query's own letter case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub qtype: RecordType,
    pub qclass: u16,
}

/// An EDNS Client Subnet option as the client sent it (RFC 7871 §6), checked: the family is
/// 1 or 2, the source prefix fits it, and no address bit past the prefix is set. Only
/// [`parse`] makes one, so the encoder can trust `source_prefix` to size the echoed address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientSubnet {
    family: u16,
    source_prefix: u8,
    /// The address with every bit past `source_prefix` zero.
    addr: IpAddr,
}

impl ClientSubnet {
    /// The subnet the client sent.
    pub fn net(&self) -> IpNet {
        IpNet::new(self.addr, self.source_prefix).unwrap_or_else(|_| IpNet::from(self.addr))
    }
    /// 1 (IPv4) or 2 (IPv6).
    pub fn family(&self) -> u16 {
        self.family
    }
    /// 0..=32 for IPv4, 0..=128 for IPv6.
    pub fn source_prefix(&self) -> u8 {
        self.source_prefix
    }
    /// The address, zero past the source prefix.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
}

/// The OPT record of a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdnsQuery {
    /// The requestor's UDP payload size, raised to 512 when smaller (RFC 6891 §6.2.5).
    pub payload: u16,
    pub version: u8,
    pub dnssec_ok: bool,
    pub nsid: bool,
    pub ecs: Option<ClientSubnet>,
    /// The first COOKIE option (RFC 7873 §5.2: later ones are ignored), when well formed.
    pub cookie: Option<QueryCookie>,
    /// The first COOKIE option was malformed (§5.2.2: FORMERR where cookies are on; a server
    /// without cookies ignores the option, as RFC 6891 §6.1.2 says for unknown options).
    pub cookie_malformed: bool,
}

/// A query that is well formed enough to be answered.
#[derive(Clone, Debug)]
pub struct Query {
    pub header: QueryHeader,
    pub question: Question,
    pub edns: Option<EdnsQuery>,
}

/// What to do with a packet.
#[derive(Clone, Debug)]
pub enum Parsed {
    /// Not a query we may answer (too short for a header, or a response: RFC 5452 §9.2-style reflection guard).
    Drop,
    /// Answer with this rcode and no records, echoing what could be read.
    Error {
        header: QueryHeader,
        rcode: ErrorRcode,
        question: Option<Question>,
        edns: Option<EdnsQuery>,
    },
    Query(Query),
    /// QDCOUNT=0 with a COOKIE option (RFC 7873 §5.4): a client asking for a server cookie.
    CookieOnly {
        header: QueryHeader,
        edns: EdnsQuery,
    },
    /// The additional section holds a TSIG record (RFC 8945): checked and answered by
    /// `dns::signed`, which strips it and answers the rest through this parser again.
    Signed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorRcode {
    FormErr,
    NotImp,
    /// EDNS version not supported (RFC 6891 §6.1.3): extended rcode 16.
    BadVers,
}

const HEADER_LEN: usize = 12;
const OPT: u16 = 41;
const TSIG: u16 = 250;
const EDNS_NSID: u16 = 3;
const EDNS_ECS: u16 = 8;
const EDNS_COOKIE: u16 = crate::cookie::OPTION_CODE;

/// Parses one DNS message that arrived as a query.
pub fn parse(packet: &[u8]) -> Parsed {
    if packet.len() < HEADER_LEN {
        return Parsed::Drop;
    }
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    if flags & 0x8000 != 0 {
        return Parsed::Drop; // QR=1: a response, never answered
    }
    let header =
        QueryHeader { id, opcode: ((flags >> 11) & 0xF) as u8, rd: flags & 0x0100 != 0, cd: flags & 0x0010 != 0 };
    let count = |i: usize| u16::from_be_bytes([packet[i], packet[i + 1]]);
    let (qdcount, ancount, nscount, arcount) = (count(4), count(6), count(8), count(10));
    let formerr = |question, edns| Parsed::Error { header, rcode: ErrorRcode::FormErr, question, edns };

    let mut dec = BinDecoder::new(packet);
    if dec.read_slice(HEADER_LEN).is_err() {
        return Parsed::Drop;
    }
    let question = if qdcount == 1 { read_question(&mut dec, packet) } else { None };
    // The OPT record is read for every opcode: a NOTIMP reply to an EDNS query carries OPT too.
    let mut signed = false;
    let edns = if question.is_some() || qdcount == 0 {
        read_edns(&mut dec, ancount, nscount, arcount, &mut signed)
    } else {
        Err(None)
    };
    if signed {
        return Parsed::Signed;
    }
    if header.opcode != 0 {
        // RFC 1035 §4.1.1 / RFC 8906 §3.1.4: an opcode we do not implement gets NOTIMP.
        return Parsed::Error { header, rcode: ErrorRcode::NotImp, question, edns: edns.unwrap_or_else(|e| e) };
    }
    let Some(question) = question else {
        if let (0, Ok(Some(e))) = (qdcount, edns)
            && e.version == 0
            && (e.cookie.is_some() || e.cookie_malformed)
        {
            return Parsed::CookieOnly { header, edns: e };
        }
        return formerr(None, None);
    };
    let edns = match edns {
        Ok(e) => e,
        Err(partial) => return formerr(Some(question), partial),
    };
    if let Some(e) = edns
        && e.version != 0
    {
        return Parsed::Error { header, rcode: ErrorRcode::BadVers, question: Some(question), edns: Some(e) };
    }
    Parsed::Query(Query { header, question, edns })
}

/// Skips the answer and authority sections and reads the OPT record from the additional
/// section. `Err` means FORMERR, with the OPT as far as it was understood.
fn read_edns(
    dec: &mut BinDecoder<'_>,
    ancount: u16,
    nscount: u16,
    arcount: u16,
    signed: &mut bool,
) -> Result<Option<EdnsQuery>, Option<EdnsQuery>> {
    for _ in 0..(ancount as u32 + nscount as u32) {
        skip_record(dec).ok_or(None)?;
    }
    let mut edns: Option<EdnsQuery> = None;
    for _ in 0..arcount {
        let rr = read_record(dec).ok_or(edns)?;
        if rr.rtype == TSIG {
            *signed = true;
            continue;
        }
        if rr.rtype != OPT {
            continue; // others: not used by an authoritative server
        }
        if edns.is_some() || !rr.root_owner {
            // RFC 6891 §6.1.1: more than one OPT, or an OPT not owned by the root, is FORMERR.
            return Err(None);
        }
        let version = (rr.ttl >> 16) as u8;
        let mut e = EdnsQuery {
            payload: rr.class.max(512),
            version,
            dnssec_ok: rr.ttl & 0x8000 != 0,
            nsid: false,
            ecs: None,
            cookie: None,
            cookie_malformed: false,
        };
        let mut opts = rr.rdata;
        while !opts.is_empty() {
            if opts.len() < 4 {
                return Err(Some(e));
            }
            let code = u16::from_be_bytes([opts[0], opts[1]]);
            let len = u16::from_be_bytes([opts[2], opts[3]]) as usize;
            let data = opts.get(4..4 + len).ok_or(Some(e))?;
            match code {
                EDNS_NSID => e.nsid = true,
                EDNS_ECS if version == 0 => {
                    if e.ecs.is_some() {
                        return Err(Some(e)); // the option twice
                    }
                    e.ecs = Some(parse_ecs(data).ok_or(Some(e))?);
                }
                EDNS_COOKIE if version == 0 && e.cookie.is_none() && !e.cookie_malformed => {
                    match QueryCookie::parse(data) {
                        Ok(c) => e.cookie = Some(c),
                        Err(_) => e.cookie_malformed = true,
                    }
                }
                _ => {} // unknown options are ignored and not echoed (RFC 6891 §6.1.2)
            }
            opts = &opts[4 + len..];
        }
        edns = Some(e);
    }
    Ok(edns)
}

/// The question at offset 12 (where `dec` stands): a name of plain labels from the names this
/// thread read last ([`super::name_memo`]), any other (a compression pointer) read by hickory.
fn read_question(dec: &mut BinDecoder<'_>, packet: &[u8]) -> Option<Question> {
    let name = match super::encode::query_name(packet) {
        Some(wire) => {
            dec.read_slice(wire.len()).ok()?;
            super::name_memo::name_of(wire)?
        }
        None => Name::read(dec).ok()?,
    };
    let qtype = dec.read_u16().ok()?.unverified();
    let qclass = dec.read_u16().ok()?.unverified();
    Some(Question { name, qtype: RecordType::from(qtype), qclass })
}

struct RawRecord<'a> {
    root_owner: bool,
    rtype: u16,
    class: u16,
    ttl: u32,
    rdata: &'a [u8],
}

fn read_record<'a>(dec: &mut BinDecoder<'a>) -> Option<RawRecord<'a>> {
    let root_owner = dec.peek().map(|b| b.unverified()) == Some(0);
    if root_owner {
        // The root name (every OPT record's owner) is its one zero octet: no Name to build.
        dec.read_u8().ok()?;
    } else {
        Name::read(dec).ok()?;
    }
    let rtype = dec.read_u16().ok()?.unverified();
    let class = dec.read_u16().ok()?.unverified();
    let ttl = dec.read_u32().ok()?.unverified();
    let len = dec.read_u16().ok()?.unverified() as usize;
    let rdata = dec.read_slice(len).ok()?.unverified();
    Some(RawRecord { root_owner, rtype, class, ttl, rdata })
}

fn skip_record(dec: &mut BinDecoder<'_>) -> Option<()> {
    read_record(dec).map(|_| ())
}

/// A resource record of a message read in place (replies we wrote: the RRL's classing, the
/// reply cache's patches): its type, class, and where its RDATA and the next record start.
pub(crate) struct RecordAt {
    pub rtype: u16,
    pub class: u16,
    pub rdata: usize,
    pub next: usize,
}

/// Past the name at `at` in `m`: labels up to the root, or up to a compression pointer (not
/// followed). `None` for a reserved label type or a name running past `m`.
pub(crate) fn name_end(m: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *m.get(at)?;
        match len {
            0 => return Some(at + 1),
            0xC0..=0xFF => return m.get(at + 1).map(|_| at + 2),
            1..=63 => at += 1 + usize::from(len),
            _ => return None,
        }
    }
}

/// The record at `at` in `m`; `None` when it runs past `m`.
pub(crate) fn record_at(m: &[u8], at: usize) -> Option<RecordAt> {
    let at = name_end(m, at)?;
    let u16_at = |i: usize| m.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let (rtype, class, len) = (u16_at(at)?, u16_at(at + 2)?, usize::from(u16_at(at + 8)?));
    let rdata = at + 10;
    let next = rdata + len;
    (next <= m.len()).then_some(RecordAt { rtype, class, rdata, next })
}

/// Checks an ECS option body (RFC 7871 §6): a known family, a source prefix within it,
/// exactly ceil(source/8) address bytes, and no bits set past the source prefix.
pub(crate) fn parse_ecs(data: &[u8]) -> Option<ClientSubnet> {
    if data.len() < 4 {
        return None;
    }
    let family = u16::from_be_bytes([data[0], data[1]]);
    let source_prefix = data[2];
    let addr_bytes = &data[4..];
    let max = match family {
        1 => 32,
        2 => 128,
        _ => return None,
    };
    if source_prefix > max || addr_bytes.len() != (source_prefix as usize).div_ceil(8) {
        return None;
    }
    if let Some(&last) = addr_bytes.last() {
        let used_bits = source_prefix as u32 - 8 * (addr_bytes.len() as u32 - 1);
        let mask = if used_bits >= 8 { 0 } else { 0xFFu8 >> used_bits };
        if last & mask != 0 {
            return None;
        }
    }
    let addr = if family == 1 {
        let mut b = [0u8; 4];
        b[..addr_bytes.len()].copy_from_slice(addr_bytes);
        IpAddr::V4(Ipv4Addr::from(b))
    } else {
        let mut b = [0u8; 16];
        b[..addr_bytes.len()].copy_from_slice(addr_bytes);
        IpAddr::V6(Ipv6Addr::from(b))
    };
    Some(ClientSubnet { family, source_prefix, addr })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecs_checks() {
        assert_eq!(parse_ecs(&[0, 1, 24, 0, 81, 2, 69]).map(|e| e.net().to_string()), Some("81.2.69.0/24".into()));
        assert!(parse_ecs(&[0, 1, 24, 0, 81, 2, 69, 1]).is_none(), "too many address bytes");
        assert!(parse_ecs(&[0, 1, 23, 0, 81, 2, 69]).is_none(), "bit past the source prefix");
        assert!(parse_ecs(&[0, 3, 24, 0, 81, 2, 69]).is_none(), "unknown family");
        assert!(parse_ecs(&[0, 1, 33, 0, 1, 2, 3, 4, 5]).is_none(), "prefix beyond the family");
        assert_eq!(parse_ecs(&[0, 2, 0, 0]).map(|e| e.net().to_string()), Some("::/0".into()));
    }

    #[test]
    fn responses_and_runts_are_dropped() {
        assert!(matches!(parse(&[0; 11]), Parsed::Drop));
        let mut resp = [0u8; 12];
        resp[2] = 0x80;
        assert!(matches!(parse(&resp), Parsed::Drop));
    }

    #[test]
    fn no_question_is_formerr() {
        let q = [0x12, 0x34, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(parse(&q), Parsed::Error { rcode: ErrorRcode::FormErr, question: None, .. }));
    }
}
