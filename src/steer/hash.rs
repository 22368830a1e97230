//! The client keys and hash scores of the sticky, spill and shed policies: pure functions of
//! (client subnet, candidate identity), so a client keeps its answer while the candidates do.
use ipnet::IpNet;

use crate::util::rng::mix64;

/// Sticky hashing granularity: the client subnet is truncated to at most /24 (IPv4) or /56
/// (IPv6) before hashing, so all clients of one /24 (or /56) get the same sticky answer and the
/// ECS scope of a sticky answer is `min(24 or 56, source prefix)`.
pub const STICKY_V4_PREFIX: u8 = 24;
pub const STICKY_V6_PREFIX: u8 = 56;

/// The client key for sticky policies, and the prefix it covers.
pub fn sticky_key(subnet: IpNet) -> (u64, u8) {
    match subnet {
        IpNet::V4(n) => {
            let p = n.prefix_len().min(STICKY_V4_PREFIX);
            let bits = u64::from(u32::from(n.addr())) & mask_u64(p, 32);
            (mix64(bits ^ (u64::from(p) << 40) ^ 0x4_0000_0000_0000), p)
        }
        IpNet::V6(n) => {
            let p = n.prefix_len().min(STICKY_V6_PREFIX);
            // /56 fits in the upper 64 bits.
            let hi = (u128::from(n.addr()) >> 64) as u64 & mask_u64(p, 64);
            (mix64(hi ^ mix64(u64::from(p) | 0x6_0000_0000_0000)), p)
        }
    }
}

/// The top `p` bits of a `width`-bit value, as a mask in the low `width` bits of a u64.
fn mask_u64(p: u8, width: u32) -> u64 {
    let p = u32::from(p).min(width);
    if p == 0 {
        return 0;
    }
    // p in 1..=64, so the shift is in 0..=63; width is 32 or 64.
    (u64::MAX << (64 - p)) >> (64 - width)
}

/// Weighted rendezvous (highest random weight) score of one candidate for one client: larger
/// wins. `-w / ln(u)` with `u` uniform in (0, 1) from the hash makes each candidate win with
/// probability proportional to its weight, and removing a candidate moves only its own clients.
pub fn rendezvous_score(client_key: u64, seed: u64, weight: u32) -> f64 {
    rendezvous_score_f64(client_key, seed, f64::from(weight))
}

/// [`rendezvous_score`] with a real-valued weight (> 0): spill by spare capacity.
pub fn rendezvous_score_f64(client_key: u64, seed: u64, weight: f64) -> f64 {
    let h = mix64(client_key ^ seed.rotate_left(17) ^ mix64(seed));
    // 53 random bits, offset by half a step so u is never 0 or 1.
    let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -weight / u.ln()
}

/// A client's position in [0, 1) for shedding from one region: a hash of the client key
/// and the region's identity, independent of the rendezvous scores. A client is shed when
/// this is below the region's shed fraction, so the shed set only grows as the fraction grows.
pub fn shed_point(client_key: u64, region_seed: u64) -> f64 {
    let h = mix64(client_key ^ mix64(region_seed ^ 0x5EED_5EED_0000_5EED));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask_u64(24, 32), 0xFFFF_FF00);
        assert_eq!(mask_u64(0, 32), 0);
        assert_eq!(mask_u64(32, 32), 0xFFFF_FFFF);
        assert_eq!(mask_u64(56, 64), 0xFFFF_FFFF_FFFF_FF00);
        assert_eq!(mask_u64(64, 64), u64::MAX);
        assert_eq!(mask_u64(1, 64), 1 << 63);
    }

    #[test]
    fn sticky_key_ignores_host_bits_below_granularity() {
        let a: IpNet = "192.0.2.7/32".parse().unwrap();
        let b: IpNet = "192.0.2.200/32".parse().unwrap();
        let c: IpNet = "192.0.3.7/32".parse().unwrap();
        assert_eq!(sticky_key(a), sticky_key(b));
        assert_ne!(sticky_key(a).0, sticky_key(c).0);
        assert_eq!(sticky_key(a).1, 24);
        let w: IpNet = "10.0.0.0/8".parse().unwrap();
        assert_eq!(sticky_key(w).1, 8);
    }
}
