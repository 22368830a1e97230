//! Operating gslbd live, black-box against the real binary: reloads lose no query, a bad
//! reload keeps the zone's previous version and says where the error is, /metrics adds up
//! (read with a real Prometheus text parser), and the admin API refuses what it must.
// Black-box timing of a real server and real peers: wall-clock time is what is measured here,
// so the clippy.toml rule (tokio's pausable clock inside the server) does not apply.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use support::{admin_status as status, json};

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use support::*;

const TOKEN: &str = "s3cret-admin-token";

const CONFIG: &str = concat!(
    crate::admin_server_toml!(),
    r#"
# The query stream below is one client asking one name hundreds of times a second: exactly
# what response rate limiting (on by default) stops. These tests are about reloads, not RRL.
[server.rrl]
enabled = false

[[zone]]
origin = "gslb.test."
file = "gslb.test.zone"
pools = "gslb.test.pools.toml"
"#
);

const ZONE: &str = r#"$ORIGIN gslb.test.
$TTL 3600
@       IN SOA ns1 hostmaster 1 7200 900 1209600 300
@       IN NS  ns1
ns1     IN A   192.0.2.53
static  IN A   192.0.2.80
big     IN TXT "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
"#;

/// The pool file; `ttl` varies between the two valid versions the reload test alternates.
fn pools(ttl: u32) -> String {
    format!(
        r#"[names]
www = "web"

[pool.web]
ttl = {ttl}
region_policy = "nearest"
member_policy = "all"
default_region = "east"

[pool.web.region.east]
geo = {{ networks = ["10.1.0.0/16"] }}
members = [ {{ address = "192.0.2.1" }}, {{ address = "192.0.2.2" }} ]

[pool.web.region.west]
geo = {{ networks = ["10.2.0.0/16"] }}
members = [ {{ address = "198.51.100.1" }} ]
"#
    )
}

/// A broken pool file: line 5 has a TTL of the wrong type.
const BROKEN_LINE: usize = 5;
fn broken_pools() -> String {
    pools(30).replacen("ttl = 30", "ttl = \"thirty\"", 1)
}

fn start() -> GslbdServer {
    let p = pools(30);
    GslbdServer::start(CONFIG, &[("gslb.test.zone", ZONE), ("gslb.test.pools.toml", &p), ("admin.token", TOKEN)])
}

