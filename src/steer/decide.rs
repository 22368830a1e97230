//! The steering decision: (pools, pool, family, client, health, rng) → answer, TTL, ECS scope.
//! Pure: no I/O, no clock, no global RNG, and no heap allocation unless an [`Explain`] is asked for.
//!
//! ```text
//! pool ─► usable regions (health) ─► region pick ─────────────► members of the asked family ─► Decision
//!           │ none usable             geo map (net>country>continent)   member_policy, ≤ max_answers
//!           ▼                         then region_policy
//!         when_empty: fail-open (decide as if all up) | nodata | fallback pool (loop, acyclic)
//! ```
//!
//! Semantics, each chosen to match gdnsd or Route 53 where they agree:
//! - **Same region for A and AAAA.** The region is picked without looking at the asked family;
//!   then its members of that family answer. A region serving only the other family gives NODATA.
//! - **Usable region.** A members region is usable when every address family it serves has at
//!   least one up member (so A and AAAA move together when, say, all IPv4 members fail); a CNAME
//!   region when its target is up.
//! - **Geo map first.** The client subnet is matched against mapped networks (most specific
//!   first), then the GeoIP country, then continent; a usable mapped region wins over distance,
//!   order and weight. An unusable one falls through to the next match and then to the policy.
//! - **nearest**: smallest `distance_km × (1 − bias/100)` among usable regions with a location
//!   (ties: file order). The ranking of a pool's regions for one client location is computed
//!   once: at load for every record of the GeoIP database ([`Client::ranked`]), or on first
//!   use into the pools' decision cache ([`crate::pool::rank`]); health is applied to it here. A client without coordinates goes to `default_region`; if that is not
//!   usable (or no located region is), to the first usable region in file order.
//! - **ECS scope** = the widest prefix that still determines the answer: the largest of the
//!   prefixes that mattered (a matching mapped network; for a non-matching mapped network, the
//!   first bit where it differs from the client; the GeoIP network when country, continent or
//!   coordinates mattered; the sticky hashing granularity), capped at the client's source
//!   prefix, and 0 when location did not matter (failover, weighted, all, one usable region).
//!   The GeoIP network is the block of the database around the client in which every client
//!   gets this pool's answer (`geo::ScopeMap`, built at load), or the database's own network
//!   where no map applies; it is not capped: a GeoIP block longer than the source prefix
//!   means the source block holds two answers, and the scope says so (RFC 7871 §7.2.1).
//!   A client with no GeoIP lookup at all (`geo: None`) contributes no GeoIP prefix.
//! - **Usable region, with probes.** Also at least `⌈min_usable_fraction × members⌉` members
//!   up (a half-dead region is not worth sending clients to; the policy's next choice takes them).
//! - **Load feedback** (read through [`HealthView::region_load`], kept by the pollers; `decide`
//!   reads no clock): a region whose feed is fresh and reports 0 backends up is not usable (L4
//!   up but every L7 backend down is a region down); a stale or missing feed changes nothing.
//! - **Shedding.** After the pick, a region with shed fraction s > 0 sheds the clients whose
//!   hash (of the /24 or /56, as sticky) maps below s. A shed client goes to one of the other
//!   usable regions with a fresh feed, s = 0 and spare = H·C − L > 0, by weighted rendezvous
//!   hashing with weight = spare (so shed clients split in proportion to spare capacity). No
//!   such candidate: the client stays. While candidates exist, the ECS scope is at least the
//!   hashing granularity (every client of the region is tested against s).
//! - **TTL** = the pool's ttl, or its `degraded_ttl` when a down member (not marked `down` in
//!   the file) touches this answer (see [`super::degraded`]: so clients come back soon after a
//!   recovery, and a drain elsewhere does not shorten everyone's cache); after fallbacks, the
//!   smallest ttl along the chain (the answer may change as soon as the first pool recovers).
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::rr::Name;
use ipnet::IpNet;

