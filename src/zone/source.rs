//! What a zone was loaded from, for the checks a reload makes against the zone it replaces:
//! the file and the line of its SOA (where an error points), the SOA serial, and a digest of
//! the data the file holds (what would go on the wire), so "the data changed" is a comparison
//! of two digests.
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::master::wire;

/// Where a zone came from and what it held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneSource {
    /// The file of the SOA record (the zone file, or a file it `$INCLUDE`s).
    pub file: PathBuf,
    /// The line of the SOA record in `file`.
    pub soa_line: usize,
    /// The SOA serial.
    pub serial: u32,
    /// SHA-256 over every RRset as loaded (owner with its case, type, class, the RRset's TTL,
    /// each record's RDATA in wire form, RRSIGs included), in file order, the SOA with its
    /// serial left out: equal digests, equal data.
    pub digest: [u8; 32],
}

/// Builds [`ZoneSource::digest`] one RRset at a time.
pub(crate) struct DataDigest(Sha256);

const TYPE_SOA: u16 = 6;
const CLASS_IN: u16 = 1;

impl DataDigest {
    pub(crate) fn new() -> DataDigest {
        DataDigest(Sha256::new())
    }

    /// One RRset: `owner` in uncompressed wire form, its records' RDATA in wire form.
    pub(crate) fn add<'r>(&mut self, owner: &[u8], rtype: u16, ttl: u32, rdatas: impl IntoIterator<Item = &'r [u8]>) {
        let h = &mut self.0;
        for rdata in rdatas {
            h.update((owner.len() as u32).to_be_bytes());
            h.update(owner);
            h.update(rtype.to_be_bytes());
            h.update(CLASS_IN.to_be_bytes());
            h.update(ttl.to_be_bytes());
            h.update((rdata.len() as u32).to_be_bytes());
            match wire::soa_serial(rdata).filter(|_| rtype == TYPE_SOA) {
                // The serial is what the rule compares on its own: left out (as zero).
                Some(_) => {
                    let at = rdata.len() - 20;
                    h.update(&rdata[..at]);
                    h.update([0u8; 4]);
                    h.update(&rdata[at + 4..]);
                }
                None => h.update(rdata),
            }
        }
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}
