//! The compiled, validated pool model: what `load_pools` produces and `decide` trusts.
//!
//! Invariants (established once by [`super::load_pools`], relied on by the hot path):
//! - every pool has at least one region; every region has either a non-empty member list or a
//!   CNAME target, never both; member addresses are unique within a region;
//! - `Failover` carries a non-empty order of distinct, existing regions;
//! - `default_region` of a nearest pool exists;
//! - fallback pools exist and the fallback graph has no cycle;
//! - `pool_all` pools have no CNAME regions and no geo maps;
//! - every id ([`PoolId`], [`RegionId`], [`MemberId`]) handed out indexes into these vectors.
//!
//! Even so, lookups go through `get` so that a foreign id can never make the server panic.
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::rr::{LowerName, Name};
use ipnet::IpNet;

use crate::geo::{Continent, Coordinates, Country};
use crate::health::ProbeSpec;

/// Seconds a pooled answer may be cached. 1..=86400; the default is 30.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ttl(u32);

impl Ttl {
    pub const MIN: u32 = 1;
    pub const MAX: u32 = 86_400;
    pub const DEFAULT: Ttl = Ttl(30);
    pub fn new(secs: i64) -> Option<Ttl> {
        (Self::MIN as i64..=Self::MAX as i64).contains(&secs).then_some(Ttl(secs as u32))
    }
    pub fn get(self) -> u32 {
        self.0
    }
}

/// A relative share for weighted and sticky selection. 1..=1_000_000 (drain with `down = true`,
/// not with weight 0, so that draining is visible as a health state).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Weight(u32);

impl Weight {
    pub const MAX: u32 = 1_000_000;
    pub const ONE: Weight = Weight(1);
    pub fn new(w: i64) -> Option<Weight> {
        (1..=Self::MAX as i64).contains(&w).then_some(Weight(w as u32))
    }
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Route 53 geoproximity-style bias, -99..=99. The effective distance used by `nearest` is
/// `distance_km * (1 - bias / 100)`: +50 halves the distance (the region attracts clients from
/// twice as far), -50 makes it count one and a half times.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct Bias(i8);

impl Bias {
    pub fn new(b: i64) -> Option<Bias> {
        (-99..=99).contains(&b).then_some(Bias(b as i8))
    }
    pub fn get(self) -> i8 {
        self.0
    }
    /// The factor a great-circle distance is multiplied by: in [0.01, 1.99].
    pub fn factor(self) -> f64 {
        1.0 - f64::from(self.0) / 100.0
    }
}

/// The most address records one answer may carry (a 512-byte reply holds about 29 A records).
pub const MAX_ANSWERS: usize = 32;

/// `max_answers`: 1..=[`MAX_ANSWERS`]; the default ("all of the chosen members") is the cap.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MaxAnswers(u8);

impl MaxAnswers {
    pub const ALL: MaxAnswers = MaxAnswers(MAX_ANSWERS as u8);
    pub fn new(n: i64) -> Option<MaxAnswers> {
        (1..=MAX_ANSWERS as i64).contains(&n).then_some(MaxAnswers(n as u8))
    }
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

/// Index of a pool in [`Pools`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolId(pub(crate) u32);

/// Index of a region within its pool (file order).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionId(pub(crate) u32);

/// A health-checked thing: one member address, or one region's CNAME target. Global across all
/// pools of a [`Pools`], dense from 0, so a health view can be a plain bit vector of
/// [`Pools::member_count`] entries.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId(pub(crate) u32);

impl MemberId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}
impl RegionId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}
impl PoolId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// How a pool picks the region (or regions) that answer.
#[derive(Clone, Debug, PartialEq)]
pub enum RegionPolicy {
    /// Smallest biased great-circle distance from the client (gdnsd geoip auto mode, Route 53
    /// geoproximity). Clients without coordinates go to `default_region`.
    Nearest { default_region: RegionId },
    /// The first usable region in this order (gdnsd metafo, Route 53 failover).
    Failover { order: Vec<RegionId> },
    /// Random by region weight, per query (Route 53 weighted).
    Weighted,
    /// Weighted rendezvous hash of the client subnet: a client keeps its region.
    Sticky,
    /// Members of every usable region together.
    All,
}

