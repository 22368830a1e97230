//! Building `.mmdb` files: the operator's private-network CSV (`network,country,lat,lon`)
//! compiled into a database, and small known-answer databases for tests.
//!
//! Why we write databases at all: operators steer their own networks (10.0.0.0/8 is the
//! Frankfurt office) with the same code path as public GeoIP, so a CSV becomes an ordinary
//! `.mmdb` that [`GeoDb`](super::GeoDb) reads. Writing is done by the `mmdb-writer` crate;
//! this module only chooses the schema and validates input.
//!
//! Layout notes:
//! - The tree is IPv6 unless asked otherwise; IPv4 networks go under `::/96` (the layout
//!   every MaxMind reader expects), and the writer also aliases `::ffff:0:0/96`, 6to4 and
//!   Teredo to the IPv4 subtree. Those alias ranges therefore cannot be written themselves.
//! - Where networks overlap, the more specific one wins whatever the order of the input:
//!   networks are inserted from shortest to longest prefix.
use std::collections::HashMap;
use std::path::Path;

use ipnet::IpNet;
use mmdb_writer::{IpVersion, Writer};
use serde::Serialize;

use super::countries::{country_centroid, country_continent};
use super::types::{Country, Location};
use crate::diag::ConfigError;

/// Which record layout [`GeoDbBuilder`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schema {
    /// MaxMind GeoIP2 City: `country.iso_code`, `continent.code`, `location.latitude/longitude`.
    MaxMindCity,
    /// DB-IP / ip-location-db flat layout: `country_code`, `continent`, `latitude`, `longitude`.
    Flat,
    /// GeoLite2-ASN layout: `autonomous_system_number`, `autonomous_system_organization`.
    Asn,
}

/// Accumulates `network → location` entries and serializes them as a MaxMind DB.
pub struct GeoDbBuilder {
    writer: Writer,
    ip_version: u8,
    schema: Schema,
}

#[derive(Serialize)]
struct IsoCode<'a> {
    iso_code: &'a str,
}

#[derive(Serialize)]
struct ContinentCode<'a> {
    code: &'a str,
}

#[derive(Serialize)]
struct LatLon {
    latitude: f64,
    longitude: f64,
}

/// The MaxMind City subset we write. `None` fields are left out of the record.
#[derive(Serialize)]
struct CityRecord<'a> {
    country: Option<IsoCode<'a>>,
    continent: Option<ContinentCode<'a>>,
    location: Option<LatLon>,
    autonomous_system_number: Option<u32>,
}

/// The GeoLite2-ASN record.
#[derive(Serialize)]
struct AsnRecord<'a> {
    autonomous_system_number: u32,
    autonomous_system_organization: &'a str,
}

/// The flat DB-IP-style record.
#[derive(Serialize)]
struct FlatRecord<'a> {
    country_code: Option<&'a str>,
    continent: Option<&'a str>,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

impl GeoDbBuilder {
    /// A builder for a MaxMind City-schema database. `ip_version` 4 makes an IPv4-only tree;
    /// any other value makes the usual IPv6 tree that holds both families.
    pub fn new(ip_version: u8) -> Self {
        GeoDbBuilder::with_schema(ip_version, Schema::MaxMindCity)
    }

    /// A builder writing `schema` (the flat schema exists to test the reader against
    /// DB-IP-style files).
    pub fn with_schema(ip_version: u8, schema: Schema) -> Self {
        let (version, ip_version) = if ip_version == 4 { (IpVersion::V4, 4) } else { (IpVersion::V6, 6) };
        let db_type = match schema {
            Schema::MaxMindCity => "gslbd-City",
            Schema::Flat => "gslbd-flat-City",
            Schema::Asn => "gslbd-ASN",
        };
        let writer = Writer::builder(db_type)
            .ip_version(version)
            .description(&[("en", "gslbd GeoIP database built from operator data")])
            .build();
        GeoDbBuilder { writer, ip_version, schema }
    }

