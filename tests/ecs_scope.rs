//! ECS scopes as wide as the answer allows (issue 20): over a GeoIP database of random networks
//! at 14 cities, and the peer benchmark's `nearest` pool of three regions, every scope block
//! gslbd returns holds one answer (walked network by network with maxminddb's iterator, empty
//! networks and aliases included), and is the widest such block (its parent holds two): the
//! merged tree gdnsd builds. A source block with two answers inside gets a scope longer than
//! the source (RFC 7871 §7.2.1).
//!
//! While every region is usable only the nearest region matters; with a region down (`www2`)
//! the blocks are those where the whole order regions are tried in is the same.
//!
//! GeoLite2-City and gdnsd side by side: tests/ecs_scope_city.rs (ignored, run by hand).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use gslbd::config::{self, Snapshot};
use gslbd::geo::{Coordinates, GeoDbBuilder, Location};
use gslbd::util::rng::{Random, SplitMix64};
use ipnet::IpNet;
use support::TempDir;
use support::scope_walk::{POOLS, Walker, ask, region_of, region_order};

/// (lat, lon) of the cities the random networks are placed at.
const CITIES: [(f64, f64); 14] = [
    (51.5, -0.13),
    (48.86, 2.35),
    (52.52, 13.4),
    (40.71, -74.0),
    (37.77, -122.42),
    (35.68, 139.69),
    (1.35, 103.82),
    (-33.87, 151.21),
    (-23.55, -46.63),
    (19.08, 72.88),
    (55.75, 37.62),
    (30.04, 31.24),
    (43.65, -79.38),
    (25.2, 55.27),
];

