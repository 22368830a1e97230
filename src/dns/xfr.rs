//! Outgoing zone transfers over TCP: AXFR (RFC 5936) and IXFR (RFC 1995), each allowed by the
//! zone's `allow_transfer` rules (client network and/or TSIG key, RFC 8945).
//!
//! ```text
//! TCP frame ─is it AXFR/IXFR?─ no ─► respond_with (UDP asks get REFUSED there)
//!              │ yes
//!   TSIG? ─bad─► NOTAUTH + TSIG error          zone served and allowed? ─no─► REFUSED
//!              │                                       │ yes
//!   AXFR: SOA, every record, SOA        IXFR: journal reaches the client's serial?
//!                                          yes: SOA, (old SOA, removed, new SOA, added)…, SOA
//!                                          up to date: the SOA alone;  no: as AXFR
//!   ─► messages of at most 16 KiB, each signed when the request was (MACs chained, §5.3.1)
//! ```
//! Names go out uncompressed and RDATA exactly as loaded. Pooled names send only what the zone
//! file holds for them (a secondary cannot steer).
use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::wire::{self, Parsed};
use crate::serving::AnswerSource;
use crate::tsig::message::{self, Found, Reject, Signer};
use crate::util::clock::unix_now;
use crate::zone::{Change, Record, Zone};

/// The NOTIFY opcode (RFC 1996).
pub const OPCODE_NOTIFY: u8 = 4;

/// Whether a NOTIFY for `q` from `client` is for a secondary zone from one of its primaries;
/// if so the zone's refresh task is woken. (Any other NOTIFY gets NOTIMP, as before.)
pub fn accept_notify<S: AnswerSource>(src: &S, q: &wire::Question, client: IpAddr) -> bool {
    let Some(signals) = src.zone_signals() else { return false };
    let Some(t) = src.config().transfer.zone(&q.name) else { return false };
    if q.qclass != 1 || !t.primary.iter().any(|p| p.ip() == client) {
        return false;
    }
    let origin = src.config().transfer.zones.iter().find(|(o, _)| *o == q.name).map(|(o, _)| o.clone());
    if let Some(origin) = origin {
        tracing::info!(zone = %origin, primary = %client, "NOTIFY received");
        signals.wake(&origin);
    }
    true
}

/// The most record octets in one transfer message.
const MESSAGE_BUDGET: usize = 16 * 1024;

/// What kind of transfer was asked for and given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XfrKind {
    Axfr,
    /// IXFR answered from the journal.
    Ixfr,
    /// IXFR answered with the whole zone (the journal does not reach the client's serial).
    IxfrAsAxfr,
    /// IXFR from a client already at our serial: the SOA alone.
    IxfrUpToDate,
}

impl XfrKind {
    pub fn as_str(self) -> &'static str {
        match self {
            XfrKind::Axfr => "axfr",
            XfrKind::Ixfr => "ixfr",
            XfrKind::IxfrAsAxfr => "ixfr-as-axfr",
            XfrKind::IxfrUpToDate => "ixfr-up-to-date",
        }
    }
}

/// How a transfer request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XfrResult {
    /// Sent: messages, records (SOAs included) and octets.
    Sent { kind: XfrKind, serial: u32, messages: usize, records: usize, bytes: usize },
    /// REFUSED: the zone is not served here, or the client is not allowed.
    Refused,
    /// NOTAUTH with this TSIG error (BADKEY, BADSIG, BADTIME).
    BadTsig(u16),
    /// FORMERR: a malformed TSIG record or IXFR request.
    FormErr,
}

/// One transfer request, as reported to the observer (metrics, log, `/status`).
#[derive(Clone, Debug)]
pub struct XfrReport {
    pub zone: Name,
    pub client: IpAddr,
    pub qtype: RecordType,
    /// The TSIG key the request was signed with (verified or not).
    pub key: Option<Name>,
    pub result: XfrResult,
}

/// What [`transfer`] did with a frame.
pub enum Handled {
    /// Not a transfer request: answer it as a query.
    NotTransfer,
    /// A transfer that is answered with REFUSED by the query path (the same reply as before
    /// transfers existed: question and OPT echoed); report it.
    Refuse(XfrReport),
    /// Answered: the framed messages were appended to the output.
    Done(XfrReport),
}

