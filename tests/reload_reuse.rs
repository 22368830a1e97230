//! A reload keeps the compiled zone of every zone whose files did not change: the new
//! snapshot shares the serving one's zone (the same `Arc`, so a reload of a million unchanged
//! records neither rebuilds them nor holds them twice), and rebuilds exactly the zone whose
//! zone file, `$INCLUDE`d file or pool file changed, which then serves what its files say.
//!
//! The reloader of `gslbd serve` in this process (support::reloads), no watcher, no network.
mod support;

use std::sync::Arc;

use gslbd::zone::Zone;
use hickory_proto::rr::Name;
use support::TempDir;
use support::reloads::{Reloads, zone_a, zone_b};

fn pools(addr: &str) -> String {
    format!(
        "[names]\nlb = \"web\"\n\n[pool.web]\nttl = 30\n\n[pool.web.region.eu]\nmembers = [{{ address = \"{addr}\" }}]\n"
    )
}

const CONFIG: &str = "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[[zone]]\norigin = \"a.test.\"\nfile = \"a.zone\"\n\
                      pools = \"a.pools.toml\"\n\n[[zone]]\norigin = \"b.test.\"\nfile = \"b.zone\"\n";

fn zone(s: &Reloads, origin: &str) -> Arc<Zone> {
    s.serving().config.zones.get(&Name::from_ascii(origin).unwrap()).expect("the zone serves").clone()
}

/// Zones a.test. (with an include and a pool file) and b.test. at serial 1, loaded.
fn two_zones(name: &str) -> (TempDir, Reloads) {
    let dir = TempDir::new(name);
    dir.write("a.zone", &zone_a(1));
    dir.write("hosts.inc", "www A 192.0.2.1\n");
    dir.write("a.pools.toml", &pools("198.51.100.10"));
    dir.write("b.zone", &zone_b(1, "198.51.100.1"));
    let s = Reloads::start(&dir.write("gslbd.toml", CONFIG));
    (dir, s)
}

#[test]
fn a_reload_keeps_the_zones_whose_files_did_not_change_and_rebuilds_the_others() {
    let (dir, s) = two_zones("reload-reuse");
    let (a1, b1) = (zone(&s, "a.test."), zone(&s, "b.test."));
    assert_eq!(s.answer("www.a.test."), ["www.a.test. 300 IN A 192.0.2.1"]);
    assert_eq!(s.answer("lb.a.test."), ["lb.a.test. 30 IN A 198.51.100.10"]);

    // Nothing changed: both zones are the serving ones, shared.
    let r = s.reload();
    assert!(r.ok && r.published && !r.changed, "{r:?}");
    assert!(Arc::ptr_eq(&a1, &zone(&s, "a.test.")) && Arc::ptr_eq(&b1, &zone(&s, "b.test.")));
    assert_eq!(s.answer("www.b.test."), ["www.b.test. 300 IN A 198.51.100.1"]);

    // The config file changes, the zones' entries do not (a comment moves them down a line).
    dir.write("gslbd.toml", &format!("# moved\n{CONFIG}"));
    let r = s.reload();
    assert!(r.ok && r.changed, "{r:?}");
    assert!(Arc::ptr_eq(&a1, &zone(&s, "a.test.")) && Arc::ptr_eq(&b1, &zone(&s, "b.test.")));

    // An included file (and the serial of the zone including it) changes: that zone only.
    dir.write("hosts.inc", "www A 192.0.2.2\n");
    dir.write("a.zone", &zone_a(2));
    let r = s.reload();
    assert!(r.ok && r.changed, "{r:?}");
    let a2 = zone(&s, "a.test.");
    assert!(!Arc::ptr_eq(&a1, &a2) && Arc::ptr_eq(&b1, &zone(&s, "b.test.")));
    assert_eq!(s.answer("www.a.test."), ["www.a.test. 300 IN A 192.0.2.2"]);

    // The included file alone changes back with another serial bump in the zone file:
    // rebuilt again (the include's bytes are compared, not only the top file's).
    dir.write("hosts.inc", "www A 192.0.2.3\n");
    dir.write("a.zone", &zone_a(3));
    s.reload();
    assert_eq!(s.answer("www.a.test."), ["www.a.test. 300 IN A 192.0.2.3"]);
    let a3 = zone(&s, "a.test.");
    assert!(!Arc::ptr_eq(&a2, &a3));

    // The pool file changes: the zone it is linked into is rebuilt and answers the new member.
    dir.write("a.pools.toml", &pools("198.51.100.11"));
    let r = s.reload();
    assert!(r.ok && r.changed, "{r:?}");
    assert!(!Arc::ptr_eq(&a3, &zone(&s, "a.test.")) && Arc::ptr_eq(&b1, &zone(&s, "b.test.")));
    assert_eq!(s.answer("lb.a.test."), ["lb.a.test. 30 IN A 198.51.100.11"]);

    // b's file changes: b only.
    let a4 = zone(&s, "a.test.");
    dir.write("b.zone", &zone_b(2, "198.51.100.2"));
    let r = s.reload();
    assert!(r.ok && r.changed, "{r:?}");
    assert!(Arc::ptr_eq(&a4, &zone(&s, "a.test.")) && !Arc::ptr_eq(&b1, &zone(&s, "b.test.")));
    assert_eq!(s.answer("www.b.test."), ["www.b.test. 300 IN A 198.51.100.2"]);
}

#[test]
fn a_zone_kept_for_its_errors_is_reused_once_its_files_are_back() {
    let (dir, s) = two_zones("reload-reuse-kept");
    let b1 = zone(&s, "b.test.");

    // b broken: its previous version serves on, with the error reported.
    dir.write("b.zone", &format!("{}www2 A 300.1.1.1\n", zone_b(1, "198.51.100.1")));
    let r = s.reload();
    assert!(!r.ok && r.published, "{r:?}");
    assert!(Arc::ptr_eq(&b1, &zone(&s, "b.test.")));
    assert_eq!(s.answer("www.b.test."), ["www.b.test. 300 IN A 198.51.100.1"]);

    // The file as it was: no error, and the kept version is the one it describes.
    dir.write("b.zone", &zone_b(1, "198.51.100.1"));
    let r = s.reload();
    assert!(r.ok, "{r:?}");
    assert!(Arc::ptr_eq(&b1, &zone(&s, "b.test.")));
    assert!(s.serving().config.zones.problems().is_empty());
}
