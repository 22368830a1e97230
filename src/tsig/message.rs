//! TSIG on the wire (RFC 8945 §4): finding the TSIG record of a message, the octets each MAC
//! covers, checking a request, and signing replies (one, or each message of a transfer).
//!
//! Everything reads the borrowed message with bounds checks and never panics; the record is
//! taken apart by hand because the digest needs the exact octets around it.
use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::{Algorithm, Key, KeyRing};

/// RR type TSIG.
pub const TYPE_TSIG: u16 = 250;
const CLASS_ANY: u16 = 255;
/// TSIG error codes (RFC 8945 §3).
pub const BADSIG: u16 = 16;
pub const BADKEY: u16 = 17;
pub const BADTIME: u16 = 18;
/// The fudge we sign with (RFC 8945 §10 recommends 300 s).
pub const FUDGE: u16 = 300;

/// The TSIG record at the end of a message, as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsigRecord {
    /// Where the record starts: the message before it is what was signed.
    pub start: usize,
    pub key_name: Name,
    /// The algorithm name as sent (lower case, no final dot), known to us or not.
    pub algorithm: String,
    pub time: u64,
    pub fudge: u16,
    pub mac: Vec<u8>,
    pub original_id: u16,
    pub error: u16,
    pub other: Vec<u8>,
}

/// Where a message's TSIG record is, and whether it is well placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// No TSIG record.
    None,
    /// A TSIG record, last in the additional section, readable.
    Tsig(TsigRecord),
    /// A TSIG record anywhere else, more than one, or one that does not parse: FORMERR
    /// (RFC 8945 §5.1).
    Malformed,
}

/// Finds the TSIG record of `msg` (a whole DNS message).
pub fn find(msg: &[u8]) -> Found {
    if msg.len() < 12 {
        return Found::None;
    }
    let count = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]) as usize;
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    let mut dec = BinDecoder::new(msg);
    if dec.read_slice(12).is_err() {
        return Found::Malformed;
    }
    for _ in 0..qd {
        if Name::read(&mut dec).is_err() || dec.read_slice(4).is_err() {
            return Found::Malformed;
        }
    }
    let total = an + ns + ar;
    for i in 0..total {
        let start = msg.len() - dec.len();
        let Ok(owner) = Name::read(&mut dec) else { return Found::Malformed };
        let Some((rtype, class, ttl, rdata)) = fixed(&mut dec) else { return Found::Malformed };
        if rtype != TYPE_TSIG {
            continue;
        }
        if i + 1 != total || ar == 0 || class != CLASS_ANY || ttl != 0 || !dec.is_empty() {
            return Found::Malformed;
        }
        return match parse_rdata(rdata, start, owner) {
            Some(t) => Found::Tsig(t),
            None => Found::Malformed,
        };
    }
    Found::None
}

fn fixed<'a>(dec: &mut BinDecoder<'a>) -> Option<(u16, u16, u32, &'a [u8])> {
    let rtype = dec.read_u16().ok()?.unverified();
    let class = dec.read_u16().ok()?.unverified();
    let ttl = dec.read_u32().ok()?.unverified();
    let len = dec.read_u16().ok()?.unverified() as usize;
    Some((rtype, class, ttl, dec.read_slice(len).ok()?.unverified()))
}

fn parse_rdata(rdata: &[u8], start: usize, key_name: Name) -> Option<TsigRecord> {
    let mut d = BinDecoder::new(rdata);
    let alg = Name::read(&mut d).ok()?;
    let hi = d.read_u16().ok()?.unverified() as u64;
    let lo = d.read_u32().ok()?.unverified() as u64;
    let fudge = d.read_u16().ok()?.unverified();
    let mac_len = d.read_u16().ok()?.unverified() as usize;
    let mac = d.read_slice(mac_len).ok()?.unverified().to_vec();
    let original_id = d.read_u16().ok()?.unverified();
    let error = d.read_u16().ok()?.unverified();
    let other_len = d.read_u16().ok()?.unverified() as usize;
    let other = d.read_slice(other_len).ok()?.unverified().to_vec();
    if !d.is_empty() {
        return None;
    }
    let mut algorithm = alg.to_lowercase().to_ascii();
    algorithm.truncate(algorithm.trim_end_matches('.').len());
    Some(TsigRecord { start, key_name, algorithm, time: (hi << 32) | lo, fudge, mac, original_id, error, other })
}

