//! The live part of the serving state: the health and load views of the snapshot's members and
//! regions, the admin override codes, and the answer counters, laid out by the snapshot's own
//! ids so that the query path reads and increments them by index, with no lookup, lock or
//! allocation.
//!
//! [`Live::build`] makes it for a freshly compiled snapshot, before the pair is published:
//! counters are carried over from the serving state by (zone, pool, region, member) *name*, so
//! counts survive a reload even when ids move; the override table then writes the codes.
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use super::overrides::Override;
use super::version::ConfigVersion;
use crate::config::Snapshot;
use crate::feedback::PoolsLoad;
use crate::health::PoolsHealth;
use crate::pool::{
    Content, FileHealth, HealthView, LoadSlot, LoadStatus, MemberId, MemberTarget, PoolId, Pools, RegionId, RegionLoad,
    RegionPolicy, Rtt,
};
use crate::services::RumStore;
use crate::steer::{AddrList, next_leader, region_rtt, region_usable};
use ipnet::IpNet;

/// A steering decision, by ids into the snapshot that answered: what the front end reports
/// so that the decision and answer counters can be bumped.
#[derive(Clone, Copy, Debug)]
pub struct Steered {
    /// Index of the zone in the snapshot's `ZoneSet`.
    pub zone: usize,
    /// The pool the name is bound to (where the decision started).
    pub asked: PoolId,
    /// The pool whose regions answered (after any fallback).
    pub pool: PoolId,
    /// The region that answered; `None` for `region_policy = "all"` or when nothing was chosen.
    pub region: Option<RegionId>,
    pub answer: SteeredAnswer,
}

/// Inline addresses on purpose, as in [`crate::steer::Answer`]: no heap on the hot path.
#[derive(Clone, Copy, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum SteeredAnswer {
    Addresses(AddrList),
    /// A CNAME hand-off to the region's load balancer.
    Cname,
    NoData,
}

impl SteeredAnswer {
    /// The addresses answered (none for a CNAME hand-off or NODATA).
    pub fn addresses(&self) -> &[std::net::IpAddr] {
        match self {
            SteeredAnswer::Addresses(list) => list.as_slice(),
            SteeredAnswer::Cname | SteeredAnswer::NoData => &[],
        }
    }
}

/// The live part of one snapshot's serving state. See the module docs.
#[derive(Default)]
pub struct Live {
    /// [zone][member id]: an [`Override`] code, written by the admin API, read per decision.
    overrides: Vec<Box<[AtomicU8]>>,
    /// [zone][member id]: address records (or CNAME hand-offs) given out for the member.
    answers: Vec<Box<[Arc<AtomicU64>]>>,
    /// [zone][pool id]: offset of the pool's first region in `decisions[zone]`.
    region_base: Vec<Box<[usize]>>,
    /// [zone][region_base[pool] + region id]: steering decisions won by the region; each
    /// pool has one more slot, after its regions, for "no single region" (policy all, NODATA).
    decisions: Vec<Box<[Arc<AtomicU64>]>>,
    pub version: ConfigVersion,
    /// [zone]: the probes' view of the zone's members (empty when the server runs no probes,
    /// e.g. `gslbd check`); built by the health service when the snapshot is published.
    pub probes: Vec<PoolsHealth>,
    /// [zone]: the load feedback view of the zone's fed regions (empty without pollers); built
    /// by the feedback service when the snapshot is published.
    pub loads: Vec<PoolsLoad>,
    /// [zone][pool id]: the region a latency pool prefers (+1; 0 = none yet), kept with
    /// hysteresis by the latency tracker ([`Live::track_latency`]).
    leaders: Vec<Box<[AtomicU32]>>,
    /// RTTs posted by clients (`POST /rtt`), shared by every snapshot; `None` without an API.
    pub rum: Option<Arc<RumStore>>,
    /// NOTIFY wake-ups of the secondary zones' refresh tasks; `None` where nothing refreshes.
    pub signals: Option<Arc<super::ZoneSignals>>,
}