/// Handles one TCP frame if it is an AXFR or IXFR request, appending the framed reply
/// messages to `frames`.
pub fn transfer<S: AnswerSource>(src: &S, packet: &[u8], client: IpAddr, frames: &mut Vec<u8>) -> Handled {
    // Nearly every query over TCP is no transfer, and its question's type says so without
    // parsing the message (which the query path does next): ~450 instructions of a short TCP
    // connection (callgrind). A question this cannot read (a compressed name, a short message)
    // is left to the parse below, as is anything typed AXFR or IXFR.
    if question_type(packet).is_some_and(|t| t != u16::from(RecordType::AXFR) && t != u16::from(RecordType::IXFR)) {
        return Handled::NotTransfer;
    }
    let snap = src.config();
    let tsig = match wire::parse(packet) {
        Parsed::Query(q) if is_xfr(&q) => None,
        // A signed request: look under the TSIG record.
        Parsed::Signed => match message::find(packet) {
            Found::Tsig(t) => Some(t),
            _ => return Handled::NotTransfer, // FORMERR from the query path
        },
        _ => return Handled::NotTransfer,
    };
    let stripped;
    let query = match &tsig {
        None => packet,
        Some(t) => {
            stripped = super::signed::strip(packet, t);
            &stripped[..]
        }
    };
    let Parsed::Query(q) = wire::parse(query) else { return Handled::NotTransfer };
    if !is_xfr(&q) {
        return Handled::NotTransfer;
    }
    let mut report = XfrReport {
        zone: q.question.name.clone(),
        client,
        qtype: q.question.qtype,
        key: tsig.as_ref().map(|t| t.key_name.clone()),
        result: XfrResult::Refused,
    };
    let now = unix_now();
    let head = Head { id: q.header.id, rd: q.header.rd, question: question_bytes(query) };
    let mut signer = None;
    if let Some(t) = &tsig {
        match message::verify_request(&snap.transfer.keys, packet, t, now) {
            Ok(key) => signer = Some(Signer::new(key, &t.mac, now)),
            Err(reject) => {
                let mut m = head.message(9, true, &[]);
                let e = match reject {
                    Reject::Unsigned(e) => {
                        message::append_unsigned_error(&mut m, t, e, now);
                        e
                    }
                    Reject::BadTime(key) => {
                        Signer::new(*key, &t.mac, now).sign_with(&mut m, message::BADTIME);
                        message::BADTIME
                    }
                };
                push_frame(frames, &m);
                report.result = XfrResult::BadTsig(e);
                return Handled::Done(report);
            }
        }
    }
    let zone = snap.zones.get(&q.question.name).filter(|z| z.origin == q.question.name);
    let allowed = zone.is_some_and(|z| {
        let key = signer.as_ref().map(|_| report.key.as_ref()).unwrap_or(None);
        snap.transfer.zone(&z.origin).is_some_and(|t| t.allows(client, key))
    });
    let (Some(zone), true) = (zone, allowed) else {
        let Some(mut s) = signer else { return Handled::Refuse(report) };
        let mut m = head.message(5, true, &[]);
        s.sign(&mut m);
        push_frame(frames, &m);
        return Handled::Done(report);
    };
    report.zone = zone.origin.clone();
    let Some(soa) = zone.soa_record() else { return Handled::Refuse(report) };
    let serial = zone.source.serial;
    let (kind, body) = if q.question.qtype == RecordType::IXFR {
        let Some(theirs) = ixfr_serial(query) else {
            let mut m = head.message(1, true, &[]);
            if let Some(s) = signer.as_mut() {
                s.sign(&mut m);
            }
            push_frame(frames, &m);
            report.result = XfrResult::FormErr;
            return Handled::Done(report);
        };
        ixfr_body(zone, theirs, serial, &soa)
    } else {
        (XfrKind::Axfr, axfr_body(zone, &soa))
    };
    let (messages, bytes) = write_messages(&head, &body, signer.as_mut(), frames);
    report.result = XfrResult::Sent { kind, serial, messages, records: body.len(), bytes };
    Handled::Done(report)
}

/// The type of the first question, read from the octets: `None` without exactly one question
/// in uncompressed form.
fn question_type(packet: &[u8]) -> Option<u16> {
    if packet.get(4..6)? != [0, 1] {
        return None;
    }
    let name = super::encode::query_name(packet)?;
    let at = 12 + name.len();
    packet.get(at..at + 2).map(|t| u16::from_be_bytes([t[0], t[1]]))
}

fn is_xfr(q: &wire::Query) -> bool {
    q.header.opcode == 0 && q.question.qclass == 1 && matches!(q.question.qtype, RecordType::AXFR | RecordType::IXFR)
}

/// The records of an AXFR: SOA, everything else, SOA.
fn axfr_body(zone: &Zone, soa: &Record) -> Vec<Record> {
    let mut body = Vec::with_capacity(zone.record_count() + 2);
    body.push(soa.clone());
    body.extend(zone.transfer_records());
    body.push(soa.clone());
    body
}

/// The records of an IXFR reply to a client at serial `theirs`.
fn ixfr_body(zone: &Zone, theirs: u32, ours: u32, soa: &Record) -> (XfrKind, Vec<Record>) {
    if theirs == ours || ours.wrapping_sub(theirs) >= 1 << 31 {
        return (XfrKind::IxfrUpToDate, vec![soa.clone()]);
    }
    let Some(chain) = zone.journal.chain(theirs) else { return (XfrKind::IxfrAsAxfr, axfr_body(zone, soa)) };
    let mut body = vec![soa.clone()];
    for c in chain.iter().map(Arc::as_ref) {
        let Change { old_soa, new_soa, removed, added } = c;
        body.push(old_soa.clone());
        body.extend(removed.iter().cloned());
        body.push(new_soa.clone());
        body.extend(added.iter().cloned());
    }
    body.push(soa.clone());
    (XfrKind::Ixfr, body)
}

