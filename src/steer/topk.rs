//! Answers from several regions (`regions_per_answer = k`, `extra_random = j`): after the
//! region policy picks the first region, the next k − 1 usable regions in the policy's own
//! order, then j more usable regions drawn at random (gdnsd users' "the 2 closest plus 1
//! random"). Each answering region contributes its members' share of `max_answers`
//! (`max_answers / (k + j)`, at least one), in that order, so the first addresses are the
//! best region's. No heap: at most [`MAX_REGIONS`] regions are considered.
//!
//! The policy's order: `nearest` by effective distance (then regions without a location, in
//! file order); `latency` by RTT estimate (then by distance); `failover` by `failover_order`;
//! `sticky` by the client's rendezvous scores; `weighted` by a weighted random draw without
//! replacement. A `nearest` or `sticky` order depends on the client, so its ECS scope counts.
use super::decide::{Client, ScopeWhy, region_usable};
use super::hash::{rendezvous_score, sticky_key};
use super::latency::region_rtt;
use crate::geo::distance_km;
use crate::pool::{HealthView, MAX_ANSWERS, Pool, RegionId, RegionPolicy};
use crate::util::rng::{Random, below};

/// The most regions ranked for a multi-region answer (the rest are never added).
pub const MAX_REGIONS: usize = 64;

/// The answering regions, best first.
#[derive(Copy, Clone, Debug)]
pub struct RegionList {
    ids: [u8; MAX_ANSWERS],
    len: usize,
    /// How many of them came from the random draw (at the end).
    pub random: usize,
}

impl RegionList {
    pub fn as_slice(&self) -> &[u8] {
        &self.ids[..self.len.min(MAX_ANSWERS)]
    }
    fn push(&mut self, i: usize) {
        if self.len < MAX_ANSWERS {
            self.ids[self.len] = i as u8;
            self.len += 1;
        }
    }
    fn contains(&self, i: usize) -> bool {
        self.as_slice().iter().any(|&x| usize::from(x) == i)
    }
}

/// The regions that answer together with `first`, and the scope contribution (prefix, why)
/// of the order when it depends on the client.
pub(crate) fn answering_regions<H, R>(
    p: &Pool,
    first: RegionId,
    client: &Client,
    health: &H,
    rng: &mut R,
) -> (RegionList, Option<(u8, ScopeWhy)>)
where
    H: HealthView + ?Sized,
    R: Random + ?Sized,
{
    let mut list = RegionList { ids: [0; MAX_ANSWERS], len: 0, random: 0 };
    list.push(first.index());
    let n = p.regions.len().min(MAX_REGIONS);
    let usable = |i: usize| i != first.index() && p.regions.get(i).is_some_and(|r| region_usable(r, health));
    // (key, index): smaller keys first.
    let mut keyed = [(0.0f64, 0u8); MAX_REGIONS];
    let mut m = 0;
    let mut scope = None;
    let coords = client.geo.and_then(|g| g.location).and_then(|l| l.coords);
    let distance = |i: usize| match (coords, p.regions[i].location) {
        (Some(c), Some(l)) => distance_km(c, l) * p.regions[i].bias.factor(),
        _ => 1e9 + i as f64,
    };
    let (key, granularity) = sticky_key(client.subnet);
    for i in (0..n).filter(|&i| usable(i)) {
        let k = match &p.region_policy {
            RegionPolicy::Nearest { .. } => distance(i),
            RegionPolicy::Latency { min_samples, .. } => match region_rtt(&p.regions[i], health, *min_samples) {
                Some(rtt) => rtt.ms,
                None => 1e12 + distance(i),
            },
            RegionPolicy::Failover { order } => {
                order.iter().position(|r| r.index() == i).unwrap_or(MAX_REGIONS + i) as f64
            }
            RegionPolicy::Sticky => -rendezvous_score(key, p.regions[i].seed, p.regions[i].weight.get()),
            // Exponential with rate = weight: sorting by it is a weighted draw without replacement.
            RegionPolicy::Weighted => {
                let u = ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
                -u.ln() / f64::from(p.regions[i].weight.get())
            }
            RegionPolicy::All => i as f64,
        };
        // Equal keys keep file order.
        crate::pool::rank::insert_stable(&mut keyed, m, (k, i as u8));
        m += 1;
    }
    match &p.region_policy {
        RegionPolicy::Nearest { .. } if coords.is_some() => scope = Some((client.geo_prefix(), ScopeWhy::GeoNetwork)),
        RegionPolicy::Sticky => scope = Some((granularity, ScopeWhy::Sticky)),
        _ => {}
    }
    for &(_, i) in keyed[..m].iter().take(usize::from(p.regions_per_answer.saturating_sub(1))) {
        list.push(usize::from(i));
    }
    // j more, uniformly among the usable regions not yet answering.
    for _ in 0..p.extra_random {
        let left = keyed[..m].iter().filter(|(_, i)| !list.contains(usize::from(*i))).count();
        if left == 0 {
            break;
        }
        let mut x = below(rng, left as u64);
        for &(_, i) in &keyed[..m] {
            if list.contains(usize::from(i)) {
                continue;
            }
            if x == 0 {
                list.push(usize::from(i));
                list.random += 1;
                break;
            }
            x -= 1;
        }
    }
    (list, scope)
}
