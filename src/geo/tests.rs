//! Known-answer tests for the reader and writer: small databases built here with the writer,
//! the committed default database (`geoip/default-country.mmdb`), damaged inputs, and an
//! `#[ignore]`d timing run (`cargo test --release --lib geo::tests::lookup_cost -- --ignored
//! --nocapture`).
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Serialize;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn at(cc: &str, lat: f64, lon: f64) -> Location {
    let c = Country::parse(cc).unwrap();
    Location { country: Some(c), continent: country_continent(c), coords: Coordinates::new(lat, lon) }
}

/// 81.2.69.0/24 London, 10.0.0.0/8 Frankfurt, 10.20.0.0/16 Ashburn, 2001:db8::/32 Tokyo.
fn sample_db() -> GeoDb {
    let mut b = GeoDbBuilder::new(6);
    b.insert(net("81.2.69.0/24"), &at("GB", 51.5074, -0.1278)).unwrap();
    b.insert(net("10.0.0.0/8"), &at("DE", 50.1109, 8.6821)).unwrap();
    b.insert(net("10.20.0.0/16"), &at("US", 39.0438, -77.4874)).unwrap();
    b.insert(net("2001:db8::/32"), &at("JP", 35.6762, 139.6503)).unwrap();
    GeoDb::from_bytes(b.to_bytes().unwrap()).unwrap()
}

#[test]
fn known_answers_and_network_prefixes() {
    let db = sample_db();
    let hit = db.lookup(ip("81.2.69.160"));
    assert_eq!(hit.network, net("81.2.69.0/24"));
    assert_eq!(hit.location, Some(at("GB", 51.5074, -0.1278)));
    assert_eq!(hit.location.unwrap().continent, Some(Continent::EU));

    // 10.20.0.0/16 splits the /8: 10.1.2.3 sits in the /12 node that holds no /16 override.
    let hit = db.lookup(ip("10.1.2.3"));
    assert_eq!(hit.network, net("10.0.0.0/12"));
    assert_eq!(hit.location.unwrap().country, Country::parse("DE"));

    let hit = db.lookup(ip("10.20.30.40"));
    assert_eq!(hit.network, net("10.20.0.0/16"));
    assert_eq!(hit.location.unwrap().country, Country::parse("US"));

    let hit = db.lookup(ip("2001:db8:1::1"));
    assert_eq!(hit.network, net("2001:db8::/32"));
    assert_eq!(hit.location, Some(at("JP", 35.6762, 139.6503)));
}

#[test]
fn ipv4_prefix_of_a_more_specific_hole() {
    // 10.21.0.0 sits next to 10.20.0.0/16 inside 10.0.0.0/8: the tree splits there, so the
    // record is the /8's but the network is the /16 sibling node that holds it.
    let db = sample_db();
    let hit = db.lookup(ip("10.21.0.1"));
    assert_eq!(hit.network, net("10.21.0.0/16"));
    assert_eq!(hit.location.unwrap().country, Country::parse("DE"));
}

#[test]
fn misses_report_the_covering_empty_network() {
    let db = sample_db();
    // 81.2.70.x diverges from 81.2.69.0/24 at bit 23: the empty node is 81.2.70.0/23.
    let hit = db.lookup(ip("81.2.70.1"));
    assert_eq!(hit.location, None);
    assert_eq!(hit.network, net("81.2.70.0/23"));
    // 2001:db9:: diverges from 2001:db8::/32 at the last bit of the /32.
    let hit = db.lookup(ip("2001:db9::1"));
    assert_eq!(hit.location, None);
    assert_eq!(hit.network, net("2001:db9::/32"));
    // Nothing near 192.0.2.0: a short IPv4 prefix, never an IPv6 one.
    let hit = db.lookup(ip("192.0.2.1"));
    assert_eq!(hit.location, None);
    assert!(matches!(hit.network, IpNet::V4(_)), "{}", hit.network);
    assert!(hit.network.contains(&ip("192.0.2.1")));
    assert!(!hit.network.contains(&ip("81.2.69.1")) && !hit.network.contains(&ip("10.0.0.1")));
}

