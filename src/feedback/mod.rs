//! Load feedback from the regional L4/L7 tier: what each region's load balancers report
//! (HAProxy stats CSV, nginx stub_status, a Prometheus metric, a JSON number), the shed
//! controller that turns load into a shed fraction, and the pollers that keep both live.
//!
//! ```text
//! [feedback.NAME] ─► FeedSpec (kind, url, interval, timeout, stale_after)   compiled by steer::load
//!                        │ one task per distinct FeedKey (kind + url + fields), reconciled on reload
//!                        ▼
//!   poll: GET url (timeout, body ≤ 1 MiB) ─► parse::sample(kind, body) ─► Sample { load, backends_up }
//!                        │ fresh sample                            │ error / too old
//!                        ▼                                         ▼
//!   FeedEntry { load, backends, fresh: atomics }    fresh = false after stale_after (s is held)
//!       └─ ShedState per (capacity, watermarks): s ← shed::step(s, load, cfg)  (AtomicU64 bits)
//!                        ▲ Arc, survives reloads (keyed by FeedKey)
//! FeedbackService::view(&Pools) ─► PoolsLoad: load slot → (entry, shed) ─► HealthView::region_load
//! ```
//!
//! Invariants: parsers are pure and total (any input: a sample or an error, never a panic);
//! the DNS path only reads atomics through [`PoolsLoad`] (index, loads; no lock, no clock);
//! freshness is decided by the poller task, which wakes at least once per interval; a stale
//! or missing feed holds the shed fraction where it was and never makes a region unusable.
pub mod parse;
pub mod service;
pub mod shed;

use std::fmt;
use std::time::Duration;

pub use parse::{MetricSel, Sample, sample};
pub use service::{FeedEntry, FeedbackService, PoolsLoad, ShedState, UpdateReport};
pub use shed::{ShedReason, step};

/// What one feed reports and how it is read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FeedKind {
    /// HAProxy's stats page as CSV (`;csv`): load = the FRONTEND row's `scur`; backends up =
    /// the BACKEND row's `act`.
    Haproxy { frontend: String, backend: Option<String> },
    /// nginx `stub_status`: load = "Active connections". Reports no backends.
    Nginx,
    /// Prometheus text exposition: load = the sum of the samples matching `metric`.
    Prometheus { metric: MetricSel, backends: Option<MetricSel> },
    /// A JSON document: load = the number at the dot path `path`.
    Json { path: String, backends_path: Option<String> },
}

impl FeedKind {
    pub fn name(&self) -> &'static str {
        match self {
            FeedKind::Haproxy { .. } => "haproxy",
            FeedKind::Nginx => "nginx",
            FeedKind::Prometheus { .. } => "prometheus",
            FeedKind::Json { .. } => "json",
        }
    }
}

/// What feed state is keyed by: the source, not the `[feedback.NAME]` name, so two pool files
/// naming the same source share one poller and one state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FeedKey {
    pub kind: FeedKind,
    pub url: String,
}

impl fmt::Display for FeedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.name(), self.url)
    }
}

/// One `[feedback.NAME]`, validated.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FeedSpec {
    /// The `[feedback.NAME]` name (shown as `source` on status pages).
    pub name: String,
    pub key: FeedKey,
    /// Time between the starts of two polls; 100 ms..=60 s.
    pub interval: Duration,
    /// Bound on one whole poll (connect, request, body); ≤ interval.
    pub timeout: Duration,
    /// A sample older than this (or none at all) is stale; ≥ interval.
    pub stale_after: Duration,
}

/// The most bytes of a feed's body read; a longer body is an error (not a truncated sample).
pub const MAX_BODY: usize = 1024 * 1024;
