//! The GeoIP decision cache: for a (pool, client location) pair, the pool's located regions
//! ranked by effective distance (`distance_km × bias factor`, ties in file order), computed
//! once and reused by every later query from that location. Where a pool has ECS scope maps,
//! the same [`Ranking::compute`] is also run at load for every record of the database
//! (`config::geo_scopes::RecordRanks`), and the decision reads that first; this cache serves
//! the rest (fallback pools, chained databases, pools without maps).
//!
//! A client location is what one GeoIP database record says (its quantized coordinates), so
//! the cache holds at most one entry per (pool, database record) that queries have reached.
//! Health is not part of the entry: `decide` walks the ranked list and takes the first
//! usable region, so a health change needs no invalidation. The cache lives in [`super::Pools`],
//! so each snapshot (reload) starts with an empty one.
//!
//! Design: a fixed-size, direct-mapped table of seqlock slots built only from atomics (no
//! `unsafe`, no allocation after construction, no lock); a reader trusts a slot only if its
//! sequence was even and unchanged and its key matches exactly, and a writer that loses a race
//! simply does not cache.
//!
//! ```text
//! slot = { seq, key: lat µ° (i32) | lon µ° (i32), meta: pool (32) | count (8), order: 16 × 4-bit region indices }
//! ```
//! Pools with more than 16 regions are ranked on every query (not cached).
use std::sync::atomic::{AtomicU64, Ordering, fence};

use crate::geo::{Coordinates, distance_km};

use super::model::Pool;

/// Regions one entry can rank.
pub const MAX_RANKED: usize = 16;
const SLOTS: usize = 1024;

struct Slot {
    seq: AtomicU64,
    key: AtomicU64,
    meta: AtomicU64,
    order: AtomicU64,
}

/// A pool's located regions, nearest first (by effective distance, then file order).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Ranking {
    len: u8,
    order: u64,
}

impl Ranking {
    /// Region indices, nearest first.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..usize::from(self.len)).map(move |i| ((self.order >> (4 * i)) & 0xF) as usize)
    }

    /// Ranks the located regions of `pool` for a client at `c`; `None` when the pool has more
    /// regions than a ranking holds.
    pub fn compute(pool: &Pool, c: Coordinates) -> Option<Ranking> {
        if pool.regions.len() > MAX_RANKED {
            return None;
        }
        let mut v = [(0.0f64, 0u8); MAX_RANKED];
        let mut n = 0;
        for (i, r) in pool.regions.iter().enumerate() {
            let Some(loc) = r.location else { continue };
            let eff = distance_km(c, loc) * r.bias.factor();
            // An equal distance keeps file order.
            insert_stable(&mut v, n, (eff, i as u8));
            n += 1;
        }
        let mut order = 0u64;
        for (k, (_, i)) in v[..n].iter().enumerate() {
            order |= u64::from(*i & 0xF) << (4 * k);
        }
        Some(Ranking { len: n as u8, order })
    }
}

/// The table. `Clone` gives an empty table (a cache is never worth copying).
pub struct RankCache {
    slots: Box<[Slot]>,
}

impl Default for RankCache {
    fn default() -> Self {
        let slots = (0..SLOTS)
            .map(|_| Slot {
                seq: AtomicU64::new(0),
                key: AtomicU64::new(0),
                meta: AtomicU64::new(0),
                order: AtomicU64::new(0),
            })
            .collect();
        RankCache { slots }
    }
}

impl Clone for RankCache {
    fn clone(&self) -> Self {
        RankCache::default()
    }
}

impl std::fmt::Debug for RankCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RankCache")
    }
}

/// `deg` in whole micro-degrees, rounded (half to even). Coordinates are range-checked
/// (|deg| ≤ 180), so |deg × 10⁶| < 2^28: adding 1.5 × 2^52 leaves the rounded integer in the
/// low bits of the sum, without `f64::round`, which is a libm call on the baseline x86-64
/// target (~50 instructions, twice per query; callgrind).
fn micro(deg: f64) -> i32 {
    const ROUNDER: f64 = 6_755_399_441_055_744.0;
    (deg * 1e6 + ROUNDER).to_bits() as u32 as i32
}

impl RankCache {
    fn key(c: Coordinates) -> u64 {
        (u64::from(micro(c.lat) as u32) << 32) | u64::from(micro(c.lon) as u32)
    }

    fn slot(&self, key: u64, pool: u32) -> &Slot {
        let h = (key ^ u64::from(pool).rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        &self.slots[(h >> 54) as usize & (self.slots.len() - 1)]
    }

    /// The ranking of `pool` (id `pool_id`) for a client at `c`: cached, or computed and cached.
    pub fn ranking(&self, pool_id: u32, pool: &Pool, c: Coordinates) -> Option<Ranking> {
        let key = Self::key(c);
        let slot = self.slot(key, pool_id);
        let s1 = slot.seq.load(Ordering::Acquire);
        if s1 != 0 && s1 & 1 == 0 {
            let k = slot.key.load(Ordering::Relaxed);
            let meta = slot.meta.load(Ordering::Relaxed);
            let order = slot.order.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            let s2 = slot.seq.load(Ordering::Relaxed);
            if s1 == s2 && k == key && (meta >> 32) as u32 == pool_id {
                return Some(Ranking { len: (meta & 0xFF) as u8, order });
            }
        }
        let r = Ranking::compute(pool, c)?;
        let seq = slot.seq.load(Ordering::Relaxed);
        if seq & 1 == 0
            && slot.seq.compare_exchange(seq, seq.wrapping_add(1), Ordering::Acquire, Ordering::Relaxed).is_ok()
        {
            // Orders the odd `seq` before the data stores, for readers that see the new data.
            fence(Ordering::Release);
            slot.key.store(key, Ordering::Relaxed);
            slot.meta.store((u64::from(pool_id) << 32) | u64::from(r.len), Ordering::Relaxed);
            slot.order.store(r.order, Ordering::Relaxed);
            slot.seq.store(seq.wrapping_add(2), Ordering::Release);
        }
        Some(r)
    }
}

/// Inserts `item` into the sorted prefix `v[..n]` (one step of an insertion sort), after every
/// entry with an equal key: a stable sort of regions by key, equal keys in file order. `v` must
/// have room for `n + 1` entries.
pub fn insert_stable(v: &mut [(f64, u8)], n: usize, item: (f64, u8)) {
    let mut j = n;
    while j > 0 && v[j - 1].0 > item.0 {
        v[j] = v[j - 1];
        j -= 1;
    }
    v[j] = item;
}

#[cfg(test)]
mod tests {
    use super::micro;

    #[test]
    fn micro_rounds_as_f64_round_does_off_ties() {
        // Every location the query path holds is on the micro-degree grid (geo::quantize): a
        // grid value times 10⁶ is an integer give or take one rounding error.
        for v in [-180_000_000i32, -179_999_999, -1, 0, 1, 51_507_400, -77_487_400, 179_999_999, 180_000_000] {
            assert_eq!(micro(f64::from(v) / 1e6), v);
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let v = (x >> 33) as i32 % 180_000_001;
            assert_eq!(micro(f64::from(v) / 1e6), v);
            let deg = ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 360.0;
            let scaled = deg * 1e6;
            if (scaled - scaled.trunc()).abs() != 0.5 {
                assert_eq!(micro(deg), scaled.round() as i32, "{deg}");
            }
        }
    }
}
