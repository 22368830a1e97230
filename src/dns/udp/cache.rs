//! A UDP worker's cache of replies: the reply [`crate::dns::respond_with`] wrote for a query,
//! kept so that the same query bytes (all but the ID) under the same serving state get the
//! same octets back without being parsed, looked up and encoded again (issue 20's "answers
//! pre-encoded, only ID, question case, TTL and ECS patched per query", filled on first use
//! rather than at load, so a zone of a million records costs nothing more to load).
//!
//! Why a hit is exactly what `respond_with` would write: a reply is a function of the serving
//! state, the query's octets, the client's subnet and, for a pooled name, the decision, and
//! only in the cases kept out below of the clock or the client's address itself. The key is
//! every octet of the query after the ID (flags, question in its letter case, OPT with its
//! payload size, DO bit and options) but a Client Subnet option's address octets, so the size
//! limit, the echoed question and the OPT are the same; the serving state is the one the slot
//! was filled under (see below). Kept out:
//! - queries that are not one plain question with at most one OPT record (no TSIG, no
//!   compression pointer, nothing in the answer or authority section), and any opcode but QUERY;
//! - replies whose outcome depends on more than those octets and the parts below: a COOKIE
//!   decision (the client's address, the clock), DNSSEC signatures (made online with a
//!   validity window, and over the steered addresses), a TSIG error;
//! - truncated replies and replies longer than [`REPLY_MAX`] octets.
//!
//! Two kinds of reply are kept with parts written per query ([`super::patch`]), so that a hit
//! is `respond_with`'s reply octet for octet (`kept_tests.rs` checks it on 20,000 queries,
//! under changing health, against `respond_with` with the same random source):
//! - a reply to a query with a Client Subnet option: the key leaves out the option's address
//!   octets (clients of every subnet asking the same thing share the slot), and the echo gets
//!   the query's own;
//! - a pooled answer: the slot keeps the encoded reply and where its steered records are, and
//!   the caller makes the decision again for each query (the same `decide_into`, client and
//!   random source as `respond_with`'s), then writes its addresses, TTL and ECS scope into
//!   the copy; a decision of another shape (another count, a CNAME, NODATA) is answered whole.
//!   So only the parsing, zone lookup and encoding are saved, never the decision.
//!
//! The serving state: the cache holds a `Weak` of the `Arc` it was filled under and forgets
//! every slot (one epoch counter) when the worker's batch runs under another one. The `Weak`
//! keeps the old allocation's address from being reused while it is held, so a new state can
//! never be taken for the old one; it does not keep the old state's data alive.
//!
//! Memory: [`SLOTS`] slots of [`KEY_MAX`] + [`REPLY_MAX`] octets, an outcome and the patches'
//! offsets (1,600 octets a slot), allocated once per worker (400 KiB); direct-mapped by a hash
//! of the key, a new entry replaces the one in its slot. Nothing is allocated per query. Hot path code of our own rather than a crate: a
//! general-purpose cache allocates per entry and needs a lock.
use std::hash::Hasher;
use std::sync::{Arc, Weak};

use super::patch::{EcsAt, Fill, PooledAt, find_ecs, find_pooled, write};
use crate::dns::Outcome;
use crate::dns::family_of;
use crate::dns::wire::{ClientSubnet, parse_ecs};
use crate::serving::SteeredAnswer;

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
    /// Where the query's ECS address octets were left out of the key (see [`Key`]).
    cut: u16,
    reply_len: u16,
    outcome: Outcome,
    ecs: Option<EcsAt>,
    pooled: Option<PooledAt>,
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
                cut: 0,
                reply_len: 0,
                outcome: Outcome::default(),
                ecs: None,
                pooled: None,
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

    /// The slot that keeps the reply to `query`, if one does.
    pub fn find<'q>(&self, query: &'q [u8]) -> Option<Hit<'_, 'q>> {
        let key = key_of(query)?;
        let s = &self.slots[slot_of(&key)];
        if s.epoch != self.epoch || !key.is_of(s) {
            return None;
        }
        Some(Hit { slot: s, query, key })
    }

    /// Keeps `reply`, what `respond_with` wrote for `query` with `outcome`, when it may be
    /// given again (see the module doc).
    pub fn put(&mut self, query: &[u8], reply: &[u8], outcome: &Outcome) {
        if !reusable(outcome) || reply.len() > REPLY_MAX || reply.len() < 12 {
            return;
        }
        let Some(key) = key_of(query) else { return };
        let Some(ecs) = find_ecs(reply, key.ecs_addr()) else { return };
        let pooled = match &outcome.steered {
            None => None,
            Some(st) => {
                let SteeredAnswer::Addresses(list) = &st.answer else { return };
                let family = family_of(outcome.qtype.unwrap_or(0).into());
                let Some(at) = find_pooled(reply, st.zone, st.asked, family, list.as_slice()) else { return };
                Some(at)
            }
        };
        let epoch = self.epoch;
        let s = &mut self.slots[slot_of(&key)];
        let (head, tail) = (key.head.len(), key.tail.len());
        s.key[..head].copy_from_slice(key.head);
        s.key[head..head + tail].copy_from_slice(key.tail);
        s.reply[..reply.len()].copy_from_slice(reply);
        // Both fit in u16: at most KEY_MAX and REPLY_MAX octets.
        s.key_len = (head + tail) as u16;
        s.cut = head as u16;
        s.reply_len = reply.len() as u16;
        s.outcome = *outcome;
        s.ecs = ecs;
        s.pooled = pooled;
        s.epoch = epoch;
    }
}

