//! DNSSEC data a zone serves as it is: the signing mode a zone is configured with, and the
//! denial-of-existence chain of a pre-signed zone (NSEC, RFC 4034 §4, or NSEC3, RFC 5155),
//! indexed at load so that a lookup finds the record that matches or covers a name in
//! O(log n) without allocating.
use hickory_proto::rr::Name;
use ring::digest;

/// How a zone's DNSSEC records come to be. The config says which, per zone, so that a
/// zone is never signed twice or half: `signing = "presigned"` serves a zone signed offline
/// (dnssec-signzone, ldns-signzone, ...) with the RRSIGs and NSEC/NSEC3 records its file holds;
/// `signing = "online"` (or a `[zone.dnssec]` table) has gslbd sign it with its own keys, and
/// refuses a file with DNSSEC records of its own; otherwise a file whose SOA is signed is refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Signing {
    /// Unsigned: the zone file's SOA has no RRSIG. DNSSEC records elsewhere are data like any
    /// other: answered when asked for by type, never added to answers.
    #[default]
    None,
    /// Signed offline: served as the file has it; DO=1 queries get the RRSIGs and denial proofs.
    Presigned,
    /// Signed by gslbd ([`super::online`]): RRSIGs made at load and per pooled answer, NSEC
    /// white lies per negative answer.
    Online,
}

impl Signing {
    pub fn as_str(self) -> &'static str {
        match self {
            Signing::None => "none",
            Signing::Presigned => "presigned",
            Signing::Online => "online",
        }
    }
}

/// NSEC3 hash parameters (RFC 5155 §3.1.1, §4.1.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nsec3Params {
    pub iterations: u16,
    pub salt: Box<[u8]>,
}

/// The SHA-1 digest length: NSEC3 hash algorithm 1, the only one defined.
pub const NSEC3_HASH_LEN: usize = 20;

/// The chain that proves names and types absent.
#[derive(Clone, Debug, Default)]
pub enum Denial {
    /// The zone is unsigned, or has no chain.
    #[default]
    None,
    /// The owners of the NSEC records, in canonical order (RFC 4034 §6.1).
    Nsec(Vec<Name>),
    /// The NSEC3 records of the zone's NSEC3PARAM parameters, by hash (the owner's first
    /// label, base32hex-decoded), with their owners.
    Nsec3 { params: Nsec3Params, chain: Vec<([u8; NSEC3_HASH_LEN], Name)> },
}

impl Denial {
    /// An NSEC chain from its owners, in any order.
    pub fn nsec(mut owners: Vec<Name>) -> Denial {
        owners.sort();
        owners.dedup();
        Denial::Nsec(owners)
    }

    /// An NSEC3 chain from (owner, RDATA) pairs; records of other parameters are left out.
    pub fn nsec3<'r>(params: Nsec3Params, records: impl IntoIterator<Item = (&'r Name, &'r [u8])>) -> Denial {
        let mut chain: Vec<([u8; NSEC3_HASH_LEN], Name)> = records
            .into_iter()
            .filter(|(_, rdata)| nsec3_params(rdata).is_some_and(|(alg, p)| alg == 1 && p == params))
            .filter_map(|(owner, _)| Some((hash_label(owner)?, owner.clone())))
            .collect();
        chain.sort_by_key(|a| a.0);
        chain.dedup_by(|a, b| a.0 == b.0);
        Denial::Nsec3 { params, chain }
    }

    /// The owner of the NSEC record that matches or covers `name`: the last owner at or
    /// before it in canonical order (the apex, first in the chain, is before every name of
    /// the zone).
    pub fn nsec_at_or_before(&self, name: &Name) -> Option<&Name> {
        let Denial::Nsec(owners) = self else { return None };
        let i = owners.partition_point(|o| o <= name);
        owners.get(i.checked_sub(1).unwrap_or(owners.len().checked_sub(1)?))
    }

    /// The owner of the NSEC3 record whose hash is `name`'s hash, if any.
    pub fn nsec3_matching(&self, name: &Name) -> Option<&Name> {
        let Denial::Nsec3 { params, chain } = self else { return None };
        let h = nsec3_hash(name, params);
        chain.binary_search_by(|e| e.0.cmp(&h)).ok().map(|i| &chain[i].1)
    }

    /// The owner of the NSEC3 record that covers `name`'s hash (the last hash before it,
    /// wrapping around to the last record), if the chain has any record.
    pub fn nsec3_covering(&self, name: &Name) -> Option<&Name> {
        let Denial::Nsec3 { params, chain } = self else { return None };
        let h = nsec3_hash(name, params);
        let i = chain.partition_point(|e| e.0 < h);
        let i = i.checked_sub(1).unwrap_or(chain.len().checked_sub(1)?);
        Some(&chain[i].1)
    }

    pub fn is_nsec3(&self) -> bool {
        matches!(self, Denial::Nsec3 { .. })
    }
}

