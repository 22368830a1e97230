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
pub mod client_rtt;
pub mod rtt;
pub mod state;
pub mod view;
pub mod vote;

use std::time::Duration;

pub use rtt::{Rtt, RttEwma};
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
    /// The round-trip time this probe measured, for `region_policy = "latency"`: the TCP
    /// connect time, or an HTTP(S) probe's time to the response head (first byte). `None`
    /// for a failed probe.
    pub rtt: Option<Duration>,
}

impl ProbeResult {
    /// A result whose RTT is its whole duration when it succeeded.
    pub fn new(ok: bool, detail: impl Into<String>, took: Duration) -> ProbeResult {
        ProbeResult { ok, detail: detail.into(), took, rtt: ok.then_some(took) }
    }
    /// The same result with the RTT measured separately (an HTTP probe's first byte).
    pub fn with_rtt(mut self, rtt: Option<Duration>) -> ProbeResult {
        self.rtt = if self.ok { rtt } else { None };
        self
    }
}
