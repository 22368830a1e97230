//! The runtime write API (issue 17, must-show 3): member weights, members and region weights
//! changed through `/changes` on any node, checked by the config compiler exactly as the same
//! edit in the pool file (422 naming the field), guarded by `If-Match` (412 when stale), with
//! who, when and why kept and audited.
//!
//! - In a fleet: a weight posted to node 1 is answered by nodes 2 and 3 within 1 s, with shares
//!   over 2,000 client subnets inside the binomial bound, and it survives a restart of all three.
//! - On a single node (no `[cluster]`): the same API persists to the state file.
// Black-box timing of real processes: wall-clock time is what is measured here.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use support::fleet::*;

const SUBNETS: usize = 2000;
const WEIGHT_PATH: &str = "/changes/gslb.test./web/eu/members/192.0.2.2/weight";

fn pools() -> String {
    "[names]\nwww = \"web\"\n\n[pool.web]\nmember_policy = \"sticky\"\nmax_answers = 1\n\n\
     [pool.web.region.eu]\nmembers = [ { address = \"192.0.2.1\" }, { address = \"192.0.2.2\" } ]\n"
        .into()
}

fn files() -> [(&'static str, String); 2] {
    [("gslb.test.zone", zone()), ("gslb.test.pools.toml", pools())]
}

/// Asserts that `addr` answers a share `p` of the subnets within 5 standard deviations of the
/// binomial distribution; returns the count.
fn assert_share(answers: &[Option<IpAddr>], addr: &str, p: f64, what: &str) -> usize {
    let n = answers.len() as f64;
    let count = answers.iter().filter(|a| **a == Some(addr.parse().unwrap())).count();
    let sd = (n * p * (1.0 - p)).sqrt();
    let dev = (count as f64 - n * p).abs();
    println!(
        "FIGURE {what}: {addr} answered {count} of {n} subnets (expected {:.0} ± {:.0}, 5σ bound)",
        n * p,
        5.0 * sd
    );
    assert!(dev <= 5.0 * sd, "{what}: {addr} got {count} of {n}, expected {} ± {}", n * p, 5.0 * sd);
    count
}

fn put_weight(node: &Node, weight: &str, if_match: Option<&str>) -> (u16, String, Vec<(String, String)>) {
    let body = format!("{{\"value\": {weight}, \"who\": \"alice\", \"why\": \"canary for ticket 42\"}}");
    let headers: Vec<(&str, &str)> = if_match.map(|m| vec![("If-Match", m)]).unwrap_or_default();
    admin_call(node.admin, "PUT", WEIGHT_PATH, &headers, Some(&body))
}

/// The checks both modes share: 422 naming the field with the compiler's message and the pool
/// file's line, and a region weight that has no effect under the pool's policy refused as in a file.
fn invalid_changes_are_refused_like_a_file(node: &Node) {
    let (code, body, _) = put_weight(node, "0", None);
    assert_eq!(code, 422, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["field"], "weight", "{v}");
    let e = &v["errors"][0];
    assert!(e["message"].as_str().unwrap().contains("weight must be 1..=1000000, got 0"), "{v}");
    assert!(e["file"].as_str().unwrap().ends_with("gslb.test.pools.toml") && e["line"] == 9, "{v}");
    let (code, body, _) =
        admin_call(node.admin, "PUT", "/changes/gslb.test./web/eu/weight", &[], Some("{\"value\": 2}"));
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("region weight has no effect with region_policy nearest"), "{body}");
    let (code, body, _) = put_weight(node, "\"heavy\"", None);
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("\"field\":\"value\""), "{body}");
    let (code, body, _) =
        admin_call(node.admin, "PUT", "/changes/gslb.test./web/eu/members/192.0.2.1", &[], Some("{\"value\": {}}"));
    assert_eq!(code, 422, "adding a member the file has is a duplicate: {body}");
    assert!(body.contains("listed twice"), "{body}");
}

