//! The running services: probers and load-feed pollers. Each runs one Tokio task per key on a
//! shared keyed-task [`registry`], publishes into the entries of `health` and `feedback`, and
//! builds the per-snapshot views the serving state holds. Nothing here is on the query path.
//!
//! ```text
//! Pools (every zone) ─update─► Registry<key, entry, job> ─tasks─► probe / GET feed ─► entry.record
//!                     ─view──► PoolsHealth / PoolsLoad (Arc<entry> per member id / load slot)
//! ```
pub mod feedback;
pub mod health;
pub mod prober;
pub mod registry;
pub mod rum;
pub mod transitions;

pub use feedback::FeedbackService;
pub use health::{HealthError, HealthMetrics, HealthOptions, HealthService, ProbeJob, millis};
pub use prober::{NetProber, Prober, install_crypto_provider};
pub use registry::{Registry, UpdateReport};
pub use rum::RumStore;
pub use transitions::{Transition, Transitions};
