//! A key of a zone: the key pair with its DNSKEY flags, RDATA and tag, computed once.
use super::ds;
use super::error::Result;
use super::key::{Algorithm, FLAGS_KSK, FLAGS_ZSK, KeyPair, dnskey_rdata, key_tag};
use super::name;

/// BIND's key timing metadata, in seconds since the epoch (written to and read from key files).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    pub created: Option<u64>,
    pub publish: Option<u64>,
    pub activate: Option<u64>,
    pub inactive: Option<u64>,
    pub delete: Option<u64>,
}

/// A zone's key: who it belongs to, its role, and everything derived from the public key.
#[derive(Debug)]
pub struct ZoneKey {
    /// The zone apex, lowercase wire form: the DNSKEY owner and the RRSIG signer name.
    zone: Vec<u8>,
    flags: u16,
    pair: KeyPair,
    dnskey: Vec<u8>,
    tag: u16,
    pub timing: Timing,
}

impl ZoneKey {
    pub fn new(zone: &[u8], flags: u16, pair: KeyPair, timing: Timing) -> Result<ZoneKey> {
        name::check(zone)?;
        let dnskey = dnskey_rdata(flags, pair.algorithm(), pair.public_key());
        let tag = key_tag(&dnskey);
        Ok(ZoneKey { zone: name::to_lowercase(zone), flags, pair, dnskey, tag, timing })
    }
    /// A freshly generated key-signing key (flags 257).
    pub fn generate_ksk(zone: &[u8], alg: Algorithm, now: u64) -> Result<ZoneKey> {
        ZoneKey::new(zone, FLAGS_KSK, KeyPair::generate(alg)?, Timing::now(now))
    }
    /// A freshly generated zone-signing key (flags 256).
    pub fn generate_zsk(zone: &[u8], alg: Algorithm, now: u64) -> Result<ZoneKey> {
        ZoneKey::new(zone, FLAGS_ZSK, KeyPair::generate(alg)?, Timing::now(now))
    }
    pub fn zone(&self) -> &[u8] {
        &self.zone
    }
    pub fn flags(&self) -> u16 {
        self.flags
    }
    /// Whether the SEP bit is set (a KSK).
    pub fn is_ksk(&self) -> bool {
        self.flags & 1 == 1
    }
    pub fn algorithm(&self) -> Algorithm {
        self.pair.algorithm()
    }
    pub fn pair(&self) -> &KeyPair {
        &self.pair
    }
    /// The DNSKEY RDATA.
    pub fn dnskey(&self) -> &[u8] {
        &self.dnskey
    }
    pub fn key_tag(&self) -> u16 {
        self.tag
    }
    /// The DS RDATA (SHA-256) that the parent publishes for this key.
    pub fn ds(&self) -> Result<Vec<u8>> {
        ds::ds_rdata(&self.zone, &self.dnskey)
    }
}

impl Timing {
    /// Created, published and active from `now`.
    pub fn now(now: u64) -> Timing {
        Timing { created: Some(now), publish: Some(now), activate: Some(now), inactive: None, delete: None }
    }
}
