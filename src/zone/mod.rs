//! Authoritative zone data: loading RFC 1035 master files ([`parse`]) into validated
//! zones, and answering from them ([`tree`]): exact matches, CNAME chains, RFC 4592
//! wildcards, empty non-terminals, referrals with glue, and negative answers with the SOA.
pub mod parse;
pub mod tree;

use std::path::Path;

use hickory_proto::rr::Name;

use crate::config::ConfigError;
pub use tree::{Found, Lookup, Node, Pooled, RRset, Zone, ZoneSet, lookup};

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
