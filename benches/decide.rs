//! ns per `steer::decide` by region policy, on a realistic pool: 5 regions (Ashburn, Dublin,
//! Frankfurt, Singapore, São Paulo), each with 4 IPv4 and 4 IPv6 members, weighted members,
//! max_answers 2, every member up. Clients are 1,024 subnets spread over the globe with a
//! GeoIP hit each (country, continent, coordinates), as `respond` builds them.
//!
//!   cargo bench --bench decide
use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use gslbd::config::load_pools;
use gslbd::geo::{Continent, Coordinates, Country, GeoHit, Location};
use gslbd::pool::Pools;
use gslbd::pool::rank::Ranking;
use gslbd::steer::{Client, Family, decide};
use gslbd::util::rng::SplitMix64;
use hickory_proto::rr::Name;
use ipnet::IpNet;

const REGIONS: [(&str, f64, f64); 5] = [
    ("us-east", 39.04, -77.49),
    ("eu-west", 53.35, -6.26),
    ("eu-central", 50.11, 8.68),
    ("ap-southeast", 1.29, 103.85),
    ("sa-east", -23.55, -46.63),
];

fn pool_file(policy: &str) -> String {
    let mut t = String::from("[names]\nwww = \"web\"\n\n[pool.web]\nttl = 30\nmax_answers = 2\n");
    t += &format!("region_policy = \"{policy}\"\nmember_policy = \"weighted\"\n");
    match policy {
        "nearest" => t += "default_region = \"us-east\"\n",
        "failover" => {
            t += "failover_order = [\"us-east\", \"eu-west\", \"eu-central\", \"ap-southeast\", \"sa-east\"]\n"
        }
        _ => {}
    }
    for (i, (name, lat, lon)) in REGIONS.iter().enumerate() {
        t += &format!("\n[pool.web.region.{name}]\n");
        if policy == "nearest" {
            t += &format!("location = [{lat}, {lon}]\n");
        }
        if policy == "weighted" || policy == "sticky" {
            t += &format!("weight = {}\n", i + 1);
        }
        t += "members = [\n";
        for m in 1..=4 {
            t += &format!(
                "  {{ address = \"10.{i}.0.{m}\", weight = {m} }},\n  {{ address = \"2001:db8:{i}::{m}\", weight = {m} }},\n"
            );
        }
        t += "]\n";
    }
    t
}

fn pools(policy: &str) -> Pools {
    let origin = Name::from_ascii("gslb.example.com.").unwrap();
    load_pools(Path::new("bench.pools.toml"), &pool_file(policy), &origin).unwrap_or_else(|e| panic!("{policy}: {e:?}"))
}

fn clients() -> Vec<Client> {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    (0..1024)
        .map(|_| {
            let x = next();
            let addr = IpAddr::from([(1 + x % 223) as u8, (x >> 8) as u8, (x >> 16) as u8, 0]);
            let lat = ((x >> 24) % 140) as f64 - 60.0;
            let lon = ((x >> 32) % 360) as f64 - 180.0;
            let location = Location {
                country: Country::parse("GB"),
                continent: Some(Continent::EU),
                coords: Coordinates::new(lat, lon),
            };
            let network = IpNet::new(addr, 18).unwrap().trunc();
            Client {
                subnet: IpNet::new(addr, 24).unwrap(),
                geo: Some(GeoHit { location: Some(location), network, asn: None, all_up_network: None, record: None }),
                ranked: None,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let clients = clients();
    let mut g = c.benchmark_group("decide");
    for policy in ["nearest", "failover", "weighted", "sticky", "all"] {
        let pools = pools(policy);
        let pool = pools.pool_for(&Name::from_ascii("www.gslb.example.com.").unwrap().into()).unwrap();
        let health = pools.file_health();
        let mut rng = SplitMix64::new(1);
        let mut i = 0;
        g.bench_function(policy, |b| {
            b.iter(|| {
                i = (i + 1) & 1023;
                let family = if i & 1 == 0 { Family::V4 } else { Family::V6 };
                black_box(decide(&pools, pool, family, black_box(&clients[i]), &health, &mut rng, None))
            })
        });
    }
    // What the decision cache saves per query: ranking 5 regions by distance from scratch.
    let pools = pools("nearest");
    let p = pools.pools().next().unwrap().1;
    let mut i = 0;
    g.bench_function("nearest_ranking_uncached", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            let c = clients[i].geo.and_then(|g| g.location).and_then(|l| l.coords).unwrap();
            black_box(Ranking::compute(p, black_box(c)))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
