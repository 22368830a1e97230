//! The regional tier through the real server: `gslbd serve` polls four loopback HTTP feed
//! servers (HAProxy stats CSV, nginx stub_status, Prometheus text, JSON) whose bodies the test
//! changes over time, and its DNS answers (real UDP queries with ECS) follow:
//! - a region whose HAProxy backend reports 0 servers up is skipped (failover to the next);
//! - a region above its high watermark sheds the share s of its client /24s that `/status`
//!   shows, with ECS scope /24, and they spill to the other regions in proportion to spare
//!   capacity (30 : 10), never to a region without spare;
//! - the feed server stops: `/status` shows "stale", `gslbd_feedback_stale` is 1, and the
//!   answers stay exactly as they were (s is held);
//! - the feed returns below the low watermark: clients come back in stages of 25 %.
// Black-box timing of a real server and real peers: wall-clock time is what is measured here,
// so the clippy.toml rule (tokio's pausable clock inside the server) does not apply.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use support::feed::Feed;
use support::*;

/// HAProxy 2.6 `;csv` stats (the leading columns; the parser picks columns by name).
fn haproxy(scur: u32, act: u32) -> String {
    format!(
        "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,\n\
         web,FRONTEND,,,{scur},120,2000,10450,5120333,88200431,0,0,3,,,,,OPEN,,,,\n\
         web_servers,s1,0,0,0,61,,5230,2560100,44100200,,0,,0,0,0,0,{st},1,{a1},0,\n\
         web_servers,s2,0,0,0,59,,5220,2560233,44100231,,0,,0,0,0,0,{st},1,{a2},0,\n\
         web_servers,BACKEND,0,0,{scur},120,200,10450,5120333,88200431,0,0,,0,0,0,0,{bst},{act},{act},0,\n",
        st = if act > 0 { "UP" } else { "DOWN" },
        bst = if act > 0 { "UP" } else { "DOWN" },
        a1 = u32::from(act > 0),
        a2 = u32::from(act > 1),
    )
}

fn nginx(active: u32) -> String {
    format!(
        "Active connections: {active} \nserver accepts handled requests\n 16630948 16630948 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n"
    )
}

fn prometheus(sessions: f64) -> String {
    format!(
        "# HELP haproxy_frontend_current_sessions Number of current sessions.\n# TYPE haproxy_frontend_current_sessions gauge\n\
         haproxy_frontend_current_sessions{{proxy=\"stats\"}} 1\nhaproxy_frontend_current_sessions{{proxy=\"web\"}} {sessions}\n\
         haproxy_backend_active_servers{{proxy=\"web_servers\"}} 3\n"
    )
}

fn json(load: f64) -> String {
    format!("{{\"load\":{{\"sessions\":{load}}},\"servers\":{{\"up\":2}}}}")
}

const INTERVAL_MS: u64 = 250;
const STALE_MS: u64 = 1000;

fn pools(eu: SocketAddr, us: SocketAddr, ap: SocketAddr, sa: SocketAddr) -> String {
    format!(
        r#"[names]
www = "web"

[feedback.eu]
kind = "haproxy"
url = "http://{eu}/stats;csv"
frontend = "web"
backend = "web_servers"
interval_ms = {INTERVAL_MS}
stale_after_ms = {STALE_MS}

[feedback.us]
kind = "nginx"
url = "http://{us}/nginx_status"
interval_ms = {INTERVAL_MS}
stale_after_ms = {STALE_MS}

[feedback.ap]
kind = "prometheus"
url = "http://{ap}/metrics"
metric = 'haproxy_frontend_current_sessions{{proxy="web"}}'
backends_metric = 'haproxy_backend_active_servers{{proxy="web_servers"}}'
interval_ms = {INTERVAL_MS}
stale_after_ms = {STALE_MS}

[feedback.sa]
kind = "json"
url = "http://{sa}/load.json"
path = "load.sessions"
backends_path = "servers.up"
interval_ms = {INTERVAL_MS}
stale_after_ms = {STALE_MS}

[pool.web]
ttl = 30
region_policy = "failover"
failover_order = ["eu", "us", "ap", "sa"]

[pool.web.region.eu]
members = [ {{ address = "127.0.1.1" }} ]
feedback = "eu"
capacity = 100

[pool.web.region.us]
members = [ {{ address = "127.0.1.2" }} ]
feedback = "us"
capacity = 100

[pool.web.region.ap]
members = [ {{ address = "127.0.1.3" }} ]
feedback = "ap"
capacity = 100

[pool.web.region.sa]
members = [ {{ address = "127.0.1.4" }} ]
feedback = "sa"
capacity = 100
"#
    )
}

