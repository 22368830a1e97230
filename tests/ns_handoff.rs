//! Issue 8, hand-off 3 (NS delegation) through a real resolver: a pool region with
//! `delegate = "www.eu"` answers `www.gslb.example.com` with a CNAME into the zone cut
//! `eu.gslb.example.com` plus the referral (authority NS, additional glue), and Unbound follows
//! it to the region's own DNS, a Knot on 127.0.0.21:53, which has the final address.
//!
//! ```text
//!  client ─RD─► Unbound ─stub gslb.example.com─► gslbd (127.0.0.1:P)
//!                  │          CNAME www.eu.gslb.example.com + NS ns1.eu + glue 127.0.0.21
//!                  └─────────────── www.eu.gslb.example.com A? ──► Knot 127.0.0.21:53
//!                                                                   www A 192.0.2.80
//! ```
//!
//! Referrals carry no port, so the region's DNS must listen on port 53: the whole topology runs
//! inside `unshare -n` (a private network namespace with only loopback), as tests/conformance.rs
//! does. The outer test re-runs this test binary there with [`INNER`] set, to run the ignored
//! inner test. Missing knotd, unbound, unshare or ip, or a machine where `unshare -n` is not
//! permitted, prints `SKIP: <reason>`.
//!
//! The exact sections gslbd gives are checked twice: against the literal records, and against
//! Knot serving the same names as static data (`www 30 CNAME www.eu` next to the cut), so the
//! hand-off is the answer an authoritative server of record gives.
// Black-box timing of a real server and real peers: wall-clock time is what is measured here,
// so the clippy.toml rule (tokio's pausable clock inside the server) does not apply.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use support::*;

/// Set (to "1") in the environment of the test binary re-run inside the namespace.
const INNER: &str = "GSLBD_NS_HANDOFF_INNER";
const ZONE: &str = "gslb.example.com.";
const WWW: &str = "www.gslb.example.com.";
/// The region's own DNS: the glue address of ns1.eu.gslb.example.com.
const REGION_DNS: &str = "127.0.0.21";

/// gslbd's zone: its own NS, and the cut eu.gslb.example.com delegated to the region's DNS.
const GSLB_ZONE: &str = "$ORIGIN gslb.example.com.\n$TTL 300\n\
@       SOA ns1 hostmaster 1 7200 900 1209600 300\n\
@       NS  ns1\n\
ns1     A   127.0.0.1\n\
eu      NS  ns1.eu\n\
ns1.eu  A   127.0.0.21\n";

/// The region's zone on its own Knot.
const EU_ZONE: &str = "$ORIGIN eu.gslb.example.com.\n$TTL 300\n\
@    SOA ns1 hostmaster 1 7200 900 1209600 300\n\
@    NS  ns1\n\
ns1  A   127.0.0.21\n\
www  A   192.0.2.80\n";

