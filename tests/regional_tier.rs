//! Issue 8, with real regional tiers: three regions, each an HAProxy VIP (127.0.R.1) in front of
//! two nginx servers, all on loopback, and `gslbd serve` on top steering clients between the
//! VIPs. gslbd probes each VIP (tcp) and reads each HAProxy's stats CSV (`[feedback.NAME]`).
//!
//! ```text
//!   ECS client 10.x.y.0/24 ──► gslbd ──► A 127.0.1.1 | 127.0.2.1 | 127.0.3.1   (one per region)
//!                                 │ probe: tcp VIP:PORT every 200 ms, fall 2
//!                                 │ feedback: GET http://127.0.0.1:S/stats;csv every 200 ms
//!                                 ▼
//!        HAProxy frontend web (VIP) ─► backend web_servers ─► nginx ×2   (per region)
//! ```
//!
//! What it shows: one nginx down changes nothing at the DNS tier (L4 handles it); all nginx of a
//! region down, or its HAProxy down, moves that region's clients to the next nearest region; a
//! region held above its high watermark by a bounded load generator sheds its clients to the
//! other regions in proportion to their spare capacity (±5 percentage points); `/status` and
//! `/explain` show load, capacity and why a region sheds. gslbd's other feed kinds read the
//! tier's other real outputs: nginx `stub_status` and HAProxy's Prometheus exporter.
//!
//! A machine without nginx or HAProxy prints `SKIP: <reason>` and passes.
// Black-box timing of a real server and real peers: wall-clock time is what is measured here,
// so the clippy.toml rule (tokio's pausable clock inside the server) does not apply.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use support::regional::{HeldConnections, Tiers};
use support::{GslbdServer, TempDir, ecs_of, ecs_query, http, http_get, query_udp};

/// The tier on its own: every VIP serves 200 from one of its two nginx, the stats CSV shows both
/// servers UP (`act` 2), the frontend's current sessions (`scur`) follow connections held open,
/// and HAProxy takes a stopped nginx out (`act` 1) and serves from the other.
#[test]
fn the_regional_tier_serves_and_reports_sessions_and_backends() {
    let Some(mut tiers) = Tiers::start(&["eu", "us", "ap"]) else {
        return;
    };
    for r in &tiers.regions {
        let (code, body) = http_get(r.vip, "/").unwrap_or_else(|| panic!("no answer from VIP {}", r.vip));
        assert_eq!(code, 200, "GET / through {}: {body}", r.vip);
        assert!(body.starts_with(&format!("{}-web", r.name)), "VIP {} answered {body:?}", r.vip);
        let h = r.haproxy();
        h.wait_until("both web servers UP", Duration::from_secs(5), |h| h.backends_up() == 2);
        assert_eq!(h.stat("web_servers", "web1", "status"), "UP");
        assert_eq!(h.frontend_scur(), 0, "no client holds a session yet");
        // The nginx stub_status of each server answers too (its own L7 view).
        for s in r.servers {
            let (code, body) = http_get(s, "/nginx_status").expect("stub_status");
            assert_eq!(code, 200);
            assert!(body.starts_with("Active connections:"), "{body}");
        }
    }
    // Round robin reaches both servers of a region.
    let eu = tiers.region("eu");
    let mut seen: Vec<String> = (0..4).map(|_| http_get(eu.vip, "/").expect("GET").1.trim().to_string()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["eu-web1", "eu-web2"]);

    // Held connections are frontend sessions, and they go away when the generator is dropped.
    let held = HeldConnections::open(eu.vip, 7, Duration::from_secs(20));
    let took = eu.haproxy().wait_until("scur 7", Duration::from_secs(5), |h| h.frontend_scur() == 7);
    eprintln!("scur reached 7 after {took:?}");
    drop(held);
    eu.haproxy().wait_until("scur 0", Duration::from_secs(5), |h| h.frontend_scur() == 0);

    // One web server stops: HAProxy marks it DOWN (fall 2 × inter 200 ms) and the VIP still serves.
    eu.stop_nginx(0);
    let took = eu.haproxy().wait_until("act 1", Duration::from_secs(5), |h| h.backends_up() == 1);
    eprintln!("HAProxy saw eu-web1 down after {took:?}");
    for _ in 0..4 {
        let (code, body) = http_get(eu.vip, "/").expect("VIP still answers");
        assert_eq!((code, body.trim()), (200, "eu-web2"));
    }
    eu.start_nginx(0);
    eu.haproxy().wait_until("act 2 again", Duration::from_secs(5), |h| h.backends_up() == 2);
}

