//! Authoritative zone data: loading RFC 1035 master files ([`master`]) into validated
//! zones ([`Zone`]), and answering from them ([`lookup`]): exact matches, CNAME chains,
//! DNAME substitution, RFC 4592 wildcards, empty non-terminals, referrals with glue, negative
//! answers with the SOA, and for pre-signed zones the RRSIGs and NSEC/NSEC3 proofs. A pooled
//! name is a node whose A/AAAA answer the steering decides: the lookup stops there and hands
//! back a [`Pooled`].
//!
//! ```text
//! master file ─master::load_wire─► Entry (wire RDATA, file:line) ─Zone::build─► Zone { nodes, SOA, denial chain }
//! zones + failed origins ─► ZoneSet
//! (qname, qtype, DO) ─lookup─► Lookup { rcode, aa, answer/authority/additional: Section<Rrs>, pooled }
//! ```
//!
//! # How RRsets are stored, and what later work builds on
//!
//! What the zone file says goes on the wire octet for octet: an [`RRset`] keeps its records'
//! RDATA in uncompressed wire form (`RDLENGTH RDATA` pairs, one allocation per RRset), as the
//! loader built it; nothing is parsed into typed values and written back. The encoder copies
//! RDATA verbatim and compresses only the names inside the RDATA of the RFC 1035 types
//! (RFC 3597 §4). What a lookup needs is parsed once at load: the targets of CNAME, DNAME,
//! NS, MX and SRV records ([`RRset::targets`]), the SOA MINIMUM (the negative SOA's TTL).
//!
//! - **Signatures** hang off the RRset they cover ([`RRset::sigs`], an RRset of type RRSIG
//!   with the covered RRset's TTL, RFC 4034 §3), so a DO=1 answer adds them without a search,
//!   and an RRset and its RRSIGs go out (or are truncated) together. A pre-signed zone fills
//!   the slot from its file. Online signing (issue 15) fills the same slot at load and when it
//!   re-signs, by replacing the zone's `Arc` in a new snapshot; its per-answer signatures for
//!   pooled names are not zone data and stay outside the tree.
//! - **Denial**: a pre-signed zone's NSEC owners (canonical order) or NSEC3 hashes are indexed
//!   in [`Denial`], and [`proof`] picks the records each negative or wildcard answer needs. An
//!   online signer builds the same index from the chain it generates, or answers with
//!   minimal covering records of its own in place of `proof`; either way the zone says which by
//!   its [`Signing`] mode, and a zone file that holds signatures is refused unless the config
//!   says `signing = "presigned"` (the modes never mix).
//! - **Transfers** (issue 16): [`Zone::names`] walks every node; each RRset gives its type,
//!   TTL, owner (the node's key, in the file's letter case) and [`RRset::wire`], the exact
//!   octets that follow the owner, type, class and TTL in an AXFR; its `sigs` follow it. A
//!   journal for IXFR can diff two zones RRset by RRset on those octets.
mod answer;
mod build;
mod chaos;
pub mod dnssec;
mod hash;
mod journal;
pub mod key;
mod lookup;
pub mod master;
mod nodes;
pub mod online;
mod proof;
mod rrset;
mod set;
mod source;
mod tree;

use std::path::Path;

use hickory_proto::rr::Name;

use crate::diag::ConfigError;
pub use answer::{Rrs, SECTION_CAP, Section};
pub use chaos::Chaos;
pub use dnssec::{Denial, Signing};
pub use journal::{Change, Journal, Record};
pub use lookup::{Lookup, MAX_CNAME_CHAIN, Pooled, Synthesized, lookup, lookup_into};
pub use online::{Signed, Signer, SignerParams};
pub use rrset::{RRset, Rdatas, name_from_wire};
pub use set::{ZoneChoice, ZoneProblem, ZoneSet};
pub use source::ZoneSource;
pub use tree::{Found, Node, Zone};

/// Loads and validates the master file at `path` as the unsigned zone `origin`.
pub fn load_zone(origin: &Name, path: &Path) -> Result<Zone, Vec<ConfigError>> {
    load_zone_with(origin, path, Signing::None)
}

/// Loads and validates the master file at `path` as the zone `origin`, signed as `signing`
/// says. Every error of the file is returned, each with its file and line.
pub fn load_zone_with(origin: &Name, path: &Path, signing: Signing) -> Result<Zone, Vec<ConfigError>> {
    let mut loaded = master::load_wire(path, name_wire(origin), &master::Options::default())
        .map_err(|e| e.into_iter().map(config_error).collect::<Vec<_>>())?;
    let grouping = loaded.take_grouping();
    let warnings = loaded.warnings.into_iter().map(config_error).collect();
    Zone::build_grouped(origin.clone(), &loaded.entries, grouping, signing, path, warnings)
}

/// Builds a zone from master-file text (named `file` in errors; `$INCLUDE` is refused):
/// what the fuzz target and tests load.
pub fn parse_zone(text: &[u8], file: &Path, origin: &Name, signing: Signing) -> Result<Zone, Vec<ConfigError>> {
    let opts = master::Options { includes: false, ..master::Options::default() };
    let origin_text = master::name::to_text(&name_wire(origin));
    let mut loaded = master::parse_bytes(text, file, &origin_text, &opts)
        .map_err(|e| e.into_iter().map(config_error).collect::<Vec<_>>())?;
    let grouping = loaded.take_grouping();
    let warnings = loaded.warnings.into_iter().map(config_error).collect();
    Zone::build_grouped(origin.clone(), &loaded.entries, grouping, signing, file, warnings)
}

/// The uncompressed wire form of a name.
pub fn name_wire(name: &Name) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 1);
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
    out
}

/// A loader diagnostic as a config error: the line of the token at fault, and the line its
/// record begins on when that is another.
fn config_error(d: master::Diagnostic) -> ConfigError {
    let mut message = d.message;
    if d.record_line != d.line && d.record_line > 0 {
        message.push_str(&format!(" (in the record that begins on line {})", d.record_line));
    }
    ConfigError::new(d.file, d.line, message)
}