/// A slot that keeps the reply to a query.
pub struct Hit<'c, 'q> {
    slot: &'c Slot,
    query: &'q [u8],
    key: Key<'q>,
}

impl Hit<'_, '_> {
    /// The query's Client Subnet option, checked as the parser checks it (`Ok(None)`: it has
    /// none); `Err` when it is malformed, which only a whole answer (FORMERR) can say.
    pub fn client_subnet(&self) -> Result<Option<ClientSubnet>, ()> {
        match self.key.ecs {
            None => Ok(None),
            Some(data) => parse_ecs(data).map(Some).ok_or(()),
        }
    }

    /// Where a pooled reply's steered records are: its decision is the caller's to make.
    pub fn pooled(&self) -> Option<&PooledAt> {
        self.slot.pooled.as_ref()
    }

    /// What the kept reply's outcome was (a pooled one's decision is the caller's).
    pub fn outcome(&self) -> Outcome {
        self.slot.outcome
    }

    /// Writes the kept reply into `out` (empty) with the query's ID, its ECS address and a
    /// pooled reply's `steered` addresses, TTL and scope; returns its length.
    pub fn write(&self, steered: Option<(&[std::net::IpAddr], u32, u8)>, out: &mut Vec<u8>) -> usize {
        let kept = &self.slot.reply[..usize::from(self.slot.reply_len)];
        let ecs_addr = self.key.ecs_addr().unwrap_or_default();
        let fill = Fill { ecs_addr, steered };
        write(kept, &self.query[..2], self.slot.ecs.as_ref(), self.slot.pooled.as_ref(), &fill, out);
        kept.len()
    }
}

/// Whether a reply with this outcome depends on nothing but the query's octets, the serving
/// state and, for a pooled answer, its decision.
fn reusable(o: &Outcome) -> bool {
    o.replied
        && o.cookie.is_none()
        && !o.signed
        && o.sig_cache_hits == 0
        && o.sig_made == 0
        && !o.tsig_error
        && !o.truncated
}

fn slot_of(key: &Key) -> usize {
    let mut h = rustc_hash::FxHasher::default();
    h.write(key.head);
    h.write(key.tail);
    (h.finish() as usize) & (SLOTS - 1)
}

/// A query's key: its octets after the ID, less the address octets of its Client Subnet
/// option (`head`, then `tail`: the octets before and after them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key<'q> {
    head: &'q [u8],
    tail: &'q [u8],
    /// The ECS option's data (family, source and scope prefixes, address), when there is one.
    ecs: Option<&'q [u8]>,
}

impl<'q> Key<'q> {
    fn is_of(&self, s: &Slot) -> bool {
        let (head, len) = (self.head.len(), self.head.len() + self.tail.len());
        usize::from(s.cut) == head
            && usize::from(s.key_len) == len
            && s.key[..head] == *self.head
            && s.key[head..len] == *self.tail
    }

    /// The ECS option's address octets.
    fn ecs_addr(&self) -> Option<&'q [u8]> {
        self.ecs.map(|d| d.get(4..).unwrap_or_default())
    }
}