/// The serial of the SOA in an IXFR request's authority section.
fn ixfr_serial(query: &[u8]) -> Option<u32> {
    let nscount = u16::from_be_bytes([*query.get(8)?, *query.get(9)?]);
    if nscount != 1 {
        return None;
    }
    let mut d = BinDecoder::new(query);
    d.read_slice(12).ok()?;
    Name::read(&mut d).ok()?;
    d.read_slice(4).ok()?;
    Name::read(&mut d).ok()?;
    let rtype = d.read_u16().ok()?.unverified();
    d.read_slice(6).ok()?;
    let len = d.read_u16().ok()?.unverified() as usize;
    let rdata = d.read_slice(len).ok()?.unverified();
    (rtype == 6).then(|| crate::zone::master::wire::soa_serial(rdata)).flatten()
}

/// The header fields every reply message shares, and the question as the client wrote it.
struct Head {
    id: u16,
    rd: bool,
    question: Vec<u8>,
}

impl Head {
    /// A message with `rcode`, the question when `with_question`, and `records`.
    fn message(&self, rcode: u16, with_question: bool, records: &[Record]) -> Vec<u8> {
        let mut m = Vec::with_capacity(512);
        m.extend_from_slice(&self.id.to_be_bytes());
        let aa = if rcode == 0 { 0x0400 } else { 0 };
        let flags: u16 = 0x8000 | aa | if self.rd { 0x0100 } else { 0 } | (rcode & 0xF);
        m.extend_from_slice(&flags.to_be_bytes());
        m.extend_from_slice(&u16::from(with_question).to_be_bytes());
        m.extend_from_slice(&(records.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        if with_question {
            m.extend_from_slice(&self.question);
        }
        for r in records {
            r.write(&mut m);
        }
        m
    }
}

/// The question section's octets (name as sent, type, class).
fn question_bytes(query: &[u8]) -> Vec<u8> {
    let mut d = BinDecoder::new(query);
    let _ = d.read_slice(12);
    let start = query.len() - d.len();
    if Name::read(&mut d).is_err() || d.read_slice(4).is_err() {
        return Vec::new();
    }
    query[start..query.len() - d.len()].to_vec()
}

/// Splits `body` into messages of at most [`MESSAGE_BUDGET`] record octets (and at most
/// 65535 records), signs each when asked, and frames them. Returns (messages, octets).
fn write_messages(
    head: &Head,
    body: &[Record],
    mut signer: Option<&mut Signer>,
    frames: &mut Vec<u8>,
) -> (usize, usize) {
    let (mut messages, mut bytes, mut start) = (0, 0, 0);
    while start < body.len() {
        let mut end = start;
        let mut size = 0;
        while end < body.len()
            && (end == start || size + body[end].wire_len() <= MESSAGE_BUDGET)
            && end - start < 65_535
        {
            size += body[end].wire_len();
            end += 1;
        }
        let mut m = head.message(0, messages == 0, &body[start..end]);
        if let Some(s) = signer.as_deref_mut() {
            s.sign(&mut m);
        }
        bytes += m.len();
        push_frame(frames, &m);
        messages += 1;
        start = end;
    }
    (messages, bytes)
}

fn push_frame(frames: &mut Vec<u8>, m: &[u8]) {
    let len = u16::try_from(m.len()).unwrap_or(u16::MAX);
    frames.extend_from_slice(&len.to_be_bytes());
    frames.extend_from_slice(&m[..usize::from(len)]);
}

#[cfg(test)]
mod tests {
    use super::question_type;

    /// A query with `qd` questions for `www.example.` of type `qtype`.
    fn query(qd: u8, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0, 0, 0, qd, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x03www\x07example\x00");
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        q
    }

    #[test]
    fn the_question_type_is_read_only_from_one_plain_question() {
        assert_eq!(question_type(&query(1, 1)), Some(1));
        assert_eq!(question_type(&query(1, 252)), Some(252));
        assert_eq!(question_type(&query(1, 251)), Some(251));
        // Not exactly one question, a cut message, a compression pointer: left to the parser.
        assert_eq!(question_type(&query(0, 1)), None);
        assert_eq!(question_type(&query(2, 1)), None);
        let q = query(1, 252);
        assert_eq!(question_type(&q[..q.len() - 3]), None);
        let mut pointer = q[..12].to_vec();
        pointer.extend_from_slice(&[0xC0, 12, 0, 252, 0, 1]);
        assert_eq!(question_type(&pointer), None);
    }
}
