//! A transfer in, as a secondary: the SOA query, then AXFR or IXFR over TCP (RFC 5936,
//! RFC 1995), TSIG-signed when the zone has a `primary_key` (every signed reply checked, the
//! MACs chained). The reply is read into records with every bound enforced: total octets,
//! records, messages and wall time; anything malformed, truncated, out of order or unsigned
//! where it must be signed is an error, and the caller keeps serving what it had.
use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::client::{self, OPCODE_QUERY, Tcp};
use crate::tsig::Key;
use crate::tsig::message::{Signer, Verifier};
use crate::util::clock::unix_now;
use crate::zone::{Record, name_wire};

/// Bounds on one transfer in.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_records: usize,
    /// The whole transfer, connect to last message.
    pub max_time: Duration,
    /// One read or write.
    pub io_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 256 << 20,
            max_records: 2_000_000,
            max_time: Duration::from_secs(120),
            io_timeout: Duration::from_secs(10),
        }
    }
}

/// What a transfer in brought.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The primary's serial is not newer than ours.
    UpToDate(u32),
    /// The whole zone: its SOA first, then every other record.
    Full { soa: Record, records: Vec<Record> },
    /// Differences from our serial (IXFR): applied by [`apply`].
    Incremental { soa: Record, steps: Vec<Step> },
}

/// One IXFR difference sequence: from `old_soa` to `new_soa`.
#[derive(Debug, PartialEq, Eq)]
pub struct Step {
    pub old_soa: Record,
    pub removed: Vec<Record>,
    pub new_soa: Record,
    pub added: Vec<Record>,
}

/// Asks `primary` for `origin`: its serial; when newer than `ours` (`None`: we have nothing),
/// the zone by IXFR from `ours` (when we have a SOA) or AXFR.
pub async fn fetch(
    primary: SocketAddr,
    origin: &Name,
    key: Option<&Key>,
    ours: Option<&Record>,
    limits: Limits,
) -> Result<Fetched, String> {
    tokio::time::timeout(limits.max_time, fetch_inner(primary, origin, key, ours, limits))
        .await
        .map_err(|_| format!("the transfer took longer than {:?}", limits.max_time))?
}

async fn fetch_inner(
    primary: SocketAddr,
    origin: &Name,
    key: Option<&Key>,
    ours: Option<&Record>,
    limits: Limits,
) -> Result<Fetched, String> {
    let mut tcp = Tcp::connect(primary, limits.io_timeout).await?;
    let id = (unix_now() as u16) ^ 0x5a5a;
    let reply = exchange(
        &mut tcp,
        id,
        client::request(id, OPCODE_QUERY, origin, 6, None, None),
        key,
        true,
        None,
        limits.max_bytes,
    )
    .await?;
    let msg = reply.into_iter().next().ok_or("no SOA answer")?;
    let theirs =
        read_message(&msg, origin, id)?.into_iter().find(|r| r.rtype == 6).ok_or("the SOA answer has no SOA")?;
    let their_serial = serial(&theirs);
    if let Some(o) = ours {
        let mine = serial(o);
        if their_serial == mine || their_serial.wrapping_sub(mine) >= 1 << 31 {
            return Ok(Fetched::UpToDate(their_serial));
        }
    }
    let id = id.wrapping_add(1);
    let (qtype, authority) = match ours {
        Some(o) => (251, Some(o)),
        None => (252, None),
    };
    let request = client::request(id, OPCODE_QUERY, origin, qtype, None, authority);
    let records = exchange(&mut tcp, id, request, key, false, ours.map(serial), limits.max_bytes).await?;
    decode(&records, origin, id, ours.map(serial), limits.max_records)
}

/// The reply messages of an AXFR/IXFR (as `exchange` collected them) read into a transfer:
/// every record checked (in the zone, class IN, RDATA of its type's shape), at most
/// `max_records`, and the SOA framing of RFC 5936 / RFC 1995. Pure: the fuzz target runs it.
pub fn decode(
    messages: &[Vec<u8>],
    origin: &Name,
    id: u16,
    ours: Option<u32>,
    max_records: usize,
) -> Result<Fetched, String> {
    let mut all = Vec::new();
    for m in messages {
        all.extend(read_message(m, origin, id)?);
        if all.len() > max_records {
            return Err(format!("the transfer has more than {max_records} records"));
        }
    }
    interpret(all, ours)
}

