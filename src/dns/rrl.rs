//! Response rate limiting (RRL) for UDP, after BIND, Knot and NSD.
//!
//! ```text
//! reply bytes ──► classify ──► (kind, name) ──► key = hash(client /24 or /56, kind, name[, qtype])
//!                                                   │
//!                                   table[key] (one AtomicU64: tag | time | balance)
//!                                                   │
//!                     Send  |  Slip (every Nth limited reply, TC=1, no records)  |  Drop
//! ```
//!
//! Why: a spoofed-source flood turns an authoritative server into a reflector. RRL caps how
//! many identical replies one client network gets per second; a real resolver behind a
//! limited network still gets every Nth reply as a truncated "slip" and retries over TCP,
//! which cannot be spoofed (TCP is never limited).
//!
//! Response kinds and their keys, as BIND's categories:
//! - positive (answer records): client network + qname + qtype;
//! - NXDOMAIN: client network + the zone (the SOA owner in the authority section), so random
//!   subdomains of one zone share one bucket;
//! - NODATA: client network + the zone (SOA owner);
//! - referral: client network + the delegation point (NS owner in the authority section);
//! - error (FORMERR, REFUSED, NOTIMP, BADVERS, SERVFAIL, ...): client network only.
//!
//! Invariants: the table is allocated once (`table_size` slots, a power of two); a check does
//! no allocation and takes no lock, only a compare-and-swap on one slot, so every UDP worker
//! shares one table and a client spreading its queries over source ports (and so over
//! SO_REUSEPORT sockets) meets one limit. Time is a parameter (`now` since any fixed origin),
//! so the behaviour is unit-tested without sleeping. Names are hashed case-insensitively
//! with a per-process random SipHash key, so colliding keys cannot be chosen from outside.
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use crate::config::{MAX_RATE_TIMES_WINDOW, RrlSettings};

/// What to do with a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Send the reply cut down to header and question, with TC=1 (see [`slip_in_place`]).
    Slip,
    Drop,
}

/// The kind of a reply, BIND's categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Positive,
    Nxdomain,
    Nodata,
    Referral,
    Error,
}

/// Counters of limited replies, readable while serving.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RrlStats {
    /// Replies over the limit (slipped + dropped).
    pub limited: u64,
    pub slipped: u64,
    pub dropped: u64,
}

// Slot layout (64 bits): tag (14) | time in 1/32 s ticks (24, wraps after ~6 days) | balance (26, signed).
// The balance is in 1/32 of a response, so refilling `rate` responses per second adds exactly
// `rate` units per tick.
const TICKS_PER_SEC: u64 = 32;
const TIME_BITS: u32 = 24;
const BAL_BITS: u32 = 26;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;
const BAL_MASK: u64 = (1 << BAL_BITS) - 1;
const TAG_SHIFT: u32 = TIME_BITS + BAL_BITS;
/// One response costs this many balance units.
const COST: i64 = TICKS_PER_SEC as i64;

/// The rate limiter: one table shared by every UDP worker.
pub struct Rrl {
    settings: RrlSettings,
    table: Box<[AtomicU64]>,
    mask: u64,
    hasher: RandomState,
    /// The origin of [`Rrl::elapsed`], the clock the UDP workers pass in (Tokio's, so it pauses in tests).
    origin: tokio::time::Instant,
    limited: AtomicU64,
    slipped: AtomicU64,
    dropped: AtomicU64,
}

impl std::fmt::Debug for Rrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rrl").field("settings", &self.settings).field("stats", &self.stats()).finish()
    }
}

