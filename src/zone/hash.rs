//! The hasher of the owner-name map (see [`NameHash`]).
use crate::util::rng::entropy_seed;

/// The hasher of the owner-name map. Keys are lower-cased wire-form names ([`super::nodes`]),
/// hashed eight bytes at a time (hickory hashes a `Name` one byte at a time; with std's SipHash
/// that was the largest single cost of both loading a big zone and of a lookup). This is a
/// multiply-rotate hash (FxHash's step) keyed per process: the keys are the operator's own
/// names, and a query only looks up, so collisions cannot be forced into the table.
#[derive(Clone, Debug)]
pub struct NameHash(u64);

impl NameHash {
    pub(crate) fn new() -> NameHash {
        NameHash(entropy_seed() | 1)
    }

    /// The hash of a lower-cased wire-form name (the owner-name map's key, [`super::nodes`]).
    #[inline]
    pub(crate) fn wire(&self, bytes: &[u8]) -> u64 {
        let mut h = NameHasher(self.0);
        std::hash::Hasher::write(&mut h, bytes);
        std::hash::Hasher::finish(&h)
    }
}

impl std::hash::BuildHasher for NameHash {
    type Hasher = NameHasher;
    fn build_hasher(&self) -> NameHasher {
        NameHasher(self.0)
    }
}

/// See [`NameHash`].
pub struct NameHasher(u64);

impl NameHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for NameHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // A final avalanche, so that the low bits hashbrown uses depend on every byte.
        let mut z = self.0;
        z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        z ^ (z >> 33)
    }
}