#[test]
fn ipv4_mapped_addresses_are_looked_up_as_ipv4() {
    let db = sample_db();
    let hit = db.lookup(ip("::ffff:10.1.2.3"));
    assert_eq!(hit.network, net("10.0.0.0/12"));
    assert_eq!(hit.location.unwrap().country, Country::parse("DE"));
}

#[test]
fn cached_answers_equal_fresh_ones() {
    let db = sample_db();
    let first: Vec<GeoHit> =
        ["81.2.69.1", "10.1.1.1", "2001:db8::5", "192.0.2.1"].iter().map(|s| db.lookup(ip(s))).collect();
    for _ in 0..3 {
        let again: Vec<GeoHit> =
            ["81.2.69.1", "10.1.1.1", "2001:db8::5", "192.0.2.1"].iter().map(|s| db.lookup(ip(s))).collect();
        assert_eq!(first, again);
    }
    let db = std::sync::Arc::new(db);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let db = std::sync::Arc::clone(&db);
            let first = first.clone();
            std::thread::spawn(move || {
                let ips = ["81.2.69.1", "10.1.1.1", "2001:db8::5", "192.0.2.1"];
                for i in 0..5_000 {
                    let k = (i + t) % ips.len();
                    assert_eq!(db.lookup(ip(ips[k])), first[k]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn ipv4_only_database() {
    let mut b = GeoDbBuilder::new(4);
    b.insert(net("192.0.2.0/24"), &at("AU", -33.86, 151.21)).unwrap();
    assert!(b.insert(net("2001:db8::/32"), &at("AU", -33.86, 151.21)).is_err());
    let db = GeoDb::from_bytes(b.to_bytes().unwrap()).unwrap();
    let hit = db.lookup(ip("192.0.2.77"));
    assert_eq!(hit.network, net("192.0.2.0/24"));
    assert_eq!(hit.location.unwrap().continent, Some(Continent::OC));
    let hit = db.lookup(ip("2001:db8::1"));
    assert_eq!(hit, GeoHit { location: None, network: net("::/0"), asn: None, all_up_network: None, record: None });
}

#[test]
fn flat_schema_from_builder() {
    let mut b = GeoDbBuilder::with_schema(6, writer::Schema::Flat);
    b.insert(net("203.0.113.0/24"), &at("BR", -23.55, -46.63)).unwrap();
    let db = GeoDb::from_bytes(b.to_bytes().unwrap()).unwrap();
    let hit = db.lookup(ip("203.0.113.9"));
    assert_eq!(hit.network, net("203.0.113.0/24"));
    assert_eq!(hit.location, Some(at("BR", -23.55, -46.63)));
}

/// The DB-IP lite layout as shipped by ip-location-db: `float` (f32) coordinates, extra
/// string fields, no continent.
#[derive(Serialize)]
struct DbIpCity<'a> {
    city: &'a str,
    country_code: &'a str,
    latitude: f32,
    longitude: f32,
    postcode: &'a str,
    state1: &'a str,
    state2: &'a str,
    timezone: &'a str,
}

#[derive(Serialize)]
struct FlatCountry<'a> {
    country_code: &'a str,
}

#[derive(Serialize)]
struct Names<'a> {
    en: &'a str,
    de: &'a str,
}

#[derive(Serialize)]
struct MmCountry<'a> {
    geoname_id: u32,
    iso_code: &'a str,
    names: Names<'a>,
}

/// A GeoLite2-Country-like record whose `country` is missing: only `registered_country`.
#[derive(Serialize)]
struct MmRegisteredOnly<'a> {
    registered_country: MmCountry<'a>,
}