/// How members are picked inside the chosen region(s).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MemberPolicy {
    /// Random by weight without replacement, up to max_answers, per query.
    Weighted,
    /// Weighted rendezvous hash of the client subnet, the top max_answers.
    Sticky,
    /// Every usable member, in file order, up to max_answers.
    All,
}

/// What a pool does when no region is usable.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WhenEmpty {
    /// Decide as if every member were up (gdnsd's behaviour): better a possibly-dead address than none.
    FailOpen,
    /// Answer NODATA (no records, the SOA for negative caching).
    NoData,
    /// Decide with this other pool instead.
    Fallback(PoolId),
}

/// One member address.
#[derive(Clone, Debug)]
pub struct Member {
    pub id: MemberId,
    pub address: IpAddr,
    pub weight: Weight,
    /// Hash identity for rendezvous hashing, derived from the address so that editing the file
    /// (adding, removing, reordering members) does not move clients of unchanged members.
    pub(crate) seed: u64,
}

/// What a region answers with.
#[derive(Clone, Debug)]
pub enum Content {
    Members(Vec<Member>),
    /// Hand-off to a regional load balancer: a CNAME to this name, health-checked as one member.
    Cname { id: MemberId, target: Name },
}

/// Explicit client-to-region map entries of one region (gdnsd geoip maps, Route 53 geolocation).
#[derive(Clone, Debug, Default)]
pub struct GeoMap {
    pub countries: Vec<Country>,
    pub continents: Vec<Continent>,
    pub networks: Vec<IpNet>,
}

impl GeoMap {
    pub fn is_empty(&self) -> bool {
        self.countries.is_empty() && self.continents.is_empty() && self.networks.is_empty()
    }
}

#[derive(Clone, Debug)]
pub struct Region {
    pub name: String,
    pub location: Option<Coordinates>,
    pub bias: Bias,
    pub weight: Weight,
    pub geo: GeoMap,
    pub content: Content,
    pub(crate) seed: u64,
    pub(crate) serves_v4: bool,
    pub(crate) serves_v6: bool,
    /// Up members needed for the region to be usable: ⌈min_usable_fraction × members⌉
    /// (0 for a cname region, whose one target decides).
    pub(crate) min_up: u32,
}

#[derive(Clone, Debug)]
pub struct Pool {
    pub name: String,
    pub ttl: Ttl,
    pub max_answers: MaxAnswers,
    pub region_policy: RegionPolicy,
    pub member_policy: MemberPolicy,
    pub when_empty: WhenEmpty,
    /// `degraded_ttl`: the TTL while any member of the pool that the file does not mark down
    /// is not up, so that clients come back soon after a recovery. ≤ `ttl`.
    pub degraded_ttl: Option<Ttl>,
    /// `min_usable_fraction`: 0.0..=1.0; a region with a smaller fraction of up members is
    /// not usable (the policy's next choice takes its clients).
    pub min_usable_fraction: f64,
    /// `health_assume`: what a probed member counts as before its first probe result.
    pub health_assume_up: bool,
    /// In file order; never empty.
    pub regions: Vec<Region>,
    pub(crate) has_geo_maps: bool,
    pub(crate) has_place_maps: bool,
}

impl Pool {
    pub fn region(&self, id: RegionId) -> Option<&Region> {
        self.regions.get(id.index())
    }
    pub fn region_id(&self, name: &str) -> Option<RegionId> {
        self.regions.iter().position(|r| r.name == name).map(|i| RegionId(i as u32))
    }
}

