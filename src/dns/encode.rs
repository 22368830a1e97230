//! Writing a reply: header, the echoed question, the three sections and our OPT record,
//! within the size the client can take.
//!
//! Truncation follows RFC 2181 §9 and RFC 9471: whole RRsets only; if an answer or
//! authority RRset does not fit, TC is set and nothing after it is sent; additional
//! records that do not fit are left out without TC. Room for the OPT record is kept
//! back first, so a truncated reply still carries EDNS.
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use super::wire::{ClientSubnet, QueryHeader, Question};

/// The OPT record of a reply.
#[derive(Clone, Copy, Debug)]
pub struct EdnsReply<'a> {
    /// The payload size we advertise.
    pub payload: u16,
    pub dnssec_ok: bool,
    pub nsid: Option<&'a [u8]>,
    /// The client's subnet echoed with our scope prefix.
    pub ecs: Option<(ClientSubnet, u8)>,
}

/// A reply ready to encode.
#[derive(Debug)]
pub struct Reply<'a> {
    pub header: QueryHeader,
    pub authoritative: bool,
    /// The full 12-bit rcode; the upper 8 bits go into the OPT record.
    pub rcode: u16,
    pub question: Option<&'a Question>,
    pub answer: &'a [Record],
    pub authority: &'a [Record],
    pub additional: &'a [Record],
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
        n += 8 + (ecs.source_prefix as usize).div_ceil(8);
    }
    n
}

/// Encodes `reply` into `out` (cleared first), never longer than `limit` bytes (≥ 512).
pub fn encode(reply: &Reply<'_>, limit: usize, out: &mut Vec<u8>) -> Written {
    out.clear();
    let limit = limit.clamp(512, u16::MAX as usize);
    let reserve = reply.edns.as_ref().map(opt_len).unwrap_or(0);
    let mut truncated = false;
    let mut counts = [0u16; 4];
    {
        let mut enc = BinEncoder::new(out);
        enc.set_max_size((limit - reserve) as u16);
        // The header is written with zero counts and patched at the end.
        let _ = enc.emit_vec(&[0u8; 12]);
        if let Some(q) = reply.question {
            if q.name.emit(&mut enc).is_ok() && enc.emit_u16(q.qtype.into()).is_ok() && enc.emit_u16(q.qclass).is_ok() {
                counts[0] = 1;
            } else {
                enc.set_offset(12);
                enc.trim();
            }
        }
        let sections = [reply.answer, reply.authority, reply.additional];
        'sections: for (si, section) in sections.iter().enumerate() {
            let mut i = 0;
            while i < section.len() {
                // One RRset: consecutive records of the same owner and type.
                let mut j = i + 1;
                while j < section.len() && section[j].name == section[i].name && section[j].record_type() == section[i].record_type() {
                    j += 1;
                }
                let mark = enc.offset();
                let ok = section[i..j].iter().all(|r| r.emit(&mut enc).is_ok());
                if !ok {
                    enc.set_offset(mark);
                    enc.trim();
                    if si < 2 {
                        truncated = true;
                    }
                    break 'sections;
                }
                counts[si + 1] += (j - i) as u16;
                i = j;
            }
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
        let n = (ecs.source_prefix as usize).div_ceil(8);
        out.extend_from_slice(&8u16.to_be_bytes());
        out.extend_from_slice(&((4 + n) as u16).to_be_bytes());
        out.extend_from_slice(&ecs.family.to_be_bytes());
        out.push(ecs.source_prefix);
        out.push(scope.min(ecs.source_prefix));
        match ecs.addr {
            std::net::IpAddr::V4(a) => out.extend_from_slice(&a.octets()[..n]),
            std::net::IpAddr::V6(a) => out.extend_from_slice(&a.octets()[..n]),
        }
    }
    let rdlen = (out.len() - rdlen_at - 2) as u16;
    out[rdlen_at..rdlen_at + 2].copy_from_slice(&rdlen.to_be_bytes());
}