#[test]
fn flat_dbip_float_coordinates_and_country_only_records() {
    let mut w = mmdb_writer::Writer::new("DBIP-City-Lite-like");
    let london = DbIpCity {
        city: "London",
        country_code: "GB",
        latitude: 51.5143,
        longitude: -0.0912,
        postcode: "",
        state1: "England",
        state2: "",
        timezone: "",
    };
    w.insert(net("81.2.69.0/24"), &london).unwrap();
    w.insert(net("1.0.16.0/20"), &FlatCountry { country_code: "jp" }).unwrap();
    let reg = MmRegisteredOnly {
        registered_country: MmCountry {
            geoname_id: 2077456,
            iso_code: "AU",
            names: Names { en: "Australia", de: "Australien" },
        },
    };
    w.insert(net("1.128.0.0/11"), &reg).unwrap();
    w.insert(net("198.51.100.0/24"), &FlatCountry { country_code: "not a code" }).unwrap();
    let db = GeoDb::from_bytes(w.to_bytes().unwrap()).unwrap();

    let l = db.lookup(ip("81.2.69.1")).location.unwrap();
    assert_eq!(l.country, Country::parse("GB"));
    assert_eq!(l.continent, Some(Continent::EU));
    let c = l.coords.unwrap();
    assert!((c.lat - 51.5143).abs() < 1e-4 && (c.lon + 0.0912).abs() < 1e-4, "{c:?}");

    let hit = db.lookup(ip("1.0.16.1"));
    assert_eq!(hit.network, net("1.0.16.0/20"));
    let l = hit.location.unwrap();
    assert_eq!(l.country, Country::parse("JP"));
    assert_eq!(l.continent, Some(Continent::AS));
    assert_eq!(l.coords, country_centroid(Country::parse("JP").unwrap()));

    let l = db.lookup(ip("1.128.0.1")).location.unwrap();
    assert_eq!(l.country, Country::parse("AU"));
    assert_eq!(l.continent, Some(Continent::OC));
    assert!(l.coords.is_some());

    // A record with nothing usable is reported as no location, with its network.
    let hit = db.lookup(ip("198.51.100.1"));
    assert_eq!(
        hit,
        GeoHit { location: None, network: net("198.51.100.0/24"), asn: None, all_up_network: None, record: None }
    );
}

