//! `degraded_ttl`: the short TTL goes only to answers that a down member touches, so that a
//! drain or a failure in one region does not shorten every client's cache.
//!
//! An answer is touched when a member that the file does not mark `down = true` is down
//! (probes or an admin override) and
//! - it is a member of the region that answered (the answer will change when it returns), or
//! - with every member up, this client would have gone to another region (it was moved:
//!   nearest, failover, sticky and geo maps decide the same for the same client, so that is
//!   checked by deciding again with every member up and the same load view).
//!
//! `weighted` draws a region at random per query, so another region's failure is not counted
//! there; `all` merges every region, so any down member touches its answers, and so does an
//! answer from several regions (`regions_per_answer` > 1 or `extra_random` > 0: which regions
//! join the first, and with which members, changes when any region's members do). `latency`
//! decides the same for every client from the probes' RTTs, which the all-up view keeps.
//! Fallbacks and fail-open happen only because something is down: they always count.
use super::decide::Client;
use super::decide::{Pick, select_region};
use super::scope::Scope;
use crate::pool::{
    Content, HealthView, LoadSlot, LoadStatus, MemberId, Pool, PoolId, Pools, RegionId, RegionLoad, RegionPolicy, Rtt,
};
use crate::util::rng::SplitMix64;

/// Whether any member of the pool that the file does not mark down is not up (the cheap test
/// that comes first: when nothing is down no answer is touched).
pub(super) fn any_down<H: HealthView + ?Sized>(pools: &Pools, p: &Pool, h: &H) -> bool {
    p.regions.iter().any(|r| region_down(pools, &r.content, h))
}

fn region_down<H: HealthView + ?Sized>(pools: &Pools, content: &Content, h: &H) -> bool {
    let counts = |id: MemberId| pools.member(id).is_some_and(|m| !m.down_in_file);
    match content {
        Content::Cname { id, delegation, .. } => {
            (counts(*id) && !h.is_up(*id))
                || delegation.as_ref().is_some_and(|d| d.glue.iter().any(|(g, _)| counts(*g) && !h.is_up(*g)))
        }
        Content::Members(ms) => ms.iter().any(|m| counts(m.id) && !h.is_up(m.id)),
    }
}

/// Whether a down member touches the answer `pick` (see the module docs). Call it only when
/// [`any_down`] is true. Allocation-free.
pub(super) fn touched<H: HealthView + ?Sized>(
    pools: &Pools,
    pool_id: PoolId,
    p: &Pool,
    pick: &Pick,
    client: &Client,
    health: &H,
) -> bool {
    let chosen = match pick {
        Pick::All => return true,
        Pick::One(_) if p.regions_per_answer > 1 || p.extra_random > 0 => return true,
        Pick::One(r) => *r,
    };
    if p.region(chosen).is_some_and(|r| region_down(pools, &r.content, health)) {
        return true;
    }
    if matches!(p.region_policy, RegionPolicy::Weighted) {
        return false;
    }
    // Deterministic policies ignore the generator; it only satisfies the signature.
    let mut rng = SplitMix64::new(0);
    let mut scope = Scope::default();
    let all_up = AllUpSameLoad(health);
    match select_region(pools, pool_id, p, client, &all_up, &mut rng, &mut scope, None) {
        Some(Pick::One(r)) => r != chosen,
        _ => false,
    }
}

/// Every member up; the load feeds and the RTT estimates (probes, the latency leader, client
/// samples) as they are.
struct AllUpSameLoad<'a, H: ?Sized>(&'a H);

impl<H: HealthView + ?Sized> HealthView for AllUpSameLoad<'_, H> {
    fn is_up(&self, _: MemberId) -> bool {
        true
    }
    fn region_load(&self, slot: LoadSlot) -> Option<RegionLoad> {
        self.0.region_load(slot)
    }
    fn load_status(&self, slot: LoadSlot) -> Option<LoadStatus> {
        self.0.load_status(slot)
    }
    fn member_rtt(&self, m: MemberId) -> Option<Rtt> {
        self.0.member_rtt(m)
    }
    fn latency_leader(&self, pool: PoolId) -> Option<RegionId> {
        self.0.latency_leader(pool)
    }
    fn client_rtt(&self, pool: PoolId, region: RegionId, client: ipnet::IpNet) -> Option<Rtt> {
        self.0.client_rtt(pool, region, client)
    }
}
