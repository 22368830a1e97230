//! `Explain` shows operators why: the client, its location, every candidate region with
//! distance, bias, effective distance, health and geo-map match, then the answer, TTL and scope.
//! The client is located by the steering tests' shared GeoIP fixture (tests/fixtures/geo/).
mod support;

use gslbd::config::load_pools;
use gslbd::steer::{Client, Explain, Family, decide};
use gslbd::util::rng::SplitMix64;
use hickory_proto::rr::{LowerName, Name};

#[test]
fn explain_tells_the_whole_story() {
    let origin = Name::from_ascii("gslb.example.com.").expect("origin");
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("zones/gslb.example.com.pools.toml");
    let text = std::fs::read_to_string(&path).expect("pool file");
    let pools = load_pools(&path, &text, &origin).expect("loads");
    let pool = pools.pool_for(&LowerName::new(&Name::from_ascii("www.gslb.example.com.").expect("n"))).expect("pooled");
    let subnet: ipnet::IpNet = "1.1.1.0/24".parse().expect("net");
    let client = Client { subnet, geo: Some(support::steering_geo_db().lookup(subnet.addr())), ranked: None };
    let mut ex = Explain::new();
    let d = decide(&pools, pool, Family::V4, &client, &pools.file_health(), &mut SplitMix64::new(1), Some(&mut ex));
    let text = ex.to_string();
    println!("{text}");
    for want in [
        "client     1.1.1.0/24",
        "geo        network 1.1.0.0/16",
        "country JP, continent AS, 35.68, 139.69",
        "pool web: region_policy nearest, member_policy weighted, ttl 30, max_answers 2",
        "* ap-southeast",
        "5317 km, bias 0, effective 5317 km",
        "us-east          usable   4/4 up, 10872 km",
        "-> nearest usable region: ap-southeast at 5317 km effective",
        "ttl        30",
        "ecs scope  /16: the GeoIP network 1.1.0.0/16 decided",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert_eq!(d.ecs_scope, 16);
    assert_eq!(ex.answer.len(), 2);
}