#[test]
fn open_reports_path_and_problem() {
    let missing = Path::new("/nonexistent/gslbd-geo.mmdb");
    let e = GeoDb::open(missing).err().unwrap();
    assert!(e.contains("/nonexistent/gslbd-geo.mmdb"), "{e}");
    let dir = std::env::temp_dir().join(format!("gslbd-geo-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.mmdb");
    std::fs::write(&bad, b"this is not a database").unwrap();
    let e = GeoDb::open(&bad).err().unwrap();
    assert!(e.contains("bad.mmdb") && e.contains("MaxMind"), "{e}");
    let good = dir.join("good.mmdb");
    let mut b = GeoDbBuilder::new(6);
    b.insert(net("10.0.0.0/8"), &at("FR", 48.85, 2.35)).unwrap();
    std::fs::write(&good, b.to_bytes().unwrap()).unwrap();
    let db = GeoDb::open(&good).unwrap();
    assert_eq!(db.lookup(ip("10.9.9.9")).network, net("10.0.0.0/8"));
    assert!(db.description().contains("gslbd-City"), "{}", db.description());
    drop(db);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// xorshift64*: deterministic noise without a rand dependency.
struct Noise(u64);
impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn damaged_databases_never_panic() {
    let mut b = GeoDbBuilder::new(6);
    for i in 0..64u32 {
        let n = IpNet::new(IpAddr::from([10, i as u8, 0, 0]), 16).unwrap();
        b.insert(n, &at(["GB", "US", "JP", "AU"][i as usize % 4], 10.0 + f64::from(i), 20.0)).unwrap();
    }
    b.insert(net("2001:db8::/32"), &at("NZ", -41.0, 174.0)).unwrap();
    let good = b.to_bytes().unwrap();
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let probes: Vec<IpAddr> = (0..64)
        .map(|_| IpAddr::from((noise.next() as u32 & 0x0a3f_ffff).to_be_bytes()))
        .chain([
            ip("2001:db8::1"),
            ip("::1"),
            ip("::ffff:10.1.1.1"),
            ip("255.255.255.255"),
            ip("0.0.0.0"),
            ip("ffff::1"),
        ])
        .collect();
    // Truncations.
    for cut in [0, 1, 16, good.len() / 2, good.len() - 1] {
        if let Ok(db) = GeoDb::from_bytes(good[..cut].to_vec()) {
            probes.iter().for_each(|p| assert!(db.lookup(*p).network.contains(&p.to_canonical())));
        }
    }
    // Random byte damage, a few bytes at a time, all over the file.
    for _ in 0..300 {
        let mut bytes = good.clone();
        for _ in 0..1 + noise.next() % 4 {
            let at = (noise.next() % bytes.len() as u64) as usize;
            bytes[at] = noise.next() as u8;
        }
        if let Ok(db) = GeoDb::from_bytes(bytes) {
            let _ = db.description();
            for p in &probes {
                let hit = db.lookup(*p);
                assert_eq!(hit.network.addr().is_ipv4(), p.to_canonical().is_ipv4());
                assert!(hit.network.contains(&p.to_canonical()), "{p} not in {}", hit.network);
            }
        }
    }
    assert!(GeoDb::from_bytes(Vec::new()).is_err());
}

/// A database with a tree and a data section of some size: 2,048 IPv4 /24s in 16 countries
/// with their own coordinates, and 256 IPv6 /48s.
fn bigger_db(shift: usize) -> Vec<u8> {
    let ccs = ["GB", "US", "JP", "AU", "DE", "FR", "BR", "IN", "ZA", "CA", "NZ", "SG", "SE", "ES", "IT", "MX"];
    let mut b = GeoDbBuilder::new(6);
    for i in 0..2048u32 {
        let n = IpNet::new(IpAddr::from((0x5100_0000 + (i << 8)).to_be_bytes()), 24).unwrap();
        let cc = ccs[(i as usize + shift) % ccs.len()];
        b.insert(n, &at(cc, f64::from(i % 90) - 45.0, f64::from(i % 180) - 90.0)).unwrap();
    }
    for i in 0..256u128 {
        let n = IpNet::new(IpAddr::from(((0x2a00u128 << 112) | (i << 80)).to_be_bytes()), 48).unwrap();
        b.insert(n, &at(ccs[(i as usize + shift) % ccs.len()], 10.0, 10.0)).unwrap();
    }
    b.to_bytes().unwrap()
}

#[test]
fn damaged_files_are_refused_whole() {
    let good = bigger_db(0);
    let other = bigger_db(3);
    GeoDb::from_bytes(good.clone()).expect("the undamaged database loads");
    // Truncated anywhere (a copy in progress, a full disk): never loads.
    for cut in [good.len() / 10, good.len() / 2, good.len() - 100, good.len() - 1] {
        let e = GeoDb::from_bytes(good[..cut].to_vec()).err().unwrap_or_else(|| panic!("cut at {cut} loaded"));
        assert!(e.contains("MaxMind DB"), "{e}");
    }
    // A region overwritten in place (dd conv=notrunc with noise), in the tree or in the data.
    let mut noise = Noise(0x005E_ED0F_DA7A);
    for start in [good.len() / 20, good.len() / 5, good.len() / 2, good.len() * 3 / 4] {
        let mut bytes = good.clone();
        for b in &mut bytes[start..start + 512] {
            *b = noise.next() as u8;
        }
        let e = GeoDb::from_bytes(bytes).err().unwrap_or_else(|| panic!("noise at {start} loaded"));
        assert!(e.contains("damaged MaxMind DB") || e.contains("not a valid"), "{e}");
    }
    // A different database's first part copied over the file, which keeps its own tail.
    for part in [other.len() / 4, other.len() / 2] {
        let mut bytes = good.clone();
        bytes[..part].copy_from_slice(&other[..part]);
        assert!(GeoDb::from_bytes(bytes).is_err(), "half of another database over the first {part} bytes loaded");
    }
}

#[test]
fn reopen_keeps_the_database_when_the_bytes_are_the_same() {
    let dir = std::env::temp_dir().join(format!("gslbd-geo-reopen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("db.mmdb");
    std::fs::write(&p, bigger_db(0)).unwrap();
    let first = GeoDb::reopen(&p, None).unwrap();
    let same = GeoDb::reopen(&p, Some(&first)).unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &same), "same bytes: the serving database is kept");
    std::fs::write(&p, bigger_db(1)).unwrap();
    let other = GeoDb::reopen(&p, Some(&first)).unwrap();
    assert!(!std::sync::Arc::ptr_eq(&first, &other), "other bytes: a new database");
    std::fs::write(&p, &bigger_db(1)[..100]).unwrap();
    assert!(GeoDb::reopen(&p, Some(&other)).is_err(), "damaged bytes: an error, whatever serves");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Validation cost on a real database (GSLBD_GEO_DB, e.g. GeoLite2-City), for the report:
/// `cargo test --release --lib validate_cost -- --ignored --nocapture`.
#[test]
#[ignore]
fn validate_cost() {
    let Some(p) = std::env::var("GSLBD_GEO_DB").ok().filter(|p| !p.is_empty()) else {
        println!("SKIP: set GSLBD_GEO_DB to a .mmdb");
        return;
    };
    let bytes = std::fs::read(&p).unwrap();
    let t = tokio::time::Instant::now();
    super::validate::validate(&bytes, &mut |_, _| {}).unwrap();
    println!("{p}: {} bytes validated in {:?}", bytes.len(), t.elapsed());
}

// ---- CSV ----

#[test]
fn csv_compiles_and_reads_back() {
    let csv = "network,country,latitude,longitude\n\
               # Frankfurt office\n\
               10.0.0.0/8, DE, 50.1109, 8.6821\n\
               \n\
               10.20.0.0/16,US,,   # Ashburn: country centroid\n\
               2001:db8::/32,jp,35.6762,139.6503\n\
               192.0.2.7,AU,-33.86,151.21\n";
    let db = GeoDb::from_bytes(csv_to_mmdb(csv, "private.csv").unwrap()).unwrap();
    let hit = db.lookup(ip("10.1.2.3"));
    assert_eq!(hit.network, net("10.0.0.0/12"), "the /16 below splits the /8");
    assert_eq!(hit.location, Some(at("DE", 50.1109, 8.6821)));
    let hit = db.lookup(ip("10.20.1.1"));
    assert_eq!(hit.network, net("10.20.0.0/16"));
    let us = Country::parse("US").unwrap();
    assert_eq!(hit.location.unwrap().coords, country_centroid(us));
    assert_eq!(hit.location.unwrap().continent, Some(Continent::NA));
    assert_eq!(db.lookup(ip("2001:db8::1")).location.unwrap().country, Country::parse("JP"));
    let hit = db.lookup(ip("192.0.2.7"));
    assert_eq!(hit.network, net("192.0.2.7/32"));
    assert_eq!(db.lookup(ip("192.0.2.8")).location, None);
}

#[test]
fn csv_ipv4_network_reads_back_as_itself() {
    let db = GeoDb::from_bytes(csv_to_mmdb("10.0.0.0/8,DE,50.11,8.68\n", "p.csv").unwrap()).unwrap();
    for a in ["10.1.2.3", "::ffff:10.1.2.3", "10.255.255.255", "10.0.0.0"] {
        let hit = db.lookup(ip(a));
        assert_eq!(hit.network, net("10.0.0.0/8"), "{a}");
        assert_eq!(hit.location, Some(at("DE", 50.11, 8.68)), "{a}");
    }
    let hit = db.lookup(ip("11.0.0.1"));
    assert_eq!(
        hit,
        GeoHit { location: None, network: net("11.0.0.0/8"), asn: None, all_up_network: None, record: None }
    );
}

#[test]
fn csv_more_specific_wins_whatever_the_order() {
    let csv = "10.20.0.0/16,US,,\n10.0.0.0/8,DE,,\n";
    let db = GeoDb::from_bytes(csv_to_mmdb(csv, "p.csv").unwrap()).unwrap();
    assert_eq!(db.lookup(ip("10.20.0.1")).location.unwrap().country, Country::parse("US"));
    assert_eq!(db.lookup(ip("10.30.0.1")).location.unwrap().country, Country::parse("DE"));
}

#[test]
fn csv_reports_every_bad_line() {
    let csv = "network,country,latitude,longitude\n\
               10.0.0.0/8,DE,50.1,8.6\n\
               10.1.2.3/8,DE,,\n\
               not-a-net,DE,,\n\
               172.16.0.0/12,Germany,,\n\
               172.16.0.0/12,DE,95,8\n\
               172.16.0.0/12,DE,50,\n\
               172.16.0.0/12,DE,abc,8\n\
               172.16.0.0/12,ZZ,,\n\
               172.16.0.0/12,DE\n\
               10.0.0.0/8,FR,,\n\
               ::ffff:0:0/96,FR,,\n";
    let errs = csv_to_mmdb(csv, "geo/private.csv").unwrap_err();
    let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 8, 9, 10, 11], "{errs:#?}");
    assert!(errs.iter().all(|e| e.file == Path::new("geo/private.csv")));
    assert!(errs[0].message.contains("did you mean 10.0.0.0/8"), "{}", errs[0]);
    assert!(errs[8].message.contains("line 2"), "{}", errs[8]);
    assert_eq!(errs[0].to_string(), format!("geo/private.csv:3: {}", errs[0].message));

    // Once the lines parse, the writer's own refusals (alias ranges) are reported per line.
    let errs = csv_to_mmdb("10.0.0.0/8,DE,,\n::ffff:0:0/96,FR,,\n", "p.csv").unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].line, 2);

    let errs = csv_to_mmdb("# nothing here\n\n", "empty.csv").unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, 0);
}