/// The uncompressed, lower-case wire form of a name.
fn canonical(name: &Name) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 1);
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
    out
}

/// The message as signed: without its TSIG record, ARCOUNT one less, the original ID.
fn unsigned_part(msg: &[u8], t: &TsigRecord) -> Vec<u8> {
    let mut m = msg[..t.start].to_vec();
    m[0..2].copy_from_slice(&t.original_id.to_be_bytes());
    let ar = u16::from_be_bytes([m[10], m[11]]).saturating_sub(1);
    m[10..12].copy_from_slice(&ar.to_be_bytes());
    m
}

/// The TSIG variables of RFC 8945 §4.3.3 (all of them, or only the timers, §4.3.1).
fn variables(out: &mut Vec<u8>, key: &Name, algorithm: &[u8], time: u64, fudge: u16, error: u16, other: &[u8]) {
    out.extend_from_slice(&canonical(key));
    out.extend_from_slice(&CLASS_ANY.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(algorithm);
    timers(out, time, fudge);
    out.extend_from_slice(&error.to_be_bytes());
    out.extend_from_slice(&(other.len() as u16).to_be_bytes());
    out.extend_from_slice(other);
}

fn timers(out: &mut Vec<u8>, time: u64, fudge: u16) {
    out.extend_from_slice(&((time >> 32) as u16).to_be_bytes());
    out.extend_from_slice(&(time as u32).to_be_bytes());
    out.extend_from_slice(&fudge.to_be_bytes());
}

fn algorithm_wire(name: &str) -> Vec<u8> {
    Name::from_ascii(format!("{name}.")).map(|n| canonical(&n)).unwrap_or_else(|_| vec![0])
}

/// Why a signed request is not accepted, and how to answer it (RFC 8945 §5.2).
#[derive(Clone, Debug, PartialEq)]
pub enum Reject {
    /// NOTAUTH with this TSIG error, unsigned (BADKEY, BADSIG; §5.3.2).
    Unsigned(u16),
    /// NOTAUTH/BADTIME, signed with the key (§5.2.3), carrying our time.
    BadTime(Box<Key>),
}

/// Checks the TSIG of a request against `keys` at `now` (UNIX seconds): the key it names with
/// the algorithm it names, a full-length MAC over the request, a time within the fudge.
pub fn verify_request(keys: &KeyRing, msg: &[u8], t: &TsigRecord, now: u64) -> Result<Key, Reject> {
    let Some(key) = keys.get(&t.key_name).filter(|k| k.algorithm.name() == t.algorithm) else {
        return Err(Reject::Unsigned(BADKEY));
    };
    let mut data = unsigned_part(msg, t);
    variables(&mut data, &t.key_name, &algorithm_wire(&t.algorithm), t.time, t.fudge, t.error, &t.other);
    // A truncated MAC (RFC 8945 §5.2.2.1) is not accepted: this server signs and wants full MACs.
    if t.mac.len() != key.algorithm.mac_len() || !key.verify(&data, &t.mac) {
        return Err(Reject::Unsigned(BADSIG));
    }
    if now.abs_diff(t.time) > u64::from(t.fudge) {
        return Err(Reject::BadTime(Box::new(key.clone())));
    }
    Ok(key.clone())
}

/// Adds a TSIG record to a reply `msg` (a whole message with its final ARCOUNT less the TSIG):
/// the RR goes at the end and ARCOUNT grows by one.
fn append(msg: &mut Vec<u8>, key_name: &Name, algorithm: &[u8], time: u64, mac: &[u8], error: u16, other: &[u8]) {
    let original_id = u16::from_be_bytes([msg[0], msg[1]]);
    msg.extend_from_slice(&canonical(key_name));
    msg.extend_from_slice(&TYPE_TSIG.to_be_bytes());
    msg.extend_from_slice(&CLASS_ANY.to_be_bytes());
    msg.extend_from_slice(&0u32.to_be_bytes());
    let rdlen = algorithm.len() + 10 + mac.len() + 6 + other.len();
    msg.extend_from_slice(&(rdlen as u16).to_be_bytes());
    msg.extend_from_slice(algorithm);
    timers(msg, time, FUDGE);
    msg.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    msg.extend_from_slice(mac);
    msg.extend_from_slice(&original_id.to_be_bytes());
    msg.extend_from_slice(&error.to_be_bytes());
    msg.extend_from_slice(&(other.len() as u16).to_be_bytes());
    msg.extend_from_slice(other);
    let ar = u16::from_be_bytes([msg[10], msg[11]]).saturating_add(1);
    msg[10..12].copy_from_slice(&ar.to_be_bytes());
}

/// The TSIG record of an unsigned error reply (BADKEY, BADSIG): the request's key and
/// algorithm names, an empty MAC (RFC 8945 §5.3.2).
pub fn append_unsigned_error(msg: &mut Vec<u8>, request: &TsigRecord, error: u16, now: u64) {
    append(msg, &request.key_name, &algorithm_wire(&request.algorithm), now, &[], error, &[]);
}

/// Signs the messages of one reply (or of a transfer's stream of them) with a key, chaining
/// each MAC into the next (RFC 8945 §5.3.1: every message is signed here).
pub struct Signer {
    key: Key,
    /// The MAC the next message chains in: the request's, then each message's own.
    prior: Vec<u8>,
    first: bool,
    now: u64,
}

impl Signer {
    /// Signs replies to a request whose MAC was `request_mac` (empty for a request we sign
    /// ourselves: then [`Signer::sign`] makes the request's TSIG).
    pub fn new(key: Key, request_mac: &[u8], now: u64) -> Signer {
        Signer { key, prior: request_mac.to_vec(), first: true, now }
    }

    /// Appends the TSIG record to `msg`, with `error` (0, or BADTIME with our time as Other).
    pub fn sign_with(&mut self, msg: &mut Vec<u8>, error: u16) {
        let alg = self.key.algorithm.wire_name();
        let other: Vec<u8> = if error == BADTIME { self.now.to_be_bytes()[2..].to_vec() } else { Vec::new() };
        let mut data = Vec::with_capacity(self.prior.len() + msg.len() + 64);
        if !self.prior.is_empty() {
            data.extend_from_slice(&(self.prior.len() as u16).to_be_bytes());
            data.extend_from_slice(&self.prior);
        }
        data.extend_from_slice(msg);
        if self.first {
            variables(&mut data, &self.key.name, &alg, self.now, FUDGE, error, &other);
        } else {
            timers(&mut data, self.now, FUDGE);
        }
        let mac = self.key.mac(&data);
        append(msg, &self.key.name, &alg, self.now, &mac, error, &other);
        self.prior = mac;
        self.first = false;
    }

    /// [`Signer::sign_with`] without an error.
    pub fn sign(&mut self, msg: &mut Vec<u8>) {
        self.sign_with(msg, 0);
    }

    /// The MAC of the last message signed.
    pub fn last_mac(&self) -> &[u8] {
        &self.prior
    }
}

/// Checks the replies to a request we signed (a transfer's stream of messages): each must carry
/// a TSIG whose MAC chains the previous one; up to 99 unsigned messages may come between two
/// signed ones (RFC 8945 §5.3.1), and their octets are covered by the next MAC.
pub struct Verifier {
    key: Key,
    prior: Vec<u8>,
    first: bool,
    /// Unsigned messages since the last signed one.
    pending: Vec<u8>,
    unsigned: usize,
}

/// Why a reply to our signed request is not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// The first reply, or 100 in a row, carry no TSIG.
    Unsigned,
    /// The reply names another key or algorithm, or its MAC does not verify.
    BadMac,
    /// The reply carries a TSIG error (the primary rejected our request).
    Error(u16),
    /// A TSIG record out of place or unreadable.
    Malformed,
}

