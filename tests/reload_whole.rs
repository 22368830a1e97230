//! Reload only what is whole: a zone file written in place in two parts, 300 ms apart, 50
//! times, under a query load of about 500 per second (`gslbd serve`, the real binary, default
//! `[watch] quiet_ms` of 1 s). No half file is ever loaded: 0 wrong answers (the names at the
//! end of the file are never NXDOMAIN), no failed reload, and the whole files are loaded in the
//! pauses between groups of edits. Then a write with a bumped serial is served after the quiet
//! period, and a half file that stays half (serial unchanged) is refused with the file and line
//! of its SOA while the old zone keeps serving.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use support::live::{first_half, reloads, wait_reloads, write_in_place};
use support::load::{Load, Probe};
use support::{GslbdServer, QuerySpec, http};

const CONFIG: &str = r#"
[server]
listen = ["127.0.0.1:0"]
udp_workers = 1

[admin]
listen = "127.0.0.1:0"

[[zone]]
origin = "gslb.test."
file = "gslb.test.zone"
"#;

/// The zone with SOA serial `serial`: 200 filler names, then `last` (at the very end) with
/// `last_addr`.
fn zone(serial: u32, last_addr: &str) -> String {
    let mut z = format!(
        "$ORIGIN gslb.test.\n$TTL 3600\n@ IN SOA ns1 hostmaster {serial} 7200 900 1209600 300\n@ IN NS ns1\n\
         ns1 IN A 192.0.2.53\nfirst IN A 192.0.2.10\n"
    );
    for i in 0..200 {
        z.push_str(&format!("filler{i} IN A 198.51.100.{}\n", i % 250 + 1));
    }
    z.push_str(&format!("last IN A {last_addr}\n"));
    z
}

#[test]
fn two_part_writes_are_never_served_half() {
    let first = zone(1, "192.0.2.99");
    let srv = GslbdServer::start(CONFIG, &[("gslb.test.zone", &first)]);
    let path = srv.dir().join("gslb.test.zone");
    let (old, new) = ("NOERROR 192.0.2.99", "NOERROR 192.0.2.100");
    let probe = |label: &str, name: &str, tcp| Probe {
        label: label.into(),
        query: QuerySpec::new(name, RecordType::A).to_message(0),
        tcp,
    };
    let probes = vec![
        probe("last", "last.gslb.test.", false),
        probe("first", "first.gslb.test.", false),
        probe("filler", "filler199.gslb.test.", false),
        probe("last", "last.gslb.test.", true),
    ];
    let allowed: &[(&str, &[&str])] =
        &[("last", &[old]), ("first", &["NOERROR 192.0.2.10"]), ("filler", &["NOERROR 198.51.100.200"])];
    let load = Load::start(srv.addr(), probes, allowed, 2, 500, Duration::from_secs(180));
    std::thread::sleep(Duration::from_millis(300));
    let mut want = reloads(srv.admin());

    // 50 edits, each the first half then (300 ms later) the whole, with a new serial; 300 ms
    // between edits, and after every 10th a pause longer than the quiet period.
    let started = Instant::now();
    for k in 1..=50u32 {
        let text = zone(1 + k, "192.0.2.99");
        write_in_place(&path, first_half(&text).as_bytes());
        std::thread::sleep(Duration::from_millis(300));
        write_in_place(&path, text.as_bytes());
        std::thread::sleep(Duration::from_millis(300));
        if k % 10 == 0 {
            want.0 += 1;
            wait_reloads(srv.admin(), want, &format!("edit {k}"));
        }
    }
    let edits = started.elapsed();
    assert_eq!(reloads(srv.admin()), want, "only the whole files were loaded, once per pause");

    // A write with a bumped serial and new data: served after the quiet period, not before.
    load.allow("last", &[old, new]);
    let t = Instant::now();
    write_in_place(&path, zone(100, "192.0.2.100").as_bytes());
    load.wait_for("last", new, Duration::from_secs(5));
    let served_after = t.elapsed();
    want.0 += 1;
    wait_reloads(srv.admin(), want, "bumped serial");
    std::thread::sleep(Duration::from_millis(100));
    load.allow("last", &[new]);
    assert!(served_after >= Duration::from_millis(900), "served after {served_after:?}, inside the quiet period");
    assert!(served_after < Duration::from_secs(3), "served after {served_after:?}");

    // Half a file that stays half, serial unchanged: refused, with the SOA's file and line.
    write_in_place(&path, first_half(&zone(100, "192.0.2.100")).as_bytes());
    want.1 += 1;
    wait_reloads(srv.admin(), want, "half with the same serial");
    let (_, body) = http(srv.admin(), "GET", "/status", None);
    let st: serde_json::Value = serde_json::from_str(&body).unwrap();
    let err = &st["last_reload"]["errors"][0];
    assert!(err["file"].as_str().unwrap().ends_with("gslb.test.zone"), "{err}");
    assert_eq!(err["line"], 3, "{err}");
    assert!(err["message"].as_str().unwrap().contains("serial is still 100"), "{err}");
    std::thread::sleep(Duration::from_secs(1));

    let report = load.stop();
    println!(
        "50 two-part edits in {edits:?}; bumped serial served after {served_after:?}; load: {} sent, {} answered, \
         {} lost, {} wrong; {:?}",
        report.sent, report.answered, report.lost, report.wrong, report.by_answer
    );
    assert_eq!((report.lost, report.wrong), (0, 0), "{:?}\nstderr:\n{}", report.samples, srv.stderr());
}
