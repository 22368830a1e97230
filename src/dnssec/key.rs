//! Key pairs (ring), DNSKEY RDATA and the key tag.
//!
//! All cryptography is ring's: P-256 ECDSA with SHA-256 in the fixed-length `r || s` encoding,
//! which is exactly the RRSIG signature format of RFC 6605 §4, and Ed25519 (RFC 8080 §4).
//! Key generation asks ring for a PKCS#8 document; the raw private key that BIND's key file needs
//! is read back out of it with the RustCrypto `pkcs8`/`sec1` DER decoders (no hand-written ASN.1).
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
    UnparsedPublicKey,
};

use super::error::{Error, Result};

/// A DNSSEC signing algorithm we support (IANA "DNS Security Algorithm Numbers").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// 13, RFC 6605. The default: smallest signatures that every validator supports.
    EcdsaP256Sha256,
    /// 15, RFC 8080.
    Ed25519,
}

impl Algorithm {
    pub const fn number(self) -> u8 {
        match self {
            Algorithm::EcdsaP256Sha256 => 13,
            Algorithm::Ed25519 => 15,
        }
    }
    pub fn from_number(n: u8) -> Result<Algorithm> {
        match n {
            13 => Ok(Algorithm::EcdsaP256Sha256),
            15 => Ok(Algorithm::Ed25519),
            _ => Err(Error::UnsupportedAlgorithm(n)),
        }
    }
    /// The mnemonic BIND writes in key files and accepts on the command line.
    pub const fn mnemonic(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256Sha256 => "ECDSAP256SHA256",
            Algorithm::Ed25519 => "ED25519",
        }
    }
    /// Length of the DNSKEY public key field: P-256 `x || y` (RFC 6605 §4), Ed25519 32 octets.
    pub const fn public_key_len(self) -> usize {
        match self {
            Algorithm::EcdsaP256Sha256 => 64,
            Algorithm::Ed25519 => 32,
        }
    }
}

/// Both algorithms make 64-octet signatures, so a signature lives on the stack.
pub const SIGNATURE_LEN: usize = 64;

enum Inner {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private key ready to sign, with its public key in DNSKEY form.
pub struct KeyPair {
    alg: Algorithm,
    inner: Inner,
    /// The DNSKEY public key field.
    public: Vec<u8>,
    /// The raw private key (P-256 scalar or Ed25519 seed), kept only to write BIND key files.
    private: Vec<u8>,
    /// ECDSA signing is randomized (ring draws the nonce); SystemRandom is a zero-sized handle.
    rng: SystemRandom,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair").field("alg", &self.alg).finish_non_exhaustive()
    }
}

fn rejected(e: ring::error::KeyRejected) -> Error {
    Error::BadKey(e.to_string())
}

fn der_err(e: impl std::fmt::Display) -> Error {
    Error::BadKey(format!("PKCS#8 from ring: {e}"))
}

impl KeyPair {
    /// A new random key.
    pub fn generate(alg: Algorithm) -> Result<KeyPair> {
        use pkcs8::der::Decode;
        let rng = SystemRandom::new();
        match alg {
            Algorithm::EcdsaP256Sha256 => {
                let doc =
                    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(|_| Error::Crypto)?;
                let info = pkcs8::PrivateKeyInfo::try_from(doc.as_ref()).map_err(der_err)?;
                let ec = sec1::EcPrivateKey::try_from(info.private_key).map_err(der_err)?;
                let public = ec.public_key.ok_or_else(|| Error::BadKey("no public key in ring's PKCS#8".into()))?;
                KeyPair::from_raw(alg, ec.private_key, &public[1..])
            }
            Algorithm::Ed25519 => {
                let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| Error::Crypto)?;
                let info = pkcs8::PrivateKeyInfo::try_from(doc.as_ref()).map_err(der_err)?;
                // RFC 8410 §7: the private key is an OCTET STRING holding the 32-octet seed.
                let seed = pkcs8::der::asn1::OctetStringRef::from_der(info.private_key).map_err(der_err)?;
                let public = info.public_key.ok_or_else(|| Error::BadKey("no public key in ring's PKCS#8".into()))?;
                KeyPair::from_raw(alg, seed.as_bytes(), public)
            }
        }
    }

    /// A key from its raw parts: the private scalar (P-256) or seed (Ed25519) as BIND stores it,
    /// and the DNSKEY public key field. ring checks that the two belong together.
    pub fn from_raw(alg: Algorithm, private: &[u8], public: &[u8]) -> Result<KeyPair> {
        if public.len() != alg.public_key_len() {
            return Err(Error::BadKey(format!("public key is {} octets, want {}", public.len(), alg.public_key_len())));
        }
        let rng = SystemRandom::new();
        let inner = match alg {
            Algorithm::EcdsaP256Sha256 => {
                let mut uncompressed = Vec::with_capacity(65);
                uncompressed.push(4);
                uncompressed.extend_from_slice(public);
                Inner::Ecdsa(
                    EcdsaKeyPair::from_private_key_and_public_key(
                        &ECDSA_P256_SHA256_FIXED_SIGNING,
                        private,
                        &uncompressed,
                        &rng,
                    )
                    .map_err(rejected)?,
                )
            }
            Algorithm::Ed25519 => {
                Inner::Ed25519(Ed25519KeyPair::from_seed_and_public_key(private, public).map_err(rejected)?)
            }
        };
        let derived: &[u8] = match &inner {
            Inner::Ecdsa(k) => &k.public_key().as_ref()[1..],
            Inner::Ed25519(k) => k.public_key().as_ref(),
        };
        if derived != public {
            return Err(Error::BadKey("private and public key do not match".into()));
        }
        Ok(KeyPair { alg, inner, public: public.to_vec(), private: private.to_vec(), rng })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }
    /// The DNSKEY public key field.
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }
    pub(crate) fn private_key(&self) -> &[u8] {
        &self.private
    }

    /// Signs `data` (the RRSIG signed data of RFC 4034 §3.1.8.1). No heap allocation.
    pub fn sign(&self, data: &[u8]) -> Result<[u8; SIGNATURE_LEN]> {
        let mut out = [0u8; SIGNATURE_LEN];
        match &self.inner {
            Inner::Ecdsa(k) => out.copy_from_slice(k.sign(&self.rng, data).map_err(|_| Error::Crypto)?.as_ref()),
            Inner::Ed25519(k) => out.copy_from_slice(k.sign(data).as_ref()),
        }
        Ok(out)
    }
}

