//! Decoding one database record into a [`Location`], for both schemas we read:
//!
//! - MaxMind GeoIP2/GeoLite2 City and Country: `country.iso_code`, `registered_country.iso_code`,
//!   `continent.code`, `location.latitude` / `location.longitude`;
//! - the flat DB-IP / ip-location-db schema: `country_code`, `continent` (or `continent_code`),
//!   `latitude`, `longitude`.
//!
//! Why a hand-written decoder and not `maxminddb::geoip2::City`: the generic structs decode
//! every `names` map and subdivision, which costs several times more than the tree walk. Here
//! codes are parsed straight into fixed-size values while decoding and everything else is
//! skipped, so decoding never allocates. The visitors are lenient about types (a code may be a
//! string or a `{code|iso_code}` map, a coordinate a double, a float, an integer or a string)
//! because vendors differ, and the maxminddb decoder is strict per Rust type.
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::countries::{country_centroid, country_continent};
use super::types::{Continent, Coordinates, Country, Location};

/// Rounds coordinates to whole micro-degrees (about 0.1 m): what the query path reads of every
/// record (the load-time record table holds it this way), so that equal places compare equal.
pub(crate) fn quantize(loc: Location) -> Location {
    Location {
        coords: loc.coords.and_then(|c| Coordinates::new(from_micro(to_micro(c.lat)), from_micro(to_micro(c.lon)))),
        ..loc
    }
}

/// `deg` in whole micro-degrees (the packed record table stores coordinates so).
pub(super) fn to_micro(deg: f64) -> i32 {
    // Coordinates are range-checked (|deg| <= 180), so this never saturates.
    (deg * 1e6).round() as i32
}

/// The degrees of `v` micro-degrees: [`quantize`]'s own conversion, so a packed coordinate
/// comes back as the very `f64` quantize made.
pub(super) fn from_micro(v: i32) -> f64 {
    f64::from(v) / 1e6
}

/// The fields of one record that matter to us, from either schema. Unknown fields are skipped.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawRecord {
    country: Code,
    registered_country: Code,
    continent: Code,
    location: RawCoords,
    country_code: Code,
    continent_code: Code,
    latitude: Number,
    longitude: Number,
    /// GeoLite2-ASN, DB-IP/ip-location-db ASN, and gslbd's own CSV-built databases.
    autonomous_system_number: Number,
}

/// MaxMind's `location` map; the flat schema puts the same two keys at top level.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCoords {
    latitude: Number,
    longitude: Number,
}

impl RawRecord {
    /// The record's autonomous system number, if it has a whole one in 1..=4294967295.
    pub(crate) fn asn(&self) -> Option<u32> {
        let n = self.autonomous_system_number.0?;
        (n.fract() == 0.0 && n >= 1.0 && n <= f64::from(u32::MAX)).then_some(n as u32)
    }

    /// Combines the two schemas; when the record lacks a continent or coordinates, the
    /// built-in country tables fill them in (country databases carry neither).
    /// Without `centroids`, a record without coordinates keeps none.
    pub(crate) fn into_location(self, centroids: bool) -> Location {
        let country = self
            .country
            .0
            .or(self.country_code.0)
            .or(self.registered_country.0)
            .and_then(|c| Country::parse(c.as_str()));
        let continent = self
            .continent
            .0
            .or(self.continent_code.0)
            .and_then(|c| Continent::parse(c.as_str()))
            .or_else(|| country.and_then(country_continent));
        let coords = match (self.location.latitude.0, self.location.longitude.0) {
            (Some(lat), Some(lon)) => Some((lat, lon)),
            _ => match (self.latitude.0, self.longitude.0) {
                (Some(lat), Some(lon)) => Some((lat, lon)),
                _ => None,
            },
        }
        .and_then(|(lat, lon)| Coordinates::new(lat, lon))
        .or_else(|| country.filter(|_| centroids).and_then(country_centroid));
        Location { country, continent, coords }
    }
}

/// A two-letter code kept inline (no allocation). Anything that is not two ASCII letters is
/// treated as absent, so garbage in a database degrades to "unknown", never to an error.
#[derive(Default, Clone, Copy)]
struct Code(Option<TwoLetters>);

#[derive(Clone, Copy)]
struct TwoLetters([u8; 2]);

impl TwoLetters {
    fn parse(s: &str) -> Option<TwoLetters> {
        match s.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(TwoLetters([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => None,
        }
    }
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CodeVisitor)
    }
}

struct CodeVisitor;

impl<'de> Visitor<'de> for CodeVisitor {
    type Value = Code;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a two-letter code or a map with `iso_code`/`code`")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Code, E> {
        Ok(Code(TwoLetters::parse(v)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Code, A::Error> {
        let mut code = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Code => code = map.next_value::<Code>()?.0.or(code),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Code(code))
    }
    // Any other type (number, bool, array) means "no usable code", not a broken record.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Code, E> {
        Ok(Code(None))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Code, E> {
        Ok(Code(None))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Code, E> {
        Ok(Code(None))
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Code, E> {
        Ok(Code(None))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Code, E> {
        Ok(Code(None))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Code, E> {
        Ok(Code(None))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Code, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Code(None))
    }
}

/// Map keys inside a `country`/`continent` map: only the code matters.
enum Key {
    Code,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(if v == "iso_code" || v == "code" { Key::Code } else { Key::Other })
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A coordinate stored as double, float, integer or numeric string.
#[derive(Default, Clone, Copy)]
struct Number(Option<f64>);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl<'de> Visitor<'de> for NumberVisitor {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(Some(v)))
            }
            fn visit_f32<E: de::Error>(self, v: f32) -> Result<Number, E> {
                Ok(Number(Some(f64::from(v))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(Some(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(Some(v as f64)))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Number, E> {
                Ok(Number(Some(v as f64)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Number, E> {
                Ok(Number(v.trim().parse().ok()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Number, E> {
                Ok(Number(None))
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Number, E> {
                Ok(Number(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Number, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Number(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Number, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Number(None))
            }
        }
        d.deserialize_any(NumberVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantizing_keeps_six_decimals_and_both_signs() {
        let q = |lat, lon| quantize(Location { country: None, continent: None, coords: Coordinates::new(lat, lon) });
        let c = q(51.5074, -0.1278).coords.unwrap();
        assert_eq!((c.lat, c.lon), (51.5074, -0.1278), "6-decimal values survive quantizing exactly");
        let c = q(-34.600_000_4, -58.380_000_6).coords.unwrap();
        assert_eq!((c.lat, c.lon), (-34.6, -58.380_001));
        assert_eq!(q(0.0, 0.0), quantize(q(0.0, 0.0)));
        assert_eq!(quantize(Location::default()), Location::default());
    }
}