use super::degraded;
use super::explain::{Explain, PoolTrace};
use super::hash::{rendezvous_score, sticky_key};
pub use super::scope::ScopeWhy;
use super::scope::{Scope, common_prefix, family_prefix};
use super::shed::shed;
use super::topk::answering_regions;
use crate::geo::{Coordinates, GeoHit, Location, distance_km};
use crate::pool::rank::Ranking;
use crate::pool::{
    AllUp, Content, HealthView, MAX_ANSWERS, Member, MemberId, MemberPolicy, Pool, PoolId, Pools, Region, RegionId,
    RegionPolicy, WhenEmpty,
};
use crate::util::rng::{Random, below};

/// The address family asked for: A → V4, AAAA → V6.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn matches(self, a: &IpAddr) -> bool {
        match self {
            Family::V4 => a.is_ipv4(),
            Family::V6 => a.is_ipv6(),
        }
    }
}

/// Who is asking.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Client {
    /// The ECS subnet (address truncated to its source prefix), or the resolver's source
    /// address as a /32 or /128 when the query carried no ECS.
    pub subnet: IpNet,
    /// What the GeoIP lookup of `subnet` found; `None` when no lookup happened (no database).
    /// A database miss should still be a `GeoHit` with `location: None` and the covering
    /// network, so that the "unknown" answer gets an honest scope.
    pub geo: Option<GeoHit>,
    /// The asked pool's located regions ranked for the client's GeoIP record, from the table
    /// made at load (`config::geo_scopes::RecordRanks`); `None`: the decision cache ranks
    /// them. Either way the same [`Ranking::compute`].
    pub ranked: Option<Ranking>,
}

impl Client {
    pub(crate) fn location(&self) -> Option<&Location> {
        self.geo.as_ref().and_then(|g| g.location.as_ref())
    }
    pub(crate) fn coords(&self) -> Option<Coordinates> {
        self.location().and_then(|l| l.coords)
    }
    /// The GeoIP network's prefix in the client's own family (0 when no lookup happened).
    pub(crate) fn geo_prefix(&self) -> u8 {
        self.geo_prefix_when(false)
    }

    /// [`Client::geo_prefix`], or the wider block of one answer while every region of the
    /// asked pool is usable (`all_up`), when the lookup found one.
    pub(crate) fn geo_prefix_when(&self, all_up: bool) -> u8 {
        let network = self.geo.map(|g| if all_up { g.all_up_network.unwrap_or(g.network) } else { g.network });
        network.map_or(0, |n| family_prefix(self.subnet, n))
    }
}

/// Up to [`MAX_ANSWERS`] addresses, inline (no heap).
#[derive(Copy, Clone, PartialEq, Eq)]
pub struct AddrList {
    len: u8,
    addrs: [IpAddr; MAX_ANSWERS],
}

impl AddrList {
    pub fn new() -> AddrList {
        AddrList { len: 0, addrs: [IpAddr::V4(Ipv4Addr::UNSPECIFIED); MAX_ANSWERS] }
    }
    /// False (and nothing added) when full.
    pub fn push(&mut self, a: IpAddr) -> bool {
        match self.addrs.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = a;
                self.len += 1;
                true
            }
            None => false,
        }
    }
    pub fn as_slice(&self) -> &[IpAddr] {
        &self.addrs[..usize::from(self.len).min(MAX_ANSWERS)]
    }
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Empties the list (what it held stays in the array, unreachable).
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl Default for AddrList {
    fn default() -> Self {
        AddrList::new()
    }
}

impl fmt::Debug for AddrList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// The records to answer with. Inline addresses on purpose (no heap on the hot path).
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Answer<'p> {
    /// A or AAAA records, in preference order (first = most preferred).
    Addresses(AddrList),
    /// A CNAME to a regional load balancer (answered for A and AAAA alike).
    Cname(&'p Name),
    /// No records of this type (NOERROR with the SOA).
    NoData,
}

/// What [`decide_into`] picked; the addresses, when any, are in the caller's [`AddrList`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Picked<'p> {
    Addresses,
    Cname(&'p Name),
    NoData,
}

/// What to answer ([`decide`]'s).
pub type Decision<'p> = Decided<Answer<'p>>;