    /// A City-schema builder writing records of `bits` (24, 28 or 32) bits, so tests can walk
    /// every layout the MaxMind DB spec allows.
    #[cfg(test)]
    pub(crate) fn with_record_size(ip_version: u8, bits: u16) -> Self {
        use mmdb_writer::RecordSize;
        let version = if ip_version == 4 { IpVersion::V4 } else { IpVersion::V6 };
        let size = match bits {
            24 => RecordSize::Bits24,
            28 => RecordSize::Bits28,
            _ => RecordSize::Bits32,
        };
        let writer = Writer::builder("gslbd-City").ip_version(version).record_size(size).build();
        GeoDbBuilder { writer, ip_version: if ip_version == 4 { 4 } else { 6 }, schema: Schema::MaxMindCity }
    }

    /// Records `loc` for every address in `net` (host bits are ignored). A later insert
    /// overrides what it covers.
    pub fn insert(&mut self, net: IpNet, loc: &Location) -> Result<(), String> {
        self.insert_with_asn(net, loc, None)
    }

    /// [`GeoDbBuilder::insert`] with an autonomous system number in the record (City schema),
    /// so the database also serves as an `asn_database`.
    pub fn insert_with_asn(&mut self, net: IpNet, loc: &Location, asn: Option<u32>) -> Result<(), String> {
        if self.ip_version == 4 && matches!(net, IpNet::V6(_)) {
            return Err(format!("{net}: IPv6 network in an IPv4-only database"));
        }
        let country = loc.country.as_ref().map(Country::as_str);
        let continent = loc.continent.as_ref().map(|c| c.as_str());
        let result = match self.schema {
            Schema::MaxMindCity => self.writer.insert(
                net,
                &CityRecord {
                    country: country.map(|iso_code| IsoCode { iso_code }),
                    continent: continent.map(|code| ContinentCode { code }),
                    location: loc.coords.map(|c| LatLon { latitude: c.lat, longitude: c.lon }),
                    autonomous_system_number: asn,
                },
            ),
            Schema::Asn => self.writer.insert(
                net,
                &AsnRecord { autonomous_system_number: asn.unwrap_or(0), autonomous_system_organization: "" },
            ),
            Schema::Flat => self.writer.insert(
                net,
                &FlatRecord {
                    country_code: country,
                    continent,
                    latitude: loc.coords.map(|c| c.lat),
                    longitude: loc.coords.map(|c| c.lon),
                },
            ),
        };
        result.map_err(|e| format!("{net}: {e}"))
    }

    /// Records AS `asn` of organization `org` for `net` (a builder made with [`Schema::Asn`]).
    pub fn insert_asn(&mut self, net: IpNet, asn: u32, org: &str) -> Result<(), String> {
        if self.ip_version == 4 && matches!(net, IpNet::V6(_)) {
            return Err(format!("{net}: IPv6 network in an IPv4-only database"));
        }
        self.writer
            .insert(net, &AsnRecord { autonomous_system_number: asn, autonomous_system_organization: org })
            .map_err(|e| format!("{net}: {e}"))
    }

    /// The finished database file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        self.writer.to_bytes().map_err(|e| format!("cannot serialize MaxMind DB: {e}"))
    }
}

