//! Steering for pooled names: the pure decision.
//!
//! ```text
//! query (name, A/AAAA, client subnet + GeoHit) ──► decide(pools, pool, family, client,
//!                                                        health, rng, explain) ──► Decision
//!                                                  { answer, ttl, ecs_scope, region, .. }
//! ```
//!
//! Getting started:
//! ```ignore
//! let pools = gslbd::config::load_pools(path, &text, &origin)?;  // every error with file:line
//! let pool = pools.pool_for(&qname_lower)?;                       // is the name pooled?
//! let d = decide(&pools, pool, Family::V4, &client, &pools.file_health(), &mut rng, None);
//! ```
//!
//! Invariants: `decide` does no I/O, reads no clock, takes its randomness as a parameter, never
//! panics, and allocates only when an [`Explain`] is requested. Health is a parameter
//! ([`HealthView`](crate::pool::HealthView)): the pool file's `down = true` marks are the static
//! default ([`Pools::file_health`](crate::pool::Pools::file_health)); the live view (probes,
//! overrides, load) is built beside each serving snapshot and keyed by the same member ids.
mod decide;
mod degraded;
mod explain;
pub mod hash;
pub mod latency;
mod rows;
mod scope;
mod shed;
mod topk;

pub use decide::{
    AddrList, Answer, Client, Decided, Decision, Family, Picked, ScopeWhy, decide, decide_into, region_usable,
};
pub use explain::{Explain, PoolTrace, RegionTrace};
pub use hash::{STICKY_V4_PREFIX, STICKY_V6_PREFIX};
pub use latency::{next_leader, region_rtt};