/// What to answer, for how long, and for which client block. `A` is the [`Answer`] itself
/// ([`Decision`]), or what kind it is, its addresses written elsewhere ([`decide_into`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Decided<A> {
    pub answer: A,
    /// Seconds.
    pub ttl: u32,
    /// RFC 7871 SCOPE PREFIX-LENGTH to return (≤ the client's source prefix).
    pub ecs_scope: u8,
    /// The pool whose regions answered (differs from the asked pool after a fallback).
    pub pool: PoolId,
    /// The region that answered; `None` for region_policy all and when nothing was chosen.
    pub region: Option<RegionId>,
    /// True when no region was usable and the pool failed open (health ignored).
    pub failed_open: bool,
}

pub(super) enum Pick {
    One(RegionId),
    All,
}

impl<'p> Decided<Picked<'p>> {
    /// The decision with its addresses in it.
    pub fn with(self, addrs: AddrList) -> Decision<'p> {
        let answer = match self.answer {
            Picked::Addresses => Answer::Addresses(addrs),
            Picked::Cname(target) => Answer::Cname(target),
            Picked::NoData => Answer::NoData,
        };
        let Decided { ttl, ecs_scope, pool, region, failed_open, .. } = self;
        Decided { answer, ttl, ecs_scope, pool, region, failed_open }
    }
}

/// Decides the answer for one query of a pooled name. See the module docs for the semantics.
/// Never panics: an id foreign to `pools` yields NODATA.
pub fn decide<'p, H, R>(
    pools: &'p Pools,
    pool: PoolId,
    family: Family,
    client: &Client,
    health: &H,
    rng: &mut R,
    explain: Option<&mut Explain>,
) -> Decision<'p>
where
    H: HealthView + ?Sized,
    R: Random + ?Sized,
{
    let mut addrs = AddrList::new();
    decide_into(pools, pool, family, client, health, rng, explain, &mut addrs).with(addrs)
}

/// [`decide`], writing the addresses into `addrs` (emptied first) where the caller keeps
/// them: the serving path's list is 545 octets, and returning it inside the decision cost a
/// copy into the decision and another out of it on every query.
#[allow(clippy::too_many_arguments)]
pub fn decide_into<'p, H, R>(
    pools: &'p Pools,
    pool: PoolId,
    family: Family,
    client: &Client,
    health: &H,
    rng: &mut R,
    mut explain: Option<&mut Explain>,
    addrs: &mut AddrList,
) -> Decided<Picked<'p>>
where
    H: HealthView + ?Sized,
    R: Random + ?Sized,
{
    addrs.clear();
    if let Some(e) = explain.as_deref_mut() {
        e.start(client, family);
    }
    let mut ttl = u32::MAX;
    let mut current = pool;
    // The fallback graph is acyclic (checked at load), so this visits each pool at most once;
    // the bound makes that true even for a hand-built `Pools`.
    for _ in 0..=pools.pools.len() {
        let Some(p) = pools.pool(current) else { break };
        // Some(short ttl) while a member of the pool is down; whether this answer gets it
        // depends on whether the down member touches it.
        let short = p.degraded_ttl.filter(|_| degraded::any_down(pools, p, health)).map(|d| d.get());
        if let Some(e) = explain.as_deref_mut() {
            e.steps.push(PoolTrace::new(p, client, health, false));
        }
        let mut scope = Scope { asked: current == pool, ..Scope::default() };
        if let Some(pick) = select_region(pools, current, p, client, health, rng, &mut scope, explain.as_deref_mut()) {
            let pool_ttl = match short {
                Some(d) if degraded::touched(pools, current, p, &pick, client, health) => {
                    if let Some(e) = explain.as_deref_mut() {
                        e.degraded.push(p.name.clone());
                    }
                    d
                }
                _ => p.ttl.get(),
            };
            ttl = ttl.min(pool_ttl);
            return finish(p, current, pick, family, client, health, rng, scope, ttl, false, explain, addrs);
        }
        // Nothing usable: a down member decided this answer.
        if let (Some(_), Some(e)) = (short, explain.as_deref_mut()) {
            e.degraded.push(p.name.clone());
        }
        ttl = ttl.min(short.unwrap_or(p.ttl.get()));
        match p.when_empty {
            WhenEmpty::FailOpen => {
                if let Some(e) = explain.as_deref_mut() {
                    e.note("no region is usable: when_empty = fail-open, deciding as if every member were up");
                    e.steps.push(PoolTrace::new(p, client, &AllUp, true));
                }
                let mut scope = Scope::default();
                let pick = select_region(pools, current, p, client, &AllUp, rng, &mut scope, explain.as_deref_mut());
                let pick = pick.unwrap_or(Pick::One(RegionId(0)));
                return finish(p, current, pick, family, client, &AllUp, rng, scope, ttl, true, explain, addrs);
            }
            WhenEmpty::NoData => {
                if let Some(e) = explain.as_deref_mut() {
                    e.note("no region is usable: when_empty = nodata");
                }
                return nodata(current, ttl, explain);
            }
            WhenEmpty::Fallback(next) => {
                if let Some(e) = explain.as_deref_mut() {
                    let name = pools.pool(next).map_or("?", |n| n.name.as_str());
                    e.note(&format!("no region is usable: when_empty falls back to pool {name}"));
                }
                current = next;
            }
        }
    }
    nodata(current, if ttl == u32::MAX { 0 } else { ttl }, explain)
}

