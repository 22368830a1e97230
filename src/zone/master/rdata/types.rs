//! The record types with a presentation format: mnemonic, code and RDATA layout.
//!
//! The set is every type that Knot 3.2 or NSD 4.6 loads from text (checked one by one
//! against kzonecheck and nsd-checkzone; see HANDOFF.md). Any other type, and any of these,
//! can also be written in RFC 3597 generic form (`TYPE65534 \# 4 C0000201`).

/// One field of a fixed RDATA layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum F {
    /// A domain name, uncompressed, case kept.
    Name,
    U8,
    U16,
    U32,
    /// A 32-bit time interval: seconds or units (`2h`), as in SOA timers.
    Ttl,
    Ipv4,
    Ipv6,
    /// One character-string, length-prefixed.
    Str,
    /// An optional last character-string (ISDN subaddress).
    OptStr,
    /// One or more character-strings to the end (TXT, SPF, AVC).
    Strs,
    /// A DNSSEC algorithm: number or mnemonic (RSASHA256, ECDSAP256SHA256, ...).
    Alg,
    /// A record type: mnemonic or TYPEnnn, as 16 bits (RRSIG type covered).
    Type,
    /// An RRSIG time: YYYYMMDDHHmmSS or seconds.
    Time,
    /// Base64 to the end, at least one token.
    B64,
    /// Hex to the end, at least one token.
    Hex,
    /// NSEC3 salt: `-` or hex, length-prefixed.
    Salt,
    /// NSEC3 next hashed owner: base32hex, length-prefixed.
    B32,
    /// An NSEC-style type bitmap to the end (RFC 4034 §4.1.2), possibly empty.
    Bitmap,
    /// EUI-48 / EUI-64: hex pairs separated by `-` (RFC 7043).
    Eui48,
    Eui64,
    /// 64-bit ILNP locator/node id: four groups of hex separated by `:` (RFC 6742).
    Ilnp64,
    /// CERT type: number or mnemonic (RFC 4398).
    CertType,
    /// One string, not length-prefixed, to the end of the RDATA (URI target).
    RawStr,
}

/// How a type's RDATA is read.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Layout {
    Fields(&'static [F]),
    /// A type with its own parser in [`super::special`] or [`super::svcb`].
    Special,
    /// Only the RFC 3597 form (NULL has no presentation format).
    GenericOnly,
}

pub(crate) struct TypeInfo {
    pub code: u16,
    pub name: &'static str,
    pub layout: Layout,
}

use F::*;
use Layout::*;

const DS_LIKE: &[F] = &[U16, Alg, U8, Hex];
const KEY_LIKE: &[F] = &[U16, U8, Alg, B64];
const SIG_LIKE: &[F] = &[Type, Alg, U8, Ttl, Time, Time, U16, Name, B64];
const TLSA_LIKE: &[F] = &[U8, U8, U8, Hex];

macro_rules! t {
    ($code:expr, $name:expr, $layout:expr) => {
        TypeInfo { code: $code, name: $name, layout: $layout }
    };
}

pub(crate) static TYPES: &[TypeInfo] = &[
    t!(1, "A", Fields(&[Ipv4])),
    t!(2, "NS", Fields(&[Name])),
    t!(3, "MD", Fields(&[Name])),
    t!(4, "MF", Fields(&[Name])),
    t!(5, "CNAME", Fields(&[Name])),
    t!(6, "SOA", Fields(&[Name, Name, U32, Ttl, Ttl, Ttl, Ttl])),
    t!(7, "MB", Fields(&[Name])),
    t!(8, "MG", Fields(&[Name])),
    t!(9, "MR", Fields(&[Name])),
    t!(10, "NULL", GenericOnly),
    t!(11, "WKS", Special),
    t!(12, "PTR", Fields(&[Name])),
    t!(13, "HINFO", Fields(&[Str, Str])),
    t!(14, "MINFO", Fields(&[Name, Name])),
    t!(15, "MX", Fields(&[U16, Name])),
    t!(16, "TXT", Fields(&[Strs])),
    t!(17, "RP", Fields(&[Name, Name])),
    t!(18, "AFSDB", Fields(&[U16, Name])),
    t!(19, "X25", Fields(&[Str])),
    t!(20, "ISDN", Fields(&[Str, OptStr])),
    t!(21, "RT", Fields(&[U16, Name])),
    t!(22, "NSAP", Special),
    t!(24, "SIG", Fields(SIG_LIKE)),
    t!(25, "KEY", Fields(KEY_LIKE)),
    t!(26, "PX", Fields(&[U16, Name, Name])),
    t!(28, "AAAA", Fields(&[Ipv6])),
    t!(29, "LOC", Special),
    t!(30, "NXT", Special),
    t!(33, "SRV", Fields(&[U16, U16, U16, Name])),
    t!(35, "NAPTR", Fields(&[U16, U16, Str, Str, Str, Name])),
    t!(36, "KX", Fields(&[U16, Name])),
    t!(37, "CERT", Fields(&[CertType, U16, Alg, B64])),
    t!(39, "DNAME", Fields(&[Name])),
    t!(42, "APL", Special),
    t!(43, "DS", Fields(DS_LIKE)),
    t!(44, "SSHFP", Fields(&[U8, U8, Hex])),
    t!(45, "IPSECKEY", Special),
    t!(46, "RRSIG", Fields(SIG_LIKE)),
    t!(47, "NSEC", Fields(&[Name, Bitmap])),
    t!(48, "DNSKEY", Fields(KEY_LIKE)),
    t!(49, "DHCID", Fields(&[B64])),
    t!(50, "NSEC3", Fields(&[U8, U8, U16, Salt, B32, Bitmap])),
    t!(51, "NSEC3PARAM", Fields(&[U8, U8, U16, Salt])),
    t!(52, "TLSA", Fields(TLSA_LIKE)),
    t!(53, "SMIMEA", Fields(TLSA_LIKE)),
    t!(59, "CDS", Fields(DS_LIKE)),
    t!(60, "CDNSKEY", Fields(KEY_LIKE)),
    t!(61, "OPENPGPKEY", Fields(&[B64])),
    t!(62, "CSYNC", Fields(&[U32, U16, Bitmap])),
    t!(63, "ZONEMD", Fields(&[U32, U8, U8, Hex])),
    t!(64, "SVCB", Special),
    t!(65, "HTTPS", Special),
    t!(99, "SPF", Fields(&[Strs])),
    t!(104, "NID", Fields(&[U16, Ilnp64])),
    t!(105, "L32", Fields(&[U16, Ipv4])),
    t!(106, "L64", Fields(&[U16, Ilnp64])),
    t!(107, "LP", Fields(&[U16, Name])),
    t!(108, "EUI48", Fields(&[Eui48])),
    t!(109, "EUI64", Fields(&[Eui64])),
    t!(256, "URI", Fields(&[U16, U16, RawStr])),
    t!(257, "CAA", Special),
    t!(258, "AVC", Fields(&[Strs])),
    t!(32769, "DLV", Fields(DS_LIKE)),
];

