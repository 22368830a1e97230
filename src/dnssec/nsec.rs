//! NSEC RDATA and its type bitmap (RFC 4034 §4.1).
use super::buf::{Bytes, StackVec};
use super::error::{Error, Result};
use super::name;

pub const TYPE_NSEC: u16 = 47;
pub const TYPE_RRSIG: u16 = 46;
/// The NXNAME meta-type of compact denial (RFC 9824 §2).
pub const TYPE_NXNAME: u16 = 128;

/// A list of types, on the stack for the usual few.
pub type Types = StackVec<u16, 64>;

/// NSEC RDATA as built for an answer: the next name and the bitmap, on the stack.
pub type NsecRdata = Bytes<512>;

/// Appends the type bitmap of `types` (any order, duplicates allowed) to `out`: one block per
/// 256-type window in use, each of 1 to 32 octets with trailing zero octets left out.
pub fn bitmap_into<const N: usize>(types: &[u16], out: &mut Bytes<N>) {
    let mut sorted = Types::new();
    sorted.extend_from_slice(types);
    let s = sorted.as_mut_slice();
    s.sort_unstable();
    let mut n = 0;
    for i in 0..s.len() {
        if i == 0 || s[i] != s[n - 1] {
            s[n] = s[i];
            n += 1;
        }
    }
    let types = &s[..n];
    let mut i = 0;
    while i < types.len() {
        let window = (types[i] >> 8) as u8;
        let mut bits = [0u8; 32];
        let mut used = 0;
        while i < types.len() && (types[i] >> 8) as u8 == window {
            let low = (types[i] & 0xFF) as usize;
            bits[low / 8] |= 0x80 >> (low % 8);
            used = low / 8 + 1;
            i += 1;
        }
        out.push(window);
        out.push(used as u8);
        out.extend_from_slice(&bits[..used]);
    }
}

/// The types in a type bitmap, ascending.
pub fn bitmap_types(mut bm: &[u8]) -> Result<Vec<u16>> {
    let bad = |why| Error::BadRdata { rtype: TYPE_NSEC, why };
    let mut out = Vec::new();
    let mut last_window: Option<u8> = None;
    while !bm.is_empty() {
        let [window, len, ..] = *bm else { return Err(bad("truncated bitmap")) };
        if len == 0 || len > 32 || last_window.is_some_and(|w| w >= window) {
            return Err(bad("bad bitmap window"));
        }
        let bits = bm.get(2..2 + len as usize).ok_or_else(|| bad("truncated bitmap"))?;
        for (i, &b) in bits.iter().enumerate() {
            for bit in 0..8 {
                if b & (0x80 >> bit) != 0 {
                    out.push(u16::from(window) << 8 | (i * 8 + bit) as u16);
                }
            }
        }
        last_window = Some(window);
        bm = &bm[2 + len as usize..];
    }
    Ok(out)
}

/// NSEC RDATA: the next owner name (kept as given: NSEC names are not lowercased, RFC 6840 §5.1,
/// so pass it lowercase if you want it lowercase) and the bitmap of `types`.
pub fn nsec_rdata(next: &[u8], types: &[u16]) -> Result<NsecRdata> {
    name::check(next)?;
    let mut r = NsecRdata::new();
    r.extend_from_slice(next);
    bitmap_into(types, &mut r);
    Ok(r)
}

/// Splits an NSEC RDATA into the next name and the bitmap.
pub fn parse_nsec(rdata: &[u8]) -> Result<(&[u8], &[u8])> {
    let len = name::check_at(rdata, 0)?;
    Ok(rdata.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4034_4_3_example_bitmap() {
        // alfa.example.com. NSEC host.example.com. A MX RRSIG NSEC TYPE1234
        let mut bm: Bytes<64> = Bytes::new();
        bitmap_into(&[1, 15, 46, 47, 1234, 1], &mut bm);
        let bm = bm.as_slice().to_vec();
        // Window 0: A, MX, RRSIG, NSEC; window 4: 1234 = 4*256 + 210, bit 210 = octet 26, 0x20.
        let mut want = vec![0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, 0x04, 0x1b];
        want.extend([0u8; 26]);
        want.push(0x20);
        assert_eq!(bm, want);
        assert_eq!(bitmap_types(&bm).unwrap(), vec![1, 15, 46, 47, 1234]);
    }
}
