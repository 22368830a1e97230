//! Reading the wire RDATA the loader produced: where its domain names are, which of them
//! an encoder may compress, and the few fields a server needs for lookups.
//!
//! These work on the uncompressed RDATA of the zone (what [`crate::zone::master::Entry::rdata`] holds);
//! a compression pointer there is a malformed record.
use std::ops::Range;

use crate::zone::master::name::wire_len;

/// RFC 3597 §4: only the RR types of RFC 1035 may have their RDATA names compressed on
/// output (NS, MD, MF, CNAME, SOA, MB, MG, MR, PTR, MINFO, MX). Every other type, known
/// or not, goes out with its RDATA octets exactly as stored.
pub fn compressible(rtype: u16) -> bool {
    matches!(rtype, 2..=9 | 12 | 14 | 15)
}

/// The byte ranges of the domain names inside `rdata` of type `rtype`, or an error when the
/// RDATA does not have the layout of its type (possible only for RFC 3597 `\#` input).
/// Types without names, and unknown types, give no ranges.
pub fn embedded_names(rtype: u16, rdata: &[u8]) -> Result<Vec<Range<usize>>, String> {
    let mut names = Vec::new();
    let name_at = |at: usize, names: &mut Vec<Range<usize>>| -> Result<usize, String> {
        let len = rdata.get(at..).and_then(wire_len).ok_or("a domain name in the RDATA is malformed")?;
        names.push(at..at + len);
        Ok(at + len)
    };
    let skip_strings = |mut at: usize, n: usize| -> Result<usize, String> {
        for _ in 0..n {
            at += 1 + usize::from(*rdata.get(at).ok_or("RDATA too short")?);
        }
        Ok(at)
    };
    let end = match rtype {
        // NS MD MF CNAME MB MG MR PTR DNAME NSAP-PTR: one name.
        2..=5 | 7..=9 | 12 | 23 | 39 => name_at(0, &mut names)?,
        6 => name_at(name_at(0, &mut names)?, &mut names)? + 20, // SOA: two names, five 32-bit fields
        14 | 17 => name_at(name_at(0, &mut names)?, &mut names)?, // MINFO, RP
        15 | 18 | 21 | 36 | 107 => name_at(2, &mut names)?,      // MX AFSDB RT KX LP
        26 => name_at(name_at(2, &mut names)?, &mut names)?,     // PX
        33 => name_at(6, &mut names)?,                           // SRV
        35 => name_at(skip_strings(4, 3)?, &mut names)?,         // NAPTR
        24 | 46 => {
            // SIG, RRSIG: the signer's name at 18, then the signature.
            name_at(18, &mut names)?;
            rdata.len()
        }
        30 | 47 => {
            // NXT, NSEC: the next name, then a bitmap.
            name_at(0, &mut names)?;
            rdata.len()
        }
        45 if rdata.get(1) == Some(&3) => {
            // IPSECKEY with a name as the gateway.
            name_at(3, &mut names)?;
            rdata.len()
        }
        64 | 65 => {
            // SVCB, HTTPS: the target name after the priority, then parameters.
            name_at(2, &mut names)?;
            rdata.len()
        }
        1 if rdata.len() != 4 => return Err("an A record has 4 octets".into()),
        28 if rdata.len() != 16 => return Err("an AAAA record has 16 octets".into()),
        _ => rdata.len(),
    };
    if end != rdata.len() {
        return Err(format!("RDATA is {} octets, its layout needs {end}", rdata.len()));
    }
    Ok(names)
}

/// Whether two RDATA of type `rtype` are the same record: equal octets, or equal but for
/// letter case inside the names of the types whose names are case-folded in canonical form
/// (RFC 4034 §6.2, without NSEC per RFC 6840 §5.1). Knot and NSD merge such duplicates;
/// the first one written is kept.
pub fn same_record(rtype: u16, a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    if a.len() != b.len()
        || !matches!(rtype, 2..=9 | 12 | 14 | 15 | 17 | 18 | 21 | 24 | 26 | 30 | 33 | 35 | 36 | 39 | 46)
    {
        return false;
    }
    let (Ok(na), Ok(nb)) = (embedded_names(rtype, a), embedded_names(rtype, b)) else { return false };
    if na != nb {
        return false;
    }
    let in_name = |i: usize| na.iter().any(|r| r.contains(&i));
    a.iter().zip(b).enumerate().all(|(i, (x, y))| x == y || (in_name(i) && x.eq_ignore_ascii_case(y)))
}

/// The name a lookup follows or adds glue for: the target of CNAME, DNAME, NS, PTR, MX,
/// SRV, SVCB/HTTPS (and AFSDB, RT, KX, LP), uncompressed wire form.
pub fn target(rtype: u16, rdata: &[u8]) -> Option<&[u8]> {
    let at = match rtype {
        2 | 5 | 12 | 39 => 0,
        15 | 18 | 21 | 36 | 107 | 64 | 65 => 2,
        33 => 6,
        _ => return None,
    };
    let len = wire_len(rdata.get(at..)?)?;
    rdata.get(at..at + len)
}

/// The SOA MINIMUM field (RFC 2308 §4: the negative-caching TTL, with the SOA's own TTL).
pub fn soa_minimum(rdata: &[u8]) -> Option<u32> {
    let tail = rdata.len().checked_sub(4)?;
    Some(u32::from_be_bytes(rdata[tail..].try_into().ok()?))
}

/// The SOA SERIAL field.
pub fn soa_serial(rdata: &[u8]) -> Option<u32> {
    let at = rdata.len().checked_sub(20)?;
    Some(u32::from_be_bytes(rdata[at..at + 4].try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let mx = b"\x00\x0a\x04mail\x07example\x00";
        assert_eq!(embedded_names(15, mx).unwrap(), vec![2..mx.len()]);
        assert_eq!(target(15, mx), Some(&mx[2..]));
        assert!(embedded_names(15, b"\x00\x0a\x04ma").is_err());
        assert!(embedded_names(1, b"\x01\x02\x03").is_err());
        let soa = [&b"\x01a\x00\x01b\x00"[..], &[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 1, 44]].concat();
        assert_eq!(embedded_names(6, &soa).unwrap().len(), 2);
        assert_eq!(soa_minimum(&soa), Some(300));
        assert_eq!(soa_serial(&soa), Some(1));
        assert!(same_record(5, b"\x01A\x00", b"\x01a\x00"));
        assert!(!same_record(16, b"\x01A", b"\x01a"));
        assert!(!same_record(47, b"\x01A\x00", b"\x01a\x00"));
        assert!(compressible(6) && compressible(15) && !compressible(33) && !compressible(39));
    }
}