/// Mnemonics of types that exist but cannot be records in a zone (RFC 6895 §3.1: OPT and
/// the QTYPEs), and of a few that neither Knot nor NSD reads in text form.
const NOT_IN_ZONES: &[(u16, &str)] = &[
    (41, "OPT"),
    (249, "TKEY"),
    (250, "TSIG"),
    (251, "IXFR"),
    (252, "AXFR"),
    (253, "MAILB"),
    (254, "MAILA"),
    (255, "ANY"),
];

/// The type with this code, if it has a presentation format here.
pub(crate) fn info(code: u16) -> Option<&'static TypeInfo> {
    TYPES.iter().find(|t| t.code == code)
}

/// Whether a record of this type may be stored in a zone.
pub(crate) fn storable(code: u16) -> bool {
    code != 0 && !NOT_IN_ZONES.iter().any(|(c, _)| *c == code)
}

/// The code of a type mnemonic or `TYPEnnn` (case-insensitive).
pub fn type_code(s: &str) -> Option<u16> {
    if let Some(t) = TYPES.iter().find(|t| t.name.eq_ignore_ascii_case(s)) {
        return Some(t.code);
    }
    if let Some((c, _)) = NOT_IN_ZONES.iter().find(|(_, n)| n.eq_ignore_ascii_case(s)) {
        return Some(*c);
    }
    let digits = s.get(..4).filter(|p| p.eq_ignore_ascii_case("TYPE")).map(|_| &s[4..])?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 5 {
        return None;
    }
    digits.parse().ok()
}

/// The mnemonic of a type code, or `TYPEnnn`.
pub fn type_name(code: u16) -> String {
    match info(code) {
        Some(t) => t.name.to_string(),
        None => match NOT_IN_ZONES.iter().find(|(c, _)| *c == code) {
            Some((_, n)) => n.to_string(),
            None => format!("TYPE{code}"),
        },
    }
}

/// DNSSEC algorithm mnemonics (IANA "DNS Security Algorithm Numbers"), as Knot and NSD read them.
pub(crate) const ALGORITHMS: &[(&str, u8)] = &[
    ("RSAMD5", 1),
    ("DH", 2),
    ("DSA", 3),
    ("RSASHA1", 5),
    ("DSA-NSEC3-SHA1", 6),
    ("RSASHA1-NSEC3-SHA1", 7),
    ("RSASHA256", 8),
    ("RSASHA512", 10),
    ("ECC-GOST", 12),
    ("ECDSAP256SHA256", 13),
    ("ECDSAP384SHA384", 14),
    ("ED25519", 15),
    ("ED448", 16),
    ("INDIRECT", 252),
    ("PRIVATEDNS", 253),
    ("PRIVATEOID", 254),
];

/// CERT type mnemonics (RFC 4398 §2.1).
pub(crate) const CERT_TYPES: &[(&str, u16)] = &[
    ("PKIX", 1),
    ("SPKI", 2),
    ("PGP", 3),
    ("IPKIX", 4),
    ("ISPKI", 5),
    ("IPGP", 6),
    ("ACPKIX", 7),
    ("IACPKIX", 8),
    ("URI", 253),
    ("OID", 254),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes() {
        assert_eq!(type_code("aaaa"), Some(28));
        assert_eq!(type_code("TYPE65534"), Some(65534));
        assert_eq!(type_code("type1"), Some(1));
        assert_eq!(type_code("TYPE65536"), None);
        assert_eq!(type_code("TYPE"), None);
        assert_eq!(type_code("AAAAA"), None);
        assert_eq!(type_name(39), "DNAME");
        assert_eq!(type_name(65534), "TYPE65534");
        assert!(!storable(255) && !storable(41) && storable(65534));
        for t in TYPES {
            assert_eq!(type_code(t.name), Some(t.code), "{}", t.name);
        }
    }
}
