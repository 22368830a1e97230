//! The GeoIP database reader: `.mmdb` files read into memory, answering "where is this
//! address, which autonomous system announces it, and which network of the databases says so".
//!
//! Several databases can be chained: the location databases are consulted in order and the
//! first with a record for the address answers (an operator's private CSV-built database
//! first, a public one for the rest; or DB-IP's separate IPv4 and IPv6 files); the ASN
//! databases likewise for the autonomous system. The network reported is the narrowest of
//! those consulted on the way (every one of them contains the address, so their intersection
//! is the narrowest), which is what the answer depended on.
//!
//! ```text
//! at load: validate the whole file; every distinct record decoded (record.rs) → quantize
//!          → the record table (data offset → Location)
//! IpAddr ──canonical──► tree walk ──► (data offset, prefix)
//!                                        │            │
//!                  record table[offset] ◄┘            └──► GeoHit.network (ECS scope)
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
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use maxminddb::Reader;

use super::record::{RawRecord, quantize};
use super::records::Records;
use super::scope::{ScopeMap, Walked, walk};
use super::tree::{Record, SharedBytes, Tree, V4Jump};
use super::types::Location;
use super::validate::validate;

/// Open GeoIP databases (location ones with their tables of decoded records, and ASN ones).
/// `Send + Sync`: share it behind an `Arc` (or inside the config snapshot); to change
/// databases, open new ones and swap. Each database is its own `Arc`, so a reload that finds
/// one file unchanged shares it with the serving set instead of reading it again.
pub struct GeoDb {
    parts: Vec<Arc<Part>>,
    asn: Vec<Arc<Loaded>>,
}

/// One database file read into memory and validated whole, with the SHA-256 of its bytes: a
/// reload that finds the same bytes keeps this copy (and its record table) instead of
/// validating and opening another ([`GeoDb::reopen`]).
struct Loaded {
    reader: Reader<SharedBytes>,
    /// The same bytes, for the scope maps' own walks of the tree.
    bytes: SharedBytes,
    digest: [u8; 32],
}

/// One location database.
struct Part {
    db: Loaded,
    /// Every distinct record as the query path reads it, decoded once at load: a lookup's
    /// location is one hash probe by data offset (the scope maps class the same table).
    records: Records,
    /// Where IPv4 lookups start in an IPv6 tree (as maxminddb's reader finds it).
    v4_start: usize,
    /// Where an IPv4 walk stands after 16 bits, per /16 (`None` for a tree it cannot index).
    v4_jump: Option<V4Jump>,
    /// A record with a country but no coordinates gets the country's centroid (default);
    /// without, it has no coordinates (a `nearest` pool then uses its default region). The
    /// record table holds locations decided this way, so a part is shared only with the same
    /// setting.
    centroids: bool,
}

/// The autonomous system an address belongs to, and the ASN database network that says so
/// (the ECS scope of an answer an ASN map decided).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asn {
    pub number: u32,
    pub network: IpNet,
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
    /// The autonomous system, when an ASN database is configured and knows the address.
    pub asn: Option<Asn>,
    /// A wider block around the address with one answer as long as every region of the asked
    /// pool is usable ([`GeoDb::lookup_in`] with an `all_up` map); `None` without one.
    pub all_up_network: Option<IpNet>,
    /// The record's slot in the location database's table of records, when the lookup was
    /// given a scope map of that database ([`GeoDb::lookup_in`]): the index of tables built per
    /// record at load beside the map ([`GeoDb::each_record`]); `None` otherwise.
    pub record: Option<u32>,
}

impl GeoDb {
    /// Opens `path` by reading it whole into memory the process owns. The database is never
    /// mapped from the operator's file, so whatever happens to that file afterwards (an
    /// in-place copy, a truncation) cannot change or crash the running server: a new file is
    /// seen only when a reload opens it again.
    pub fn open(path: &Path) -> Result<GeoDb, String> {
        let mut db = GeoDb::empty();
        db.add_location_file(path, true, None)?;
        Ok(db)
    }

    /// [`GeoDb::open`] for a reload: when the file holds the very bytes `current` was opened
    /// from, `current` itself is returned (no second copy in memory, no second validation).
    /// The file is hashed as it is read (no second copy in memory for that); when it differs it
    /// is read again whole, and what is read then is what gets validated.
    pub fn reopen(path: &Path, current: Option<&Arc<GeoDb>>) -> Result<Arc<GeoDb>, String> {
        let mut db = GeoDb::empty();
        db.add_location_file(path, true, current.map(|c| &**c))?;
        Ok(db.or_same(current))
    }

