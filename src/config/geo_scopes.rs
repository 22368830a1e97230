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
//! Built with the snapshot, after its GeoIP database, and never changed: a reload builds new
//! maps beside the serving ones. At most [`MAX_MAPS`] distinct maps (each costs one bit per
//! node of the database's tree); pools past that keep the database network as their scope.
use std::collections::HashMap;
use std::sync::Arc;

use crate::geo::{GeoDb, ScopeMap};
use crate::pool::PoolId;
use crate::pool::geo_class::{location_class, location_class_all_up, location_key};
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
                                out.maps.push(Arc::new(PoolMaps { any_health, all_up }));
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
        (self.maps.len(), self.maps.iter().map(|m| m.any_health.heap_bytes() + m.all_up.heap_bytes()).sum())
    }
}

impl std::fmt::Debug for GeoScopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GeoScopes({} maps)", self.maps.len())
    }
}
