//! The GeoIP database reader: one `.mmdb` file read into memory, answering
//! "where is this address, and which network of the database says so".
//!
//! ```text
//! IpAddr ──canonical──► tree walk (maxminddb) ──► (data offset, prefix)
//!                                                    │            │
//!                              cache hit? ◄──────────┘            └──► GeoHit.network (ECS scope)
//!                              miss: decode record (record.rs) → quantize → cache
//! ```
//!
//! Invariants:
//! - `lookup` never fails and never panics: a record that does not decode yields
//!   `location: None`; a tree that cannot be walked yields the address itself as the network
//!   (a host prefix, the narrowest and therefore always-safe ECS scope).
//! - `network` is in the family of the looked-up address: IPv4 lookups in an IPv6 tree are
//!   reported as IPv4 networks (81.2.69.0/24), never as `::/96`-style or `::ffff:` networks.
//! - IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack socket reports for an
//!   IPv4 client) are looked up, and reported, as the IPv4 address.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use maxminddb::Reader;

use super::cache::{LocationCache, quantize};
use super::record::RawRecord;
use super::types::Location;
use super::validate::validate;

/// An open GeoIP database with its decoded-record cache. `Send + Sync`: share it behind an
/// `Arc` (or inside the config snapshot); to change databases, open a new one and swap.
pub struct GeoDb {
    reader: Reader<Vec<u8>>,
    cache: LocationCache,
    /// SHA-256 of the file's bytes: a reload that finds the same bytes keeps this database
    /// (and its warm cache) instead of validating and opening a copy ([`GeoDb::reopen`]).
    digest: [u8; 32],
}

/// The answer for one address.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeoHit {
    /// What the database says about the address; `None` when it has no record for it (or
    /// the record is unreadable).
    pub location: Option<Location>,
    /// The database network that contains the address, in the address's own family. Every
    /// address in it gets the same record, so it is the ECS scope of a geo-based answer.
    /// Present even when `location` is `None` (the empty network covering the address).
    pub network: IpNet,
}

impl GeoDb {
    /// Opens `path` by reading it whole into memory the process owns. The database is never
    /// mapped from the operator's file, so whatever happens to that file afterwards (an
    /// in-place copy, a truncation) cannot change or crash the running server: a new file is
    /// seen only when a reload opens it again.
    pub fn open(path: &Path) -> Result<GeoDb, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read GeoIP database: {e}", path.display()))?;
        GeoDb::from_bytes(bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// [`GeoDb::open`] for a reload: when the file holds the very bytes `current` was opened
    /// from, `current` itself is returned (no second copy in memory, no second validation).
    /// The file is hashed as it is read (no second copy in memory for that); when it differs it
    /// is read again whole, and what is read then is what gets validated.
    pub fn reopen(path: &Path, current: Option<&Arc<GeoDb>>) -> Result<Arc<GeoDb>, String> {
        let cannot = |e: std::io::Error| format!("{}: cannot read GeoIP database: {e}", path.display());
        if let Some(db) = current {
            let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
            std::io::copy(&mut std::fs::File::open(path).map_err(cannot)?, &mut hasher).map_err(cannot)?;
            if <[u8; 32]>::from(sha2::Digest::finalize(hasher)) == db.digest {
                return Ok(db.clone());
            }
        }
        GeoDb::open(path).map(Arc::new)
    }

    /// Opens a database held in memory (tests, databases built at load time from CSV), after
    /// checking all of it (`validate.rs`): metadata, every node of the tree, every record the
    /// tree points at, and sample lookups. A damaged file is an error here, never a wrong answer
    /// later.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GeoDb, String> {
        validate(&bytes)?;
        let digest = sha256(&bytes);
        let len = bytes.len();
        let reader = Reader::from_source(bytes).map_err(|e| format!("not a valid MaxMind DB file: {e}"))?;
        let meta = reader.metadata();
        let tree_bytes = meta.node_count as usize * usize::from(meta.record_size) / 4;
        let cache = LocationCache::for_data_len(len.saturating_sub(tree_bytes));
        Ok(GeoDb { reader, cache, digest })
    }