/// The override in force for `member` in one zone's row of [`Live`]'s override codes.
#[inline]
fn override_in(row: &[AtomicU8], member: MemberId) -> Override {
    row.get(member.index()).map_or(Override::None, |c| Override::from_code(c.load(Ordering::Relaxed)))
}

/// The health the steering decision reads for one zone: an admin override wins; otherwise
/// the probes' view (which honours the pool file's `down = true`), or the pool file alone.
pub struct LiveHealth<'a> {
    live: &'a Live,
    zone: usize,
    file: FileHealth<'a>,
    /// The zone's rows of `live.overrides` and `live.probes`, found once per decision rather
    /// than at each of its member tests.
    overrides: &'a [AtomicU8],
    probes: Option<&'a PoolsHealth>,
}

impl HealthView for LiveHealth<'_> {
    #[inline]
    fn is_up(&self, m: MemberId) -> bool {
        match override_in(self.overrides, m) {
            Override::ForceUp => true,
            Override::ForceDown | Override::Drain => false,
            Override::None => match self.probes {
                Some(view) => view.is_up(m),
                None => self.file.is_up(m),
            },
        }
    }

    fn describe(&self, m: MemberId) -> Option<String> {
        let base = match self.probes {
            Some(view) => view.describe(m),
            None => self.file.describe(m),
        };
        match self.live.override_of(self.zone, m) {
            Override::None => base,
            o => Some(format!("admin override {o}; {}", base.unwrap_or_default())),
        }
    }

    #[inline]
    fn region_load(&self, slot: LoadSlot) -> Option<RegionLoad> {
        self.live.loads.get(self.zone)?.region_load(slot)
    }

    #[inline]
    fn member_rtt(&self, m: MemberId) -> Option<Rtt> {
        self.probes?.member_rtt(m)
    }

    #[inline]
    fn client_rtt(&self, pool: PoolId, region: RegionId, client: IpNet) -> Option<Rtt> {
        let table = self.live.rum.as_ref()?.published();
        table.get(self.live.version.generation, client, self.zone, pool, region)
    }

    #[inline]
    fn latency_leader(&self, pool: PoolId) -> Option<RegionId> {
        let code = self.live.leaders.get(self.zone)?.get(pool.index())?.load(Ordering::Relaxed);
        code.checked_sub(1).map(RegionId)
    }

    fn load_status(&self, slot: LoadSlot) -> Option<LoadStatus> {
        self.live.loads.get(self.zone)?.load_status(slot)
    }
}

/// The names a counter is carried across reloads by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CounterKey {
    pub zone: String,
    pub pool: String,
    pub region: String,
    /// The member (address or CNAME target); empty for a decision counter.
    pub member: String,
}

/// The label used for "no single region" decisions.
pub const NO_REGION: &str = "-";

impl Live {
    /// Builds the live part for `snap` with the services' views, carrying counters from `old`
    /// (the serving state, if any) by name. Overrides start empty; the override table fills them.
    pub fn build(
        snap: &Snapshot,
        old: Option<&super::Serving>,
        version: ConfigVersion,
        probes: Vec<PoolsHealth>,
        loads: Vec<PoolsLoad>,
    ) -> Live {
        let mut carried: HashMap<CounterKey, Arc<AtomicU64>> = HashMap::new();
        if let Some(old) = old {
            old.live.for_each_counter(&old.config, |key, counter| {
                carried.insert(key, counter.clone());
            });
        }
        // A counter carried over by its names; with none to carry (the first load), the names
        // are not even made (100,000 pools: a quarter of a second before the first answer).
        let mut take = |key: &dyn Fn() -> CounterKey| {
            if carried.is_empty() { Arc::default() } else { carried.remove(&key()).unwrap_or_default() }
        };
        let mut live = Live { version, probes, loads, ..Live::default() };
        for zone in snap.zones.zones() {
            let origin = zone.origin.to_string();
            let pools = &zone.pools;
            live.overrides.push((0..pools.member_count()).map(|_| AtomicU8::new(Override::None.code())).collect());
            live.answers.push(
                pools
                    .members()
                    .map(|(_, m)| {
                        take(&|| {
                            let (pool, region) = names_of(pools, m.pool, m.region);
                            CounterKey { zone: origin.clone(), pool, region, member: member_name(&m.target) }
                        })
                    })
                    .collect(),
            );
            let mut base = Vec::new();
            let mut decisions = Vec::new();
            for (_, pool) in pools.pools() {
                base.push(decisions.len());
                for region in pool.regions.iter().map(|r| r.name.as_str()).chain([NO_REGION]) {
                    decisions.push(take(&|| CounterKey {
                        zone: origin.clone(),
                        pool: pool.name.clone(),
                        region: region.into(),
                        member: String::new(),
                    }));
                }
            }
            live.region_base.push(base.into());
            live.decisions.push(decisions.into());
            live.leaders.push(pools.pools().map(|_| AtomicU32::new(0)).collect());
        }
        live
    }

