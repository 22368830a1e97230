//! End to end: the shipped setup (`gslbd.toml`, `zones/`, `geoip/default-country.mmdb`) served
//! by a real `gslbd serve`, steering real networks by their ECS subnet over UDP.
//!
//! ```text
//! test ──UDP, ECS 81.2.69.0/24──► gslbd (start_default, 127.0.0.1:PORT)
//!                                   └► GeoDb(default-country.mmdb): GB, 81.2.64.0/18
//!                                   └► steer: nearest region of pool web = eu-west
//!      ◄── A {198.51.100.1, 198.51.100.2} TTL 30, ECS 81.2.69.0/24/14 ──┘
//! ```
//!
//! The scopes are the country networks of the committed database (geoip/README.md lists
//! them): GB 81.2.64.0/18, JP 1.0.16.0/20, AU 203.2.216.0/21, US 18.0.0.0/11, each under the
//! /24 the client sent. The `dig` tests ask the same questions with BIND's dig and read its
//! text output, so the wire format is checked by an independent parser too.
mod support;

use std::net::SocketAddr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use support::{GslbdServer, answers_of, dig, dig_path, ecs_of, ecs_query, query_udp};

const WWW: &str = "www.gslb.example.com.";
const API: &str = "api.gslb.example.com.";

const US_EAST_A: [&str; 2] = ["192.0.2.1", "192.0.2.2"];
const EU_WEST_A: [&str; 2] = ["198.51.100.1", "198.51.100.2"];
const EU_WEST_AAAA: [&str; 2] = ["2001:db8:2::1", "2001:db8:2::2"];
const AP_SOUTHEAST_A: [&str; 2] = ["203.0.113.1", "203.0.113.2"];

/// Client subnet → (region's A set, ECS scope): the scope is the prefix of the database
/// network that holds the subnet (capped at the /24 source).
const STEERED: [(&str, [&str; 2], u8); 4] = [
    // The scope is the block of the database whose networks all get the same answer (issue 20).
    ("81.2.69.0/24", EU_WEST_A, 14), // GB, 81.2.64.0/18 in 81.0.0.0/14 (ES, FR, RU, DE, AT: eu-west)
    ("1.0.16.0/24", AP_SOUTHEAST_A, 15), // JP, 1.0.16.0/20 in 1.0.0.0/15
    ("203.2.218.0/24", AP_SOUTHEAST_A, 21), // AU, 203.2.216.0/21
    ("18.0.0.0/24", US_EAST_A, 11),  // US, 18.0.0.0/11
];

fn server() -> GslbdServer {
    let s = GslbdServer::start_default();
    // start_default copies every path gslbd.toml names: the database must be among them, or
    // the server would run without GeoIP and answer us-east to everyone.
    let db = s.dir().join("geoip/default-country.mmdb");
    let want = std::fs::metadata(concat!(env!("CARGO_MANIFEST_DIR"), "/geoip/default-country.mmdb")).unwrap().len();
    assert_eq!(
        std::fs::metadata(&db).map(|m| m.len()).ok(),
        Some(want),
        "{} is not a copy of geoip/default-country.mmdb",
        db.display()
    );
    s
}

fn ask(addr: SocketAddr, qname: &str, qtype: RecordType, ecs: Option<&str>) -> Message {
    query_udp(addr, &ecs_query(qname, qtype, ecs))
}

/// The RDATA of the answer records (all must be of `qtype`, owned by `qname`, with `ttl`).
fn rdata(m: &Message, qname: &str, qtype: RecordType, ttl: u32) -> Vec<String> {
    assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{m:?}");
    assert!(m.metadata.authoritative, "AA: {m:?}");
    let mut v = Vec::new();
    for (owner, t, ty, data) in answers_of(m) {
        assert_eq!((owner.as_str(), t, ty.as_str()), (qname, ttl, qtype.to_string().as_str()), "{m:?}");
        v.push(data);
    }
    v
}

