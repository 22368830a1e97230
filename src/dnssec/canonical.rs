//! Canonical RDATA form and RR ordering (RFC 4034 §6.2 and §6.3, as corrected by RFC 6840 §5.1).
//!
//! Names embedded in RDATA are lowercased only for the types of RFC 4034 §6.2 item 3, and NSEC is
//! *not* among them (RFC 6840 §5.1: "DNS names in the RDATA section of NSEC resource records are
//! not converted to lowercase"); RRSIG is. Every other type, known or not, is copied octet for
//! octet (RFC 3597 §7). The RDATA must be uncompressed: a compression pointer is an error.
use super::error::{Error, Result};
use super::name;

/// One field of an RDATA layout.
#[derive(Clone, Copy)]
enum Field {
    /// A domain name, lowercased.
    Name,
    /// Fixed-size octets.
    Fixed(usize),
    /// A <character-string>: length octet and data.
    CharString,
    /// The rest of the RDATA, copied.
    Rest,
}

use Field::*;

/// The layout of the RDATA of each type whose embedded names are lowercased; `None` for types
/// copied verbatim. A6 is handled apart (its layout depends on its first octet).
fn layout(rtype: u16) -> Option<&'static [Field]> {
    Some(match rtype {
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, DNAME
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => &[Name],
        // SOA: MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM
        6 => &[Name, Name, Fixed(20)],
        // HINFO holds no names (it is on the list all the same).
        13 => return None,
        // MINFO, RP
        14 | 17 => &[Name, Name],
        // MX, AFSDB, RT, KX: 16-bit preference then a name
        15 | 18 | 21 | 36 => &[Fixed(2), Name],
        // SIG, RRSIG: 18 fixed octets, the signer's name, then the signature
        24 | 46 => &[Fixed(18), Name, Rest],
        // PX: preference, MAP822, MAPX400
        26 => &[Fixed(2), Name, Name],
        // NXT: next name, then the bitmap
        30 => &[Name, Rest],
        // SRV: priority, weight, port, target
        33 => &[Fixed(6), Name],
        // NAPTR: order, preference, flags, services, regexp, replacement
        35 => &[Fixed(4), CharString, CharString, CharString, Name],
        _ => return None,
    })
}

/// Appends the canonical form of `rdata` of type `rtype` to `out`.
pub fn canonical_rdata_into(rtype: u16, rdata: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let bad = |why| Error::BadRdata { rtype, why };
    if rtype == 38 {
        return a6_into(rdata, out);
    }
    let Some(fields) = layout(rtype) else {
        out.extend_from_slice(rdata);
        return Ok(());
    };
    let mut i = 0;
    for f in fields {
        match *f {
            Name => {
                let len = name::check_at(rdata, i)?;
                name::lowercase_into(&rdata[i..i + len], out);
                i += len;
            }
            Fixed(n) => {
                let s = rdata.get(i..i + n).ok_or_else(|| bad("truncated"))?;
                out.extend_from_slice(s);
                i += n;
            }
            CharString => {
                let len = *rdata.get(i).ok_or_else(|| bad("truncated"))? as usize;
                let s = rdata.get(i..i + 1 + len).ok_or_else(|| bad("truncated"))?;
                out.extend_from_slice(s);
                i += 1 + len;
            }
            Rest => {
                out.extend_from_slice(&rdata[i..]);
                i = rdata.len();
            }
        }
    }
    if i != rdata.len() {
        return Err(bad("trailing octets"));
    }
    Ok(())
}

/// A6 (RFC 2874 §3.1): prefix length, the address suffix, then the prefix name if the prefix length is not 0.
fn a6_into(rdata: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let bad = |why| Error::BadRdata { rtype: 38, why };
    let plen = *rdata.first().ok_or_else(|| bad("empty"))? as usize;
    if plen > 128 {
        return Err(bad("prefix length over 128"));
    }
    let suffix = (128 - plen).div_ceil(8);
    let head = rdata.get(..1 + suffix).ok_or_else(|| bad("truncated"))?;
    out.extend_from_slice(head);
    if plen == 0 {
        return if rdata.len() == head.len() { Ok(()) } else { Err(bad("trailing octets")) };
    }
    let len = name::check_at(rdata, head.len())?;
    if head.len() + len != rdata.len() {
        return Err(bad("trailing octets"));
    }
    name::lowercase_into(&rdata[head.len()..], out);
    Ok(())
}

