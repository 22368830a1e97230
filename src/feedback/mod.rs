//! Load feedback from the regional L4/L7 tier, as pure logic: the parsers of what each region's
//! load balancers report (HAProxy stats CSV, nginx stub_status, a Prometheus metric, a JSON
//! number), the shed controller that turns load into a shed fraction, and the live entries and
//! per-snapshot view they publish into. The pollers that fetch the feeds run in
//! `services::feedback`.
//!
//! ```text
//! [feedback.NAME] ─► FeedSpec (kind, url, interval, timeout, stale_after)   compiled by config
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
pub mod shed;
pub mod view;

pub use parse::{Sample, sample, selector};
pub use shed::{ShedReason, step};
pub use view::{FeedEntry, PoolsLoad, ShedState};
