//! The GeoIP decision cache (`gslbd::pool::rank`), through the public API: a pool's located
//! regions ranked nearest first by effective distance (bias applied, unlocated regions left
//! out), the same ranking from the cache as computed afresh, and concurrent readers that only
//! ever see whole entries.
use std::path::Path;
use std::sync::Arc;

use gslbd::config::load_pools;
use gslbd::geo::Coordinates;
use gslbd::pool::rank::{RankCache, Ranking};
use gslbd::pool::{Pool, Pools};
use hickory_proto::rr::Name;

fn pools(text: &str) -> Pools {
    let origin = Name::from_ascii("z.").unwrap();
    load_pools(Path::new("t.pools.toml"), text, &origin).unwrap()
}

fn first(pools: &Pools) -> &Pool {
    pools.pools().next().expect("one pool").1
}

const THREE: &str = r#"
[names]
www = "web"
[pool.web]
region_policy = "nearest"
default_region = "nowhere"
[pool.web.region.us]
location = [39.04, -77.49]
members = [{ address = "192.0.2.1" }]
[pool.web.region.eu]
location = [53.35, -6.26]
bias = 10
members = [{ address = "192.0.2.2" }]
[pool.web.region.ap]
location = [1.29, 103.85]
members = [{ address = "192.0.2.3" }]
[pool.web.region.nowhere]
members = [{ address = "192.0.2.4" }]
"#;

#[test]
fn ranks_located_regions_nearest_first_and_caches() {
    let pools = pools(THREE);
    let p = first(&pools);
    let london = Coordinates::new(51.5, -0.12).unwrap();
    let r = Ranking::compute(p, london).unwrap();
    assert_eq!(r.iter().collect::<Vec<_>>(), vec![1, 0, 2], "eu, us, ap; the unlocated region is not ranked");
    let tokyo = Coordinates::new(35.7, 139.7).unwrap();
    assert_eq!(Ranking::compute(p, tokyo).unwrap().iter().collect::<Vec<_>>(), vec![2, 1, 0], "ap, eu (biased), us");
    let cache = RankCache::default();
    assert_eq!(cache.ranking(0, p, london), Some(r));
    assert_eq!(cache.ranking(0, p, london), Some(r), "a hit returns the same ranking");
    assert_ne!(cache.ranking(0, p, tokyo), Some(r));
}

#[test]
fn concurrent_readers_see_only_whole_entries() {
    let pools = Arc::new(pools(THREE));
    let cache = Arc::new(RankCache::default());
    let places: Vec<Coordinates> =
        (0..64).map(|i| Coordinates::new(-60.0 + 2.0 * f64::from(i), -170.0 + 5.0 * f64::from(i)).unwrap()).collect();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (pools, cache, places) = (pools.clone(), cache.clone(), places.clone());
            std::thread::spawn(move || {
                let p = first(&pools);
                for i in 0..20_000usize {
                    let c = places[(i * 7 + t) % places.len()];
                    assert_eq!(cache.ranking((i % 3) as u32, p, c), Ranking::compute(p, c));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