    /// Opens a database held in memory (tests, databases built at load time from CSV), after
    /// checking all of it (`validate.rs`): metadata, every node of the tree, every record the
    /// tree points at, and sample lookups. A damaged file is an error here, never a wrong answer
    /// later.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GeoDb, String> {
        let mut db = GeoDb::empty();
        db.parts.push(Arc::new(Part::from_bytes(bytes, true)?));
        Ok(db)
    }

    /// No database yet: add them in the order they are consulted.
    pub fn empty() -> GeoDb {
        GeoDb { parts: Vec::new(), asn: Vec::new() }
    }

    /// Adds the location database at `path`, consulted after the ones already added, with
    /// `geoip.missing_coordinates` (`centroids`: true for the country's centroid, false for
    /// the default region). A database of `serving` with the same bytes (and setting) is shared
    /// rather than read again; see [`GeoDb::reopen`].
    pub fn add_location_file(&mut self, path: &Path, centroids: bool, serving: Option<&GeoDb>) -> Result<(), String> {
        let same = |p: &Arc<Part>, d: &[u8; 32]| p.db.digest == *d && p.centroids == centroids;
        let shared = match serving.filter(|s| !s.parts.is_empty()) {
            Some(s) => {
                let digest = file_digest(path)?;
                s.parts.iter().find(|p| same(p, &digest)).cloned()
            }
            None => None,
        };
        let part = match shared {
            Some(p) => p,
            None => Arc::new(Part::read(path, centroids)?),
        };
        self.parts.push(part);
        Ok(())
    }

    /// Adds an ASN database (GeoLite2-ASN, DB-IP/ip-location-db ASN, or a CSV-built one with
    /// an ASN column), consulted after the ones already added, validated like a location
    /// database; one of `serving` with the same bytes is shared.
    pub fn add_asn_file(&mut self, path: &Path, serving: Option<&GeoDb>) -> Result<(), String> {
        let shared = match serving.filter(|s| !s.asn.is_empty()) {
            Some(s) => {
                let digest = file_digest(path)?;
                s.asn.iter().find(|a| a.digest == digest).cloned()
            }
            None => None,
        };
        let asn = match shared {
            Some(a) => a,
            None => Arc::new(Loaded::read(path, &mut |_, _| {})?),
        };
        self.asn.push(asn);
        Ok(())
    }

    /// `current` itself when `self` is made of the very same databases (each shared with it, in
    /// the same order), else `self`: an unchanged set stays the serving `Arc`.
    pub fn or_same(self, current: Option<&Arc<GeoDb>>) -> Arc<GeoDb> {
        let same = |c: &GeoDb| {
            c.parts.len() == self.parts.len()
                && c.asn.len() == self.asn.len()
                && c.parts.iter().zip(&self.parts).all(|(a, b)| Arc::ptr_eq(a, b))
                && c.asn.iter().zip(&self.asn).all(|(a, b)| Arc::ptr_eq(a, b))
        };
        match current {
            Some(c) if same(c) => c.clone(),
            _ => Arc::new(self),
        }
    }

    /// Whether ASN databases are configured (then every lookup also finds the AS).
    pub fn has_asn(&self) -> bool {
        !self.asn.is_empty()
    }

    /// Looks `ip` up: one tree walk per location database until one has a record (then the
    /// location of that record from the table), and one per ASN database until one knows the AS.
    pub fn lookup(&self, ip: IpAddr) -> GeoHit {
        let ip = ip.to_canonical();
        let mut network: Option<IpNet> = None;
        let mut location = None;
        for part in &self.parts {
            let (loc, net) = part.lookup(ip);
            network = Some(narrower(network, net));
            if loc.is_some() {
                location = loc;
                break;
            }
        }
        GeoHit {
            location,
            network: network.unwrap_or_else(|| host_net(ip)),
            asn: self.asn_of(ip),
            all_up_network: None,
            record: None,
        }
    }

    /// The autonomous system of `ip` (canonical): one walk per ASN database until one knows it.
    fn asn_of(&self, ip: IpAddr) -> Option<Asn> {
        if self.asn.is_empty() {
            return None;
        }
        let mut asn = None;
        let mut asn_net: Option<IpNet> = None;
        for db in &self.asn {
            let (number, net) = asn_lookup(&db.reader, ip);
            asn_net = Some(narrower(asn_net, net));
            if let (Some(number), Some(network)) = (number, asn_net) {
                asn = Some(Asn { number, network });
                break;
            }
        }
        asn
    }

    /// The ECS scope map of one way of answering (see `scope.rs`): `class` says what a client
    /// with this location is answered (`None`: no record). `None` unless exactly one location
    /// database is configured: with a chain, where the first has no record the next answers,
    /// and the scope stays the database network.
    pub fn scope_map<K: Eq + Hash>(&self, class: impl FnMut(Option<&Location>) -> K) -> Option<ScopeMap> {
        let [part] = self.parts.as_slice() else { return None };
        let meta = part.db.reader.metadata();
        let nodes = usize::try_from(meta.node_count).ok()?;
        Some(ScopeMap::build(&part.db.bytes, nodes, meta.record_size, meta.ip_version == 6, &part.records, class))
    }

    /// [`GeoDb::lookup`], with the network widened to the block of `any_health` around `ip`:
    /// every address in it gets the answer that map was built for; and `all_up_network` the
    /// block of `all_up` likewise. Never narrower than the database network; a map of another
    /// database is ignored.
    ///
    /// With one location database this is one walk of the search tree (scope blocks tested on
    /// the way) and the location of the record from the table; anything else is [`GeoDb::lookup`].
    pub fn lookup_in(&self, ip: IpAddr, any_health: Option<&ScopeMap>, all_up: Option<&ScopeMap>) -> GeoHit {
        let [part] = self.parts.as_slice() else { return self.lookup(ip) };
        let ours = |m: &&ScopeMap| m.is_of(&part.db.bytes);
        let (any_health, all_up) = (any_health.filter(ours), all_up.filter(ours));
        let Some(w) = part.walk(ip, [any_health, all_up]) else { return self.lookup(ip) };
        let Some(network) = block_of(ip, w.depth) else { return self.lookup(ip) };
        let (location, slot) = match w.record {
            Record::Empty => (None, None),
            Record::Data(offset) => match part.records.get_at(offset) {
                Some((slot, loc)) => (loc, u32::try_from(slot).ok()),
                // Not in the table (it holds every record the validated tree points at):
                // maxminddb decodes it.
                None => (part.lookup(ip).0, None),
            },
            Record::Node(_) | Record::Invalid => return self.lookup(ip),
        };
        let block = |map: Option<&ScopeMap>, prefix: u8| {
            map.and_then(|_| block_of(ip, prefix)).filter(|n| n.prefix_len() <= w.depth)
        };
        let wide = block(any_health, w.wide[0]).unwrap_or(network);
        let all_up_network = block(all_up, w.wide[1]).filter(|a| a.prefix_len() <= wide.prefix_len());
        let record = slot.filter(|_| any_health.is_some());
        GeoHit { location, network: wide, asn: self.asn_of(ip), all_up_network, record }
    }

    /// Calls `f` with every record of the location database and its slot (what
    /// [`GeoHit::record`] gives); false (and no call) unless exactly one location database is
    /// configured, as [`GeoDb::scope_map`].
    pub fn each_record(&self, f: &mut dyn FnMut(u32, Option<&Location>)) -> bool {
        let [part] = self.parts.as_slice() else { return false };
        if u32::try_from(part.records.capacity()).is_err() {
            return false;
        }
        for (i, loc) in part.records.each() {
            f(i as u32, loc.as_ref());
        }
        true
    }

    /// Whether `map` was built over this set's (one) location database.
    pub fn owns(&self, map: &ScopeMap) -> bool {
        matches!(self.parts.as_slice(), [p] if map.is_of(&p.db.bytes))
    }

    /// Distinct records of the location databases, and the heap bytes their table holds.
    pub fn record_table(&self) -> (usize, usize) {
        self.parts.iter().fold((0, 0), |(n, b), p| (n + p.records.len(), b + p.records.heap_bytes()))
    }

    /// One line for people (`gslbd check`, the start-up log): each database's kind and date,
    /// in the order they are consulted.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self.parts.iter().map(|p| p.summary()).collect();
        parts.extend(self.asn.iter().map(|a| format!("ASN {}", kind_and_date(&a.reader))));
        parts.join("; ")
    }

    /// One line for logs and `explain`: what the databases are and how big.
    pub fn description(&self) -> String {
        let mut parts: Vec<String> = self.parts.iter().map(|p| p.description()).collect();
        parts.extend(self.asn.iter().map(|a| format!("ASN {}", describe(&a.reader, None))));
        parts.join("; ")
    }
}

