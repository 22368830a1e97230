//! Queries signed with TSIG (RFC 8945) that are not transfers: a secondary's SOA query, a
//! NOTIFY from a primary, or any query. The TSIG record is checked, the rest of the message is
//! answered as an unsigned one would be ([`super::respond_with`]), and the reply is signed with
//! the same key. An unknown key or algorithm gets NOTAUTH with TSIG error BADKEY, a MAC that
//! does not verify NOTAUTH/BADSIG, both unsigned (§5.3.2); a time outside the fudge gets
//! NOTAUTH/BADTIME, signed (§5.2.3). A TSIG record that is not the last record, or does not
//! parse, is FORMERR (§5.1).
//!
//! This path allocates (it copies the query once); unsigned queries never reach it.
use std::net::IpAddr;

use hickory_proto::op::ResponseCode;

use super::encode::Written;
use super::wire::{self, Parsed};
use super::{Outcome, Transport, error_reply, respond_with};
use crate::serving::AnswerSource;
use crate::tsig::message::{self, Found, Reject, Signer, TsigRecord};
use crate::util::clock::unix_now;
use crate::util::rng::Random;

/// Answers a query whose additional section holds a TSIG record (see the module doc).
pub(super) fn respond_signed<S: AnswerSource, R: Random + ?Sized>(
    src: &S,
    packet: &[u8],
    client: IpAddr,
    transport: Transport,
    out: &mut Vec<u8>,
    rng: &mut R,
    outcome: &mut Outcome,
) -> Option<Written> {
    let now = unix_now();
    let t = match message::find(packet) {
        Found::Tsig(t) => t,
        Found::Malformed | Found::None => return plain_error(packet, ResponseCode::FormErr, transport, out, outcome),
    };
    let stripped = strip(packet, &t);
    match message::verify_request(&src.config().transfer.keys, packet, &t, now) {
        Ok(key) => {
            let w = respond_with(src, &stripped, client, transport, out, rng, outcome)?;
            out.truncate(w.len);
            Signer::new(key, &t.mac, now).sign(out);
            Some(Written { len: out.len(), truncated: w.truncated })
        }
        Err(reject) => {
            tracing::info!(%client, key = %t.key_name, error = ?reject, "TSIG-signed query rejected");
            let w = plain_error(&stripped, ResponseCode::NotAuth, transport, out, outcome)?;
            outcome.tsig_error = true;
            out.truncate(w.len);
            match reject {
                Reject::Unsigned(e) => message::append_unsigned_error(out, &t, e, now),
                Reject::BadTime(key) => Signer::new(*key, &t.mac, now).sign_with(out, message::BADTIME),
            }
            Some(Written { len: out.len(), truncated: w.truncated })
        }
    }
}

/// The query without its TSIG record (ARCOUNT one less).
pub(crate) fn strip(packet: &[u8], t: &TsigRecord) -> Vec<u8> {
    let mut m = packet[..t.start].to_vec();
    let ar = u16::from_be_bytes([m[10], m[11]]).saturating_sub(1);
    m[10..12].copy_from_slice(&ar.to_be_bytes());
    m
}

/// An error reply to `packet` (header, question and OPT echoed as far as they parse).
fn plain_error(
    packet: &[u8],
    rcode: ResponseCode,
    transport: Transport,
    out: &mut Vec<u8>,
    outcome: &mut Outcome,
) -> Option<Written> {
    let (header, question, edns) = match wire::parse(packet) {
        Parsed::Query(q) => (q.header, Some(q.question), q.edns),
        Parsed::Error { header, question, edns, .. } => (header, question, edns),
        Parsed::CookieOnly { header, edns } => (header, None, Some(edns)),
        Parsed::Drop | Parsed::Signed => {
            // Two TSIG records, or a runt: answer from the header alone.
            let h = packet.get(..4)?;
            let flags = u16::from_be_bytes([h[2], h[3]]);
            let header = wire::QueryHeader {
                id: u16::from_be_bytes([h[0], h[1]]),
                opcode: ((flags >> 11) & 0xF) as u8,
                rd: flags & 0x0100 != 0,
                cd: false,
            };
            (header, None, None)
        }
    };
    Some(error_reply(header, u16::from(rcode), question.as_ref(), edns, None, transport, out, outcome))
}
