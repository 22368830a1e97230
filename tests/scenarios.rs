//! Steering scenarios as data: every `tests/scenarios/*.toml` is one case (pool file, GeoIP
//! entries, member states, client subnet, query type) with the exact expected answer, ECS scope
//! and TTL. The format is described in `tests/scenarios/README.md`.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use gslbd::config::load_pools;
use gslbd::geo::{Continent, Coordinates, Country, GeoDb, GeoDbBuilder, Location};
use gslbd::pool::{MemberId, MemberTarget};
use gslbd::steer::{Answer, Client, Explain, Family, decide};
use gslbd::util::rng::SplitMix64;
use hickory_proto::rr::{LowerName, Name};
use ipnet::IpNet;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case shows, in one sentence.
    about: String,
    /// The pool file; absent = the shipped zones/gslb.example.com.pools.toml.
    pools: Option<String>,
    /// Owner name relative to gslb.example.com. (default "www").
    name: Option<String>,
    qtype: String,
    /// ECS subnet, or the resolver address as /32 or /128.
    client: String,
    /// Seed of the random source (default 1).
    seed: Option<u64>,
    /// Member addresses or CNAME targets that are down for this case.
    #[serde(default)]
    down: Vec<String>,
    /// The GeoIP database of this case.
    #[serde(default)]
    geo: Vec<GeoEntry>,
    expect: Expect,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct GeoEntry {
    network: String,
    country: Option<String>,
    continent: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// The exact answer set.
    answer: Option<Vec<String>>,
    /// For random policies: every answered address is one of these …
    one_of: Option<Vec<String>>,
    /// … and there are exactly this many.
    count: Option<usize>,
    cname: Option<String>,
    #[serde(default)]
    nodata: bool,
    scope: u8,
    ttl: u32,
    region: Option<String>,
    pool: Option<String>,
    #[serde(default)]
    failed_open: bool,
}

/// The case's GeoIP database, written as a real `.mmdb` with the geo module's builder (IPv6
/// tree, IPv4 under `::/96`) and read back with `GeoDb`, as the server reads its file. `None`
/// when the case lists no `[[geo]]` entries: no database, so no lookup at all.
///
/// Entries are inserted from the shortest prefix to the longest, because a later insert
/// overrides what it covers: the longest prefix wins whatever the order in the case file.
/// The scope a real database gives is the network of the tree node the walk stops at, which
/// for an address inside an entry is that entry's network.
fn geo_db_for(entries: &[GeoEntry]) -> Result<Option<GeoDb>, String> {
    if entries.is_empty() {
        return Ok(None);
    }
    let mut table: Vec<(IpNet, Location)> = Vec::new();
    for e in entries {
        let net: IpNet = e.network.parse().map_err(|err| format!("geo network {}: {err}", e.network))?;
        let coords = match (e.lat, e.lon) {
            (Some(a), Some(o)) => Some(Coordinates::new(a, o).ok_or("geo coordinates")?),
            (None, None) => None,
            _ => return Err(format!("geo {net}: give both lat and lon, or neither")),
        };
        let loc = Location {
            country: e.country.as_deref().map(|c| Country::parse(c).ok_or(format!("country {c}"))).transpose()?,
            continent: e
                .continent
                .as_deref()
                .map(|c| Continent::parse(c).ok_or(format!("continent {c}")))
                .transpose()?,
            coords,
        };
        table.push((net, loc));
    }
    table.sort_by_key(|(n, _)| n.prefix_len());
    let mut builder = GeoDbBuilder::new(6);
    for (net, loc) in &table {
        builder.insert(*net, loc)?;
    }
    let bytes = builder.to_bytes()?;
    // Through a file, opened (memory-mapped) like the server opens its database.
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "gslbd-scenario-{}-{}.mmdb",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, &bytes).map_err(|e| format!("write {}: {e}", path.display()))?;
    let db = GeoDb::open(&path);
    // The map stays valid after the name is removed.
    let _ = std::fs::remove_file(&path);
    db.map(Some)
}