/// Sends `request` (signed with `key`) and reads replies until the transfer ends: the first
/// reply for a SOA query (`single`), or the closing SOA of an AXFR/IXFR ([`End`]). Every reply
/// is checked (ID, QR, rcode, TSIG) before it is kept.
async fn exchange(
    tcp: &mut Tcp,
    id: u16,
    mut request: Vec<u8>,
    key: Option<&Key>,
    single: bool,
    ours: Option<u32>,
    max_bytes: usize,
) -> Result<Vec<Vec<u8>>, String> {
    let mut verifier = key.map(|k| {
        let mut s = Signer::new(k.clone(), &[], unix_now());
        s.sign(&mut request);
        Verifier::new(&s)
    });
    tcp.send(&request).await?;
    let mut out = Vec::new();
    let mut end = End { ours, ..End::default() };
    let mut total = 0;
    loop {
        let msg = tcp.recv().await?;
        total += msg.len();
        if total > max_bytes {
            return Err(format!("the transfer is larger than {max_bytes} octets"));
        }
        let (rid, qr, _, rcode) = client::reply_header(&msg).ok_or("a reply shorter than a header")?;
        if rid != id || !qr {
            return Err("a reply with another ID, or not a response".into());
        }
        if let Some(v) = verifier.as_mut() {
            v.check(&msg).map_err(|e| format!("the reply's TSIG does not check out: {e:?}"))?;
        }
        if rcode != 0 {
            return Err(format!("the primary answered {}", client::rcode_name(rcode)));
        }
        let types = answer_types(&msg).ok_or("malformed transfer message")?;
        out.push(msg);
        if single {
            return Ok(out);
        }
        if types.is_empty() {
            return Err("a transfer message without records".into());
        }
        if types.into_iter().any(|t| end.feed(t)) {
            return Ok(out);
        }
    }
}

/// Where an AXFR or IXFR reply ends (RFC 5936 §2.2, RFC 1995 §4), fed one answer record at a
/// time (its type, and its serial when it is a SOA).
#[derive(Default)]
struct End {
    ours: Option<u32>,
    first: Option<u32>,
    records: usize,
    mode: Mode,
}

#[derive(Default, PartialEq, Eq)]
enum Mode {
    #[default]
    Start,
    Full,
    /// IXFR differences: after an old SOA (removing) or a new SOA (adding).
    Removing,
    Adding,
}

impl End {
    /// True when this record closes the transfer.
    fn feed(&mut self, (rtype, serial): (u16, Option<u32>)) -> bool {
        self.records += 1;
        let soa = rtype == 6;
        let Some(first) = self.first else {
            self.first = serial;
            // IXFR from a client that is up to date: the SOA alone.
            return soa && self.ours.is_some() && serial == self.ours;
        };
        match self.mode {
            Mode::Start if soa && self.ours.is_some() && serial == self.ours => {
                self.mode = Mode::Removing;
                false
            }
            Mode::Start if soa => true, // a zone of one SOA
            Mode::Start => {
                self.mode = Mode::Full;
                false
            }
            Mode::Full => soa,
            Mode::Removing if soa => {
                self.mode = Mode::Adding;
                false
            }
            Mode::Adding if soa && serial == Some(first) => true,
            Mode::Adding if soa => {
                self.mode = Mode::Removing;
                false
            }
            _ => false,
        }
    }
}

/// The type (and SOA serial) of each answer record of a message.
fn answer_types(msg: &[u8]) -> Option<Vec<(u16, Option<u32>)>> {
    let mut d = BinDecoder::new(msg);
    d.read_slice(12).ok()?;
    let qd = u16::from_be_bytes([msg[4], msg[5]]);
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    for _ in 0..qd {
        Name::read(&mut d).ok()?;
        d.read_slice(4).ok()?;
    }
    let mut out = Vec::with_capacity(usize::from(an));
    for _ in 0..an {
        Name::read(&mut d).ok()?;
        let t = d.read_u16().ok()?.unverified();
        d.read_slice(6).ok()?;
        let len = d.read_u16().ok()?.unverified() as usize;
        let rd = d.read_slice(len).ok()?.unverified();
        out.push((t, if t == 6 { Some(crate::zone::master::wire::soa_serial(rd)?) } else { None }));
    }
    Some(out)
}