/// Verifies a signature with ring (for tests, benchmarks and a self-check after loading keys).
pub fn verify(alg: Algorithm, public_key: &[u8], data: &[u8], signature: &[u8]) -> bool {
    match alg {
        Algorithm::EcdsaP256Sha256 => {
            let mut uncompressed = [0u8; 65];
            if public_key.len() != 64 {
                return false;
            }
            uncompressed[0] = 4;
            uncompressed[1..].copy_from_slice(public_key);
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &uncompressed[..]).verify(data, signature).is_ok()
        }
        Algorithm::Ed25519 => UnparsedPublicKey::new(&ED25519, public_key).verify(data, signature).is_ok(),
    }
}

/// DNSKEY flags of a zone-signing key (Zone Key bit, RFC 4034 §2.1.1).
pub const FLAGS_ZSK: u16 = 256;
/// DNSKEY flags of a key-signing key (Zone Key + Secure Entry Point).
pub const FLAGS_KSK: u16 = 257;
/// The REVOKE bit of RFC 5011.
pub const FLAG_REVOKE: u16 = 0x0080;

/// DNSKEY RDATA: flags, protocol 3, algorithm, public key (RFC 4034 §2.1).
pub fn dnskey_rdata(flags: u16, alg: Algorithm, public_key: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(4 + public_key.len());
    r.extend_from_slice(&flags.to_be_bytes());
    r.push(3);
    r.push(alg.number());
    r.extend_from_slice(public_key);
    r
}

/// The fields of a DNSKEY RDATA: (flags, protocol, algorithm number, public key).
pub fn parse_dnskey(rdata: &[u8]) -> Result<(u16, u8, u8, &[u8])> {
    if rdata.len() < 4 {
        return Err(Error::BadRdata { rtype: 48, why: "shorter than 4 octets" });
    }
    Ok((u16::from_be_bytes([rdata[0], rdata[1]]), rdata[2], rdata[3], &rdata[4..]))
}

/// The key tag of a DNSKEY RDATA (RFC 4034 Appendix B; algorithm 1 is not supported by this crate).
pub fn key_tag(rdata: &[u8]) -> u16 {
    let mut ac: u32 = 0;
    for (i, &b) in rdata.iter().enumerate() {
        ac += if i & 1 == 1 { u32::from(b) } else { u32::from(b) << 8 };
    }
    ac += (ac >> 16) & 0xFFFF;
    (ac & 0xFFFF) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_verify_and_round_trip_through_raw_parts() {
        for alg in [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519] {
            let k = KeyPair::generate(alg).unwrap();
            assert_eq!(k.public_key().len(), alg.public_key_len());
            let sig = k.sign(b"hello").unwrap();
            assert!(verify(alg, k.public_key(), b"hello", &sig));
            assert!(!verify(alg, k.public_key(), b"hellO", &sig));
            let again = KeyPair::from_raw(alg, k.private_key(), k.public_key()).unwrap();
            assert!(verify(alg, again.public_key(), b"x", &again.sign(b"x").unwrap()));
            let other = KeyPair::generate(alg).unwrap();
            assert!(KeyPair::from_raw(alg, k.private_key(), other.public_key()).is_err());
        }
    }
}
