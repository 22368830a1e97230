//! Zone transfer services, off the query path: NOTIFY to secondaries when a reload changes a
//! zone's serial ([`notify`]), and the secondary role: SOA checks, AXFR/IXFR in, the copy kept
//! on disk, NOTIFY in ([`secondary`]). Transfers *out* are answered by the TCP front end
//! (`dns::xfr`); their outcomes land in the same `ops::TransferLog` these services write.
//!
//! ```text
//! Reloader publishes a snapshot ─► notify: serial changed? ─► NOTIFY (UDP, retried) ─► secondaries
//!                                                              answers ─► TransferLog (/status, /metrics)
//! secondary zone: timer (SOA refresh/retry) or NOTIFY in ─► SOA query ─► newer? ─► AXFR/IXFR (TCP, TSIG)
//!   ─► checked, written to the zone's file (atomic rename) ─► Reloader::reload ─► served; on error the
//!   old data stays, the error goes to TransferLog and the log
//! ```
pub mod client;
pub mod inbound;
pub mod notify;
pub mod secondary;

use std::sync::Arc;

use tokio::sync::watch;

use crate::ops::{Reloader, TransferLog};
use crate::serving::{Serving, Shared};

/// Starts the transfer services for as long as `stop` is false.
pub fn spawn(
    tasks: &mut tokio::task::JoinSet<()>,
    shared: Shared<Serving>,
    reloader: Arc<Reloader>,
    log: Arc<TransferLog>,
    stop: watch::Receiver<bool>,
) {
    tasks.spawn(notify::run(shared.clone(), log.clone(), stop.clone()));
    if let Some(signals) = reloader.services().signals.clone() {
        tasks.spawn(secondary::run(shared, reloader, log, signals, stop));
    }
}
