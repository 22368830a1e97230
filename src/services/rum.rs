//! Real-user RTT measurements: samples clients post to the admin API (`POST /rtt`), kept per
//! client /24 (/56) and per (zone, pool, region) name as an EWMA, bounded in memory and
//! expiring, and published about once a second as the [`ClientRtts`] table the query path
//! reads (`region_policy = "latency"` with `latency_client_samples = true`).
//!
//! ```text
//! POST /rtt ─► RumStore::record (Mutex, admin side only) ─► entries: (block, zone, pool, region) → EWMA, n, last
//! every 1 s: RumStore::publish(snapshot) ─► drop entries older than EXPIRE ─► names → the snapshot's ids
//!            ─► ArcSwap<ClientRtts> ─► LiveHealth::client_rtt (one load, one hash lookup)
//! ```
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use ipnet::IpNet;

use crate::config::Snapshot;
use crate::health::client_rtt::{ClientRtts, client_block};
use crate::health::rtt::ALPHA;
use crate::pool::Rtt;
use crate::util::lock;

/// The most (block, zone, pool, region) entries kept; past it, new keys are refused until
/// old ones expire.
pub const MAX_ENTRIES: usize = 65_536;
/// A sample stops counting this long after its block's last update (seconds).
pub const EXPIRE_SECS: u64 = 600;
/// The most samples one `POST /rtt` may carry.
pub const MAX_PER_POST: usize = 1000;
/// A client RTT above this (ms) is not believed.
pub const MAX_RTT_MS: f64 = 60_000.0;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    block: IpNet,
    zone: String,
    pool: String,
    region: String,
}

#[derive(Clone, Copy, Debug)]
struct Agg {
    ms: f64,
    samples: u64,
    last: u64,
}

/// The store. Cheap to share (`Arc`); the query path touches only [`RumStore::published`].
#[derive(Default)]
pub struct RumStore {
    entries: Mutex<HashMap<Key, Agg>>,
    published: ArcSwap<ClientRtts>,
}

/// One client's measurements of a pool's regions.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measurement {
    /// The client's address or subnet (at least a /24 or /56).
    pub client: String,
    /// The zone origin, with or without the trailing dot.
    pub zone: String,
    pub pool: String,
    /// Region name → round-trip time in milliseconds.
    pub rtt_ms: HashMap<String, f64>,
}

impl RumStore {
    pub fn new() -> Arc<RumStore> {
        Arc::new(RumStore::default())
    }

    /// The table the query path reads.
    #[inline]
    pub fn published(&self) -> arc_swap::Guard<Arc<ClientRtts>> {
        self.published.load()
    }

    /// Takes a batch of measurements at UNIX time `now`: the number of samples kept, or why
    /// the batch is refused (nothing of a refused batch is kept).
    pub fn record(&self, batch: &[Measurement], now: u64) -> Result<usize, String> {
        if batch.len() > MAX_PER_POST {
            return Err(format!("at most {MAX_PER_POST} measurements per request"));
        }
        let mut parsed = Vec::new();
        for (i, m) in batch.iter().enumerate() {
            let net = m
                .client
                .parse::<IpNet>()
                .or_else(|_| m.client.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("measurement {i}: client {:?} is not an address or subnet", m.client))?;
            let block =
                client_block(net).ok_or_else(|| format!("measurement {i}: client {net} is wider than a /24 (/56)"))?;
            let zone = m.zone.trim_end_matches('.').to_ascii_lowercase() + ".";
            for (region, ms) in &m.rtt_ms {
                if !(ms.is_finite() && *ms >= 0.0 && *ms <= MAX_RTT_MS) {
                    return Err(format!("measurement {i}: rtt of {region} must be 0..={MAX_RTT_MS} ms"));
                }
                parsed.push((Key { block, zone: zone.clone(), pool: m.pool.clone(), region: region.clone() }, *ms));
            }
        }
        let mut entries = lock(&self.entries);
        if entries.len() + parsed.len() > MAX_ENTRIES {
            entries.retain(|_, a| now.saturating_sub(a.last) <= EXPIRE_SECS);
        }
        let new_keys = parsed.iter().filter(|(k, _)| !entries.contains_key(k)).count();
        if entries.len() + new_keys > MAX_ENTRIES {
            return Err(format!("the store is full ({MAX_ENTRIES} client blocks × regions); try later"));
        }
        for (k, ms) in &parsed {
            let a = entries.entry(k.clone()).or_insert(Agg { ms: *ms, samples: 0, last: now });
            a.ms = if a.samples == 0 { *ms } else { ALPHA * ms + (1.0 - ALPHA) * a.ms };
            a.samples += 1;
            a.last = now;
        }
        Ok(parsed.len())
    }

    /// Drops expired entries and publishes the rest with the ids of `snap` (config
    /// generation `generation`). Names the snapshot does not have are skipped.
    pub fn publish(&self, snap: &Snapshot, generation: u64, now: u64) {
        let mut table = ClientRtts::new(generation);
        {
            let mut entries = lock(&self.entries);
            entries.retain(|_, a| now.saturating_sub(a.last) <= EXPIRE_SECS);
            for (k, a) in entries.iter() {
                let Some((zi, zone)) = snap
                    .zones
                    .zones()
                    .iter()
                    .enumerate()
                    .find(|(_, z)| z.origin.to_ascii().eq_ignore_ascii_case(&k.zone))
                else {
                    continue;
                };
                let Some(pid) = zone.pools.pool_id(&k.pool) else { continue };
                let Some(rid) = zone.pools.pool(pid).and_then(|p| p.region_id(&k.region)) else { continue };
                table.insert(k.block, zi, pid, rid, Rtt { ms: a.ms, samples: a.samples });
            }
        }
        self.published.store(Arc::new(table));
    }

    /// Entries kept (for status pages).
    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
