//! Online signing (`signing = "online"`): a zone signed by gslbd itself with its keys.
//!
//! ```text
//! load:   Zone::build ─ link_pools ─► sign::sign_zone: DNSKEY/CDS/CDNSKEY at the apex, an RRSIG for
//!         every authoritative RRset (kept from the previous version when the RRset is unchanged and
//!         the signature is not due), pooled answer sets pre-signed where they are few
//! query:  static RRsets carry their RRSIGs (RRset::sigs); a pooled answer's RRSIG and the NSEC
//!         white lies of negative answers come from the [`SigCache`]s: a hit is a hash, a read
//!         lock, a compare and an Arc clone; a miss signs once (≈17 µs, P-256) and inserts
//! background: ops re-signs before expiry (a reload, which keeps what is still good) and
//!         refreshes the cache entries that are due (`Signer::refresh`)
//! ```
//!
//! A miss signs on the query path, deliberately: an answer without its signature (or with one
//! for another answer set) is bogus to a validating resolver, which its users see as
//! SERVFAIL, and answering another set than the steering chose would be wrong steering. The
//! number of distinct sets is bounded by the pools (members, `max_answers`, TTLs), not by what
//! queriers send, and the sets that are few are pre-signed at load. Negative answers sign the
//! NSEC covering the query's next closer name on a miss, one signature per new name, cached
//! too; the `*.<encloser>` cover is one per encloser, a name of the zone.
//!
//! What a [`Signer`] holds is fixed for one version of a zone (the keys read at load, which
//! key signs); the caches and counters are shared with the zone's next versions.
mod cache;
pub mod deny;
mod key;
pub mod sign;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use hickory_proto::rr::{Name, RecordType};

pub use cache::{CacheCounters, SigCache};

use super::rrset::{RRset, name_from_wire};
use crate::dnssec::rrsig::{RrsigParams, Scratch, sign_rrset_into};
use crate::dnssec::{KeySet, ZoneKey, ZskSchedule};
use crate::util::clock::unix_now;

/// Signs `set` (whose owner is `owner`, wire form) with each of `keys`: its RRSIG RRset.
pub(crate) fn sign_rrset_into_set(
    keys: &[&ZoneKey],
    owner: &[u8],
    set: &RRset,
    inception: u32,
    expiration: u32,
    scratch: &mut Scratch,
) -> crate::dnssec::Result<RRset> {
    let params = RrsigParams { type_covered: u16::from(set.rtype), original_ttl: set.ttl, inception, expiration };
    let mut rdatas: Vec<Vec<u8>> = Vec::with_capacity(keys.len());
    for k in keys {
        let mut out = Vec::with_capacity(crate::dnssec::rrsig::rrsig_rdata_len(k));
        sign_rrset_into(k, owner, 1, &params, set.rdatas(), scratch, &mut out)?;
        rdatas.push(out);
    }
    Ok(RRset::new(RecordType::RRSIG, set.ttl, rdatas.iter().map(Vec::as_slice)))
}

/// Signature policy and cache sizes of an online-signed zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignerParams {
    /// Seconds from signing to expiration (default 14 days).
    pub validity: u32,
    /// A signature with less than this left is made again (default 7 days).
    pub refresh: u32,
    /// Entries of the pooled-answer signature cache.
    pub answer_cache: usize,
    /// Entries of the NSEC (denial) cache.
    pub denial_cache: usize,
    /// At most this many pooled answer sets are signed at load (the rest on first use).
    pub presign_limit: usize,
}

/// Inception is set this far back, for resolvers whose clocks are behind.
pub const CLOCK_SKEW: u32 = 3600;

/// A signed RRset in a cache: the RRSIGs, and for a denial record the NSEC itself.
#[derive(Debug)]
pub struct Signed {
    /// The NSEC record of a negative answer (its owner as served, and the NSEC RRset); `None`
    /// for a pooled answer, whose records the steering makes.
    pub record: Option<Box<(Name, RRset)>>,
    /// The RRSIG RRset, with the covered RRset's TTL.
    pub sigs: RRset,
    /// The key tag of the signing key.
    pub tag: u16,
    /// Serial seconds.
    pub expires: u32,
}