fn nodata<'p>(pool: PoolId, ttl: u32, explain: Option<&mut Explain>) -> Decided<Picked<'p>> {
    let d = Decided { answer: Picked::NoData, ttl, ecs_scope: 0, pool, region: None, failed_open: false };
    if let Some(e) = explain {
        e.finish(&d, &[], ScopeWhy::Nothing, 0);
    }
    d
}

/// Whether a region can take clients: enough members up and, with a fresh feed, a backend up.
pub fn region_usable<H: HealthView + ?Sized>(r: &Region, h: &H) -> bool {
    content_usable(r, h) && backends_ok(r, h)
}

/// False only when the region's feed is fresh and reports no backend up.
fn backends_ok<H: HealthView + ?Sized>(r: &Region, h: &H) -> bool {
    match r.feedback.as_ref().and_then(|f| h.region_load(f.slot)) {
        Some(l) if l.fresh => l.backends_up != Some(0),
        _ => true,
    }
}

fn content_usable<H: HealthView + ?Sized>(r: &Region, h: &H) -> bool {
    match &r.content {
        Content::Cname { id, delegation: Some(d), .. } => {
            h.is_up(*id) && (d.glue.is_empty() || d.glue.iter().any(|(g, _)| h.is_up(*g)))
        }
        Content::Cname { id, .. } => h.is_up(*id),
        Content::Members(ms) => {
            let family_ok = |v4: bool| ms.iter().any(|m| m.address.is_ipv4() == v4 && h.is_up(m.id));
            let enough = || r.min_up == 0 || ms.iter().filter(|m| h.is_up(m.id)).count() >= r.min_up as usize;
            (r.serves_v4 || r.serves_v6)
                && (!r.serves_v4 || family_ok(true))
                && (!r.serves_v6 || family_ok(false))
                && enough()
        }
    }
}

pub(super) fn region_at(_pool: &Pool, i: usize) -> RegionId {
    RegionId(i as u32)
}

/// The usable located region nearest to `c` (effective distance; ties: file order), for a pool
/// the decision cache does not rank. Kept out of line: inlined, the compiler computed the
/// client's `cos(latitude)` on every decision, ranked or not.
#[cold]
#[inline(never)]
fn nearest_usable(p: &Pool, c: Coordinates, usable: &dyn Fn(usize) -> bool) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for (i, r) in p.regions.iter().enumerate() {
        let Some(loc) = r.location else { continue };
        if !usable(i) {
            continue;
        }
        let eff = distance_km(c, loc) * r.bias.factor();
        if best.is_none_or(|(_, b)| eff < b) {
            best = Some((i, eff));
        }
    }
    best
}

