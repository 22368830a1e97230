//! Building a [`Zone`] from what the loader read: RRsets in wire form, RRSIGs hung off the
//! RRsets they cover, the tree's empty non-terminals and delegation points, the negative SOA,
//! and, for a pre-signed zone, its NSEC or NSEC3 chain. The loader has already checked the
//! zone's shape (SOA, NS, CNAME, DNAME, out-of-zone) with file:line; what is checked here is
//! the signing mode the config gives.
use std::path::Path;

use hickory_proto::rr::{Name, RecordType};

use super::dnssec::{Denial, Signing, nsec3_params};
use super::key::WireKey;
use super::master::{self, Entry, wire};
use super::nodes::NodeMap;
use super::rrset::{RRset, name_from_wire};
use super::source::{DataDigest, ZoneSource};
use super::tree::{Node, Zone, labels};
use crate::diag::ConfigError;
use crate::pool::Pools;

/// Whether `e` is an RRSIG over the apex SOA: what makes a zone file a signed one (every
/// signer writes it; a stray RRSIG, NSEC or key elsewhere is data like any other).
fn signs_the_soa(e: &Entry, apex: &[u8]) -> bool {
    e.rtype == 46 && e.rdata.get(..2) == Some(&[0, 6]) && master::name::eq_ignore_case(&e.owner, apex)
}

impl Zone {
    /// Builds the zone `origin` from the loader's records (file order), reporting every
    /// problem with its line. `file` is the zone file, for problems of the zone as a whole.
    pub fn build(
        origin: Name,
        entries: &[Entry],
        signing: Signing,
        file: &Path,
        warnings: Vec<ConfigError>,
    ) -> Result<Zone, Vec<ConfigError>> {
        Zone::build_grouped(origin, entries, None, signing, file, warnings)
    }

    /// [`Zone::build`] with the entries' grouping into RRsets when the loader's checks made
    /// it (`Loaded::take_grouping`), so that it is not made twice.
    pub fn build_grouped(
        origin: Name,
        entries: &[Entry],
        grouping: Option<master::Grouping>,
        signing: Signing,
        file: &Path,
        warnings: Vec<ConfigError>,
    ) -> Result<Zone, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let apex = super::name_wire(&origin);
        if signing == Signing::None
            && let Some(e) = entries.iter().find(|e| signs_the_soa(e, &apex))
        {
            errors.push(ConfigError::new(
                e.file.as_ref(),
                e.line,
                format!(
                    "{} {}: this zone file is signed (its SOA has an RRSIG); set signing = \"presigned\" in \
                     its [[zone]] to serve it with its signatures",
                    master::name::to_text(&e.owner),
                    master::type_name(e.rtype)
                ),
            ));
        }
        if signing == Signing::Online {
            online_checks(entries, &apex, &mut errors);
        }
        let sets = match grouping {
            Some(g) => g.rrsets(entries),
            None => master::rrsets(entries),
        };
        // Sized for the owners at once (about one per run of sets with the same owner): growing
        // a map of a million nodes step by step was a fifth of a large zone's load time.
        let owners = sets.iter().zip(sets.iter().skip(1)).filter(|(a, b)| a.owner != b.owner).count() + 2;
        let mut nodes = NodeMap::with_capacity(owners);
        nodes.insert(origin.clone(), Node::default());
        let apex_labels = labels(&origin);
        let mut signatures = Vec::new();
        let mut digest = DataDigest::new();
        let mut soa_at = None;
        for set in &sets {
            digest.add(set.owner, set.rtype, set.ttl, set.rdatas.iter().copied());
            let Some(owner) = name_from_wire(set.owner) else {
                let (f, l) = set.sources[0];
                errors.push(ConfigError::new(f.as_ref(), l, "the owner name cannot be represented"));
                continue;
            };
            if set.covered.is_some() {
                signatures.push((owner, set));
                continue;
            }
            if set.rtype == u16::from(RecordType::SOA) && owner == origin {
                soa_at = set.sources.first().map(|(f, l)| (f.to_path_buf(), *l));
            }
            let rrset = RRset::new(RecordType::from(set.rtype), set.ttl, set.rdatas.iter().copied());
            let node = match WireKey::from_wire(set.owner) {
                Some(key) => nodes.with_ancestors_keyed(&key, &owner, apex_labels),
                None => nodes.with_ancestors(&owner, apex_labels),
            };
            // An NS RRset below the apex makes a delegation point (set here, not by a pass over
            // every node afterwards: at a million nodes that pass was a tenth of the load).
            node.delegation |= rrset.rtype == RecordType::NS && owner != origin;
            node.rrsets.push(rrset);
        }
        // RRSIGs hang off the RRset they cover; the rest stay RRSIG RRsets of their own.
        for (owner, set) in signatures {
            let covered = RecordType::from(set.covered.unwrap_or(0));
            let sigs = RRset::new(RecordType::RRSIG, set.ttl, set.rdatas.iter().copied());
            let node = nodes.with_ancestors(&owner, apex_labels);
            match node.rrsets.iter_mut().find(|s| s.rtype == covered && s.sigs.is_none()) {
                Some(target) => target.sigs = Some(Box::new(sigs)),
                None => node.rrsets.push(sigs),
            }
        }
        let apex = nodes.get(&origin);
        let soa = apex.and_then(|n| n.rrset(RecordType::SOA));
        let Some(soa) = soa else {
            // The loader's zone checks report this with the file; here only without them.
            if errors.is_empty() {
                errors.push(ConfigError::new(file, 0, format!("zone {origin} has no SOA record at its apex")));
            }
            return Err(errors);
        };
        let minimum = soa.rdatas().next().and_then(wire::soa_minimum).unwrap_or(soa.ttl);
        let serial = soa.rdatas().next().and_then(wire::soa_serial).unwrap_or(0);
        let (soa_file, soa_line) = soa_at.unwrap_or_else(|| (file.to_path_buf(), 0));
        let source = ZoneSource { file: soa_file, soa_line, serial, digest: digest.finish() };
        let negative_soa = soa.with_ttl(soa.ttl.min(minimum));
        let apex_dname = apex.is_some_and(|n| n.rrset(RecordType::DNAME).is_some());
        let denial = match signing {
            Signing::None | Signing::Online => Denial::None,
            Signing::Presigned => presigned_chain(&origin, &nodes, file, &mut errors),
        };
        if !errors.is_empty() {
            errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            return Err(errors);
        }
        let mut files = vec![file.to_path_buf()];
        let mut last: Option<&std::sync::Arc<Path>> = None;
        for e in entries {
            // The records of one file share its name: only a change of file is looked up.
            if last.is_some_and(|l| std::sync::Arc::ptr_eq(l, &e.file)) {
                continue;
            }
            last = Some(&e.file);
            if !files.iter().any(|f| **f == *e.file) {
                files.push(e.file.to_path_buf());
            }
        }
        Ok(Zone {
            origin,
            pools: Pools::default(),
            signing,
            warnings,
            files,
            source,
            nodes,
            negative_soa,
            denial,
            apex_dname,
            origin_labels: apex_labels,
            journal: super::Journal::default(),
            signer: None,
        })
    }
}

