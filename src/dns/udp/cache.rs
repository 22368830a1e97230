//! A UDP worker's cache of whole replies: the reply [`crate::dns::respond_with`] wrote for a
//! query, kept so that the same query bytes (all but the ID) under the same serving state get
//! the same octets back without being parsed, looked up and encoded again (issue 20's
//! "answers pre-encoded, only the ID patched per query", filled on first use rather than at
//! load, so a zone of a million records costs nothing more to load).
//!
//! Why a hit is exactly what `respond_with` would write: a reply is a function of the serving
//! state, the query's octets and, only in the cases kept out below, of the client's address,
//! the random source or the clock. The key is every octet of the query after the ID (flags,
//! question in its letter case, OPT with its payload size, DO bit and options), so the size
//! limit, the echoed question and the OPT are the same; the serving state is the one the slot
//! was filled under (see below). Kept out:
//! - queries that are not one plain question with at most one OPT record (no TSIG, no
//!   compression pointer, nothing in the answer or authority section), and any opcode but QUERY;
//! - replies whose outcome depends on more than those octets: a pooled answer (the client's
//!   location, health, the random pick), a COOKIE decision (the client's address, the clock),
//!   DNSSEC signatures (made online with a validity window), a TSIG error;
//! - truncated replies and replies longer than [`REPLY_MAX`] octets;
//! - queries with a Client Subnet option: each client subnet asks with its own octets, so the
//!   same query comes back only when the same subnet asks the same name after its resolver's
//!   cache expired, and the probe (hashing and comparing the query, ~260 instructions of a
//!   pooled query with ECS, callgrind) was paid on almost every one of them for nothing.
//!
//! The serving state: the cache holds a `Weak` of the `Arc` it was filled under and forgets
//! every slot (one epoch counter) when the worker's batch runs under another one. The `Weak`
//! keeps the old allocation's address from being reused while it is held, so a new state can
//! never be taken for the old one; it does not keep the old state's data alive.
//!
//! Memory: [`SLOTS`] slots of [`KEY_MAX`] + [`REPLY_MAX`] octets, allocated once per worker
//! (about 200 KiB); direct-mapped by a hash of the key, a new entry replaces the one in its
//! slot. Nothing is allocated per query. Hot path code of our own rather than a crate: a
//! general-purpose cache allocates per entry and needs a lock.
use std::hash::Hasher;
use std::sync::{Arc, Weak};

use crate::dns::Outcome;

/// The EDNS Client Subnet option (RFC 7871).
const EDNS_ECS: u16 = 8;

/// Slots per worker (a power of two).
pub const SLOTS: usize = 256;
/// The longest query (after its ID) whose reply is kept: a 255-octet name, type and class,
/// and an OPT record with up to 64 octets of options.
pub const KEY_MAX: usize = 10 + 255 + 4 + 11 + 64;
/// The longest reply kept (the smallest UDP payload every client takes, RFC 1035 §2.3.4).
pub const REPLY_MAX: usize = 512;

struct Slot {
    epoch: u32,
    key_len: u16,
    reply_len: u16,
    outcome: Outcome,
    key: [u8; KEY_MAX],
    reply: [u8; REPLY_MAX],
}

/// See the module doc.
pub struct ReplyCache<S> {
    slots: Box<[Slot]>,
    /// Slots filled under another epoch are empty.
    epoch: u32,
    /// The serving state the current epoch's slots were filled under.
    serving: Weak<S>,
}

impl<S> Default for ReplyCache<S> {
    fn default() -> Self {
        ReplyCache::new()
    }
}

impl<S> ReplyCache<S> {
    pub fn new() -> ReplyCache<S> {
        let slots = (0..SLOTS)
            .map(|_| Slot {
                epoch: 0,
                key_len: 0,
                reply_len: 0,
                outcome: Outcome::default(),
                key: [0; KEY_MAX],
                reply: [0; REPLY_MAX],
            })
            .collect();
        // Epoch 0 is never current: every slot starts empty.
        ReplyCache { slots, epoch: 1, serving: Weak::new() }
    }

