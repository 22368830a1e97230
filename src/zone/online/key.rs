//! Cache keys: an RRset's content in canonical form, built on the stack for a lookup and read
//! back to sign the RRset again.
//!
//! ```text
//! owner (lowercase wire) | type (u16) | TTL (u32) | count (u16) | { RDLENGTH (u16) | RDATA }*
//! ```
//! The RDATA are in canonical form and order (RFC 4034 §6.2, §6.3), so two answers with the
//! same records in another order or letter case share one entry (the signature covers the
//! canonical form either way).
use std::net::IpAddr;

use crate::dnssec::buf::Bytes;
use crate::dnssec::name::{self, lowercase_onto};

/// A key under construction: room for a 255-octet owner and 32 IPv6 addresses without the heap.
pub type Key = Bytes<1024>;

/// The key of an RRset with one RDATA already in canonical form (an NSEC, a CNAME target
/// lowercased).
pub fn single(owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) -> Key {
    let mut k = Key::new();
    lowercase_onto(owner, &mut k);
    k.extend_from_slice(&rtype.to_be_bytes());
    k.extend_from_slice(&ttl.to_be_bytes());
    k.extend_from_slice(&1u16.to_be_bytes());
    k.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    k.extend_from_slice(rdata);
    k
}

/// The key of a pooled A or AAAA answer: the addresses of the RRset's family sorted (their
/// RDATA is fixed-length, so octet order is canonical order) and deduplicated.
pub fn addresses(owner: &[u8], rtype: u16, ttl: u32, addrs: &[IpAddr]) -> Key {
    let mut sorted = [IpAddr::from([0u8; 4]); crate::pool::MAX_ANSWERS];
    let n = addrs.len().min(sorted.len());
    sorted[..n].copy_from_slice(&addrs[..n]);
    let sorted = &mut sorted[..n];
    sorted.sort_unstable();
    let mut k = Key::new();
    lowercase_onto(owner, &mut k);
    k.extend_from_slice(&rtype.to_be_bytes());
    k.extend_from_slice(&ttl.to_be_bytes());
    let count_at = k.len();
    k.extend_from_slice(&[0, 0]);
    let mut count = 0u16;
    let mut last: Option<IpAddr> = None;
    for a in sorted.iter() {
        if last == Some(*a) {
            continue;
        }
        last = Some(*a);
        match a {
            IpAddr::V4(v4) => {
                k.extend_from_slice(&[0, 4]);
                k.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                k.extend_from_slice(&[0, 16]);
                k.extend_from_slice(&v6.octets());
            }
        }
        count += 1;
    }
    k.as_mut_slice()[count_at..count_at + 2].copy_from_slice(&count.to_be_bytes());
    k
}

/// A key read back: the RRset to sign.
pub struct Parsed<'k> {
    pub owner: &'k [u8],
    pub rtype: u16,
    pub ttl: u32,
    rdatas: &'k [u8],
}

impl<'k> Parsed<'k> {
    pub fn rdatas(&self) -> impl Iterator<Item = &'k [u8]> + use<'k> {
        crate::zone::Rdatas::over(self.rdatas)
    }
}

/// Reads a key made by this module; `None` for anything else.
pub fn parse(key: &[u8]) -> Option<Parsed<'_>> {
    let n = name::check_at(key, 0).ok()?;
    let (owner, rest) = key.split_at(n);
    let (head, rdatas) = rest.split_first_chunk::<8>()?;
    let rtype = u16::from_be_bytes([head[0], head[1]]);
    let ttl = u32::from_be_bytes([head[2], head[3], head[4], head[5]]);
    Some(Parsed { owner, rtype, ttl, rdatas })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_canonical_and_parse_back() {
        let owner = b"\x03WWW\x07example\x00";
        let a: IpAddr = "192.0.2.2".parse().unwrap();
        let b: IpAddr = "192.0.2.1".parse().unwrap();
        let k1 = addresses(owner, 1, 30, &[a, b]);
        let k2 = addresses(b"\x03www\x07example\x00", 1, 30, &[b, a, b]);
        assert_eq!(k1.as_slice(), k2.as_slice());
        let p = parse(k1.as_slice()).unwrap();
        assert_eq!(p.owner, b"\x03www\x07example\x00");
        assert_eq!((p.rtype, p.ttl), (1, 30));
        assert_eq!(p.rdatas().collect::<Vec<_>>(), vec![&[192, 0, 2, 1][..], &[192, 0, 2, 2][..]]);
        assert_ne!(k1.as_slice(), addresses(owner, 1, 5, &[a, b]).as_slice(), "the TTL is part of the RRset");
    }
}