/// Picks the region (or all regions) to answer from, or `None` when none is usable for this
/// client: the policy's pick, then load shedding.
#[allow(clippy::too_many_arguments)]
pub(super) fn select_region<H, R>(
    pools: &Pools,
    pool_id: PoolId,
    p: &Pool,
    client: &Client,
    health: &H,
    rng: &mut R,
    scope: &mut Scope,
    mut ex: Option<&mut Explain>,
) -> Option<Pick>
where
    H: HealthView + ?Sized,
    R: Random + ?Sized,
{
    match select_policy(pools, pool_id, p, client, health, rng, scope, ex.as_deref_mut())? {
        Pick::One(r) => Some(Pick::One(shed(p, r, client, health, scope, &mut ex))),
        Pick::All => Some(Pick::All),
    }
}

/// The region the policy picks (before load shedding).
#[allow(clippy::too_many_arguments)]
fn select_policy<H, R>(
    pools: &Pools,
    pool_id: PoolId,
    p: &Pool,
    client: &Client,
    health: &H,
    rng: &mut R,
    scope: &mut Scope,
    mut ex: Option<&mut Explain>,
) -> Option<Pick>
where
    H: HealthView + ?Sized,
    R: Random + ?Sized,
{
    // Each region's usability, found once: the first 64 as bits, any further ones when asked.
    let mask =
        p.regions.iter().take(64).enumerate().fold(0u64, |m, (i, r)| m | (u64::from(region_usable(r, health)) << i));
    let usable = |i: usize| match i {
        0..64 => mask >> i & 1 == 1,
        _ => p.regions.get(i).is_some_and(|r| region_usable(r, health)),
    };
    let n_usable = mask.count_ones() as usize + (64..p.regions.len()).filter(|&i| usable(i)).count();
    if n_usable == 0 {
        return None;
    }
    // Only for the asked pool: a fallback pool is reached when none of it is usable.
    scope.all_up = scope.asked && n_usable == p.regions.len();
    if matches!(p.region_policy, RegionPolicy::All) {
        note(&mut ex, || "region_policy all: every usable region answers".to_string());
        return Some(Pick::All);
    }
    if n_usable == 1 && !p.has_geo_maps {
        // Every client gets this region, wherever it is: location does not matter.
        let i = (0..p.regions.len()).find(|&i| usable(i)).unwrap_or(0);
        note(&mut ex, || format!("only one usable region: {}", p.regions.get(i).map_or("?", |r| r.name.as_str())));
        return Some(Pick::One(region_at(p, i)));
    }

    // 1. The explicit geo map: network (most specific), then country, then continent.
    if p.has_geo_maps
        && let Some(r) = geo_map(p, client, scope, &usable, &mut ex)
    {
        return Some(Pick::One(r));
    }

    // 2. The policy.
    match &p.region_policy {
        RegionPolicy::Nearest { default_region } | RegionPolicy::Latency { default_region, .. } => {
            if let RegionPolicy::Latency { min_samples, hysteresis, client_samples, .. } = &p.region_policy {
                if *client_samples
                    && let Some((i, block)) =
                        super::latency::client_pick(pool_id, p, client, health, *min_samples, &usable, &mut ex)
                {
                    // What this client's /24 (/56) measured decided: that block is the scope.
                    scope.need(block, ScopeWhy::ClientSamples);
                    return Some(Pick::One(region_at(p, i)));
                }
                if let Some(i) = super::latency::pick(pool_id, p, health, *min_samples, *hysteresis, &usable, &mut ex) {
                    // The node's own RTTs decided: the same answer for every client (scope 0).
                    return Some(Pick::One(region_at(p, i)));
                }
            }
            scope.need_geo(client);
            if let Some(c) = client.coords() {
                // The located regions ranked for this location, from the table made at load
                // (the asked pool) or the decision cache; health is applied here, on the
                // ranked list.
                let ranked = if scope.asked { client.ranked } else { None };
                if let Some(ranking) = ranked.or_else(|| pools.ranks.ranking(pool_id.0, p, c))
                    && let Some(i) = ranking.iter().find(|&i| usable(i))
                {
                    note(&mut ex, || {
                        let r = &p.regions[i];
                        let eff = r.location.map_or(0.0, |l| distance_km(c, l) * r.bias.factor());
                        format!("nearest usable region: {} at {:.0} km effective", r.name, eff)
                    });
                    return Some(Pick::One(region_at(p, i)));
                }
                if let Some((i, eff)) = nearest_usable(p, c, &usable) {
                    note(&mut ex, || {
                        format!("nearest usable region: {} at {:.0} km effective", p.regions[i].name, eff)
                    });
                    return Some(Pick::One(region_at(p, i)));
                }
                note(&mut ex, || "no usable region has a location".to_string());
            } else {
                note(&mut ex, || "client has no coordinates".to_string());
            }
            if usable(default_region.index()) {
                note(&mut ex, || {
                    format!("default region {}", p.region(*default_region).map_or("?", |r| r.name.as_str()))
                });
                return Some(Pick::One(*default_region));
            }
            let i = (0..p.regions.len()).find(|&i| usable(i))?;
            note(&mut ex, || format!("default region is not usable: first usable region {}", p.regions[i].name));
            Some(Pick::One(region_at(p, i)))
        }
        RegionPolicy::Failover { order } => {
            for r in order {
                if usable(r.index()) {
                    note(&mut ex, || {
                        format!("failover: first usable region in order is {}", p.regions[r.index()].name)
                    });
                    return Some(Pick::One(*r));
                }
            }
            note(&mut ex, || "failover: no region in failover_order is usable".to_string());
            None
        }
        RegionPolicy::Weighted => {
            let total: u64 =
                p.regions.iter().enumerate().filter(|(i, _)| usable(*i)).map(|(_, r)| u64::from(r.weight.get())).sum();
            let mut x = below(rng, total.max(1));
            for (i, r) in p.regions.iter().enumerate() {
                if !usable(i) {
                    continue;
                }
                let w = u64::from(r.weight.get());
                if x < w {
                    note(&mut ex, || format!("weighted: drew {} (weight {} of {})", r.name, w, total));
                    return Some(Pick::One(region_at(p, i)));
                }
                x -= w;
            }
            None
        }
        RegionPolicy::Sticky => {
            let (key, granularity) = sticky_key(client.subnet);
            let mut best: Option<(usize, f64)> = None;
            for (i, r) in p.regions.iter().enumerate() {
                if !usable(i) {
                    continue;
                }
                let s = rendezvous_score(key, r.seed, r.weight.get());
                if best.is_none_or(|(_, b)| s > b) {
                    best = Some((i, s));
                }
            }
            let (i, _) = best?;
            scope.need(granularity, ScopeWhy::Sticky);
            note(&mut ex, || {
                format!("sticky: rendezvous hash of the client /{granularity} picks {}", p.regions[i].name)
            });
            Some(Pick::One(region_at(p, i)))
        }
        RegionPolicy::All => Some(Pick::All),
    }
}

