//! Issue 14's reload rules with what issues 13, 18 and 19 brought, where neither side tested
//! the other:
//! - the SOA serial rule (14) with `$INCLUDE` (13): a changed *included* file is changed zone
//!   data, so it needs a new serial in the including zone's SOA; with per-zone isolation (13), a
//!   zone kept at its previous version (its file broken) breaks no serial rule, while a serial
//!   break elsewhere still fails the whole reload and reports both zones' errors; with the
//!   generation rule (18), a reload whose only change is in a broken zone keeps the generation;
//! - GeoIP validation and "an unchanged database keeps the serving copy" (14) with several
//!   location databases and ASN databases (19): every one of them is validated (a damaged ASN
//!   database or second location database fails the reload by name, the old set serving on),
//!   and a reload with every file unchanged keeps the very same set.
//!
//! The reloader of `gslbd serve` in this process (support::reloads), no watcher, no network.
mod support;

use std::net::IpAddr;
use std::sync::Arc;

use gslbd::geo::csv_to_mmdb;
use support::TempDir;
use support::live::{geo_database, noise};
use support::reloads::{Reloads, zone_a, zone_b};

const CONFIG: &str = "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[[zone]]\norigin = \"a.test.\"\nfile = \"a.zone\"\n\n\
                      [[zone]]\norigin = \"b.test.\"\nfile = \"b.zone\"\n";

#[test]
fn an_included_file_is_zone_data_for_the_serial_rule_and_a_kept_zone_breaks_no_rule() {
    let dir = TempDir::new("reload-rules-serial");
    dir.write("a.zone", &zone_a(1));
    dir.write("hosts.inc", "www A 192.0.2.1\n");
    dir.write("b.zone", &zone_b(1, "198.51.100.1"));
    let s = Reloads::start(&dir.write("gslbd.toml", CONFIG));
    assert_eq!(s.answer("www.a.test."), ["www.a.test. 300 IN A 192.0.2.1"]);

    // The included file changes, the including zone's serial does not: refused, at a.zone's SOA.
    dir.write("hosts.inc", "www A 192.0.2.2\n");
    let r = s.reload();
    assert!(!r.ok && !r.published, "{r:?}");
    assert_eq!(r.errors.len(), 1, "{r:?}");
    let e = &r.errors[0];
    assert!(e.file.ends_with("a.zone") && e.line == 3, "{e:?}");
    assert!(e.message.contains("serial is still 1"), "{e:?}");
    assert_eq!(s.answer("www.a.test."), ["www.a.test. 300 IN A 192.0.2.1"], "the old data serves on");

    // With a new serial: loaded, and both files are named as changed.
    dir.write("a.zone", &zone_a(2));
    let r = s.reload();
    assert!(r.ok && r.changed && r.generation == 2, "{r:?}");
    let named = |f: &str| r.changed_files.iter().any(|c| c.ends_with(f));
    assert!(named("a.zone") && named("hosts.inc") && r.changed_files.len() == 2, "{r:?}");
    assert_eq!(s.answer("www.a.test."), ["www.a.test. 300 IN A 192.0.2.2"]);

    // b.zone broken: that zone keeps its previous version (13), which breaks no serial rule;
    // its file is the only change, and a broken zone's files make no new generation (18).
    dir.write("b.zone", &format!("{}www A 300.1.1.1\n", zone_b(1, "198.51.100.1")));
    let r = s.reload();
    assert!(!r.ok && r.published && !r.changed && r.generation == 2, "{r:?}");
    assert!(r.errors.iter().all(|e| e.file.ends_with("b.zone")) && !r.errors.is_empty(), "{r:?}");
    assert_eq!(s.answer("www.b.test."), ["www.b.test. 300 IN A 198.51.100.1"], "b keeps its version");

    // Then a.zone cut before its last line (the SOA there, the data changed, the serial not),
    // with b still broken: the whole reload fails, reporting the serial break first and b's
    // errors beside it.
    let whole = zone_a(2);
    dir.write("a.zone", &whole[..whole.trim_end().rfind('\n').unwrap() + 1]);
    let r = s.reload();
    assert!(!r.ok && !r.published && r.generation == 2, "{r:?}");
    assert!(r.errors[0].file.ends_with("a.zone") && r.errors[0].message.contains("serial is still 2"), "{r:?}");
    assert!(r.errors[1..].iter().any(|e| e.file.ends_with("b.zone")), "{r:?}");
    assert_eq!(s.answer("www.a.test."), ["www.a.test. 300 IN A 192.0.2.2"]);
}

/// A database with 10.1.0.0/16 in `cc` and an ASN column (AS `asn` for 10.1.0.0/16).
fn sites(cc: &str, asn: u32) -> Vec<u8> {
    csv_to_mmdb(&format!("network,country,latitude,longitude,asn\n10.1.0.0/16,{cc},,,{asn}\n"), "sites.csv").unwrap()
}