/// The answer records of one reply message (names decompressed, RDATA as sent otherwise).
pub fn read_message(msg: &[u8], origin: &Name, id: u16) -> Result<Vec<Record>, String> {
    let bad = |what: &str| format!("malformed transfer message: {what}");
    if msg.len() < 12 || u16::from_be_bytes([msg[0], msg[1]]) != id {
        return Err(bad("header"));
    }
    let qd = u16::from_be_bytes([msg[4], msg[5]]);
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    let mut d = BinDecoder::new(msg);
    d.read_slice(12).map_err(|_| bad("header"))?;
    for _ in 0..qd {
        Name::read(&mut d).map_err(|_| bad("question"))?;
        d.read_slice(4).map_err(|_| bad("question"))?;
    }
    let mut out = Vec::with_capacity(usize::from(an));
    for _ in 0..an {
        let owner = Name::read(&mut d).map_err(|_| bad("owner name"))?;
        if !origin.zone_of(&owner) {
            return Err(format!("the transfer holds {owner}, which is outside {origin}"));
        }
        let rtype = d.read_u16().map_err(|_| bad("type"))?.unverified();
        let class = d.read_u16().map_err(|_| bad("class"))?.unverified();
        let ttl = d.read_u32().map_err(|_| bad("TTL"))?.unverified();
        let len = d.read_u16().map_err(|_| bad("RDLENGTH"))?.unverified() as usize;
        let at = msg.len() - d.len();
        let raw = d.read_slice(len).map_err(|_| bad("RDATA cut short"))?.unverified();
        if class != 1 {
            return Err(bad("a record of a class other than IN"));
        }
        let rdata = decompress(msg, at, rtype, raw).ok_or_else(|| bad("RDATA does not match its type"))?;
        out.push(Record { owner: name_wire(&owner), rtype, ttl, rdata: rdata.into() });
    }
    Ok(out)
}

/// The RDATA with the names of the RFC 1035 types (the only ones a sender may compress,
/// RFC 3597 §4) written out uncompressed; other types as sent.
fn decompress(msg: &[u8], at: usize, rtype: u16, raw: &[u8]) -> Option<Vec<u8>> {
    // (octets before the first name, names, octets after the last)
    let (prefix, names, suffix) = match rtype {
        2..=5 | 7..=9 | 12 => (0, 1, 0),
        6 => (0, 2, 20),
        14 => (0, 2, 0),
        15 => (2, 1, 0),
        _ => return Some(raw.to_vec()),
    };
    let mut d = BinDecoder::new(msg);
    d.read_slice(at + prefix).ok()?;
    let mut out = raw.get(..prefix)?.to_vec();
    for _ in 0..names {
        out.extend_from_slice(&name_wire(&Name::read(&mut d).ok()?));
    }
    let used = msg.len() - d.len() - at;
    if used + suffix != raw.len() {
        return None;
    }
    out.extend_from_slice(&raw[used..]);
    Some(out)
}

fn serial(soa: &Record) -> u32 {
    crate::zone::master::wire::soa_serial(&soa.rdata).unwrap_or(0)
}

/// AXFR (SOA … SOA), IXFR (SOA, then old-SOA/removed/new-SOA/added steps, SOA), or an IXFR
/// answered with the whole zone (RFC 1995 §4).
fn interpret(mut all: Vec<Record>, ours: Option<u32>) -> Result<Fetched, String> {
    let bad = |w: &str| Err(format!("malformed transfer: {w}"));
    if all.len() < 2 || all[0].rtype != 6 {
        if all.len() == 1 && all[0].rtype == 6 {
            return Ok(Fetched::UpToDate(serial(&all[0])));
        }
        return bad("it does not begin with the SOA");
    }
    let last = all.pop().unwrap_or_else(|| all[0].clone());
    if last.rtype != 6 || serial(&last) != serial(&all[0]) {
        return bad("it does not end with the SOA it began with");
    }
    let soa = all.remove(0);
    let incremental = ours.is_some() && all.first().is_some_and(|r| r.rtype == 6 && Some(serial(r)) == ours);
    if !incremental {
        if all.iter().any(|r| r.rtype == 6) {
            return bad("a second SOA inside a full transfer");
        }
        return Ok(Fetched::Full { soa, records: all });
    }
    let mut steps = Vec::new();
    let mut it = all.into_iter().peekable();
    while let Some(old_soa) = it.next() {
        if old_soa.rtype != 6 {
            return bad("an IXFR sequence that does not begin with a SOA");
        }
        let removed: Vec<Record> = std::iter::from_fn(|| it.next_if(|r| r.rtype != 6)).collect();
        let Some(new_soa) = it.next() else { return bad("an IXFR sequence without its new SOA") };
        let added: Vec<Record> = std::iter::from_fn(|| it.next_if(|r| r.rtype != 6)).collect();
        steps.push(Step { old_soa, removed, new_soa, added });
    }
    Ok(Fetched::Incremental { soa, steps })
}