/// Reusable buffers for putting an RRset into canonical form and order; keep one per signing thread.
#[derive(Default, Debug)]
pub struct CanonicalRrset {
    /// The canonical RDATAs, back to back.
    buf: Vec<u8>,
    /// (start, end) of each canonical RDATA in `buf`, sorted and without duplicates after `build`.
    spans: Vec<(u32, u32)>,
}

impl CanonicalRrset {
    /// Canonicalises, sorts (RFC 4034 §6.3: as left-justified octet strings) and removes duplicates.
    pub fn build<'r>(&mut self, rtype: u16, rdatas: impl IntoIterator<Item = &'r [u8]>) -> Result<()> {
        self.buf.clear();
        self.spans.clear();
        for r in rdatas {
            if r.len() > usize::from(u16::MAX) {
                return Err(Error::BadRrset("RDATA over 65535 octets"));
            }
            let start = self.buf.len();
            canonical_rdata_into(rtype, r, &mut self.buf)?;
            self.spans.push((start as u32, self.buf.len() as u32));
        }
        if self.spans.is_empty() {
            return Err(Error::BadRrset("no records"));
        }
        let buf = &self.buf;
        let at = |s: &(u32, u32)| &buf[s.0 as usize..s.1 as usize];
        self.spans.sort_unstable_by(|a, b| at(a).cmp(at(b)));
        self.spans.dedup_by(|a, b| at(a) == at(b));
        Ok(())
    }

    /// The canonical RDATAs in canonical order.
    pub fn rdatas(&self) -> impl Iterator<Item = &[u8]> {
        self.spans.iter().map(|s| &self.buf[s.0 as usize..s.1 as usize])
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(t: &str) -> Vec<u8> {
        name::from_text(t, None).unwrap()
    }

    #[test]
    fn names_are_lowercased_only_for_listed_types() {
        let mut mx = vec![0, 10];
        mx.extend(n("Mail.Example."));
        let mut out = Vec::new();
        canonical_rdata_into(15, &mx, &mut out).unwrap();
        assert_eq!(&out[2..], n("mail.example.").as_slice());
        // NSEC's next name keeps its case (RFC 6840 §5.1).
        let mut nsec = n("B.Example.");
        nsec.extend([0, 1, 0x40]);
        out.clear();
        canonical_rdata_into(47, &nsec, &mut out).unwrap();
        assert_eq!(out, nsec);
        // A type not on the list (SVCB, 64) is copied even though it holds a name.
        let mut svcb = vec![0, 1];
        svcb.extend(n("Target.Example."));
        out.clear();
        canonical_rdata_into(64, &svcb, &mut out).unwrap();
        assert_eq!(out, svcb);
        // A compressed name is refused.
        assert!(canonical_rdata_into(2, &[0xC0, 0x0C], &mut Vec::new()).is_err());
    }

    #[test]
    fn rrset_is_sorted_by_canonical_rdata_and_deduplicated() {
        // Sorted by the *lowercased* RDATA: ns0 < ns1 although 'N' < 'n' in the original.
        let a = n("NS1.example.");
        let b = n("ns0.example.");
        let c = n("ns1.Example.");
        let mut set = CanonicalRrset::default();
        set.build(2, [a.as_slice(), b.as_slice(), c.as_slice()]).unwrap();
        let got: Vec<&[u8]> = set.rdatas().collect();
        assert_eq!(got, vec![n("ns0.example.").as_slice(), n("ns1.example.").as_slice()]);
        // By RDATA alone (RDLENGTH is not part of the sort key): the longer RDATA sorts first here.
        set.build(16, [&b"\x01z"[..], &b"\x00\x01a"[..]]).unwrap();
        assert_eq!(set.rdatas().collect::<Vec<_>>(), vec![&b"\x00\x01a"[..], &b"\x01z"[..]]);
    }
}