/// An ASN database: AS64500 for 10.1.0.0/16 and 3,000 filler /24s in other ASes (so the file
/// has a tree and a data section worth damaging).
fn asns() -> Vec<u8> {
    let mut csv = String::from("network,country,latitude,longitude,asn\n10.1.0.0/16,IE,,,64500\n");
    for i in 0..3000u32 {
        let [a, b, c, _] = (0x2c00_0000u32 + (i << 8)).to_be_bytes();
        csv.push_str(&format!("{a}.{b}.{c}.0/24,DE,,,{}\n", 64600 + i % 50));
    }
    csv_to_mmdb(&csv, "asn.csv").unwrap()
}

fn country(s: &Reloads, ip: &str) -> Option<String> {
    let geo = s.serving().config.geo.clone().expect("a GeoIP database");
    geo.lookup(ip.parse::<IpAddr>().unwrap()).location.and_then(|l| l.country).map(|c| c.to_string())
}

fn asn(s: &Reloads, ip: &str) -> Option<u32> {
    let geo = s.serving().config.geo.clone().expect("a GeoIP database");
    geo.lookup(ip.parse::<IpAddr>().unwrap()).asn.map(|a| a.number)
}

#[test]
fn every_database_of_the_chain_is_validated_and_an_unchanged_chain_is_kept() {
    let dir = TempDir::new("reload-rules-geo");
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
    write("sites.mmdb", &sites("IE", 64500));
    write("world.mmdb", &geo_database("GB", 0));
    write("asn.mmdb", &asns());
    let config = "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[geoip]\ndatabase = [\"sites.mmdb\", \"world.mmdb\"]\n\
                  asn_database = \"asn.mmdb\"\n\n[[zone]]\norigin = \"b.test.\"\nfile = \"b.zone\"\n";
    dir.write("b.zone", &zone_b(1, "198.51.100.1"));
    let s = Reloads::start(&dir.write("gslbd.toml", config));
    let first = s.serving().config.geo.clone().unwrap();
    // 10.1/16 from the private database (IE), 10.2/16 from the second one (JP); the AS.
    assert_eq!((country(&s, "10.1.2.3").as_deref(), country(&s, "10.2.2.3").as_deref()), (Some("IE"), Some("JP")));
    assert_eq!(asn(&s, "10.1.2.3"), Some(64500));

    // Nothing changed: the very same set keeps serving (no copy read, nothing validated again).
    let r = s.reload();
    assert!(r.ok, "{r:?}");
    assert!(Arc::ptr_eq(&first, s.serving().config.geo.as_ref().unwrap()), "an unchanged set is kept as it is");

    // Noise written over the middle of the ASN database, then of the second location database
    // (both still parse as MaxMind DB files: only the validation sees the damage): each fails
    // the reload by name, and the old set keeps answering.
    let whole_asn = std::fs::read(dir.path().join("asn.mmdb")).unwrap();
    let mut asn_db = whole_asn.clone();
    let third = asn_db.len() / 3;
    asn_db[third..2 * third].copy_from_slice(&noise(third, 3));
    write("asn.mmdb", &asn_db);
    let r = s.reload();
    assert!(!r.ok && !r.published, "{r:?}");
    let m = &r.errors[0].message;
    assert!(m.starts_with("geoip.asn_database:") && m.contains("asn.mmdb") && m.contains("damaged"), "{m}");
    write("asn.mmdb", &whole_asn);
    let mut world = geo_database("GB", 0);
    let third = world.len() / 3;
    world[third..2 * third].copy_from_slice(&noise(third, 7));
    write("world.mmdb", &world);
    let r = s.reload();
    assert!(!r.ok && !r.published, "{r:?}");
    let m = &r.errors[0].message;
    assert!(m.starts_with("geoip.database:") && m.contains("world.mmdb") && m.contains("damaged"), "{m}");
    assert!(Arc::ptr_eq(&first, s.serving().config.geo.as_ref().unwrap()), "the old set serves on");
    assert_eq!((country(&s, "10.1.2.3").as_deref(), asn(&s, "10.1.2.3")), (Some("IE"), Some(64500)));

    // A new, valid private database: a new set, with the new answer.
    write("world.mmdb", &geo_database("GB", 0));
    write("sites.mmdb", &sites("FR", 64501));
    let r = s.reload();
    assert!(r.ok, "{r:?}");
    assert!(!Arc::ptr_eq(&first, s.serving().config.geo.as_ref().unwrap()));
    assert_eq!((country(&s, "10.1.2.3").as_deref(), country(&s, "10.2.2.3").as_deref()), (Some("FR"), Some("JP")));
    assert_eq!(asn(&s, "10.1.2.3"), Some(64500), "the ASN database did not change");
}
