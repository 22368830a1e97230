//! The GeoIP database file changed under a running server (`gslbd serve`, the real binary),
//! while a query load checks every answer against the answers allowed at that moment:
//! - `cp new.mmdb live.mmdb` over the live file (in place, same inode): picked up whole;
//! - the live file truncated: the reload fails, the old database keeps serving;
//! - a region of the live file overwritten in place with noise, and another database's first
//!   half copied over it: each reload fails, the old database keeps serving;
//! - finally a valid database renamed into place: picked up.
//!
//! Required: 0 lost and 0 wrong answers, and the process still running. (With the database
//! memory-mapped, the `cp` and the truncation killed the server with SIGBUS.)
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::time::Duration;

use hickory_proto::rr::RecordType;
use support::live::{geo_database, noise, overwrite, reloads, wait_reloads};
use support::load::{Load, Probe};
use support::{GslbdServer, ecs_query, http};

const TOKEN: &str = "geoip-live-token";

const CONFIG: &str = concat!(
    crate::admin_server_toml!(),
    r#"
[geoip]
database = "live.mmdb"

[[zone]]
origin = "gslb.test."
file = "gslb.test.zone"
pools = "gslb.test.pools.toml"
"#
);

const ZONE: &str = crate::gslb_test_zone_head!();

const POOLS: &str = r#"[names]
www = "web"

[pool.web]
ttl = 30
region_policy = "nearest"
member_policy = "all"
default_region = "us"

[pool.web.region.eu]
location = [51.5, -0.1]
geo = { countries = ["GB"] }
members = [ { address = "192.0.2.1" } ]

[pool.web.region.ap]
location = [35.7, 139.7]
geo = { countries = ["JP"] }
members = [ { address = "192.0.2.2" } ]

[pool.web.region.us]
location = [39.0, -77.5]
geo = { countries = ["US"] }
members = [ { address = "192.0.2.3" } ]
"#;

const EU: &str = "NOERROR 192.0.2.1";
const AP: &str = "NOERROR 192.0.2.2";
const US: &str = "NOERROR 192.0.2.3";

#[test]
fn the_live_geoip_file_changed_in_place_costs_no_answer() {
    let a = geo_database("GB", 0);
    let b = geo_database("JP", 40);
    // The database lives in a directory of its own, named by absolute path (it is binary).
    let geo = support::TempDir::new("gslbd-geoip-live");
    let live = geo.path().join("live.mmdb");
    std::fs::write(&live, &a).unwrap();
    let config = CONFIG.replace("\"live.mmdb\"", &format!("{:?}", live.display().to_string()));
    let mut srv = GslbdServer::start(
        &config,
        &[("gslb.test.zone", ZONE), ("gslb.test.pools.toml", POOLS), ("admin.token", TOKEN)],
    );
    let probes: Vec<Probe> = [("gb", "10.1.7.0/24"), ("jp", "10.2.7.0/24"), ("us", "10.3.7.0/24")]
        .iter()
        .flat_map(|(label, net)| {
            let q = ecs_query("www.gslb.test.", RecordType::A, Some(net));
            let udp = Probe { label: label.to_string(), query: q.clone(), tcp: false };
            [udp.clone(), udp, Probe { label: label.to_string(), query: q, tcp: true }]
        })
        .collect();
    let load = Load::start(
        srv.addr(),
        probes,
        &[("gb", &[EU]), ("jp", &[AP]), ("us", &[US])],
        2,
        400,
        Duration::from_secs(120),
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut want = reloads(srv.admin());
    let mut log = Vec::new();

    // 1. cp B over the live file, in place: read whole after the quiet period.
    load.allow("gb", &[EU, AP]);
    std::fs::write(geo.path().join("b.mmdb"), &b).unwrap();
    std::fs::copy(geo.path().join("b.mmdb"), &live).unwrap();
    want.0 += 1;
    log.push(format!("cp over the live file: reloaded ok after {:?}", wait_reloads(srv.admin(), want, "cp")));
    load.wait_for("gb", AP, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(100));
    load.allow("gb", &[AP]);

    // 2. Truncated: the reload fails, B keeps serving.
    std::fs::OpenOptions::new().write(true).open(&live).unwrap().set_len(b.len() as u64 / 2).unwrap();
    want.1 += 1;
    log.push(format!("truncation: reload refused after {:?}", wait_reloads(srv.admin(), want, "truncation")));
    assert_refused(&srv, "truncation");
    std::thread::sleep(Duration::from_secs(1));

    // 3. Whole again (in place), then a region overwritten with noise.
    std::fs::copy(geo.path().join("b.mmdb"), &live).unwrap();
    want.0 += 1;
    wait_reloads(srv.admin(), want, "restore");
    overwrite(&live, b.len() as u64 / 3, &noise(4096, 0x9E37_79B9_7F4A_7C15));
    want.1 += 1;
    log.push(format!("noise over 4 KiB in place: reload refused after {:?}", wait_reloads(srv.admin(), want, "noise")));
    assert_refused(&srv, "noise");
    std::thread::sleep(Duration::from_secs(1));

    // 4. Whole again, then another database's first half copied over it in place.
    std::fs::copy(geo.path().join("b.mmdb"), &live).unwrap();
    want.0 += 1;
    wait_reloads(srv.admin(), want, "restore");
    overwrite(&live, 0, &a[..a.len() / 2]);
    want.1 += 1;
    log.push(format!("half of A over B in place: reload refused after {:?}", wait_reloads(srv.admin(), want, "half")));
    assert_refused(&srv, "half");
    std::thread::sleep(Duration::from_secs(1));

    // 5. A valid database renamed into place: picked up.
    load.allow("gb", &[AP, EU]);
    let tmp = geo.path().join(".live.mmdb.tmp");
    std::fs::write(&tmp, &a).unwrap();
    std::fs::rename(&tmp, &live).unwrap();
    want.0 += 1;
    log.push(format!("atomic replace: reloaded ok after {:?}", wait_reloads(srv.admin(), want, "rename")));
    load.wait_for("gb", EU, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(100));
    load.allow("gb", &[EU]);
    std::thread::sleep(Duration::from_millis(500));

    let report = load.stop();
    assert!(srv.wait_exit(Duration::ZERO).is_none(), "the server exited; stderr:\n{}", srv.stderr());
    for l in &log {
        println!("{l}");
    }
    println!(
        "load: {} sent, {} answered, {} lost, {} wrong; answers {:?}",
        report.sent, report.answered, report.lost, report.wrong, report.by_answer
    );
    assert_eq!((report.lost, report.wrong), (0, 0), "{:?}\nstderr:\n{}", report.samples, srv.stderr());
    assert!(report.answered > 1000, "{report:?}");
}

/// `/status` shows the last reload failed on the GeoIP database, naming it.
fn assert_refused(srv: &GslbdServer, what: &str) {
    let (code, body) = http(srv.admin(), "GET", "/status", None);
    assert_eq!(code, 200);
    let st: serde_json::Value = serde_json::from_str(&body).unwrap();
    let last = &st["last_reload"];
    assert_eq!(last["ok"], false, "{what}: {last}");
    let msg = last["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("geoip.database") && msg.contains("live.mmdb") && msg.contains("MaxMind DB"), "{what}: {msg}");
}
