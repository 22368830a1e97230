//! Authoritative zone data: loading RFC 1035 master files ([`parse`]) into validated
//! zones ([`tree`]), and answering from them ([`lookup`]): exact matches, CNAME chains,
//! RFC 4592 wildcards, empty non-terminals, referrals with glue, and negative answers with
//! the SOA. A pooled name is a node whose A/AAAA answer the steering decides: the lookup
//! stops there and hands back a [`Pooled`].
//!
//! ```text
//! master file ─parse─► SourceRecord (file:line) ─Zone::build─► Zone { nodes, SOA }
//! (qname, qtype) ─lookup─► Lookup { rcode, aa, answer/authority/additional: Section<Rrs>, pooled }
//! ```
mod answer;
mod hash;
mod lookup;
pub mod parse;
mod source;
mod tree;

use std::path::Path;

use hickory_proto::rr::Name;

use crate::diag::ConfigError;
pub use answer::{Rrs, SECTION_CAP, Section};
pub use lookup::{Lookup, Pooled, lookup};
pub use source::ZoneSource;
pub use tree::{Found, Node, RRset, Zone, ZoneSet};

/// Loads and validates the master file at `path` as the zone `origin`.
pub fn load_zone(origin: &Name, path: &Path) -> Result<Zone, Vec<ConfigError>> {
    let records = parse::load_master_file(path, origin)?;
    Zone::build(origin.clone(), records).map_err(|mut e| {
        for err in &mut e {
            if err.file.as_os_str().is_empty() {
                err.file = path.to_path_buf();
            }
        }
        e
    })
}