fn city(i: usize) -> Location {
    let (lat, lon) = CITIES[i % CITIES.len()];
    Location { country: None, continent: None, coords: Coordinates::new(lat, lon) }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// Random networks (shorter prefixes first, so longer ones cut into them), some without a
/// location, then the crafted cases on top.
fn database(rng: &mut SplitMix64) -> Vec<u8> {
    let mut entries: Vec<(IpNet, Location)> = Vec::new();
    for _ in 0..2500 {
        let prefix = 12 + (rng.next_u64() % 17) as u8;
        let a = Ipv4Addr::from(rng.next_u64() as u32);
        let loc = if rng.next_u64().is_multiple_of(20) { Location::default() } else { city(rng.next_u64() as usize) };
        entries.push((IpNet::new(IpAddr::V4(a), prefix).unwrap().trunc(), loc));
    }
    for _ in 0..800 {
        let prefix = 20 + (rng.next_u64() % 37) as u8;
        // 2400::/6 and up: clear of the IPv4 aliases (::/96, ::ffff:0:0/96, 2001::/32, 2002::/16).
        let hi = 0x2400_0000_0000_0000u64 + (rng.next_u64() % 0x0900_0000_0000_0000);
        let a = Ipv6Addr::from((u128::from(hi) << 64) | u128::from(rng.next_u64()));
        entries.push((IpNet::new(IpAddr::V6(a), prefix).unwrap().trunc(), city(rng.next_u64() as usize)));
    }
    entries.sort_by_key(|(n, _)| n.prefix_len());
    // A /24 split in two halves with different nearest regions; two /24s at different cities
    // with the same order of regions (London and Paris).
    entries.push((net("10.9.8.0/25"), city(5)));
    entries.push((net("10.9.8.128/25"), city(3)));
    entries.push((net("100.64.0.0/24"), city(0)));
    entries.push((net("100.64.1.0/24"), city(1)));
    let mut b = GeoDbBuilder::new(6);
    for (n, loc) in &entries {
        b.insert(*n, loc).unwrap();
    }
    b.to_bytes().unwrap()
}

fn snapshot(dir: &TempDir, mmdb: &[u8]) -> Snapshot {
    let db = dir.path().join("geo.mmdb");
    std::fs::write(&db, mmdb).unwrap();
    dir.write("web.pools.toml", POOLS);
    let r = support::served::repo().display();
    let path = dir.write(
        "gslbd.toml",
        &format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n[geoip]\ndatabase = \"{}\"\n\
             [[zone]]\norigin = \"gslb.example.com.\"\nfile = \"{r}/zones/gslb.example.com.zone\"\npools = \"web.pools.toml\"\n",
            db.display()
        ),
    );
    config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The order of regions for the client at `ip`, from the location gslbd's database reader gives.
fn order_at(snap: &Snapshot, ip: IpAddr) -> Vec<usize> {
    let hit = snap.geo.as_ref().expect("a database").lookup(ip);
    region_order(hit.location.and_then(|l| l.coords))
}

/// What decides the answer in the block: the nearest region (all usable), or the whole order.
fn class(snap: &Snapshot, ip: IpAddr, whole_order: bool) -> Vec<usize> {
    let o = order_at(snap, ip);
    if whole_order { o } else { o[..1].to_vec() }
}

/// Asks `qname` for `subnet` and checks the block: one class inside, two in its parent, and
/// the answer is the client's. Returns the scope.
fn check(snap: &Snapshot, walker: &Walker, qname: &str, subnet: IpNet, whole_order: bool) -> u8 {
    let (answer, scope) = ask(snap, qname, subnet);
    let client = subnet.trunc().addr();
    let want = class(snap, client, whole_order);
    let first_usable = if whole_order { want.iter().copied().find(|&r| r != 2) } else { Some(want[0]) };
    assert_eq!(region_of(&answer), first_usable, "{qname} {subnet}: answer {answer}");
    let block = IpNet::new(client, scope).unwrap().trunc();
    let inside: BTreeSet<Vec<usize>> = walker.inside(block).into_iter().map(|a| class(snap, a, whole_order)).collect();
    assert_eq!(inside.len(), 1, "{qname} {subnet}: scope /{scope} covers clients answered differently: {inside:?}");
    if scope > 0 {
        let parent = IpNet::new(client, scope - 1).unwrap().trunc();
        let around: BTreeSet<Vec<usize>> =
            walker.inside(parent).into_iter().map(|a| class(snap, a, whole_order)).collect();
        assert!(around.len() > 1, "{qname} {subnet}: scope /{scope} is narrower than needed: {parent} has one answer");
    }
    scope
}

#[test]
fn scopes_are_the_widest_blocks_with_one_answer() {
    let dir = TempDir::new("gslbd-ecs-scope");
    let mut rng = SplitMix64::new(20);
    let mmdb = database(&mut rng);
    let snap = snapshot(&dir, &mmdb);
    let walker = Walker::new(&mmdb);
    let (mut wider_v4, mut wider_v6, mut n4, mut n6) = (0, 0, 0, 0);
    for i in 0..600 {
        let v6 = i % 4 == 3;
        let subnet = if v6 {
            let hi = 0x2400_0000_0000_0000u64 + (rng.next_u64() % 0x0900_0000_0000_0000);
            IpNet::new(IpAddr::V6(Ipv6Addr::from(u128::from(hi) << 64)), 48).unwrap()
        } else {
            IpNet::new(IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32)), 24).unwrap()
        };
        let subnet = subnet.trunc();
        let geo_net = snap.geo.as_ref().unwrap().lookup(subnet.addr()).network;
        for (qname, whole) in [("www.gslb.example.com.", false), ("www2.gslb.example.com.", true)] {
            let scope = check(&snap, &walker, qname, subnet, whole);
            // Never narrower than the database network that holds the client.
            assert!(scope <= geo_net.prefix_len(), "{qname} {subnet}: /{scope} narrower than {geo_net}");
            if !whole {
                let (n, wider) = if v6 { (&mut n6, &mut wider_v6) } else { (&mut n4, &mut wider_v4) };
                *n += 1;
                *wider += usize::from(scope < geo_net.prefix_len().min(subnet.prefix_len()));
            }
        }
    }
    println!("wider than the database network (and the source): {wider_v4} of {n4} /24s, {wider_v6} of {n6} /48s");
    assert!(wider_v4 > 0 && wider_v6 > 0, "scopes widen past the database network on this database");
}

#[test]
fn a_split_inside_the_source_gives_a_longer_scope() {
    let dir = TempDir::new("gslbd-ecs-split");
    let mmdb = database(&mut SplitMix64::new(20));
    let snap = snapshot(&dir, &mmdb);
    let walker = Walker::new(&mmdb);
    // 10.9.8.0/24 holds Tokyo (ap-southeast) and New York (us-east) halves: the /24 query is
    // answered for its first half, and says /25.
    let (answer, scope) = ask(&snap, "www.gslb.example.com.", net("10.9.8.0/24"));
    assert_eq!((region_of(&answer), scope), (Some(2), 25));
    let (answer, scope) = ask(&snap, "www.gslb.example.com.", net("10.9.8.128/25"));
    assert_eq!((region_of(&answer), scope), (Some(0), 25));
    // London and Paris try the regions in the same order: one block.
    let scope = check(&snap, &walker, "www2.gslb.example.com.", net("100.64.0.0/24"), true);
    assert!(scope <= 23, "London and Paris merge: /{scope}");
}
