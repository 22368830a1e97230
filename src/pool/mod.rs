//! The pool model: pooled names, pools, regions and members with their ids, weights, maps,
//! probe and feed definitions, as compiled from the pool files; the [`HealthView`] through
//! which live health and load reach the decision; and the GeoIP ranking cache ([`rank`]).
//!
//! ```text
//! pools.toml ─config::load_pools─► Pools { pools[PoolId].regions[RegionId].content, members[MemberId], fed[LoadSlot] }
//!                                    │ ids are dense indices, handed out once at compile time
//!                                    ▼
//!             steer::decide(&Pools, PoolId, .., &impl HealthView, ..)      health: by MemberId, load: by LoadSlot
//! ```
//!
//! Invariants: see [`model`]. Nothing here does I/O or reads a clock; the rank cache is the
//! only interior mutability, and it is a cache (a lost race costs a recomputation, never a
//! wrong answer).
pub mod geo_class;
pub mod model;
pub mod rank;
mod spec;

pub use model::{
    AllUp, Bias, Capacity, Content, Delegation, FeedState, FileHealth, GeoMap, HealthView, LoadSlot, LoadStatus,
    MAX_ANSWERS, MaxAnswers, Member, MemberId, MemberInfo, MemberPolicy, MemberTarget, Pool, PoolId, Pools, Region,
    RegionFeed, RegionId, RegionLoad, RegionPolicy, Rtt, ShedConfig, Ttl, Watermark, Weight, WhenEmpty,
};
pub use spec::{Decide, FeedKey, FeedKind, FeedSpec, HttpProbe, MetricSel, ProbeKind, ProbeSpec, Thresholds, TlsProbe};
