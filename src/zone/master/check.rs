//! Zone-level checks over the loaded records, and the RRsets a server serves from them.
//!
//! Errors (the zone is refused, as by at least one of Knot, NSD and BIND):
//! - a record outside the zone (NSD; Knot and BIND drop it with a warning);
//! - an SOA below the apex, a second SOA, no SOA or no NS at the apex (RFC 1035 §5.2);
//! - CNAME beside other data, except RRSIG and NSEC (RFC 1034 §3.6.2, RFC 4035 §2.5), two
//!   CNAMEs or two DNAMEs at one name (RFC 6672 §2.4);
//! - data below a DNAME (RFC 6672 §2.4 lets a server refuse it; Knot and NSD do);
//! - RFC 3597 RDATA that does not have its known type's layout.
//!
//! Warnings: records of one RRset written with different TTLs (RFC 2181 §5.2).
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use crate::zone::master::rdata::types::type_name;
use crate::zone::master::{Diagnostic, Entry, name, wire};

/// An owner name hashed and compared without letter case, borrowed from its entry (the
/// grouping below copies no name). Wire-form length octets are below 64, so lowercasing
/// the whole wire form changes letters only.
#[derive(Clone, Copy, Debug)]
struct Owner<'a>(&'a [u8]);

impl Hash for Owner<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let mut words = self.0.chunks_exact(8);
        for w in &mut words {
            h.write_u64(lower8(u64::from_le_bytes(w.try_into().expect("8 octets"))));
        }
        let mut last = [0u8; 8];
        last[..words.remainder().len()].copy_from_slice(words.remainder());
        h.write_u64(lower8(u64::from_le_bytes(last)));
        h.write_usize(self.0.len());
    }
}

/// Eight octets with each ASCII capital letter made small (the others kept), at once.
fn lower8(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low7 = x & (ONES * 0x7f);
    let above_z = low7 + ONES * (0x80 - b'Z' - 1) as u64; // high bit set where > 'Z'
    let from_a = low7 + ONES * (0x80 - b'A') as u64; // high bit set where >= 'A'
    let upper = (from_a ^ above_z) & !x & (ONES * 0x80);
    x | (upper >> 2)
}

impl PartialEq for Owner<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for Owner<'_> {}

/// Maps keyed by what the operator's own files hold (no untrusted input): the Fx hash, several
/// times faster than SipHash on a million owner names.
type FastMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

/// One RRset: the records of one owner (compared without case) and type, duplicates
/// removed ([`wire::same_record`]: the first written is kept), in the order the file gives
/// them. RRSIGs form one set per type covered: each has the TTL of the RRset it signs
/// (RFC 4034 §3), so RRSIGs at one name may differ. A view into [`RRsets`].
#[derive(Debug, Clone, Copy)]
pub struct RRset<'a> {
    /// The owner as first written (case kept).
    pub owner: &'a [u8],
    pub rtype: u16,
    /// For RRSIG, the type covered.
    pub covered: Option<u16>,
    /// The TTL of the last record written, as Knot serves a mixed-TTL RRset.
    pub ttl: u32,
    pub rdatas: &'a [&'a [u8]],
    /// Where each record (of `rdatas`) came from.
    pub sources: &'a [(&'a Arc<Path>, usize)],
    /// Every record written for this RRset, duplicates included, in file order (indexes
    /// into the entries; see [`RRsets::written`]).
    written: &'a [u32],
}

/// The RRsets of a zone's entries, in order of first appearance: a few flat arrays (no
/// allocation per set, which at a million records was a third of the load time).
#[derive(Debug)]
pub struct RRsets<'a> {
    entries: &'a [Entry],
    sets: Vec<SetMeta>,
    rdatas: Vec<&'a [u8]>,
    sources: Vec<(&'a Arc<Path>, usize)>,
    /// Entry indexes grouped by set, in file order within a set.
    order: Vec<u32>,
}