impl Loaded {
    /// Reads `path` whole (never mapped: whatever happens to the file later cannot touch this
    /// copy) and checks it.
    /// `on_record` sees every distinct record as the check decodes it.
    fn read(path: &Path, on_record: &mut dyn FnMut(usize, RawRecord)) -> Result<Loaded, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read GeoIP database: {e}", path.display()))?;
        Loaded::from_bytes(bytes, on_record).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn from_bytes(bytes: Vec<u8>, on_record: &mut dyn FnMut(usize, RawRecord)) -> Result<Loaded, String> {
        validate(&bytes, on_record)?;
        let digest = sha256(&bytes);
        let bytes = SharedBytes(Arc::new(bytes));
        Ok(Loaded { reader: reader_of(bytes.clone())?, bytes, digest })
    }
}

impl Part {
    fn read(path: &Path, centroids: bool) -> Result<Part, String> {
        let mut records = Records::default();
        let db = Loaded::read(path, &mut |o, raw| records.insert(o, located(raw, centroids)))?;
        Ok(Part::new(db, centroids, records))
    }

    fn from_bytes(bytes: Vec<u8>, centroids: bool) -> Result<Part, String> {
        let mut records = Records::default();
        let db = Loaded::from_bytes(bytes, &mut |o, raw| records.insert(o, located(raw, centroids)))?;
        Ok(Part::new(db, centroids, records))
    }

