//! Operating gslbd live: reloads (SIGHUP, `POST /reload`, file watcher), the admin HTTP API,
//! Prometheus metrics, admin overrides and the sampled query log.
//!
//! ```text
//!   SIGHUP ─┐
//!   POST /reload ─┼─► Reloader ──► config::load ──► LiveState::build ──► OverrideTable::publish ──► ArcSwap<Snapshot>
//!   file watcher ─┘                     (old snapshot keeps serving on error)                           │
//!                                                                                                       ▼
//!   UDP/TCP loop: respond_with(.., &mut Outcome) ──► observe(): Metrics::record (fixed-index atomics) + sampled log
//!   admin API: /status /explain /metrics read the snapshot; drain/force go through the Overrides trait
//! ```
//!
//! Invariants: the query path never locks, looks up, hashes or allocates for metrics (the
//! sampled log allocates only for the queries it logs); a snapshot is published only with its
//! live state filled; overrides and answer counters are keyed by name and survive reloads.
mod http;
mod live;
mod metrics;
mod overrides;
mod reload;
mod watch;

use std::net::IpAddr;

pub use http::{AdminState, ApiError, BODY_LIMIT, resolve, router, serve_admin};
pub use live::{ConfigVersion, LiveState, NO_REGION};
pub use metrics::{Metrics, MetricsSource, ProbeMetrics};
pub use overrides::{Override, OverrideEntry, OverrideTable, OverrideTarget, Overrides};
pub use reload::{
    ErrorReport, ReloadReport, Reloader, Trigger, attach_feedback, attach_probes, config_files, digest, rfc3339,
};
pub use watch::{DEBOUNCE, spawn_watcher};

use crate::config::Snapshot;
use crate::dns::Transport;
use crate::dns::outcome::Outcome;
use crate::steer::Random;

/// After each query: count it, and log it if it falls in the `[log] query_sample` fraction.
#[inline]
pub fn observe<R: Random + ?Sized>(
    snap: &Snapshot,
    outcome: &Outcome,
    transport: Transport,
    packet: &[u8],
    client: IpAddr,
    rng: &mut R,
) {
    snap.live.metrics.record(snap, outcome, transport);
    let rate = snap.ops.log.query_sample;
    if rate > 0.0 && outcome.replied {
        // 53 random bits as a fraction in [0, 1).
        let x = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        if x < rate {
            log_query(snap, outcome, transport, packet, client);
        }
    }
}

/// One sampled query at info: client (ECS subnet or address), qname, qtype, rcode, region.
#[cold]
fn log_query(snap: &Snapshot, outcome: &Outcome, transport: Transport, packet: &[u8], client: IpAddr) {
    use crate::dns::wire::{Parsed, parse};
    let (qname, ecs) = match parse(packet) {
        Parsed::Query(q) => (q.question.name.to_string(), q.edns.and_then(|e| e.ecs).map(|c| c.net())),
        Parsed::Error { question, .. } => (question.map(|q| q.name.to_string()).unwrap_or_default(), None),
        Parsed::Drop => return,
    };
    let client = ecs.map(|n| n.to_string()).unwrap_or_else(|| client.to_string());
    let qtype = outcome.qtype.map(|t| hickory_proto::rr::RecordType::from(t).to_string()).unwrap_or_default();
    let region = outcome
        .steered
        .and_then(|s| {
            let pool = snap.zones.zones().get(s.zone)?.pools.pool(s.pool)?;
            Some(s.region.and_then(|r| pool.region(r)).map(|r| r.name.clone()).unwrap_or_else(|| NO_REGION.to_string()))
        })
        .unwrap_or_default();
    let transport = match transport {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    };
    tracing::info!(target: "gslbd::query", %client, %qname, %qtype, rcode = metrics::rcode_name(outcome.rcode), %region, transport, "query");
}
