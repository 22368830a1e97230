//! Signing a zone's data at load: the apex key records (DNSKEY, CDS, CDNSKEY), an RRSIG for
//! every authoritative RRset, and the pooled answer sets that are few enough to sign ahead.
//!
//! Authoritative means: every RRset at and above the zone cuts, and at a cut only the DS (the
//! NS there and the glue below are the child's, RFC 4035 §2.2). DNSKEY, CDS and CDNSKEY are
//! signed by every active KSK, the rest by the signing ZSK. A wildcard RRset is signed under
//! its `*` owner; its RRSIG goes out with the expanded name (the Labels field tells).
//!
//! A reload keeps the signature of an RRset whose records and TTL are unchanged, when it was
//! made by the keys that sign now and does not expire within the refresh time: only what
//! changed (or is due) is signed again. The work is split over the machine's cores.
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hickory_proto::rr::{Name, RecordType};

use super::key;
use super::{Signer, sign_rrset_into_set};
use crate::diag::ConfigError;
use crate::dnssec::ZoneKey;
use crate::dnssec::ds::ds_rdata;
use crate::dnssec::rrsig::{Scratch, parse_rrsig};
use crate::pool::{Content, Pools, RegionPolicy, WhenEmpty};
use crate::zone::rrset::RRset;
use crate::zone::tree::{Node, Zone, ancestor, labels};

/// What the load-time signing did.
#[derive(Clone, Copy, Debug, Default)]
pub struct SignReport {
    /// RRsets signed.
    pub signed: usize,
    /// RRsets whose signatures were kept from the previous version.
    pub kept: usize,
    /// Pooled answer sets signed ahead (not counting those already in the cache).
    pub presigned: usize,
    /// The earliest expiration of the zone data's signatures (serial seconds).
    pub earliest_expiry: Option<u32>,
    /// The largest TTL of the signed data (a retired key stays this long).
    pub max_ttl: u32,
    /// Milliseconds the signing took.
    pub millis: u64,
}

fn earlier(a: Option<u32>, b: u32) -> Option<u32> {
    Some(match a {
        Some(a) if (a.wrapping_sub(b) as i32) <= 0 => a,
        _ => b,
    })
}

/// Signs `zone` with `signer` (see the module docs) and installs the signer in it.
/// `previous` is the version the zone replaces, whose unchanged signatures are kept.
pub fn sign_zone(zone: &mut Zone, mut signer: Signer, previous: Option<&Zone>) -> Result<(), Vec<ConfigError>> {
    let started = tokio::time::Instant::now();
    let file = zone.files.first().cloned().unwrap_or_default();
    let now = signer.signed_at;
    let err = |m: String| vec![ConfigError::new(&file, 0, format!("zone {}: {m}", zone.origin))];
    let Some(zsk) = signer.zsk() else {
        return Err(err(format!("no active zone-signing key in {} (dnssec)", signer.keys.dir.display())));
    };
    let ksks: Vec<&ZoneKey> = signer.keys.signing_ksks(now);
    if ksks.is_empty() {
        return Err(err(format!("no active key-signing key in {} (dnssec)", signer.keys.dir.display())));
    }
    let Some((_, soa)) = zone.soa() else { return Err(err("no SOA".into())) };
    let key_ttl = soa.ttl;
    let nsec_ttl = zone.negative_soa.ttl;
    apex_key_records(zone, &signer, key_ttl);

    // The work: every authoritative RRset, with the keys that sign it.
    let cuts: std::collections::HashSet<Name> =
        zone.nodes.iter().filter(|(_, n)| n.delegation).map(|(k, _)| k.clone()).collect();
    let top = labels(&zone.origin);
    let occluded = |name: &Name| (top + 1..labels(name)).any(|n| cuts.contains(&ancestor(name, n)));
    let mut work: Vec<(&Name, &mut RRset, bool)> = Vec::new();
    let mut max_ttl = nsec_ttl;
    for (name, node) in zone.nodes.iter_mut() {
        if occluded(name) {
            continue;
        }
        let at_cut = node.delegation;
        for set in node.rrsets.iter_mut() {
            if (at_cut && set.rtype != RecordType::DS) || set.rtype == RecordType::RRSIG {
                continue;
            }
            max_ttl = max_ttl.max(set.ttl);
            let by_ksk = matches!(set.rtype, RecordType::DNSKEY | RecordType::CDS | RecordType::CDNSKEY);
            work.push((name, set, by_ksk));
        }
    }
    let job = Job {
        zsk: std::slice::from_ref(&zsk),
        ksks: &ksks,
        window: signer.window(now),
        due: (now as u32).wrapping_add(signer.params.refresh),
        now: now as u32,
        previous,
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let chunk = work.len().div_ceil(threads).max(1);
    let results: Vec<Result<Part, String>> = std::thread::scope(|s| {
        let job = &job;
        let handles: Vec<_> = work.chunks_mut(chunk).map(|part| s.spawn(move || job.run(part))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a signing thread panicked".into()))).collect()
    });
    let mut report = SignReport { max_ttl, ..SignReport::default() };
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(p) => {
                report.signed += p.signed;
                report.kept += p.kept;
                if let Some(e) = p.earliest {
                    report.earliest_expiry = earlier(report.earliest_expiry, e);
                }
            }
            Err(e) => errors.push(ConfigError::new(&file, 0, format!("zone {}: cannot sign {e}", zone.origin))),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // The negative SOA carries the SOA's new signatures.
    if let Some((_, soa)) = zone.soa() {
        let minimum = zone.negative_soa.ttl;
        zone.negative_soa = soa.with_ttl(soa.ttl.min(minimum));
    }
    report.max_ttl = report.max_ttl.max(max_pool_ttl(&zone.pools));
    report.presigned = presign_pools(&zone.pools, &signer);
    signer.counters.static_signed.fetch_add(report.signed as u64, Ordering::Relaxed);
    signer.counters.static_kept.fetch_add(report.kept as u64, Ordering::Relaxed);
    report.millis = started.elapsed().as_millis() as u64;
    signer.report = report;
    signer.nsec_ttl = nsec_ttl;
    zone.signer = Some(Arc::new(signer));
    Ok(())
}

/// What one signing thread did.
struct Part {
    signed: usize,
    kept: usize,
    earliest: Option<u32>,
}

/// What every signing thread shares.
struct Job<'a> {
    zsk: &'a [&'a ZoneKey],
    ksks: &'a [&'a ZoneKey],
    /// (inception, expiration) of new signatures.
    window: (u32, u32),
    /// Signatures expiring before this are made again.
    due: u32,
    now: u32,
    previous: Option<&'a Zone>,
}