fn sorted(a: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn ecs_subnets_are_steered_to_their_region_with_the_database_scope() {
    let s = server();
    for (subnet, want, scope) in STEERED {
        let m = ask(s.addr(), WWW, RecordType::A, Some(subnet));
        assert_eq!(rdata(&m, WWW, RecordType::A, 30), sorted(&want), "{subnet}");
        let addr = subnet.split('/').next().unwrap();
        assert_eq!(ecs_of(&m), vec![format!("{addr}/24/{scope}")], "{subnet}: the ECS echo and scope");
        assert!(scope > 0 && scope <= 24);
        println!("{subnet}: scope /{scope}");
    }
    // AAAA for the GB client comes from the same region, with the same scope.
    let m = ask(s.addr(), WWW, RecordType::AAAA, Some("81.2.69.0/24"));
    assert_eq!(rdata(&m, WWW, RecordType::AAAA, 30), sorted(&EU_WEST_AAAA));
    assert_eq!(ecs_of(&m), vec!["81.2.69.0/24/14".to_string()]);
}

#[test]
fn ecs_source_0_gets_the_resolvers_answer_and_scope_0() {
    let s = server();
    // RFC 7871 §7.1.2: /0 says "do not use my clients' addresses": the answer is the one for
    // the resolver's own address, 127.0.0.1, which the database cannot place → default us-east.
    let m = ask(s.addr(), WWW, RecordType::A, Some("0.0.0.0/0"));
    assert_eq!(rdata(&m, WWW, RecordType::A, 30), sorted(&US_EAST_A));
    assert_eq!(ecs_of(&m), vec!["0.0.0.0/0/0".to_string()]);
}

#[test]
fn without_ecs_the_source_address_is_steered_and_no_ecs_comes_back() {
    let s = server();
    for qtype in [RecordType::A, RecordType::AAAA] {
        let m = ask(s.addr(), WWW, qtype, None);
        let want =
            if qtype == RecordType::A { sorted(&US_EAST_A) } else { sorted(&["2001:db8:1::1", "2001:db8:1::2"]) };
        assert_eq!(rdata(&m, WWW, qtype, 30), want, "127.0.0.1 has no location: default region us-east");
        assert!(m.edns.is_some(), "an EDNS query gets an OPT back");
        assert_eq!(ecs_of(&m), Vec::<String>::new(), "no ECS in the reply to a query without ECS");
    }
}

#[test]
fn negative_replies_to_ecs_queries_carry_ecs_with_scope_0() {
    let s = server();
    for (qname, qtype, rcode) in [
        ("nope.gslb.example.com.", RecordType::A, ResponseCode::NXDomain),
        ("mail.gslb.example.com.", RecordType::AAAA, ResponseCode::NoError), // static NODATA
        (WWW, RecordType::TXT, ResponseCode::NoError),                       // pooled name, other type
    ] {
        let m = ask(s.addr(), qname, qtype, Some("81.2.69.0/24"));
        assert_eq!(m.metadata.response_code, rcode, "{qname} {qtype}: {m:?}");
        assert!(m.answers.is_empty(), "{qname} {qtype}: {m:?}");
        assert_eq!(
            m.authorities.iter().map(|r| r.record_type()).collect::<Vec<_>>(),
            vec![RecordType::SOA],
            "{qname} {qtype}: the SOA for negative caching"
        );
        assert_eq!(ecs_of(&m), vec!["81.2.69.0/24/0".to_string()], "{qname} {qtype}");
    }
}

#[test]
fn api_is_failover_eu_west_first_ttl_20_scope_0() {
    let s = server();
    // Failover does not depend on where the client is: everyone gets eu-west, scope 0.
    for subnet in ["81.2.69.0/24", "1.0.16.0/24", "18.0.0.0/24"] {
        let m = ask(s.addr(), API, RecordType::A, Some(subnet));
        assert_eq!(rdata(&m, API, RecordType::A, 20), vec!["198.51.100.10".to_string()], "{subnet}");
        let addr = subnet.split('/').next().unwrap();
        assert_eq!(ecs_of(&m), vec![format!("{addr}/24/0")], "{subnet}");
        let m = ask(s.addr(), API, RecordType::AAAA, Some(subnet));
        assert_eq!(rdata(&m, API, RecordType::AAAA, 20), vec!["2001:db8:2::10".to_string()], "{subnet}");
    }
}

#[test]
fn dig_sees_the_same_steering() {
    let Some(dig_bin) = dig_path() else {
        eprintln!("SKIP: dig not installed (apt-get install bind9-dnsutils)");
        return;
    };
    let s = server();
    // GB, JP and eastern US, each with its region, TTL 30 and CLIENT-SUBNET addr/24/scope.
    for (subnet, want, scope) in [STEERED[0], STEERED[1], STEERED[3]] {
        let r = dig(&dig_bin, s.addr(), &[WWW, "A", "+norec", &format!("+subnet={subnet}")]);
        assert_eq!(r.status, "NOERROR", "{}", r.text);
        assert_eq!(r.rdata("A"), sorted(&want), "{subnet}:\n{}", r.text);
        assert_eq!(r.answers.len(), 2, "{}", r.text);
        assert!(r.answers.iter().all(|a| a.ttl == 30 && a.owner == WWW), "{}", r.text);
        assert_eq!(r.client_subnet.as_deref(), Some(format!("{subnet}/{scope}").as_str()), "{}", r.text);
    }
    // AAAA for GB, api's failover answer, and an NXDOMAIN, through dig too.
    let r = dig(&dig_bin, s.addr(), &[WWW, "AAAA", "+norec", "+subnet=81.2.69.0/24"]);
    assert_eq!(r.rdata("AAAA"), sorted(&EU_WEST_AAAA), "{}", r.text);
    assert_eq!(r.client_subnet.as_deref(), Some("81.2.69.0/24/14"), "{}", r.text);
    let r = dig(&dig_bin, s.addr(), &[API, "A", "+norec", "+subnet=1.0.16.0/24"]);
    assert_eq!(r.rdata("A"), vec!["198.51.100.10".to_string()], "{}", r.text);
    assert!(r.answers.iter().all(|a| a.ttl == 20), "{}", r.text);
    assert_eq!(r.client_subnet.as_deref(), Some("1.0.16.0/24/0"), "{}", r.text);
    let r = dig(&dig_bin, s.addr(), &["nope.gslb.example.com.", "A", "+norec", "+subnet=81.2.69.0/24"]);
    assert_eq!(r.status, "NXDOMAIN", "{}", r.text);
    assert_eq!(r.client_subnet.as_deref(), Some("81.2.69.0/24/0"), "{}", r.text);
}
