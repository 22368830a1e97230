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

/// The rankings made at load for every record of the GeoIP database (`config::geo_scopes`,
/// read through `dns::steering_client`) are the decision cache's own: for each record with
/// coordinates, and for the clients of 4,000 random addresses, the table's ranking is what
/// `Ranking::compute` gives for the record's location (bias applied, the unlocated region
/// left out).
#[test]
fn rankings_made_at_load_for_every_record_are_the_computed_ones() {
    let dir = std::env::temp_dir().join(format!("gslbd-rank-records-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = Path::new(env!("CARGO_MANIFEST_DIR")).join("geoip/default-country.mmdb");
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[geoip]\ndatabase = \"{}\"\n\
         [[zone]]\norigin = \"z.\"\nfile = \"z.zone\"\npools = \"z.pools.toml\"\n",
        db.display()
    );
    std::fs::write(dir.join("gslbd.toml"), config).unwrap();
    std::fs::write(
        dir.join("z.zone"),
        "$ORIGIN z.\n$TTL 300\n@ SOA ns h 1 7200 900 1209600 300\n@ NS ns\nns A 192.0.2.53\n",
    )
    .unwrap();
    std::fs::write(dir.join("z.pools.toml"), THREE).unwrap();
    let snap = gslbd::config::load(&dir.join("gslbd.toml")).expect("the config loads");
    let _ = std::fs::remove_dir_all(&dir);

    let geo = snap.geo.as_ref().expect("a database");
    let pools = &snap.zones.zones()[0].pools;
    let (id, pool) = pools.pools().next().expect("one pool");
    let maps = snap.geo_scopes.get(0, id).expect("the pool has maps");
    let mut located = 0;
    let single = geo.each_record(&mut |slot, loc| {
        if let Some(c) = loc.and_then(|l| l.coords) {
            assert_eq!(maps.ranks.get(slot), Ranking::compute(pool, c), "record {slot} at {c:?}");
            located += 1;
        }
    });
    assert!(single, "one location database");
    assert!(located > 200, "{located} records with coordinates");

    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut from_table = 0;
    for i in 0..4000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let addr: std::net::IpAddr = if i % 4 == 0 {
            std::net::Ipv6Addr::from(u128::from(x) << 64 | 0x2000 << 112).into()
        } else {
            std::net::Ipv4Addr::from(x as u32).into()
        };
        let client = gslbd::dns::steering_client(&snap, ipnet::IpNet::from(addr), 0, id);
        let want = client.geo.and_then(|g| g.location).and_then(|l| l.coords).and_then(|c| Ranking::compute(pool, c));
        assert_eq!(client.ranked, want, "{addr}");
        from_table += usize::from(client.ranked.is_some());
    }
    assert!(from_table > 2000, "{from_table} of 4,000 clients ranked from the table");
}