/// Signatures made, by kind (for /status and /metrics; shared across a zone's versions).
#[derive(Debug, Default)]
pub struct SignCounters {
    /// RRsets of the zone data signed at load (not counting those kept from before).
    pub static_signed: AtomicU64,
    /// Kept from the previous version of the zone.
    pub static_kept: AtomicU64,
    /// Pooled answer sets signed (at load or on a miss).
    pub answers: AtomicU64,
    /// NSEC records signed for negative answers.
    pub denials: AtomicU64,
    /// Cache entries signed again by the background refresh.
    pub refreshed: AtomicU64,
    /// Signing failures (ring or a malformed RRset): the answer went out without proof.
    pub failures: AtomicU64,
    /// When the last signature was made (Unix seconds).
    pub last_signed: AtomicU32,
}

/// The online signing state of one version of a zone. See the module docs.
#[derive(Debug)]
pub struct Signer {
    /// The apex, lowercase wire form.
    apex: Box<[u8]>,
    pub keys: KeySet,
    /// Index in `keys` of the key that signs the zone's data; `None` leaves it unsigned.
    zsk: Option<usize>,
    pub params: SignerParams,
    /// When this version was signed (Unix seconds): which keys sign is decided for this time.
    pub signed_at: u64,
    /// min(SOA TTL, SOA MINIMUM): the TTL of NSEC records (RFC 9077).
    pub nsec_ttl: u32,
    pub answers: Arc<SigCache>,
    pub denials: Arc<SigCache>,
    pub counters: Arc<SignCounters>,
    /// Filled by [`sign::sign_zone`].
    pub report: sign::SignReport,
    /// The ZSK rollover schedule, when this node manages the keys and rolls the ZSK.
    pub schedule: Option<ZskSchedule>,
}

impl Signer {
    /// The signer of a new version of zone `apex` (wire form) with `keys`, at `now`. The caches
    /// and counters of `previous` (the zone's serving version) are kept when given.
    pub fn new(apex: &[u8], keys: KeySet, params: SignerParams, now: u64, previous: Option<&Signer>) -> Signer {
        let zsk = keys.signing_zsk(now).and_then(|z| keys.keys.iter().position(|k| std::ptr::eq(k, z)));
        let (answers, denials, counters) = match previous {
            Some(p) if p.params.answer_cache == params.answer_cache && p.params.denial_cache == params.denial_cache => {
                (p.answers.clone(), p.denials.clone(), p.counters.clone())
            }
            Some(p) => (
                Arc::new(SigCache::new(params.answer_cache)),
                Arc::new(SigCache::new(params.denial_cache)),
                p.counters.clone(),
            ),
            None => (
                Arc::new(SigCache::new(params.answer_cache)),
                Arc::new(SigCache::new(params.denial_cache)),
                Arc::default(),
            ),
        };
        Signer {
            apex: apex.to_ascii_lowercase().into(),
            keys,
            zsk,
            params,
            signed_at: now,
            nsec_ttl: 0,
            answers,
            denials,
            counters,
            report: sign::SignReport::default(),
            schedule: None,
        }
    }

    /// The next moment this version needs a successor: the earliest load-time signature
    /// expiration less the refresh time, a key's next state change, the next ZSK rollover.
    pub fn next_due(&self) -> Option<u64> {
        let now = self.signed_at;
        let expiry = self.report.earliest_expiry.map(|e| {
            // Serial seconds back to Unix time, within 68 years of `now`.
            let ahead = e.wrapping_sub(now as u32) as i32;
            now.saturating_add_signed(i64::from(ahead)).saturating_sub(u64::from(self.params.refresh))
        });
        let roll = self.schedule.and_then(|s| self.keys.zsk_rollover_at(now, &s));
        [expiry, self.keys.next_change(now), roll].into_iter().flatten().min()
    }

    /// The apex, lowercase wire form.
    pub fn apex(&self) -> &[u8] {
        &self.apex
    }

    /// The key that signs the zone's data (and its answers and denials).
    pub fn zsk(&self) -> Option<&ZoneKey> {
        self.zsk.and_then(|i| self.keys.keys.get(i))
    }

    fn zsk_tag(&self) -> u16 {
        self.zsk().map_or(0, ZoneKey::key_tag)
    }

    /// RRSIG parameters for a signature made at `now`.
    fn window(&self, now: u64) -> (u32, u32) {
        let now = now as u32;
        (now.wrapping_sub(CLOCK_SKEW), now.wrapping_add(self.params.validity))
    }