fn run_case(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case: Case = toml::from_str(&text).map_err(|e| format!("bad scenario: {e}"))?;
    let origin = Name::from_ascii("gslb.example.com.").map_err(|e| e.to_string())?;
    let (pool_path, pool_text) = match &case.pools {
        Some(t) => (path.to_path_buf(), t.clone()),
        None => {
            let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("zones/gslb.example.com.pools.toml");
            let t = std::fs::read_to_string(&p).map_err(|e| e.to_string())?;
            (p, t)
        }
    };
    let pools = load_pools(&pool_path, &pool_text, &origin)
        .map_err(|es| es.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))?;
    let qname = Name::from_ascii(case.name.as_deref().unwrap_or("www"))
        .and_then(|n| n.append_domain(&origin))
        .map_err(|e| e.to_string())?;
    let pool = pools.pool_for(&LowerName::new(&qname)).ok_or("name is not pooled")?;
    let family = match case.qtype.as_str() {
        "A" => Family::V4,
        "AAAA" => Family::V6,
        other => return Err(format!("qtype {other}")),
    };
    let subnet: IpNet = case.client.parse().map_err(|e| format!("client: {e}"))?;
    let db = geo_db_for(&case.geo)?;
    // What the server does (dns::steering_client): one lookup of the subnet's address.
    let client = Client { subnet, geo: db.as_ref().map(|g| g.lookup(subnet.addr())) };

    let mut down: Vec<MemberId> = Vec::new();
    for d in &case.down {
        let ids: Vec<MemberId> = pools
            .members()
            .filter(|(_, m)| match &m.target {
                MemberTarget::Address(a) => a.to_string() == *d,
                MemberTarget::Cname(n) => n.to_string() == *d,
            })
            .map(|(id, _)| id)
            .collect();
        if ids.is_empty() {
            return Err(format!("down: no member {d}"));
        }
        down.extend(ids);
    }
    let file = pools.file_health();
    let health = |m: MemberId| !down.contains(&m) && gslbd::pool::HealthView::is_up(&file, m);
    let mut rng = SplitMix64::new(case.seed.unwrap_or(1));
    let mut explain = Explain::new();
    let d = decide(&pools, pool, family, &client, &health, &mut rng, Some(&mut explain));
    // The decision must not depend on whether it is being explained.
    let mut rng2 = SplitMix64::new(case.seed.unwrap_or(1));
    let quiet = decide(&pools, pool, family, &client, &health, &mut rng2, None);

    let mut problems = Vec::new();
    if quiet != d {
        problems.push(format!("decision differs without explain: {quiet:?}"));
    }
    let e = &case.expect;
    let got: BTreeSet<String> = match &d.answer {
        Answer::Addresses(a) => a.as_slice().iter().map(|a| a.to_string()).collect(),
        _ => BTreeSet::new(),
    };
    if let Some(want) = &e.answer {
        let want: BTreeSet<String> = want.iter().cloned().collect();
        if got != want {
            problems.push(format!("answer {got:?}, expected {want:?}"));
        }
    }
    if let Some(pool_of) = &e.one_of
        && let Some(x) = got.iter().find(|a| !pool_of.contains(a))
    {
        problems.push(format!("answer {x} is not one of {pool_of:?}"));
    }
    if let Some(n) = e.count
        && got.len() != n
    {
        problems.push(format!("{} addresses, expected {n}", got.len()));
    }
    match (&e.cname, &d.answer) {
        (Some(want), Answer::Cname(n)) if n.to_string() == *want => {}
        (Some(want), other) => problems.push(format!("answer {other:?}, expected CNAME {want}")),
        (None, Answer::Cname(n)) => problems.push(format!("unexpected CNAME {n}")),
        _ => {}
    }
    if e.nodata != matches!(d.answer, Answer::NoData) {
        problems.push(format!("nodata is {}, expected {}", !e.nodata, e.nodata));
    }
    if e.answer.is_none() && e.one_of.is_none() && e.cname.is_none() && !e.nodata {
        problems.push("the case expects no answer at all: say answer, one_of, cname or nodata".into());
    }
    if d.ecs_scope != e.scope {
        problems.push(format!("scope /{}, expected /{}", d.ecs_scope, e.scope));
    }
    if d.ttl != e.ttl {
        problems.push(format!("ttl {}, expected {}", d.ttl, e.ttl));
    }
    let p = pools.pool(d.pool);
    if let Some(want) = &e.region {
        let got = d.region.and_then(|r| p.and_then(|p| p.region(r))).map(|r| r.name.as_str());
        if got != Some(want.as_str()) {
            problems.push(format!("region {got:?}, expected {want}"));
        }
    }
    if let Some(want) = &e.pool
        && p.map(|p| p.name.as_str()) != Some(want.as_str())
    {
        problems.push(format!("pool {:?}, expected {want}", p.map(|p| &p.name)));
    }
    if d.failed_open != e.failed_open {
        problems.push(format!("failed_open {}, expected {}", d.failed_open, e.failed_open));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n  {}\n--- explain ---\n{explain}", case.about, problems.join("\n  ")))
    }
}

#[test]
fn scenarios() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/scenarios")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "only {} scenarios", files.len());
    let mut failures = Vec::new();
    for f in &files {
        if let Err(e) = run_case(f) {
            failures
                .push(format!("{}: {e}", f.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())));
        }
    }
    println!("{} scenarios, {} failed", files.len(), failures.len());
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
