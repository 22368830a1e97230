//! The DNS front end: one function, [`respond`], turns a query packet into a reply
//! packet against a config snapshot; [`server`] runs it on UDP and TCP sockets.
//!
//! ```text
//! packet ─► wire::parse ─► Drop | Error(rcode) | Query
//!                                                  │ class IN? zone? AXFR?
//!                                                  ▼
//!                                  zone::lookup (static data, referrals, negatives)
//!                                                  │
//!                       EDNS reply (1232, NSID, ECS echo + scope) ─► encode (TC on overflow)
//! ```
//! `respond` is shared by the UDP and TCP transports, the tests and the fuzz targets.
pub mod encode;
pub mod hickory;
pub mod invariants;
pub mod rrl;
pub mod server;
pub mod wire;

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::config::Snapshot;
use crate::zone::{lookup, Lookup};
use encode::{encode, EdnsReply, Reply, Written};
use wire::{ErrorRcode, Parsed};

/// The EDNS UDP payload size we advertise and the most we send over UDP (DNS flag day 2020).
pub const EDNS_PAYLOAD: u16 = 1232;
/// Without EDNS a UDP reply is at most 512 bytes (RFC 1035 §4.2.1).
pub const PLAIN_UDP_LIMIT: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

const CLASS_IN: u16 = 1;

/// Answers one query packet from `client` into `out`. `None`: drop the packet, send nothing.
pub fn respond(snap: &Snapshot, packet: &[u8], client: IpAddr, transport: Transport, out: &mut Vec<u8>) -> Option<Written> {
    let _ = client; // the source address steers pooled names; static data does not depend on it
    let query = match wire::parse(packet) {
        Parsed::Drop => return None,
        Parsed::Error { header, rcode, question, edns } => {
            let rcode = match rcode {
                ErrorRcode::FormErr => u16::from(ResponseCode::FormErr),
                ErrorRcode::NotImp => u16::from(ResponseCode::NotImp),
                ErrorRcode::BadVers => u16::from(ResponseCode::BADVERS),
            };
            let edns = edns.map(|e| EdnsReply { payload: EDNS_PAYLOAD, dnssec_ok: e.dnssec_ok, nsid: None, ecs: None });
            let reply = Reply { header, authoritative: false, rcode, question: question.as_ref(), answer: &[], authority: &[], additional: &[], edns };
            return Some(encode(&reply, size_limit(transport, edns.map(|_| EDNS_PAYLOAD)), out));
        }
        Parsed::Query(q) => q,
    };
    let qtype = query.question.qtype;
    let result = if query.question.qclass != CLASS_IN {
        Lookup::refused() // we serve class IN only
    } else if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
        Lookup::refused() // no zone transfers: zones come from files on every node
    } else {
        lookup(&snap.zones, &query.question.name, qtype)
    };
    let edns = query.edns.map(|e| EdnsReply {
        payload: EDNS_PAYLOAD,
        dnssec_ok: e.dnssec_ok,
        nsid: if e.nsid { snap.server.nsid.as_deref() } else { None },
        // Static data does not depend on the client's address: scope 0 (RFC 7871 §7.2.1).
        ecs: e.ecs.map(|c| (c, 0)),
    });
    let reply = Reply {
        header: query.header,
        authoritative: result.authoritative,
        rcode: u16::from(result.rcode),
        question: Some(&query.question),
        answer: &result.answer,
        authority: &result.authority,
        additional: &result.additional,
        edns,
    };
    Some(encode(&reply, size_limit(transport, query.edns.map(|e| e.payload)), out))
}

/// The largest reply the client can take: 512 without EDNS, its payload size (at most
/// ours) with EDNS, and a whole message over TCP.
fn size_limit(transport: Transport, client_payload: Option<u16>) -> usize {
    match (transport, client_payload) {
        (Transport::Tcp, _) => u16::MAX as usize,
        (Transport::Udp, None) => PLAIN_UDP_LIMIT,
        (Transport::Udp, Some(p)) => (p.min(EDNS_PAYLOAD) as usize).max(PLAIN_UDP_LIMIT),
    }
}
