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
use std::path::Path;
use std::sync::Arc;

use crate::zone::master::rdata::types::type_name;
use crate::zone::master::{Diagnostic, Entry, name, wire};

/// One RRset: the records of one owner (compared without case) and type, duplicates
/// removed ([`wire::same_record`]: the first written is kept), in the order the file gives them. RRSIGs form one set per type covered: each
/// has the TTL of the RRset it signs (RFC 4034 §3), so RRSIGs at one name may differ.
#[derive(Debug, Clone)]
pub struct RRset<'a> {
    /// The owner as first written (case kept).
    pub owner: &'a [u8],
    pub rtype: u16,
    /// For RRSIG, the type covered.
    pub covered: Option<u16>,
    /// The TTL of the last record written, as Knot serves a mixed-TTL RRset.
    pub ttl: u32,
    pub rdatas: Vec<&'a [u8]>,
    /// Where each record (of `rdatas`) came from.
    pub sources: Vec<(&'a Arc<Path>, usize)>,
    /// Every record written for this RRset, duplicates included: file, line and TTL.
    pub written: Vec<(&'a Arc<Path>, usize, u32)>,
}

fn lower(name: &[u8]) -> Vec<u8> {
    name.to_ascii_lowercase()
}

/// Groups entries into RRsets, in order of first appearance.
pub fn rrsets(entries: &[Entry]) -> Vec<RRset<'_>> {
    let mut index: HashMap<(Vec<u8>, u16, Option<u16>), usize> = HashMap::new();
    let mut out: Vec<RRset<'_>> = Vec::new();
    for e in entries {
        let covered = covered(e);
        let key = (lower(&e.owner), e.rtype, covered);
        let i = *index.entry(key).or_insert_with(|| {
            out.push(RRset {
                owner: &e.owner,
                rtype: e.rtype,
                covered,
                ttl: e.ttl,
                rdatas: Vec::new(),
                sources: Vec::new(),
                written: Vec::new(),
            });
            out.len() - 1
        });
        let set = &mut out[i];
        set.ttl = e.ttl;
        set.written.push((&e.file, e.line, e.ttl));
        if !set.rdatas.iter().any(|r| wire::same_record(e.rtype, r, &e.rdata)) {
            set.rdatas.push(&e.rdata);
            set.sources.push((&e.file, e.line));
        }
    }
    out
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
pub(crate) fn check(
    origin: &[u8],
    entries: &[Entry],
    complete: bool,
    top_file: &Path,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) {
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
    // Per owner: the first line of each type, and distinct RDATA of singleton types.
    let mut owners: HashMap<Vec<u8>, Vec<&Entry>> = HashMap::new();
    for e in &in_zone {
        owners.entry(lower(&e.owner)).or_default().push(e);
    }
    let apex = lower(origin);
    let mut soa_seen: Option<&Entry> = None;
    for e in in_zone.iter().filter(|e| e.rtype == 6) {
        if lower(&e.owner) != apex {
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
    let apex_has_ns = owners.get(&apex).is_some_and(|v| v.iter().any(|e| e.rtype == 2));
    if complete && !apex_has_ns {
        errors.push(Diagnostic::whole(top_file, format!("the zone {shown_origin} has no NS records at its apex")));
    }
    let mut dnames: Vec<Vec<u8>> = Vec::new();
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
            dnames.push(lower(&d.owner));
        }
    }
    if !dnames.is_empty() {
        for e in &in_zone {
            let own = lower(&e.owner);
            if let Some(d) = dnames.iter().find(|d| own.len() > d.len() && name::is_subdomain(&own, d)) {
                let msg =
                    format!("{} is below the DNAME at {} (RFC 6672 §2.4)", name::to_text(&e.owner), name::to_text(d));
                errors.push(diag(e, msg));
            }
        }
    }
    for set in rrsets(entries) {
        if set.written.iter().any(|(_, _, t)| *t != set.ttl) {
            let lines: Vec<String> =
                set.written.iter().map(|(f, l, t)| format!("{}:{l} TTL {t}", f.display())).collect();
            let (file, line, _) = set.written.last().expect("an RRset has records");
            warnings.push(Diagnostic {
                file: file.to_path_buf(),
                line: *line,
                record_line: *line,
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
