//! The serving state: the compiled config plus the live views of it, published together.
//!
//! ```text
//! config::Snapshot (immutable) ─┐
//! services' views (probes, load) ┼─► Serving { config, live: Live } ─ArcSwap::store─► Shared<Serving>
//! override table (names) ───────┘        ▲ built once per (re)load         │ one lock-free load per batch
//!                                        │ counters carried by name        ▼
//!                                                          front end: AnswerSource::health(zone) → LiveHealth
//! ```
//!
//! A reload compiles a new snapshot, builds its [`Live`] beside it (views from the services,
//! counters carried over by name), lets the override table write its codes, and swaps the
//! pair in atomically, so the query path never sees a snapshot with another snapshot's ids.
//!
//! The front end answers from any [`AnswerSource`]: a [`Serving`] state (the server), or a bare
//! [`Snapshot`] that answers with the pool file's own `down` marks (tools, benches, fuzzing).
mod audit;
mod changes;
mod compile;
mod live;
mod overrides;
mod signals;
mod version;

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Snapshot;
use crate::pool::{FileHealth, HealthView, Pools};
pub use audit::{AUDIT_KEPT, AuditEntry, AuditLog};
pub use changes::{ChangeKey, ChangeRecord, ChangeSet, ChangeValue, MemberSpec, Setting, edit_of};
pub use compile::{Compiled, check_change, compile_changes};
pub use live::{CounterKey, Live, LiveHealth, NO_REGION, Steered, SteeredAnswer, member_name};
pub use overrides::{
    ChangeMeta, Committed, Override, OverrideEntry, OverrideNote, OverrideTable, OverrideTarget, Overrides, Stale,
};
pub use signals::ZoneSignals;
pub use version::ConfigVersion;

/// A value published by atomic swaps: readers load it without a lock.
pub type Shared<T> = Arc<ArcSwap<T>>;

/// A compiled config and its live part, published together.
pub struct Serving {
    pub config: Snapshot,
    pub live: Live,
}

/// What answers are made from: the compiled config, and the health of its members.
pub trait AnswerSource: Send + Sync + 'static {
    /// The health view of one zone's pools.
    type Health<'a>: HealthView
    where
        Self: 'a;
    fn config(&self) -> &Snapshot;
    /// The health of zone `zone`, whose pools are `pools`.
    fn health<'a>(&'a self, zone: usize, pools: &'a Pools) -> Self::Health<'a>;
    /// Where a NOTIFY for a secondary zone wakes its refresh task (none: NOTIFY is not served).
    fn zone_signals(&self) -> Option<&ZoneSignals> {
        None
    }
}

impl AnswerSource for Snapshot {
    type Health<'a> = FileHealth<'a>;
    fn config(&self) -> &Snapshot {
        self
    }
    fn health<'a>(&'a self, _zone: usize, pools: &'a Pools) -> FileHealth<'a> {
        pools.file_health()
    }
}

impl AnswerSource for Serving {
    type Health<'a> = LiveHealth<'a>;
    fn config(&self) -> &Snapshot {
        &self.config
    }
    #[inline]
    fn health<'a>(&'a self, zone: usize, pools: &'a Pools) -> LiveHealth<'a> {
        self.live.health(zone, pools)
    }
    fn zone_signals(&self) -> Option<&ZoneSignals> {
        self.live.signals.as_deref()
    }
}