    /// Looks `ip` up: one tree walk, then the cached location of the record it lands on.
    pub fn lookup(&self, ip: IpAddr) -> GeoHit {
        let ip = ip.to_canonical();
        let result = match self.reader.lookup(ip) {
            Ok(r) => r,
            Err(_) => {
                // An IPv6 address in an IPv4-only database: nothing in ::/0 has data. Any
                // other error is a damaged tree: scope the (empty) answer to the host alone.
                let network = match ip {
                    IpAddr::V6(_) if self.reader.metadata().ip_version == 4 => IpNet::V6(Ipv6Net::default()),
                    _ => host_net(ip),
                };
                return GeoHit { location: None, network };
            }
        };
        let network = result.network().map(|n| to_family(ip, n.ip(), n.prefix())).unwrap_or_else(|_| host_net(ip));
        let location = result.offset().map(|offset| {
            if let Some(loc) = self.cache.get(offset) {
                return loc;
            }
            // A record that fails to decode is remembered as "nothing known", so a damaged
            // record costs one failed decode, not one per query.
            let loc = match result.decode::<RawRecord>() {
                Ok(Some(raw)) => quantize(raw.into_location()),
                Ok(None) | Err(_) => Location::default(),
            };
            self.cache.put(offset, &loc);
            loc
        });
        // A record with no usable field is as good as no record.
        let location = location.filter(|l| *l != Location::default());
        GeoHit { location, network }
    }

    /// One line for logs and `explain`: what the database is and how big.
    pub fn description(&self) -> String {
        let m = self.reader.metadata();
        let desc = m.description.get("en").or_else(|| m.description.values().next());
        format!(
            "type={:?} ip_version={} build_epoch={} ({}) nodes={} record_size={} cache_slots={}{}",
            m.database_type,
            m.ip_version,
            m.build_epoch,
            crate::util::clock::utc_date(m.build_epoch),
            m.node_count,
            m.record_size,
            self.cache.slot_count(),
            desc.map(|d| format!(" description={d:?}")).unwrap_or_default(),
        )
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// The host route for `ip`: /32 or /128.
fn host_net(ip: IpAddr) -> IpNet {
    IpNet::from(ip)
}

/// Expresses the network maxminddb reports in the family of the looked-up address. maxminddb
/// already does this for IPv4 lookups that reach the IPv4 subtree; when the walk stops above
/// it (a node covering all of `::/96` and more), the whole IPv4 space shares that node, so the
/// IPv4 network is 0.0.0.0/0.
fn to_family(looked_up: IpAddr, net_ip: IpAddr, prefix: u8) -> IpNet {
    match (looked_up, net_ip) {
        (IpAddr::V4(_), IpAddr::V4(a)) => {
            Ipv4Net::new(a, prefix).map(IpNet::V4).unwrap_or_else(|_| host_net(looked_up))
        }
        (IpAddr::V4(_), IpAddr::V6(_)) => IpNet::V4(Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0).unwrap_or_default()),
        (IpAddr::V6(_), IpAddr::V6(a)) => {
            Ipv6Net::new(a, prefix).map(IpNet::V6).unwrap_or_else(|_| host_net(looked_up))
        }
        (IpAddr::V6(_), IpAddr::V4(a)) => {
            // Not produced by maxminddb for IPv6 lookups; map it back rather than guess.
            Ipv6Net::new(a.to_ipv6_mapped(), prefix.saturating_add(96).min(128))
                .map(IpNet::V6)
                .unwrap_or_else(|_| IpNet::V6(Ipv6Net::new(Ipv6Addr::UNSPECIFIED, 0).unwrap_or_default()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geodb_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<GeoDb>();
    }

    #[test]
    fn family_conversion() {
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(to_family(v4, "::".parse().unwrap(), 64).to_string(), "0.0.0.0/0");
        assert_eq!(to_family(v4, "10.0.0.0".parse().unwrap(), 8).to_string(), "10.0.0.0/8");
        assert_eq!(to_family(v4, "10.0.0.0".parse().unwrap(), 99).to_string(), "10.1.2.3/32");
    }
}
