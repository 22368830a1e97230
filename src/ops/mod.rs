//! Operating gslbd live: reloads (SIGHUP, `POST /reload`, file watcher), the admin HTTP API,
//! Prometheus metrics and the sampled query log.
//!
//! ```text
//!   SIGHUP ─┐
//!   POST /reload ─┼─► Reloader ──► config::load ──► Live::build (views, counters) ──► OverrideTable::publish ──► Shared<Serving>
//!   file watcher ─┘                     (old state keeps serving on error)
//!
//!   UDP/TCP: respond_with(.., &mut Outcome) ──► QueryObserver: Metrics::record (fixed-index atomics)
//!                                                  + Live::count_steered + sampled query log
//!   admin API: /status /explain /metrics read the serving state; drain/force go through the Overrides trait
//! ```
//!
//! Invariants: the query path never locks, looks up, hashes or allocates for metrics (the
//! sampled log allocates only for the queries it logs); a snapshot is published only with its
//! live part built; overrides and answer counters are keyed by name and survive reloads.
mod dnssec_view;
mod http;
pub mod keycmd;
mod metrics;
mod observer;
mod reload;
mod resign;
mod watch;

pub use http::{AdminState, ApiError, BODY_LIMIT, resolve, router, serve_admin};
pub use metrics::{Metrics, MetricsSource, ProbeMetrics};
pub use observer::QueryObserver;
pub use reload::{ErrorReport, ReloadReport, Reloader, Services, Trigger, config_files, digest};
pub use resign::run_resigner;
pub use watch::{DEBOUNCE, spawn_watcher};