/// (hash algorithm, parameters) of NSEC3 or NSEC3PARAM RDATA: algorithm, flags,
/// iterations, salt length, salt.
pub fn nsec3_params(rdata: &[u8]) -> Option<(u8, Nsec3Params)> {
    let (&[alg, _flags, i1, i2, salt_len], rest) = rdata.split_first_chunk::<5>()?;
    let salt = rest.get(..usize::from(salt_len))?;
    Some((alg, Nsec3Params { iterations: u16::from_be_bytes([i1, i2]), salt: salt.into() }))
}

/// The hash an NSEC3 owner carries in its first label (base32hex, either case).
fn hash_label(owner: &Name) -> Option<[u8; NSEC3_HASH_LEN]> {
    let label = owner.iter().next()?;
    if label.len() != 32 {
        return None;
    }
    let mut upper = [0u8; 32];
    for (u, c) in upper.iter_mut().zip(label) {
        *u = c.to_ascii_uppercase();
    }
    let mut out = [0u8; NSEC3_HASH_LEN];
    data_encoding::BASE32HEX_NOPAD.decode_mut(&upper, &mut out).ok()?;
    Some(out)
}

/// The NSEC3 hash of `name` (RFC 5155 §5): SHA-1 over the canonical (lower-case) wire form
/// and the salt, then `iterations` more times over the digest and the salt. On the stack.
pub fn nsec3_hash(name: &Name, params: &Nsec3Params) -> [u8; NSEC3_HASH_LEN] {
    let mut wire = [0u8; 256];
    let mut len = 0;
    for label in name.iter() {
        if len + 1 + label.len() >= wire.len() {
            break; // cannot happen: a name is at most 255 octets
        }
        wire[len] = label.len() as u8;
        for (w, c) in wire[len + 1..].iter_mut().zip(label) {
            *w = c.to_ascii_lowercase();
        }
        len += 1 + label.len();
    }
    len += 1; // the root label
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(&wire[..len]);
    ctx.update(&params.salt);
    let mut out = [0u8; NSEC3_HASH_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    for _ in 0..params.iterations {
        let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
        ctx.update(&out);
        ctx.update(&params.salt);
        out.copy_from_slice(ctx.finish().as_ref());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn nsec3_hash_matches_rfc5155_appendix_a() {
        // RFC 5155 Appendix A: salt aabbccdd, 12 iterations.
        let p = Nsec3Params { iterations: 12, salt: vec![0xaa, 0xbb, 0xcc, 0xdd].into() };
        let enc = |h: [u8; 20]| data_encoding::BASE32HEX_NOPAD.encode(&h).to_ascii_lowercase();
        assert_eq!(enc(nsec3_hash(&n("example."), &p)), "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom");
        assert_eq!(enc(nsec3_hash(&n("a.example."), &p)), "35mthgpgcu1qg68fab165klnsnk3dpvl");
        assert_eq!(enc(nsec3_hash(&n("A.EXAMPLE."), &p)), "35mthgpgcu1qg68fab165klnsnk3dpvl");
        assert_eq!(enc(nsec3_hash(&n("*.w.example."), &p)), "r53bq7cc2uvmubfu5ocmm6pers9tk9en");
    }

    #[test]
    fn nsec_owner_at_or_before_in_canonical_order() {
        let d = Denial::nsec(vec![n("b.example."), n("example."), n("z.a.example."), n("a.example.")]);
        assert_eq!(d.nsec_at_or_before(&n("example.")), Some(&n("example.")));
        assert_eq!(d.nsec_at_or_before(&n("0.example.")), Some(&n("example.")));
        assert_eq!(d.nsec_at_or_before(&n("y.a.example.")), Some(&n("a.example.")));
        assert_eq!(d.nsec_at_or_before(&n("zz.a.example.")), Some(&n("z.a.example.")));
        assert_eq!(d.nsec_at_or_before(&n("c.example.")), Some(&n("b.example.")));
    }

    #[test]
    fn nsec3_chain_matches_and_covers_with_wraparound() {
        let p = Nsec3Params { iterations: 12, salt: vec![0xaa, 0xbb, 0xcc, 0xdd].into() };
        let rdata = [&[1u8, 0, 0, 12, 4, 0xaa, 0xbb, 0xcc, 0xdd][..], &[20], &[0; 20]].concat();
        let owners = [n("0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example."), n("35MTHGPGCU1QG68FAB165KLNSNK3DPVL.example.")];
        let other = [&[1u8, 0, 0, 1, 0][..], &[20], &[0; 20]].concat();
        let recs = vec![(&owners[0], &rdata[..]), (&owners[1], &rdata[..]), (&owners[1], &other[..])];
        let d = Denial::nsec3(p, recs);
        assert_eq!(d.nsec3_matching(&n("a.example.")), Some(&owners[1]));
        assert_eq!(d.nsec3_matching(&n("b.example.")), None);
        // *.w.example. hashes to r53b..., after both: covered by the last one.
        assert_eq!(d.nsec3_covering(&n("*.w.example.")), Some(&owners[1]));
        // example. hashes to 0p9m..., the first: a hash that matches is not covered by its own
        // record; the one before it (wrapping around) is returned.
        assert_eq!(d.nsec3_covering(&n("example.")), Some(&owners[1]));
    }
}