pub(super) fn note(ex: &mut Option<&mut Explain>, text: impl FnOnce() -> String) {
    if let Some(e) = ex.as_deref_mut() {
        e.note(&text());
    }
}

/// An explain note, built only when explaining (for the policy modules beside this one).
pub(crate) fn note_to(ex: &mut Option<&mut Explain>, text: impl FnOnce() -> String) {
    note(ex, text)
}

fn geo_map(
    p: &Pool,
    client: &Client,
    scope: &mut Scope,
    usable: &impl Fn(usize) -> bool,
    ex: &mut Option<&mut Explain>,
) -> Option<RegionId> {
    // Networks: the most specific one containing the client subnet wins. Every mapped network
    // of the client's family that does not contain it bounds the scope, so that the claimed
    // block never overlaps a network that would be answered differently.
    let mut best: Option<(usize, IpNet)> = None;
    for (i, r) in p.regions.iter().enumerate() {
        for n in &r.geo.networks {
            if n.contains(&client.subnet) {
                if best.is_none_or(|(_, b)| n.prefix_len() > b.prefix_len()) {
                    best = Some((i, *n));
                }
            } else if let Some(common) = common_prefix(n.network(), client.subnet.network()) {
                scope.need(common.saturating_add(1).min(n.prefix_len()), ScopeWhy::MapNonMatch(*n));
            }
        }
    }
    if let Some((i, n)) = best {
        scope.need(n.prefix_len(), ScopeWhy::MapNetwork(n));
        if usable(i) {
            note(ex, || format!("geo map: network {n} -> {}", p.regions[i].name));
            return Some(region_at(p, i));
        }
        note(ex, || format!("geo map: network {n} -> {}, which is not usable", p.regions[i].name));
    }
    // Autonomous systems: after networks, before countries; the ASN database's network
    // decided, so it bounds the scope (only when an AS map could have mattered).
    if p.has_asn_maps
        && let Some(asn) = client.geo.and_then(|g| g.asn)
    {
        scope.need(family_prefix(client.subnet, asn.network), ScopeWhy::AsnNetwork(asn.network));
        if let Some(i) = p.regions.iter().position(|r| r.geo.asns.contains(&asn.number)) {
            if usable(i) {
                note(ex, || format!("geo map: AS{} (network {}) -> {}", asn.number, asn.network, p.regions[i].name));
                return Some(region_at(p, i));
            }
            note(ex, || format!("geo map: AS{} -> {}, which is not usable", asn.number, p.regions[i].name));
        }
    }
    if !p.has_place_maps {
        return None;
    }
    // Country and continent come from the GeoIP network: it bounds the scope.
    scope.need_geo(client);
    let loc = client.location()?;
    if let Some(cc) = loc.country
        && let Some(i) = p.regions.iter().position(|r| r.geo.countries.contains(&cc))
    {
        if usable(i) {
            note(ex, || format!("geo map: country {cc} -> {}", p.regions[i].name));
            return Some(region_at(p, i));
        }
        note(ex, || format!("geo map: country {cc} -> {}, which is not usable", p.regions[i].name));
    }
    if let Some(ct) = loc.continent
        && let Some(i) = p.regions.iter().position(|r| r.geo.continents.contains(&ct))
    {
        if usable(i) {
            note(ex, || format!("geo map: continent {} -> {}", ct.as_str(), p.regions[i].name));
            return Some(region_at(p, i));
        }
        note(ex, || format!("geo map: continent {} -> {}, which is not usable", ct.as_str(), p.regions[i].name));
    }
    None
}