/// The query's key, when it is one plain question (no compression) with nothing after it but
/// at most one OPT record (with at most one ECS option), and opcode QUERY; `None` otherwise.
fn key_of(q: &[u8]) -> Option<Key<'_>> {
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
    let mut ecs: Option<(usize, usize)> = None;
    if count(10) == 1 {
        // The root owner and type OPT: anything else (TSIG, SIG(0)) is not kept.
        if q.get(at) != Some(&0) || q.get(at + 1..at + 3)? != [0, 41] {
            return None;
        }
        let rdlen = usize::from(u16::from_be_bytes([*q.get(at + 9)?, *q.get(at + 10)?]));
        let start = at + 11;
        let end = start + rdlen;
        let mut o = start;
        while o < end {
            let head = q.get(o..o + 4)?;
            let (code, len) =
                (u16::from_be_bytes([head[0], head[1]]), usize::from(u16::from_be_bytes([head[2], head[3]])));
            if o + 4 + len > end {
                return None;
            }
            if code == EDNS_ECS {
                if ecs.is_some() || len < 4 {
                    return None; // twice, or too short to be one: answered whole (FORMERR)
                }
                ecs = Some((o + 4, len));
            }
            o += 4 + len;
        }
        at = end;
    }
    if at != q.len() {
        return None;
    }
    Some(match ecs {
        None => Key { head: &q[2..], tail: &[], ecs: None },
        Some((data, len)) => Key { head: &q[2..data + 4], tail: &q[data + len..], ecs: Some(&q[data..data + len]) },
    })
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

    /// The kept reply to `q` and its outcome, as the handler takes a hit that is not pooled.
    fn get<S>(c: &ReplyCache<S>, q: &[u8], out: &mut Vec<u8>) -> Option<(usize, Outcome)> {
        let hit = c.find(q)?;
        assert!(hit.pooled().is_none());
        Some((hit.write(None, out), hit.outcome()))
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
        let (len, outcome) = get(&c, &q2, &mut out).expect("a hit");
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
            assert!(get(&c, &v, &mut Vec::new()).is_none(), "{v:?}");
        }
    }

    #[test]
    fn a_query_with_a_client_subnet_is_kept_without_its_address() {
        // OPT with NSID (empty) and ECS <addr>/24 (or none); `reply_to` echoes the OPT whole.
        let opt = |ecs: Option<[u8; 3]>| {
            let mut o = vec![0, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, if ecs.is_some() { 15 } else { 4 }, 0, 3, 0, 0];
            if let Some(a) = ecs {
                o.extend_from_slice(&[0, 8, 0, 7, 0, 1, 24, 0]);
                o.extend_from_slice(&a);
            }
            o
        };
        let with = |id: u16, a: [u8; 3]| query(id, Some(&opt(Some(a))));
        let (q1, q2) = (with(1, [192, 0, 2]), with(2, [198, 51, 100]));
        let (k1, k2) = (key_of(&q1).unwrap(), key_of(&q2).unwrap());
        assert_eq!((k1.head, k1.tail), (k2.head, k2.tail), "the address is not part of the key");
        assert_eq!(k1.ecs, Some(&[0, 1, 24, 0, 192, 0, 2][..]));
        let without = query(1, Some(&opt(None)));
        assert_eq!(key_of(&without).map(|k| (k.head, k.ecs)), Some((&without[2..], None)));

        // Kept for one subnet, given to another with its own address in the echo.
        let (_serving, c) = holding(Some(&q1));
        let mut out = Vec::new();
        let (len, _) = get(&c, &q2, &mut out).expect("another subnet shares the slot");
        assert_eq!(&out[..len], &reply_to(&q2)[..]);
        assert_eq!(c.find(&q2).unwrap().client_subnet(), Ok(Some(parse_ecs(&[0, 1, 24, 0, 198, 51, 100]).unwrap())));
        assert!(get(&c, &without, &mut Vec::new()).is_none());
        // A bit set past the source prefix (a /20 here): a hit, but the option is malformed,
        // which only a whole answer (FORMERR) says.
        let slash20 = |a: [u8; 3]| {
            let mut q = with(4, a);
            let n = q.len();
            q[n - 5] = 20;
            q
        };
        let (_serving, c) = holding(Some(&slash20([192, 0, 16])));
        assert_eq!(
            c.find(&slash20([192, 0, 32])).unwrap().client_subnet().map(|e| e.map(|e| e.net())),
            Ok(Some("192.0.32.0/20".parse().unwrap()))
        );
        assert_eq!(c.find(&slash20([192, 0, 17])).unwrap().client_subnet(), Err(()));

        // A reply whose echo is not the query's address is not kept.
        let (_serving, mut c) = holding(None);
        c.put(&q1, &reply_to(&q2), &answered());
        assert!(c.find(&q1).is_none());

        // An option running past the OPT record's data, or two ECS options: no key.
        let mut bad = without.clone();
        let n = bad.len();
        bad[n - 2] = 9;
        assert_eq!(key_of(&bad), None);
        let mut two = opt(Some([192, 0, 2]));
        two[10] = 26;
        two.extend_from_slice(&[0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2]);
        assert_eq!(key_of(&query(1, Some(&two))), None);
    }

    #[test]
    fn another_serving_state_empties_it() {
        let (a, b) = (Arc::new(1u8), Arc::new(2u8));
        let mut c = ReplyCache::new();
        c.serve_under(&a);
        let q = query(7, None);
        c.put(&q, &reply_to(&q), &answered());
        c.serve_under(&a);
        assert!(get(&c, &q, &mut Vec::new()).is_some());
        c.serve_under(&b);
        assert!(get(&c, &q, &mut Vec::new()).is_none());
        // Back to the first state: still empty (it was filled again under none).
        c.serve_under(&a);
        assert!(get(&c, &q, &mut Vec::new()).is_none());
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
            assert!(get(&c, &q, &mut Vec::new()).is_none(), "{o:?}");
        }
        // Too long to keep.
        let mut long = r.clone();
        long.resize(REPLY_MAX + 1, 0);
        c.put(&q, &long, &answered());
        assert!(get(&c, &q, &mut Vec::new()).is_none());
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
            assert!(get(&c, &v, &mut out).is_none() && out.is_empty(), "{v:?}");
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
