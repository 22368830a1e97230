//! TSIG (RFC 8945): shared-secret keys, and the signing and checking of DNS messages with them.
//!
//! ```text
//! key file (BIND `key "n" { algorithm hmac-sha256; secret "…"; };` or TOML, mode 0600)
//!   ─keyfile::read─► KeyRing { Key { name, algorithm, secret } }
//! request ─message::find─► TsigRecord (the last additional record) ─message::verify_request─► Ok(Key) | Reject
//! reply   ─message::Signer::sign─► reply + TSIG RR (the request MAC chained in; on a
//!                                  multi-message transfer each MAC chains the one before, §5.3.1)
//! ```
//!
//! The HMAC is ring's (`ring::hmac`): nothing here is cryptography of our own, only the
//! octets RFC 8945 §4.3 says go into the digest. Only HMAC-SHA256/384/512 are accepted (the
//! algorithms RFC 8945 §6 says to implement besides SHA-1, which we do not offer); a request
//! signed with another algorithm is answered as with an unknown key (BADKEY).
pub mod keyfile;
pub mod message;

use hickory_proto::rr::Name;

/// A key name as a config or key file writes it (`xfr-key` or `xfr-key.`): absolute, lower case.
pub fn key_name(text: &str) -> Result<Name, String> {
    let mut n = Name::from_ascii(text).map_err(|e| e.to_string())?.to_lowercase();
    n.set_fqdn(true);
    Ok(n)
}

/// The HMAC algorithms we sign and verify with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    /// From the name in a key file or a TSIG record (`hmac-sha256`, with or without the final dot).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name.trim_end_matches('.').to_ascii_lowercase().as_str() {
            "hmac-sha256" => Some(Algorithm::HmacSha256),
            "hmac-sha384" => Some(Algorithm::HmacSha384),
            "hmac-sha512" => Some(Algorithm::HmacSha512),
            _ => None,
        }
    }
    /// The algorithm's domain name (RFC 8945 §6), without the final dot.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }
    /// The uncompressed wire form of [`Algorithm::name`].
    pub fn wire_name(self) -> Vec<u8> {
        let n = self.name();
        let mut out = Vec::with_capacity(n.len() + 2);
        out.push(n.len() as u8);
        out.extend_from_slice(n.as_bytes());
        out.push(0);
        out
    }
    /// The length of a full MAC.
    pub fn mac_len(self) -> usize {
        match self {
            Algorithm::HmacSha256 => 32,
            Algorithm::HmacSha384 => 48,
            Algorithm::HmacSha512 => 64,
        }
    }
    fn ring(self) -> ring::hmac::Algorithm {
        match self {
            Algorithm::HmacSha256 => ring::hmac::HMAC_SHA256,
            Algorithm::HmacSha384 => ring::hmac::HMAC_SHA384,
            Algorithm::HmacSha512 => ring::hmac::HMAC_SHA512,
        }
    }
}

/// One shared secret.
#[derive(Clone)]
pub struct Key {
    /// The key's name, lower case (names compare without case; the digest uses lower case).
    pub name: Name,
    pub algorithm: Algorithm,
    hmac: ring::hmac::Key,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({} {})", self.name, self.algorithm.name())
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.name == other.name && self.algorithm == other.algorithm
    }
}

impl Key {
    /// A key from its name, algorithm and secret (the decoded octets).
    pub fn new(name: &Name, algorithm: Algorithm, secret: &[u8]) -> Key {
        let mut name = name.to_lowercase();
        name.set_fqdn(true);
        Key { name, algorithm, hmac: ring::hmac::Key::new(algorithm.ring(), secret) }
    }
    /// The MAC of `data`.
    pub fn mac(&self, data: &[u8]) -> Vec<u8> {
        ring::hmac::sign(&self.hmac, data).as_ref().to_vec()
    }
    /// Whether `mac` is the full MAC of `data` (compared in constant time by ring).
    pub fn verify(&self, data: &[u8], mac: &[u8]) -> bool {
        ring::hmac::verify(&self.hmac, data, mac).is_ok()
    }
}

/// The keys of a key file, looked up by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyRing {
    keys: Vec<Key>,
}

impl KeyRing {
    pub fn new(keys: Vec<Key>) -> KeyRing {
        KeyRing { keys }
    }
    /// The key named `name` (any case).
    pub fn get(&self, name: &Name) -> Option<&Key> {
        self.keys.iter().find(|k| k.name == *name)
    }
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