// ---- the committed default database ----

fn default_db() -> GeoDb {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("geoip/default-country.mmdb");
    GeoDb::open(&path).unwrap()
}

fn country_of(db: &GeoDb, s: &str) -> (String, IpNet) {
    let hit = db.lookup(ip(s));
    (hit.location.and_then(|l| l.country).map(|c| c.to_string()).unwrap_or_default(), hit.network)
}

#[test]
fn default_db_known_countries() {
    let db = default_db();
    for (addr, cc) in [
        ("81.2.69.160", "GB"),
        ("133.0.0.1", "JP"),
        ("1.0.16.1", "JP"),
        ("1.128.0.1", "AU"),
        ("203.2.218.1", "AU"),
        ("18.0.0.1", "US"),
        ("128.103.0.1", "US"),
        ("2400:4050::1", "JP"),
        ("2001:4860:4860::8888", "US"),
    ] {
        let (got, network) = country_of(&db, addr);
        assert_eq!(got, cc, "{addr}");
        assert!(network.contains(&ip(addr)), "{addr} not in {network}");
        assert_eq!(network.addr().is_ipv4(), ip(addr).is_ipv4(), "{addr}: {network}");
    }
    let l = db.lookup(ip("81.2.69.160")).location.unwrap();
    assert_eq!(l.continent, Some(Continent::EU));
    assert_eq!(l.coords, country_centroid(Country::parse("GB").unwrap()));
    // Private space is not in the public database; the miss still has an IPv4 network.
    let hit = db.lookup(ip("10.1.2.3"));
    assert_eq!(hit.location, None);
    assert!(hit.network.contains(&ip("10.1.2.3")) && hit.network.addr().is_ipv4());
    assert!(db.description().contains("country"), "{}", db.description());
}

