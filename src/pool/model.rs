//! The compiled, validated pool model: what `config` builds from a pool file and `decide` trusts.
//!
//! Invariants (established once by `config::load_pools`, relied on by the hot path):
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

use super::spec::{FeedSpec, ProbeSpec};
use crate::geo::{Continent, Coordinates, Country};

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
    /// The usable region with the lowest round-trip time as this node's probes measure it
    /// (an EWMA per member), kept with hysteresis; without enough samples, as `Nearest`.
    Latency {
        default_region: RegionId,
        /// Probe RTT samples a member needs before its estimate counts.
        min_samples: u32,
        /// A challenger must be this fraction faster than the current region to take over.
        hysteresis: f64,
        /// RTTs posted by clients (per /24 or /56) decide first, where they have enough samples.
        client_samples: bool,
    },
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
    /// With `delegation`, the target lies below a zone cut of this zone (`delegate = ...`): the
    /// answer carries the referral too, and the region's health is its glue addresses' health.
    Cname {
        id: MemberId,
        target: Name,
        delegation: Option<Box<Delegation>>,
    },
}

/// A `delegate` hand-off: the CNAME target is at or below a zone cut of the zone file.
/// `load_pools` fills `offset` and `probe`; `Zone::attach_pools` checks the cut and fills
/// `cut` and `glue` (one health-checked member per glue address).
#[derive(Clone, Debug, Default)]
pub struct Delegation {
    /// The delegation point (the NS owner) the target is at or below.
    pub cut: Option<Name>,
    /// The in-zone name servers' addresses, each a health-checked member of the region.
    pub glue: Vec<(MemberId, IpAddr)>,
    /// The region's `probe`, run against every glue address.
    pub(crate) probe: Option<Arc<ProbeSpec>>,
    /// Byte offset of the `delegate` value in the pool file (for errors found at attach time).
    pub(crate) offset: usize,
}

/// `capacity`: how much load (in the feed's units: sessions, connections, a metric's value)
/// a region takes. Finite and > 0.
#[derive(Copy, Clone, Debug, PartialEq, PartialOrd)]
pub struct Capacity(f64);

impl Capacity {
    pub fn new(c: f64) -> Option<Capacity> {
        (c.is_finite() && c > 0.0).then_some(Capacity(c))
    }
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A watermark: a fraction of capacity in (0, 1].
#[derive(Copy, Clone, Debug, PartialEq, PartialOrd)]
pub struct Watermark(f64);

impl Watermark {
    pub const HIGH_DEFAULT: Watermark = Watermark(0.8);
    pub const LOW_DEFAULT: Watermark = Watermark(0.6);
    pub fn new(w: f64) -> Option<Watermark> {
        (w.is_finite() && w > 0.0 && w <= 1.0).then_some(Watermark(w))
    }
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A region's capacity and watermarks: what the shed controller and the spill weights use.
/// Invariant (checked at load): 0 < low < high ≤ 1.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ShedConfig {
    pub capacity: Capacity,
    pub high: Watermark,
    pub low: Watermark,
}

impl ShedConfig {
    /// The load at the high watermark: H·C.
    pub fn high_load(&self) -> f64 {
        self.high.get() * self.capacity.get()
    }
    /// Room left below the high watermark: H·C − L (negative when above it).
    pub fn spare(&self, load: f64) -> f64 {
        self.high_load() - load
    }
}

/// Index of a region that has a feed, dense from 0 within one [`Pools`]: a load view is a
/// plain vector of [`Pools::fed_count`] slots.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoadSlot(pub(crate) u32);

impl LoadSlot {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A region's `feedback = "NAME"` (and its capacity, when it sheds load).
#[derive(Clone, Debug)]
pub struct RegionFeed {
    pub slot: LoadSlot,
    pub feed: Arc<FeedSpec>,
    /// `capacity` (and watermarks): without it the feed only reports backends.
    pub shed: Option<ShedConfig>,
}

/// What the query path reads about a fed region (index + a few atomic loads; no clock).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct RegionLoad {
    /// The last sample is younger than the feed's `stale_after` (decided by the poller).
    pub fresh: bool,
    /// The last sample's load (0 when never read).
    pub load: f64,
    /// Backends up in the last sample, when the feed reports them.
    pub backends_up: Option<u32>,
    /// The shed fraction s in [0, 1], kept by the poller's controller.
    pub shed: f64,
}

/// The freshness of a feed, for status pages.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FeedState {
    Fresh,
    Stale,
    /// Never read successfully.
    Missing,
}

impl FeedState {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedState::Fresh => "fresh",
            FeedState::Stale => "stale",
            FeedState::Missing => "missing",
        }
    }
}

