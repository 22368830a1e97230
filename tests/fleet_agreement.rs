//! Three gslbd nodes that agree through a real etcd (issue 17, must-show 1 and 2). Each node
//! probes from its own loopback address (127.0.0.11, .12, .13); the health endpoint fails for
//! the addresses the test names, so one node's path to a target can break while the others'
//! does not.
//!
//! - `www` is decided by quorum: when the target fails only for node 1, all three nodes keep it
//!   up and answer 1,000 client subnets identically; when it fails for nodes 1 and 2, all three
//!   take it out within interval × fall + 1 s, again identically.
//! - `loc` is the contrast, `decide = "local"` (each node on its own, as before the fleet): the
//!   same one-node failure makes node 1 answer differently from nodes 2 and 3.
//! - A node killed with SIGKILL: its votes leave etcd within the lease time (etcdctl is the
//!   oracle), and the other two keep deciding by quorum over the live voters.
// Black-box timing of real processes: wall-clock time is what is measured here.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use support::fleet::*;

const INTERVAL_MS: u64 = 200;
const FALL: u64 = 2;
const RISE: u64 = 2;
const LEASE_TTL_S: u64 = 2;

fn pools(q_port: u16, l_port: u16) -> String {
    let probe = |name: &str, port: u16, extra: &str| {
        format!(
            "[probe.{name}]\nkind = \"http\"\nport = {port}\ninterval_ms = {INTERVAL_MS}\ntimeout_ms = 150\n\
             rise = {RISE}\nfall = {FALL}\n{extra}\n"
        )
    };
    let pool = |name: &str, probed: &str| {
        format!(
            "[pool.{name}]\nmember_policy = \"sticky\"\nmax_answers = 1\n[pool.{name}.region.all]\n\
             members = [ {{ address = \"{probed}\", probe = \"{name}\" }}, {{ address = \"192.0.2.2\" }}, {{ address = \"192.0.2.3\" }} ]\n"
        )
    };
    format!(
        "[names]\nwww = \"q\"\nloc = \"l\"\n\n{}{}{}{}",
        probe("q", q_port, ""),
        probe("l", l_port, "decide = \"local\""),
        pool("q", "127.0.0.1"),
        pool("l", "127.0.0.2"),
    )
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

fn voters(n: &Node, target: &str, probe: &str) -> usize {
    n.decision(target, probe)["votes"].as_array().map_or(0, Vec::len)
}

/// How many subnets two answer lists differ on.
fn differ(a: &[Option<IpAddr>], b: &[Option<IpAddr>]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

#[test]
fn three_nodes_agree_by_quorum_diverge_with_local_and_outlive_a_dead_node() {
    if skip_without_etcd("fleet agreement") {
        return;
    }
    let etcd = Etcd::start(1);
    let (q, l) = (FailServer::start("127.0.0.1"), FailServer::start("127.0.0.2"));
    let prefix = prefix("agree");
    let files = [("gslb.test.zone", zone()), ("gslb.test.pools.toml", pools(q.addr.port(), l.addr.port()))];
    let extra = "decide = \"quorum\"\nmin_voters = 2\nfallback_after_ms = 1000";
    let mut nodes: Vec<Node> = (1..=3)
        .map(|i| Node::start(&format!("node{i}"), &node_config(i, &etcd.urls(), &prefix, extra), &files))
        .collect();
    let t = wait_for("every node counts three voters", Duration::from_secs(10), || {
        nodes.iter().all(|n| voters(n, "127.0.0.1", "q") == 3 && voters(n, "127.0.0.2", "l") == 3)
    });
    println!("FIGURE fleet up: every node counts 3 voters {:.2} s after the last node started", t.as_secs_f64());
    let nets = subnets(1000, 17);
    let www = |n: &Node| answers(n.dns, "www.gslb.test.", &nets);
    let loc = |n: &Node| answers(n.dns, "loc.gslb.test.", &nets);
    let base = www(&nodes[0]);
    let probed = base.iter().filter(|a| **a == ip("127.0.0.1")).count();
    assert!((200..=470).contains(&probed), "127.0.0.1 answers about a third of the subnets, got {probed}");
    for n in &nodes[1..] {
        assert_eq!(differ(&base, &www(n)), 0, "{} answers like node1 while all is well", n.name);
    }
    let loc_base = loc(&nodes[0]);

    // 1. The targets fail for node 1's probes only.
    q.fail_for(&["127.0.0.11"]);
    l.fail_for(&["127.0.0.11"]);
    wait_for("node1 sees both targets down", Duration::from_secs(5), || {
        nodes[0].decision("127.0.0.1", "q")["local"] == "down" && nodes[0].decision("127.0.0.2", "l")["local"] == "down"
    });
    std::thread::sleep(Duration::from_millis(300));
    let d = nodes[0].decision("127.0.0.1", "q");
    assert_eq!((d["state"].as_str(), d["reason"].as_str()), (Some("up"), Some("2/3 up")), "{d}");
    // explain shows every node's vote and its age.
    let explain_path = format!("/explain?name=www.gslb.test&type=A&client={}", nets[0]);
    let (_, explain, _) = admin_call(nodes[0].admin, "GET", &explain_path, &[], None);
    for part in ["decide=quorum: 2/3 up → up", "node1 down (HTTP 503", "node2 up (HTTP 200) ", "node3 up (HTTP 200) "]
    {
        assert!(explain.contains(part), "explain lacks {part:?}: {explain}");
    }
    let mut split = Vec::new();
    for n in &nodes {
        assert_eq!(differ(&base, &www(n)), 0, "quorum: {} still answers 127.0.0.1 for its subnets", n.name);
        split.push(differ(&loc_base, &loc(n)));
    }
    println!("FIGURE decide=quorum, target failing for node1 only: 0 of 1000 subnets differ between the nodes");
    println!("FIGURE decide=local, the same failure: subnets answered differently from before: {split:?}");
    assert!(split[0] > 200, "local: node1 moved its 127.0.0.2 subnets away ({})", split[0]);
    assert_eq!((split[1], split[2]), (0, 0), "local: nodes 2 and 3 did not");

    // 2. The target fails for nodes 1 and 2: all three take it out within interval × fall + 1 s.
    let probe_net = nets[base.iter().position(|a| *a == ip("127.0.0.1")).unwrap()].clone();
    let one = [probe_net];
    q.fail_for(&["127.0.0.11", "127.0.0.12"]);
    let bound = Duration::from_millis(INTERVAL_MS * FALL + 1000);
    let took = wait_for("all three take 127.0.0.1 out", bound, || {
        nodes.iter().all(|n| answers(n.dns, "www.gslb.test.", &one)[0] != ip("127.0.0.1"))
    });
    println!(
        "FIGURE 2 of 3 nodes see it fail: all three answer without it after {:.2} s (bound {bound:?})",
        took.as_secs_f64()
    );
    let down = www(&nodes[0]);
    assert!(!down.contains(&ip("127.0.0.1")), "no subnet gets the down member");
    for n in &nodes[1..] {
        assert_eq!(differ(&down, &www(n)), 0, "{} answers like node1 with the member down", n.name);
    }
    assert_eq!(nodes[2].decision("127.0.0.1", "q")["local"], "up", "node3's own probe still succeeds");
    assert_eq!(nodes[2].decision("127.0.0.1", "q")["state"], "down", "but the quorum decides");

    // 3. Node 3 dies: its votes leave etcd within the lease time.
    let votes_of =
        |node: &str| etcd.keys(&format!("{prefix}/votes/")).into_iter().filter(|k| k.ends_with(node)).count();
    assert_eq!(votes_of("/node3"), 2, "node3 votes on both keys");
    nodes[2].kill();
    let killed = Instant::now();
    let gone = wait_for("node3's votes expire", Duration::from_secs(LEASE_TTL_S + 2), || votes_of("/node3") == 0);
    println!("FIGURE node3 killed: its votes gone from etcd after {:.2} s (lease {LEASE_TTL_S} s)", gone.as_secs_f64());
    wait_for("nodes 1 and 2 count two voters", Duration::from_secs(2), || {
        nodes[..2].iter().all(|n| voters(n, "127.0.0.1", "q") == 2)
    });
    assert!(killed.elapsed() >= Duration::from_millis(500), "votes do not vanish before the lease runs out");
    let d = nodes[0].decision("127.0.0.1", "q");
    assert_eq!((d["state"].as_str(), d["reason"].as_str()), (Some("down"), Some("0/2 up")), "{d}");
    // The two live voters see it come back: quorum of the live voters brings it back on both.
    q.fail_for(&[]);
    let bound = Duration::from_millis(INTERVAL_MS * RISE + 1000);
    let back = wait_for("nodes 1 and 2 take 127.0.0.1 back", bound, || {
        nodes[..2].iter().all(|n| answers(n.dns, "www.gslb.test.", &one)[0] == ip("127.0.0.1"))
    });
    println!("FIGURE 2 live voters see it recover: back on both after {:.2} s", back.as_secs_f64());
    assert_eq!(differ(&www(&nodes[0]), &www(&nodes[1])), 0);
    assert_eq!(differ(&www(&nodes[0]), &base), 0, "the same answers as at the start");
    let metrics = nodes[0].metrics();
    assert!(metrics.contains("gslbd_fleet_voters{target=\"127.0.0.1\",probe=\"q\"} 2"), "{metrics}");
    assert!(metrics.contains("gslbd_fleet_fallback{target=\"127.0.0.1\",probe=\"q\"} 0"), "{metrics}");
}