/// Prints what the test addresses map to, in the default database or in `GSLBD_GEO_DB`
/// (to check a city database's schema): `cargo test --lib print_networks -- --ignored --nocapture`.
#[test]
#[ignore]
fn print_networks() {
    let db = match std::env::var("GSLBD_GEO_DB").ok().filter(|p| !p.is_empty()) {
        Some(p) => GeoDb::open(Path::new(&p)).unwrap(),
        None => default_db(),
    };
    println!("{}", db.description());
    for a in [
        "81.2.69.160",
        "133.0.0.1",
        "1.0.16.1",
        "1.128.0.1",
        "203.2.218.1",
        "18.0.0.1",
        "128.103.0.1",
        "4.2.2.1",
        "2400:4050::1",
        "2001:4860:4860::8888",
        "2001:67c::1",
        "10.1.2.3",
    ] {
        let hit = db.lookup(ip(a));
        println!("{a:>24} -> {:<18} {:?}", hit.network.to_string(), hit.location);
    }
}

/// Lookup cost, for the report (no asserts on time). Run with `--release --ignored --nocapture`.
#[test]
#[ignore]
fn lookup_cost() {
    let path = std::env::var("GSLBD_GEO_BENCH_DB")
        .ok()
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("geoip/default-country.mmdb"));
    let db = GeoDb::open(&path).unwrap();
    println!("{}", db.description());
    let mut noise = Noise(0x1234_5678_9abc_def1);
    let v4: Vec<IpAddr> = (0..1_000_000).map(|_| IpAddr::from((noise.next() as u32).to_be_bytes())).collect();
    let v6: Vec<IpAddr> = (0..1_000_000)
        .map(|_| IpAddr::from(((0x2000u128 << 112) | u128::from(noise.next()) << 64).to_be_bytes()))
        .collect();
    for (name, ips) in [("IPv4 random", &v4), ("IPv6 random 2000::/4", &v6)] {
        for pass in ["cold", "warm"] {
            let t = tokio::time::Instant::now();
            let mut found = 0usize;
            for a in ips.iter() {
                found += usize::from(std::hint::black_box(db.lookup(*a)).location.is_some());
            }
            let ns = t.elapsed().as_nanos() as f64 / ips.len() as f64;
            println!("{name:22} {pass}: {ns:6.1} ns/lookup ({found} with a location)");
        }
    }
}

