//! The `delegate` hand-off over real UDP: a pooled name whose region delegates answers with
//! the CNAME (AA set, as for any in-zone CNAME) plus the referral for the target's zone cut
//! (authority: the cut's NS; additional: the glue), like Knot and RFC 1034 §4.3.2. The
//! region's probe runs against the glue address: when the region's name server stops
//! accepting, the pool fails over to the next region.
// Black-box timing of a real server and real peers: wall-clock time is what is measured here,
// so the clippy.toml rule (tokio's pausable clock inside the server) does not apply.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use hickory_proto::serialize::binary::BinEncodable;
use support::*;

fn zone() -> &'static str {
    "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n\
     eu 3600 NS ns1.eu\nns1.eu 3600 A 127.0.0.1\n"
}

fn ask(dns: SocketAddr) -> Normal {
    let q: Message = QuerySpec::new("www.d.test.", RecordType::A).to_message(rand_id());
    normalise(&exchange_udp(dns, &q.to_bytes().expect("encode")))
}

#[test]
fn delegate_answers_cname_plus_referral_and_follows_the_glue_probe() {
    let ns = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = ns.local_addr().unwrap().port();
    let config = "[server]\nlisten = [\"127.0.0.1:0\"]\nhealth_startup_wait_ms = 3000\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[[zone]]\norigin = \"d.test.\"\nfile = \"d.test.zone\"\npools = \"d.test.pools.toml\"\n";
    let pool_text = delegated_failover(port, 1, "127.0.1.2");
    let srv = GslbdServer::start(config, &[("d.test.zone", zone()), ("d.test.pools.toml", &pool_text)]);
    let r = ask(srv.addr());
    assert_eq!(r.rcode_name(), "NOERROR");
    assert!(r.has_flag("aa"), "the CNAME is authoritative: {r:?}");
    assert_eq!(r.answer, vec!["www.d.test. 30 IN CNAME www.eu.d.test."]);
    assert_eq!(r.authority, vec!["eu.d.test. 3600 IN NS ns1.eu.d.test."]);
    assert_eq!(r.additional, vec!["ns1.eu.d.test. 3600 IN A 127.0.0.1"]);

    let (code, status) = http(srv.admin(), "GET", "/status", None);
    assert_eq!(code, 200);
    assert!(status.contains("\"member\":\"127.0.0.1\""), "the glue address is a health-checked member: {status}");

    // The region's name server stops accepting: the glue probe fails and us takes over.
    drop(ns);
    let start = Instant::now();
    loop {
        let r = ask(srv.addr());
        if r.answer == vec!["www.d.test. 30 IN A 127.0.1.2"] {
            assert!(r.authority.is_empty() && r.additional.is_empty(), "{r:?}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(3), "still {r:?}");
        std::thread::sleep(Duration::from_millis(25));
    }
    let (_, explain) = http(srv.admin(), "GET", "/explain?name=www.d.test.&type=A&client=192.0.2.0/24", None);
    assert!(explain.contains("delegated at eu.d.test."), "{explain}");
    assert!(explain.contains("glue 127.0.0.1 (down)"), "{explain}");
}