/// Replaces `rel` in the server's directory by atomic rename, as operators should.
fn replace_file(s: &GslbdServer, rel: &str, text: &str) {
    let tmp = s.dir().join(format!(".{rel}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, s.dir().join(rel)).unwrap();
}

fn generation(s: &GslbdServer) -> u64 {
    status(s)["version"]["generation"].as_u64().expect("generation")
}

/// Polls /status until `pred` holds (bounded).
fn wait_status(s: &GslbdServer, what: &str, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let st = status(s);
        if pred(&st) {
            return st;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; last /status: {st}\nstderr:\n{}", s.stderr());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ecs(net: [u8; 3]) -> EdnsSpec {
    // FAMILY 1, SOURCE /24, SCOPE 0, three address bytes.
    EdnsSpec { options: vec![(8, vec![0, 1, 24, 0, net[0], net[1], net[2]])], ..EdnsSpec::default() }
}

fn a_records(m: &Message) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

fn east() -> Vec<IpAddr> {
    vec!["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()]
}

// ───────────────────────────── (1) reloads lose nothing ─────────────────────────────

#[test]
fn a_hundred_reloads_under_a_steady_query_stream_lose_no_query() {
    let s = start();
    let dns = s.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let stop = stop.clone();
        std::thread::spawn(move || query_stream(dns, &stop))
    };
    let first = generation(&s);
    for i in 0..100 {
        replace_file(&s, "gslb.test.pools.toml", &pools(if i % 2 == 0 { 31 } else { 30 }));
        if i % 2 == 0 {
            let (code, body) = http(s.admin(), "POST", "/reload", Some(TOKEN));
            assert_eq!(code, 200, "reload {i}: {body}");
            assert_eq!(json(&body)["ok"], true, "reload {i}: {body}");
        } else {
            let before = generation(&s);
            s.sighup();
            wait_status(&s, "a reload after SIGHUP", |st| st["version"]["generation"].as_u64() > Some(before));
        }
    }
    // The watcher may add reloads of its own (each file replacement is a change); none may fail.
    std::thread::sleep(Duration::from_millis(400));
    stop.store(true, Ordering::Relaxed);
    let (sent, failures) = client.join().expect("client thread");
    assert!(
        failures.is_empty(),
        "{} of {sent} queries failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert!(sent >= 200, "only {sent} queries were sent during the reloads");
    let st = status(&s);
    let reloads = st["version"]["generation"].as_u64().unwrap() - first;
    assert!(reloads >= 100, "{reloads} reloads");
    assert_eq!(st["last_reload"]["ok"], true, "{st}");
    let m = scrape(&s);
    assert_eq!(m.get("gslbd_reloads_total", &[("result", "error")]), 0.0);
    assert!(m.get("gslbd_reloads_total", &[("result", "ok")]) >= 100.0);
}

/// Sends one query at a time over UDP (no retries; each awaited with a timeout) until `stop`;
/// returns how many were sent and what went wrong with any of them.
fn query_stream(dns: SocketAddr, stop: &AtomicBool) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(25);
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && sent < 200_000 {
        let id = (sent % 65_536) as u16;
        let q = QuerySpec::new("www.gslb.test.", RecordType::A).to_message(id).to_vec().unwrap();
        sent += 1;
        let Some(r) = udp_raw_timeout(dns, &q, Duration::from_secs(2)) else {
            failures.push(format!("query {sent}: no reply"));
            continue;
        };
        match Message::from_vec(&r) {
            Ok(m) if m.metadata.id != id => failures.push(format!("query {sent}: reply id {}", m.metadata.id)),
            Ok(m) if m.metadata.response_code != ResponseCode::NoError => {
                failures.push(format!("query {sent}: {}", m.metadata.response_code))
            }
            Ok(m) if a_records(&m) != east() || !m.answers.iter().all(|r| r.ttl == 30 || r.ttl == 31) => {
                failures.push(format!("query {sent}: answer {:?}", m.answers))
            }
            Ok(_) => {}
            Err(e) => failures.push(format!("query {sent}: undecodable: {e}")),
        }
    }
    (sent, failures)
}

// ───────────────────────────── (2) a bad reload keeps the zone's previous version ─────────────────────────────

fn assert_error_at_pool_line(report: &serde_json::Value) {
    let errors = report["errors"].as_array().unwrap_or_else(|| panic!("no errors in {report}"));
    assert!(
        errors.iter().any(|e| e["file"].as_str().is_some_and(|f| f.ends_with("gslb.test.pools.toml"))
            && e["line"].as_u64() == Some(BROKEN_LINE as u64)
            && !e["message"].as_str().unwrap_or("").is_empty()),
        "expected an error at gslb.test.pools.toml:{BROKEN_LINE}: {report}"
    );
}

fn www_answer(s: &GslbdServer) -> Vec<IpAddr> {
    let m = query_udp(s.addr(), &QuerySpec::new("www.gslb.test.", RecordType::A).to_message(7));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    a_records(&m)
}

#[test]
fn a_bad_reload_keeps_the_zones_previous_version_and_status_says_where() {
    let s = start();
    assert_eq!(www_answer(&s), east());
    let g = generation(&s);

    // The watcher sees the broken file (replaced by rename) and reports it.
    replace_file(&s, "gslb.test.pools.toml", &broken_pools());
    let st = wait_status(&s, "the watcher's failed reload", |st| st["last_reload"]["ok"] == false);
    assert_eq!(st["last_reload"]["trigger"], "watch", "{st}");
    assert_error_at_pool_line(&st["last_reload"]);
    // Only the zone had errors (its pool file): the reload swapped in a snapshot in which the
    // zone keeps its previous version (as Knot keeps a zone whose reload fails).
    assert_eq!(st["last_reload"]["published"], true, "{st}");
    let zone = &st["zones"].as_array().unwrap()[0];
    assert_eq!(zone["state"], "stale", "{st}");
    assert_error_at_pool_line(zone);
    assert_eq!(www_answer(&s), east(), "old answers continue");
    let stat = query_udp(s.addr(), &QuerySpec::new("static.gslb.test.", RecordType::A).to_message(8));
    assert_eq!(stat.metadata.response_code, ResponseCode::NoError);

    // POST /reload says the same, with 422.
    let (code, body) = http(s.admin(), "POST", "/reload", Some(TOKEN));
    assert_eq!(code, 422, "{body}");
    assert_error_at_pool_line(&json(&body));
    let st = status(&s);
    assert_eq!(st["last_reload"]["trigger"], "api");
    assert_error_at_pool_line(&st["last_reload"]);

    // And so do the metrics and the log.
    let m = scrape(&s);
    assert!(m.get("gslbd_reloads_total", &[("result", "partial")]) >= 2.0);
    assert_eq!(m.get("gslbd_zone_errors", &[("zone", "gslb.test.")]), 1.0);
    assert_eq!(m.get("gslbd_zone_serving", &[("zone", "gslb.test.")]), 1.0);
    assert_eq!(m.get("gslbd_last_reload_success", &[]), 0.0);
    assert!(m.get("gslbd_last_reload_errors", &[]) >= 1.0);
    assert!(s.stderr().contains(&format!("line={BROKEN_LINE}")), "log:\n{}", s.stderr());

    // Fixing the file is picked up by the watcher too.
    replace_file(&s, "gslb.test.pools.toml", &pools(45));
    let st = wait_status(&s, "the fixed config", |st| st["last_reload"]["ok"] == true);
    assert!(st["version"]["generation"].as_u64() > Some(g));
    assert_eq!(st["zones"][0]["state"], "loaded", "{st}");
    let m = query_udp(s.addr(), &QuerySpec::new("www.gslb.test.", RecordType::A).to_message(9));
    assert!(m.answers.iter().all(|r| r.ttl == 45), "{:?}", m.answers);
}

// ───────────────────────────── (3) metrics add up ─────────────────────────────

struct Scraped(prometheus_parse::Scrape);

impl Scraped {
    /// The value of the one sample of `name` whose labels include `labels`; 0 when none has them.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let hits: Vec<f64> = self
            .0
            .samples
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .collect();
        assert!(hits.len() <= 1, "{name}{labels:?} matches {} samples", hits.len());
        hits.first().copied().unwrap_or(0.0)
    }
}

fn scrape(s: &GslbdServer) -> Scraped {
    let (code, body) = http(s.admin(), "GET", "/metrics", None);
    assert_eq!(code, 200, "{body}");
    let lines = body.lines().map(|l| Ok(l.to_string()));
    Scraped(prometheus_parse::Scrape::parse(lines).expect("Prometheus text format"))
}

#[test]
fn metrics_add_up_to_the_queries_sent() {
    let s = start();
    let dns = s.addr();
    let send_udp = |spec: QuerySpec, n: usize| {
        for i in 0..n {
            exchange_udp(dns, &spec.to_message(i as u16).to_vec().unwrap());
        }
    };
    let with_edns = |name: &str, t: RecordType, e: EdnsSpec| QuerySpec { edns: Some(e), ..QuerySpec::new(name, t) };
    // Steered: 5 from 10.1/16 (east, with ECS), 3 from 10.2/16 (west, with ECS), 4 over TCP
    // without ECS (the default region, east).
    send_udp(with_edns("www.gslb.test.", RecordType::A, ecs([10, 1, 0])), 5);
    send_udp(with_edns("www.gslb.test.", RecordType::A, ecs([10, 2, 0])), 3);
    for i in 0..4 {
        exchange_tcp(dns, &QuerySpec::new("www.gslb.test.", RecordType::A).to_message(i).to_vec().unwrap());
    }
    // Static, NXDOMAIN, REFUSED, truncated (a 700-byte TXT without EDNS), and one runt (dropped).
    send_udp(QuerySpec::new("static.gslb.test.", RecordType::A), 2);
    send_udp(QuerySpec::new("nothere.gslb.test.", RecordType::A), 6);
    send_udp(QuerySpec::new("example.org.", RecordType::MX), 1);
    send_udp(QuerySpec::new("big.gslb.test.", RecordType::TXT), 2);
    assert!(udp_raw_timeout(dns, &[1, 2, 3], Duration::from_millis(300)).is_none(), "a runt gets no reply");

    // The runt is counted when it is received; give the server a moment (bounded) to get it.
    let deadline = Instant::now() + Duration::from_secs(3);
    let m = loop {
        let m = scrape(&s);
        if m.get("gslbd_dropped_total", &[("transport", "udp"), ("reason", "malformed")]) >= 1.0
            || Instant::now() > deadline
        {
            break m;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let q = |t: &str, rcode: &str, qtype: &str| {
        m.get("gslbd_queries_total", &[("transport", t), ("rcode", rcode), ("qtype", qtype)])
    };
    assert_eq!(q("udp", "NOERROR", "A"), 5.0 + 3.0 + 2.0);
    assert_eq!(q("tcp", "NOERROR", "A"), 4.0);
    assert_eq!(q("udp", "NXDOMAIN", "A"), 6.0);
    assert_eq!(q("udp", "REFUSED", "MX"), 1.0);
    assert_eq!(q("udp", "NOERROR", "TXT"), 2.0);
    let total: f64 =
        m.0.samples
            .iter()
            .filter(|x| x.metric == "gslbd_queries_total")
            .map(|x| match x.value {
                prometheus_parse::Value::Counter(v) => v,
                _ => 0.0,
            })
            .sum();
    assert_eq!(total, 23.0, "every query counted once");
    assert_eq!(m.get("gslbd_ecs_queries_total", &[("transport", "udp")]), 8.0);
    assert_eq!(m.get("gslbd_ecs_queries_total", &[("transport", "tcp")]), 0.0);
    assert_eq!(m.get("gslbd_truncated_total", &[("transport", "udp")]), 2.0);
    assert_eq!(m.get("gslbd_truncated_total", &[("transport", "tcp")]), 0.0);
    assert_eq!(m.get("gslbd_dropped_total", &[("transport", "udp"), ("reason", "malformed")]), 1.0);

    let region = |r: &str| m.get("gslbd_steered_total", &[("zone", "gslb.test."), ("pool", "web"), ("region", r)]);
    assert_eq!(region("east"), 5.0 + 4.0);
    assert_eq!(region("west"), 3.0);
    let member = |r: &str, a: &str| m.get("gslbd_answers_total", &[("pool", "web"), ("region", r), ("member", a)]);
    assert_eq!(member("east", "192.0.2.1"), 9.0);
    assert_eq!(member("east", "192.0.2.2"), 9.0);
    assert_eq!(member("west", "198.51.100.1"), 3.0);

    // Counters survive a reload (carried by name).
    let (code, body) = http(s.admin(), "POST", "/reload", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    let m2 = scrape(&s);
    assert_eq!(m2.get("gslbd_answers_total", &[("region", "west"), ("member", "198.51.100.1")]), 3.0);
    assert_eq!(m2.get("gslbd_steered_total", &[("region", "east")]), 9.0);
    assert_eq!(m2.get("gslbd_reloads_total", &[("result", "ok")]), 1.0);
    assert_eq!(m2.get("gslbd_config_generation", &[]), 1.0, "no file changed: the same generation");

    // Build, start time, effective member health and region usability.
    assert_eq!(m2.get("gslbd_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    assert!(m2.get("process_start_time_seconds", &[]) > 1.7e9);
    assert_eq!(m2.get("gslbd_member_up", &[("region", "east"), ("member", "192.0.2.1")]), 1.0);
    assert_eq!(m2.get("gslbd_region_usable", &[("region", "east")]), 1.0);
    let (code, body) = http(s.admin(), "POST", "/regions/gslb.test/web/east/drain", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    let m3 = scrape(&s);
    assert_eq!(m3.get("gslbd_member_up", &[("region", "east"), ("member", "192.0.2.1")]), 0.0, "after the drain");
    assert_eq!(m3.get("gslbd_region_usable", &[("region", "east")]), 0.0);
    assert_eq!(m3.get("gslbd_region_usable", &[("region", "west")]), 1.0);
}

// ───────────────────────────── (4) the API refuses bad calls ─────────────────────────────

#[test]
fn the_api_refuses_bad_calls_and_drains_what_it_is_told() {
    let s = start();
    let admin = s.admin();
    let drain = "/members/gslb.test/web/east/192.0.2.1/drain";

    for (path, token) in
        [(drain, None), (drain, Some("wrong")), ("/reload", None), ("/regions/gslb.test/web/east/drain", None)]
    {
        let (code, body) = http(admin, "POST", path, token);
        assert_eq!(code, 401, "{path} with {token:?}: {body}");
        assert!(json(&body)["error"].as_str().is_some_and(|e| e.contains("token") || e.contains("Bearer")), "{body}");
    }
    assert_eq!(www_answer(&s), east(), "nothing was drained");

    for (path, names) in [
        ("/members/gslb.test/web/east/192.0.2.99/drain", "member '192.0.2.99' not found in region 'east'"),
        ("/members/gslb.test/web/north/192.0.2.1/drain", "region 'north' not found in pool 'web'"),
        ("/members/gslb.test/mail/east/192.0.2.1/force-up", "pool 'mail' not found"),
        ("/regions/other.test/web/east/drain", "zone 'other.test' is not served"),
    ] {
        let (code, body) = http(admin, "POST", path, Some(TOKEN));
        assert_eq!(code, 404, "{path}: {body}");
        let e = json(&body)["error"].as_str().unwrap_or_default().to_string();
        assert!(e.contains(names), "{path}: {e}");
    }
    let (code, _) = http(admin, "POST", "/members/gslb.test/web/east/192.0.2.1/explode", Some(TOKEN));
    assert_eq!(code, 400);
    let (code, _) = http(admin, "GET", "/nothing", None);
    assert_eq!(code, 404);

    // With the token, the drain takes effect, shows in /status and survives a reload.
    let (code, body) = http(admin, "POST", drain, Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    assert_eq!(www_answer(&s), vec!["192.0.2.2".parse::<IpAddr>().unwrap()]);
    let st = status(&s);
    let member = &st["zones"][0]["pools"][0]["regions"][0]["members"][0];
    assert_eq!(member["member"], "192.0.2.1", "{st}");
    assert_eq!(member["override"], "drain");
    assert_eq!(member["up"], false);
    assert_eq!(st["overrides"][0]["member"], "192.0.2.1");
    let (code, _) = http(admin, "POST", "/reload", Some(TOKEN));
    assert_eq!(code, 200);
    assert_eq!(www_answer(&s), vec!["192.0.2.2".parse::<IpAddr>().unwrap()], "the drain survives the reload");

    // A region forced down sends its clients elsewhere; clearing it restores the answer.
    let (code, _) = http(admin, "POST", "/regions/gslb.test/web/east/force-down", Some(TOKEN));
    assert_eq!(code, 200);
    let m = query_udp(
        s.addr(),
        &QuerySpec { edns: Some(ecs([10, 1, 0])), ..QuerySpec::new("www.gslb.test.", RecordType::A) }.to_message(3),
    );
    assert!(!a_records(&m).iter().any(|a| east().contains(a)), "east is down: {:?}", m.answers);
    for path in ["/regions/gslb.test/web/east/clear", "/members/gslb.test/web/east/192.0.2.1/undrain"] {
        let (code, body) = http(admin, "POST", path, Some(TOKEN));
        assert_eq!(code, 200, "{path}: {body}");
    }
    assert_eq!(www_answer(&s), east());
    assert_eq!(status(&s)["overrides"].as_array().map(|a| a.len()), Some(0));

    // /explain gives the same decision text as the CLI.
    let (code, body) = http(admin, "GET", "/explain?name=www.gslb.test&type=A&client=10.2.0.0/24", None);
    assert_eq!(code, 200, "{body}");
    let text = json(&body)["explain"].as_str().unwrap_or_default().to_string();
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_gslbd"))
        .args(["explain", "--config"])
        .arg(s.dir().join("gslbd.toml"))
        .args(["www.gslb.test", "A", "--client", "10.2.0.0/24"])
        .output()
        .expect("gslbd explain");
    assert_eq!(text, String::from_utf8_lossy(&cli.stdout), "API and CLI explain differ");
    assert!(text.contains("198.51.100.1"), "{text}");
    let (code, _) = http(admin, "GET", "/explain?name=www.gslb.test", None);
    assert_eq!(code, 400);
}