impl Rrl {
    /// Allocates the table (nothing when disabled). Settings are assumed validated by the
    /// config loader; out-of-range values are clamped here so the packing stays sound.
    pub fn new(settings: &RrlSettings) -> Rrl {
        let mut s = settings.clone();
        s.responses_per_second = s.responses_per_second.max(1);
        s.window = s.window.max(1).min((MAX_RATE_TIMES_WINDOW / s.responses_per_second as u64).max(1) as u32);
        s.responses_per_second = s.responses_per_second.min(MAX_RATE_TIMES_WINDOW as u32);
        s.ipv4_prefix = s.ipv4_prefix.min(32);
        s.ipv6_prefix = s.ipv6_prefix.min(128);
        let size = if s.enabled { s.table_size.clamp(1, 1 << 26).next_power_of_two() } else { 0 };
        let table: Box<[AtomicU64]> = (0..size).map(|_| AtomicU64::new(0)).collect();
        Rrl {
            mask: (size as u64).saturating_sub(1),
            settings: s,
            table,
            hasher: RandomState::new(),
            origin: tokio::time::Instant::now(),
            limited: AtomicU64::new(0),
            slipped: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn settings(&self) -> &RrlSettings {
        &self.settings
    }

    /// Time since this limiter was made: the `now` the UDP workers pass to [`Rrl::check`].
    pub fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }

    pub fn stats(&self) -> RrlStats {
        RrlStats {
            limited: self.limited.load(Ordering::Relaxed),
            slipped: self.slipped.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// Decides what to do with `reply` (an encoded response) to `client` at time `now`.
    pub fn check(&self, reply: &[u8], client: IpAddr, now: Duration) -> Verdict {
        if !self.settings.enabled || self.table.is_empty() {
            return Verdict::Send;
        }
        let Some(key) = self.key(reply, client) else {
            return Verdict::Send; // not a reply gslbd writes; nothing to key on
        };
        if !self.debit(key, now) {
            return Verdict::Send;
        }
        let n = self.limited.fetch_add(1, Ordering::Relaxed) + 1;
        if self.settings.slip > 0 && n.is_multiple_of(self.settings.slip as u64) {
            self.slipped.fetch_add(1, Ordering::Relaxed);
            Verdict::Slip
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            Verdict::Drop
        }
    }

    fn key(&self, reply: &[u8], client: IpAddr) -> Option<u64> {
        let mut h = self.hasher.build_hasher();
        match client {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                let p = self.settings.ipv4_prefix as u32;
                let masked = if p == 0 { 0 } else { bits & (u32::MAX << (32 - p)) };
                h.write_u8(4);
                h.write_u32(masked);
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                let p = self.settings.ipv6_prefix as u32;
                let masked = if p == 0 { 0 } else { bits & (u128::MAX << (128 - p)) };
                h.write_u8(6);
                h.write_u128(masked);
            }
        }
        let kind = classify(reply, &mut h)?;
        h.write_u8(kind as u8);
        Some(h.finish())
    }

    /// Charges one response to the bucket of `key`; true when it is over the limit.
    fn debit(&self, key: u64, now: Duration) -> bool {
        let slot = &self.table[(key & self.mask) as usize];
        let tag = key >> TAG_SHIFT; // the top 14 bits
        let rate = self.settings.responses_per_second as i64;
        let full = rate * COST;
        let floor = -(self.settings.window as i64) * rate * COST;
        let tick = (now.as_millis() as u64 * TICKS_PER_SEC / 1000) & TIME_MASK;
        let mut old = slot.load(Ordering::Relaxed);
        loop {
            let (otag, otime, obal) = unpack(old);
            let balance = if old == 0 || otag != tag {
                full // a new client (or one that took this slot over): a full bucket
            } else {
                let elapsed = (tick.wrapping_sub(otime) & TIME_MASK) as i64;
                (obal + elapsed.saturating_mul(rate)).min(full)
            };
            let after = (balance - COST).max(floor);
            let limited = balance - COST < 0;
            let new = pack(tag, tick, after);
            match slot.compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return limited,
                Err(cur) => old = cur,
            }
        }
    }
}

fn pack(tag: u64, tick: u64, balance: i64) -> u64 {
    // A zero slot reads as "empty"; a real state packing to zero (tag 0, tick 0, balance 0)
    // only makes the next check see a full bucket.
    (tag << TAG_SHIFT) | ((tick & TIME_MASK) << BAL_BITS) | ((balance as u64) & BAL_MASK)
}

fn unpack(v: u64) -> (u64, u64, i64) {
    let tag = v >> TAG_SHIFT;
    let tick = (v >> BAL_BITS) & TIME_MASK;
    // Sign-extend the balance.
    let bal = ((v & BAL_MASK) << (64 - BAL_BITS)) as i64 >> (64 - BAL_BITS);
    (tag, tick, bal)
}

const HEADER: usize = 12;
const TYPE_SOA: u16 = 6;
const TYPE_NS: u16 = 2;

/// Classifies an encoded reply and feeds the name part of its key into `h`.
/// `None` for bytes that are not a reply with a readable header.
pub fn classify(reply: &[u8], h: &mut impl Hasher) -> Option<Kind> {
    if reply.len() < HEADER {
        return None;
    }
    let flags = u16::from_be_bytes([reply[2], reply[3]]);
    let rcode = flags & 0xF;
    let aa = flags & 0x0400 != 0;
    let count = |i: usize| u16::from_be_bytes([reply[i], reply[i + 1]]);
    let (qd, an, ns) = (count(4), count(6), count(8));
    if rcode != 0 && rcode != 3 {
        return Some(Kind::Error);
    }
    if qd != 1 {
        return Some(Kind::Error);
    }
    // The question: its name, then type and class.
    let mut qh = NameHash::default();
    let qend = read_name(reply, HEADER, &mut qh)?;
    let qtype = u16::from_be_bytes([*reply.get(qend)?, *reply.get(qend + 1)?]);
    let mut pos = qend + 4;
    if rcode == 0 && an > 0 {
        qh.feed(h);
        h.write_u16(qtype);
        return Some(Kind::Positive);
    }
    // No answer records: key on the first authority record's owner (SOA: the zone; NS: the cut).
    for _ in 0..an {
        pos = super::wire::record_at(reply, pos)?.next;
    }
    let kind_of = |t: u16| match (rcode, t) {
        (3, _) => Kind::Nxdomain,
        (_, TYPE_NS) if !aa => Kind::Referral,
        _ => Kind::Nodata,
    };
    if ns == 0 {
        qh.feed(h);
        return Some(if rcode == 3 { Kind::Nxdomain } else { Kind::Nodata });
    }
    let mut oh = NameHash::default();
    let end = read_name(reply, pos, &mut oh)?;
    let t = u16::from_be_bytes([*reply.get(end)?, *reply.get(end + 1)?]);
    let kind = kind_of(t);
    if t == TYPE_SOA || t == TYPE_NS {
        oh.feed(h)
    } else {
        qh.feed(h)
    }
    Some(kind)
}

/// A name's lower-cased labels, hashed as read (no allocation).
#[derive(Default)]
struct NameHash {
    h: u64,
}

impl NameHash {
    fn byte(&mut self, b: u8) {
        // FNV-1a; the result is then fed into the keyed SipHash, which is what resists collisions.
        self.h = (self.h ^ b.to_ascii_lowercase() as u64).wrapping_mul(0x100_0000_01b3);
    }
    fn feed(&self, h: &mut impl Hasher) {
        h.write_u64(self.h);
    }
}

/// Reads the wire name at `pos` (following compression pointers, bounded), hashing it.
/// Returns the offset just past the name at `pos`.
fn read_name(buf: &[u8], mut pos: usize, nh: &mut NameHash) -> Option<usize> {
    let mut end = None;
    for _ in 0..128 {
        let len = *buf.get(pos)?;
        match len {
            0 => {
                nh.byte(0);
                return Some(end.unwrap_or(pos + 1));
            }
            1..=63 => {
                nh.byte(len);
                for &b in buf.get(pos + 1..pos + 1 + len as usize)? {
                    nh.byte(b);
                }
                pos += 1 + len as usize;
            }
            0xC0..=0xFF => {
                let ptr = (((len & 0x3F) as usize) << 8) | *buf.get(pos + 1)? as usize;
                end.get_or_insert(pos + 2);
                pos = ptr;
            }
            _ => return None,
        }
    }
    None
}

/// Rewrites `reply` (of `len` bytes, in `buf`) into a slip: header and question only, TC=1,
/// the rcode kept. Returns the new length. A reply whose question cannot be read keeps the header only.
pub fn slip_in_place(buf: &mut [u8], len: usize) -> usize {
    if len < HEADER {
        return len;
    }
    let qd = u16::from_be_bytes([buf[4], buf[5]]);
    let mut new_len = HEADER;
    if qd == 1
        && let Some(end) = read_name(&buf[..len], HEADER, &mut NameHash::default())
        && end + 4 <= len
    {
        new_len = end + 4;
    }
    if new_len == HEADER {
        buf[4..6].fill(0);
    }
    buf[2] |= 0x02; // TC
    buf[6..12].fill(0); // no answer, authority or additional records (the OPT goes too)
    new_len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::encode::{Reply, encode};
    use crate::dns::wire::{QueryHeader, Question};
    use crate::zone::{RRset, Rrs, Section};
    use hickory_proto::rr::{Name, RecordType};
    use std::net::Ipv4Addr;

    fn settings(rate: u32, slip: u32, window: u32) -> RrlSettings {
        RrlSettings {
            enabled: true,
            responses_per_second: rate,
            slip,
            window,
            table_size: 1024,
            ..RrlSettings::default()
        }
    }

    /// An owner and one RRset of it.
    type Rr = (Name, RRset);

    fn section(rrs: &[Rr]) -> Section<'_> {
        let mut s = Section::new();
        for (owner, set) in rrs {
            s.push(Rrs::set(owner, set));
        }
        s
    }