#[test]
fn ipv4_walks_that_start_from_the_jump_table_find_what_a_whole_walk_finds() {
    // lookup_in starts an IPv4 walk 16 bits down (V4Jump); ScopeMap::prefix and maxminddb's
    // lookup walk from the root: same record, same widest block, on the default database
    // (IPv6 tree: IPv4 below ::/96) and on an IPv4-only one.
    let mut v4 = GeoDbBuilder::new(4);
    // 10.0.0.0/8 is one country over records down to /24: its uniform node is at depth 8,
    // above where the jump lands; 11.20.0.0/16 splits 11.0.0.0/8.
    v4.insert(net("10.0.0.0/8"), &at("DE", 50.1109, 8.6821)).unwrap();
    v4.insert(net("10.20.30.0/24"), &at("DE", 52.52, 13.405)).unwrap();
    v4.insert(net("11.0.0.0/8"), &at("DE", 50.1109, 8.6821)).unwrap();
    v4.insert(net("11.20.0.0/16"), &at("US", 39.0438, -77.4874)).unwrap();
    v4.insert(net("81.2.69.0/24"), &at("GB", 51.5074, -0.1278)).unwrap();
    for db in [default_db(), GeoDb::from_bytes(v4.to_bytes().unwrap()).unwrap()] {
        let map = db.scope_map(|l| l.and_then(|l| l.country)).unwrap();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let fixed = ["10.20.30.40", "10.20.31.1", "11.20.30.40", "11.1.2.3", "81.2.69.1", "0.0.0.0", "255.255.255.255"];
        let random = (0..20_000).map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            IpAddr::V4(std::net::Ipv4Addr::from((x >> 32) as u32))
        });
        for addr in fixed.iter().map(|a| ip(a)).chain(random) {
            let whole = db.lookup(addr);
            let hit = db.lookup_in(addr, Some(&map), None);
            assert_eq!(hit.location, whole.location, "{addr}");
            let wide = map.prefix(addr).unwrap();
            assert!(wide <= whole.network.prefix_len(), "{addr}");
            assert_eq!(hit.network, IpNet::new(addr, wide).unwrap().trunc(), "{addr}");
        }
    }
}