/// A fed region's state with the details `explain` and `/status` show (allocates; never on
/// the query path).
#[derive(Clone, Debug, PartialEq)]
pub struct LoadStatus {
    pub state: FeedState,
    pub load: f64,
    pub backends_up: Option<u32>,
    pub shed: f64,
    /// Why the shed fraction is what it is ("load above high watermark", ...).
    pub reason: String,
    /// Time since the last good sample.
    pub age: Option<std::time::Duration>,
    /// The last error, when the last poll failed.
    pub error: Option<String>,
}

/// A round-trip time estimate (`region_policy = "latency"`): milliseconds, and the probe
/// samples it is made of.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Rtt {
    pub ms: f64,
    pub samples: u64,
}

/// Explicit client-to-region map entries of one region (gdnsd geoip maps, Route 53 geolocation).
#[derive(Clone, Debug, Default)]
pub struct GeoMap {
    pub countries: Vec<Country>,
    pub continents: Vec<Continent>,
    pub networks: Vec<IpNet>,
    /// Autonomous system numbers: ranked after networks, before countries.
    pub asns: Vec<u32>,
}

impl GeoMap {
    pub fn is_empty(&self) -> bool {
        self.countries.is_empty() && self.continents.is_empty() && self.networks.is_empty() && self.asns.is_empty()
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
    /// `feedback`: load and backends reported by the region's own L4/L7 tier.
    pub feedback: Option<RegionFeed>,
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
    /// `regions_per_answer`: the answer holds members of this many of the best usable
    /// regions (by the region policy), 1..=8; default 1.
    pub regions_per_answer: u8,
    /// `extra_random`: and of this many more usable regions drawn at random, 0..=8.
    pub extra_random: u8,
    /// In file order; never empty.
    pub regions: Vec<Region>,
    pub(crate) has_geo_maps: bool,
    pub(crate) has_place_maps: bool,
    pub(crate) has_asn_maps: bool,
    /// `transfer = { static = [...] }`: what a secondary gets for the pool's names, as ordinary
    /// A/AAAA records with the pool's ttl (empty: `"omit"`, nothing; a secondary cannot steer).
    pub transfer_static: Vec<std::net::IpAddr>,
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
    /// [load slot] → the fed region.
    pub(crate) fed: Vec<(PoolId, RegionId)>,
    /// The GeoIP decision cache of these pools (nearest regions ranked per client location).
    pub(crate) ranks: super::rank::RankCache,
    /// Every `[probe.NAME]` of the pool file, with the line that defines it.
    pub(crate) probe_defs: Vec<(Arc<ProbeSpec>, usize)>,
    /// Byte offset of each `cname` region's value in the pool file, by its member id, and
    /// whether it was written relative (no trailing dot).
    pub(crate) cname_offsets: Vec<(MemberId, usize, bool)>,
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
    /// How many regions have a feed; load slots are `0..fed_count()`.
    pub fn fed_count(&self) -> usize {
        self.fed.len()
    }
    /// Every fed region with its slot, pool and feed.
    pub fn fed(&self) -> impl Iterator<Item = (LoadSlot, PoolId, &Region, &RegionFeed)> {
        self.fed.iter().enumerate().filter_map(|(i, (p, r))| {
            let region = self.pool(*p)?.region(*r)?;
            Some((LoadSlot(i as u32), *p, region, region.feedback.as_ref()?))
        })
    }
    /// Every `[probe.NAME]` the pool file defines, with the line that defines it.
    pub fn probe_defs(&self) -> &[(Arc<ProbeSpec>, usize)] {
        &self.probe_defs
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
    /// The load view of a fed region (see [`RegionLoad`]); `None`: no feedback data (static
    /// views, fail-open), which neither makes the region unusable nor sheds anything.
    /// On the query path: must not allocate, lock or read a clock.
    #[inline]
    fn region_load(&self, _slot: LoadSlot) -> Option<RegionLoad> {
        None
    }
    /// The fed region's state with details, for `explain` (may allocate).
    fn load_status(&self, _slot: LoadSlot) -> Option<LoadStatus> {
        None
    }
    /// The RTT estimate of a probed member (`region_policy = "latency"`); `None`: not
    /// probed, or no successful probe yet. On the query path: atomics only.
    #[inline]
    fn member_rtt(&self, _member: MemberId) -> Option<Rtt> {
        None
    }
    /// The region a latency pool currently prefers, kept with hysteresis by the latency
    /// tracker (`steer::next_leader`); `None`: none yet (the decision then takes the lowest
    /// estimate). On the query path: one atomic load.
    #[inline]
    fn latency_leader(&self, _pool: PoolId) -> Option<RegionId> {
        None
    }
    /// The RTT clients in the /24 (/56) of `client` measured to `region` (posted to the admin
    /// API); `None` without such samples. On the query path: one lock-free load, one lookup.
    #[inline]
    fn client_rtt(&self, _pool: PoolId, _region: RegionId, _client: ipnet::IpNet) -> Option<Rtt> {
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
