//! ECS scopes on GeoLite2-City beside gdnsd's (issue 20's must-show), run by hand:
//!
//! ```text
//! GSLBD_GEO_DB=geoip/city.mmdb cargo test --release --test ecs_scope_city -- --ignored --nocapture
//! ```
//!
//! gslbd serves the peer benchmark's `www` (nearest of three regions) over the database;
//! gdnsd 3 (Debian) serves `www DYNA geoip!web` with the benchmark's geoip map (city-auto-mode,
//! the same three datacenters and coordinates, `auto_dc_limit => 1`). For random client
//! addresses the database places (2,000 /24s, 500 /48s, or GSLBD_SCOPE_SAMPLES=v4,v6) both are
//! asked with ECS; the test prints load time and memory of the scope maps, the scope
//! medians, and counts: answers that differ, scopes narrower than gdnsd's for the same answer,
//! and scope blocks that hold more than one answer when every GeoIP network inside is walked
//! (maxminddb's iterator). It fails on any narrower scope or wrong block.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use gslbd::config::{self, Snapshot};
use gslbd::util::rng::{Random, SplitMix64};
use hickory_proto::op::Message;
use ipnet::IpNet;
use support::launch::{Daemon, answers_soa};
use support::scope_walk::{POOLS, REGIONS, Walker, ask, region_of, region_order};
use support::served::{have, repo};
use support::transport::udp_raw_timeout;
use support::{EdnsSpec, QuerySpec, TempDir, ecs_of, ecs_option, free_port};

fn gdnsd(db: &str) -> Daemon {
    let dir = TempDir::new("gslbd-gdnsd-scope");
    let port = free_port();
    let d = dir.path().display().to_string();
    for sub in ["zones", "run", "state"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    let coords: Vec<String> = REGIONS.iter().map(|(n, lat, lon)| format!("{n} => [ {lat}, {lon} ]")).collect();
    dir.write(
        "config",
        &format!(
            "options => {{ listen => [ 127.0.0.1:{port} ], udp_threads => 1, tcp_threads => 1, run_dir => {d}/run, state_dir => {d}/state }}\n\
             plugins => {{ geoip => {{ maps => {{ bench => {{ geoip2_db => {db}, datacenters => [ us-east, eu-west, ap-southeast ],\n\
             auto_dc_coords => {{ {} }}, auto_dc_limit => 1 }} }},\n\
             resources => {{ web => {{ map => bench, dcmap => {{ us-east => 192.0.2.1, eu-west => 198.51.100.1, ap-southeast => 203.0.113.1 }} }} }} }} }}\n",
            coords.join(", ")
        ),
    );
    let zone = std::fs::read_to_string(repo().join("zones/gslb.example.com.zone")).unwrap();
    dir.write("zones/gslb.example.com", &format!("{zone}\nwww 30 DYNA geoip!web\n"));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cmd = Command::new("gdnsd");
    cmd.arg("-c").arg(dir.path()).arg("start");
    Daemon::start("gdnsd", cmd, addr, dir, || answers_soa(addr, "gslb.example.com.", false)).unwrap()
}

/// gdnsd's first answer and scope for ECS `subnet`.
fn ask_gdnsd(addr: SocketAddr, subnet: IpNet) -> (String, u8) {
    let mut q = QuerySpec::new("www.gslb.example.com.", hickory_proto::rr::RecordType::A);
    q.edns = Some(EdnsSpec { options: vec![ecs_option(&subnet.to_string())], ..EdnsSpec::default() });
    let bytes = q.to_message(7).to_vec().unwrap();
    let r = udp_raw_timeout(addr, &bytes, Duration::from_secs(2)).expect("gdnsd answers");
    let m = Message::from_vec(&r).unwrap();
    let first = m.answers.first().map(|r| r.data.to_string()).unwrap_or_default();
    let scope = ecs_of(&m).first().and_then(|e| e.rsplit('/').next()).and_then(|s| s.parse().ok()).unwrap_or(255);
    (first, scope)
}

fn snapshot(dir: &TempDir, db: &str) -> Snapshot {
    dir.write("web.pools.toml", POOLS);
    let r = repo().display();
    let path = dir.write(
        "gslbd.toml",
        &format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n[geoip]\ndatabase = \"{db}\"\n\
             [[zone]]\norigin = \"gslb.example.com.\"\nfile = \"{r}/zones/gslb.example.com.zone\"\npools = \"web.pools.toml\"\n"
        ),
    );
    config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}

