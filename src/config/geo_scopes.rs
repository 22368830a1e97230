//! The ECS scope maps of a snapshot: for every pool whose answer reads the client's GeoIP
//! location, the map of its GeoIP database's blocks with one answer (`geo::ScopeMap`), shared
//! by every pool that reads the location the same way (`pool::geo_class`).
//!
//! ```text
//! zones ─► pools ─location_key─► distinct keys ─GeoDb::scope_map(location_class)─► maps
//!                                                      ▲ one tree walk per distinct key
//! query: (zone, pool) ─► maps ─► GeoDb::lookup_in: the network widened to the one-answer block
//!        (and the wider block of one answer while every region is usable)
//! ```
//!
//! Beside the maps, each key's [`RecordRanks`]: the asked pool's regions ranked for every record
//! of the database, so a query reads its client's ranking instead of computing distances when
//! the decision cache has no entry for the location (with GeoLite2-City, 342,791 records against
//! the cache's 1,024 slots: most queries).
//!
//! Built with the snapshot, after its GeoIP database, and never changed: a reload builds new
//! maps beside the serving ones. At most [`MAX_MAPS`] distinct maps (each costs one bit per
//! node of the database's tree); pools past that keep the database network as their scope.
use std::collections::HashMap;
use std::sync::Arc;

use crate::geo::{GeoDb, ScopeMap};
use crate::pool::geo_class::{location_class, location_class_all_up, location_key};
use crate::pool::rank::Ranking;
use crate::pool::{PoolId, Pools, RegionPolicy};
use crate::zone::Zone;

/// Distinct scope maps one snapshot builds at most.
pub const MAX_MAPS: usize = 64;

/// No map for this pool.
const NO_MAP: u32 = u32::MAX;

/// The two maps of one way of answering: whatever the health, and while every region of the
/// asked pool is usable (coarser: only the nearest regions matter then).
pub struct PoolMaps {
    pub any_health: ScopeMap,
    pub all_up: ScopeMap,
    pub ranks: RecordRanks,
}

/// The regions of a pool ranked for each record of the GeoIP database, by the record's slot
/// ([`crate::geo::GeoHit::record`]): [`Ranking::compute`] on the record's coordinates, the very
/// ranking the decision cache would compute, done once at load. Shared by the pools of one
/// map: their keys ([`location_key`]) hold the asked pool's region coordinates and biases, in
/// order, so their rankings are equal. Empty where the pool does not rank by distance, has
/// more regions than a ranking holds, or more than 255 distinct rankings occur (the decision
/// cache ranks those clients, as before).
#[derive(Default)]
pub struct RecordRanks {
    /// Per record slot: an index into `rankings`, or [`NO_RANKING`].
    by_slot: Box<[u8]>,
    rankings: Vec<Ranking>,
}

const NO_RANKING: u8 = u8::MAX;

impl RecordRanks {
    fn build(geo: &GeoDb, pools: &Pools, pool: PoolId) -> RecordRanks {
        let Some(p) = pools.pool(pool) else { return RecordRanks::default() };
        if !matches!(p.region_policy, RegionPolicy::Nearest { .. } | RegionPolicy::Latency { .. }) {
            return RecordRanks::default();
        }
        let mut ids: HashMap<Ranking, u8> = HashMap::new();
        let mut rankings = Vec::new();
        let mut by_slot: Vec<u8> = Vec::new();
        let mut whole = true;
        let single = geo.each_record(&mut |slot, loc| {
            let Some(r) = loc.and_then(|l| l.coords).and_then(|c| Ranking::compute(p, c)) else { return };
            let id = match ids.get(&r) {
                Some(id) => *id,
                None if rankings.len() < usize::from(NO_RANKING) => {
                    let id = rankings.len() as u8;
                    rankings.push(r);
                    ids.insert(r, id);
                    id
                }
                None => {
                    whole = false;
                    return;
                }
            };
            let slot = slot as usize;
            if by_slot.len() <= slot {
                by_slot.resize(slot + 1, NO_RANKING);
            }
            by_slot[slot] = id;
        });
        if !single || !whole {
            return RecordRanks::default();
        }
        RecordRanks { by_slot: by_slot.into_boxed_slice(), rankings }
    }