#[test]
fn a_weight_set_on_one_node_reaches_the_fleet_and_survives_a_restart() {
    if skip_without_etcd("fleet runtime changes") {
        return;
    }
    let etcd = Etcd::start(1);
    let prefix = prefix("changes");
    let mut nodes: Vec<Node> = (1..=3)
        .map(|i| Node::start(&format!("node{i}"), &node_config(i, &etcd.urls(), &prefix, ""), &files()))
        .collect();
    let nets = subnets(SUBNETS, 5);
    let before = answers(nodes[1].dns, "www.gslb.test.", &nets);
    assert_share(&before, "192.0.2.2", 0.5, "weights 1:1");

    // Set on node 1; nodes 2 and 3 follow.
    let gens: Vec<u64> = nodes.iter().map(|n| n.status()["version"]["generation"].as_u64().unwrap()).collect();
    let (code, body, headers) = put_weight(&nodes[0], "3", Some("0"));
    let written = Instant::now();
    assert_eq!(code, 200, "{body}");
    let rev = etag(&headers);
    assert!(rev > 0, "{headers:?}");
    let applied = wait_for("nodes 2 and 3 apply the weight", Duration::from_secs(1), || {
        nodes[1..].iter().zip(&gens[1..]).all(|(n, g)| n.status()["version"]["generation"].as_u64().unwrap() > *g)
    });
    println!(
        "FIGURE weight set on node1: applied on nodes 2 and 3 {:.3} s after node1 answered",
        applied.as_secs_f64()
    );
    assert!(written.elapsed() < Duration::from_secs(1) + applied);
    // Node 1 applies its own change from the same watch: compare answers once it has too.
    wait_for("node 1 applies the weight", Duration::from_secs(1), || {
        nodes[0].status()["version"]["generation"].as_u64().unwrap() > gens[0]
    });
    let after: Vec<Vec<Option<IpAddr>>> = nodes.iter().map(|n| answers(n.dns, "www.gslb.test.", &nets)).collect();
    assert_share(&after[1], "192.0.2.2", 0.75, "node2 after weights 1:3");
    assert_share(&after[2], "192.0.2.2", 0.75, "node3 after weights 1:3");
    assert_eq!(after[0], after[1], "node1 and node2 answer every subnet alike");
    assert_eq!(after[1], after[2], "node2 and node3 answer every subnet alike");
    // Who, when, why, on every node; etcdctl sees the record.
    let (code, body, h) = admin_call(nodes[2].admin, "GET", WEIGHT_PATH, &[], None);
    assert_eq!((code, etag(&h)), (200, rev), "{body}");
    let c: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (c["change"]["who"].as_str(), c["change"]["why"].as_str()),
        (Some("alice"), Some("canary for ticket 42"))
    );
    assert_eq!(c["change"]["node"], "node1");
    assert!(etcd.ctl(&["get", "--prefix", &format!("{prefix}/changes/")]).contains("canary for ticket 42"));
    let audit = nodes[2].status()["changes"]["audit"].clone();
    assert!(audit.as_array().unwrap().iter().any(|a| a["who"] == "alice" && a["new"] == 3), "{audit}");

    // If-Match: a stale revision gets 412 with the current one; the current revision works.
    let (code, body, h) = put_weight(&nodes[1], "5", Some("\"0\""));
    assert_eq!((code, etag(&h)), (412, rev), "{body}");
    let (code, body, _) = put_weight(&nodes[2], "5", Some(&format!("\"{}\"", rev - 1)));
    assert_eq!(code, 412, "{body}");
    invalid_changes_are_refused_like_a_file(&nodes[2]);

    // The drain call of the admin API goes through etcd too.
    let (code, body) = support::http(nodes[1].admin, "POST", "/members/gslb.test./web/eu/192.0.2.1/drain", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    wait_for("node3 drains 192.0.2.1", Duration::from_secs(1), || {
        nodes[2].status()["overrides"].as_array().is_some_and(|o| o.len() == 1)
    });
    let (code, body) =
        support::http(nodes[2].admin, "POST", "/members/gslb.test./web/eu/192.0.2.1/undrain", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    wait_for("node1 undrains 192.0.2.1", Duration::from_secs(1), || {
        nodes[0].status()["overrides"].as_array().is_some_and(|o| o.is_empty())
    });

    // A restart of all three nodes keeps the change.
    for n in &mut nodes {
        n.restart();
    }
    for n in &nodes {
        let again = answers(n.dns, "www.gslb.test.", &nets);
        assert_eq!(again, after[0], "{} after the restart", n.name);
    }
    let (code, _, h) = admin_call(nodes[1].admin, "GET", WEIGHT_PATH, &[], None);
    assert_eq!((code, etag(&h)), (200, rev));
    // Cleared on node 3 with If-Match: back to what the file says, everywhere.
    let (code, body, _) = admin_call(nodes[2].admin, "DELETE", WEIGHT_PATH, &[("If-Match", &rev.to_string())], None);
    assert_eq!(code, 200, "{body}");
    wait_for("node1 is back to 1:1", Duration::from_secs(2), || {
        answers(nodes[0].dns, "www.gslb.test.", &nets) == before
    });
}

#[test]
fn a_single_node_keeps_runtime_changes_in_its_state_file() {
    let config = "[server]\nlisten = [\"127.0.0.1:0\"]\nudp_workers = 1\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\
                  token_file = \"admin.token\"\n\n[[zone]]\norigin = \"gslb.test.\"\nfile = \"gslb.test.zone\"\n\
                  pools = \"gslb.test.pools.toml\"\n";
    let mut node = Node::start("single", config, &files());
    let nets = subnets(SUBNETS, 9);
    let (code, body, h) = put_weight(&node, "3", Some("\"0\""));
    assert_eq!(code, 200, "{body}");
    let rev = etag(&h);
    let after = answers(node.dns, "www.gslb.test.", &nets);
    assert_share(&after, "192.0.2.2", 0.75, "single node after weights 1:3");
    let (code, body, _) = put_weight(&node, "4", Some("\"0\""));
    assert_eq!(code, 412, "If-None-Match semantics of revision 0: {body}");
    invalid_changes_are_refused_like_a_file(&node);
    // A member added and one removed, then a restart: all kept.
    let (code, body, _) = admin_call(
        node.admin,
        "PUT",
        "/changes/gslb.test./web/eu/members/192.0.2.9",
        &[("If-None-Match", "*")],
        Some("{\"value\": {\"weight\": 2}, \"why\": \"new host\"}"),
    );
    assert_eq!(code, 200, "{body}");
    let (code, body, _) = admin_call(
        node.admin,
        "PUT",
        "/changes/gslb.test./web/eu/members/192.0.2.1",
        &[],
        Some("{\"value\": \"removed\"}"),
    );
    assert_eq!(code, 200, "{body}");
    let state = std::fs::read_to_string(node.dir.path().join("gslbd.state")).unwrap();
    assert!(state.contains("new host") && state.contains("\"removed\""), "{state}");
    node.restart();
    let now = answers(node.dns, "www.gslb.test.", &nets);
    assert!(!now.contains(&Some("192.0.2.1".parse().unwrap())), "removed member stays removed");
    assert_share(&now, "192.0.2.9", 0.4, "after a restart: 192.0.2.2 weight 3, 192.0.2.9 weight 2");
    let (code, _, h) = admin_call(node.admin, "GET", WEIGHT_PATH, &[], None);
    assert_eq!((code, etag(&h)), (200, rev));
    let audit = std::fs::read_to_string(node.dir.path().join("gslbd.audit")).unwrap();
    assert_eq!(audit.lines().count(), 3, "one audit line per change: {audit}");
    assert!(audit.contains("\"who\":\"alice\""), "{audit}");
}