impl Verifier {
    /// Checks replies to a request that `signer` signed.
    pub fn new(signer: &Signer) -> Verifier {
        Verifier { key: signer.key.clone(), prior: signer.prior.clone(), first: true, pending: Vec::new(), unsigned: 0 }
    }

    /// Checks one reply message; `Ok(true)` when it was signed, `Ok(false)` when it may be
    /// unsigned (covered by the next signed one).
    pub fn check(&mut self, msg: &[u8]) -> Result<bool, VerifyError> {
        let t = match find(msg) {
            Found::Tsig(t) => t,
            Found::Malformed => return Err(VerifyError::Malformed),
            Found::None => {
                self.unsigned += 1;
                if self.first || self.unsigned >= 100 {
                    return Err(VerifyError::Unsigned);
                }
                self.pending.extend_from_slice(msg);
                return Ok(false);
            }
        };
        if t.key_name != self.key.name || t.algorithm != self.key.algorithm.name() {
            return Err(VerifyError::BadMac);
        }
        if t.error != 0 {
            return Err(VerifyError::Error(t.error));
        }
        let mut data = Vec::with_capacity(self.prior.len() + self.pending.len() + msg.len() + 64);
        data.extend_from_slice(&(self.prior.len() as u16).to_be_bytes());
        data.extend_from_slice(&self.prior);
        data.extend_from_slice(&self.pending);
        data.extend_from_slice(&unsigned_part(msg, &t));
        if self.first {
            variables(&mut data, &t.key_name, &algorithm_wire(&t.algorithm), t.time, t.fudge, t.error, &t.other);
        } else {
            timers(&mut data, t.time, t.fudge);
        }
        if t.mac.len() != self.key.algorithm.mac_len() || !self.key.verify(&data, &t.mac) {
            return Err(VerifyError::BadMac);
        }
        self.prior = t.mac;
        self.pending.clear();
        self.unsigned = 0;
        self.first = false;
        Ok(true)
    }
}