    fn reply(qname: &str, qtype: RecordType, rcode: u16, answer: &[Rr], authority: &[Rr], aa: bool) -> Vec<u8> {
        let q = Question { name: Name::from_ascii(qname).unwrap(), qtype, qclass: 1 };
        let (answer, authority) = (section(answer), section(authority));
        let r = Reply {
            header: QueryHeader { id: 7, opcode: 0, rd: false, cd: false },
            authoritative: aa,
            rcode,
            question: Some(&q),
            answer: &answer,
            authority: &authority,
            additional: &Section::new(),
            addrs: &[],
            edns: None,
        };
        let mut out = Vec::new();
        encode(&r, 512, &mut out);
        out
    }

    fn rr(name: &str, rtype: RecordType, rdata: &[u8]) -> Rr {
        (Name::from_ascii(name).unwrap(), RRset::new(rtype, 60, [rdata]))
    }

    fn a(name: &str) -> Rr {
        rr(name, RecordType::A, &[192, 0, 2, 1])
    }

    fn soa_like(name: &str) -> Rr {
        rr(name, RecordType::SOA, &[0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5])
    }

    fn ns(name: &str) -> Rr {
        rr(name, RecordType::NS, b"\x02ns\x07example\x03net\x00")
    }

    fn kind(bytes: &[u8]) -> Kind {
        classify(bytes, &mut std::collections::hash_map::DefaultHasher::new()).unwrap()
    }