impl Job<'_> {
    /// Signs (or keeps the signatures of) one share of the work: (owner, RRset, by the KSKs).
    fn run(&self, part: &mut [(&Name, &mut RRset, bool)]) -> Result<Part, String> {
        let mut scratch = Scratch::default();
        let mut p = Part { signed: 0, kept: 0, earliest: None };
        for (name, set, by_ksk) in part.iter_mut() {
            let keys = if *by_ksk { self.ksks } else { self.zsk };
            let tags: Vec<u16> = keys.iter().map(|k| k.key_tag()).collect();
            if let Some(old) = self.previous.and_then(|z| z.node(name)).and_then(|n| n.rrset(set.rtype))
                && let Some(exp) = reusable(old, set, &tags, self.due, self.now)
            {
                set.sigs = old.sigs.clone();
                p.kept += 1;
                p.earliest = earlier(p.earliest, exp);
                continue;
            }
            let owner = crate::zone::name_wire(name);
            let (inception, expiration) = self.window;
            let sigs = sign_rrset_into_set(keys, &owner, set, inception, expiration, &mut scratch)
                .map_err(|e| format!("{name} {}: {e}", set.rtype))?;
            set.sigs = Some(Box::new(sigs));
            p.signed += 1;
            p.earliest = earlier(p.earliest, expiration);
        }
        Ok(p)
    }
}

/// The expiration of `old`'s signatures when they may serve `new` (same records and TTL,
/// made by exactly the keys `tags`, in force at `now` and not expiring before `due`).
fn reusable(old: &RRset, new: &RRset, tags: &[u16], due: u32, now: u32) -> Option<u32> {
    if old.ttl != new.ttl || old.wire() != new.wire() {
        return None;
    }
    let sigs = old.sigs.as_deref()?;
    let mut earliest = None;
    let mut seen = 0;
    for r in sigs.rdatas() {
        let v = parse_rrsig(r).ok()?;
        // Due at `due` exactly (what Signer::next_due computes) counts as due.
        if !tags.contains(&v.key_tag) || (v.expiration.wrapping_sub(due) as i32) <= 0 {
            return None;
        }
        if (v.inception.wrapping_sub(now) as i32) > 0 {
            return None;
        }
        seen += 1;
        earliest = earlier(earliest, v.expiration);
    }
    (seen == tags.len()).then_some(earliest).flatten()
}

/// Replaces the apex's DNSKEY RRset with the published keys, and CDS/CDNSKEY with the KSK the
/// parent should have a DS for (RFC 7344), all with the SOA's TTL.
fn apex_key_records(zone: &mut Zone, signer: &Signer, ttl: u32) {
    let now = signer.signed_at;
    let dnskeys: Vec<&[u8]> = signer.keys.published(now).map(ZoneKey::dnskey).collect();
    let cds: Option<(Vec<u8>, Vec<u8>)> =
        signer.keys.cds_key(now).and_then(|k| Some((ds_rdata(signer.apex(), k.dnskey()).ok()?, k.dnskey().to_vec())));
    let origin = zone.origin.clone();
    let apex: &mut Node = zone.ensure_node(&origin);
    apex.rrsets.retain(|s| !matches!(s.rtype, RecordType::DNSKEY | RecordType::CDS | RecordType::CDNSKEY));
    apex.rrsets.push(RRset::new(RecordType::DNSKEY, ttl, dnskeys));
    if let Some((ds, dnskey)) = cds {
        apex.rrsets.push(RRset::new(RecordType::CDS, ttl, [ds.as_slice()]));
        apex.rrsets.push(RRset::new(RecordType::CDNSKEY, ttl, [dnskey.as_slice()]));
    }
}

