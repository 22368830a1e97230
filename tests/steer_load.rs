//! Load feedback in the steering decision, through the public API with a hand-made load view
//! (the pollers' view is exercised end to end in `region_e2e.rs`):
//! - a shedding region sheds the share s of its clients (±1 pp over 20,000 client /24s), the
//!   same clients as s grows, and its shed clients split between the candidates in proportion
//!   to their spare capacity (±2 pp);
//! - no candidate with spare capacity (full, shedding, stale, no feed): nobody moves;
//! - a fresh feed with 0 backends up makes the region unusable; a stale one does not;
//! - the ECS scope of a decision tested against s is min(24, source prefix);
//! - `decide` allocates nothing while shedding and spilling (counting allocator).
mod support;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use gslbd::config::load_pools;
use gslbd::pool::{HealthView, LoadSlot, MemberId, PoolId, Pools, RegionLoad};
use gslbd::steer::{Answer, Client, Explain, Family, decide};
use gslbd::util::rng::SplitMix64;
use hickory_proto::rr::Name;
use ipnet::{IpNet, Ipv4Net};
use support::{CountingAlloc, count_allocations};

/// Counts allocations per thread (the tests of this binary run in parallel).
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const POOLS: &str = r#"
[names]
www = "web"

[feedback]
a = { kind = "nginx", url = "http://127.0.0.1:1/a" }
b = { kind = "nginx", url = "http://127.0.0.1:1/b" }
c = { kind = "nginx", url = "http://127.0.0.1:1/c" }

[pool.web]
region_policy = "failover"
failover_order = ["a", "b", "c", "d"]

[pool.web.region.a]
members = [ { address = "192.0.2.1" } ]
feedback = "a"
capacity = 100

[pool.web.region.b]
members = [ { address = "192.0.2.2" } ]
feedback = "b"
capacity = 100

[pool.web.region.c]
members = [ { address = "192.0.2.3" } ]
feedback = "c"
capacity = 200
high_watermark = 0.9
low_watermark = 0.5

[pool.web.region.d]
members = [ { address = "192.0.2.4" } ]
"#;

fn pools() -> Pools {
    let origin = Name::from_ascii("gslb.example.com.").unwrap();
    load_pools(std::path::Path::new("load.pools.toml"), POOLS, &origin).unwrap_or_else(|e| panic!("{e:?}"))
}

/// Every member up; the loads are the test's.
struct View {
    slots: HashMap<String, LoadSlot>,
    loads: Vec<Option<RegionLoad>>,
}

impl View {
    fn new(p: &Pools) -> View {
        let slots: HashMap<String, LoadSlot> = p.fed().map(|(slot, _, r, _)| (r.name.clone(), slot)).collect();
        View { loads: vec![None; slots.len()], slots }
    }
    fn set(&mut self, region: &str, fresh: bool, load: f64, backends_up: Option<u32>, shed: f64) -> &mut View {
        let i = self.slots[region].index();
        self.loads[i] = Some(RegionLoad { fresh, load, backends_up, shed });
        self
    }
}

impl HealthView for View {
    fn is_up(&self, _: MemberId) -> bool {
        true
    }
    fn region_load(&self, slot: LoadSlot) -> Option<RegionLoad> {
        self.loads.get(slot.index()).copied().flatten()
    }
}

fn pool_id(p: &Pools) -> PoolId {
    p.pool_id("web").unwrap()
}

