//! The GeoIP database reader: one `.mmdb` file (memory-mapped) or byte buffer, answering
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

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use maxminddb::{Mmap, Reader};

use super::cache::{LocationCache, quantize};
use super::record::RawRecord;
use super::types::Location;

/// The bytes behind a reader: a read-only map of the file, or a buffer we own.
enum Source {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for Source {
    fn as_ref(&self) -> &[u8] {
        match self {
            Source::Mapped(m) => m,
            Source::Owned(v) => v,
        }
    }
}

/// An open GeoIP database with its decoded-record cache. `Send + Sync`: share it behind an
/// `Arc` (or inside the config snapshot); to change databases, open a new one and swap.
pub struct GeoDb {
    reader: Reader<Source>,
    cache: LocationCache,
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
    /// Opens `path` by memory-mapping it. The file must not be modified in place while open:
    /// replace it by writing a new file and renaming it over the old one, then open again.
    pub fn open(path: &Path) -> Result<GeoDb, String> {
        let file =
            std::fs::File::open(path).map_err(|e| format!("{}: cannot open GeoIP database: {e}", path.display()))?;
        // SAFETY: the map is read-only and private to this process. The documented contract
        // (above) is that database files are replaced by rename, never rewritten in place,
        // so the mapped bytes do not change under the reader.
        let map =
            unsafe { Mmap::map(&file) }.map_err(|e| format!("{}: cannot map GeoIP database: {e}", path.display()))?;
        GeoDb::from_source(Source::Mapped(map)).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Opens a database held in memory (tests, databases built at load time from CSV).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GeoDb, String> {
        GeoDb::from_source(Source::Owned(bytes))
    }

    fn from_source(source: Source) -> Result<GeoDb, String> {
        let len = source.as_ref().len();
        let reader = Reader::from_source(source).map_err(|e| format!("not a valid MaxMind DB file: {e}"))?;
        let meta = reader.metadata();
        if meta.ip_version != 4 && meta.ip_version != 6 {
            return Err(format!("unsupported ip_version {} in MaxMind DB metadata", meta.ip_version));
        }
        let tree_bytes = meta.node_count as usize * usize::from(meta.record_size) / 4;
        let cache = LocationCache::for_data_len(len.saturating_sub(tree_bytes));
        Ok(GeoDb { reader, cache })
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
            utc_date(m.build_epoch),
            m.node_count,
            m.record_size,
            self.cache.slot_count(),
            desc.map(|d| format!(" description={d:?}")).unwrap_or_default(),
        )
    }
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

/// `YYYY-MM-DD` (UTC) of a Unix timestamp, without a date crate (Hinnant's civil_from_days).
/// Also used for the admin API's RFC 3339 times.
pub fn utc_date(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
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
    fn utc_dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_781_725_900), "2026-06-17");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
    }

    #[test]
    fn family_conversion() {
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(to_family(v4, "::".parse().unwrap(), 64).to_string(), "0.0.0.0/0");
        assert_eq!(to_family(v4, "10.0.0.0".parse().unwrap(), 8).to_string(), "10.0.0.0/8");
        assert_eq!(to_family(v4, "10.0.0.0".parse().unwrap(), 99).to_string(), "10.1.2.3/32");
    }
}
