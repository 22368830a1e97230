//! Soak (issue 14), `#[ignore]`d: run by hand, 10 minutes by default.
//!
//! ```sh
//! cargo test --test soak -- --ignored --nocapture          # GSLBD_SOAK_SECS=600
//! ```
//!
//! `gslbd serve` (the real binary) under a mixed load (UDP and TCP, with and without ECS,
//! pooled and static names) while everything an operator and the world change happens at once:
//! - a reload every 3 s (`POST /reload`);
//! - the probe target of region eu flaps (its listener closed and reopened every 4 s);
//! - region ap's load feed swings across its high watermark every 7 s (ap sheds to us);
//! - every 30 s the GeoIP database is copied over the live file in place (`cp`), alternating a
//!   database where 10.1/16 is in GB (region eu) and one where it is in JP (region ap);
//! - every 40 s the zone file is written half first, in place: the rest follows after 300 ms,
//!   or after 2.5 s (longer than the quiet period: the half is read and refused, serial rule).
//!
//! Every answer is checked against the answers allowed at that moment: the union of what each
//! state of the last few seconds allows, and every mix of them (the world state is known to the
//! test; the window covers probe rise/fall, feed polling and the reload's quiet period). Required: 0 lost, 0
//! wrong, the process alive at the end, and RSS flat (the last minute's mean within 10 % + 4
//! MiB of the second minute's). The figures are printed.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use support::live::{first_half, geo_database, reloads, write_in_place};
use support::load::{Load, Probe};
use support::{GslbdServer, HttpStub, QuerySpec, ecs_query, http};

const TOKEN: &str = "soak-token";
/// How long a change may take to show in the answers (probe fall/rise 2 × 200 ms, feed polls of
/// 200 ms, the 1 s quiet period of a file change, and the reload).
const WINDOW: Duration = Duration::from_secs(4);

const EU: &str = "NOERROR 127.0.1.1";
const AP: &str = "NOERROR 127.0.2.1";
const US: &str = "NOERROR 127.0.3.1";
const FIRST: &str = "NOERROR 192.0.2.10";
const LAST: &str = "NOERROR 192.0.2.99";

fn config(geo: &str) -> String {
    format!(
        r#"
[server]
listen = ["127.0.0.1:0"]
udp_workers = 2

[admin]
listen = "127.0.0.1:0"
token_file = "admin.token"

[geoip]
database = "{geo}"

[[zone]]
origin = "gslb.test."
file = "gslb.test.zone"
pools = "gslb.test.pools.toml"
"#
    )
}

fn zone() -> String {
    let mut z = String::from(
        "$ORIGIN gslb.test.\n$TTL 3600\n@ IN SOA ns1 hostmaster 7 7200 900 1209600 300\n@ IN NS ns1\n\
         ns1 IN A 192.0.2.53\nfirst IN A 192.0.2.10\n",
    );
    for i in 0..300 {
        z.push_str(&format!("filler{i} IN A 198.51.100.{}\n", i % 250 + 1));
    }
    z.push_str("last IN A 192.0.2.99\n");
    z
}

fn pools(eu_port: u16, ap_feed: SocketAddr, us_feed: SocketAddr) -> String {
    format!(
        r#"[names]
www = "web"

[probe.eu-tcp]
kind = "tcp"
port = {eu_port}
interval_ms = 200
timeout_ms = 150
rise = 2
fall = 2

[feedback.ap]
kind = "json"
url = "http://{ap_feed}/load.json"
path = "load"
interval_ms = 200
stale_after_ms = 3000

[feedback.us]
kind = "json"
url = "http://{us_feed}/load.json"
path = "load"
interval_ms = 200
stale_after_ms = 3000

[pool.web]
ttl = 30
region_policy = "nearest"
member_policy = "all"
default_region = "us"

[pool.web.region.eu]
location = [51.5, -0.1]
geo = {{ countries = ["GB"] }}
probe = "eu-tcp"
members = [ {{ address = "127.0.1.1" }} ]

[pool.web.region.ap]
location = [35.7, 139.7]
geo = {{ countries = ["JP"] }}
feedback = "ap"
capacity = 100
members = [ {{ address = "127.0.2.1" }} ]

[pool.web.region.us]
location = [39.0, -77.5]
geo = {{ countries = ["US"] }}
feedback = "us"
capacity = 100
members = [ {{ address = "127.0.3.1" }} ]
"#
    )
}

/// What the test has set the world to.
#[derive(Clone, Copy, PartialEq)]
struct World {
    /// The live GeoIP database puts 10.1/16 in GB (else JP).
    gb_in_gb: bool,
    eu_up: bool,
    /// ap's feed reports a load over its high watermark.
    ap_hot: bool,
}

