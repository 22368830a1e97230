//! A bounded cache of signed RRsets, shared by every thread that answers: the RRSIGs of
//! pooled answers (one per possible answer set) and the NSEC records of negative answers.
//!
//! An entry is found by its key, the RRset's content in canonical form (owner, type, TTL and
//! sorted RDATA: [`super::key`]), so an entry is right for any snapshot that would sign the
//! same RRset, and the cache is carried across reloads; an entry made with a key that no
//! longer signs is a miss. The key is all that is needed to sign the RRset again, which is
//! what the background refresh does.
//!
//! Layout: 16 shards, each an `RwLock` over a fixed-capacity slot arena with an index from a
//! 64-bit hash to a slot, and CLOCK eviction (a slot used since the hand last passed gets a
//! second chance). A hit takes a read lock, compares the key, sets the slot's used bit and
//! clones an `Arc`: no allocation, no signature. A miss signs outside any lock and inserts
//! under the write lock of one shard.
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::Signed;

const SHARDS: usize = 16;

/// The 64-bit hash is already spread: the index uses it as it is.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

struct Slot {
    hash: u64,
    key: Box<[u8]>,
    value: Arc<Signed>,
    used: AtomicBool,
}

#[derive(Default)]
struct Shard {
    index: HashMap<u64, u32, BuildHasherDefault<Identity>>,
    slots: Vec<Slot>,
    hand: usize,
}

/// Counters of one cache (they survive reloads with it).
#[derive(Debug, Default)]
pub struct CacheCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub evictions: AtomicU64,
}

/// See the module docs.
pub struct SigCache {
    shards: [RwLock<Shard>; SHARDS],
    per_shard: usize,
    hasher: RandomState,
    pub counters: CacheCounters,
}

impl std::fmt::Debug for SigCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigCache").field("entries", &self.len()).field("capacity", &self.capacity()).finish()
    }
}

impl SigCache {
    /// A cache of at most `capacity` entries (at least one per shard).
    pub fn new(capacity: usize) -> SigCache {
        SigCache {
            shards: std::array::from_fn(|_| RwLock::new(Shard::default())),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
            counters: CacheCounters::default(),
        }
    }

    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard(&self, hash: u64) -> &RwLock<Shard> {
        &self.shards[(hash >> 60) as usize % SHARDS]
    }

    /// The entry for `key` (whose hash is `hash`) if it was signed with the key `tag`.
    /// Allocates nothing.
    pub fn get(&self, key: &[u8], hash: u64, tag: u16) -> Option<Arc<Signed>> {
        let shard = self.shard(hash).read().unwrap_or_else(|p| p.into_inner());
        let slot = shard.slots.get(*shard.index.get(&hash)? as usize)?;
        if *slot.key != *key || slot.value.tag != tag {
            return None;
        }
        if !slot.used.load(Ordering::Relaxed) {
            slot.used.store(true, Ordering::Relaxed);
        }
        Some(slot.value.clone())
    }

    /// Stores `value` for `key`, replacing what the key (or its hash) had, or the first slot
    /// the clock hand finds unused since its last pass.
    pub fn insert(&self, key: &[u8], hash: u64, value: Arc<Signed>) {
        let mut guard = self.shard(hash).write().unwrap_or_else(|p| p.into_inner());
        let shard = &mut *guard;
        let fresh = Slot { hash, key: key.into(), value, used: AtomicBool::new(false) };
        if let Some(&i) = shard.index.get(&hash) {
            shard.slots[i as usize] = fresh;
            return;
        }
        if shard.slots.len() < self.per_shard {
            shard.index.insert(hash, shard.slots.len() as u32);
            shard.slots.push(fresh);
            return;
        }
        // CLOCK: at most two passes (the first clears every used bit).
        let n = shard.slots.len();
        for _ in 0..2 * n {
            let i = shard.hand % n;
            shard.hand = (i + 1) % n;
            if shard.slots[i].used.swap(false, Ordering::Relaxed) {
                continue;
            }
            let old = shard.slots[i].hash;
            shard.index.remove(&old);
            shard.index.insert(hash, i as u32);
            shard.slots[i] = fresh;
            self.counters.evictions.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }

    /// Entries to sign again: those expiring before `before` (serial seconds) or signed with
    /// another key than `tag`. Their keys are copied out (the refresh runs in the background).
    pub fn due(&self, before: u32, tag: u16) -> Vec<Box<[u8]>> {
        let mut out = Vec::new();
        for s in &self.shards {
            let shard = s.read().unwrap_or_else(|p| p.into_inner());
            for slot in &shard.slots {
                let v = &slot.value;
                if v.tag != tag || (v.expires.wrapping_sub(before) as i32) <= 0 {
                    out.push(slot.key.clone());
                }
            }
        }
        out
    }

    /// The earliest expiration of an entry signed with `tag` (serial seconds), if any.
    pub fn earliest_expiry(&self, tag: u16) -> Option<u32> {
        let mut min: Option<u32> = None;
        for s in &self.shards {
            let shard = s.read().unwrap_or_else(|p| p.into_inner());
            for slot in shard.slots.iter().filter(|s| s.value.tag == tag) {
                let e = slot.value.expires;
                if min.is_none_or(|m| (e.wrapping_sub(m) as i32) < 0) {
                    min = Some(e);
                }
            }
        }
        min
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().unwrap_or_else(|p| p.into_inner()).slots.len()).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }
}
