//! Properties of `decide` for arbitrary clients, GeoIP hits and health views: it never panics,
//! answers at most max_answers addresses of the asked family, never returns a scope longer than
//! the client's source prefix unless the GeoIP block that decided is longer (then the source
//! holds two answers, RFC 7871 §7.2.1), answers only up members unless it failed open, and allocates
//! nothing when not explaining (checked with a counting allocator in this test binary).
mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use gslbd::config::load_pools;
use gslbd::geo::{Continent, Coordinates, Country, GeoHit, Location};
use gslbd::pool::{MemberId, MemberTarget, Pools};
use gslbd::steer::{Answer, Client, Explain, Family, decide};
use gslbd::util::rng::SplitMix64;
use hickory_proto::rr::Name;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;
use support::{CountingAlloc, count_allocations};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Every policy, geo maps, a CNAME region, fallbacks and fail-open in one file.
const POOLS: &str = r#"
[names]
a = "near"
b = "fo"
c = "wt"
d = "st"
e = "every"
[pool.near]
max_answers = 2
default_region = "us"
when_empty = { fallback = "fo" }
[pool.near.region.us]
location = [39.04, -77.49]
bias = 30
geo = { countries = ["US", "CA"], networks = ["10.0.0.0/8", "2001:db8:aaaa::/48"] }
members = [ { address = "192.0.2.1", weight = 5 }, { address = "192.0.2.2" }, { address = "2001:db8:1::1" } ]
[pool.near.region.eu]
location = [53.35, -6.26]
geo = { continents = ["EU", "AF"], networks = ["10.1.0.0/16"] }
members = [ { address = "198.51.100.1" }, { address = "2001:db8:2::1" }, { address = "2001:db8:2::2" } ]
[pool.near.region.asia]
geo = { countries = ["JP"] }
members = [ { address = "203.0.113.1" } ]
[pool.fo]
region_policy = "failover"
member_policy = "sticky"
failover_order = ["one", "lb"]
when_empty = "nodata"
[pool.fo.region.one]
members = [ { address = "192.0.2.10" }, { address = "192.0.2.11" }, { address = "2001:db8::10" } ]
[pool.fo.region.lb]
cname = "lb.example.net."
[pool.wt]
region_policy = "weighted"
max_answers = 1
[pool.wt.region.x]
weight = 2
members = [ { address = "192.0.2.20" }, { address = "192.0.2.21", weight = 9 } ]
[pool.wt.region.y]
members = [ { address = "2001:db8::20" } ]
[pool.st]
region_policy = "sticky"
member_policy = "sticky"
max_answers = 3
[pool.st.region.x]
members = [ { address = "192.0.2.30" }, { address = "192.0.2.31" }, { address = "192.0.2.32" }, { address = "192.0.2.33" }, { address = "2001:db8::30" } ]
[pool.st.region.y]
weight = 4
members = [ { address = "192.0.2.40" }, { address = "2001:db8::40" } ]
[pool.every]
region_policy = "all"
member_policy = "all"
[pool.every.region.x]
members = [ { address = "192.0.2.50" }, { address = "2001:db8::50" } ]
[pool.every.region.y]
members = [ { address = "192.0.2.60" } ]
"#;

fn pools() -> Pools {
    let origin = Name::from_ascii("gslb.example.com.").expect("origin");
    load_pools(std::path::Path::new("props.pools.toml"), POOLS, &origin).unwrap_or_else(|e| panic!("{e:?}"))
}

fn arb_subnet() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        (any::<u32>(), 0u8..=32).prop_map(|(a, p)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), p).expect("p").trunc())),
        (any::<u128>(), 0u8..=128).prop_map(|(a, p)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), p).expect("p").trunc())),
    ]
}

/// (GeoIP network prefix, optional (country index, continent index, optional (lat, lon))).
type ArbGeo = Option<(u8, Option<(u8, u8, Option<(f64, f64)>)>)>;

fn arb_geo() -> impl Strategy<Value = ArbGeo> {
    proptest::option::of((
        0u8..=128,
        proptest::option::of((0u8..6, 0u8..7, proptest::option::of((-90.0f64..=90.0, -180.0f64..=180.0)))),
    ))
}

fn geo_hit(subnet: IpNet, g: ArbGeo) -> Option<GeoHit> {
    let (p, loc) = g?;
    let network = match subnet {
        IpNet::V4(n) => IpNet::V4(Ipv4Net::new(n.addr(), p.min(32)).expect("p").trunc()),
        IpNet::V6(n) => IpNet::V6(Ipv6Net::new(n.addr(), p).expect("p").trunc()),
    };
    let countries = ["US", "CA", "JP", "DE", "BR", "ZA"];
    let continents = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];
    let location = loc.map(|(c, k, xy)| Location {
        country: countries.get(usize::from(c)).and_then(|s| Country::parse(s)),
        continent: continents.get(usize::from(k)).and_then(|s| Continent::parse(s)),
        coords: xy.and_then(|(lat, lon)| Coordinates::new(lat, lon)),
    });
    Some(GeoHit { location, network, asn: None, all_up_network: None, record: None })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn decide_is_total_and_bounded(
        subnet in arb_subnet(),
        geo in arb_geo(),
        down in proptest::collection::vec(any::<bool>(), 32),
        v6 in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let pools = pools();
        let client = Client { subnet, geo: geo_hit(subnet, geo), ranked: None };
        let health = |m: MemberId| !down.get(m.index()).copied().unwrap_or(false);
        let family = if v6 { Family::V6 } else { Family::V4 };
        for (id, pool) in pools.pools() {
            let mut rng = SplitMix64::new(seed);
            let (d, allocs) = count_allocations(|| decide(&pools, id, family, &client, &health, &mut rng, None));
            prop_assert_eq!(allocs, 0, "decide allocated without explain");
            let geo_block = client.geo.map_or(0, |g| g.network.prefix_len());
            prop_assert!(d.ecs_scope <= subnet.prefix_len().max(geo_block));
            if let Answer::Addresses(a) = &d.answer {
                let answering = pools.pool(d.pool).expect("pool");
                prop_assert!(!a.is_empty());
                prop_assert!(a.len() <= answering.max_answers.get(), "{} > max_answers of {}", a.len(), pool.name);
                for addr in a.as_slice() {
                    prop_assert_eq!(addr.is_ipv6(), v6);
                    let (mid, _) = pools.members().find(|(_, m)| m.pool == d.pool && m.target == MemberTarget::Address(*addr)).expect("a member");
                    prop_assert!(d.failed_open || health(mid), "answered down member {}", addr);
                }
                let mut sorted: Vec<IpAddr> = a.as_slice().to_vec();
                sorted.sort();
                sorted.dedup();
                prop_assert_eq!(sorted.len(), a.len(), "duplicate addresses");
            }
            let mut rng = SplitMix64::new(seed);
            let mut ex = Explain::new();
            let (explained, allocs) =
                count_allocations(|| decide(&pools, id, family, &client, &health, &mut rng, Some(&mut ex)));
            prop_assert!(allocs > 0, "the allocation counter counts");
            prop_assert_eq!(&explained, &d);
            prop_assert!(!ex.to_string().is_empty());
        }
    }
}