/// The largest TTL a signature of `zone` is served with: its RRsets', its pools', the NSEC's.
pub fn max_ttl(zone: &Zone) -> u32 {
    let data = zone.nodes.values().flat_map(|n| n.rrsets.iter()).map(|s| s.ttl).max().unwrap_or(0);
    data.max(max_pool_ttl(&zone.pools)).max(zone.negative_soa.ttl)
}

fn max_pool_ttl(pools: &Pools) -> u32 {
    pools.pools().map(|(_, p)| p.ttl.get()).max().unwrap_or(0)
}

/// Most answer sets one pooled name may have signed ahead (per TTL); more go to the cache.
const PRESIGN_PER_NAME: u128 = 64;

/// Signs ahead the answer sets of the pooled names that have few (every subset of up to
/// `max_answers` members of one region and family, every CNAME hand-off, with each TTL the
/// pool chain may give), up to the signer's `presign_limit`; sets already in the cache (kept
/// from the previous version) are not signed again. Returns how many were signed.
fn presign_pools(pools: &Pools, signer: &Signer) -> usize {
    let mut made = 0;
    let mut budget = signer.params.presign_limit;
    let tag = signer.zsk().map_or(0, ZoneKey::key_tag);
    let mut scratch = Scratch::default();
    for (lower, first) in pools.names() {
        let owner = Name::from(lower.clone());
        let mut chain = vec![first];
        while let Some(WhenEmpty::Fallback(next)) = pools.pool(*chain.last().unwrap_or(&first)).map(|p| p.when_empty) {
            if chain.contains(&next) {
                break;
            }
            chain.push(next);
        }
        let mut ttls: Vec<u32> = chain
            .iter()
            .filter_map(|&p| pools.pool(p))
            .flat_map(|p| [Some(p.ttl.get()), p.degraded_ttl.map(|t| t.get())])
            .flatten()
            .collect();
        ttls.sort_unstable();
        ttls.dedup();
        let mut keys: Vec<key::Key> = Vec::new();
        let mut count: u128 = 0;
        for pool in chain.iter().filter_map(|&p| pools.pool(p)) {
            for region in &pool.regions {
                match &region.content {
                    Content::Cname { target, .. } => {
                        for &ttl in &ttls {
                            let mut k = key::Key::new();
                            key::cname(&mut k, &owner, ttl, target);
                            keys.push(k);
                        }
                        count += 1;
                    }
                    Content::Members(members) if pool.region_policy != RegionPolicy::All => {
                        for (rtype, v4) in [(1u16, true), (28u16, false)] {
                            let addrs: Vec<std::net::IpAddr> =
                                members.iter().map(|m| m.address).filter(|a| a.is_ipv4() == v4).collect();
                            let k = pool.max_answers.get().min(addrs.len());
                            count += subsets(addrs.len(), k);
                            if addrs.len() > 16 || count > PRESIGN_PER_NAME {
                                break;
                            }
                            for mask in 1u32..(1 << addrs.len()) {
                                if mask.count_ones() as usize > k {
                                    continue;
                                }
                                let set: Vec<std::net::IpAddr> =
                                    (0..addrs.len()).filter(|i| mask & (1 << i) != 0).map(|i| addrs[i]).collect();
                                for &ttl in &ttls {
                                    let mut k = key::Key::new();
                                    key::addresses(&mut k, &owner, rtype, ttl, &set);
                                    keys.push(k);
                                }
                            }
                        }
                    }
                    Content::Members(_) => count = u128::MAX,
                }
            }
        }
        if count > PRESIGN_PER_NAME || keys.len() > budget {
            continue;
        }
        for k in keys {
            let cache = &signer.answers;
            let hash = cache.hash(k.as_slice());
            if cache.get(k.as_slice(), hash, tag).is_some() {
                continue;
            }
            if let Some(s) = signer.sign_key(k.as_slice(), &mut scratch) {
                cache.insert(k.as_slice(), hash, Arc::new(s));
                signer.counters.answers.fetch_add(1, Ordering::Relaxed);
                made += 1;
                budget = budget.saturating_sub(1);
            }
        }
    }
    made
}

/// Σ C(n, j) for j = 1..=k (saturating).
fn subsets(n: usize, k: usize) -> u128 {
    let mut total: u128 = 0;
    let mut c: u128 = 1;
    for j in 1..=k {
        c = c.saturating_mul((n + 1 - j) as u128) / j as u128;
        total = total.saturating_add(c);
    }
    total
}

#[cfg(test)]
mod tests {
    #[test]
    fn subset_counts() {
        assert_eq!(super::subsets(2, 2), 3);
        assert_eq!(super::subsets(4, 2), 10);
        assert_eq!(super::subsets(5, 0), 0);
    }
}