    /// Called with the serving state of each batch: a different one empties the cache.
    pub fn serve_under(&mut self, serving: &Arc<S>) {
        if std::ptr::eq(self.serving.as_ptr(), Arc::as_ptr(serving)) {
            return;
        }
        self.serving = Arc::downgrade(serving);
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            // 2^32 changes later: forget the slots for real, so no old epoch comes back.
            for s in self.slots.iter_mut() {
                s.epoch = 0;
            }
            self.epoch = 1;
        }
    }

    /// Writes the kept reply to `query` into `out` (empty), with the query's ID, and returns
    /// its length and outcome; `None` on a miss.
    pub fn get(&self, query: &[u8], out: &mut Vec<u8>) -> Option<(usize, Outcome)> {
        let key = key_of(query)?;
        let s = &self.slots[slot_of(key)];
        if s.epoch != self.epoch || s.key.get(..usize::from(s.key_len))? != key {
            return None;
        }
        let len = usize::from(s.reply_len);
        let rest = s.reply.get(2..len)?;
        out.extend_from_slice(&query[..2]);
        out.extend_from_slice(rest);
        Some((len, s.outcome))
    }

    /// Keeps `reply`, what `respond_with` wrote for `query` with `outcome`, when it may be
    /// given again (see the module doc).
    pub fn put(&mut self, query: &[u8], reply: &[u8], outcome: &Outcome) {
        if !reusable(outcome) || reply.len() > REPLY_MAX || reply.len() < 12 {
            return;
        }
        let Some(key) = key_of(query) else { return };
        let epoch = self.epoch;
        let s = &mut self.slots[slot_of(key)];
        s.key[..key.len()].copy_from_slice(key);
        s.reply[..reply.len()].copy_from_slice(reply);
        // Both fit in u16: at most KEY_MAX and REPLY_MAX octets.
        s.key_len = key.len() as u16;
        s.reply_len = reply.len() as u16;
        s.outcome = *outcome;
        s.epoch = epoch;
    }
}

/// Whether a reply with this outcome depends on nothing but the query's octets and the
/// serving state.
fn reusable(o: &Outcome) -> bool {
    o.replied
        && o.steered.is_none()
        && o.cookie.is_none()
        && !o.signed
        && o.sig_cache_hits == 0
        && o.sig_made == 0
        && !o.tsig_error
        && !o.truncated
}

fn slot_of(key: &[u8]) -> usize {
    let mut h = rustc_hash::FxHasher::default();
    h.write(key);
    (h.finish() as usize) & (SLOTS - 1)
}

