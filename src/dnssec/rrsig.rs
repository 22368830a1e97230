//! RRSIG creation over an RRset in wire form (RFC 4034 §3.1.8.1, RFC 4035 §2.2).
//!
//! ```text
//! signed data = RRSIG RDATA without the signature, signer name lowercase
//!             | RR(1) | RR(2) | ...   each RR = owner | type | class | original TTL | RDLENGTH | RDATA
//! ```
//! with the owner lowercased, the RDATAs in canonical form and order ([`super::canonical`]). The
//! owner is given as it is signed: a wildcard RRset is signed once under its `*.` owner, and its
//! Labels field then excludes the `*`, so the one RRSIG validates for every name it expands to.
use super::canonical::CanonicalRrset;
use super::error::{Error, Result};
use super::key::SIGNATURE_LEN;
use super::name;
use super::zonekey::ZoneKey;

/// The RRSIG fields that the caller chooses.
#[derive(Clone, Copy, Debug)]
pub struct RrsigParams {
    pub type_covered: u16,
    /// The TTL of the RRset as served; the RRSIG's own TTL should be the same.
    pub original_ttl: u32,
    /// Seconds since the epoch, modulo 2^32 (RFC 4034 §3.1.5 serial arithmetic).
    pub inception: u32,
    pub expiration: u32,
}

/// Reusable buffers for signing (one per thread; signing then allocates only the returned RDATA).
#[derive(Default, Debug)]
pub struct Scratch {
    canon: CanonicalRrset,
    tbs: Vec<u8>,
}

/// The fixed part of an RRSIG RDATA: 18 octets, then the signer name.
const FIXED: usize = 18;

/// Length of the RRSIG RDATA a key makes for this zone (for response size budgeting).
pub fn rrsig_rdata_len(key: &ZoneKey) -> usize {
    FIXED + key.zone().len() + SIGNATURE_LEN
}

/// Signs one RRset and appends the RRSIG RDATA to `out`.
///
/// `owner` is the RRset's owner (a wildcard RRset under its `*` owner), `rdatas` its records'
/// RDATA uncompressed, in any order and case (duplicates are dropped as RFC 4034 §6.3 says).
pub fn sign_rrset_into<'r>(
    key: &ZoneKey,
    owner: &[u8],
    class: u16,
    p: &RrsigParams,
    rdatas: impl IntoIterator<Item = &'r [u8]>,
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
) -> Result<()> {
    name::check(owner)?;
    if !name::is_at_or_below(owner, key.zone()) {
        return Err(Error::BadRrset("owner is not in the signer's zone"));
    }
    let span = p.expiration.wrapping_sub(p.inception);
    if span == 0 || span >= 1 << 31 {
        return Err(Error::BadRrset("expiration is not after inception"));
    }
    if matches!(p.type_covered, 41 | 250 | 251 | 252 | 255) {
        return Err(Error::BadRrset("OPT, TSIG and meta types are not signed"));
    }
    scratch.canon.build(p.type_covered, rdatas)?;
    let start = out.len();
    out.extend_from_slice(&p.type_covered.to_be_bytes());
    out.push(key.algorithm().number());
    out.push(name::rrsig_labels(owner));
    out.extend_from_slice(&p.original_ttl.to_be_bytes());
    out.extend_from_slice(&p.expiration.to_be_bytes());
    out.extend_from_slice(&p.inception.to_be_bytes());
    out.extend_from_slice(&key.key_tag().to_be_bytes());
    out.extend_from_slice(key.zone()); // already lowercase

    let tbs = &mut scratch.tbs;
    tbs.clear();
    tbs.extend_from_slice(&out[start..]);
    for rdata in scratch.canon.rdatas() {
        name::lowercase_into(owner, tbs);
        tbs.extend_from_slice(&p.type_covered.to_be_bytes());
        tbs.extend_from_slice(&class.to_be_bytes());
        tbs.extend_from_slice(&p.original_ttl.to_be_bytes());
        tbs.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        tbs.extend_from_slice(rdata);
    }
    match key.pair().sign(tbs) {
        Ok(sig) => {
            out.extend_from_slice(&sig);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// Signs one RRset and returns the RRSIG RDATA. See [`sign_rrset_into`].
pub fn sign_rrset<'r>(
    key: &ZoneKey,
    owner: &[u8],
    class: u16,
    p: &RrsigParams,
    rdatas: impl IntoIterator<Item = &'r [u8]>,
    scratch: &mut Scratch,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(rrsig_rdata_len(key));
    sign_rrset_into(key, owner, class, p, rdatas, scratch, &mut out)?;
    Ok(out)
}

/// The fields of an RRSIG RDATA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RrsigView<'a> {
    pub type_covered: u16,
    pub algorithm: u8,
    pub labels: u8,
    pub original_ttl: u32,
    pub expiration: u32,
    pub inception: u32,
    pub key_tag: u16,
    pub signer: &'a [u8],
    pub signature: &'a [u8],
}

/// Reads an RRSIG RDATA.
pub fn parse_rrsig(rdata: &[u8]) -> Result<RrsigView<'_>> {
    if rdata.len() < FIXED + 1 {
        return Err(Error::BadRdata { rtype: 46, why: "truncated" });
    }
    let u32_at = |i: usize| u32::from_be_bytes([rdata[i], rdata[i + 1], rdata[i + 2], rdata[i + 3]]);
    let nlen = name::check_at(rdata, FIXED)?;
    Ok(RrsigView {
        type_covered: u16::from_be_bytes([rdata[0], rdata[1]]),
        algorithm: rdata[2],
        labels: rdata[3],
        original_ttl: u32_at(4),
        expiration: u32_at(8),
        inception: u32_at(12),
        key_tag: u16::from_be_bytes([rdata[16], rdata[17]]),
        signer: &rdata[FIXED..FIXED + nlen],
        signature: &rdata[FIXED + nlen..],
    })
}
