//! Checking a whole `.mmdb` before it may serve: a reload that reads a damaged file (truncated,
//! half copied, overwritten in part) must fail and keep the old database serving, never swap in
//! something that answers wrongly or not at all.
//!
//! ```text
//! bytes ─► metadata (maxminddb: format version, ip_version, record size, node count, build time)
//!       ─► layout: the tree fits before the metadata, the 16-byte separator is zero
//!       ─► tree walk: every node reached exactly once from the root (only the IPv4 subtree of an
//!          IPv6 tree may be reached again, through the IPv4-mapped and 6to4 aliases), no path
//!          longer than the address, every data pointer inside the data section
//!       ─► records: every distinct record the tree points at decoded in full (pointers followed)
//!          and as the query path decodes it (record.rs)
//!       ─► sample lookups: addresses spread over each family's space, as the query path does them
//! ```
//!
//! Why our own walk beside maxminddb's: `Reader::verify` requires a non-empty `description`,
//! which ip-location-db's databases (the committed default one among them) do not have, and it
//! does not notice a node pointer that garbage turned into another valid node number. Counting
//! visits does: the subtree pointed at is reached twice and the one that was there not at all.
//!
//! Cost: one pass over the tree and one decode per distinct record, on the reload's blocking
//! thread, never on the query path (GeoLite2-City: see BENCHMARKS.md). Memory: one bit per node
//! and one `u32` per distinct record, freed when the check ends.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use maxminddb::{Reader, WithinOptions};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::record::RawRecord;
use super::tree::{Record, SEPARATOR, Tree};

/// The marker that starts the metadata section (MaxMind DB spec).
const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";
/// The spec puts the metadata in the last 128 KiB of the file.
const METADATA_MAX: usize = 128 * 1024;
/// Addresses looked up, evenly spread over each family's space.
const SPREAD: u32 = 1024;

/// Checks `bytes` as a whole MaxMind DB (see the module docs). The error says what is wrong.
pub(super) fn validate(bytes: &[u8], on_record: &mut dyn FnMut(usize, RawRecord)) -> Result<(), String> {
    let reader = Reader::from_source(bytes).map_err(|e| format!("not a valid MaxMind DB file: {e}"))?;
    let meta = reader.metadata();
    if meta.ip_version != 4 && meta.ip_version != 6 {
        return Err(format!("unsupported ip_version {} in MaxMind DB metadata", meta.ip_version));
    }
    let damaged = |what: String| format!("damaged MaxMind DB: {what}");
    let node_count = usize::try_from(meta.node_count).map_err(|_| damaged("node_count too large".into()))?;
    let record_bits = usize::from(meta.record_size);
    let tree_len = node_count.checked_mul(record_bits / 4).ok_or_else(|| damaged("node_count too large".into()))?;
    let metadata_start = find_metadata(bytes).ok_or_else(|| damaged("no metadata marker".into()))?;
    let data_start = tree_len + SEPARATOR;
    if data_start > metadata_start {
        return Err(damaged(format!(
            "the search tree ({node_count} nodes of {record_bits} bits) does not fit before the metadata at byte \
             {metadata_start}"
        )));
    }
    if bytes[tree_len..data_start].iter().any(|b| *b != 0) {
        return Err(damaged(format!("the 16 bytes after the search tree (at byte {tree_len}) are not zero")));
    }
    let tree = Checked { tree: Tree::new(bytes, node_count, meta.record_size), data_len: metadata_start - data_start };
    tree.walk(meta.ip_version == 6).map_err(damaged)?;
    check_records(&reader, node_count, tree.data_len, on_record).map_err(damaged)?;
    sample_lookups(&reader, meta.ip_version == 6).map_err(damaged)
}

/// Where the metadata section starts (just after the last marker).
fn find_metadata(bytes: &[u8]) -> Option<usize> {
    let from = bytes.len().saturating_sub(METADATA_MAX);
    let tail = &bytes[from..];
    let at = tail.windows(METADATA_MARKER.len()).rposition(|w| w == METADATA_MARKER)?;
    Some(from + at)
}

/// The search tree, with the size of the data section its records must point into.
struct Checked<'a> {
    tree: Tree<'a>,
    /// Bytes in the data section (between the separator and the metadata marker).
    data_len: usize,
}

