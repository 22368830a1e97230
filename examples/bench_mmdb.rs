//! Builds the GeoIP database of the side-by-side benchmark (`benches/peers/run.sh`) from the
//! same CSV as `gslbd mmdb-build` (`network,country,latitude,longitude`), in the MaxMind City
//! schema plus `location.accuracy_radius`.
//!
//! Why not `gslbd mmdb-build`: PowerDNS's MMDB reader (`queryLocation` in pdns 4.7's
//! geoip backend) returns "no location" for a record without `location.accuracy_radius`,
//! so LUA `pickclosest()` would silently pick at random. gslbd and gdnsd ignore the field.
//!
//!   cargo run --release --example bench_mmdb -- IN.csv OUT.mmdb
use ipnet::IpNet;
use mmdb_writer::{IpVersion, Writer};
use serde::Serialize;

#[derive(Serialize)]
struct Code<'a> {
    code: &'a str,
}
#[derive(Serialize)]
struct Iso<'a> {
    iso_code: &'a str,
}
#[derive(Serialize)]
struct Loc {
    latitude: f64,
    longitude: f64,
    accuracy_radius: u16,
}
#[derive(Serialize)]
struct City<'a> {
    continent: Code<'a>,
    country: Iso<'a>,
    location: Loc,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (input, output) = (&args[1], &args[2]);
    let text = std::fs::read_to_string(input).expect("read CSV");
    let mut rows: Vec<(IpNet, String, String, f64, f64)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("network,") {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let bad = || -> ! { panic!("{input}:{}: bad line", n + 1) };
        if f.len() != 4 {
            bad();
        }
        let net: IpNet = f[0].parse().unwrap_or_else(|_| bad());
        let cc = gslbd::geo::Country::parse(f[1]).unwrap_or_else(|| bad());
        let continent = gslbd::geo::country_continent(cc).unwrap_or_else(|| bad());
        rows.push((
            net,
            f[1].to_string(),
            continent.as_str().to_string(),
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
        ));
    }
    rows.sort_by_key(|r| r.0.prefix_len());
    let mut w = Writer::builder("gslbd-bench-City")
        .ip_version(IpVersion::V6)
        .description(&[("en", "gslbd benchmark GeoIP data")])
        .build();
    for (net, cc, cont, lat, lon) in &rows {
        let rec = City {
            continent: Code { code: cont },
            country: Iso { iso_code: cc },
            location: Loc { latitude: *lat, longitude: *lon, accuracy_radius: 100 },
        };
        w.insert(*net, &rec).expect("insert");
    }
    std::fs::write(output, w.to_bytes().expect("serialize")).expect("write");
    eprintln!("{output}: {} networks", rows.len());
}
