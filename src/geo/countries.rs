//! Built-in country tables: approximate centroid and continent for every ISO 3166-1 alpha-2
//! code, plus `XK` (Kosovo), which GeoIP vendors use although ISO has not assigned it.
//!
//! Why: country-only databases (the committed default, `geoip/default-country.mmdb`) carry no
//! coordinates and often no continent. Distance steering still needs a point, so a country's
//! point is its approximate geographic centroid (two decimals, a few km). Continents follow
//! GeoNames/MaxMind conventions (RU and CY in EU, TR, GE, AM and AZ in AS, EG in AF).
use super::types::{Continent, Coordinates, Country};
use Continent::{AF, AN, AS, EU, NA, OC, SA};

/// `(code, latitude, longitude, continent)`, sorted by code so lookups can binary-search.
static COUNTRIES: &[(&str, f64, f64, Continent)] = &[
    ("AD", 42.55, 1.6, EU),      // Andorra
    ("AE", 23.42, 53.85, AS),    // United Arab Emirates
    ("AF", 33.94, 67.71, AS),    // Afghanistan
    ("AG", 17.06, -61.8, NA),    // Antigua and Barbuda
    ("AI", 18.22, -63.07, NA),   // Anguilla
    ("AL", 41.15, 20.17, EU),    // Albania
    ("AM", 40.07, 45.04, AS),    // Armenia
    ("AO", -11.2, 17.87, AF),    // Angola
    ("AQ", -75.25, -0.07, AN),   // Antarctica
    ("AR", -38.42, -63.62, SA),  // Argentina
    ("AS", -14.27, -170.13, OC), // American Samoa
    ("AT", 47.52, 14.55, EU),    // Austria
    ("AU", -25.27, 133.78, OC),  // Australia
    ("AW", 12.52, -69.97, NA),   // Aruba
    ("AX", 60.18, 19.92, EU),    // Aland Islands
    ("AZ", 40.14, 47.58, AS),    // Azerbaijan
    ("BA", 43.92, 17.68, EU),    // Bosnia and Herzegovina
    ("BB", 13.19, -59.54, NA),   // Barbados
    ("BD", 23.68, 90.36, AS),    // Bangladesh
    ("BE", 50.5, 4.47, EU),      // Belgium
    ("BF", 12.24, -1.56, AF),    // Burkina Faso
    ("BG", 42.73, 25.49, EU),    // Bulgaria
    ("BH", 26.07, 50.56, AS),    // Bahrain
    ("BI", -3.37, 29.92, AF),    // Burundi
    ("BJ", 9.31, 2.32, AF),      // Benin
    ("BL", 17.9, -62.83, NA),    // Saint Barthelemy
    ("BM", 32.32, -64.76, NA),   // Bermuda
    ("BN", 4.54, 114.73, AS),    // Brunei
    ("BO", -16.29, -63.59, SA),  // Bolivia
    ("BQ", 12.18, -68.24, NA),   // Bonaire, Sint Eustatius and Saba
    ("BR", -14.24, -51.93, SA),  // Brazil
    ("BS", 25.03, -77.4, NA),    // Bahamas
    ("BT", 27.51, 90.43, AS),    // Bhutan
    ("BV", -54.42, 3.41, AN),    // Bouvet Island
    ("BW", -22.33, 24.68, AF),   // Botswana
    ("BY", 53.71, 27.95, EU),    // Belarus
    ("BZ", 17.19, -88.5, NA),    // Belize
    ("CA", 56.13, -106.35, NA),  // Canada
    ("CC", -12.16, 96.87, AS),   // Cocos (Keeling) Islands
    ("CD", -4.04, 21.76, AF),    // Congo (Democratic Republic)
    ("CF", 6.61, 20.94, AF),     // Central African Republic
    ("CG", -0.23, 15.83, AF),    // Congo
    ("CH", 46.82, 8.23, EU),     // Switzerland
    ("CI", 7.54, -5.55, AF),     // Cote d'Ivoire
    ("CK", -21.24, -159.78, OC), // Cook Islands
    ("CL", -35.68, -71.54, SA),  // Chile
    ("CM", 7.37, 12.35, AF),     // Cameroon
    ("CN", 35.86, 104.2, AS),    // China
    ("CO", 4.57, -74.3, SA),     // Colombia
    ("CR", 9.75, -83.75, NA),    // Costa Rica
    ("CU", 21.52, -77.78, NA),   // Cuba
    ("CV", 16.0, -24.01, AF),    // Cabo Verde
    ("CW", 12.17, -68.99, NA),   // Curacao
    ("CX", -10.45, 105.69, AS),  // Christmas Island
    ("CY", 35.13, 33.43, EU),    // Cyprus
    ("CZ", 49.82, 15.47, EU),    // Czechia
    ("DE", 51.17, 10.45, EU),    // Germany
    ("DJ", 11.83, 42.59, AF),    // Djibouti
    ("DK", 56.26, 9.5, EU),      // Denmark
    ("DM", 15.41, -61.37, NA),   // Dominica
    ("DO", 18.74, -70.16, NA),   // Dominican Republic
    ("DZ", 28.03, 1.66, AF),     // Algeria
    ("EC", -1.83, -78.18, SA),   // Ecuador
    ("EE", 58.6, 25.01, EU),     // Estonia
    ("EG", 26.82, 30.8, AF),     // Egypt
    ("EH", 24.22, -12.89, AF),   // Western Sahara
    ("ER", 15.18, 39.78, AF),    // Eritrea
    ("ES", 40.46, -3.75, EU),    // Spain
    ("ET", 9.15, 40.49, AF),     // Ethiopia
    ("FI", 61.92, 25.75, EU),    // Finland
    ("FJ", -16.58, 179.41, OC),  // Fiji
    ("FK", -51.8, -59.52, SA),   // Falkland Islands
    ("FM", 7.43, 150.55, OC),    // Micronesia
    ("FO", 61.89, -6.91, EU),    // Faroe Islands
    ("FR", 46.23, 2.21, EU),     // France
    ("GA", -0.8, 11.61, AF),     // Gabon
    ("GB", 54.0, -2.0, EU),      // United Kingdom
    ("GD", 12.26, -61.6, NA),    // Grenada
    ("GE", 42.32, 43.36, AS),    // Georgia
    ("GF", 3.93, -53.13, SA),    // French Guiana
    ("GG", 49.47, -2.59, EU),    // Guernsey
    ("GH", 7.95, -1.02, AF),     // Ghana
    ("GI", 36.14, -5.35, EU),    // Gibraltar
    ("GL", 71.71, -42.6, NA),    // Greenland
    ("GM", 13.44, -15.31, AF),   // Gambia
    ("GN", 9.95, -9.7, AF),      // Guinea
    ("GP", 16.27, -61.55, NA),   // Guadeloupe
    ("GQ", 1.65, 10.27, AF),     // Equatorial Guinea
    ("GR", 39.07, 21.82, EU),    // Greece
    ("GS", -54.43, -36.59, AN),  // South Georgia and the South Sandwich Islands
    ("GT", 15.78, -90.23, NA),   // Guatemala
    ("GU", 13.44, 144.79, OC),   // Guam
    ("GW", 11.8, -15.18, AF),    // Guinea-Bissau
    ("GY", 4.86, -58.93, SA),    // Guyana
    ("HK", 22.4, 114.11, AS),    // Hong Kong
    ("HM", -53.08, 73.5, AN),    // Heard Island and McDonald Islands
    ("HN", 15.2, -86.24, NA),    // Honduras
    ("HR", 45.1, 15.2, EU),      // Croatia
    ("HT", 18.97, -72.29, NA),   // Haiti
    ("HU", 47.16, 19.5, EU),     // Hungary
    ("ID", -0.79, 113.92, AS),   // Indonesia
    ("IE", 53.41, -8.24, EU),    // Ireland
    ("IL", 31.05, 34.85, AS),    // Israel
    ("IM", 54.24, -4.55, EU),    // Isle of Man
    ("IN", 20.59, 78.96, AS),    // India
    ("IO", -6.34, 71.88, AS),    // British Indian Ocean Territory
    ("IQ", 33.22, 43.68, AS),    // Iraq
    ("IR", 32.43, 53.69, AS),    // Iran
    ("IS", 64.96, -19.02, EU),   // Iceland
    ("IT", 41.87, 12.57, EU),    // Italy
    ("JE", 49.21, -2.13, EU),    // Jersey
    ("JM", 18.11, -77.3, NA),    // Jamaica
    ("JO", 30.59, 36.24, AS),    // Jordan
    ("JP", 36.2, 138.25, AS),    // Japan
    ("KE", -0.02, 37.91, AF),    // Kenya
    ("KG", 41.2, 74.77, AS),     // Kyrgyzstan
    ("KH", 12.57, 104.99, AS),   // Cambodia
    ("KI", -3.37, -168.73, OC),  // Kiribati
    ("KM", -11.88, 43.87, AF),   // Comoros
    ("KN", 17.36, -62.78, NA),   // Saint Kitts and Nevis
    ("KP", 40.34, 127.51, AS),   // North Korea
    ("KR", 35.91, 127.77, AS),   // South Korea
    ("KW", 29.31, 47.48, AS),    // Kuwait
    ("KY", 19.51, -80.57, NA),   // Cayman Islands
    ("KZ", 48.02, 66.92, AS),    // Kazakhstan
    ("LA", 19.86, 102.5, AS),    // Laos
    ("LB", 33.85, 35.86, AS),    // Lebanon
    ("LC", 13.91, -60.98, NA),   // Saint Lucia
    ("LI", 47.17, 9.56, EU),     // Liechtenstein
    ("LK", 7.87, 80.77, AS),     // Sri Lanka
    ("LR", 6.43, -9.43, AF),     // Liberia
    ("LS", -29.61, 28.23, AF),   // Lesotho
    ("LT", 55.17, 23.88, EU),    // Lithuania
    ("LU", 49.82, 6.13, EU),     // Luxembourg
    ("LV", 56.88, 24.6, EU),     // Latvia
    ("LY", 26.34, 17.23, AF),    // Libya
    ("MA", 31.79, -7.09, AF),    // Morocco
    ("MC", 43.75, 7.41, EU),     // Monaco
    ("MD", 47.41, 28.37, EU),    // Moldova
    ("ME", 42.71, 19.37, EU),    // Montenegro
    ("MF", 18.08, -63.05, NA),   // Saint Martin (French part)
    ("MG", -18.77, 46.87, AF),   // Madagascar
    ("MH", 7.13, 171.18, OC),    // Marshall Islands
    ("MK", 41.61, 21.75, EU),    // North Macedonia
    ("ML", 17.57, -4.0, AF),     // Mali
    ("MM", 21.91, 95.96, AS),    // Myanmar
    ("MN", 46.86, 103.85, AS),   // Mongolia
    ("MO", 22.2, 113.54, AS),    // Macao
    ("MP", 17.33, 145.38, OC),   // Northern Mariana Islands
    ("MQ", 14.64, -61.02, NA),   // Martinique
    ("MR", 21.01, -10.94, AF),   // Mauritania
    ("MS", 16.74, -62.19, NA),   // Montserrat
    ("MT", 35.94, 14.38, EU),    // Malta
    ("MU", -20.35, 57.55, AF),   // Mauritius
    ("MV", 3.2, 73.22, AS),      // Maldives
    ("MW", -13.25, 34.3, AF),    // Malawi
    ("MX", 23.63, -102.55, NA),  // Mexico
    ("MY", 4.21, 101.98, AS),    // Malaysia
    ("MZ", -18.67, 35.53, AF),   // Mozambique
    ("NA", -22.96, 18.49, AF),   // Namibia
    ("NC", -20.9, 165.62, OC),   // New Caledonia
    ("NE", 17.61, 8.08, AF),     // Niger
    ("NF", -29.04, 167.95, OC),  // Norfolk Island
    ("NG", 9.08, 8.68, AF),      // Nigeria
    ("NI", 12.87, -85.21, NA),   // Nicaragua
    ("NL", 52.13, 5.29, EU),     // Netherlands
    ("NO", 60.47, 8.47, EU),     // Norway
    ("NP", 28.39, 84.12, AS),    // Nepal
    ("NR", -0.52, 166.93, OC),   // Nauru
    ("NU", -19.05, -169.87, OC), // Niue
    ("NZ", -40.9, 174.89, OC),   // New Zealand
    ("OM", 21.51, 55.92, AS),    // Oman
    ("PA", 8.54, -80.78, NA),    // Panama
    ("PE", -9.19, -75.02, SA),   // Peru
    ("PF", -17.68, -149.41, OC), // French Polynesia
    ("PG", -6.31, 143.96, OC),   // Papua New Guinea
    ("PH", 12.88, 121.77, AS),   // Philippines
    ("PK", 30.38, 69.35, AS),    // Pakistan
    ("PL", 51.92, 19.15, EU),    // Poland
    ("PM", 46.94, -56.27, NA),   // Saint Pierre and Miquelon
    ("PN", -24.7, -127.44, OC),  // Pitcairn
    ("PR", 18.22, -66.59, NA),   // Puerto Rico
    ("PS", 31.95, 35.23, AS),    // Palestine
    ("PT", 39.4, -8.22, EU),     // Portugal
    ("PW", 7.51, 134.58, OC),    // Palau
    ("PY", -23.44, -58.44, SA),  // Paraguay
    ("QA", 25.35, 51.18, AS),    // Qatar
    ("RE", -21.12, 55.54, AF),   // Reunion
    ("RO", 45.94, 24.97, EU),    // Romania
    ("RS", 44.02, 21.01, EU),    // Serbia
    ("RU", 61.52, 105.32, EU),   // Russia
    ("RW", -1.94, 29.87, AF),    // Rwanda
    ("SA", 23.89, 45.08, AS),    // Saudi Arabia
    ("SB", -9.65, 160.16, OC),   // Solomon Islands
    ("SC", -4.68, 55.49, AF),    // Seychelles
    ("SD", 12.86, 30.22, AF),    // Sudan
    ("SE", 60.13, 18.64, EU),    // Sweden
    ("SG", 1.35, 103.82, AS),    // Singapore
    ("SH", -24.14, -10.03, AF),  // Saint Helena, Ascension and Tristan da Cunha
    ("SI", 46.15, 14.99, EU),    // Slovenia
    ("SJ", 77.55, 23.67, EU),    // Svalbard and Jan Mayen
    ("SK", 48.67, 19.7, EU),     // Slovakia
    ("SL", 8.46, -11.78, AF),    // Sierra Leone
    ("SM", 43.94, 12.46, EU),    // San Marino
    ("SN", 14.5, -14.45, AF),    // Senegal
    ("SO", 5.15, 46.2, AF),      // Somalia
    ("SR", 3.92, -56.03, SA),    // Suriname
    ("SS", 6.88, 31.31, AF),     // South Sudan
    ("ST", 0.19, 6.61, AF),      // Sao Tome and Principe
    ("SV", 13.79, -88.9, NA),    // El Salvador
    ("SX", 18.04, -63.07, NA),   // Sint Maarten (Dutch part)
    ("SY", 34.8, 38.1, AS),      // Syria
    ("SZ", -26.52, 31.47, AF),   // Eswatini
    ("TC", 21.69, -71.8, NA),    // Turks and Caicos Islands
    ("TD", 15.45, 18.73, AF),    // Chad
    ("TF", -49.28, 69.35, AN),   // French Southern Territories
    ("TG", 8.62, 0.82, AF),      // Togo
    ("TH", 15.87, 100.99, AS),   // Thailand
    ("TJ", 38.86, 71.28, AS),    // Tajikistan
    ("TK", -8.97, -171.86, OC),  // Tokelau
    ("TL", -8.87, 125.73, AS),   // Timor-Leste
    ("TM", 38.97, 59.56, AS),    // Turkmenistan
    ("TN", 33.89, 9.54, AF),     // Tunisia
    ("TO", -21.18, -175.2, OC),  // Tonga
    ("TR", 38.96, 35.24, AS),    // Turkey
    ("TT", 10.69, -61.22, NA),   // Trinidad and Tobago
    ("TV", -7.11, 177.65, OC),   // Tuvalu
    ("TW", 23.7, 120.96, AS),    // Taiwan
    ("TZ", -6.37, 34.89, AF),    // Tanzania
    ("UA", 48.38, 31.17, EU),    // Ukraine
    ("UG", 1.37, 32.29, AF),     // Uganda
    ("UM", 19.28, 166.65, OC),   // United States Minor Outlying Islands
    ("US", 37.09, -95.71, NA),   // United States
    ("UY", -32.52, -55.77, SA),  // Uruguay
    ("UZ", 41.38, 64.59, AS),    // Uzbekistan
    ("VA", 41.9, 12.45, EU),     // Holy See
    ("VC", 12.98, -61.29, NA),   // Saint Vincent and the Grenadines
    ("VE", 6.42, -66.59, SA),    // Venezuela
    ("VG", 18.42, -64.64, NA),   // Virgin Islands (British)
    ("VI", 18.34, -64.9, NA),    // Virgin Islands (U.S.)
    ("VN", 14.06, 108.28, AS),   // Viet Nam
    ("VU", -15.38, 166.96, OC),  // Vanuatu
    ("WF", -13.77, -177.16, OC), // Wallis and Futuna
    ("WS", -13.76, -172.1, OC),  // Samoa
    ("XK", 42.6, 20.9, EU),      // Kosovo (user-assigned code used by MaxMind and DB-IP)
    ("YE", 15.55, 48.52, AS),    // Yemen
    ("YT", -12.83, 45.17, AF),   // Mayotte
    ("ZA", -30.56, 22.94, AF),   // South Africa
    ("ZM", -13.13, 27.85, AF),   // Zambia
    ("ZW", -19.02, 29.15, AF),   // Zimbabwe
];