/// The answers each probe may get in `w`.
fn answers(w: World, label: &str) -> Vec<&'static str> {
    let ap = if w.ap_hot { vec![AP, US] } else { vec![AP] };
    match label {
        "gb" if w.gb_in_gb => vec![if w.eu_up { EU } else { US }],
        "gb" | "jp" => ap,
        "us" | "noecs" => vec![US],
        "first" => vec![FIRST],
        "last" => vec![LAST],
        other => panic!("unknown probe {other}"),
    }
}

const LABELS: [&str; 6] = ["gb", "jp", "us", "noecs", "first", "last"];

/// Every mix of the states in `history`: each part of the world follows its change with its own
/// delay (a probe's fall in 400 ms, a GeoIP file after the 1 s quiet period), so when two parts
/// change at once the server passes through states the test never set, e.g. ap already
/// shedding while the old database still puts 10.1/16 in JP.
fn mixed(history: &[(Instant, World)]) -> Vec<World> {
    let values = |f: fn(&World) -> bool| -> BTreeSet<bool> { history.iter().map(|(_, w)| f(w)).collect() };
    let (gb, eu, ap) = (values(|w| w.gb_in_gb), values(|w| w.eu_up), values(|w| w.ap_hot));
    let mut out = Vec::new();
    for &gb_in_gb in &gb {
        for &eu_up in &eu {
            for &ap_hot in &ap {
                out.push(World { gb_in_gb, eu_up, ap_hot });
            }
        }
    }
    out
}

/// The probe target of region eu: a listener on 127.0.1.1 that accepts and closes, or nothing.
struct Target {
    port: u16,
    up: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

impl Target {
    fn new() -> Target {
        let port = TcpListener::bind("127.0.1.1:0").unwrap().local_addr().unwrap().port();
        let mut t = Target { port, up: None };
        t.set(true);
        t
    }

