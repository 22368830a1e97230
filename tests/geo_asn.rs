//! ASN maps against real ASN data: the ip-location-db `asn` lists (RouteViews, RIRs, DB-IP;
//! a sample is committed in tests/fixtures/asn, the whole lists come from geoip/fetch-asn.sh)
//! compiled by `gslbd mmdb-build --asn-ranges`, a pool mapping AS13335 and AS2519 to regions,
//! and for every sampled network: the answer comes from the mapped region and the ECS scope
//! is the network prefix that libmaxminddb's `mmdblookup` (an implementation we did not
//! write) reports for the address. Also: a private CSV-built database with an ASN column,
//! consulted before the public one.
//!
//! The whole lists: `GSLBD_ASN_MMDB=geoip/asn.mmdb GSLBD_ASN_CSV=<asn-ipv4.csv> cargo test
//! --test geo_asn -- --ignored --nocapture`.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use gslbd::config::{self, Snapshot};
use gslbd::dns::respond;
use gslbd::util::rng::SplitMix64;
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use support::served::{have, repo};
use support::{EdnsSpec, QuerySpec, TempDir, ecs_option};

const POOLS: &str = r#"
[names]
www = "web"
[pool.web]
max_answers = 1
member_policy = "all"
default_region = "elsewhere"
[pool.web.region.cloudflare]
geo = { asns = [13335] }
members = [ { address = "10.13.33.5" }, { address = "2001:db8::1333" } ]
[pool.web.region.arteria]
geo = { asns = ["AS2519"] }
members = [ { address = "10.25.19.1" }, { address = "2001:db8::2519" } ]
[pool.web.region.office]
geo = { asns = [64500] }
members = [ { address = "10.64.50.0" } ]
[pool.web.region.elsewhere]
location = [50.1, 8.7]
members = [ { address = "10.0.0.1" }, { address = "2001:db8::1" } ]
"#;

fn snapshot(dir: &TempDir, databases: &str, asn: &str) -> Snapshot {
    dir.write("web.pools.toml", POOLS);
    let r = repo().display();
    let path = dir.write(
        "gslbd.toml",
        &format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n[geoip]\ndatabase = {databases}\nasn_database = {asn}\n\
             [[zone]]\norigin = \"gslb.example.com.\"\nfile = \"{r}/zones/gslb.example.com.zone\"\npools = \"web.pools.toml\"\n"
        ),
    );
    config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// (first address of the answer, ECS scope) for a query from `ip` as a host ECS subnet.
fn ask(snap: &Snapshot, ip: IpAddr) -> (String, u8) {
    let host = if ip.is_ipv4() { 32 } else { 128 };
    let mut q = QuerySpec::new("www.gslb.example.com.", if ip.is_ipv4() { RecordType::A } else { RecordType::AAAA });
    q.edns = Some(EdnsSpec { options: vec![ecs_option(&format!("{ip}/{host}"))], ..EdnsSpec::default() });
    let mut out = Vec::new();
    let bytes = q.to_message(1).to_vec().unwrap();
    let w = respond(
        snap,
        &bytes,
        "127.0.0.1".parse().unwrap(),
        gslbd::dns::Transport::Udp,
        &mut out,
        &mut SplitMix64::new(1),
    )
    .expect("a reply");
    let m = Message::from_vec(&out[..w.len]).unwrap();
    let first = m.answers.first().map(|r| r.data.to_string()).unwrap_or_default();
    let scope = support::ecs_of(&m)[0].rsplit('/').next().unwrap().parse().unwrap();
    (first, scope)
}