// ───────────────────────────── gslbd on top of the three tiers ─────────────────────────────

const ZONE: &str = "gslb.test.";
const WWW: &str = "www.gslb.test.";
/// Every region's capacity, in HAProxy frontend sessions.
const CAPACITY: f64 = 20.0;
const HIGH: f64 = 0.8;
const LOW: f64 = 0.6;
/// gslbd's probe interval and fall (the VIP probe) and feedback poll interval, in ms.
const PROBE_MS: u64 = 200;
const FALL: u64 = 2;
const FEED_MS: u64 = 200;

/// Each region and its location (latitude, longitude).
const REGIONS: [(&str, [f64; 2]); 3] = [("eu", [51.5, -0.1]), ("us", [39.0, -77.5]), ("ap", [1.3, 103.8])];

/// GeoIP: 10.0.0.0/8 is in London (eu), 10.200.0.0/16 in Virginia (us), 10.201.0.0/16 in
/// Singapore (ap). From London the next nearest region is us, then ap.
const SITES_CSV: &str = "network,country,latitude,longitude\n10.0.0.0/8,GB,51.5,-0.1\n\
                         10.200.0.0/16,US,39.0,-77.5\n10.201.0.0/16,SG,1.3,103.8\n";

/// The zone and the pool file gslbd serves on top of `tiers` (also shown in README.md).
fn pool_file(tiers: &Tiers) -> String {
    let mut p = format!(
        r#"[names]
www = "web"

# hand-off 1: the answer is the region's HAProxy VIP, probed on its port
[probe.vip]
kind = "tcp"
port = {port}
interval_ms = {PROBE_MS}
timeout_ms = 150
rise = 2
fall = {FALL}

[pool.web]
ttl = 30
region_policy = "nearest"
"#,
        port = tiers.vip_port
    );
    for r in &tiers.regions {
        p.push_str(&format!(
            r#"
[feedback.{name}]
kind = "haproxy"
url = "{url}"
frontend = "web"
backend = "web_servers"
interval_ms = {FEED_MS}
stale_after_ms = 1000
"#,
            name = r.name,
            url = r.stats_url()
        ));
    }
    for (name, [lat, lon]) in REGIONS {
        let vip = tiers.regions.iter().find(|r| r.name == name).unwrap().vip.ip();
        p.push_str(&format!(
            r#"
[pool.web.region.{name}]
location = [{lat}, {lon}]
members = [{{ address = "{vip}" }}]
probe = "vip"
feedback = "{name}"
capacity = {CAPACITY}
high_watermark = {HIGH}
low_watermark = {LOW}
"#
        ));
    }
    p
}

/// Three regional tiers and gslbd on top, every region usable, fed and fresh.
struct Setup {
    srv: GslbdServer,
    tiers: Tiers,
    _geo: TempDir,
}

impl Setup {
    fn start() -> Option<Setup> {
        let tiers = Tiers::start(&["eu", "us", "ap"])?;
        let geo = TempDir::new("regional-geo");
        geo.write("sites.csv", SITES_CSV);
        let out = Command::new(env!("CARGO_BIN_EXE_gslbd"))
            .args(["mmdb-build", "sites.csv", "-o", "sites.mmdb"])
            .current_dir(geo.path())
            .output()
            .expect("gslbd mmdb-build");
        assert!(out.status.success(), "mmdb-build: {}", String::from_utf8_lossy(&out.stderr));
        let config = format!(
            r#"[server]
listen = ["127.0.0.1:0"]
health_startup_wait_ms = 3000

[admin]
listen = "127.0.0.1:0"

[geoip]
database = "{}"

[[zone]]
origin = "{ZONE}"
file = "gslb.test.zone"
pools = "gslb.test.pools.toml"
"#,
            geo.path().join("sites.mmdb").display()
        );
        let zone = "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n";
        let pools = pool_file(&tiers);
        let srv = GslbdServer::start(&config, &[("gslb.test.zone", zone), ("gslb.test.pools.toml", &pools)]);
        let s = Setup { srv, tiers, _geo: geo };
        s.wait_feedback("every feed fresh, 2 backends up, no shedding", Duration::from_secs(10), |f| {
            ["eu", "us", "ap"].iter().all(|r| {
                let f = &f[*r];
                f["state"] == "fresh" && f["backends_up"] == 2 && f["shed"] == 0.0
            })
        });
        Some(s)
    }