/// The algorithm of a key name in a record, when it is one we implement.
pub fn known_algorithm(t: &TsigRecord) -> Option<Algorithm> {
    Algorithm::from_name(&t.algorithm)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &[u8]) -> Key {
        Key::new(&Name::from_ascii("k.example.").unwrap(), Algorithm::HmacSha256, secret)
    }

    /// A query for example. SOA with ID 0x1234.
    fn query() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0, 0, 6, 0, 1]);
        m
    }

    #[test]
    fn a_signed_request_verifies_and_its_reply_chains() {
        let k = key(b"secret-one");
        let ring = KeyRing::new(vec![k.clone()]);
        let mut q = query();
        let mut s = Signer::new(k.clone(), &[], 1_000_000);
        s.sign(&mut q);
        let Found::Tsig(t) = find(&q) else { panic!("no tsig") };
        assert_eq!(t.algorithm, "hmac-sha256");
        assert_eq!(verify_request(&ring, &q, &t, 1_000_100), Ok(k.clone()));
        // Another secret: BADSIG; another name: BADKEY; too late: BADTIME.
        let other = KeyRing::new(vec![key(b"secret-two")]);
        assert_eq!(verify_request(&other, &q, &t, 1_000_000), Err(Reject::Unsigned(BADSIG)));
        assert_eq!(verify_request(&KeyRing::default(), &q, &t, 1_000_000), Err(Reject::Unsigned(BADKEY)));
        assert!(matches!(verify_request(&ring, &q, &t, 1_000_301), Err(Reject::BadTime(_))));
        // A flipped bit anywhere before the TSIG: BADSIG.
        let mut bad = q.clone();
        bad[15] ^= 1;
        let Found::Tsig(tb) = find(&bad) else { panic!() };
        assert_eq!(verify_request(&ring, &bad, &tb, 1_000_000), Err(Reject::Unsigned(BADSIG)));
        // The server's replies, each signed, check out on the client side.
        let mut server = Signer::new(k.clone(), &t.mac, 1_000_001);
        let mut v = Verifier::new(&s);
        for i in 0..3u8 {
            let mut r = query();
            r[2] = 0x84;
            r[1] = i;
            server.sign(&mut r);
            assert_eq!(v.check(&r), Ok(true), "message {i}");
        }
    }

    #[test]
    fn tsig_must_be_last() {
        let mut q = query();
        Signer::new(key(b"x"), &[], 1).sign(&mut q);
        // Claim one more additional record after the TSIG.
        let mut extra = q.clone();
        extra[11] += 1;
        extra.extend_from_slice(&[0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(find(&extra), Found::Malformed);
        assert!(matches!(find(&q), Found::Tsig(_)));
        assert_eq!(find(&query()), Found::None);
    }
}
