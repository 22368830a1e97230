//! DS, CDS and CDNSKEY RDATA (RFC 4034 §5, RFC 4509, RFC 7344, RFC 8078).
use ring::digest::{SHA256, digest};

use super::key::{key_tag, parse_dnskey};
use super::name;

/// DS digest type 2: SHA-256 (RFC 4509), the one every parent and validator supports.
pub const DIGEST_SHA256: u8 = 2;

/// DS RDATA for a DNSKEY: key tag, algorithm, digest type 2, SHA-256(owner | DNSKEY RDATA), the
/// owner in canonical (lowercase) form (RFC 4034 §5.1.4).
pub fn ds_rdata(owner: &[u8], dnskey_rdata: &[u8]) -> super::Result<Vec<u8>> {
    name::check(owner)?;
    let (_, _, alg, _) = parse_dnskey(dnskey_rdata)?;
    let mut input = Vec::with_capacity(owner.len() + dnskey_rdata.len());
    name::lowercase_into(owner, &mut input);
    input.extend_from_slice(dnskey_rdata);
    let d = digest(&SHA256, &input);
    let mut r = Vec::with_capacity(4 + 32);
    r.extend_from_slice(&key_tag(dnskey_rdata).to_be_bytes());
    r.push(alg);
    r.push(DIGEST_SHA256);
    r.extend_from_slice(d.as_ref());
    Ok(r)
}

/// CDS RDATA (RFC 7344 §3.1): the same format as the DS that the parent should publish.
pub fn cds_rdata(owner: &[u8], dnskey_rdata: &[u8]) -> super::Result<Vec<u8>> {
    ds_rdata(owner, dnskey_rdata)
}

/// CDNSKEY RDATA (RFC 7344 §3.2): the same format as the DNSKEY.
pub fn cdnskey_rdata(dnskey_rdata: &[u8]) -> Vec<u8> {
    dnskey_rdata.to_vec()
}

/// The CDS that asks the parent to remove the DS RRset (RFC 8078 §4): `0 0 0 00`.
pub const CDS_DELETE: &[u8] = &[0, 0, 0, 0, 0];
/// The CDNSKEY that asks the parent to remove the DS RRset (RFC 8078 §4): `0 3 0 AA==`.
pub const CDNSKEY_DELETE: &[u8] = &[0, 0, 3, 0, 0];
