//! etcd failures under query load (issue 17, must-show 4).
//!
//! - etcd stopped for 10 s while three nodes answer a steady stream of queries: no query is
//!   lost, every node says it decides alone (`/status`, `/metrics`, the log), and when etcd is
//!   back every node resyncs (votes of all three again, lease renewed).
//! - A 3-member etcd cluster loses its leader: nothing visible changes (no fallback, no lost
//!   query, the same answers), and a runtime change made meanwhile reaches every node.
// Black-box timing of real processes: wall-clock time is what is measured here.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use support::fleet::*;
use support::{ecs_query, udp_raw_timeout};

fn pools(port: u16) -> String {
    format!(
        "[names]\nwww = \"web\"\n\n[probe.h]\nkind = \"http\"\nport = {port}\ninterval_ms = 200\ntimeout_ms = 150\n\
         rise = 2\nfall = 2\n\n[pool.web]\nmember_policy = \"sticky\"\nmax_answers = 1\n\n[pool.web.region.eu]\n\
         members = [ {{ address = \"127.0.0.1\", probe = \"h\" }}, {{ address = \"192.0.2.2\" }}, {{ address = \"192.0.2.3\" }} ]\n"
    )
}

/// A bounded query stream to one node: one query every 5 ms from a rotating set of client
/// subnets, each waiting up to 2 s for its answer, until stopped (or 60 s at most).
struct Load {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<(u64, u64)>>,
}

