//! What a client's GeoIP location decides in a pool: the classes behind the ECS scope maps
//! (`geo::ScopeMap`). Two locations of one class get the same answer from the pool in every
//! state of health and load, so a block of the GeoIP tree whose records are all of one class
//! can be claimed as one ECS scope.
//!
//! ```text
//! location ─► per pool of the chain (the pool, then its when_empty fallbacks):
//!               country map → region, continent map → region    (when the pool has place maps)
//!               the order regions are tried in                   (nearest, latency):
//!                 located regions by effective distance, then the default region, then file order
//!           ─► class (equal classes ⇔ same answer whatever the health)
//! ```
//!
//! [`location_class`] keeps the whole order: `steer::decide` takes the first usable region of
//! it, so two clients with the same nearest region but different second regions part ways when
//! the first goes down (gdnsd's datacenter list with `auto_dc_limit` at the number of regions).
//! [`location_class_all_up`] keeps the first `regions_per_answer` of it: while every region is
//! usable nothing else is read (gdnsd's `auto_dc_limit = 1`). A client without coordinates is
//! tried from the default region, so it shares a class with the clients nearest to it.
use crate::geo::{Location, distance_km};

use super::model::{Pool, PoolId, Pools, RegionPolicy, WhenEmpty};

/// Class value: no region maps this location.
const NONE: u16 = u16::MAX;

/// The pools a decision for `pool` may reach: it, then its fallbacks (the graph is acyclic; the
/// bound keeps a hand-built `Pools` finite).
fn chain(pools: &Pools, pool: PoolId) -> impl Iterator<Item = &Pool> {
    let mut next = Some(pool);
    (0..=pools.pools.len()).map_while(move |_| {
        let p = pools.pool(next?)?;
        next = match p.when_empty {
            WhenEmpty::Fallback(f) => Some(f),
            _ => None,
        };
        Some(p)
    })
}

fn uses_coords(p: &Pool) -> bool {
    matches!(p.region_policy, RegionPolicy::Nearest { .. } | RegionPolicy::Latency { .. })
}

/// What the answer of `pool` can depend on in a location, as a key: pools with equal keys
/// have equal [`location_class`] and [`location_class_all_up`] functions. `None` when no pool of the chain reads the location.
pub fn location_key(pools: &Pools, pool: PoolId) -> Option<Vec<u64>> {
    let mut key = Vec::new();
    let mut any = false;
    for p in chain(pools, pool) {
        let (place, coords) = (p.has_place_maps, uses_coords(p));
        any |= place || coords;
        key.push(
            u64::from(place)
                | (u64::from(coords) << 1)
                | (u64::from(p.regions_per_answer) << 2)
                | ((p.regions.len() as u64) << 10),
        );
        for r in &p.regions {
            if coords {
                match r.location {
                    Some(c) => key.extend([c.lat.to_bits(), c.lon.to_bits(), r.bias.factor().to_bits()]),
                    None => key.push(u64::MAX),
                }
            }
            if place {
                key.push(r.geo.countries.len() as u64);
                key.extend(r.geo.countries.iter().map(|c| u64::from(u16::from_be_bytes(cc_bytes(c.as_str())))));
                key.push(r.geo.continents.len() as u64);
                key.extend(r.geo.continents.iter().map(|c| *c as u64));
            }
        }
    }
    any.then_some(key)
}

fn cc_bytes(s: &str) -> [u8; 2] {
    let b = s.as_bytes();
    [b.first().copied().unwrap_or(0), b.get(1).copied().unwrap_or(0)]
}

/// The class of a client at `loc` (`None`: the database has no record) for `pool` and its
/// fallbacks: everything of the location that `steer::decide` reads there, whatever the health.
pub fn location_class(pools: &Pools, pool: PoolId, loc: Option<&Location>) -> Vec<u16> {
    let mut class = Vec::new();
    for p in chain(pools, pool) {
        push_class(p, loc, usize::MAX, &mut class);
        // Separates the pools of the chain.
        class.push(NONE);
    }
    class
}

/// The class of a client at `loc` while every region of `pool` is usable: then no fallback
/// is reached and only the first `regions_per_answer` regions of the ranking answer, so
/// clients whose nearest regions agree share it (gdnsd's merged tree with `auto_dc_limit`
/// at `regions_per_answer`). `steer::decide` uses this class's blocks only in that state.
pub fn location_class_all_up(pools: &Pools, pool: PoolId, loc: Option<&Location>) -> Vec<u16> {
    let mut class = Vec::new();
    if let Some(p) = pools.pool(pool) {
        push_class(p, loc, usize::from(p.regions_per_answer.max(1)), &mut class);
    }
    class
}

/// What `p` reads of `loc`: the mapped regions, and the first `ranked` regions by distance.
fn push_class(p: &Pool, loc: Option<&Location>, ranked: usize, class: &mut Vec<u16>) {
    if p.has_place_maps {
        let by = |f: &dyn Fn(&super::model::Region) -> bool| p.regions.iter().position(f).map_or(NONE, |i| i as u16);
        let cc = loc.and_then(|l| l.country);
        let ct = loc.and_then(|l| l.continent);
        class.push(cc.map_or(NONE, |cc| by(&|r| r.geo.countries.contains(&cc))));
        class.push(ct.map_or(NONE, |ct| by(&|r| r.geo.continents.contains(&ct))));
    }
    let default_region = match p.region_policy {
        RegionPolicy::Nearest { default_region } | RegionPolicy::Latency { default_region, .. } => default_region,
        _ => return,
    };
    // The order `decide` tries regions in: the located ones by effective distance, then the
    // default region, then file order (a client without coordinates starts at the default).
    let mut order: Vec<(f64, u16)> = match loc.and_then(|l| l.coords) {
        Some(c) => p
            .regions
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.location.map(|l| (distance_km(c, l) * r.bias.factor(), i as u16)))
            .collect(),
        None => Vec::new(),
    };
    // Stable: an equal distance keeps file order, as the ranking does.
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut ranked_list: Vec<u16> = order.iter().map(|(_, i)| *i).collect();
    let rest = std::iter::once(default_region.index()).chain(0..p.regions.len());
    for i in rest.map(|i| i as u16) {
        if !ranked_list.contains(&i) {
            ranked_list.push(i);
        }
    }
    class.extend(ranked_list.iter().take(ranked));
}