    fn dns(&self) -> SocketAddr {
        self.srv.addr()
    }

    /// `/status` → region name → its `feedback` object (zone gslb.test., pool web).
    fn feedback(&self) -> serde_json::Map<String, serde_json::Value> {
        let (code, body) = http(self.srv.admin(), "GET", "/status", None);
        assert_eq!(code, 200, "/status: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("/status JSON: {e}: {body}"));
        let zone = v["zones"].as_array().and_then(|z| z.iter().find(|z| z["origin"] == ZONE));
        let pool = zone.and_then(|z| z["pools"].as_array()?.iter().find(|p| p["name"] == "web"));
        let regions =
            pool.and_then(|p| p["regions"].as_array()).unwrap_or_else(|| panic!("no pool web in /status: {body}"));
        regions
            .iter()
            .map(|r| {
                let name = r["name"].as_str().unwrap_or_default().to_string();
                assert!(r.get("feedback").is_some(), "region {name} has no `feedback` field in /status: {r}");
                (name, r["feedback"].clone())
            })
            .collect()
    }

    /// Polls `/status` until `ok(feedback by region)` holds; returns how long it took and the
    /// feedback that satisfied it.
    fn wait_feedback(
        &self,
        what: &str,
        limit: Duration,
        ok: impl Fn(&serde_json::Map<String, serde_json::Value>) -> bool,
    ) -> (Duration, serde_json::Map<String, serde_json::Value>) {
        let start = Instant::now();
        loop {
            let f = self.feedback();
            if ok(&f) {
                return (start.elapsed(), f);
            }
            assert!(
                start.elapsed() < limit,
                "/status: {what} not reached within {limit:?}; feedback now: {}\ngslbd stderr:\n{}",
                serde_json::Value::Object(f),
                self.srv.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The region whose VIP gslbd answers `www` A with for a client in `subnet`, and the ECS
    /// scope of the answer.
    fn region_of(&self, subnet: &str) -> (String, u8) {
        let m = query_udp(self.dns(), &ecs_query(WWW, RecordType::A, Some(subnet)));
        let addrs: Vec<IpAddr> = m.answers.iter().filter_map(|r| r.data.ip_addr()).collect();
        assert_eq!(addrs.len(), 1, "{subnet}: one VIP per answer, got {m:?}");
        let region = self
            .tiers
            .regions
            .iter()
            .find(|r| r.vip.ip() == addrs[0])
            .unwrap_or_else(|| panic!("{subnet}: answer {} is no region's VIP", addrs[0]));
        let scope = ecs_of(&m)
            .first()
            .and_then(|e| e.rsplit('/').next()?.parse().ok())
            .unwrap_or_else(|| panic!("{subnet}: no ECS in the reply {m:?}"));
        (region.name.clone(), scope)
    }

    /// Polls until every subnet of `clients` is answered with `region`'s VIP; returns how long.
    fn wait_region(&self, clients: &[String], region: &str, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let got: Vec<(String, String)> =
                clients.iter().map(|c| (c.clone(), self.region_of(c).0)).filter(|(_, r)| r != region).collect();
            if got.is_empty() {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "after {:?} not every client is in {region}: {got:?}\n/status feedback: {}\ngslbd stderr:\n{}",
                start.elapsed(),
                serde_json::Value::Object(self.feedback()),
                self.srv.stderr()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `/explain` for a client of `www` A.
    fn explain(&self, client: &str) -> String {
        let (code, body) = http(self.srv.admin(), "GET", &format!("/explain?name={WWW}&type=A&client={client}"), None);
        assert_eq!(code, 200, "/explain: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("/explain JSON");
        v["explain"].as_str().unwrap_or_else(|| panic!("no explain text: {body}")).to_string()
    }
}

/// `n` client /24s of the eu catchment (10.0.0.0/8 minus the us and ap /16s).
fn eu_clients(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("10.{}.{}.0/24", 1 + i / 256, i % 256)).collect()
}

fn us_clients() -> Vec<String> {
    (0..8).map(|i| format!("10.200.{i}.0/24")).collect()
}

fn ap_clients() -> Vec<String> {
    (0..8).map(|i| format!("10.201.{i}.0/24")).collect()
}

/// A VIP that loses one of its two web servers still answers, HAProxy routes around it, and
/// the DNS tier changes nothing. When both web servers are down (the feed reports 0 backends up)
/// or the HAProxy itself is down (the VIP probe fails), the region's clients move to the next
/// nearest region, and come back when it recovers.
#[test]
fn backend_vip_and_region_failures_at_the_dns_tier() {
    let Some(mut s) = Setup::start() else { return };
    let eu = eu_clients(64);
    let (us, ap) = (us_clients(), ap_clients());
    s.wait_region(&eu, "eu", Duration::from_secs(2));
    s.wait_region(&us, "us", Duration::from_secs(2));
    s.wait_region(&ap, "ap", Duration::from_secs(2));

    // 1. One nginx of eu stops: L4 handles it.
    s.tiers.region("eu").stop_nginx(0);
    let took = s.tiers.region("eu").haproxy().wait_until("act 1", Duration::from_secs(5), |h| h.backends_up() == 1);
    let (seen, _) = s.wait_feedback("eu backends_up 1", Duration::from_secs(5), |f| f["eu"]["backends_up"] == 1);
    eprintln!("one nginx down: HAProxy marked it DOWN after {took:?}, gslbd's feed showed 1 up {seen:?} later");
    // For longer than the probe and feed need to react (fall × interval + 3 polls): no change.
    let hold = Instant::now();
    while hold.elapsed() < Duration::from_millis(PROBE_MS * FALL + 3 * FEED_MS + 400) {
        for c in &eu {
            assert_eq!(s.region_of(c).0, "eu", "{c}: one nginx down must not move eu's clients");
        }
        let (code, body) = http_get(s.tiers.region("eu").vip, "/").expect("the VIP still answers");
        assert_eq!((code, body.trim()), (200, "eu-web2"));
    }
    let f = s.feedback();
    assert_eq!(f["eu"]["state"], "fresh");
    assert_eq!(f["eu"]["shed"], 0.0, "{f:?}");

    // 2. Both nginx of eu stop: the feed says 0 backends up, eu is down, its clients go to us
    //    (the next nearest); us and ap clients stay.
    s.tiers.region("eu").stop_nginx(1);
    let moved = s.wait_region(&eu, "us", Duration::from_secs(5));
    eprintln!("all nginx of eu down: eu's clients moved to us after {moved:?} (HAProxy fall 2 × 200 ms + feed 200 ms)");
    assert_eq!(s.feedback()["eu"]["backends_up"], 0);
    s.wait_region(&us, "us", Duration::from_secs(1));
    s.wait_region(&ap, "ap", Duration::from_secs(1));

    // ... and back when the web servers return (HAProxy rise 2 × 200 ms, then the next poll).
    s.tiers.region("eu").start_nginx(0);
    s.tiers.region("eu").start_nginx(1);
    let back = s.wait_region(&eu, "eu", Duration::from_secs(5));
    eprintln!("eu's nginx back: its clients returned after {back:?}");

    // 3. eu's HAProxy stops: the VIP probe fails (fall 2 × 200 ms) and eu's clients move to us.
    //    The feed goes stale, which by itself moves nothing; /status says so.
    s.tiers.region("eu").stop_haproxy();
    let moved = s.wait_region(&eu, "us", Duration::from_millis(PROBE_MS * FALL + 2000));
    eprintln!("eu's HAProxy down: its clients moved to us after {moved:?}");
    s.wait_region(&us, "us", Duration::from_secs(1));
    s.wait_feedback("eu feed stale", Duration::from_secs(5), |f| f["eu"]["state"] == "stale");
    s.tiers.region("eu").start_haproxy();
    let back = s.wait_region(&eu, "eu", Duration::from_secs(5));
    eprintln!("eu's HAProxy back: its clients returned after {back:?}");
    s.wait_feedback("eu feed fresh again", Duration::from_secs(5), |f| f["eu"]["state"] == "fresh");
}

/// The eu tier is driven above its high watermark by a bounded load generator (30 sessions on a
/// capacity of 20, high watermark 80%); us holds 4 and ap 10 sessions, so their spare capacities
/// are 16 − 4 = 12 and 16 − 10 = 6. eu sheds a growing, deterministic share of its clients, and
/// the shed clients split between us and ap as 12 : 6 (66.7% / 33.3%, ±5 percentage points).
/// `/status` and `/explain` show the load, the capacity and why eu sheds. When the load goes,
/// eu takes its clients back.
#[test]
fn a_region_above_its_high_watermark_spills_in_proportion_to_spare_capacity() {
    let Some(mut s) = Setup::start() else { return };
    let (eu_load, us_load, ap_load) = (30usize, 4usize, 10usize);
    let limit = Duration::from_secs(45);
    let vip = |s: &mut Setup, r: &str| s.tiers.region(r).vip;
    let _us = HeldConnections::open(vip(&mut s, "us"), us_load, limit);
    let _ap = HeldConnections::open(vip(&mut s, "ap"), ap_load, limit);
    let eu_held = HeldConnections::open(vip(&mut s, "eu"), eu_load, limit);
    for (r, n) in [("eu", eu_load), ("us", us_load), ("ap", ap_load)] {
        s.tiers
            .region(r)
            .haproxy()
            .wait_until(&format!("scur {n}"), Duration::from_secs(5), |h| h.frontend_scur() == n as u32);
    }
    let start = Instant::now();
    // Each fresh sample above the high watermark scales the kept share by 16/30, so the shed
    // share after k samples is 1 − (16/30)^k: past 90% after 4 samples.
    // Polled until the loads read exactly the held sessions: a probe's connection to a VIP is a
    // session too, for an instant, and a sample can catch it.
    let exact = |f: &serde_json::Map<String, serde_json::Value>| {
        [("eu", eu_load), ("us", us_load), ("ap", ap_load)].iter().all(|(r, n)| f[*r]["load"] == *n as f64)
    };
    let (took, f) = s.wait_feedback("eu shedding over 90%", Duration::from_secs(10), |f| {
        f["eu"]["shed"].as_f64().unwrap_or(0.0) > 0.9 && exact(f)
    });
    eprintln!("eu above its high watermark: shed share over 90% after {took:?}");

    // The /status feedback object of each region.
    let eu = &f["eu"];
    assert_eq!(eu["source"], "eu", "{eu}");
    assert_eq!(eu["state"], "fresh", "{eu}");
    assert_eq!(eu["load"], eu_load as f64, "{eu}");
    assert_eq!(eu["capacity"], CAPACITY, "{eu}");
    assert!((eu["utilization"].as_f64().unwrap() - 1.5).abs() < 1e-9, "{eu}");
    assert_eq!(eu["high_watermark"], HIGH, "{eu}");
    assert_eq!(eu["low_watermark"], LOW, "{eu}");
    assert_eq!(eu["backends_up"], 2, "{eu}");
    let reason = eu["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("high watermark"), "eu's shedding reason: {eu}");
    for (r, load) in [("us", us_load), ("ap", ap_load)] {
        let x = &f[r];
        assert_eq!(
            (x["state"].as_str(), x["load"].as_f64(), x["shed"].as_f64()),
            (Some("fresh"), Some(load as f64), Some(0.0)),
            "{r}: {x}"
        );
    }

    // Count where 1,200 eu client networks go. Expected split of the moved ones: by spare.
    let spare = |load: usize| HIGH * CAPACITY - load as f64;
    let want_us = spare(us_load) / (spare(us_load) + spare(ap_load));
    let clients = eu_clients(1200);
    let shed_before = f["eu"]["shed"].as_f64().unwrap();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut moved_example = None;
    for c in &clients {
        let (region, scope) = s.region_of(c);
        if region != "eu" {
            assert_eq!(scope, 24, "{c}: a shed decision is scoped to the hashed /24");
            moved_example.get_or_insert_with(|| (c.clone(), region.clone()));
        }
        *counts.entry(region).or_default() += 1;
    }
    // The spares did not change while counting: the loads are still exactly the held ones.
    let (_, f) = s.wait_feedback("the held loads, after counting", Duration::from_secs(2), exact);
    let shed_after = f["eu"]["shed"].as_f64().unwrap();
    let n = |r: &str| counts.get(r).copied().unwrap_or(0) as f64;
    let moved = n("us") + n("ap");
    let moved_share = moved / clients.len() as f64;
    let us_share = n("us") / moved;
    eprintln!(
        "1200 eu clients: {counts:?} (moved {:.1}%, eu shed {:.3}..{:.3}); of the moved: us {:.1}% (want {:.1}%), ap {:.1}% ({:?} after the load started)",
        moved_share * 100.0,
        shed_before,
        shed_after,
        us_share * 100.0,
        want_us * 100.0,
        (1.0 - us_share) * 100.0,
        start.elapsed()
    );
    assert!(
        moved_share >= shed_before - 0.05 && moved_share <= shed_after + 0.05,
        "the moved share {moved_share:.3} is eu's shed share {shed_before:.3}..{shed_after:.3}: {counts:?}"
    );
    assert!(
        (us_share - want_us).abs() <= 0.05,
        "shed clients to us {:.1}%, want {:.1}% ± 5 pp (spares us {} ap {}): {counts:?}",
        us_share * 100.0,
        want_us * 100.0,
        spare(us_load),
        spare(ap_load)
    );

    // /explain shows the load, the capacity, why eu sheds, and where a shed client went.
    let (client, went) = moved_example.expect("some client moved");
    let text = s.explain(&client);
    for want in [
        "feedback eu: load 30/20 (150%), watermarks 60%/80%, backends 2 up, fresh",
        "feedback us: load 4/20 (20%)",
        "feedback ap: load 10/20 (50%)",
        "load above high watermark",
        "shedding",
    ] {
        assert!(text.contains(want), "missing {want:?} in /explain for {client}:\n{text}");
    }
    assert!(
        text.lines().any(|l| l.contains(&went) && (l.contains("shed") || l.contains("spill"))),
        "/explain for {client} does not say it spilled to {went}:\n{text}"
    );

    eprintln!("/status feedback of eu: {}\n/explain for {client}:\n{text}", f["eu"]);

    // `gslbd explain` on the command line polls each feed once: the same live load, and the
    // shed share of a first controller step from 0 (1 − 16/30 = 47%).
    let cli = Command::new(env!("CARGO_BIN_EXE_gslbd"))
        .args(["explain", "--config"])
        .arg(s.srv.dir().join("gslbd.toml"))
        .args([WWW, "A", "--client", &client])
        .current_dir(s.srv.dir())
        .output()
        .expect("gslbd explain");
    let cli_text = String::from_utf8_lossy(&cli.stdout);
    assert!(cli.status.success(), "gslbd explain: {}", String::from_utf8_lossy(&cli.stderr));
    for want in [
        "feedback eu: load 30/20 (150%), watermarks 60%/80%, backends 2 up, fresh",
        "shedding 47%: load above high watermark",
        "feedback us: load 4/20 (20%), watermarks 60%/80%, backends 2 up, fresh",
        "feedback ap: load 10/20 (50%), watermarks 60%/80%, backends 2 up, fresh",
    ] {
        assert!(cli_text.contains(want), "missing {want:?} in gslbd explain:\n{cli_text}");
    }

    // The load goes: below the low watermark eu returns in 4 steps of 25%, and its clients come back.
    drop(eu_held);
    let start = Instant::now();
    let sample: Vec<String> = clients.iter().step_by(10).cloned().collect();
    let back = s.wait_region(&sample, "eu", Duration::from_secs(5));
    eprintln!("eu's load gone: its clients back after {back:?} (staged return, 4 polls of {FEED_MS} ms)");
    assert!(start.elapsed() >= Duration::from_millis(2 * FEED_MS), "the return is staged, not instant");
    s.wait_feedback("eu not shedding", Duration::from_secs(2), |f| f["eu"]["shed"] == 0.0 && f["eu"]["load"] == 0.0);
}

/// The other two real outputs of the tier, read by gslbd's feeds: nginx `stub_status`
/// (`kind = "nginx"`: load = Active connections) and HAProxy's Prometheus exporter
/// (`kind = "prometheus"`: current sessions of the `web` frontend, active servers of the
/// `web_servers` backend). Connections held to the VIP and to one nginx show up as loads, and a
/// stopped nginx as one backend fewer.
#[test]
fn feeds_read_real_nginx_stub_status_and_haproxy_prometheus_output() {
    let Some(mut tiers) = Tiers::start(&["eu"]) else { return };
    let eu = tiers.region("eu");
    let (vip, web2, stats) = (eu.vip, eu.servers[1], eu.stats);
    let pools = format!(
        r#"[names]
www = "web"

[feedback.prom]
kind = "prometheus"
url = "http://{stats}/metrics"
metric = 'haproxy_frontend_current_sessions{{proxy="web"}}'
backends_metric = 'haproxy_backend_active_servers{{proxy="web_servers"}}'
interval_ms = {FEED_MS}

[feedback.ngx]
kind = "nginx"
url = "http://{web2}/nginx_status"
interval_ms = {FEED_MS}

[pool.web]
region_policy = "failover"
failover_order = ["vip", "web2"]

[pool.web.region.vip]
members = [{{ address = "{vip_ip}" }}]
feedback = "prom"
capacity = 100

[pool.web.region.web2]
members = [{{ address = "{web2_ip}" }}]
feedback = "ngx"
capacity = 100
"#,
        vip_ip = vip.ip(),
        web2_ip = web2.ip()
    );
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n\
         [[zone]]\norigin = \"{ZONE}\"\nfile = \"gslb.test.zone\"\npools = \"gslb.test.pools.toml\"\n"
    );
    let zone = "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n";
    let srv = GslbdServer::start(&config, &[("gslb.test.zone", zone), ("gslb.test.pools.toml", &pools)]);
    let mut s = Setup { srv, tiers, _geo: TempDir::new("regional-nogeo") };

    // 6 sessions on the VIP; 3 connections held to web2 directly, plus the stub_status request
    // itself, which nginx counts as active while it answers it: 4.
    let _vip_load = HeldConnections::open(vip, 6, Duration::from_secs(30));
    let _web_load = HeldConnections::open(web2, 3, Duration::from_secs(30));
    let (took, f) = s.wait_feedback("prometheus load 6 with 2 backends, nginx load 4", Duration::from_secs(5), |f| {
        f["vip"]["state"] == "fresh"
            && f["vip"]["load"] == 6.0
            && f["vip"]["backends_up"] == 2
            && f["web2"]["state"] == "fresh"
            && f["web2"]["load"] == 4.0
    });
    eprintln!("real exporter outputs read after {took:?}: {}", serde_json::Value::Object(f.clone()));
    assert_eq!(f["web2"]["backends_up"], serde_json::Value::Null, "stub_status reports no backends");
    assert_eq!((f["vip"]["source"].as_str(), f["web2"]["source"].as_str()), (Some("prom"), Some("ngx")));

    // One web server stops: HAProxy's exporter reports one active server.
    s.tiers.region("eu").stop_nginx(0);
    s.wait_feedback("prometheus backends 1", Duration::from_secs(5), |f| f["vip"]["backends_up"] == 1);
}