    /// Calls `f` with every counter of `snap` (whose live state this is) and its names.
    pub fn for_each_counter(&self, snap: &Snapshot, mut f: impl FnMut(CounterKey, &Arc<AtomicU64>)) {
        for (zi, zone) in snap.zones.zones().iter().enumerate() {
            let origin = zone.origin.to_string();
            let pools = &zone.pools;
            for (id, m) in pools.members() {
                let Some(counter) = self.answers.get(zi).and_then(|a| a.get(id.index())) else { continue };
                let (pool, region) = names_of(pools, m.pool, m.region);
                f(CounterKey { zone: origin.clone(), pool, region, member: member_name(&m.target) }, counter);
            }
            for (pid, pool) in pools.pools() {
                let Some(base) = self.region_base.get(zi).and_then(|b| b.get(pid.index())) else { continue };
                for (i, region) in pool.regions.iter().map(|r| r.name.as_str()).chain([NO_REGION]).enumerate() {
                    let Some(counter) = self.decisions.get(zi).and_then(|d| d.get(base + i)) else { continue };
                    f(
                        CounterKey {
                            zone: origin.clone(),
                            pool: pool.name.clone(),
                            region: region.into(),
                            member: String::new(),
                        },
                        counter,
                    );
                }
            }
        }
    }

    /// The health view of zone `zone` (whose pools are `pools`) for the steering decision.
    #[inline]
    pub fn health<'a>(&'a self, zone: usize, pools: &'a Pools) -> LiveHealth<'a> {
        LiveHealth {
            live: self,
            zone,
            file: pools.file_health(),
            overrides: self.overrides.get(zone).map_or(&[], |z| &z[..]),
            probes: self.probes.get(zone),
        }
    }

    /// One step of the latency tracker: for every `region_policy = "latency"` pool, the
    /// preferred region moves to the lowest RTT estimate only when it beats the current one
    /// by the pool's hysteresis ([`crate::steer::next_leader`]). Returns how many moved.
    pub fn track_latency(&self, snap: &Snapshot) -> usize {
        let mut moved = 0;
        for (zi, zone) in snap.zones.zones().iter().enumerate() {
            let health = self.health(zi, &zone.pools);
            for (pid, p) in zone.pools.pools() {
                let RegionPolicy::Latency { min_samples, hysteresis, .. } = p.region_policy else {
                    continue;
                };
                let Some(slot) = self.leaders.get(zi).and_then(|l| l.get(pid.index())) else { continue };
                let current = slot.load(Ordering::Relaxed).checked_sub(1).map(|c| c as usize);
                let est = |i: usize| {
                    let r = p.regions.get(i)?;
                    region_usable(r, &health).then(|| region_rtt(r, &health, min_samples)).flatten().map(|x| x.ms)
                };
                let next = next_leader(current, p.regions.len(), est, hysteresis);
                if next != current {
                    moved += 1;
                    slot.store(next.map_or(0, |n| n as u32 + 1), Ordering::Relaxed);
                }
            }
        }
        moved
    }

