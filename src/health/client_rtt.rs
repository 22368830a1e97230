//! Round-trip times measured by clients (real-user measurements posted to the admin API),
//! aggregated per client /24 (IPv4) or /56 (IPv6) and per region, as the query path reads
//! them: an immutable table published by the RUM store (`services::rum`) about once a second
//! and read with one lock-free load and one hash lookup (no allocation, no clock).
//!
//! The table is keyed by the snapshot's own ids (zone index, pool id, region id) and carries
//! the config generation it was built for: after a reload, until the next publication, the
//! query path ignores it rather than read another snapshot's ids.
use std::collections::HashMap;

use ipnet::IpNet;

use crate::pool::{PoolId, RegionId, Rtt};

/// Client samples are aggregated per /24 of IPv4 and /56 of IPv6 (the ECS scope of an answer
/// they decided).
pub const V4_PREFIX: u8 = 24;
pub const V6_PREFIX: u8 = 56;

/// The aggregation block of a client subnet; `None` when the subnet is wider than a block
/// (samples of one block then say nothing about the whole subnet).
pub fn client_block(subnet: IpNet) -> Option<IpNet> {
    let p = match subnet {
        IpNet::V4(_) => V4_PREFIX,
        IpNet::V6(_) => V6_PREFIX,
    };
    if subnet.prefix_len() < p {
        return None;
    }
    IpNet::new(subnet.addr(), p).ok().map(|n| n.trunc())
}

/// (client block, zone index, pool id).
type RowKey = (IpNet, u32, u32);

/// The published table: (block, zone index, pool id) → per region estimates.
#[derive(Debug, Default)]
pub struct ClientRtts {
    /// The config generation whose ids this table uses.
    pub generation: u64,
    map: HashMap<RowKey, Box<[(u32, Rtt)]>>,
}

impl ClientRtts {
    pub fn new(generation: u64) -> ClientRtts {
        ClientRtts { generation, map: HashMap::new() }
    }

    /// Adds the estimate of `region` for `block` (built by the store, off the query path).
    pub fn insert(&mut self, block: IpNet, zone: usize, pool: PoolId, region: RegionId, rtt: Rtt) {
        let e = self.map.entry((block, zone as u32, pool.index() as u32)).or_default();
        let mut v = std::mem::take(e).into_vec();
        v.push((region.index() as u32, rtt));
        *e = v.into_boxed_slice();
    }

    /// The clients' estimate of `region` for the block of `subnet`, if this table was built
    /// for `generation`.
    #[inline]
    pub fn get(&self, generation: u64, subnet: IpNet, zone: usize, pool: PoolId, region: RegionId) -> Option<Rtt> {
        if generation != self.generation || self.map.is_empty() {
            return None;
        }
        let block = client_block(subnet)?;
        let row = self.map.get(&(block, zone as u32, pool.index() as u32))?;
        row.iter().find(|(r, _)| *r as usize == region.index()).map(|(_, rtt)| *rtt)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