    fn new(db: Loaded, centroids: bool, records: Records) -> Part {
        let meta = db.reader.metadata();
        let tree = Tree::new(db.bytes.as_ref(), meta.node_count as usize, meta.record_size);
        let v4_start = if meta.ip_version == 6 { tree.ipv4_start().0 } else { 0 };
        let v4_jump = V4Jump::new(&tree, v4_start);
        Part { db, centroids, records, v4_start, v4_jump }
    }

    /// One walk of `ip` down this database's tree, testing `maps`' nodes on the way.
    fn walk(&self, ip: IpAddr, maps: [Option<&ScopeMap>; 2]) -> Option<Walked> {
        let meta = self.db.reader.metadata();
        let tree = Tree::new(self.db.bytes.as_ref(), meta.node_count as usize, meta.record_size);
        walk(&tree, meta.ip_version == 6, self.v4_start, self.v4_jump.as_ref(), ip, maps)
    }

    /// One tree walk (maxminddb's), then the location of the record it lands on from the table.
    fn lookup(&self, ip: IpAddr) -> (Option<Location>, IpNet) {
        let result = match self.db.reader.lookup(ip) {
            Ok(r) => r,
            Err(_) => return (None, miss_net(&self.db.reader, ip)),
        };
        let network = result.network().map(|n| to_family(ip, n.ip(), n.prefix())).unwrap_or_else(|_| host_net(ip));
        let location = result.offset().and_then(|offset| match self.records.get(offset) {
            Some(loc) => loc,
            // Not in the table, which holds every record the validated tree points at: decoded
            // here (a record that does not decode, or has no usable field, is no record).
            None => match result.decode::<RawRecord>() {
                Ok(Some(raw)) => located(raw, self.centroids),
                Ok(None) | Err(_) => None,
            },
        });
        (location, network)
    }

    /// One line for people (`gslbd check`, the start-up log): the database's kind and date.
    fn summary(&self) -> String {
        let centroids = if self.centroids { "" } else { ", no country centroids" };
        format!("GeoIP {}{centroids}", kind_and_date(&self.db.reader))
    }

    fn description(&self) -> String {
        describe(&self.db.reader, Some(self.records.len()))
    }
}

/// What the query path makes of a record: gaps filled, quantized, and
/// `None` when no field is usable.
fn located(raw: RawRecord, centroids: bool) -> Option<Location> {
    Some(quantize(raw.into_location(centroids))).filter(|l| *l != Location::default())
}

fn reader_of(bytes: SharedBytes) -> Result<Reader<SharedBytes>, String> {
    let reader = Reader::from_source(bytes).map_err(|e| format!("not a valid MaxMind DB file: {e}"))?;
    let meta = reader.metadata();
    if meta.ip_version != 4 && meta.ip_version != 6 {
        return Err(format!("unsupported ip_version {} in MaxMind DB metadata", meta.ip_version));
    }
    Ok(reader)
}