    /// Signs the RRset a cache key describes (see [`key`]) with the zone's ZSK.
    fn sign_key(&self, k: &[u8], scratch: &mut Scratch) -> Option<Signed> {
        let zsk = self.zsk()?;
        let p = key::parse(k)?;
        let now = unix_now();
        let (inception, expiration) = self.window(now);
        let params = RrsigParams { type_covered: p.rtype, original_ttl: p.ttl, inception, expiration };
        let mut rdata = Vec::with_capacity(crate::dnssec::rrsig::rrsig_rdata_len(zsk));
        if sign_rrset_into(zsk, p.owner, 1, &params, p.rdatas(), scratch, &mut rdata).is_err() {
            self.counters.failures.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.counters.last_signed.store(now as u32, Ordering::Relaxed);
        let sigs = RRset::new(RecordType::RRSIG, p.ttl, [rdata.as_slice()]);
        let record = (p.rtype == u16::from(RecordType::NSEC))
            .then(|| Some(Box::new((name_from_wire(p.owner)?, RRset::new(RecordType::NSEC, p.ttl, p.rdatas())))))
            .flatten();
        Some(Signed { record, sigs, tag: zsk.key_tag(), expires: expiration })
    }

    /// The signed RRset for `key` from `cache` (and true), or signed and inserted on a miss
    /// (and false). A hit allocates nothing and signs nothing.
    fn get_or_sign(&self, cache: &SigCache, key: &[u8]) -> Option<(Arc<Signed>, bool)> {
        let hash = cache.hash(key);
        if let Some(hit) = cache.get(key, hash, self.zsk_tag()) {
            cache.counters.hits.fetch_add(1, Ordering::Relaxed);
            return Some((hit, true));
        }
        cache.counters.misses.fetch_add(1, Ordering::Relaxed);
        let signed = Arc::new(self.sign_key(key, &mut Scratch::default())?);
        let counter = if std::ptr::eq(cache, &*self.answers) { &self.counters.answers } else { &self.counters.denials };
        counter.fetch_add(1, Ordering::Relaxed);
        cache.insert(key, hash, signed.clone());
        Some((signed, false))
    }

    /// The RRSIGs of a pooled A or AAAA answer of `owner` (its addresses of that family), and
    /// whether they came from the cache.
    pub fn addresses(
        &self,
        owner: &Name,
        rtype: RecordType,
        ttl: u32,
        addrs: &[IpAddr],
    ) -> Option<(Arc<Signed>, bool)> {
        let mut k = key::Key::new();
        key::addresses(&mut k, owner, u16::from(rtype), ttl, addrs);
        self.get_or_sign(&self.answers, k.as_slice())
    }

    /// The RRSIGs of a pooled CNAME hand-off of `owner` to `target`, and whether from the cache.
    pub fn cname(&self, owner: &Name, ttl: u32, target: &Name) -> Option<(Arc<Signed>, bool)> {
        let mut k = key::Key::new();
        key::cname(&mut k, owner, ttl, target);
        self.get_or_sign(&self.answers, k.as_slice())
    }

    /// The signed NSEC record for a denial (owner and RDATA as `dnssec::denial` makes them).
    pub(crate) fn nsec(&self, owner: &[u8], rdata: &[u8]) -> Option<(Arc<Signed>, bool)> {
        let mut k = key::Key::new();
        key::single(&mut k, owner, u16::from(RecordType::NSEC), self.nsec_ttl, rdata);
        self.get_or_sign(&self.denials, k.as_slice())
    }

    /// Signs again every cache entry that expires within `refresh` of `now` or was made with
    /// another key than this version's ZSK. Runs in the background; returns how many.
    pub fn refresh(&self, now: u64) -> usize {
        let before = (now as u32).wrapping_add(self.params.refresh);
        let tag = self.zsk_tag();
        let mut scratch = Scratch::default();
        let mut n = 0;
        for cache in [&self.answers, &self.denials] {
            for k in cache.due(before, tag) {
                if let Some(s) = self.sign_key(&k, &mut scratch) {
                    cache.insert(&k, cache.hash(&k), Arc::new(s));
                    n += 1;
                }
            }
        }
        self.counters.refreshed.fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    /// The earliest expiration among the zone's signatures: the load-time ones and the
    /// cached ones made with this version's ZSK (serial seconds).
    pub fn expiry_horizon(&self) -> Option<u32> {
        let tag = self.zsk_tag();
        [self.report.earliest_expiry, self.answers.earliest_expiry(tag), self.denials.earliest_expiry(tag)]
            .into_iter()
            .flatten()
            .min_by(|a, b| (a.wrapping_sub(*b) as i32).cmp(&0))
    }
}
