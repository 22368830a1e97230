//! What a zone was loaded from, for the checks a reload makes against the zone it replaces:
//! the file and the line of its SOA (where an error points), the SOA serial, and a digest of
//! the data the file holds (what would go on the wire), so "the data changed" is a comparison
//! of two digests.
use std::path::PathBuf;

use hickory_proto::rr::{RData, Record};
use hickory_proto::serialize::binary::BinEncodable;
use sha2::{Digest, Sha256};

/// Where a zone came from and what it held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneSource {
    /// The master file (the first file of its records).
    pub file: PathBuf,
    /// The line of the SOA record in `file`.
    pub soa_line: usize,
    /// The SOA serial.
    pub serial: u32,
    /// SHA-256 over every record as loaded (owner with its case, type, class, TTL, RDATA), in
    /// file order, the SOA with its serial left out: equal digests, equal data.
    pub digest: [u8; 32],
}

/// Builds [`ZoneSource::digest`] one record at a time.
pub(crate) struct DataDigest(Sha256);

impl DataDigest {
    pub(crate) fn new() -> DataDigest {
        DataDigest(Sha256::new())
    }

    pub(crate) fn add(&mut self, rec: &Record) {
        let h = &mut self.0;
        for label in rec.name.iter() {
            h.update([label.len() as u8]);
            h.update(label);
        }
        h.update([0]);
        h.update(u16::from(rec.record_type()).to_be_bytes());
        h.update(u16::from(rec.dns_class).to_be_bytes());
        h.update(rec.ttl.to_be_bytes());
        let rdata = match &rec.data {
            RData::SOA(soa) => {
                let mut soa = soa.clone();
                soa.serial = 0;
                RData::SOA(soa).to_bytes()
            }
            other => other.to_bytes(),
        };
        match rdata {
            Ok(bytes) => {
                h.update((bytes.len() as u32).to_be_bytes());
                h.update(&bytes);
            }
            // Not produced for records the parser accepted; still counted, so it cannot vanish.
            Err(_) => h.update(rec.to_string().as_bytes()),
        }
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}
