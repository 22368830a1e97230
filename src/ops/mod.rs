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
//!   admin API: /status /explain /metrics read the serving state; drain/force and /changes go to one
//!              change store (changes.rs): the state file through the OverrideTable, or a fleet's etcd
//! ```
//!
//! Invariants: the query path never locks, looks up, hashes or allocates for metrics (the
//! sampled log allocates only for the queries it logs); a snapshot is published only with its
//! live part built; overrides and answer counters are keyed by name and survive reloads.
mod body_cap;
mod changes;
mod ctl;
mod dnssec_view;
mod fleet;
mod http;
pub mod keycmd;
mod metrics;
mod observer;
mod page;
mod reload;
mod resign;
mod status;
mod tcp_metrics;
mod watch;

pub use body_cap::BODY_LIMIT;
pub use changes::Changes;
pub use ctl::{CtlArgs, CtlCommand, run as run_ctl};
pub use dnssec_view::DnssecJson;
pub use fleet::{FleetMetrics, follow_changes};
pub use http::{AdminState, ApiError, resolve, router, serve_admin};
pub use metrics::{Metrics, MetricsSource, ProbeMetrics};
pub use observer::QueryObserver;
pub use reload::{ErrorReport, ReloadReport, Reloader, Services, Trigger, config_files, digest, digest_files};
pub use resign::run_resigner;
pub use status::{StatusJson, collect as collect_status};
pub use tcp_metrics::TcpMetrics;
pub use watch::spawn_watcher;
