//! The interoperable server cookie of RFC 9018 §4, 16 bytes:
//!
//! ```text
//!  0       1       2       3       4       5       6       7
//! | Version=1 | Reserved (3, zero when made) | Timestamp (32-bit UNIX seconds) |
//! | Hash = SipHash-2-4(key = server secret,
//! |        Client Cookie | Version | Reserved | Timestamp | Client IP (4 or 16 bytes)) |
//! ```
//!
//! A received cookie is valid when its version is 1, the hash matches (its Reserved bytes
//! included, RFC 9018 Appendix A.3), and its timestamp lies at most an hour in the past and at
//! most five minutes in the future (RFC 9018 §4.3), in RFC 1982 serial arithmetic so the
//! check keeps working past 2106. One older than half an hour is replaced by a fresh one.
use std::net::IpAddr;

use siphasher::sip::SipHasher24;

use super::option::CLIENT_LEN;
use super::secret::Secret;

/// RFC 9018 §4.1.
pub const VERSION: u8 = 1;
pub const LEN: usize = 16;
/// A cookie more than this many seconds old is invalid (RFC 9018 §4.3: one hour).
pub const MAX_AGE: u32 = 3600;
/// A cookie up to this many seconds in the future is accepted (clock skew in an anycast set).
pub const MAX_AHEAD: u32 = 300;
/// A valid cookie older than this is replaced in the reply (RFC 9018 §4.3: half an hour).
pub const REFRESH_AGE: u32 = 1800;

/// Why a server cookie in a query does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Invalid {
    /// Not 16 bytes: not one of ours (an RFC 9018 cookie is always 16).
    Length,
    /// Version is not 1 (RFC 9018 §4.1).
    Version,
    /// The timestamp is more than an hour old.
    Expired,
    /// The timestamp is more than five minutes ahead.
    Ahead,
    /// The hash does not match with any accepted secret (another client address, a forged or
    /// stale cookie, or a secret that was rotated out).
    Hash,
}

/// Makes the server cookie for `client` at `ip` at time `now` (Reserved zero).
pub fn make(secret: &Secret, client: &[u8; CLIENT_LEN], ip: IpAddr, now: u32) -> [u8; LEN] {
    let mut cookie = [0u8; LEN];
    cookie[0] = VERSION;
    cookie[4..8].copy_from_slice(&now.to_be_bytes());
    let head: [u8; 8] = cookie[..8].try_into().unwrap_or([0; 8]);
    cookie[8..].copy_from_slice(&hash(secret, client, &head, ip));
    cookie
}

/// The age of a cookie stamped `stamp`, seen at `now`: negative when it is ahead of our clock.
pub fn age(stamp: u32, now: u32) -> i64 {
    now.wrapping_sub(stamp) as i32 as i64
}

/// Checks the timestamp window and the version, without the hash (cheap checks first).
pub fn check_form(server: &[u8], now: u32) -> Result<u32, Invalid> {
    if server.len() != LEN {
        return Err(Invalid::Length);
    }
    if server[0] != VERSION {
        return Err(Invalid::Version);
    }
    let stamp = u32::from_be_bytes([server[4], server[5], server[6], server[7]]);
    let age = age(stamp, now);
    if age > MAX_AGE as i64 {
        return Err(Invalid::Expired);
    }
    if age < -(MAX_AHEAD as i64) {
        return Err(Invalid::Ahead);
    }
    Ok(stamp)
}

/// Whether the hash of `server` (already through [`check_form`]) matches under `secret`.
pub fn hash_matches(secret: &Secret, client: &[u8; CLIENT_LEN], server: &[u8], ip: IpAddr) -> bool {
    let Some(head) = server.get(..8).and_then(|h| <[u8; 8]>::try_from(h).ok()) else { return false };
    let Some(got) = server.get(8..LEN) else { return false };
    let want = hash(secret, client, &head, ip);
    // Compare every byte whatever the first difference, so timing says nothing about the hash.
    want.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0 && got.len() == want.len()
}

/// Whether a valid cookie stamped `stamp` should be replaced by a fresh one at `now`.
pub fn needs_refresh(stamp: u32, now: u32) -> bool {
    age(stamp, now) > REFRESH_AGE as i64
}

/// SipHash-2-4 over Client Cookie | Version | Reserved | Timestamp | Client IP (RFC 9018 §4.4).
/// The 64-bit result goes on the wire in SipHash's own (little-endian) byte order, as the
/// reference implementation outputs it; RFC 9018 Appendix A's vectors pin this down.
fn hash(secret: &Secret, client: &[u8; CLIENT_LEN], head: &[u8; 8], ip: IpAddr) -> [u8; 8] {
    let mut input = [0u8; CLIENT_LEN + 8 + 16];
    input[..CLIENT_LEN].copy_from_slice(client);
    input[CLIENT_LEN..CLIENT_LEN + 8].copy_from_slice(head);
    let n = match ip {
        IpAddr::V4(a) => {
            input[16..20].copy_from_slice(&a.octets());
            20
        }
        IpAddr::V6(a) => {
            input[16..32].copy_from_slice(&a.octets());
            32
        }
    };
    SipHasher24::new_with_key(secret.bytes()).hash(&input[..n]).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_edges_and_serial_wrap() {
        let mut c = [0u8; 16];
        c[0] = 1;
        let stamp = 1_559_741_961u32;
        c[4..8].copy_from_slice(&stamp.to_be_bytes());
        assert_eq!(check_form(&c, stamp + 3600), Ok(stamp));
        assert_eq!(check_form(&c, stamp + 3601), Err(Invalid::Expired));
        assert_eq!(check_form(&c, stamp - 300), Ok(stamp));
        assert_eq!(check_form(&c, stamp - 301), Err(Invalid::Ahead));
        // Across the 2^32 wrap (year 2106): stamped just before, checked just after.
        c[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(check_form(&c, 100), Ok(u32::MAX));
        assert!(!needs_refresh(u32::MAX, 1800 - 1));
        assert!(needs_refresh(u32::MAX, 1800));
        c[0] = 2;
        assert_eq!(check_form(&c, 100), Err(Invalid::Version));
        assert_eq!(check_form(&c[..15], 100), Err(Invalid::Length));
    }
}
