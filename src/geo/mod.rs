//! GeoIP: where a client is. Owns the location types and distances, the MaxMind/flat-schema
//! database reader (the file read whole into memory and validated when loaded, every record
//! decoded then into a table), the built-in country tables (centroids, continents), and the
//! `.mmdb` writer used for operator CSVs and tests.
//!
//! ```text
//! at load:  every record decoded (either schema) ─► gaps filled from countries.rs ─► table
//! client IP / ECS ──► GeoDb::lookup ──► GeoHit { location, network, asn }
//!                       │  one tree walk, then table[data offset]
//!                       └► network = the DB prefix holding the IP (the ECS scope)
//! ```
//!
//! Getting started: `GeoDb::open(Path::new("geoip/default-country.mmdb"))?.lookup(ip)`.
//! The committed default database is country-level (see `geoip/README.md`), so coordinates
//! come from country centroids unless a city database is configured.
mod asn_csv;
mod countries;
mod db;
mod record;
mod records;
mod scope;
mod tree;
mod types;
mod validate;
pub mod writer;

pub use asn_csv::asn_ranges_to_mmdb;
pub use countries::{country_centroid, country_continent};
pub use db::{Asn, GeoDb, GeoHit};
pub use scope::ScopeMap;
pub use types::{Continent, Coordinates, Country, Location, distance_km};
pub use writer::{GeoDbBuilder, Schema, csv_to_mmdb};

#[cfg(test)]
mod tests;