/// The network of an address the tree cannot answer for: an IPv6 address in an IPv4-only
/// database (nothing in ::/0 has data), or a damaged tree (the host alone).
fn miss_net(reader: &Reader<SharedBytes>, ip: IpAddr) -> IpNet {
    match ip {
        IpAddr::V6(_) if reader.metadata().ip_version == 4 => IpNet::V6(Ipv6Net::default()),
        _ => host_net(ip),
    }
}

/// The AS number of `ip` in an ASN database, and the network that holds it. The record is
/// decoded each time (two small fields, no allocation: other fields are skipped).
fn asn_lookup(reader: &Reader<SharedBytes>, ip: IpAddr) -> (Option<u32>, IpNet) {
    let Ok(result) = reader.lookup(ip) else { return (None, miss_net(reader, ip)) };
    let network = result.network().map(|n| to_family(ip, n.ip(), n.prefix())).unwrap_or_else(|_| host_net(ip));
    let number = match result.decode::<RawRecord>() {
        Ok(Some(raw)) => raw.asn(),
        _ => None,
    };
    (number, network)
}

/// The network of `prefix` bits holding `ip` (`IpNet::new(ip, prefix)?.trunc()`, by one mask
/// instead of ipnet's netmask arithmetic: three of these were ~100 instructions of a lookup).
#[inline]
fn block_of(ip: IpAddr, prefix: u8) -> Option<IpNet> {
    Some(match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0);
            IpNet::V4(Ipv4Net::new(Ipv4Addr::from(u32::from(a) & mask), prefix).ok()?)
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix.min(128))).unwrap_or(0);
            IpNet::V6(Ipv6Net::new(Ipv6Addr::from(u128::from(a) & mask), prefix).ok()?)
        }
    })
}

/// The longer-prefix network of two that both contain the same address.
fn narrower(a: Option<IpNet>, b: IpNet) -> IpNet {
    match a {
        Some(a) if a.prefix_len() >= b.prefix_len() => a,
        _ => b,
    }
}

/// `KIND (IPvN, built DATE)`: the description (or type) of a database and its date.
fn kind_and_date(reader: &Reader<SharedBytes>) -> String {
    let m = reader.metadata();
    let desc = m.description.get("en").or_else(|| m.description.values().next());
    let kind = desc.map_or(m.database_type.as_str(), |d| d.as_str());
    format!("{kind} (IPv{}, built {})", m.ip_version, crate::util::clock::utc_date(m.build_epoch))
}

fn describe(reader: &Reader<SharedBytes>, records: Option<usize>) -> String {
    let m = reader.metadata();
    let desc = m.description.get("en").or_else(|| m.description.values().next());
    format!(
        "type={:?} ip_version={} build_epoch={} ({}) nodes={} record_size={}{}{}",
        m.database_type,
        m.ip_version,
        m.build_epoch,
        crate::util::clock::utc_date(m.build_epoch),
        m.node_count,
        m.record_size,
        records.map(|n| format!(" records={n}")).unwrap_or_default(),
        desc.map(|d| format!(" description={d:?}")).unwrap_or_default(),
    )
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// The SHA-256 of a file's bytes, hashed as it streams (no copy of the file in memory).
fn file_digest(path: &Path) -> Result<[u8; 32], String> {
    let cannot = |e: std::io::Error| format!("{}: cannot read GeoIP database: {e}", path.display());
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    std::io::copy(&mut std::fs::File::open(path).map_err(cannot)?, &mut hasher).map_err(cannot)?;
    Ok(sha2::Digest::finalize(hasher).into())
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

    #[test]
    fn block_of_is_ipnets_truncated_network() {
        for addr in
            ["0.0.0.0", "255.255.255.255", "81.2.69.160", "::", "2001:db8:ffff:1234:5678:9abc:def0:1", "ffff::ffff"]
        {
            let ip: IpAddr = addr.parse().unwrap();
            for prefix in 0..=130u8 {
                let expected = IpNet::new(ip, prefix).ok().map(|n| n.trunc());
                assert_eq!(block_of(ip, prefix), expected, "{addr}/{prefix}");
            }
        }
        assert_eq!(block_of("81.2.69.160".parse().unwrap(), 20).unwrap().to_string(), "81.2.64.0/20");
    }
}
