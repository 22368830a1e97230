//! ASN range lists (`start,end,asn,organization`, as the ip-location-db `asn` package and
//! DB-IP's ASN Lite CSV ship them) compiled into a GeoLite2-ASN-layout `.mmdb`, so that
//! `[geoip] asn_database` can use them: `gslbd mmdb-build --asn-ranges asn-ipv4.csv -o asn.mmdb`.
//! Each range becomes the fewest CIDR networks that cover it exactly. Ranges in the IPv6
//! blocks a MaxMind DB aliases to its IPv4 tree (Teredo 2001::/32, 6to4 2002::/16) are left out.
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;

use super::writer::{GeoDbBuilder, Schema};
use crate::diag::ConfigError;

/// Compiles range lines into an ASN database (IPv6 tree holding both families). Every bad
/// line is reported with `csv_name` and its line number. An empty `org` is kept empty.
pub fn asn_ranges_to_mmdb(texts: &[(&str, &str)]) -> Result<Vec<u8>, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut builder = GeoDbBuilder::with_schema(6, Schema::Asn);
    let mut count = 0usize;
    for (name, text) in texts {
        let file = Path::new(name);
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match parse(line) {
                Ok((start, end, asn, org)) => {
                    for net in cidrs(start, end) {
                        match builder.insert_asn(net, asn, org) {
                            Ok(()) => count += 1,
                            // Teredo (2001::/32), 6to4 (2002::/16) and ::ffff:0:0/96 are
                            // aliases of the IPv4 tree in a MaxMind DB: their addresses are
                            // looked up as the IPv4 addresses they carry, so they are left out.
                            Err(e) if e.contains("aliased") => {}
                            Err(e) => errors.push(ConfigError::new(file, i + 1, e)),
                        }
                    }
                }
                Err(e) => errors.push(ConfigError::new(file, i + 1, e)),
            }
        }
    }
    if errors.is_empty() && count == 0 {
        errors.push(ConfigError::new(Path::new(texts.first().map_or("", |t| t.0)), 0, "no ranges"));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    builder.to_bytes().map_err(|e| vec![ConfigError::new(Path::new(""), 0, e)])
}

/// `start,end,asn[,organization]` (the organization may be quoted and contain commas).
fn parse(line: &str) -> Result<(IpAddr, IpAddr, u32, &str), String> {
    let mut it = line.splitn(4, ',');
    let (Some(s), Some(e), Some(a)) = (it.next(), it.next(), it.next()) else {
        return Err("expected `start,end,asn,organization`".into());
    };
    let org = it.next().unwrap_or("").trim().trim_matches('"');
    let start: IpAddr = s.trim().parse().map_err(|_| format!("{s:?} is not an IP address"))?;
    let end: IpAddr = e.trim().parse().map_err(|_| format!("{e:?} is not an IP address"))?;
    let asn: u32 = a.trim().parse().map_err(|_| format!("{a:?} is not an AS number"))?;
    let ok = match (start, end) {
        (IpAddr::V4(x), IpAddr::V4(y)) => u32::from(x) <= u32::from(y),
        (IpAddr::V6(x), IpAddr::V6(y)) => u128::from(x) <= u128::from(y),
        _ => false,
    };
    if !ok {
        return Err(format!("{start}..{end} is not a range of one family, start first"));
    }
    Ok((start, end, asn, org))
}

/// The CIDR networks that cover start..=end exactly, fewest first-to-last.
fn cidrs(start: IpAddr, end: IpAddr) -> Vec<IpNet> {
    let (bits, mut lo, hi, v4) = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => (32u32, u128::from(u32::from(s)), u128::from(u32::from(e)), true),
        (IpAddr::V6(s), IpAddr::V6(e)) => (128u32, u128::from(s), u128::from(e), false),
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    // Bounded: each step covers at least one address and at most 2 × bits steps are needed.
    for _ in 0..(2 * bits + 2) {
        if lo > hi {
            break;
        }
        // The largest block aligned at `lo` that does not pass `hi`.
        let align = if lo == 0 { bits } else { lo.trailing_zeros().min(bits) };
        let mut size = align;
        while size > 0 && (size >= 128 || lo.checked_add((1u128 << size) - 1).is_none_or(|last| last > hi)) {
            size -= 1;
        }
        let prefix = (bits - size) as u8;
        let net = if v4 {
            IpNet::new(IpAddr::V4(std::net::Ipv4Addr::from(lo as u32)), prefix)
        } else {
            IpNet::new(IpAddr::V6(std::net::Ipv6Addr::from(lo)), prefix)
        };
        if let Ok(n) = net {
            out.push(n);
        }
        match lo.checked_add(1u128.checked_shl(size).unwrap_or(0)) {
            Some(next) if size < 128 => lo = next,
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(a: &str, b: &str) -> Vec<String> {
        cidrs(a.parse().unwrap(), b.parse().unwrap()).iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn ranges_become_the_fewest_covering_networks() {
        assert_eq!(c("1.0.0.0", "1.0.0.255"), ["1.0.0.0/24"]);
        assert_eq!(c("1.0.4.0", "1.0.7.255"), ["1.0.4.0/22"]);
        assert_eq!(c("10.0.0.1", "10.0.0.6"), ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]);
        assert_eq!(c("0.0.0.0", "255.255.255.255"), ["0.0.0.0/0"]);
        assert_eq!(c("2001:200::", "2001:200:1b9:ffff:ffff:ffff:ffff:ffff").len(), 6);
        assert_eq!(c("2001::", "2001::ffff:ffff:ffff:ffff:ffff:ffff"), ["2001::/32"]);
    }
}
