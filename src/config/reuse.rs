//! A reload keeps the compiled zone (its records, pools and links) of every zone whose inputs
//! did not change: the same `[[zone]]` entry, the same runtime changes, and files with the
//! same bytes (zone file, its `$INCLUDE`s, pool file). The new snapshot then shares the
//! serving one's `Arc<Zone>`, so a reload of unchanged files neither rebuilds nor doubles
//! the zones in memory (a million records: 7 s and +0.9 GB before).
//!
//! Online-signed zones are always rebuilt: what they serve depends on the time and the key
//! files too (see `config::dnssec`).
//!
//! The digests are taken of the files as they are before the load reads them, so a file
//! written during a load is seen as changed by the next reload (the `$INCLUDE`d files of a
//! zone loaded for the first time are only known after it loads: theirs are taken then).
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::{PoolEdit, ZoneEntry};

/// What one zone of a snapshot was built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ZoneInputs {
    /// The `[[zone]]` entry, its line left out (moving an entry down the config changes nothing).
    entry: ZoneEntry,
    edits: Vec<PoolEdit>,
    /// The zone file, its includes and the pool file, each with the SHA-256 of its bytes.
    files: Vec<(PathBuf, [u8; 32])>,
}

/// The digest of each file, `None` if one cannot be read.
fn digests(paths: impl IntoIterator<Item = PathBuf>) -> Option<Vec<(PathBuf, [u8; 32])>> {
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).ok()?;
            let d: [u8; 32] = Sha256::digest(&bytes).into();
            Some((p, d))
        })
        .collect()
}

fn entry_key(z: &ZoneEntry) -> ZoneEntry {
    ZoneEntry { line: 0, ..z.clone() }
}

/// Whether the zone built from `before` may serve again for `z` with `edits`: nothing it was
/// built from changed.
pub(crate) fn unchanged(before: &ZoneInputs, z: &ZoneEntry, edits: &[&PoolEdit]) -> bool {
    z.dnssec.is_none()
        && before.entry == entry_key(z)
        && before.edits.len() == edits.len()
        && before.edits.iter().zip(edits).all(|(a, b)| a == *b)
        && digests(before.files.iter().map(|(p, _)| p.clone())).is_some_and(|now| now == before.files)
}

/// The inputs of `z` as they are before its load: its zone and pool files (and the
/// `$INCLUDE`s a previous version of it read); [`ZoneInputs::complete`] adds the rest.
pub(crate) fn before_load(z: &ZoneEntry, edits: &[&PoolEdit], previous: Option<&ZoneInputs>) -> Option<ZoneInputs> {
    if z.dnssec.is_some() {
        return None;
    }
    let mut paths = vec![z.file.clone()];
    paths.extend(z.pools.clone());
    if let Some(p) = previous {
        for (f, _) in &p.files {
            if !paths.contains(f) {
                paths.push(f.clone());
            }
        }
    }
    Some(ZoneInputs {
        entry: entry_key(z),
        edits: edits.iter().map(|e| (*e).clone()).collect(),
        files: digests(paths)?,
    })
}

impl ZoneInputs {
    /// Adds the files the zone read that were not known before the load (new `$INCLUDE`s),
    /// and drops those it no longer reads.
    pub(crate) fn complete(mut self, read: &[PathBuf], pools: Option<&PathBuf>) -> Option<ZoneInputs> {
        self.files.retain(|(p, _)| read.contains(p) || Some(p) == pools);
        let new: Vec<PathBuf> = read.iter().filter(|p| !self.files.iter().any(|(f, _)| f == *p)).cloned().collect();
        self.files.extend(digests(new)?);
        Some(self)
    }
}

/// The inputs of each zone of a snapshot, by origin.
#[derive(Clone, Debug, Default)]
pub struct Inputs(pub(crate) Vec<(hickory_proto::rr::Name, ZoneInputs)>);

impl Inputs {
    pub(crate) fn get(&self, origin: &hickory_proto::rr::Name) -> Option<&ZoneInputs> {
        self.0.iter().find(|(o, _)| o == origin).map(|(_, i)| i)
    }
}
