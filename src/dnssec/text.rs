//! Presentation format of the key records this module makes (DNSKEY, DS, CDS, CDNSKEY), the
//! `YYYYMMDDHHmmSS` times of key files, and Base64.
use data_encoding::{BASE64, HEXUPPER};

use super::error::{Error, Result};
use super::name;
use crate::util::clock::{compact_utc, days_from_civil};

/// Seconds since the epoch as `YYYYMMDDHHmmSS` (UTC).
pub fn format_time(t: u64) -> String {
    compact_utc(t)
}

/// `YYYYMMDDHHmmSS` (UTC) as seconds since the epoch.
pub fn parse_time(s: &str) -> Option<u64> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(4..6)?, num(6..8)?, num(8..10)?, num(10..12)?, num(12..14)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    u64::try_from(days * 86_400 + i64::from(h * 3600 + mi * 60 + se)).ok()
}

pub fn base64(b: &[u8]) -> String {
    BASE64.encode(b)
}

pub fn from_base64(s: &str) -> Option<Vec<u8>> {
    let clean: String = s.split_whitespace().collect();
    BASE64.decode(clean.as_bytes()).ok()
}

/// The mnemonic of the key record types, for presentation.
pub fn key_type_name(rtype: u16) -> &'static str {
    match rtype {
        43 => "DS",
        48 => "DNSKEY",
        59 => "CDS",
        60 => "CDNSKEY",
        _ => "TYPE",
    }
}

/// The RDATA of a DNSKEY, CDNSKEY, DS or CDS in presentation form (anything else in the
/// generic form `\# LEN HEX`, RFC 3597 §5).
pub fn rdata_to_text(rtype: u16, rdata: &[u8]) -> Result<String> {
    Ok(match rtype {
        48 | 60 => {
            let (flags, proto, alg, key) = super::key::parse_dnskey(rdata)?;
            format!("{flags} {proto} {alg} {}", base64(key))
        }
        43 | 59 => {
            if rdata.len() < 5 {
                return Err(Error::BadRdata { rtype, why: "truncated" });
            }
            let tag = u16::from_be_bytes([rdata[0], rdata[1]]);
            format!("{tag} {} {} {}", rdata[2], rdata[3], HEXUPPER.encode(&rdata[4..]))
        }
        _ => format!("\\# {} {}", rdata.len(), HEXUPPER.encode(rdata)),
    })
}

/// One key record in presentation form: `owner TTL IN TYPE RDATA`.
pub fn record_to_text(owner: &[u8], ttl: u32, rtype: u16, rdata: &[u8]) -> Result<String> {
    Ok(format!("{} {ttl} IN {} {}", name::to_text(owner), key_type_name(rtype), rdata_to_text(rtype, rdata)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(format_time(0), "19700101000000");
        assert_eq!(format_time(951_782_400), "20000229000000");
        for t in [0u64, 951_782_400, 1_798_761_599, 4_102_444_800] {
            assert_eq!(parse_time(&format_time(t)), Some(t));
        }
        assert_eq!(parse_time("20261301000000"), None);
    }
}