    const C1: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

    #[test]
    fn pack_round_trips_negative_balances() {
        for bal in [-(1 << 25), -1, 0, 1, (1 << 25) - 1] {
            assert_eq!(unpack(pack(0x3FFF, TIME_MASK, bal)), (0x3FFF, TIME_MASK, bal));
        }
    }

    #[test]
    fn classifies_like_bind() {
        assert_eq!(kind(&reply("www.z.", RecordType::A, 0, &[a("www.z.")], &[], true)), Kind::Positive);
        assert_eq!(kind(&reply("nope.z.", RecordType::A, 3, &[], &[soa_like("z.")], true)), Kind::Nxdomain);
        assert_eq!(kind(&reply("www.z.", RecordType::MX, 0, &[], &[soa_like("z.")], true)), Kind::Nodata);
        assert_eq!(kind(&reply("a.child.z.", RecordType::A, 0, &[], &[ns("child.z.")], false)), Kind::Referral);
        assert_eq!(kind(&reply("www.z.", RecordType::A, 5, &[], &[], false)), Kind::Error);
    }

    #[test]
    fn nxdomain_for_random_names_shares_one_bucket_positive_does_not() {
        let rrl = Rrl::new(&settings(5, 0, 1));
        let t = Duration::from_secs(100);
        let nx = |i: usize| reply(&format!("r{i}.z."), RecordType::A, 3, &[], &[soa_like("z.")], true);
        let sent = (0..20).filter(|&i| rrl.check(&nx(i), C1, t) == Verdict::Send).count();
        assert_eq!(sent, 5, "20 random-subdomain NXDOMAINs in one instant: the burst of 5 goes out");
        let pos = |i: usize| reply(&format!("h{i}.z."), RecordType::A, 0, &[a(&format!("h{i}.z."))], &[], true);
        assert!(
            (0..20).all(|i| rrl.check(&pos(i), C1, t) == Verdict::Send),
            "distinct positive answers are distinct buckets"
        );
    }

