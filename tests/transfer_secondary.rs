//! gslbd as the secondary of a Knot primary (issue 16, Must-show 2): gslbd transfers the zone
//! (TSIG), overlays the two pooled names of its pool file (steered by ECS, the pool winning
//! over the primary's record at `www`), serves Knot's data for every other name, follows an
//! update on Knot within 1 s (NOTIFY, IXFR), and after Knot is stopped and gslbd restarted it
//! serves its saved copy.
//!
//! Needs `knotd` and `knotc` (Debian `knot`) and `dig` (bind9-dnsutils); SKIP without them.
// Waits on real processes are bounded by wall-clock time.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use support::xfr::*;
use support::*;

const ORIGIN: &str = "gslb.example.com.";
const ZONE: &str = include_str!("../zones/gslb.example.com.zone");
const KEY: &str = "xfr-key";
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn soa_serial(addr: SocketAddr) -> Option<u32> {
    let q = QuerySpec::new(ORIGIN, RecordType::SOA).to_message(rand_id()).to_vec().ok()?;
    let n = normalise(&udp_raw_timeout(addr, &q, Duration::from_millis(300))?);
    n.answer.first()?.split_whitespace().nth(6)?.parse().ok()
}

fn answer(addr: SocketAddr, name: &str, t: RecordType) -> Normal {
    let q = QuerySpec::new(name, t).to_message(rand_id()).to_vec().unwrap();
    normalise(&exchange_udp(addr, &q))
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if ok() {
            return t0.elapsed();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{what}: not within {limit:?}");
}

#[test]
fn gslbd_follows_a_knot_primary_and_overlays_its_pools() {
    let Some(dig_bin) = dig_path() else {
        eprintln!("SKIP: dig not installed (apt-get install bind9-dnsutils)");
        return;
    };
    let work = TempDir::new("gslbd-secondary");
    let key_file = work.write("tsig.key", &bind_key_file(KEY, TSIG_SECRET));
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // A small GeoIP database (gslbd mmdb-build): the repository's 8 MB one would be re-read
    // and hashed by every reload, which in a debug build costs most of the 1 s budget.
    let csv = work
        .write("geo.csv", "81.2.64.0/18,GB,51.51,-0.13\n18.0.0.0/11,US,42.36,-71.06\n1.0.16.0/20,JP,35.68,139.69\n");
    let mmdb = work.path().join("geo.mmdb");
    let built = std::process::Command::new(env!("CARGO_BIN_EXE_gslbd"))
        .arg("mmdb-build")
        .arg("-o")
        .arg(&mmdb)
        .arg(&csv)
        .status();
    assert!(built.is_ok_and(|s| s.success()), "gslbd mmdb-build");
    let (gport, kport) = (free_port(), free_port());
    let gaddr = SocketAddr::from(([127, 0, 0, 1], gport));
    let kaddr = SocketAddr::from(([127, 0, 0, 1], kport));
    // The primary's zone has a record at the pooled name www: the pool wins, reported.
    let primary_zone = format!("{ZONE}\nwww 300 IN A 192.0.2.99\n");
    let Some(knot) = knot_primary(kaddr, ORIGIN, &primary_zone, (KEY, TSIG_SECRET), gaddr) else { return };
    let knot = knot.expect("Knot primary starts");
    let config = format!(
        "[server]\nlisten = [\"{gaddr}\"]\nstate_dir = \"{state}\"\n\n\
         [geoip]\ndatabase = \"{mmdb}\"\n\n\
         [transfer]\nkeys = \"{keys}\"\n\n\
         [[zone]]\norigin = \"{ORIGIN}\"\npools = \"{ROOT}/zones/gslb.example.com.pools.toml\"\n\
         primary = [\"{kaddr}\"]\nprimary_key = \"{KEY}\"\n",
        state = work.path().join("state").display(),
        keys = key_file.display(),
        mmdb = mmdb.display()
    );
    let t0 = Instant::now();
    let g = GslbdServer::start(&config, &[]);
    let first = wait_for("the first transfer", Duration::from_secs(10), || soa_serial(gaddr).is_some());
    println!("gslbd serves the zone {:?} after start ({:?} since launch)", first, t0.elapsed());
    assert_eq!(soa_serial(gaddr), soa_serial(kaddr));

    // Pooled names: steered by the client subnet (dig +subnet), not the primary's 192.0.2.99.
    for (subnet, want) in
        [("81.2.69.0/24", ["198.51.100.1", "198.51.100.2"]), ("18.0.0.0/24", ["192.0.2.1", "192.0.2.2"])]
    {
        let r = dig(&dig_bin, gaddr, &["www.gslb.example.com.", "A", "+norec", &format!("+subnet={subnet}")]);
        let mut got = r.rdata("A");
        got.sort();
        assert_eq!(got, want, "{subnet}:\n{}", r.text);
    }
    let r = dig(&dig_bin, gaddr, &["api.gslb.example.com.", "A", "+norec", "+subnet=1.0.16.0/24"]);
    assert_eq!(r.rdata("A"), ["198.51.100.10"], "{}", r.text);
    let log = log_when(&g, Duration::from_secs(3), |l| l.contains("collides with transferred A records"));
    assert!(log.contains("pooled name www.gslb.example.com. collides with transferred A records"), "{log}");

    // Everything else: Knot's data (the differential table, pooled names aside).
    let mut compared = 0;
    let mut failures = Vec::new();
    for (i, c) in knot_diff_cases().iter().enumerate() {
        if c.exception.is_some() {
            continue;
        }
        let q = c.spec.to_message(0x7000 + i as u16).to_vec().unwrap();
        let ask = |a| if c.tcp { exchange_tcp(a, &q) } else { exchange_udp(a, &q) };
        let (mut k, mut gn) = (normalise(&ask(kaddr)), normalise(&ask(gaddr)));
        for n in [&mut k, &mut gn] {
            if let Some(o) = n.opt.as_mut() {
                o.options.retain(|(code, _)| *code != 15);
            }
        }
        compared += 1;
        let d = diff("knot-primary", &k, "gslbd-secondary", &gn);
        if !d.is_empty() {
            failures.push(format!("--- {}\n  {}", c.line, d.join("\n  ")));
        }
    }
    println!("{compared} queries compared between Knot (primary) and gslbd (secondary)");
    assert!(failures.is_empty(), "{} differ:\n{}", failures.len(), failures.join("\n"));

    // An update on Knot, announced by NOTIFY: gslbd serves it within 1 s.
    let before = soa_serial(kaddr).unwrap();
    let edited =
        primary_zone.replace(&before.to_string(), &(before + 1).to_string()).replace("192.0.2.10", "192.0.2.12");
    std::fs::write(knot.dir().join("primary.zone"), edited).unwrap();
    let out = knotc(&knot, &["zone-reload", ORIGIN]);
    assert!(out.contains("OK"), "knotc: {out}");
    let took = wait_for("the update on gslbd", Duration::from_secs(5), || {
        answer(gaddr, "static.gslb.example.com.", RecordType::A).answer.iter().any(|a| a.ends_with("192.0.2.12"))
    });
    println!("gslbd served Knot's update {took:?} after knotc zone-reload");
    println!(
        "{}",
        g.stderr()
            .lines()
            .filter(|l| l.contains("NOTIFY") || l.contains("transfer") || l.contains("reload"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(took < Duration::from_secs(1), "took {took:?}\ngslbd:\n{}", g.stderr());
    let log = log_when(&g, Duration::from_secs(3), |l| {
        l.contains("NOTIFY received")
            && l.lines().rfind(|x| x.contains("zone transfer in")).is_some_and(|x| x.contains("2026112102"))
    });
    assert!(log.contains("NOTIFY received"), "{log}");
    let last_in = log.lines().rfind(|l| l.contains("zone transfer in")).unwrap_or_default();
    assert!(last_in.contains("kind=\"ixfr\""), "the update came by {last_in}\n{log}");

    // Knot stopped, gslbd restarted: the saved copy serves at once.
    drop(knot);
    drop(g);
    let g2 = GslbdServer::start(&config, &[]);
    assert_eq!(soa_serial(gaddr), Some(before + 1), "after the restart:\n{}", g2.stderr());
    assert!(answer(gaddr, "static.gslb.example.com.", RecordType::A).answer.iter().any(|a| a.ends_with("192.0.2.12")));
}