/// Where a [`MemberId`] lives, for health probes and status pages.
#[derive(Clone, Debug)]
pub struct MemberInfo {
    pub pool: PoolId,
    pub region: RegionId,
    pub target: MemberTarget,
    /// `down = true` in the pool file: down whatever probes say (a static drain).
    pub down_in_file: bool,
    /// The `[probe.NAME]` this member (or its region) names, if any.
    pub probe: Option<Arc<ProbeSpec>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberTarget {
    Address(IpAddr),
    Cname(Name),
}

impl fmt::Display for MemberTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberTarget::Address(a) => write!(f, "{a}"),
            MemberTarget::Cname(n) => write!(f, "CNAME {n}"),
        }
    }
}

/// All pools of one zone, with the pooled owner names that point at them.
#[derive(Clone, Debug, Default)]
pub struct Pools {
    pub(crate) pools: Vec<Pool>,
    /// Sorted by name for binary search.
    pub(crate) names: Vec<(LowerName, PoolId)>,
    pub(crate) members: Vec<MemberInfo>,
    /// The GeoIP decision cache of these pools (nearest regions ranked per client location).
    pub(crate) ranks: super::rank::RankCache,
}

impl Pools {
    /// The pool that answers for this owner name, if it is pooled.
    pub fn pool_for(&self, name: &LowerName) -> Option<PoolId> {
        self.names.binary_search_by(|(n, _)| n.cmp(name)).ok().and_then(|i| self.names.get(i)).map(|(_, p)| *p)
    }
    /// Every pooled owner name (fully qualified, lower case) with its pool.
    pub fn names(&self) -> impl Iterator<Item = (&LowerName, PoolId)> {
        self.names.iter().map(|(n, p)| (n, *p))
    }
    pub fn pool(&self, id: PoolId) -> Option<&Pool> {
        self.pools.get(id.index())
    }
    pub fn pool_id(&self, name: &str) -> Option<PoolId> {
        self.pools.iter().position(|p| p.name == name).map(|i| PoolId(i as u32))
    }
    pub fn pools(&self) -> impl Iterator<Item = (PoolId, &Pool)> {
        self.pools.iter().enumerate().map(|(i, p)| (PoolId(i as u32), p))
    }
    /// How many health-checked things there are; member ids are `0..member_count()`.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }
    pub fn member(&self, id: MemberId) -> Option<&MemberInfo> {
        self.members.get(id.index())
    }
    pub fn members(&self) -> impl Iterator<Item = (MemberId, &MemberInfo)> {
        self.members.iter().enumerate().map(|(i, m)| (MemberId(i as u32), m))
    }
    /// The health view the pool file itself describes: up unless `down = true`.
    pub fn file_health(&self) -> FileHealth<'_> {
        FileHealth(self)
    }
}

/// Is a member up? Implemented by the static view of the pool file ([`FileHealth`]) now and by
/// the probe subsystem's published view later. Unknown ids must answer something; `decide` only
/// asks about ids of the `Pools` it was given.
pub trait HealthView {
    fn is_up(&self, member: MemberId) -> bool;
    /// A short human description of the member's health for `explain` (state, last probe
    /// result, time since the last change). Views without details answer `None`.
    fn describe(&self, _member: MemberId) -> Option<String> {
        None
    }
}

/// The `down = true` marks of the pool file.
#[derive(Copy, Clone, Debug)]
pub struct FileHealth<'a>(&'a Pools);

impl HealthView for FileHealth<'_> {
    fn is_up(&self, member: MemberId) -> bool {
        self.0.members.get(member.index()).is_some_and(|m| !m.down_in_file)
    }
}

/// Every member up: what fail-open decides with.
#[derive(Copy, Clone, Debug, Default)]
pub struct AllUp;

impl HealthView for AllUp {
    fn is_up(&self, _: MemberId) -> bool {
        true
    }
}

/// Any `Fn(MemberId) -> bool` is a health view (handy in tests and for composed views).
impl<F: Fn(MemberId) -> bool> HealthView for F {
    fn is_up(&self, member: MemberId) -> bool {
        self(member)
    }
}

/// A bit-per-member view, e.g. a snapshot the probe subsystem publishes.
impl HealthView for [bool] {
    fn is_up(&self, member: MemberId) -> bool {
        self.get(member.index()).copied().unwrap_or(false)
    }
}