fn entry(country: Country) -> Option<&'static (&'static str, f64, f64, Continent)> {
    COUNTRIES.binary_search_by(|e| e.0.cmp(country.as_str())).ok().map(|i| &COUNTRIES[i])
}

/// The approximate geographic centroid of `country`; `None` for codes not in the table
/// (user-assigned codes such as `ZZ`, or vendor pseudo-codes such as `EU`/`AP`).
pub fn country_centroid(country: Country) -> Option<Coordinates> {
    entry(country).and_then(|e| Coordinates::new(e.1, e.2))
}

/// The continent `country` belongs to; `None` for codes not in the table.
pub fn country_continent(country: Country) -> Option<Continent> {
    entry(country).map(|e| e.3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Country {
        Country::parse(s).unwrap()
    }

    #[test]
    fn table_is_sorted_unique_and_complete() {
        assert!(COUNTRIES.windows(2).all(|w| w[0].0 < w[1].0), "table must be sorted for binary search");
        // 249 ISO 3166-1 alpha-2 codes plus XK.
        assert_eq!(COUNTRIES.len(), 250);
        for e in COUNTRIES {
            assert!(Country::parse(e.0).is_some(), "{}", e.0);
            assert!(Coordinates::new(e.1, e.2).is_some(), "{} out of range", e.0);
        }
    }

    #[test]
    fn known_countries() {
        let gb = country_centroid(c("GB")).unwrap();
        assert!((gb.lat - 54.0).abs() < 1.5 && (gb.lon + 2.0).abs() < 1.5, "{gb:?}");
        assert_eq!(country_continent(c("GB")), Some(Continent::EU));
        assert_eq!(country_continent(c("JP")), Some(Continent::AS));
        assert_eq!(country_continent(c("AU")), Some(Continent::OC));
        assert_eq!(country_continent(c("US")), Some(Continent::NA));
        assert_eq!(country_continent(c("BR")), Some(Continent::SA));
        assert_eq!(country_continent(c("ZA")), Some(Continent::AF));
        assert_eq!(country_continent(c("AQ")), Some(Continent::AN));
        let jp = country_centroid(c("JP")).unwrap();
        assert!((jp.lat - 36.0).abs() < 3.0 && (jp.lon - 138.0).abs() < 3.0, "{jp:?}");
        let au = country_centroid(c("au")).unwrap();
        assert!(au.lat < -20.0 && au.lon > 120.0, "{au:?}");
        let us = country_centroid(c("US")).unwrap();
        assert!((us.lat - 38.0).abs() < 3.0 && (us.lon + 97.0).abs() < 5.0, "{us:?}");
        let br = country_centroid(c("BR")).unwrap();
        assert!(br.lat < -5.0 && br.lon < -40.0, "{br:?}");
    }

    #[test]
    fn unknown_codes_are_none() {
        assert_eq!(country_centroid(c("ZZ")), None);
        assert_eq!(country_continent(c("EU")), None);
        assert_eq!(country_continent(c("AP")), None);
    }
}
