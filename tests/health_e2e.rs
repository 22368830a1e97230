//! Health probes through the real server: `gslbd serve` probes real loopback HTTP servers,
//! and its DNS answers leave a member out within interval × fall + 1 s of the member's server
//! stopping, fail over to the next region when a whole region stops, and take members back
//! within interval × rise + 1 s of their servers returning. The TTL drops to `degraded_ttl`
//! while the pool is degraded, and `/status` shows each member's probe state.
// Black-box timing of a real server and real peers: wall-clock time is what is measured here,
// so the clippy.toml rule (tokio's pausable clock inside the server) does not apply.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use support::*;

const INTERVAL_MS: u64 = 300;
const RISE: u64 = 2;
const FALL: u64 = 2;

fn zone() -> &'static str {
    "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n"
}

fn pools(port: u16) -> String {
    let probe = format!(
        "kind = \"http\", port = {port}, path = \"/health\", interval_ms = {INTERVAL_MS}, timeout_ms = 200, \
         rise = {RISE}, fall = {FALL}"
    );
    probed_failover("h", &probe, 30, &["127.0.0.1", "127.0.0.2"], &["127.0.0.3"])
}

fn answer(dns: SocketAddr) -> (Vec<IpAddr>, u32) {
    let m = query_udp(dns, &QuerySpec::new("www.h.test.", RecordType::A).to_message(7));
    let mut addrs: Vec<IpAddr> = m.answers.iter().filter_map(|r| r.data.ip_addr()).collect();
    addrs.sort();
    (addrs, m.answers.first().map(|r| r.ttl).unwrap_or(0))
}

/// Polls until the answer is `want`; returns how long that took (panics past `limit`).
fn until(dns: SocketAddr, want: &[&str], limit: Duration) -> (Duration, u32) {
    let want: Vec<IpAddr> = want.iter().map(|a| a.parse().unwrap()).collect();
    let start = Instant::now();
    loop {
        let (got, ttl) = answer(dns);
        if got == want {
            return (start.elapsed(), ttl);
        }
        assert!(start.elapsed() < limit, "after {:?} the answer is {got:?}, want {want:?}", start.elapsed());
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn a_failed_member_leaves_the_answer_and_comes_back() {
    // The members' health endpoints, one per address, on one port.
    let web = HttpStub::new().route("/health", 200, "ok").start_on_each(&["127.0.0.1", "127.0.0.2", "127.0.0.3"]);
    let port = web[0].port();
    let [mut a1, mut a2, _b] = <[HttpStub; 3]>::try_from(web).ok().expect("three stubs");
    let config = r#"[server]
listen = ["127.0.0.1:0"]
health_startup_wait_ms = 3000

[admin]
listen = "127.0.0.1:0"

[[zone]]
origin = "h.test."
file = "h.test.zone"
pools = "h.test.pools.toml"
"#;
    let pool_text = pools(port);
    let srv = GslbdServer::start(config, &[("h.test.zone", zone()), ("h.test.pools.toml", &pool_text)]);
    let dns = srv.addr();
    let leave = Duration::from_millis(INTERVAL_MS * FALL + 1000);
    let back = Duration::from_millis(INTERVAL_MS * RISE + 1000);

    // The first round finished before the server answered: both of region a, full TTL.
    assert_eq!(answer(dns), (vec!["127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap()], 30));

    // One member fails: it leaves the answer, and the TTL drops while the pool is degraded.
    a2.stop();
    let (took, ttl) = until(dns, &["127.0.0.1"], leave);
    eprintln!("member left the answer after {took:?} (bound {leave:?})");
    assert_eq!(ttl, 5, "degraded_ttl while a member is down");
    let (code, body) = http(srv.admin(), "GET", "/status", None);
    assert_eq!(code, 200);
    assert!(body.contains("\"member\":\"127.0.0.2\""), "{body}");
    assert!(body.contains("probe h: down"), "status shows the probe state: {body}");

    // The whole region fails: its clients go to the next region of the failover order.
    a1.stop();
    let (took, _) = until(dns, &["127.0.0.3"], leave);
    eprintln!("region a failed over to b after {took:?} (bound {leave:?})");

    // Both come back: region a answers again, with the full TTL once nothing is down.
    a1.restart();
    a2.restart();
    let (took, ttl) = until(dns, &["127.0.0.1", "127.0.0.2"], back);
    eprintln!("region a back after {took:?} (bound {back:?})");
    assert!(took <= back);
    let _ = ttl;
    let start = Instant::now();
    while answer(dns).1 != 30 {
        assert!(start.elapsed() < back, "TTL back to 30 once every member is up");
        std::thread::sleep(Duration::from_millis(25));
    }
    // The probes' counters: 127.0.0.2 went unknown → up → down → up, and failed in between.
    let (code, text) = http(srv.admin(), "GET", "/metrics", None);
    assert_eq!(code, 200);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text");
    let value = |name: &str, target: &str| -> f64 {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get("target") == Some(target) && s.labels.get("probe") == Some("h"))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("{name} for {target} in:\n{text}"))
    };
    assert!(value("gslbd_probe_transitions_total", "127.0.0.2") >= 3.0);
    assert!(value("gslbd_probe_failures_total", "127.0.0.2") >= FALL as f64);
    assert!(value("gslbd_probes_total", "127.0.0.3") >= 3.0);
    assert_eq!(value("gslbd_probe_up", "127.0.0.1"), 1.0);
    assert!(a1.requests()[0].starts_with("GET /health HTTP/1.1\r\n"), "the probe asks the configured path");
}
