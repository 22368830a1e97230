//! GeoIP databases for the steering tests, written as real `.mmdb` files with gslbd's
//! `GeoDbBuilder` and opened with `GeoDb`, as the server opens its database: the shared fixture
//! (tests/fixtures/geo/steering.toml) and any case's own entries.
//!
//! Entries are inserted from the shortest prefix to the longest, because a later insert
//! overrides what it covers: the longest prefix wins whatever the order in the file. The scope
//! a real database gives is the network of the tree node the walk stops at, which for an
//! address inside an entry is that entry's network.
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use gslbd::geo::{Continent, Coordinates, Country, GeoDb, GeoDbBuilder, Location};
use ipnet::IpNet;
use serde::Deserialize;

/// One `[[geo]]` entry: a network and what the database says of it. An entry with neither
/// country, continent nor coordinates is a known network without location.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct GeoEntry {
    pub network: String,
    pub country: Option<String>,
    pub continent: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GeoFile {
    geo: Vec<GeoEntry>,
}

/// The shared fixture's entries (tests/fixtures/geo/steering.toml).
pub fn steering_geo_entries() -> Vec<GeoEntry> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/geo/steering.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: GeoFile = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    file.geo
}

/// The shared fixture as a database.
pub fn steering_geo_db() -> GeoDb {
    geo_db(&steering_geo_entries()).unwrap_or_else(|e| panic!("tests/fixtures/geo/steering.toml: {e}"))
}

/// `entries` written into a `.mmdb` file and opened (memory-mapped) like the server's database.
pub fn geo_db(entries: &[GeoEntry]) -> Result<GeoDb, String> {
    let mut table: Vec<(IpNet, Location)> = entries.iter().map(entry).collect::<Result<_, _>>()?;
    table.sort_by_key(|(n, _)| n.prefix_len());
    let mut builder = GeoDbBuilder::new(6);
    for (net, loc) in &table {
        builder.insert(*net, loc)?;
    }
    let bytes = builder.to_bytes()?;
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "gslbd-geo-fixture-{}-{}.mmdb",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, &bytes).map_err(|e| format!("write {}: {e}", path.display()))?;
    let db = GeoDb::open(&path);
    // The map stays valid after the name is removed.
    let _ = std::fs::remove_file(&path);
    db
}

fn entry(e: &GeoEntry) -> Result<(IpNet, Location), String> {
    let net: IpNet = e.network.parse().map_err(|err| format!("geo network {}: {err}", e.network))?;
    let coords = match (e.lat, e.lon) {
        (Some(a), Some(o)) => Some(Coordinates::new(a, o).ok_or("geo coordinates")?),
        (None, None) => None,
        _ => return Err(format!("geo {net}: give both lat and lon, or neither")),
    };
    let country = e.country.as_deref().map(|c| Country::parse(c).ok_or(format!("country {c}"))).transpose()?;
    let continent = e.continent.as_deref().map(|c| Continent::parse(c).ok_or(format!("continent {c}"))).transpose()?;
    Ok((net, Location { country, continent, coords }))
}