/// Which entries form which RRset, as indexes into the entries (nothing borrowed): what the
/// zone checks grouped, handed to the zone build so that a zone is grouped once (the grouping
/// hashes every record: at a million records, a tenth of the load). [`Grouping::rrsets`]
/// gives the RRsets again.
#[derive(Debug)]
pub struct Grouping {
    sets: Vec<SetMeta>,
    order: Vec<u32>,
    /// How many entries it groups (a grouping serves only the entries it was made from).
    entries: usize,
}

#[derive(Debug)]
struct SetMeta {
    /// The entry whose owner the set has (its first record).
    first: u32,
    rtype: u16,
    covered: Option<u16>,
    ttl: u32,
    /// Range into `rdatas` and `sources`.
    kept: (u32, u32),
    /// Range into `order`.
    written: (u32, u32),
}

impl<'a> RRsets<'a> {
    /// The grouping alone, to make these RRsets again later.
    pub fn into_grouping(self) -> Grouping {
        Grouping { sets: self.sets, order: self.order, entries: self.entries.len() }
    }

    /// The number of RRsets.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// The RRsets in order of first appearance.
    pub fn iter(&self) -> Iter<'_, 'a> {
        Iter { sets: self, next: 0 }
    }

    fn view(&self, m: &SetMeta) -> RRset<'_> {
        RRset {
            owner: &self.entries[m.first as usize].owner,
            rtype: m.rtype,
            covered: m.covered,
            ttl: m.ttl,
            rdatas: &self.rdatas[m.kept.0 as usize..m.kept.1 as usize],
            sources: &self.sources[m.kept.0 as usize..m.kept.1 as usize],
            written: &self.order[m.written.0 as usize..m.written.1 as usize],
        }
    }

    /// Every record written for `set`, duplicates included: file, line and TTL.
    pub fn written<'s>(&'s self, set: &RRset<'s>) -> impl Iterator<Item = (&'a Arc<Path>, usize, u32)> + 's {
        set.written.iter().map(|&i| {
            let e = &self.entries[i as usize];
            (&e.file, e.line, e.ttl)
        })
    }
}

/// The iterator of [`RRsets::iter`].
pub struct Iter<'s, 'a> {
    sets: &'s RRsets<'a>,
    next: usize,
}

impl<'s> Iterator for Iter<'s, '_> {
    type Item = RRset<'s>;
    fn next(&mut self) -> Option<RRset<'s>> {
        let m = self.sets.sets.get(self.next)?;
        self.next += 1;
        Some(self.sets.view(m))
    }
}

impl<'s, 'a> IntoIterator for &'s RRsets<'a> {
    type Item = RRset<'s>;
    type IntoIter = Iter<'s, 'a>;
    fn into_iter(self) -> Iter<'s, 'a> {
        self.iter()
    }
}

/// Groups entries into RRsets, in order of first appearance.
pub fn rrsets(entries: &[Entry]) -> RRsets<'_> {
    group(entries).rrsets(entries)
}

/// Which entries form which RRset (the hashing part of [`rrsets`]).
fn group(entries: &[Entry]) -> Grouping {
    // Pass 1: each entry's set, and each set's record count. The index holds set numbers
    // only (4 octets a slot, the key read from the set's first entry): a map keyed by owner,
    // type and covered type was 8 times the size, and a tenth of a large zone's load.
    let key_hash = |e: &Entry, covered: Option<u16>| {
        let mut h = rustc_hash::FxHasher::default();
        (Owner(&e.owner), e.rtype, covered).hash(&mut h);
        h.finish()
    };
    let mut index: hashbrown::HashTable<u32> = hashbrown::HashTable::with_capacity(entries.len());
    let mut sets: Vec<SetMeta> = Vec::new();
    let mut set_of: Vec<u32> = Vec::with_capacity(entries.len());
    let mut counts: Vec<u32> = Vec::new();
    for (n, e) in entries.iter().enumerate() {
        let covered = covered(e);
        let h = key_hash(e, covered);
        let same = |s: &u32| {
            let m = &sets[*s as usize];
            m.rtype == e.rtype && m.covered == covered && Owner(&entries[m.first as usize].owner) == Owner(&e.owner)
        };
        let i = match index.find(h, same) {
            Some(i) => *i,
            None => {
                sets.push(SetMeta {
                    first: n as u32,
                    rtype: e.rtype,
                    covered,
                    ttl: e.ttl,
                    kept: (0, 0),
                    written: (0, 0),
                });
                counts.push(0);
                let i = (sets.len() - 1) as u32;
                index.insert_unique(h, i, |s| {
                    let m = &sets[*s as usize];
                    key_hash(&entries[m.first as usize], m.covered)
                });
                i
            }
        };
        sets[i as usize].ttl = e.ttl;
        counts[i as usize] += 1;
        set_of.push(i);
    }
    drop(index);
    // Pass 2: entries grouped by set (a counting sort keeps file order within a set).
    let mut start = 0u32;
    for (m, c) in sets.iter_mut().zip(&mut counts) {
        m.written = (start, start + *c);
        start += *c;
        *c = m.written.0;
    }
    let mut order = vec![0u32; entries.len()];
    for (i, s) in set_of.iter().enumerate() {
        let at = &mut counts[*s as usize];
        order[*at as usize] = i as u32;
        *at += 1;
    }
    Grouping { sets, order, entries: entries.len() }
}