#[test]
fn a_delegated_region_resolves_through_unbound_at_the_regions_own_dns() {
    if knotd_path().is_none() {
        println!("SKIP: knotd not installed (apt-get install knot)");
        return;
    }
    if unbound_path().is_none() {
        println!("SKIP: unbound not installed (apt-get install unbound)");
        return;
    }
    for (bin, pkg) in [("unshare", "util-linux"), ("ip", "iproute2"), ("timeout", "coreutils")] {
        if find_program(bin).is_none() {
            println!("SKIP: {bin} not installed (apt-get install {pkg})");
            return;
        }
    }
    match Command::new("unshare").args(["-n", "true"]).status() {
        Ok(s) if s.success() => {}
        other => {
            println!("SKIP: `unshare -n` is not permitted here ({other:?}); the region's DNS needs port 53");
            return;
        }
    }
    let exe = std::env::current_exe().expect("the test binary");
    let start = Instant::now();
    let out = Command::new("timeout")
        .args(["120", "unshare", "-n", "--"])
        .arg(exe)
        .args(["--exact", "inside_the_namespace", "--ignored", "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .output()
        .expect("run the test binary in a network namespace");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{text}");
    assert!(out.status.success(), "the namespace run failed ({}):\n{text}", out.status);
    assert!(text.contains("1 passed"), "the inner test did not run:\n{text}");
    eprintln!("namespace run took {:?}", start.elapsed());
}

/// Starts knotd serving `origin` on `addr` (port 53 inside the namespace); killed on Drop.
fn knot_at(addr: SocketAddr, origin: &str, zone_text: &str) -> Daemon {
    Knot::start_at(addr, origin, zone_text).unwrap_or_else(|e| panic!("{e}"))
}

/// The reply of `server` to `name`/`qtype` with EDNS and RD clear, normalised.
fn ask(server: SocketAddr, name: &str, qtype: RecordType) -> Normal {
    normalise(&exchange_udp(server, &ecs_query(name, qtype, None).to_vec().unwrap()))
}

#[test]
#[ignore = "runs inside the private network namespace that the test above makes"]
fn inside_the_namespace() {
    if std::env::var_os(INNER).is_none() {
        println!(
            "SKIP: runs only inside the network namespace made by a_delegated_region_resolves_through_unbound_at_the_regions_own_dns"
        );
        return;
    }
    let ok = Command::new("ip").args(["link", "set", "lo", "up"]).status().map(|s| s.success()).unwrap_or(false);
    assert!(ok, "ip link set lo up");
    let region_dns: SocketAddr = format!("{REGION_DNS}:53").parse().unwrap();
    let mut region = Some(knot_at(region_dns, "eu.gslb.example.com.", EU_ZONE));

    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nhealth_startup_wait_ms = 3000\n\n\
         [[zone]]\norigin = \"{ZONE}\"\nfile = \"gslb.example.com.zone\"\npools = \"gslb.example.com.pools.toml\"\n"
    );
    // The pool: region eu hands `www` off to the region's DNS; us is the failover with a plain
    // address. eu's health is a tcp probe of its glue address on port 53.
    let pools = delegated_failover(53, 2, "192.0.2.1");
    let gslbd =
        GslbdServer::start(&config, &[("gslb.example.com.zone", GSLB_ZONE), ("gslb.example.com.pools.toml", &pools)]);

    // 1. Directly from gslbd: the CNAME into the cut, and the referral, exactly.
    for qtype in [RecordType::A, RecordType::AAAA] {
        let g = ask(gslbd.addr(), WWW, qtype);
        assert_eq!(g.rcode_name(), "NOERROR", "{qtype}:\n{g}");
        assert_eq!(g.flags, ["qr", "aa"], "{qtype}: authoritative for the CNAME:\n{g}");
        assert_eq!(g.answer, ["www.gslb.example.com. 30 IN CNAME www.eu.gslb.example.com."], "{qtype}:\n{g}");
        assert_eq!(g.authority, ["eu.gslb.example.com. 300 IN NS ns1.eu.gslb.example.com."], "{qtype}:\n{g}");
        assert_eq!(g.additional, ["ns1.eu.gslb.example.com. 300 IN A 127.0.0.21"], "{qtype}:\n{g}");
    }
    // The same as an authoritative server of record gives for the same data, written statically.
    let reference = format!("{GSLB_ZONE}www 30 CNAME www.eu\n");
    let knot = Knot::start(ZONE, &reference).expect("knotd (checked by the outer test)");
    for qtype in [RecordType::A, RecordType::AAAA] {
        let (k, g) = (ask(knot.addr(), WWW, qtype), ask(gslbd.addr(), WWW, qtype));
        let d = diff("knot", &k, "gslbd", &g);
        assert!(
            d.is_empty(),
            "{qtype}: gslbd's hand-off differs from Knot's:\n{}\nknot:\n{k}\ngslbd:\n{g}",
            d.join("\n")
        );
    }
    // A name below the cut is a plain referral from gslbd too.
    let g = ask(gslbd.addr(), "www.eu.gslb.example.com.", RecordType::A);
    let k = ask(knot.addr(), "www.eu.gslb.example.com.", RecordType::A);
    assert!(diff("knot", &k, "gslbd", &g).is_empty(), "below the cut:\nknot:\n{k}\ngslbd:\n{g}");
    assert!(g.answer.is_empty() && !g.has_flag("aa"), "below the cut is a referral:\n{g}");

    // 2. Through Unbound: the CNAME chain ends at the address only the region's Knot has.
    let unbound =
        Unbound::start_stub_with_ecs("gslb.example.com", gslbd.addr()).expect("unbound (checked by the outer test)");
    let mut q = QuerySpec::new(WWW, RecordType::A);
    q.rd = true;
    let m = query_udp(unbound.addr(), &q.to_message(rand_id()));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{m:?}\nunbound stderr:\n{}", unbound.stderr());
    let chain: Vec<(String, String, String)> = answers_of(&m).into_iter().map(|(o, _, t, d)| (o, t, d)).collect();
    assert_eq!(
        chain,
        [
            ("www.eu.gslb.example.com.".to_string(), "A".to_string(), "192.0.2.80".to_string()),
            ("www.gslb.example.com.".to_string(), "CNAME".to_string(), "www.eu.gslb.example.com.".to_string()),
        ],
        "through Unbound: {m:?}\nunbound stderr:\n{}",
        unbound.stderr()
    );
    for (owner, ttl, _, _) in answers_of(&m) {
        let max = if owner == WWW { 30 } else { 300 };
        assert!((1..=max).contains(&ttl), "{owner} TTL {ttl}");
    }
    println!("through Unbound: {chain:?}");

    // 3. The region's DNS fails: the probe of its glue address (tcp 53) fails after fall 2 ×
    //    200 ms, and gslbd answers the failover region's address instead of the hand-off.
    region.take();
    let start = Instant::now();
    loop {
        let g = ask(gslbd.addr(), WWW, RecordType::A);
        if g.answer == ["www.gslb.example.com. 30 IN A 192.0.2.1"] {
            assert!(g.authority.is_empty() && g.additional.is_empty(), "no referral with a plain answer:\n{g}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "the eu region's DNS is down for {:?} and gslbd still answers:\n{g}\ngslbd stderr:\n{}",
            start.elapsed(),
            gslbd.stderr()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    println!("region DNS down: failover after {:?}", start.elapsed());
    region = Some(knot_at(region_dns, "eu.gslb.example.com.", EU_ZONE));
    let start = Instant::now();
    while ask(gslbd.addr(), WWW, RecordType::A).answer != ["www.gslb.example.com. 30 IN CNAME www.eu.gslb.example.com."]
    {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "the eu region's DNS is back but gslbd does not hand off to it"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    println!("region DNS back: hand-off again after {:?}", start.elapsed());
    drop(region);
}