#[allow(clippy::too_many_arguments)]
fn finish<'p, H, R>(
    p: &'p Pool,
    pool_id: PoolId,
    pick: Pick,
    family: Family,
    client: &Client,
    health: &H,
    rng: &mut R,
    mut scope: Scope,
    ttl: u32,
    failed_open: bool,
    mut explain: Option<&mut Explain>,
    out: &mut AddrList,
) -> Decided<Picked<'p>>
where
    H: HealthView + ?Sized,
    R: Random + ?Sized,
{
    let region = match pick {
        Pick::One(r) => Some(r),
        Pick::All => None,
    };
    if let (Some(r), Some(e)) = (region, explain.as_deref_mut()) {
        e.mark_chosen(r);
    }
    let mut d = Decided { answer: Picked::NoData, ttl, ecs_scope: 0, pool: pool_id, region, failed_open };
    match region.and_then(|r| p.region(r)).map(|r| &r.content) {
        Some(Content::Cname { target, .. }) => d.answer = Picked::Cname(target),
        _ => {
            // The chosen region alone, or (policy all) every usable one.
            let picked: &[Region] = match region {
                Some(id) => p.regions.get(id.index()..=id.index()).unwrap_or(&[]),
                None => &p.regions,
            };
            let candidates = || {
                picked
                    .iter()
                    .filter(move |r| region.is_some() || region_usable(r, health))
                    .flat_map(|r| match &r.content {
                        Content::Members(ms) => ms.as_slice(),
                        Content::Cname { .. } => &[],
                    })
                    .filter(move |m| family.matches(&m.address) && health.is_up(m.id))
            };
            let k = p.max_answers.get().clamp(1, MAX_ANSWERS);
            match region {
                Some(first) if p.regions_per_answer + p.extra_random > 1 => {
                    let (list, order_scope) = answering_regions(p, first, client, health, rng);
                    match order_scope {
                        Some((_, ScopeWhy::GeoNetwork)) => scope.need_geo(client),
                        Some((prefix, why)) => scope.need(prefix, why),
                        None => {}
                    }
                    let share = (k / (usize::from(p.regions_per_answer) + usize::from(p.extra_random))).max(1);
                    for &i in list.as_slice() {
                        let left = k.saturating_sub(out.len()).min(share);
                        let of_region = || {
                            p.regions
                                .get(usize::from(i))
                                .into_iter()
                                .flat_map(|r| match &r.content {
                                    Content::Members(ms) => ms.as_slice(),
                                    Content::Cname { .. } => &[],
                                })
                                .filter(move |m| family.matches(&m.address) && health.is_up(m.id))
                        };
                        if left > 0 {
                            pick_members(p, left, client, rng, &mut scope, of_region, out);
                        }
                    }
                    if let Some(e) = explain.as_deref_mut() {
                        let names: Vec<&str> = list
                            .as_slice()
                            .iter()
                            .filter_map(|&i| p.regions.get(usize::from(i)))
                            .map(|r| r.name.as_str())
                            .collect();
                        let (best, random) = names.split_at(names.len() - list.random);
                        e.note(&format!(
                            "regions_per_answer {}, extra_random {}: answering from {} (best first){}, up to {share} record(s) each",
                            p.regions_per_answer,
                            p.extra_random,
                            best.join(", "),
                            if random.is_empty() { String::new() } else { format!(" + random {}", random.join(", ")) }
                        ));
                    }
                }
                _ => pick_members(p, k, client, rng, &mut scope, candidates, out),
            }
            if !out.is_empty() {
                d.answer = Picked::Addresses;
            }
        }
    }
    d.ecs_scope = scope.capped(client.subnet.prefix_len());
    if let Some(e) = explain {
        e.finish(&d, out.as_slice(), scope.why, scope.value);
    }
    d
}