/// The query's octets after the ID, when it is one plain question (no compression) with
/// nothing after it but at most one OPT record, and opcode QUERY; `None` otherwise.
fn key_of(q: &[u8]) -> Option<&[u8]> {
    if q.len() < 17 || q.len() > 2 + KEY_MAX {
        return None;
    }
    let count = |i: usize| u16::from_be_bytes([q[i], q[i + 1]]);
    // QR = 0 and opcode 0; one question, no answer or authority records.
    if q[2] & 0xF8 != 0 || count(4) != 1 || count(6) != 0 || count(8) != 0 || count(10) > 1 {
        return None;
    }
    let mut at = 12;
    loop {
        let len = usize::from(*q.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None; // a compression pointer (or a reserved label type)
        }
        at += len;
    }
    at += 4; // type and class
    if count(10) == 1 {
        // The root owner and type OPT: anything else (TSIG, SIG(0)) is not kept.
        if q.get(at) != Some(&0) || q.get(at + 1..at + 3)? != [0, 41] {
            return None;
        }
        let rdlen = usize::from(u16::from_be_bytes([*q.get(at + 9)?, *q.get(at + 10)?]));
        let mut opts = q.get(at + 11..at + 11 + rdlen)?;
        while let [c0, c1, l0, l1, rest @ ..] = opts {
            if u16::from_be_bytes([*c0, *c1]) == EDNS_ECS {
                return None;
            }
            opts = rest.get(usize::from(u16::from_be_bytes([*l0, *l1]))..)?;
        }
        at += 11 + rdlen;
    }
    (at == q.len()).then(|| &q[2..])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `www.example.` type A with `id`, optionally with an OPT record.
    fn query(id: u16, opt: Option<&[u8]>) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(opt.is_some())]);
        q.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
        if let Some(o) = opt {
            q.extend_from_slice(o);
        }
        q
    }

    const OPT: &[u8] = &[0, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 0];
    const TSIG_LIKE: &[u8] = &[0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0];

    fn reply_to(q: &[u8]) -> Vec<u8> {
        let mut r = q.to_vec();
        r[2] |= 0x84;
        r.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 1]);
        r
    }

    fn answered() -> Outcome {
        Outcome { replied: true, qtype: Some(1), ..Outcome::default() }
    }

    /// A cache serving one state (returned: the cache holds only a `Weak` of it), holding the
    /// reply to `q` when given.
    fn holding(q: Option<&[u8]>) -> (Arc<()>, ReplyCache<()>) {
        let serving = Arc::new(());
        let mut c = ReplyCache::new();
        c.serve_under(&serving);
        if let Some(q) = q {
            c.put(q, &reply_to(q), &answered());
        }
        (serving, c)
    }

    #[test]
    fn a_kept_reply_comes_back_with_the_new_id_and_its_outcome() {
        let q1 = query(0x1111, Some(OPT));
        let (_serving, c) = holding(Some(&q1));
        let q2 = query(0x2222, Some(OPT));
        let mut out = Vec::new();
        let (len, outcome) = c.get(&q2, &mut out).expect("a hit");
        assert_eq!(&out[..len], &reply_to(&q2)[..]);
        assert_eq!(outcome.qtype, Some(1));
    }

    #[test]
    fn any_other_octet_is_another_query() {
        let q = query(1, Some(OPT));
        let (_serving, c) = holding(Some(&q));
        let mut other = vec![query(1, None)];
        for i in 2..q.len() {
            let mut v = q.clone();
            v[i] ^= 0x20; // e.g. the letter case of the name, the DO bit, the payload size
            other.push(v);
        }
        for v in other {
            assert!(c.get(&v, &mut Vec::new()).is_none(), "{v:?}");
        }
    }

    #[test]
    fn a_query_with_a_client_subnet_is_not_kept() {
        // OPT with NSID (empty) and ECS 192.0.2.0/24, and the same without ECS.
        let opt = |ecs: bool| {
            let mut o = vec![0, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, if ecs { 15 } else { 4 }, 0, 3, 0, 0];
            if ecs {
                o.extend_from_slice(&[0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2]);
            }
            o
        };
        let (with, without) = (query(1, Some(&opt(true))), query(1, Some(&opt(false))));
        assert_eq!(key_of(&with), None);
        assert_eq!(key_of(&without), Some(&without[2..]));
        let (_serving, c) = holding(Some(&with));
        assert!(c.get(&with, &mut Vec::new()).is_none());
        // An option running past the OPT record's data: not a plain query either.
        let mut bad = without.clone();
        let n = bad.len();
        bad[n - 2] = 9;
        assert_eq!(key_of(&bad), None);
    }

    #[test]
    fn another_serving_state_empties_it() {
        let (a, b) = (Arc::new(1u8), Arc::new(2u8));
        let mut c = ReplyCache::new();
        c.serve_under(&a);
        let q = query(7, None);
        c.put(&q, &reply_to(&q), &answered());
        c.serve_under(&a);
        assert!(c.get(&q, &mut Vec::new()).is_some());
        c.serve_under(&b);
        assert!(c.get(&q, &mut Vec::new()).is_none());
        // Back to the first state: still empty (it was filled again under none).
        c.serve_under(&a);
        assert!(c.get(&q, &mut Vec::new()).is_none());
    }

    #[test]
    fn replies_that_depend_on_more_than_the_query_are_not_kept() {
        let (_serving, mut c) = holding(None);
        let q = query(3, Some(OPT));
        let r = reply_to(&q);
        let not = [
            Outcome { signed: true, ..answered() },
            Outcome { sig_made: 1, ..answered() },
            Outcome { sig_cache_hits: 1, ..answered() },
            Outcome { truncated: true, ..answered() },
            Outcome { tsig_error: true, ..answered() },
            Outcome { replied: false, ..answered() },
        ];
        for o in not {
            c.put(&q, &r, &o);
            assert!(c.get(&q, &mut Vec::new()).is_none(), "{o:?}");
        }
        // Too long to keep.
        let mut long = r.clone();
        long.resize(REPLY_MAX + 1, 0);
        c.put(&q, &long, &answered());
        assert!(c.get(&q, &mut Vec::new()).is_none());
    }

    #[test]
    fn arbitrary_octets_neither_panic_nor_hit() {
        use crate::util::rng::{Random, SplitMix64};
        let q = query(9, Some(OPT));
        let (_serving, c) = holding(Some(&q));
        let mut rng = SplitMix64::new(20);
        for _ in 0..20_000 {
            let len = (rng.next_u64() % 64) as usize;
            // Random octets, and the kept query with some of its octets replaced.
            let mut v: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if rng.next_u64().is_multiple_of(2) {
                v = q.clone();
                let i = 2 + (rng.next_u64() as usize) % (v.len() - 2);
                v[i] = v[i].wrapping_add(1 + (rng.next_u64() % 255) as u8);
            }
            let _ = key_of(&v);
            let mut out = Vec::new();
            assert!(c.get(&v, &mut out).is_none() && out.is_empty(), "{v:?}");
        }
    }

    #[test]
    fn only_plain_queries_have_a_key() {
        assert!(key_of(&query(1, None)).is_some());
        assert!(key_of(&query(1, Some(OPT))).is_some());
        // TSIG in place of the OPT, a trailing octet, an OPT cut short, a response, NOTIFY.
        assert!(key_of(&query(1, Some(TSIG_LIKE))).is_none());
        let mut v = query(1, None);
        v.push(0);
        assert!(key_of(&v).is_none());
        let v = query(1, Some(&OPT[..10]));
        assert!(key_of(&v).is_none());
        let mut v = query(1, None);
        v[2] |= 0x80;
        assert!(key_of(&v).is_none());
        let mut v = query(1, None);
        v[2] = 4 << 3;
        assert!(key_of(&v).is_none());
        // A compression pointer in the question.
        let mut v = query(1, None);
        v[12] = 0xC0;
        assert!(key_of(&v).is_none());
        // Two questions.
        let mut v = query(1, None);
        v[5] = 2;
        assert!(key_of(&v).is_none());
        // Every prefix of a good query (a packet cut anywhere) has none.
        let q = query(1, Some(OPT));
        for n in 0..q.len() {
            assert!(key_of(&q[..n]).is_none(), "{n}");
        }
    }
}