    #[test]
    fn refills_at_the_rate_and_remembers_a_window_of_debt() {
        let rrl = Rrl::new(&settings(10, 0, 2));
        let r = reply("www.z.", RecordType::A, 0, &[a("www.z.")], &[], true);
        let t0 = Duration::from_secs(50);
        let sent = (0..100).filter(|_| rrl.check(&r, C1, t0) == Verdict::Send).count();
        assert_eq!(sent, 10);
        // 90 over: the debt is capped at window × rate = 20 responses, so after 2 s (20 refilled)
        // the balance is back at 0, and after 2.5 s there are 5 responses of credit.
        let t = t0 + Duration::from_millis(2500);
        let sent = (0..20).filter(|_| rrl.check(&r, C1, t) == Verdict::Send).count();
        assert_eq!(sent, 5);
        // Limited replies still count (as BIND): a steady flood at twice the rate stays in debt
        // and gets nothing after its first burst; a client under the rate gets everything.
        let flood = Rrl::new(&settings(10, 0, 2));
        let sent: Vec<u64> =
            (0..200u64).filter(|i| flood.check(&r, C1, t0 + Duration::from_millis(50 * i)) == Verdict::Send).collect();
        assert!(
            sent.len() <= 20,
            "20/s for 10 s against 10/s: the burst and one second's refill at most, got {}",
            sent.len()
        );
        assert!(sent.iter().all(|&i| i < 40), "nothing after the first two seconds: {sent:?}");
        let calm = Rrl::new(&settings(10, 0, 2));
        let sent =
            (0..80u64).filter(|i| calm.check(&r, C1, t0 + Duration::from_millis(125 * i)) == Verdict::Send).count();
        assert_eq!(sent, 80, "8/s for 10 s against 10/s");
    }

    #[test]
    fn every_nth_limited_reply_slips_and_counters_add_up() {
        let rrl = Rrl::new(&settings(1, 3, 1));
        let r = reply("www.z.", RecordType::A, 0, &[a("www.z.")], &[], true);
        let v: Vec<Verdict> = (0..31).map(|_| rrl.check(&r, C1, Duration::from_secs(9))).collect();
        assert_eq!(v[0], Verdict::Send);
        assert_eq!(v.iter().filter(|x| **x == Verdict::Slip).count(), 10);
        assert_eq!(v.iter().filter(|x| **x == Verdict::Drop).count(), 20);
        assert_eq!(rrl.stats(), RrlStats { limited: 30, slipped: 10, dropped: 20 });
    }

    #[test]
    fn clients_are_grouped_by_prefix() {
        let rrl = Rrl::new(&settings(2, 0, 1));
        let r = reply("www.z.", RecordType::A, 0, &[a("www.z.")], &[], true);
        let t = Duration::from_secs(1);
        let same = |last: u8| IpAddr::V4(Ipv4Addr::new(198, 51, 100, last));
        assert_eq!(rrl.check(&r, same(1), t), Verdict::Send);
        assert_eq!(rrl.check(&r, same(2), t), Verdict::Send);
        assert_eq!(rrl.check(&r, same(3), t), Verdict::Drop, "same /24");
        assert_eq!(rrl.check(&r, IpAddr::V4(Ipv4Addr::new(198, 51, 101, 1)), t), Verdict::Send, "another /24");
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(rrl.check(&r, v6("2001:db8:0:100::1"), t), Verdict::Send);
        assert_eq!(rrl.check(&r, v6("2001:db8:0:1ff::2"), t), Verdict::Send);
        assert_eq!(rrl.check(&r, v6("2001:db8:0:1ab::3"), t), Verdict::Drop, "same /56");
        assert_eq!(rrl.check(&r, v6("2001:db8:0:200::1"), t), Verdict::Send, "another /56");
    }

    #[test]
    fn disabled_sends_everything_and_allocates_nothing() {
        let rrl = Rrl::new(&RrlSettings { enabled: false, ..settings(1, 1, 1) });
        let r = reply("www.z.", RecordType::A, 0, &[a("www.z.")], &[], true);
        assert!((0..100).all(|_| rrl.check(&r, C1, Duration::ZERO) == Verdict::Send));
        assert!(rrl.table.is_empty());
    }

    #[test]
    fn slip_keeps_header_and_question_only() {
        let mut r = reply("www.z.", RecordType::A, 0, &[a("www.z.")], &[soa_like("z.")], true);
        let len = r.len();
        let n = slip_in_place(&mut r, len);
        let m = hickory_proto::op::Message::from_vec(&r[..n]).unwrap();
        assert!(m.metadata.truncation);
        assert_eq!(m.metadata.id, 7);
        assert_eq!(m.queries.len(), 1);
        assert!(m.answers.is_empty() && m.authorities.is_empty() && m.additionals.is_empty());
        assert_eq!(n, 12 + 7 + 4);
    }
}
