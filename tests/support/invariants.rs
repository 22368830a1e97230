//! The oracle for `gslbd::dns::respond`: what must hold for every packet, whatever its bytes.
//! Used by the fuzz targets (`fuzz/`), the property tests (`tests/proptest_wire.rs`) and the
//! soak test, so all three judge replies the same way.
//!
//! For a query packet and what `respond` did with it:
//! - nothing was sent only when RFC 1035/5452 say drop: shorter than a header, or QR=1;
//! - otherwise the reply parses (hickory's independent decoder, `Message::from_vec`), is a
//!   response (QR=1) with the query's ID and opcode, echoes the question exactly (letter case
//!   included) when the query had one readable question, carries an OPT when the query's OPT
//!   was readable, and fits what the client can take: 512 bytes without EDNS, min(payload,
//!   1232) with it (never under 512), 65535 over TCP.
use hickory_proto::op::Message;

use gslbd::dns::wire::{self, Parsed};
use gslbd::dns::{EDNS_PAYLOAD, PLAIN_UDP_LIMIT, Transport};

/// Checks one exchange. `reply` is `None` when `respond` returned `None`.
pub fn check_exchange(query: &[u8], reply: Option<&[u8]>, transport: Transport) -> Result<(), String> {
    let droppable = query.len() < 12 || query[2] & 0x80 != 0;
    let Some(reply) = reply else {
        return if droppable { Ok(()) } else { Err("a query (QR=0, full header) got no reply".into()) };
    };
    if droppable {
        return Err("replied to a runt or to a response (QR=1)".into());
    }
    let msg = Message::from_vec(reply).map_err(|e| format!("reply does not parse: {e}"))?;
    if reply[0..2] != query[0..2] {
        return Err("reply ID differs from the query's".into());
    }
    if reply[2] & 0x80 == 0 {
        return Err("reply has QR=0".into());
    }
    if (reply[2] >> 3) & 0xF != (query[2] >> 3) & 0xF {
        return Err("reply opcode differs from the query's".into());
    }
    // What the query said, as gslbd's reader understood it; where hickory can also read
    // the query, the two readers must agree on the question.
    let (question, edns) = match wire::parse(query) {
        Parsed::Drop => return Err("wire::parse drops a packet that check_exchange treats as a query".into()),
        Parsed::Error { question, edns, .. } => (question, edns),
        Parsed::Query(q) => (Some(q.question), q.edns),
        // QDCOUNT=0 with a COOKIE: FORMERR without OPT where cookies are off (as before cookies).
        Parsed::CookieOnly { .. } => (None, None),
        // A TSIG-signed query (dns::signed): answered like the query under the TSIG, or NOTAUTH.
        Parsed::Signed => (None, None),
    };
    if let Some(q) = &question {
        let [rq] = msg.queries.as_slice() else {
            return Err(format!("query had one question, reply has {}", msg.queries.len()));
        };
        if rq.name().to_ascii() != q.name.to_ascii() {
            return Err(format!("question name not echoed exactly: {} vs {}", rq.name().to_ascii(), q.name.to_ascii()));
        }
        if u16::from(rq.query_type()) != u16::from(q.qtype) || u16::from(rq.query_class()) != q.qclass {
            return Err("question type or class not echoed".into());
        }
        if let Ok(hq) = Message::from_vec(query)
            && let [hq] = hq.queries.as_slice()
            && hq.name().to_ascii() != q.name.to_ascii()
        {
            return Err("gslbd and hickory read different question names".into());
        }
    }
    if edns.is_some() && msg.edns.is_none() {
        return Err("query had a readable OPT, reply has none".into());
    }
    let limit = match (transport, edns) {
        (Transport::Tcp, _) => u16::MAX as usize,
        (Transport::Udp, None) => PLAIN_UDP_LIMIT,
        (Transport::Udp, Some(e)) => (e.payload.min(EDNS_PAYLOAD) as usize).max(PLAIN_UDP_LIMIT),
    };
    if reply.len() > limit {
        return Err(format!("reply of {} bytes over the client's limit of {limit}", reply.len()));
    }
    if transport == Transport::Udp && reply.len() > EDNS_PAYLOAD as usize {
        return Err(format!("UDP reply of {} bytes over {EDNS_PAYLOAD}", reply.len()));
    }
    Ok(())
}