fn zone() -> &'static str {
    "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n"
}

/// The answer's address and the ECS option the reply carries, for client subnet `net`.
fn ask(dns: SocketAddr, net: &str) -> (IpAddr, String) {
    let m = query_udp(dns, &ecs_query("www.r.test.", RecordType::A, Some(net)));
    let a = m.answers.iter().find_map(|r| r.data.ip_addr()).unwrap_or_else(|| panic!("no address for {net}: {m:?}"));
    (a, ecs_of(&m).join(" "))
}

/// 3,000 distinct client /24s.
fn nets() -> Vec<String> {
    (0u32..3000)
        .map(|i| {
            let x = i.wrapping_mul(2_654_435_761) >> 8;
            format!("{}.{}.{}.0/24", 1 + (x >> 16) % 200, (x >> 8) & 255, x & 255)
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The eu region's feedback object from /status.
fn eu_feedback(admin: SocketAddr) -> serde_json::Value {
    let (code, body) = http(admin, "GET", "/status", None);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
    v["zones"][0]["pools"][0]["regions"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["name"] == "eu"))
        .map(|r| r["feedback"].clone())
        .unwrap_or_else(|| panic!("no eu region in {body}"))
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

#[test]
fn backends_shedding_stale_and_staged_return_through_dns() {
    let eu = Feed::start("127.0.0.1:0".parse().unwrap(), &haproxy(10, 0));
    let us = Feed::start("127.0.0.1:0".parse().unwrap(), &nginx(50));
    let ap = Feed::start("127.0.0.1:0".parse().unwrap(), &prometheus(70.0));
    let sa = Feed::start("127.0.0.1:0".parse().unwrap(), &json(80.0));
    let eu_addr = eu.addr;
    let config = "[server]\nlisten = [\"127.0.0.1:0\"]\nhealth_startup_wait_ms = 3000\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[[zone]]\norigin = \"r.test.\"\nfile = \"r.test.zone\"\npools = \"r.test.pools.toml\"\n";
    let pool_text = pools(eu.addr, us.addr, ap.addr, sa.addr);
    let srv = GslbdServer::start(config, &[("r.test.zone", zone()), ("r.test.pools.toml", &pool_text)]);
    let (dns, admin) = (srv.addr(), srv.admin());
    let ip = |s: &str| -> IpAddr { s.parse().unwrap() };

    // 1. eu's VIP answers but HAProxy reports no backend up: the region is down.
    let fb = eu_feedback(admin);
    assert_eq!(fb["state"], "fresh", "{fb}");
    assert_eq!(fb["backends_up"], 0, "{fb}");
    assert_eq!(ask(dns, "81.2.69.0/24").0, ip("127.0.1.2"), "eu has 0 backends up: failover to us");
    eu.set(&haproxy(10, 2));
    wait_for("eu back once its backends are up", Duration::from_secs(3), || {
        ask(dns, "81.2.69.0/24").0 == ip("127.0.1.1")
    });

    // 2. eu above its high watermark: it sheds until s ≥ 0.35, then holds between the watermarks.
    eu.set(&haproxy(100, 2));
    wait_for("eu sheds", Duration::from_secs(5), || eu_feedback(admin)["shed"].as_f64().unwrap_or(0.0) >= 0.35);
    eu.set(&haproxy(70, 2));
    std::thread::sleep(Duration::from_millis(3 * INTERVAL_MS));
    let fb = eu_feedback(admin);
    let s = fb["shed"].as_f64().unwrap();
    assert_eq!(fb["reason"], "load between watermarks: holding", "{fb}");
    assert_eq!(
        (fb["load"].as_f64(), fb["capacity"].as_f64(), fb["utilization"].as_f64()),
        (Some(70.0), Some(100.0), Some(0.7))
    );
    assert_eq!(
        (fb["high_watermark"].as_f64(), fb["low_watermark"].as_f64(), fb["source"].as_str()),
        (Some(0.8), Some(0.6), Some("eu"))
    );
    assert!(s > 0.35 && s < 1.0, "{fb}");

    let nets = nets();
    let mut before = Vec::with_capacity(nets.len());
    let (mut kept, mut to_us, mut to_ap) = (0usize, 0usize, 0usize);
    for n in &nets {
        let (a, ecs) = ask(dns, n);
        let prefix = n.split('/').next().unwrap();
        assert_eq!(ecs, format!("{prefix}/24/24"), "the shedding decision is scoped to the client /24");
        match a {
            a if a == ip("127.0.1.1") => kept += 1,
            a if a == ip("127.0.1.2") => to_us += 1,
            a if a == ip("127.0.1.3") => to_ap += 1,
            other => panic!("{n} got {other}: sa has no spare capacity (load 80 = 0.8 × 100)"),
        }
        before.push(a);
    }
    let total = nets.len() as f64;
    let shed = (to_us + to_ap) as f64 / total;
    let us_part = to_us as f64 / (to_us + to_ap) as f64;
    eprintln!("s = {s:.3}: kept {kept}, to us {to_us}, to ap {to_ap}: shed {shed:.3}, us part {us_part:.3}");
    assert!((shed - s).abs() < 0.04, "shed share {shed:.3} ≈ s {s:.3}");
    assert!((us_part - 0.75).abs() < 0.06, "us spare 30, ap spare 10: us takes {us_part:.3} ≈ 0.75");

    let (_, explain) = http(admin, "GET", "/explain?name=www.r.test.&type=A&client=81.2.69.0/24", None);
    assert!(
        explain.contains("feedback eu: load 70/100 (70%), watermarks 60%/80%, backends 2 up, fresh ("),
        "{explain}"
    );
    assert!(explain.contains("load between watermarks: holding"), "{explain}");

    // 3. The eu feed stops: stale, s held, the same answers for every client.
    drop(eu);
    let took = wait_for("eu stale", Duration::from_millis(STALE_MS + 3 * INTERVAL_MS + 1000), || {
        eu_feedback(admin)["state"] == "stale"
    });
    eprintln!("stale after {took:?}");
    let fb = eu_feedback(admin);
    assert_eq!(fb["shed"].as_f64(), Some(s), "a stale feed holds s: {fb}");
    assert_eq!(fb["reason"], "feed stale: holding");
    for (n, want) in nets.iter().zip(&before) {
        assert_eq!(ask(dns, n).0, *want, "{n}: a stale feed moves nobody");
    }
    let (_, metrics) = http(admin, "GET", "/metrics", None);
    let scrape = prometheus_parse::Scrape::parse(metrics.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text");
    let gauge = |name: &str, region: &str| {
        scrape
            .samples
            .iter()
            .find(|x| x.metric == name && x.labels.get("region") == Some(region))
            .map(|x| match x.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("{name} {region} in\n{metrics}"))
    };
    assert_eq!(gauge("gslbd_feedback_stale", "eu"), 1.0);
    assert_eq!(gauge("gslbd_feedback_stale", "us"), 0.0);
    assert_eq!(gauge("gslbd_region_shed_ratio", "eu"), s);
    assert_eq!(gauge("gslbd_region_capacity", "ap"), 100.0);
    assert_eq!(gauge("gslbd_region_load", "ap"), 70.0);

    // 4. The feed returns below the low watermark: s falls by 0.25 per sample, not at once.
    let eu = Feed::start(eu_addr, &haproxy(10, 2));
    let mut seen = vec![s];
    wait_for("all clients back in eu", Duration::from_secs(5), || {
        let fb = eu_feedback(admin);
        let now = fb["shed"].as_f64().unwrap_or(-1.0);
        if seen.last() != Some(&now) {
            seen.push(now);
        }
        fb["state"] == "fresh" && now == 0.0
    });
    eprintln!("shed fractions seen on the way back: {seen:?}");
    for w in seen.windows(2) {
        assert!((w[0] - w[1] - 0.25).abs() < 1e-9 || (w[1] == 0.0 && w[0] <= 0.25 + 1e-9), "steps of 0.25: {seen:?}");
    }
    assert!(seen.len() >= 3, "the return took at least two samples: {seen:?}");
    for n in nets.iter().take(300) {
        assert_eq!(ask(dns, n).0, ip("127.0.1.1"), "{n} is back in eu");
    }
    drop((eu, us, ap, sa));
}
