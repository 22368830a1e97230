//! Memory across reloads (a measurement, run by hand, release only (a debug build takes
//! minutes per load): `cargo test --release --test
//! reload_memory -- --ignored --nocapture`): `gslbd serve` on a zone of 300,000 records and a
//! pool file of 20,000 pools. A reload of the same files shares the serving zone and leaves RSS
//! where it was; a reload of a changed zone builds the new zone beside the old one, and once
//! it serves, the old one's memory goes back to the system (RSS near the figure before).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::time::{Duration, Instant};

use support::GslbdServer;
use support::live::{reloads, wait_reloads};

const CONFIG: &str = "[server]\nlisten = [\"127.0.0.1:0\"]\nudp_workers = 1\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n\
                      [[zone]]\norigin = \"big.test.\"\nfile = \"big.zone\"\n\
                      pools = \"big.pools.toml\"\n";

fn zone(serial: u32, n: u32) -> String {
    let mut z = format!(
        "$ORIGIN big.test.\n$TTL 3600\n@ IN SOA ns1 hostmaster {serial} 7200 900 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n"
    );
    for i in 0..n {
        z.push_str(&format!("h{i} IN A 10.{}.{}.{}\n", (i >> 16) & 255, (i >> 8) & 255, i & 255));
    }
    z
}

fn pools(n: u32) -> String {
    let mut p = String::from("[names]\n");
    for i in 0..n {
        p.push_str(&format!("p{i} = \"pool{i}\"\n"));
    }
    for i in 0..n {
        p.push_str(&format!(
            "\n[pool.pool{i}]\nttl = 30\n[pool.pool{i}.region.eu]\nmembers = [{{ address = \"10.200.{}.{}\" }}]\n",
            (i >> 8) & 255,
            i & 255
        ));
    }
    p
}

/// VmRSS of `pid`, KiB.
fn rss(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches(" kB").trim().parse().unwrap()
}

/// The highest RSS until the reload counters reach `want` (after a SIGHUP when `signal`, else
/// the watcher's), and RSS 3 s after.
fn reload_rss(srv: &GslbdServer, want: (u64, u64), signal: bool) -> (u64, u64) {
    let t = Instant::now();
    let mut peak = 0;
    if signal {
        srv.sighup();
    }
    while reloads(srv.admin()) != want && t.elapsed() < Duration::from_secs(600) {
        peak = peak.max(rss(srv.pid()));
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_reloads(srv.admin(), want, "reload");
    std::thread::sleep(Duration::from_secs(3));
    (peak.max(rss(srv.pid())), rss(srv.pid()))
}

#[test]
#[ignore = "a measurement: run by hand with --ignored --nocapture"]
fn a_reload_does_not_keep_a_second_copy() {
    let (records, npools) = (300_000, 20_000);
    let srv = GslbdServer::start(CONFIG, &[("big.zone", &zone(1, records)), ("big.pools.toml", &pools(npools))]);
    std::thread::sleep(Duration::from_secs(3));
    let before = rss(srv.pid());
    let (peak_same, after_same) = reload_rss(&srv, (1, 0), true);
    // The watcher reloads the changed zone once it has been quiet for a second.
    std::fs::write(srv.dir().join("big.zone"), zone(2, records)).unwrap();
    let (peak_changed, after_changed) = reload_rss(&srv, (2, 0), false);
    println!(
        "{records} records, {npools} pools: RSS {before} KiB serving; reload of the same files: peak {peak_same}, \
         after {after_same} KiB; reload of a changed zone: peak {peak_changed}, after {after_changed} KiB"
    );
    assert!(after_same <= before + before / 10, "the same files: {after_same} KiB after, {before} KiB before");
    assert!(peak_same <= before + before / 5, "the same files: peak {peak_same} KiB, {before} KiB before");
    assert!(after_changed <= before + before / 4, "a changed zone: {after_changed} KiB after, {before} KiB before");
}