impl Grouping {
    /// The RRsets of `entries`, which must be the entries this grouping was made from (for
    /// others, as a safeguard, they are grouped anew rather than read through wrong indexes).
    pub fn rrsets(self, entries: &[Entry]) -> RRsets<'_> {
        if self.entries != entries.len() {
            return rrsets(entries);
        }
        let Grouping { mut sets, order, .. } = self;
        // Pass 3: each set's distinct records.
        let mut rdatas: Vec<&[u8]> = Vec::with_capacity(entries.len());
        let mut sources = Vec::with_capacity(entries.len());
        for m in &mut sets {
            let first = rdatas.len();
            for &i in &order[m.written.0 as usize..m.written.1 as usize] {
                let e = &entries[i as usize];
                if !rdatas[first..].iter().any(|r| wire::same_record(e.rtype, r, &e.rdata)) {
                    rdatas.push(&e.rdata);
                    sources.push((&e.file, e.line));
                }
            }
            m.kept = (first as u32, rdatas.len() as u32);
        }
        RRsets { entries, sets, rdatas, sources, order }
    }
}

/// The type an RRSIG covers (its first two octets).
fn covered(e: &Entry) -> Option<u16> {
    (e.rtype == 46).then(|| e.rdata.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]))).flatten()
}

fn diag(e: &Entry, message: String) -> Diagnostic {
    Diagnostic { file: e.file.to_path_buf(), line: e.line, record_line: e.line, message }
}

