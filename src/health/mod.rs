//! Health probes: TCP and HTTP(S) checks of pool members, a rise/fall state machine per
//! (target, probe), admin overrides kept in a state file, and the view `steer::decide` reads.
//!
//! ```text
//! pool files ─► Pools (members carry Arc<ProbeSpec>) ─► HealthService::update(&[&Pools])
//!                                                          │ one task per unique (target, probe)
//!   prober (tcp / reqwest+rustls-ring) ◄── probe_loop ◄────┘ interval − jitter·u, timeout
//!                                              │ result
//!                                              ▼
//!                         Entry { Machine (rise/fall), override, last result } ── AtomicU8
//!                                              ▲ Arc, survives reloads (keyed by target+probe)
//! HealthService::view(&Pools) ─► PoolsHealth: member id → entry ─► decide(.., &view, ..)
//! ```
//!
//! Getting started (what the server's main does):
//! ```ignore
//! let health = HealthService::start(HealthOptions { state_file: Some(dir.join("gslbd.state")), seed })?;
//! health.update(&[&pools]);                       // start probe tasks
//! health.wait_first_round(startup_wait).await;     // bounded: unknown answers `health_assume`
//! let view = health.view(&pools);                  // once per snapshot, kept beside it
//! decide(&pools, pool, family, &client, &view, &mut rng, None);
//! // on reload: health.update(&[&new_pools]); let view = health.view(&new_pools);
//! ```
//!
//! Invariants: the DNS path reads one `AtomicU8` per member asked about (index, load; no
//! hashing, no locks); a key's state lives as long as some configuration names it; probe
//! tasks use `tokio::time` only and take randomness from a seeded generator.
mod overrides;
pub mod probe;
pub mod scheduler;
pub mod state;
pub mod view;

use std::fmt;
use std::path::PathBuf;

pub use probe::{HttpProbe, NetProber, ProbeKind, ProbeResult, ProbeSpec, Prober, TlsProbe, install_crypto_provider};
pub use scheduler::{HealthMetrics, HealthOptions, HealthService, UpdateReport};
pub use state::{Machine, Override, State, Thresholds};
pub use view::{Counts, Entry, EntryStatus, HealthKey, PoolsHealth, Target};

/// Errors of the health subsystem (never from the DNS path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthError {
    /// `start` was called outside a Tokio runtime.
    NoRuntime,
    /// The state file could not be read, parsed or written.
    StateFile(PathBuf, String),
}

impl fmt::Display for HealthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthError::NoRuntime => f.write_str("the health service must start inside a Tokio runtime"),
            HealthError::StateFile(p, m) => write!(f, "{}: {m}", p.display()),
        }
    }
}

impl std::error::Error for HealthError {}