fn median(v: &mut [u8]) -> u8 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Random client subnets the database places (a random address with a location), as /24 or /48.
fn samples(placed: impl Fn(IpAddr) -> bool, rng: &mut SplitMix64, v6: bool, n: usize) -> Vec<IpNet> {
    let mut out = Vec::new();
    while out.len() < n {
        let ip = if v6 {
            // Global unicast outside the IPv4 aliases (2001::/32, 2002::/16).
            let hi = 0x2003_0000_0000_0000u64 + (rng.next_u64() % 0x1ffd_0000_0000_0000);
            IpAddr::V6(Ipv6Addr::from((u128::from(hi) << 64) | u128::from(rng.next_u64())))
        } else {
            IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32))
        };
        // Only clients the database places somewhere (random space is mostly empty blocks).
        if !placed(ip) {
            continue;
        }
        out.push(IpNet::new(ip, if v6 { 48 } else { 24 }).unwrap().trunc());
    }
    out
}

#[test]
#[ignore]
fn city_scopes_beside_gdnsd() {
    let Some(db) = std::env::var("GSLBD_GEO_DB").ok().filter(|p| !p.is_empty()) else {
        println!("SKIP: set GSLBD_GEO_DB to geoip/city.mmdb");
        return;
    };
    if !have("gdnsd") {
        println!("SKIP: gdnsd is not installed");
        return;
    }
    let db = std::fs::canonicalize(&db).unwrap().display().to_string();
    let (n4, n6) = std::env::var("GSLBD_SCOPE_SAMPLES")
        .ok()
        .and_then(|s| s.split_once(',').map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap())))
        .unwrap_or((2000usize, 500usize));
    let dir = TempDir::new("gslbd-ecs-city");
    let before = rss_kib();
    let t = Instant::now();
    let snap = snapshot(&dir, &db);
    let load = t.elapsed();
    let after = rss_kib();
    let geo = snap.geo.as_ref().unwrap();
    let (records, table_bytes) = geo.record_table();
    let (maps, map_bytes) = snap.geo_scopes.summary();
    println!(
        "load with the scope maps: {load:?}; RSS +{} KiB; {records} distinct records (table {} KiB); {maps} map(s), {} KiB",
        after.saturating_sub(before),
        table_bytes / 1024,
        map_bytes / 1024
    );
    let t = Instant::now();
    let again = config::GeoScopes::build(Some(geo), snap.zones.zones(), None);
    println!("scope maps alone (one pool: two maps): {:?} ({} map(s))", t.elapsed(), again.summary().0);

    let bytes = std::fs::read(&db).unwrap();
    let walker = Walker::new(&bytes);
    drop(bytes);
    let server = gdnsd(&db);
    let mut rng = SplitMix64::new(2020);
    for (v6, n) in [(false, n4), (true, n6)] {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let (mut differ, mut narrower, mut wrong, mut wider) = (0, 0, 0, 0);
        let mut examples = Vec::new();
        let placed = |ip: IpAddr| geo.lookup(ip).location.is_some();
        for subnet in samples(placed, &mut rng, v6, n) {
            let (a, s) = ask(&snap, "www.gslb.example.com.", subnet);
            let (b, g) = ask_gdnsd(server.addr(), subnet);
            let block = IpNet::new(subnet.addr(), s).unwrap().trunc();
            let firsts: BTreeSet<usize> = walker
                .inside(block)
                .into_iter()
                .map(|ip| region_order(geo.lookup(ip).location.and_then(|l| l.coords))[0])
                .collect();
            if firsts.len() != 1 || firsts.first().copied() != region_of(&a) {
                wrong += 1;
            }
            if region_of(&a) != region_of(&b) {
                differ += 1;
                if examples.len() < 5 {
                    examples.push(format!("{subnet}: gslbd {a}/{s}, gdnsd {b}/{g}"));
                }
                continue;
            }
            ours.push(s);
            theirs.push(g);
            narrower += usize::from(s > g);
            wider += usize::from(s < g);
        }
        let family = if v6 { "IPv6 /48" } else { "IPv4 /24" };
        println!(
            "{family}: {n} clients; answers differ {differ}; same answer {}: scope median gslbd /{} gdnsd /{}; gslbd narrower {narrower}, wider {wider}; blocks with more than one answer {wrong}",
            ours.len(),
            median(&mut ours.clone()),
            median(&mut theirs.clone()),
        );
        for e in &examples {
            println!("  differs: {e}");
        }
        assert_eq!(wrong, 0, "{family}: scope blocks hold more than one answer");
        assert_eq!(narrower, 0, "{family}: gslbd scopes narrower than gdnsd's");
    }
}