impl Load {
    fn start(dns: SocketAddr) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let nets = subnets(200, 3);
        let thread = std::thread::spawn(move || {
            let (mut sent, mut lost) = (0u64, 0u64);
            let end = Instant::now() + Duration::from_secs(60);
            while !flag.load(Ordering::Relaxed) && Instant::now() < end {
                let q = ecs_query("www.gslb.test.", RecordType::A, Some(&nets[sent as usize % nets.len()]));
                let bytes = q.to_vec().unwrap();
                sent += 1;
                match udp_raw_timeout(dns, &bytes, Duration::from_secs(2)) {
                    Some(r) if r.len() >= 12 && r[..2] == bytes[..2] && r[3] & 0x0f == 0 => {}
                    _ => lost += 1,
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (sent, lost)
        });
        Load { stop, thread: Some(thread) }
    }

    /// Stops the stream: (queries sent, queries without a NOERROR answer).
    fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

fn fleet(etcd: &Etcd, target: &FailServer, extra: &str) -> Vec<Node> {
    let prefix = prefix("faults");
    let files = [("gslb.test.zone", zone()), ("gslb.test.pools.toml", pools(target.addr.port()))];
    let nodes: Vec<Node> = (1..=3)
        .map(|i| Node::start(&format!("node{i}"), &node_config(i, &etcd.urls(), &prefix, extra), &files))
        .collect();
    wait_for("every node counts three voters", Duration::from_secs(10), || {
        nodes.iter().all(|n| n.decision("127.0.0.1", "h")["votes"].as_array().map_or(0, Vec::len) == 3)
    });
    nodes
}

fn etcd_state(n: &Node) -> String {
    n.status()["fleet"]["etcd"].as_str().unwrap_or_default().to_string()
}

#[test]
fn etcd_stopped_for_10_s_under_load_loses_no_query_and_the_nodes_resync() {
    if skip_without_etcd("etcd stopped under load") {
        return;
    }
    let mut etcd = Etcd::start(1);
    let target = FailServer::start("127.0.0.1");
    let nodes = fleet(&etcd, &target, "fallback_after_ms = 1000");
    let nets = subnets(300, 11);
    let before = answers(nodes[0].dns, "www.gslb.test.", &nets);
    let loads: Vec<Load> = nodes.iter().map(|n| Load::start(n.dns)).collect();
    std::thread::sleep(Duration::from_millis(500));

    etcd.members[0].kill();
    let stopped = Instant::now();
    let t = wait_for("every node falls back", Duration::from_secs(5), || {
        nodes.iter().all(|n| etcd_state(n) == "etcd out of reach")
    });
    println!("FIGURE etcd stopped: all nodes decide alone after {:.2} s (fallback_after 1 s)", t.as_secs_f64());
    for n in &nodes {
        let m = n.metrics();
        assert!(m.contains("gslbd_fleet_etcd_connected 0"), "{m}");
        assert!(m.contains("gslbd_fleet_fallback{target=\"127.0.0.1\",probe=\"h\"} 1"), "{m}");
        let d = n.decision("127.0.0.1", "h");
        assert_eq!(d["reason"], "fallback to local: etcd out of reach", "{d}");
    }
    // Meanwhile each node goes by its own probe: node 1's path breaks, only node 1 reacts.
    target.fail_for(&["127.0.0.11"]);
    wait_for("node1 takes the member out alone", Duration::from_secs(3), || {
        nodes[0].decision("127.0.0.1", "h")["state"] == "down"
    });
    assert_eq!(nodes[1].decision("127.0.0.1", "h")["state"], "up");
    target.fail_for(&[]);
    std::thread::sleep(Duration::from_secs(10).saturating_sub(stopped.elapsed()));

    etcd.members[0].spawn();
    let back = Instant::now();
    let resync = wait_for("every node resyncs", Duration::from_secs(10), || {
        nodes.iter().all(|n| {
            let d = n.decision("127.0.0.1", "h");
            etcd_state(n) == "connected" && d["votes"].as_array().map_or(0, Vec::len) == 3 && d["state"] == "up"
        })
    });
    println!(
        "FIGURE etcd back after 10 s: every node resynced (3 voters, fleet decisions) {:.2} s after it restarted",
        resync.as_secs_f64()
    );
    assert!(back.elapsed() < Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    for (n, load) in nodes.iter().zip(loads) {
        let (sent, lost) = load.finish();
        println!("FIGURE {}: {sent} queries during the outage and resync, {lost} lost", n.name);
        assert!(sent > 1000, "the load ran ({sent})");
        assert_eq!(lost, 0, "{} lost queries", n.name);
        assert_eq!(answers(n.dns, "www.gslb.test.", &nets), before, "{} answers as before", n.name);
        let log = n.stderr();
        assert!(log.contains("etcd out of reach") && log.matches("etcd in reach;").count() == 2, "{log}");
        let m = n.metrics();
        assert!(m.contains("gslbd_fleet_etcd_outages_total 1"), "{m}");
    }
    let votes = etcd.keys("/gslbd-test/");
    assert_eq!(votes.iter().filter(|k| k.contains("/votes/")).count(), 3, "every node wrote its vote again: {votes:?}");
}

#[test]
fn a_three_member_etcd_losing_its_leader_changes_nothing_visible() {
    if skip_without_etcd("3-member etcd losing a member") {
        return;
    }
    let mut etcd = Etcd::start(3);
    let target = FailServer::start("127.0.0.1");
    let nodes = fleet(&etcd, &target, "");
    let nets = subnets(300, 13);
    let before = answers(nodes[0].dns, "www.gslb.test.", &nets);
    let loads: Vec<Load> = nodes.iter().map(|n| Load::start(n.dns)).collect();
    std::thread::sleep(Duration::from_millis(500));

    let leader = etcd.leader();
    etcd.members[leader].kill();
    println!("killed etcd member m{leader} (the leader)");
    // A runtime change made during the election still reaches every node.
    let path = "/changes/gslb.test./web/eu/members/192.0.2.2/override";
    let put = Instant::now();
    let (code, body, _) =
        admin_call(nodes[1].admin, "PUT", path, &[], Some("{\"value\": \"drain\", \"why\": \"test\"}"));
    assert_eq!(code, 200, "{body}");
    println!("FIGURE drain PUT during the election answered in {:.2} s", put.elapsed().as_secs_f64());
    let drained = wait_for("every node drains 192.0.2.2", Duration::from_secs(3), || {
        nodes
            .iter()
            .all(|n| !answers(n.dns, "www.gslb.test.", &nets[..50]).contains(&Some("192.0.2.2".parse().unwrap())))
    });
    println!("FIGURE drain made during the election: on every node after {:.2} s", drained.as_secs_f64());
    let (code, body, _) = admin_call(nodes[2].admin, "DELETE", path, &[], None);
    assert_eq!(code, 200, "{body}");
    std::thread::sleep(Duration::from_secs(4));
    for (n, load) in nodes.iter().zip(loads) {
        let (sent, lost) = load.finish();
        println!("FIGURE {}: {sent} queries while etcd lost its leader, {lost} lost", n.name);
        assert_eq!(lost, 0);
        let m = n.metrics();
        assert!(m.contains("gslbd_fleet_etcd_outages_total 0"), "no fallback on {}: {m}", n.name);
        assert!(m.contains("gslbd_fleet_etcd_connected 1"), "{m}");
        let d = n.decision("127.0.0.1", "h");
        assert_eq!((d["fallback"].as_bool(), d["votes"].as_array().map(Vec::len)), (Some(false), Some(3)), "{d}");
        assert_eq!(answers(n.dns, "www.gslb.test.", &nets), before, "{} answers as before", n.name);
        assert!(!n.stderr().contains("etcd out of reach"), "{}", n.stderr());
    }
}
