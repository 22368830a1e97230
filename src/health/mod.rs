//! Health, as pure logic: the rise/fall state machine of one probed thing ([`state`]), the
//! shared entry each (target, probe) publishes into, and the per-snapshot [`PoolsHealth`]
//! view the decision reads ([`view`]). The probers that feed it run in `services::health`.
//!
//! ```text
//! prober result ─► Entry::record ─► Machine::observe (rise/fall) ─► AtomicU8 state
//!                                       ▲ Arc<Entry>, keyed by (target, probe): survives reloads
//! PoolsHealth.slots[member id] ─────────┘   is_up = index + one atomic load (no hashing, no lock)
//! ```
//!
//! Invariants: the DNS path reads one `AtomicU8` per member asked about; nothing here does
//! I/O; time comes in as `tokio::time::Instant` values from the caller.
pub mod state;
pub mod view;
pub mod vote;

use std::time::Duration;

pub use state::{Machine, State, Thresholds};
pub use view::{Counters, Counts, Entry, EntryStatus, HealthKey, PoolsHealth, PoolsHealthBuilder, Target};
pub use vote::{Decision, FleetView, NodeVote, Reach, decide};

/// What one probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    pub ok: bool,
    /// Short, for status pages: "connected", "HTTP 200", "timeout after 1s", "refused".
    pub detail: String,
    pub took: Duration,
}

impl ProbeResult {
    pub fn new(ok: bool, detail: impl Into<String>, took: Duration) -> ProbeResult {
        ProbeResult { ok, detail: detail.into(), took }
    }
}