/// Applies IXFR steps to `records` (the zone without its SOA, at serial `from`); the records
/// of the final version. A step that removes a record we do not hold is an error (the
/// copies differ: the caller falls back to AXFR).
pub fn apply(mut records: Vec<Record>, from: u32, steps: &[Step]) -> Result<Vec<Record>, String> {
    let mut at = from;
    for s in steps {
        if serial(&s.old_soa) != at {
            return Err(format!("IXFR step from serial {} while we are at {at}", serial(&s.old_soa)));
        }
        for r in &s.removed {
            let Some(i) = records.iter().position(|x| same(x, r)) else {
                return Err("IXFR removes a record we do not hold".into());
            };
            records.swap_remove(i);
        }
        records.extend(s.added.iter().cloned());
        at = serial(&s.new_soa);
    }
    Ok(records)
}

/// The same record: owner without case, type, RDATA (TTL is not part of a record's identity).
fn same(a: &Record, b: &Record) -> bool {
    a.rtype == b.rtype && a.rdata == b.rdata && a.owner.eq_ignore_ascii_case(&b.owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(owner: &str, rtype: u16, rdata: &[u8]) -> Record {
        Record { owner: name_wire(&Name::from_ascii(owner).unwrap()), rtype, ttl: 60, rdata: rdata.into() }
    }

    fn soa(serial: u32) -> Record {
        let mut rd = vec![0, 0];
        for v in [serial, 1, 2, 3, 4] {
            rd.extend_from_slice(&v.to_be_bytes());
        }
        rec("z.", 6, &rd)
    }

    #[test]
    fn axfr_ixfr_and_bad_ones() {
        let a = rec("a.z.", 1, &[1, 2, 3, 4]);
        let b = rec("b.z.", 1, &[1, 2, 3, 5]);
        let full = interpret(vec![soa(2), a.clone(), soa(2)], Some(1)).unwrap();
        assert_eq!(full, Fetched::Full { soa: soa(2), records: vec![a.clone()] });
        let inc = interpret(vec![soa(2), soa(1), a.clone(), soa(2), b.clone(), soa(2)], Some(1)).unwrap();
        let Fetched::Incremental { steps, .. } = inc else { panic!("{inc:?}") };
        assert_eq!(apply(vec![a.clone()], 1, &steps).unwrap(), vec![b.clone()]);
        assert!(apply(vec![b.clone()], 1, &steps).is_err(), "removing a record we do not hold");
        assert!(interpret(vec![soa(2), a.clone()], None).is_err(), "no closing SOA");
        assert!(interpret(vec![soa(2), a.clone(), soa(3)], None).is_err(), "closing SOA differs");
        assert!(interpret(vec![a.clone(), soa(2)], None).is_err(), "no opening SOA");
        assert_eq!(interpret(vec![soa(2)], Some(2)).unwrap(), Fetched::UpToDate(2));
    }

    #[test]
    fn compressed_names_are_written_out() {
        // A message: header, question z. SOA, answer: NS record owned by a pointer to the
        // question, RDATA "ns" + pointer to z.
        let mut m = vec![0, 7, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, b'z', 0, 0, 6, 0, 1];
        m.extend_from_slice(&[0xC0, 12, 0, 2, 0, 1, 0, 0, 0, 60, 0, 5, 2, b'n', b's', 0xC0, 12]);
        let recs = read_message(&m, &Name::from_ascii("z.").unwrap(), 7).unwrap();
        assert_eq!(&*recs[0].rdata, &[2, b'n', b's', 1, b'z', 0]);
        assert!(read_message(&m[..m.len() - 1], &Name::from_ascii("z.").unwrap(), 7).is_err());
        assert!(read_message(&m, &Name::from_ascii("other.").unwrap(), 7).is_err(), "out of zone");
    }
}
