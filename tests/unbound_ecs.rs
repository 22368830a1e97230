//! End to end through a real resolver: Unbound (subnetcache module) stubs gslb.example.com. to
//! the shipped setup and passes the client's subnet on as ECS (RFC 7871).
//!
//! ```text
//! test / dig ──RD, ECS 81.2.69.0/24──► Unbound 127.0.0.1:UPORT ──ECS 81.2.69.0/24──► gslbd
//!            ◄── eu-west, scope /14 ──        (subnet cache)  ◄── eu-west, /14 ─────┘
//! ```
//!
//! Unbound's queries come from 127.0.0.1, which the GeoIP database cannot place: without the
//! ECS option gslbd answers us-east (checked here, straight to gslbd). So a eu-west or
//! ap-southeast answer through Unbound proves that the subnet reached gslbd and was used.
//! Each query uses a different subnet, outside the scopes already cached, so Unbound's subnet
//! cache cannot answer for gslbd.
//!
//! Needs `unbound` (Debian `unbound`); without it each test prints a SKIP line and passes.
mod support;

use std::net::SocketAddr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use support::{Daemon, GslbdServer, Unbound, answers_of, dig, dig_path, ecs_of, ecs_query, query_udp};

const WWW: &str = "www.gslb.example.com.";

fn sorted(a: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// gslbd (default setup) and an Unbound in front of it, or `None` (SKIP printed).
fn pair() -> Option<(GslbdServer, Daemon)> {
    // Check for Unbound before starting gslbd, so the SKIP costs nothing.
    support::unbound_path().or_else(|| {
        eprintln!("SKIP: unbound not installed (apt-get install unbound)");
        None
    })?;
    let g = GslbdServer::start_default();
    let u = Unbound::start_stub_with_ecs("gslb.example.com.", g.addr())?;
    Some((g, u))
}

/// A recursive query (RD set) through the resolver.
fn resolve(addr: SocketAddr, qtype: RecordType, ecs: Option<&str>) -> Message {
    let mut q = ecs_query(WWW, qtype, ecs);
    q.metadata.recursion_desired = true;
    query_udp(addr, &q)
}

/// The address set of a resolver's answer; every record is `WWW`/`qtype`, with a TTL that
/// counted down from gslbd's 30 at most.
fn addresses(m: &Message, qtype: RecordType) -> Vec<String> {
    assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{m:?}");
    // answers_of sorts by (owner, TTL, type, RDATA): sort again by RDATA alone.
    let mut v: Vec<String> = answers_of(m)
        .into_iter()
        .map(|(owner, ttl, ty, data)| {
            assert_eq!((owner.as_str(), ty), (WWW, qtype.to_string()), "{m:?}");
            assert!((1..=30).contains(&ttl), "TTL {ttl}: {m:?}");
            data
        })
        .collect();
    v.sort();
    v
}

#[test]
fn unbound_passes_the_client_subnet_on_and_gslbd_steers_by_it() {
    let Some((g, u)) = pair() else { return };
    // Baseline: 127.0.0.1 alone (Unbound's source address) is steered to us-east.
    let direct = query_udp(g.addr(), &ecs_query(WWW, RecordType::A, None));
    assert_eq!(
        answers_of(&direct).into_iter().map(|r| r.3).collect::<Vec<_>>(),
        sorted(&["192.0.2.1", "192.0.2.2"]),
        "without ECS gslbd must answer us-east to 127.0.0.1"
    );

    // (subnet, qtype, region's set, scope gslbd gives it)
    let cases: [(&str, RecordType, [&str; 2], u8); 3] = [
        ("81.2.69.0/24", RecordType::A, ["198.51.100.1", "198.51.100.2"], 14), // GB → eu-west
        ("1.0.16.0/24", RecordType::A, ["203.0.113.1", "203.0.113.2"], 15),    // JP → ap-southeast
        ("203.2.218.0/24", RecordType::AAAA, ["2001:db8:3::1", "2001:db8:3::2"], 21), // AU → ap-southeast
    ];
    for (subnet, qtype, want, scope) in cases {
        let m = resolve(u.addr(), qtype, Some(subnet));
        assert_eq!(
            addresses(&m, qtype),
            sorted(&want),
            "{subnet} {qtype} through Unbound\nunbound stderr:\n{}\ngslbd stderr:\n{}",
            u.stderr(),
            g.stderr()
        );
        // Unbound hands the client gslbd's scope back.
        let addr = subnet.split('/').next().unwrap();
        assert_eq!(ecs_of(&m), vec![format!("{addr}/24/{scope}")], "{subnet} {qtype}");
        println!("{subnet} {qtype} via Unbound: scope /{scope}");
    }

    // A second client in the GB /14 that gslbd scoped: Unbound may answer it from its subnet
    // cache; either way it is eu-west.
    let m = resolve(u.addr(), RecordType::A, Some("81.2.70.0/24"));
    assert_eq!(addresses(&m, RecordType::A), sorted(&["198.51.100.1", "198.51.100.2"]));
}

#[test]
fn dig_through_unbound_gets_the_region_of_its_subnet() {
    let Some(dig_bin) = dig_path() else {
        eprintln!("SKIP: dig not installed (apt-get install bind9-dnsutils)");
        return;
    };
    let Some((g, u)) = pair() else { return };
    for (subnet, want, scope) in [
        ("81.2.69.0/24", ["198.51.100.1", "198.51.100.2"], 14),
        ("1.0.16.0/24", ["203.0.113.1", "203.0.113.2"], 15),
        ("18.0.0.0/24", ["192.0.2.1", "192.0.2.2"], 11),
    ] {
        let r = dig(&dig_bin, u.addr(), &[WWW, "A", &format!("+subnet={subnet}")]);
        assert_eq!(r.status, "NOERROR", "{}", r.text);
        assert_eq!(
            r.rdata("A"),
            sorted(&want),
            "{subnet}:\n{}\nunbound stderr:\n{}\ngslbd stderr:\n{}",
            r.text,
            u.stderr(),
            g.stderr()
        );
        assert!(r.answers.iter().all(|a| a.owner == WWW && (1..=30).contains(&a.ttl)), "{}", r.text);
        assert_eq!(r.client_subnet.as_deref(), Some(format!("{subnet}/{scope}").as_str()), "{}", r.text);
    }
}