#[test]
fn walks_read_24_28_and_32_bit_records_as_maxminddb_does() {
    // lookup_in's walk reads the tree's records itself, one loop per record size; maxminddb's
    // own lookup is the oracle for the record (location) and the database network.
    for bits in [24u16, 28, 32] {
        for version in [4u8, 6] {
            let mut b = GeoDbBuilder::with_record_size(version, bits);
            b.insert(net("10.0.0.0/8"), &at("DE", 50.1109, 8.6821)).unwrap();
            b.insert(net("10.20.30.0/24"), &at("DE", 52.52, 13.405)).unwrap();
            b.insert(net("11.20.0.0/16"), &at("US", 39.0438, -77.4874)).unwrap();
            b.insert(net("81.2.69.0/24"), &at("GB", 51.5074, -0.1278)).unwrap();
            b.insert(net("128.0.0.0/1"), &at("JP", 35.6762, 139.6503)).unwrap();
            b.insert(net("203.0.113.128/25"), &at("SG", 1.29, 103.85)).unwrap();
            if version == 6 {
                b.insert(net("2001:db8::/32"), &at("FR", 48.8566, 2.3522)).unwrap();
                b.insert(net("2001:db8:1::/48"), &at("GB", 51.5074, -0.1278)).unwrap();
            }
            let db = GeoDb::from_bytes(b.to_bytes().unwrap()).unwrap();
            assert!(db.description().contains(&format!("record_size={bits}")), "{}", db.description());
            let map = db.scope_map(|l| l.and_then(|l| l.country)).unwrap();
            let mut x = 0x2545_F491_4F6C_DD1Du64 ^ u64::from(bits);
            let mut next = || {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                x
            };
            let mut addrs: Vec<IpAddr> =
                (0..5_000).map(|_| IpAddr::V4(std::net::Ipv4Addr::from((next() >> 32) as u32))).collect();
            addrs.extend(["10.20.30.40", "11.20.255.255", "203.0.113.200", "203.0.113.1", "0.0.0.0"].map(ip));
            if version == 6 {
                addrs.extend((0..2_000).map(|_| {
                    let low = u128::from(next()) << 64 | u128::from(next());
                    // Half in 2001:db8::/32, half anywhere.
                    let a = if low & 1 == 0 { 0x2001_0db8u128 << 96 | (low >> 32) } else { low };
                    IpAddr::V6(std::net::Ipv6Addr::from(a))
                }));
                addrs.extend(["2001:db8:1::1", "2001:db8:2::1", "::1"].map(ip));
            }
            for addr in addrs {
                let oracle = db.lookup(addr);
                let hit = db.lookup_in(addr, Some(&map), None);
                assert_eq!(hit.location, oracle.location, "{bits} bits, v{version} tree, {addr}");
                let wide = map.prefix(addr);
                if let Some(wide) = wide {
                    assert!(wide <= oracle.network.prefix_len(), "{bits} bits, {addr}");
                    assert_eq!(hit.network, IpNet::new(addr, wide).unwrap().trunc(), "{bits} bits, {addr}");
                }
                let bare = db.lookup_in(addr, None, None);
                assert_eq!((bare.location, bare.network), (oracle.location, oracle.network), "{bits} bits, {addr}");
            }
        }
    }
}