    fn set(&mut self, up: bool) {
        if let Some((stop, thread)) = self.up.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
        if up {
            let l = TcpListener::bind(("127.0.1.1", self.port)).unwrap();
            l.set_nonblocking(true).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            let thread = std::thread::spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    if l.accept().is_err() {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            });
            self.up = Some((stop, thread));
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn mean(v: &[u64]) -> f64 {
    v.iter().sum::<u64>() as f64 / v.len().max(1) as f64
}

#[test]
#[ignore]
fn soak() {
    let secs: u64 = std::env::var("GSLBD_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(600);
    let geo_a = geo_database("GB", 0);
    let geo_b = geo_database("JP", 40);
    let geo = support::TempDir::new("gslbd-soak-geo");
    let live = geo.path().join("live.mmdb");
    std::fs::write(&live, &geo_a).unwrap();
    let json = |load: u32| format!("{{\"load\": {load}}}");
    let ap_feed = HttpStub::new().route("/load.json", 200, &json(10)).start();
    let us_feed = HttpStub::new().route("/load.json", 200, &json(10)).start();
    let mut target = Target::new();
    let pool_text = pools(target.port, ap_feed.addr(), us_feed.addr());
    let zone_text = zone();
    let mut srv = GslbdServer::start(
        &config(&live.display().to_string()),
        &[("gslb.test.zone", &zone_text), ("gslb.test.pools.toml", &pool_text), ("admin.token", TOKEN)],
    );
    let zone_path = srv.dir().join("gslb.test.zone");

    let ecs = |label: &str, net: &str, tcp| Probe {
        label: label.into(),
        query: ecs_query("www.gslb.test.", RecordType::A, Some(net)),
        tcp,
    };
    let plain = |label: &str, name: &str, tcp| Probe {
        label: label.into(),
        query: QuerySpec::new(name, RecordType::A).to_message(0),
        tcp,
    };
    let probes = vec![
        ecs("gb", "10.1.7.0/24", false),
        ecs("jp", "10.2.7.0/24", false),
        ecs("us", "10.3.7.0/24", false),
        ecs("gb", "10.1.9.0/24", true),
        plain("noecs", "www.gslb.test.", false),
        plain("first", "first.gslb.test.", false),
        plain("last", "last.gslb.test.", false),
        ecs("us", "10.3.9.0/24", true),
        plain("last", "last.gslb.test.", true),
    ];
    let mut world = World { gb_in_gb: true, eu_up: true, ap_hot: false };
    let allowed: Vec<(&str, Vec<&str>)> = LABELS.iter().map(|l| (*l, answers(world, l))).collect();
    let allowed: Vec<(&str, &[&str])> = allowed.iter().map(|(l, a)| (*l, a.as_slice())).collect();
    let load = Load::start(srv.addr(), probes, &allowed, 3, 600, Duration::from_secs(secs + 60));
    let load_started = Instant::now();

    // Every state the world was in, with when it started; the allowed answers are the union of
    // those of the last WINDOW. A change is entered here (widening what is allowed) before the
    // world is changed, and leaves the window WINDOW after the next change.
    let mut history: Vec<(Instant, World)> = vec![(Instant::now(), world)];
    let mut timeline: Vec<(f64, String)> = Vec::new();
    let allow = |history: &mut Vec<(Instant, World)>| {
        let from = history.iter().rposition(|(at, _)| at.elapsed() > WINDOW).unwrap_or(0);
        history.drain(..from);
        let states = mixed(history);
        for label in LABELS {
            let set: BTreeSet<&str> = states.iter().flat_map(|w| answers(*w, label)).collect();
            load.allow(label, &set.into_iter().collect::<Vec<_>>());
        }
    };
    let started = Instant::now();
    let mut rss: Vec<(u64, u64)> = Vec::new();
    let mut counts = [0u32; 5];
    let mut tick = 0u64;
    let (mut next_half, mut half_long) = (25u64, false);
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(100));
        tick += 1;
        let t = tick / 10; // whole seconds
        let on_second = tick.is_multiple_of(10);
        let mut next = world;
        next.eu_up ^= on_second && t.is_multiple_of(4);
        next.ap_hot ^= on_second && t.is_multiple_of(7);
        next.gb_in_gb ^= on_second && t % 30 == 15;
        if next != world {
            history.push((Instant::now(), next));
            allow(&mut history);
            let (eu, ap, gb) = (next.eu_up, next.ap_hot, next.gb_in_gb);
            timeline.push((load_started.elapsed().as_secs_f64(), format!("eu_up {eu} ap_hot {ap} gb_in_gb {gb}")));
        }
        if next.eu_up != world.eu_up {
            target.set(next.eu_up);
            counts[1] += 1;
        }
        if next.ap_hot != world.ap_hot {
            ap_feed.set_body("/load.json", &json(if next.ap_hot { 95 } else { 10 }));
            counts[2] += 1;
        }
        if next.gb_in_gb != world.gb_in_gb {
            write_in_place(&live, if next.gb_in_gb { &geo_a } else { &geo_b });
            counts[3] += 1;
        }
        world = next;
        if on_second && t.is_multiple_of(3) {
            let (code, body) = http(srv.admin(), "POST", "/reload", Some(TOKEN));
            assert!(code == 200 || code == 422, "reload: {code} {body}");
            counts[0] += 1;
        }
        if on_second && t == next_half {
            // Half the zone file, in place; the rest after 300 ms or after 2.5 s. The answers
            // never change: the zone is the same before and after.
            write_in_place(&zone_path, first_half(&zone_text).as_bytes());
            std::thread::sleep(Duration::from_millis(if half_long { 2500 } else { 300 }));
            write_in_place(&zone_path, zone_text.as_bytes());
            half_long = !half_long;
            next_half += 40;
            counts[4] += 1;
        }
        allow(&mut history);
        if on_second && t.is_multiple_of(5) {
            rss.push((t, rss_kib(srv.pid())));
        }
    }
    let report = load.stop();
    let alive = srv.wait_exit(Duration::ZERO).is_none();
    let (ok, err) = reloads(srv.admin());

    let minute = |from: u64, to: u64| -> Vec<u64> {
        rss.iter().filter(|(t, _)| *t >= from && *t < to).map(|(_, r)| *r).collect()
    };
    let early = minute(60, 120);
    let late = minute(secs.saturating_sub(60), secs);
    println!(
        "soak {secs} s: {} queries sent, {} answered, {} lost, {} wrong",
        report.sent, report.answered, report.lost, report.wrong
    );
    println!(
        "changes: {} API reloads, {} eu flaps, {} ap load swings, {} GeoIP cp in place, {} half-written zone files; \
         reloads ok {ok}, refused {err}",
        counts[0], counts[1], counts[2], counts[3], counts[4]
    );
    println!(
        "RSS KiB: start {}, minute 2 mean {:.0}, last minute mean {:.0}, max {}",
        rss.first().map_or(0, |r| r.1),
        mean(&early),
        mean(&late),
        rss.iter().map(|r| r.1).max().unwrap_or(0)
    );
    let mut answers: Vec<_> = report.by_answer.iter().collect();
    answers.sort();
    println!("answers: {answers:?}");
    assert!(alive, "the server is gone; stderr:\n{}", srv.stderr());
    if report.wrong > 0 {
        println!("world changes (seconds after the load started): {timeline:?}");
    }
    assert_eq!((report.lost, report.wrong), (0, 0), "{:?}", report.samples);
    if secs >= 180 {
        assert!(mean(&late) <= mean(&early) * 1.10 + 4096.0, "RSS grew: {rss:?}");
    }
}
