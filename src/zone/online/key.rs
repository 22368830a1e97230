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

use hickory_proto::rr::Name;

use crate::dnssec::buf::Bytes;
use crate::dnssec::name::{self, lowercase_onto};

/// A key under construction: room for a 255-octet owner and 32 IPv6 addresses without the heap.
pub type Key = Bytes<1024>;

/// Appends `name` in lowercase wire form, a label at a time.
fn push_name_lower(k: &mut Key, name: &Name) {
    for label in name.iter() {
        let mut l = [0u8; 64];
        let n = label.len().min(63);
        l[0] = n as u8;
        for (d, s) in l[1..=n].iter_mut().zip(label) {
            *d = s.to_ascii_lowercase();
        }
        k.extend_from_slice(&l[..=n]);
    }
    k.push(0);
}

fn push_head(k: &mut Key, rtype: u16, ttl: u32, count: u16) {
    let t = rtype.to_be_bytes();
    let l = ttl.to_be_bytes();
    let c = count.to_be_bytes();
    k.extend_from_slice(&[t[0], t[1], l[0], l[1], l[2], l[3], c[0], c[1]]);
}

/// Writes into `k` the key of an RRset with one RDATA already in canonical form (an NSEC).
/// `owner` is in lowercase wire form.
pub fn single(k: &mut Key, owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) {
    k.clear();
    lowercase_onto(owner, k);
    push_head(k, rtype, ttl, 1);
    k.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    k.extend_from_slice(rdata);
}

/// Writes into `k` the key of a CNAME hand-off of `owner` to `target` (lowercased: its
/// canonical form).
pub fn cname(k: &mut Key, owner: &Name, ttl: u32, target: &Name) {
    k.clear();
    push_name_lower(k, owner);
    push_head(k, 5, ttl, 1);
    let at = k.len();
    k.extend_from_slice(&[0, 0]);
    push_name_lower(k, target);
    let len = (k.len() - at - 2) as u16;
    k.as_mut_slice()[at..at + 2].copy_from_slice(&len.to_be_bytes());
}

/// Writes into `k` the key of a pooled A or AAAA answer: the addresses sorted (their RDATA
/// is fixed-length, so octet order is canonical order) and deduplicated.
pub fn addresses(k: &mut Key, owner: &Name, rtype: u16, ttl: u32, addrs: &[IpAddr]) {
    let mut sorted = [IpAddr::from([0u8; 4]); crate::pool::MAX_ANSWERS];
    let n = addrs.len().min(sorted.len());
    sorted[..n].copy_from_slice(&addrs[..n]);
    let sorted = &mut sorted[..n];
    sorted.sort_unstable();
    let mut unique = sorted.len();
    for i in (1..sorted.len()).rev() {
        if sorted[i] == sorted[i - 1] {
            unique -= 1;
        }
    }
    k.clear();
    push_name_lower(k, owner);
    push_head(k, rtype, ttl, unique as u16);
    let mut last: Option<IpAddr> = None;
    for a in sorted.iter() {
        if last == Some(*a) {
            continue;
        }
        last = Some(*a);
        match a {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                k.extend_from_slice(&[0, 4, o[0], o[1], o[2], o[3]]);
            }
            IpAddr::V6(v6) => {
                k.extend_from_slice(&[0, 16]);
                k.extend_from_slice(&v6.octets());
            }
        }
    }
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
        let owner = Name::from_ascii("WWW.example.").unwrap();
        let a: IpAddr = "192.0.2.2".parse().unwrap();
        let b: IpAddr = "192.0.2.1".parse().unwrap();
        let key = |owner: &Name, ttl, addrs: &[IpAddr]| {
            let mut k = Key::new();
            addresses(&mut k, owner, 1, ttl, addrs);
            k
        };
        let k1 = key(&owner, 30, &[a, b]);
        let k2 = key(&Name::from_ascii("www.example.").unwrap(), 30, &[b, a, b]);
        assert_eq!(k1.as_slice(), k2.as_slice());
        let p = parse(k1.as_slice()).unwrap();
        assert_eq!(p.owner, b"\x03www\x07example\x00");
        assert_eq!((p.rtype, p.ttl), (1, 30));
        assert_eq!(p.rdatas().collect::<Vec<_>>(), vec![&[192, 0, 2, 1][..], &[192, 0, 2, 2][..]]);
        assert_ne!(k1.as_slice(), key(&owner, 5, &[a, b]).as_slice(), "the TTL is part of the RRset");
        let mut c = Key::new();
        cname(&mut c, &owner, 30, &Name::from_ascii("LB.Example.NET.").unwrap());
        let p = parse(c.as_slice()).unwrap();
        assert_eq!(p.rdatas().collect::<Vec<_>>(), vec![&b"\x02lb\x07example\x03net\x00"[..]]);
    }
}