    /// The ranking of the record in `slot`, when one was made.
    #[inline]
    pub fn get(&self, slot: u32) -> Option<Ranking> {
        let id = *self.by_slot.get(slot as usize)?;
        self.rankings.get(usize::from(id)).copied()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.by_slot.len() + self.rankings.capacity() * std::mem::size_of::<Ranking>()
    }
}

#[derive(Default)]
pub struct GeoScopes {
    maps: Vec<Arc<PoolMaps>>,
    /// What each map was built for (`location_key`), so a reload over the same database reuses it.
    keys: HashMap<Vec<u64>, u32>,
    /// Per zone (index in `ZoneSet::zones`), per pool id: the index in `maps`, or `NO_MAP`.
    by_zone: Vec<Vec<u32>>,
    /// Pools left without a map because [`MAX_MAPS`] was reached.
    pub over_limit: usize,
}

impl GeoScopes {
    /// The maps of `zones` over `geo` (none without a database, or with a chain of location
    /// databases: see [`GeoDb::scope_map`]). A map of `previous` built for the same key over the
    /// same database is shared, not built again (a reload that changed neither costs nothing).
    pub fn build(geo: Option<&GeoDb>, zones: &[Arc<Zone>], previous: Option<&GeoScopes>) -> GeoScopes {
        let mut out = GeoScopes::default();
        let Some(geo) = geo else { return out };
        let mut by_key: HashMap<Vec<u64>, u32> = HashMap::new();
        let reuse = |key: &Vec<u64>| {
            let p = previous?;
            let m = p.maps.get(*p.keys.get(key)? as usize)?;
            geo.owns(&m.any_health).then(|| m.clone())
        };
        for zone in zones {
            let pools = &zone.pools;
            let mut ids = Vec::with_capacity(pools.pools.len());
            for i in 0..pools.pools.len() {
                let pool = PoolId(i as u32);
                let id = match location_key(pools, pool) {
                    None => NO_MAP,
                    Some(key) => match by_key.get(&key) {
                        Some(id) => *id,
                        None if out.maps.len() >= MAX_MAPS => {
                            out.over_limit += 1;
                            NO_MAP
                        }
                        None if let Some(m) = reuse(&key) => {
                            out.maps.push(m);
                            let id = (out.maps.len() - 1) as u32;
                            by_key.insert(key, id);
                            id
                        }
                        None => match (
                            geo.scope_map(|loc| location_class(pools, pool, loc)),
                            geo.scope_map(|loc| location_class_all_up(pools, pool, loc)),
                        ) {
                            (Some(any_health), Some(all_up)) => {
                                let ranks = RecordRanks::build(geo, pools, pool);
                                out.maps.push(Arc::new(PoolMaps { any_health, all_up, ranks }));
                                let id = (out.maps.len() - 1) as u32;
                                by_key.insert(key, id);
                                id
                            }
                            _ => NO_MAP,
                        },
                    },
                };
                ids.push(id);
            }
            out.by_zone.push(ids);
        }
        out.keys = by_key;
        out
    }

    /// The maps of `pool` in zone `zone`, if it has them.
    pub fn get(&self, zone: usize, pool: PoolId) -> Option<&PoolMaps> {
        let id = *self.by_zone.get(zone)?.get(pool.0 as usize)?;
        self.maps.get(id as usize).map(|m| &**m)
    }

    /// Distinct maps, and the heap bytes they hold.
    pub fn summary(&self) -> (usize, usize) {
        let bytes = |m: &PoolMaps| m.any_health.heap_bytes() + m.all_up.heap_bytes() + m.ranks.heap_bytes();
        (self.maps.len(), self.maps.iter().map(|m| bytes(m)).sum())
    }
}

impl std::fmt::Debug for GeoScopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GeoScopes({} maps)", self.maps.len())
    }
}
