//! Randomness without globals: the [`Random`] source is passed in (never fetched), seeded from
//! [`entropy_seed`] in production and from a constant in tests; and stable 64-bit identities
//! of byte strings ([`seed_of`]) for hashing that must not change between runs.
use std::net::IpAddr;

/// A source of uniformly distributed 64-bit values. The server passes one per worker; tests
/// pass a seeded [`SplitMix64`] so random policies are reproducible.
pub trait Random {
    fn next_u64(&mut self) -> u64;
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, passes BigCrush, fine for load spreading.
/// Not for anything secret.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }
}

impl Random for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.state)
    }
}

impl<R: Random + ?Sized> Random for &mut R {
    fn next_u64(&mut self) -> u64 {
        (**self).next_u64()
    }
}

/// The SplitMix64 / Murmur3 finaliser: a bijection that spreads every input bit over the output.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform integer in `0..n` (n > 0) by multiply-shift (Lemire); bias ≤ n / 2^64.
pub fn below(rng: &mut (impl Random + ?Sized), n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

/// A stable 64-bit identity for a byte string (FNV-1a, then mixed).
pub fn seed_of(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix64(h)
}

pub fn seed_of_addr(a: IpAddr) -> u64 {
    match a {
        IpAddr::V4(v4) => seed_of(&v4.octets()),
        IpAddr::V6(v6) => seed_of(&v6.octets()),
    }
}

/// A fresh random seed for a worker's generator (std's per-process random hash keys).
pub fn entropy_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range() {
        let mut r = SplitMix64::new(7);
        for n in [1u64, 2, 3, 10, 1_000_000] {
            for _ in 0..1000 {
                assert!(below(&mut r, n) < n);
            }
        }
    }
}