/// What a zone signed online may not hold: DNSSEC records of its own (gslbd makes the RRSIGs,
/// the NSEC proofs and the apex's DNSKEY, CDS and CDNSKEY; a second set would conflict), and
/// names with an octet 0xFF in a label (the white lies' spans are built on the assumption that
/// none exists, `dnssec::epsilon`).
fn online_checks(entries: &[Entry], apex: &[u8], errors: &mut Vec<ConfigError>) {
    for e in entries {
        let at_apex = master::name::eq_ignore_case(&e.owner, apex);
        let why = match e.rtype {
            46 | 47 | 50 | 51 => Some(
                "gslbd signs this zone online (signing = \"online\") and makes its own RRSIG and NSEC records; remove",
            ),
            48 | 59 | 60 if at_apex => Some(
                "gslbd publishes the apex's DNSKEY, CDS and CDNSKEY from its key directory (signing = \"online\"); remove",
            ),
            _ => None,
        };
        if let Some(why) = why {
            errors.push(ConfigError::new(
                e.file.as_ref(),
                e.line,
                format!("{why} this {} record", master::type_name(e.rtype)),
            ));
        }
        if crate::dnssec::epsilon::label_has_ff(&e.owner) {
            errors.push(ConfigError::new(
                e.file.as_ref(),
                e.line,
                format!(
                    "{}: a label with the octet 0xFF (\\255) cannot be served by a zone signed online (its denial proofs assume none)",
                    master::name::to_text(&e.owner)
                ),
            ));
        }
    }
}

/// The checks of a pre-signed zone and its denial chain: the apex must hold DNSKEY and a
/// signed SOA, and NSEC3PARAM (then the NSEC3 records of its parameters) or NSEC records.
fn presigned_chain(origin: &Name, nodes: &NodeMap, file: &Path, errors: &mut Vec<ConfigError>) -> Denial {
    let mut problem =
        |m: &str| errors.push(ConfigError::new(file, 0, format!("zone {origin} (signing = \"presigned\"): {m}")));
    let Some(apex) = nodes.get(origin) else { return Denial::None };
    if apex.rrset(RecordType::DNSKEY).is_none() {
        problem("no DNSKEY records at the apex");
    }
    if apex.rrset(RecordType::SOA).is_none_or(|s| s.sigs.is_none()) {
        problem("the SOA has no RRSIG: the zone file is not signed");
    }
    let param = apex.rrset(RecordType::NSEC3PARAM).and_then(|s| s.rdatas().next()).and_then(nsec3_params);
    if let Some((alg, params)) = param {
        if alg != 1 {
            problem(&format!("NSEC3PARAM hash algorithm {alg}: only 1 (SHA-1) is defined"));
            return Denial::None;
        }
        let records = nodes
            .iter()
            .filter_map(|(owner, node)| Some((owner, node.rrset(RecordType::NSEC3)?)))
            .flat_map(|(owner, set)| set.rdatas().map(move |r| (owner, r)));
        let chain = Denial::nsec3(params, records);
        if matches!(&chain, Denial::Nsec3 { chain, .. } if chain.is_empty()) {
            problem("NSEC3PARAM at the apex, but no NSEC3 record with its parameters");
        }
        return chain;
    }
    let owners: Vec<Name> =
        nodes.iter().filter(|(_, n)| n.rrset(RecordType::NSEC).is_some()).map(|(o, _)| o.clone()).collect();
    if owners.is_empty() {
        problem("no NSEC or NSEC3 records: it cannot prove that a name or type does not exist");
        return Denial::None;
    }
    Denial::nsec(owners)
}