/// The prefix libmaxminddb reports for `ip` ("Record prefix length", IPv4 under ::/96).
fn mmdblookup_prefix(db: &Path, ip: IpAddr) -> (u8, Option<u32>) {
    let out = Command::new("mmdblookup").arg("--file").arg(db).args(["--ip", &ip.to_string(), "-v"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let prefix: u8 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Record prefix length:"))
        .unwrap_or_else(|| panic!("mmdblookup {ip}: {text}"))
        .trim()
        .parse()
        .unwrap();
    let asn = text
        .lines()
        .skip_while(|l| !l.contains("\"autonomous_system_number\""))
        .nth(1)
        .and_then(|l| l.split_whitespace().next()?.parse().ok());
    (if ip.is_ipv4() { prefix - 96 } else { prefix }, asn)
}

/// `gslbd mmdb-build --asn-ranges` of the given lists into `dir/asn.mmdb`.
fn build(dir: &TempDir, lists: &[PathBuf]) -> PathBuf {
    let out = dir.path().join("asn.mmdb");
    let r = Command::new(env!("CARGO_BIN_EXE_gslbd"))
        .arg("mmdb-build")
        .arg("--asn-ranges")
        .args(lists)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    out
}

/// Sampled addresses of each range of `asn` in a `start,end,asn,...` list: its start, end
/// and middle.
fn samples(csv: &str, asns: &[u32], limit: usize) -> Vec<(IpAddr, u32)> {
    let mut v = Vec::new();
    for line in csv.lines() {
        let f: Vec<&str> = line.splitn(4, ',').collect();
        let (Ok(s), Ok(e), Ok(a)) = (f[0].parse::<IpAddr>(), f[1].parse::<IpAddr>(), f[2].parse::<u32>()) else {
            continue;
        };
        if !asns.contains(&a) {
            continue;
        }
        let mid = match (s, e) {
            (IpAddr::V4(s), IpAddr::V4(e)) => {
                IpAddr::from(std::net::Ipv4Addr::from(((u64::from(u32::from(s)) + u64::from(u32::from(e))) / 2) as u32))
            }
            (IpAddr::V6(s), IpAddr::V6(e)) => {
                IpAddr::from(std::net::Ipv6Addr::from(u128::from(s) / 2 + u128::from(e) / 2))
            }
            _ => continue,
        };
        v.extend([(s, a), (mid, a), (e, a)]);
        if v.len() >= limit {
            break;
        }
    }
    v
}

fn check(snap: &Snapshot, db: &Path, sampled: &[(IpAddr, u32)]) -> usize {
    let mut checked = 0;
    for (ip, asn) in sampled {
        let (prefix, found) = mmdblookup_prefix(db, *ip);
        assert_eq!(found, Some(*asn), "mmdblookup: {ip} is in AS{asn}");
        let (first, scope) = ask(snap, *ip);
        let want = match (asn, ip.is_ipv4()) {
            (13335, true) => "10.13.33.5",
            (13335, false) => "2001:db8::1333",
            (2519, true) => "10.25.19.1",
            (2519, false) => "2001:db8::2519",
            (_, true) => "10.0.0.1",
            (_, false) => "2001:db8::1",
        };
        assert_eq!(first, want, "{ip} (AS{asn})");
        if matches!(asn, 13335 | 2519) {
            assert_eq!(scope, prefix, "{ip} (AS{asn}): the ECS scope is the ASN network's prefix");
        }
        checked += 1;
    }
    checked
}

#[test]
fn asn_maps_send_the_networks_of_an_as_to_its_region_with_the_asn_network_as_scope() {
    if !have("mmdblookup") {
        return;
    }
    let dir = TempDir::new("asn");
    let fixtures = repo().join("tests/fixtures/asn");
    let lists = [fixtures.join("asn-ipv4-sample.csv"), fixtures.join("asn-ipv6-sample.csv")];
    let db = build(&dir, &lists);
    let country = format!("\"{}/geoip/default-country.mmdb\"", repo().display());
    let snap = snapshot(&dir, &country, &format!("\"{}\"", db.display()));
    let mut sampled = Vec::new();
    for l in &lists {
        sampled.extend(samples(&std::fs::read_to_string(l).unwrap(), &[13335, 2519, 15169], 400));
    }
    let n = check(&snap, &db, &sampled);
    println!("{n} sampled addresses of AS13335, AS2519 and AS15169 (IPv4 and IPv6) checked against mmdblookup");
    assert!(n >= 200, "{n}");
    // Explain names the AS and its network.
    let text = gslbd::dns::explain::explain(
        &snap,
        &hickory_proto::rr::Name::from_ascii("www.gslb.example.com.").unwrap(),
        RecordType::A,
        "1.0.0.0/24".parse().unwrap(),
        &mut SplitMix64::new(1),
    );
    assert!(text.contains("asn        AS13335 (network 1.0.0.0/24)"), "{text}");
    assert!(text.contains("geo map: AS13335 (network 1.0.0.0/24) -> cloudflare"), "{text}");
    assert!(text.contains("ecs scope  /24: the ASN database's network 1.0.0.0/24 (an AS map) decided"), "{text}");
}

#[test]
fn a_private_csv_database_with_an_asn_column_is_consulted_before_the_public_ones() {
    let dir = TempDir::new("asn-private");
    let csv = dir.write(
        "sites.csv",
        "network,country,latitude,longitude,asn\n10.64.0.0/16,DE,50.1,8.7,AS64500\n1.0.0.0/26,JP,,,64500\n",
    );
    let private = dir.path().join("sites.mmdb");
    let r =
        Command::new(env!("CARGO_BIN_EXE_gslbd")).arg("mmdb-build").arg(&csv).arg("-o").arg(&private).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let fixtures = repo().join("tests/fixtures/asn");
    let public_asn = build(&dir, &[fixtures.join("asn-ipv4-sample.csv")]);
    let p = private.display();
    let snap = snapshot(
        &dir,
        &format!("[\"{p}\", \"{}/geoip/default-country.mmdb\"]", repo().display()),
        &format!("[\"{p}\", \"{}\"]", public_asn.display()),
    );
    // 1.0.0.1 is Cloudflare's in the public data; the private database says AS64500, /26.
    assert_eq!(ask(&snap, "1.0.0.1".parse().unwrap()), ("10.64.50.0".to_string(), 26));
    // 1.0.0.200 is outside the private /26: the public AS13335; the scope never reaches into
    // the private /26 (the narrowest network consulted: 1.0.0.128/25).
    assert_eq!(ask(&snap, "1.0.0.200".parse().unwrap()), ("10.13.33.5".to_string(), 25));
    assert_eq!(ask(&snap, "10.64.1.1".parse().unwrap()).0, "10.64.50.0");
    // A bad ASN column is reported with its line.
    let bad = dir.write("bad.csv", "10.0.0.0/8,DE,,,AS-x\n");
    let r = Command::new(env!("CARGO_BIN_EXE_gslbd"))
        .arg("mmdb-build")
        .arg(&bad)
        .arg("-o")
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("bad.csv:1: asn \"AS-x\" is not an AS number"), "{:?}", r);
}

#[test]
#[ignore = "needs the whole ASN lists: GSLBD_ASN_MMDB and GSLBD_ASN_CSV (geoip/fetch-asn.sh)"]
fn the_whole_ip_location_db_asn_lists() {
    let (Some(db), Some(csv)) = (std::env::var_os("GSLBD_ASN_MMDB"), std::env::var_os("GSLBD_ASN_CSV")) else {
        println!("SKIP: set GSLBD_ASN_MMDB and GSLBD_ASN_CSV");
        return;
    };
    let dir = TempDir::new("asn-full");
    let db = PathBuf::from(db);
    let country = format!("\"{}/geoip/default-country.mmdb\"", repo().display());
    let snap = snapshot(&dir, &country, &format!("\"{}\"", db.display()));
    let text = std::fs::read_to_string(csv).unwrap();
    let sampled = samples(&text, &[13335, 2519], 3000);
    let n = check(&snap, &db, &sampled);
    println!("{n} sampled addresses of AS13335 and AS2519 from the whole list checked against mmdblookup");
}
