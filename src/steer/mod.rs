//! Steering for pooled names: the pool files (`zones/<zone>.pools.toml`) and the pure decision.
//!
//! ```text
//! pools.toml ──load_pools──► Pools (validated; ids for pools, regions, members)
//!                                 │
//! query (name, A/AAAA, client subnet + GeoHit) ──► decide(pools, pool, family, client,
//!                                                        health, rng, explain) ──► Decision
//!                                                  { answer, ttl, ecs_scope, region, .. }
//! ```
//!
//! Getting started:
//! ```ignore
//! let pools = load_pools(path, &text, &origin)?;              // every error with file:line
//! let pool = pools.pool_for(&qname_lower)?;                    // is the name pooled?
//! let d = decide(&pools, pool, Family::V4, &client, &pools.file_health(), &mut rng, None);
//! ```
//!
//! Invariants: a loaded [`Pools`] is valid by construction (see [`model`]); `decide` does no I/O,
//! reads no clock, takes its randomness as a parameter, never panics, and allocates only when an
//! [`Explain`] is requested. Health is a parameter ([`HealthView`]): the pool file's
//! `down = true` marks are the static default ([`Pools::file_health`]), live probes later
//! publish their own view keyed by the same [`MemberId`]s.
pub mod model;

mod decide;
mod explain;
mod load;
pub mod rank;
pub(crate) mod rng;

pub use decide::{AddrList, Answer, Client, Decision, Family, ScopeWhy, decide};
pub use explain::{Explain, PoolTrace, RegionTrace};
pub use load::load_pools;
pub use model::{
    AllUp, Bias, Capacity, Content, Delegation, FeedState, FileHealth, GeoMap, HealthView, LoadSlot, LoadStatus,
    MAX_ANSWERS, MaxAnswers, Member, MemberId, MemberInfo, MemberPolicy, MemberTarget, Pool, PoolId, Pools, Region,
    RegionFeed, RegionId, RegionLoad, RegionPolicy, ShedConfig, Ttl, Watermark, Weight, WhenEmpty,
};
pub use rng::{Random, STICKY_V4_PREFIX, STICKY_V6_PREFIX, SplitMix64};
