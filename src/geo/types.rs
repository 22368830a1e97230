//! Location value types shared by `geo` (which produces them) and `steer` (which consumes them).
use std::fmt;

/// An ISO 3166-1 alpha-2 country code, stored upper case ("GB", "US").
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

impl Country {
    /// Parses a two-letter code in any case; anything else is `None`.
    pub fn parse(s: &str) -> Option<Country> {
        let b = s.as_bytes();
        if b.len() == 2 && b[0].is_ascii_alphabetic() && b[1].is_ascii_alphabetic() {
            Some(Country([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]))
        } else {
            None
        }
    }
    /// The two upper-case letters, for a compact copy ([`Country::from_code`] takes them back).
    pub(crate) fn code(self) -> [u8; 2] {
        self.0
    }
    /// The country whose [`Country::code`] is `code`. Only ever given what `code` returned (the
    /// packed record table), so the two letters stay upper-case ASCII; `as_str` would show
    /// anything else as "??" rather than fail.
    pub(crate) fn from_code(code: [u8; 2]) -> Country {
        Country(code)
    }
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The seven continent codes used by MaxMind (and by gdnsd's geoip maps).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Continent {
    AF,
    AN,
    AS,
    EU,
    NA,
    OC,
    SA,
}

impl Continent {
    /// Every continent, in declaration order: `ALL[c as usize] == c`.
    pub(crate) const ALL: [Continent; 7] =
        [Continent::AF, Continent::AN, Continent::AS, Continent::EU, Continent::NA, Continent::OC, Continent::SA];

    pub fn parse(s: &str) -> Option<Continent> {
        Some(match s.to_ascii_uppercase().as_str() {
            "AF" => Continent::AF,
            "AN" => Continent::AN,
            "AS" => Continent::AS,
            "EU" => Continent::EU,
            "NA" => Continent::NA,
            "OC" => Continent::OC,
            "SA" => Continent::SA,
            _ => return None,
        })
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Continent::AF => "AF",
            Continent::AN => "AN",
            Continent::AS => "AS",
            Continent::EU => "EU",
            Continent::NA => "NA",
            Continent::OC => "OC",
            Continent::SA => "SA",
        }
    }
}

/// A point on the globe in degrees. Latitude in [-90, 90], longitude in [-180, 180].
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Coordinates {
    pub lat: f64,
    pub lon: f64,
}

impl Coordinates {
    /// `None` unless both values are finite and in range.
    pub fn new(lat: f64, lon: f64) -> Option<Coordinates> {
        if lat.is_finite() && lon.is_finite() && (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) {
            Some(Coordinates { lat, lon })
        } else {
            None
        }
    }
}

/// Great-circle distance in kilometres (haversine, mean Earth radius 6371.0088 km).
pub fn distance_km(a: Coordinates, b: Coordinates) -> f64 {
    let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
    let dp = p2 - p1;
    let dl = (b.lon - a.lon).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0088 * h.sqrt().min(1.0).asin()
}

/// What the GeoIP database says about one network. Any part may be missing.
#[derive(Copy, Clone, Debug, PartialEq, Default)]
pub struct Location {
    pub country: Option<Country>,
    pub continent: Option<Continent>,
    pub coords: Option<Coordinates>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dublin_to_ashburn_is_about_5450_km() {
        let d = distance_km(Coordinates::new(53.35, -6.26).unwrap(), Coordinates::new(39.04, -77.49).unwrap());
        assert!((d - 5450.0).abs() < 30.0, "{d}");
    }

    #[test]
    fn country_codes_are_two_letters() {
        assert_eq!(Country::parse("gb").unwrap().as_str(), "GB");
        assert!(Country::parse("GBR").is_none());
        assert!(Country::parse("1A").is_none());
    }
}