/// The answering member's last octet (1 = a, 2 = b, 3 = c, 4 = d) and the ECS scope.
fn ask(p: &Pools, view: &View, subnet: IpNet) -> (u8, u8) {
    let client = Client { subnet, geo: None, ranked: None };
    let mut rng = SplitMix64::new(1);
    let d = decide(p, pool_id(p), Family::V4, &client, view, &mut rng, None);
    match d.answer {
        Answer::Addresses(a) => match a.as_slice().first() {
            Some(IpAddr::V4(v4)) => (v4.octets()[3], d.ecs_scope),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

/// 20,000 distinct client /24s spread over the IPv4 space.
fn subnets() -> impl Iterator<Item = IpNet> {
    (0u32..20_000).map(|i| {
        let a = Ipv4Addr::from(i.wrapping_mul(2_654_435_761) & 0xFFFF_FF00);
        IpNet::V4(Ipv4Net::new(a, 24).unwrap())
    })
}

#[test]
fn shed_share_is_s_and_spill_follows_spare_capacity() {
    let p = pools();
    let mut v = View::new(&p);
    // a sheds 30 %; b has 80 − 50 = 30 spare, c has 0.9 × 200 − 170 = 10 spare: 3 : 1.
    v.set("a", true, 100.0, Some(4), 0.3).set("b", true, 50.0, Some(2), 0.0).set("c", true, 170.0, None, 0.0);
    let mut count = [0usize; 5];
    for net in subnets() {
        let (who, scope) = ask(&p, &v, net);
        assert_eq!(scope, 24, "every client of a shedding region is hashed by its /24");
        count[usize::from(who)] += 1;
    }
    let n = 20_000.0;
    let shed = (count[2] + count[3]) as f64 / n;
    eprintln!("kept {} shed to b {} to c {} (share {shed:.4})", count[1], count[2], count[3]);
    assert!((shed - 0.3).abs() <= 0.01, "shed share {shed} ≈ 0.30");
    let to_b = count[2] as f64 / (count[2] + count[3]) as f64;
    assert!((to_b - 0.75).abs() <= 0.02, "b's part of the shed clients {to_b} ≈ 30 / (30 + 10)");
    assert_eq!(count[4], 0, "d has no feed: never a spill candidate");

    // As s grows the same clients stay shed (and more join).
    let mut w = View::new(&p);
    w.set("a", true, 100.0, Some(4), 0.5).set("b", true, 50.0, Some(2), 0.0).set("c", true, 170.0, None, 0.0);
    for net in subnets().take(2_000) {
        if ask(&p, &v, net).0 != 1 {
            assert_ne!(ask(&p, &w, net).0, 1, "{net} was shed at s = 0.3, so it is at s = 0.5");
        }
    }
    // A wider ECS source prefix caps the scope.
    assert_eq!(ask(&p, &v, "10.0.0.0/16".parse().unwrap()).1, 16);
}

#[test]
fn no_candidate_with_spare_capacity_means_nobody_moves() {
    let p = pools();
    type Case = (&'static str, fn(&mut View));
    let cases: [Case; 4] = [
        ("b full, c above its high watermark", |v| {
            v.set("b", true, 80.0, None, 0.0).set("c", true, 185.0, None, 0.0);
        }),
        ("b and c shedding themselves", |v| {
            v.set("b", true, 10.0, None, 0.1).set("c", true, 10.0, None, 0.2);
        }),
        ("b and c stale", |v| {
            v.set("b", false, 0.0, None, 0.0).set("c", false, 0.0, None, 0.0);
        }),
        ("b and c never read", |_| {}),
    ];
    for (what, setup) in cases {
        let mut v = View::new(&p);
        v.set("a", true, 150.0, Some(1), 0.6);
        setup(&mut v);
        for net in subnets().take(3_000) {
            let (who, scope) = ask(&p, &v, net);
            assert_eq!(who, 1, "{what}: {net} stays in a");
            assert_eq!(scope, 0, "{what}: the answer does not depend on the client");
        }
    }
}

#[test]
fn backends_down_skip_a_region_only_when_the_feed_is_fresh() {
    let p = pools();
    let net: IpNet = "198.51.100.0/24".parse().unwrap();
    let mut v = View::new(&p);
    v.set("a", true, 10.0, Some(0), 0.0);
    assert_eq!(ask(&p, &v, net).0, 2, "L4 up but no L7 backend: a is down, failover to b");
    v.set("b", true, 10.0, Some(0), 0.0);
    assert_eq!(ask(&p, &v, net).0, 3);
    v.set("a", false, 10.0, Some(0), 0.0);
    assert_eq!(ask(&p, &v, net).0, 1, "a stale feed's backends count does not make a region down");
    v.set("a", true, 10.0, None, 0.0);
    assert_eq!(ask(&p, &v, net).0, 1, "a feed without backends does not make a region down");
    v.set("a", true, 10.0, Some(1), 0.0);
    assert_eq!(ask(&p, &v, net).0, 1);
}

#[test]
fn a_stale_feed_moves_nobody_by_itself() {
    let p = pools();
    let mut v = View::new(&p);
    // Stale with s = 0 (its last load far above the watermark): nothing is shed.
    v.set("a", false, 500.0, Some(0), 0.0).set("b", true, 0.0, Some(3), 0.0);
    for net in subnets().take(2_000) {
        assert_eq!(ask(&p, &v, net), (1, 0));
    }
}

#[test]
fn explain_names_the_spill_target_and_the_spares() {
    let p = pools();
    let mut v = View::new(&p);
    v.set("a", true, 100.0, Some(4), 1.0).set("b", true, 50.0, Some(2), 0.0).set("c", true, 170.0, None, 0.0);
    let client = Client { subnet: "203.0.113.0/24".parse().unwrap(), geo: None, ranked: None };
    let mut ex = Explain::new();
    let d = decide(&p, pool_id(&p), Family::V4, &client, &v, &mut SplitMix64::new(1), Some(&mut ex));
    let text = ex.to_string();
    assert!(text.contains("a sheds 100%: this client /24 is shed"), "{text}");
    assert!(text.contains("(weighted by spare capacity: b 30.0, c 10.0)"), "{text}");
    assert!(text.contains("load shedding hashes the client /24"), "{text}");
    assert_eq!(d.ecs_scope, 24);
}

#[test]
fn decide_allocates_nothing_while_shedding() {
    let p = pools();
    let mut v = View::new(&p);
    v.set("a", true, 100.0, Some(4), 0.5).set("b", true, 50.0, Some(2), 0.0).set("c", true, 170.0, None, 0.0);
    let mut rng = SplitMix64::new(3);
    let id = pool_id(&p);
    let mut moved = 0;
    let ((), allocs) = count_allocations(|| {
        for net in subnets().take(5_000) {
            let d = decide(&p, id, Family::V4, &Client { subnet: net, geo: None, ranked: None }, &v, &mut rng, None);
            moved += usize::from(d.region != p.pool(id).and_then(|x| x.region_id("a")));
        }
    });
    assert_eq!(allocs, 0, "decide allocated");
    assert!(moved > 2_000, "the loop did shed ({moved})");
    let mut ex = Explain::new();
    let client = Client { subnet: "192.0.2.0/24".parse().unwrap(), geo: None, ranked: None };
    let (_, allocs) = count_allocations(|| decide(&p, id, Family::V4, &client, &v, &mut rng, Some(&mut ex)));
    assert!(allocs > 0, "the counter counts (explain allocates)");
}
