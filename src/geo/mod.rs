//! GeoIP: where a client is. Owns the location types, distances, and (to come) the
//! memory-mapped MaxMind/flat-schema database reader with its per-network cache.
mod types;
pub use types::{distance_km, Continent, Coordinates, Country, GeoHit, Location};
