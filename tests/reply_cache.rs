//! The UDP workers' reply cache (`dns::udp::cache`), seen from a client: a query asked again
//! gets the very octets its first answer had, with its own ID; a reload is seen by the next
//! query; pooled answers are still decided per query. (`knot_diff` asks every UDP query twice
//! and compares both answers with Knot's.)
mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use support::live::wait_reloads;
use support::{GslbdServer, exchange_udp};

const CONFIG: &str = "[server]\nlisten = [\"127.0.0.1:0\"]\nudp_workers = 1\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n\
                      [[zone]]\norigin = \"c.test.\"\nfile = \"c.zone\"\npools = \"c.pools.toml\"\n";

fn zone(serial: u32, www: &str) -> String {
    format!(
        "$ORIGIN c.test.\n$TTL 300\n@ IN SOA ns hostmaster {serial} 7200 900 1209600 300\n@ NS ns\n\
         ns A 192.0.2.53\nwww A {www}\nalias CNAME www\nmail MX 10 www\nchild NS ns.child\nns.child A 192.0.2.54\n"
    )
}

const POOLS: &str = "[names]\nlb = \"web\"\n\n[pool.web]\nttl = 30\nmember_policy = \"weighted\"\nmax_answers = 1\n\n\
                     [pool.web.region.eu]\nmembers = [{ address = \"198.51.100.1\" }, { address = \"198.51.100.2\" }]\n";

/// EDNS: the payload size and the DO bit.
type Edns = Option<(u16, bool)>;

/// A query with `id` for `name` (as written, letter case kept) and `qtype`; EDNS with
/// `payload` and the DO bit when `edns` is given.
fn query(id: u16, name: &str, qtype: u16, edns: Edns) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    if let Some((payload, dnssec_ok)) = edns {
        q.extend_from_slice(&[0, 0, 41]);
        q.extend_from_slice(&payload.to_be_bytes());
        q.extend_from_slice(&[0, 0, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
    }
    q
}

/// The A records' addresses in a reply (answer section; names compressed or not).
fn addresses(reply: &[u8]) -> Vec<String> {
    let msg = hickory_proto::op::Message::from_vec(reply).expect("a DNS message");
    msg.answers.iter().map(|r| r.data.to_string()).collect()
}

#[test]
fn a_query_asked_again_gets_the_same_octets_with_its_own_id() {
    let srv = GslbdServer::start(CONFIG, &[("c.zone", &zone(1, "192.0.2.1")), ("c.pools.toml", POOLS)]);
    let asks: Vec<(&str, u16, Edns)> = vec![
        ("www.c.test.", 1, None),
        ("www.c.test.", 1, Some((1232, false))),
        ("www.c.test.", 1, Some((512, true))),
        ("WwW.C.TeSt.", 1, Some((1232, false))),
        ("www.c.test.", 28, Some((1232, false))),    // NODATA
        ("nope.c.test.", 1, Some((1232, false))),    // NXDOMAIN
        ("alias.c.test.", 1, Some((4096, false))),   // CNAME followed in the zone
        ("mail.c.test.", 15, None),                  // MX with its additional A
        ("x.child.c.test.", 1, Some((1232, false))), // referral with glue
        ("c.test.", 6, None),
        ("example.org.", 1, None), // REFUSED
    ];
    for (i, (name, qtype, edns)) in asks.into_iter().enumerate() {
        let first = exchange_udp(srv.addr(), &query(0x100 + i as u16, name, qtype, edns));
        for round in 1..4u16 {
            let id = 0x100 * (round + 1) + i as u16;
            let again = exchange_udp(srv.addr(), &query(id, name, qtype, edns));
            assert_eq!(again[..2], id.to_be_bytes(), "{name} {qtype}: the reply carries the query's ID");
            assert_eq!(again[2..], first[2..], "{name} {qtype} {edns:?}, asked {round} more times");
        }
    }
}

#[test]
fn a_reload_is_seen_by_the_next_query() {
    let srv = GslbdServer::start(CONFIG, &[("c.zone", &zone(1, "192.0.2.1")), ("c.pools.toml", POOLS)]);
    let ask = |addr: SocketAddr| addresses(&exchange_udp(addr, &query(support::rand_id(), "www.c.test.", 1, None)));
    for _ in 0..3 {
        assert_eq!(ask(srv.addr()), ["192.0.2.1"]);
    }
    std::fs::write(srv.dir().join("c.zone"), zone(2, "192.0.2.2")).unwrap();
    srv.sighup();
    wait_reloads(srv.admin(), (1, 0), "the reload of the changed zone");
    assert_eq!(ask(srv.addr()), ["192.0.2.2"], "the first query after the reload");
}

#[test]
fn pooled_answers_are_still_picked_for_each_query() {
    let srv = GslbdServer::start(CONFIG, &[("c.zone", &zone(1, "192.0.2.1")), ("c.pools.toml", POOLS)]);
    let mut seen = BTreeSet::new();
    for i in 0..64u16 {
        seen.extend(addresses(&exchange_udp(srv.addr(), &query(i, "lb.c.test.", 1, Some((1232, false))))));
    }
    assert_eq!(seen, BTreeSet::from(["198.51.100.1".to_string(), "198.51.100.2".to_string()]), "both members");
}