/// Runs the zone-level checks. `complete` is false when syntax errors dropped records; the
/// checks for a missing SOA or NS are then skipped (the record may be the one that failed).
/// Returns the entries' grouping into RRsets, which the checks made.
pub(crate) fn check(
    origin: &[u8],
    entries: &[Entry],
    complete: bool,
    top_file: &Path,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> Grouping {
    let shown_origin = name::to_text(origin);
    let mut in_zone: Vec<&Entry> = Vec::with_capacity(entries.len());
    for e in entries {
        if name::is_subdomain(&e.owner, origin) {
            in_zone.push(e);
        } else {
            errors.push(diag(e, format!("{} is outside the zone {shown_origin}", name::to_text(&e.owner))));
        }
    }
    for e in &in_zone {
        if let Err(m) = wire::embedded_names(e.rtype, &e.rdata) {
            errors.push(diag(e, format!("{} {}: {m}", name::to_text(&e.owner), type_name(e.rtype))));
        }
    }
    // The owners with a CNAME or DNAME, and all their records: the only names the checks below
    // look at together (a map of every owner cost a copy of each name).
    let mut owners: FastMap<Owner<'_>, Vec<&Entry>> = FastMap::default();
    for e in in_zone.iter().filter(|e| matches!(e.rtype, 5 | 39)) {
        owners.entry(Owner(&e.owner)).or_default();
    }
    if !owners.is_empty() {
        for e in &in_zone {
            if let Some(recs) = owners.get_mut(&Owner(&e.owner)) {
                recs.push(e);
            }
        }
    }
    let mut soa_seen: Option<&Entry> = None;
    for e in in_zone.iter().filter(|e| e.rtype == 6) {
        if !name::eq_ignore_case(&e.owner, origin) {
            errors.push(diag(
                e,
                format!("SOA at {}: the SOA belongs at the zone apex {shown_origin}", name::to_text(&e.owner)),
            ));
        } else if let Some(first) = soa_seen {
            if !wire::same_record(6, &first.rdata, &e.rdata) {
                errors.push(diag(
                    e,
                    format!("a second SOA record (the first is at {}:{})", first.file.display(), first.line),
                ));
            }
        } else {
            soa_seen = Some(e);
        }
    }
    if complete && soa_seen.is_none() {
        errors.push(Diagnostic::whole(top_file, format!("the zone {shown_origin} has no SOA record at its apex")));
    }
    let apex_has_ns = in_zone.iter().any(|e| e.rtype == 2 && name::eq_ignore_case(&e.owner, origin));
    if complete && !apex_has_ns {
        errors.push(Diagnostic::whole(top_file, format!("the zone {shown_origin} has no NS records at its apex")));
    }
    let mut dnames: Vec<&[u8]> = Vec::new();
    for recs in owners.values() {
        singleton(recs, 5, "CNAME", errors);
        singleton(recs, 39, "DNAME", errors);
        let cname = recs.iter().find(|e| e.rtype == 5);
        let other = recs.iter().find(|e| !matches!(e.rtype, 5 | 46 | 47));
        if let (Some(c), Some(o)) = (cname, other) {
            let later = if c.line >= o.line && c.file == o.file { c } else { o };
            let msg = format!("{} has a CNAME and other data ({})", name::to_text(&c.owner), type_name(o.rtype));
            errors.push(diag(later, msg));
        }
        if let Some(d) = recs.iter().find(|e| e.rtype == 39) {
            dnames.push(&d.owner);
        }
    }
    if !dnames.is_empty() {
        for e in &in_zone {
            let own = &e.owner;
            if let Some(d) = dnames.iter().find(|d| own.len() > d.len() && name::is_subdomain(own, d)) {
                let msg =
                    format!("{} is below the DNAME at {} (RFC 6672 §2.4)", name::to_text(&e.owner), name::to_text(d));
                errors.push(diag(e, msg));
            }
        }
    }
    let sets = rrsets(entries);
    for set in &sets {
        if sets.written(&set).any(|(_, _, t)| t != set.ttl) {
            let lines: Vec<String> =
                sets.written(&set).map(|(f, l, t)| format!("{}:{l} TTL {t}", f.display())).collect();
            let (file, line, _) = sets.written(&set).last().expect("an RRset has records");
            warnings.push(Diagnostic {
                file: file.to_path_buf(),
                line,
                record_line: line,
                message: format!(
                    "{} {}: its records have different TTLs ({}); the RRset is served with the last, {} (as Knot does)",
                    name::to_text(set.owner),
                    type_name(set.rtype),
                    lines.join(", "),
                    set.ttl
                ),
            });
        }
    }
    sets.into_grouping()
}

/// An error for each record of a singleton type after the first distinct one.
fn singleton(recs: &[&Entry], rtype: u16, what: &str, errors: &mut Vec<Diagnostic>) {
    let mut first: Option<&Entry> = None;
    for e in recs.iter().filter(|e| e.rtype == rtype) {
        match first {
            None => first = Some(e),
            Some(f) if !wire::same_record(rtype, &f.rdata, &e.rdata) => {
                errors.push(diag(
                    e,
                    format!("{} has a second {what} (the first is on line {})", name::to_text(&e.owner), f.line),
                ));
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lower8_is_ascii_lowercase_for_every_octet() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut w = [b'x'; 8];
                w[pos] = b;
                let want: Vec<u8> = w.iter().map(u8::to_ascii_lowercase).collect();
                assert_eq!(super::lower8(u64::from_le_bytes(w)).to_le_bytes().to_vec(), want, "{b:#x} at {pos}");
            }
        }
    }
}