impl Checked<'_> {
    /// Walks every node from the root (see the module docs).
    fn walk(&self, ipv6: bool) -> Result<(), String> {
        let bits = if ipv6 { 128 } else { 32 };
        let node_count = self.tree.node_count;
        // The IPv4 subtree of an IPv6 tree: 96 left turns from the root. MaxMind's writers point
        // ::ffff:0:0/96, 2001::/32 and 2002::/16 at it, so it may be reached more than once.
        let ipv4_root = if ipv6 { Some(self.tree.ipv4_start().0).filter(|n| *n < node_count) } else { None };
        let mut seen = vec![0u64; node_count.div_ceil(64)];
        let mut visited = 0usize;
        let mut stack: Vec<(usize, usize)> = vec![(0, 0)];
        while let Some((node, depth)) = stack.pop() {
            if seen[node / 64] & (1 << (node % 64)) != 0 {
                if Some(node) == ipv4_root {
                    continue;
                }
                return Err(format!("search tree node {node} is reached twice (a pointer was overwritten)"));
            }
            seen[node / 64] |= 1 << (node % 64);
            visited += 1;
            for side in 0..2 {
                let r = self.tree.raw(node, side);
                match self.tree.classify(r) {
                    Record::Node(next) => {
                        if depth + 1 >= bits {
                            return Err(format!("search tree path through node {node} is longer than {bits} bits"));
                        }
                        stack.push((next, depth + 1));
                    }
                    Record::Empty => {}
                    Record::Data(o) if o < self.data_len => {}
                    Record::Data(_) | Record::Invalid => {
                        return Err(format!("search tree node {node} points outside the data section ({r})"));
                    }
                }
            }
        }
        if visited != node_count {
            return Err(format!(
                "{} of the {} search tree nodes cannot be reached (a pointer was overwritten)",
                node_count - visited,
                node_count
            ));
        }
        Ok(())
    }
}

/// Decodes every distinct record the tree points at: in full (every map, array and pointer
/// followed) and as the query path reads it, handing each to `on_record` (with its offset).
fn check_records(
    reader: &Reader<&[u8]>,
    node_count: usize,
    data_len: usize,
    on_record: &mut dyn FnMut(usize, RawRecord),
) -> Result<(), String> {
    // One bit per byte of the data section: which record offsets were decoded already.
    let mut done = vec![0u64; data_len.div_ceil(64)];
    let networks = reader.networks(WithinOptions::default()).map_err(|e| e.to_string())?;
    for (i, hit) in networks.enumerate() {
        // The walk above bounds the tree; this only guards the iteration itself.
        if i > node_count.saturating_mul(2) {
            return Err("the search tree has more networks than it has room for".into());
        }
        let hit = hit.map_err(|e| e.to_string())?;
        let Some(offset) = hit.offset().filter(|o| *o < data_len) else { continue };
        if done[offset / 64] & (1 << (offset % 64)) != 0 {
            continue;
        }
        done[offset / 64] |= 1 << (offset % 64);
        let raw = hit.decode::<Walk>().and_then(|_| hit.decode::<RawRecord>()).map_err(|e| {
            let at = hit.network().map(|n| n.to_string()).unwrap_or_default();
            format!("the record of {at} does not decode: {e}")
        })?;
        on_record(offset, raw.unwrap_or_default());
    }
    Ok(())
}

/// Looks addresses up as the query path does, spread over each family's space.
fn sample_lookups(reader: &Reader<&[u8]>, ipv6: bool) -> Result<(), String> {
    let v4 = (0..SPREAD).map(|i| IpAddr::V4(Ipv4Addr::from(i.wrapping_mul(u32::MAX / SPREAD) | 0x0101)));
    let v6 = (0..SPREAD)
        .filter(|_| ipv6)
        .map(|i| IpAddr::V6(Ipv6Addr::from((u128::from(i) * (u128::MAX / u128::from(SPREAD))) | 0x0101)));
    for ip in v4.chain(v6) {
        let hit = reader.lookup(ip).map_err(|e| format!("looking up {ip}: {e}"))?;
        hit.network().map_err(|e| format!("the network of {ip}: {e}"))?;
        hit.decode::<RawRecord>().map_err(|e| format!("the record of {ip}: {e}"))?;
    }
    Ok(())
}

/// A value decoded in full: every map key and value and every array element visited, so every
/// pointer inside the record is followed (serde's `IgnoredAny` would skip
/// them unread).
struct Walk;

impl<'de> Deserialize<'de> for Walk {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Walk, D::Error> {
        d.deserialize_any(WalkVisitor)
    }
}

struct WalkVisitor;

impl<'de> Visitor<'de> for WalkVisitor {
    type Value = Walk;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any MaxMind DB value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Walk, A::Error> {
        while map.next_entry::<Walk, Walk>()?.is_some() {}
        Ok(Walk)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Walk, A::Error> {
        while seq.next_element::<Walk>()?.is_some() {}
        Ok(Walk)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_i128<E>(self, _: i128) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_u128<E>(self, _: u128) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_str<E>(self, _: &str) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_unit<E>(self) -> Result<Walk, E> {
        Ok(Walk)
    }
}