/// Compiles an operator CSV into a `.mmdb` (IPv6 tree, MaxMind City schema).
///
/// Format, one network per line: `network,country,latitude,longitude[,asn]`. The optional
/// fifth column is the network's autonomous system (`64500` or `AS64500`): the database can
/// then also be listed in `[geoip] asn_database` (an operator's own networks mapped by AS). `#` starts a comment;
/// blank lines are skipped; a first line `network,country,latitude,longitude` is a header.
/// Latitude and longitude are both given or both empty (then the record has none: the reader
/// uses the country's built-in centroid, or the default region; `geoip.missing_coordinates`). A bare address means a host network. Every bad line is reported, with
/// `csv_name` and its 1-based line number.
pub fn csv_to_mmdb(csv_text: &str, csv_name: &str) -> Result<Vec<u8>, Vec<ConfigError>> {
    let file = Path::new(csv_name);
    let err = |line: usize, msg: String| ConfigError::new(file, line, msg);
    let mut errors = Vec::new();
    let mut entries: Vec<(IpNet, Location, Option<u32>, usize)> = Vec::new();
    let mut seen: HashMap<IpNet, usize> = HashMap::new();
    let mut first_data_line = true;

    for (i, raw) in csv_text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let is_first = std::mem::replace(&mut first_data_line, false);
        if is_first && fields.first().is_some_and(|f| f.eq_ignore_ascii_case("network")) {
            continue;
        }
        match parse_line(&fields) {
            Ok((net, loc, asn)) => {
                if let Some(prev) = seen.insert(net, line_no) {
                    errors.push(err(line_no, format!("network {net} is already given on line {prev}")));
                } else {
                    entries.push((net, loc, asn, line_no));
                }
            }
            Err(msg) => errors.push(err(line_no, msg)),
        }
    }
    if errors.is_empty() && entries.is_empty() {
        errors.push(err(0, "no networks: expected lines of `network,country,latitude,longitude`".into()));
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // Shortest prefix first, so a more specific network overrides the broader one it sits in.
    entries.sort_by_key(|(net, _, _, line)| (net.prefix_len(), *line));
    let mut builder = GeoDbBuilder::new(6);
    for (net, loc, asn, line_no) in &entries {
        if let Err(msg) = builder.insert_with_asn(*net, loc, *asn) {
            errors.push(err(*line_no, msg));
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(errors);
    }
    builder.to_bytes().map_err(|msg| vec![err(0, msg)])
}

/// One data line → network, location and AS, or the reason it is wrong.
fn parse_line(fields: &[&str]) -> Result<(IpNet, Location, Option<u32>), String> {
    let (net, country, lat, lon, asn) = match fields {
        [net, country, lat, lon] => (net, country, lat, lon, None),
        [net, country, lat, lon, asn] => (net, country, lat, lon, Some(*asn)),
        _ => {
            return Err(format!(
                "expected 4 or 5 fields `network,country,latitude,longitude[,asn]`, found {}",
                fields.len()
            ));
        }
    };
    let asn = match asn.filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => {
            let digits = a.strip_prefix("AS").or_else(|| a.strip_prefix("as")).unwrap_or(a);
            match digits.parse::<u32>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err(format!("asn {a:?} is not an AS number (1..=4294967295, or AS64500)")),
            }
        }
    };
    let net = parse_network(net)?;
    let country =
        Country::parse(country).ok_or_else(|| format!("country '{country}' is not a two-letter ISO 3166 code"))?;
    let coords = match (lat.is_empty(), lon.is_empty()) {
        // No coordinates are written: the reader places the record at the country's centroid
        // or, with geoip.missing_coordinates = "default-region", nowhere (the default region).
        (true, true) => match country_centroid(country) {
            Some(_) => None,
            None => return Err(format!("no latitude/longitude given and no built-in centroid for country {country}")),
        },
        (false, false) => {
            let la: f64 = lat.parse().map_err(|_| format!("latitude '{lat}' is not a number"))?;
            let lo: f64 = lon.parse().map_err(|_| format!("longitude '{lon}' is not a number"))?;
            if !(-90.0..=90.0).contains(&la) {
                return Err(format!("latitude {la} is outside -90..90"));
            }
            if !(-180.0..=180.0).contains(&lo) {
                return Err(format!("longitude {lo} is outside -180..180"));
            }
            super::types::Coordinates::new(la, lo)
        }
        _ => return Err("give both latitude and longitude, or neither (country centroid)".into()),
    };
    Ok((net, Location { country: Some(country), continent: country_continent(country), coords }, asn))
}

/// A CIDR network with no host bits set, or a bare address (host network).
fn parse_network(s: &str) -> Result<IpNet, String> {
    if let Ok(net) = s.parse::<IpNet>() {
        if net.trunc() != net {
            return Err(format!("network {s} has host bits set; did you mean {}?", net.trunc()));
        }
        return Ok(net);
    }
    s.parse::<std::net::IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("'{s}' is not an IP network (CIDR like 10.0.0.0/8) or address"))
}