fn pick_members<'a, R, I>(
    p: &Pool,
    k: usize,
    client: &Client,
    rng: &mut R,
    scope: &mut Scope,
    candidates: impl Fn() -> I,
    out: &mut AddrList,
) where
    R: Random + ?Sized,
    I: Iterator<Item = &'a Member>,
{
    let k = k.clamp(1, MAX_ANSWERS);
    match p.member_policy {
        MemberPolicy::All => {
            for m in candidates().take(k) {
                out.push(m.address);
            }
        }
        MemberPolicy::Weighted => {
            // Weighted random sampling without replacement: k draws, each over what is left.
            let mut chosen = [MemberId(u32::MAX); MAX_ANSWERS];
            let mut n = 0;
            while n < k {
                let taken = &chosen[..n];
                let total: u64 =
                    candidates().filter(|m| !taken.contains(&m.id)).map(|m| u64::from(m.weight.get())).sum();
                if total == 0 {
                    break;
                }
                let mut x = below(rng, total);
                let mut pick = None;
                for m in candidates().filter(|m| !taken.contains(&m.id)) {
                    let w = u64::from(m.weight.get());
                    if x < w {
                        pick = Some(m);
                        break;
                    }
                    x -= w;
                }
                let Some(m) = pick else { break };
                chosen[n] = m.id;
                n += 1;
                out.push(m.address);
            }
        }
        MemberPolicy::Sticky => {
            let (key, granularity) = sticky_key(client.subnet);
            // The top k by rendezvous score, kept sorted (descending) in a fixed array.
            let mut top: [(f64, Option<&Member>); MAX_ANSWERS] = [(f64::NEG_INFINITY, None); MAX_ANSWERS];
            let mut n = 0usize;
            let mut count = 0usize;
            for m in candidates() {
                count += 1;
                let s = rendezvous_score(key, m.seed, m.weight.get());
                if n == k && top[k - 1].0 >= s {
                    continue;
                }
                let mut j = n.min(k - 1);
                if n < k {
                    n += 1;
                }
                while j > 0 && top[j - 1].0 < s {
                    top[j] = top[j - 1];
                    j -= 1;
                }
                top[j] = (s, Some(m));
            }
            for (_, m) in top.iter().take(n) {
                if let Some(m) = m {
                    out.push(m.address);
                }
            }
            // When every candidate is returned the set does not depend on the client.
            if count > k {
                scope.need(granularity, ScopeWhy::Sticky);
            }
        }
    }
}