    /// The override in force for a member of this snapshot.
    #[inline]
    pub fn override_of(&self, zone: usize, member: MemberId) -> Override {
        self.overrides.get(zone).map_or(Override::None, |z| override_in(z, member))
    }

    /// How many members of this snapshot an admin override applies to.
    pub fn overrides_in_force(&self) -> usize {
        self.overrides.iter().flat_map(|z| z.iter()).filter(|c| c.load(Ordering::Relaxed) != 0).count()
    }

    /// Every member of every zone back to no override.
    pub(crate) fn clear_overrides(&self) {
        for c in self.overrides.iter().flat_map(|z| z.iter()) {
            c.store(Override::None.code(), Ordering::Relaxed);
        }
    }

    /// Sets the override code of a member (the override table calls this under its lock).
    pub(crate) fn set_override(&self, zone: usize, member: MemberId, o: Override) {
        if let Some(c) = self.overrides.get(zone).and_then(|z| z.get(member.index())) {
            c.store(o.code(), Ordering::Relaxed);
        }
    }

    /// Counts one steering decision: the region's decision counter and one per answered member.
    /// Fixed-index increments; the address → member match scans the region's few members.
    pub fn count_steered(&self, snap: &Snapshot, s: &Steered) {
        let Some(pool) = snap.zones.zones().get(s.zone).and_then(|z| z.pools.pool(s.pool)) else { return };
        if let Some(base) = self.region_base.get(s.zone).and_then(|b| b.get(s.pool.index())) {
            let slot = match s.region {
                Some(r) if r.index() < pool.regions.len() => base + r.index(),
                _ => base + pool.regions.len(),
            };
            if let Some(c) = self.decisions.get(s.zone).and_then(|d| d.get(slot)) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        let Some(answers) = self.answers.get(s.zone) else { return };
        let bump = |id: MemberId| {
            if let Some(c) = answers.get(id.index()) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        };
        // The regions that may have answered: the chosen one, or all of them (policy all).
        let regions = match s.region.and_then(|r| pool.region(r)) {
            Some(r) => std::slice::from_ref(r),
            None => pool.regions.as_slice(),
        };
        match &s.answer {
            SteeredAnswer::Addresses(list) => {
                let in_regions = |regions: &[crate::pool::Region], addr: &std::net::IpAddr| {
                    regions.iter().find_map(|r| match &r.content {
                        Content::Members(ms) => ms.iter().find(|m| m.address == *addr).map(|m| m.id),
                        Content::Cname { .. } => None,
                    })
                };
                for addr in list.as_slice() {
                    // A multi-region answer (regions_per_answer, extra_random) has addresses
                    // of other regions after the chosen one's.
                    let found = in_regions(regions, addr).or_else(|| in_regions(&pool.regions, addr));
                    if let Some(id) = found {
                        bump(id);
                    }
                }
            }
            SteeredAnswer::Cname => {
                if let Some(Content::Cname { id, .. }) = regions.first().map(|r| &r.content) {
                    bump(*id);
                }
            }
            SteeredAnswer::NoData => {}
        }
    }

    /// The answers counter of a member (for rendering).
    pub fn answers_of(&self, zone: usize, member: MemberId) -> u64 {
        self.answers.get(zone).and_then(|a| a.get(member.index())).map(|c| c.load(Ordering::Relaxed)).unwrap_or(0)
    }
}

/// A member's name in labels, counters and override targets: its address or CNAME target.
pub fn member_name(t: &MemberTarget) -> String {
    match t {
        MemberTarget::Address(a) => a.to_string(),
        MemberTarget::Cname(n) => n.to_string(),
    }
}

/// The pool and region names of a member.
fn names_of(pools: &Pools, pool: PoolId, region: RegionId) -> (String, String) {
    let p = pools.pool(pool);
    (
        p.map(|p| p.name.clone()).unwrap_or_default(),
        p.and_then(|p| p.region(region)).map(|r| r.name.clone()).unwrap_or_default(),
    )
}
