//! The health service: one probe task per unique (target, probe) key, on the shared
//! [`Registry`], each feeding its key's [`Entry`] (rise/fall state machine).
//!
//! ```text
//! update([&Pools]) ── wanted keys ──► Registry<HealthKey, Entry, ProbeJob>
//! task: sleep_until(next) → timeout(prober.probe()) → entry.record() → next = start + interval − jitter·u
//!                                                       └ on a flip: flips += 1 (the fleet task watches it)
//! view(&Pools) ──► PoolsHealth: member id → Arc<Entry> (or the pool file's static mark)
//! ```
//!
//! Only `tokio::time` is used, so every task follows a paused test clock. Randomness (the
//! jitter) comes from a [`SplitMix64`] seeded from the service seed and the key: runs with the
//! same seed schedule the same way. Each iteration is bounded by the probe's timeout.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::prober::{NetProber, Prober};
use super::registry::{Registry, UpdateReport};
use super::transitions::{Transition, Transitions};
use crate::config::ProbeSource;
use crate::health::{Counters, Counts, Entry, EntryStatus, HealthKey, PoolsHealth, ProbeResult, State, Target};
use crate::pool::{MemberTarget, Pools, ProbeSpec};
use crate::util::rng::{Random, SplitMix64, mix64, seed_of};

/// How the service starts.
#[derive(Clone, Debug, Default)]
pub struct HealthOptions {
    /// Seeds the jitter of every task (mixed with the key).
    pub seed: u64,
    /// The addresses probes are sent from (`[server] probe_source`).
    pub source: ProbeSource,
}

/// Totals and per-key counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthMetrics {
    pub total: Counts,
    pub per_key: Vec<(HealthKey, Counts)>,
}

/// What one probe task runs: the probe against the target.
#[derive(Debug, PartialEq)]
pub struct ProbeJob {
    pub target: MemberTarget,
    pub spec: Arc<ProbeSpec>,
}

struct Inner<P: Prober> {
    prober: Arc<P>,
    registry: Registry<HealthKey, Entry, ProbeJob>,
    sinks: Sinks,
    seed: u64,
}

/// Where every probe task reports, shared by all of them.
#[derive(Clone)]
struct Sinks {
    totals: Arc<Counters>,
    /// Every state change, logged once and kept for the status page.
    transitions: Arc<Transitions>,
    /// Bumped on every state flip of any key.
    flips: Arc<tokio::sync::watch::Sender<u64>>,
}

/// The health subsystem. Cheap to clone; the probe tasks stop when the last clone is dropped
/// (or at [`HealthService::shutdown`]).
pub struct HealthService<P: Prober = NetProber> {
    inner: Arc<Inner<P>>,
}

impl<P: Prober> Clone for HealthService<P> {
    fn clone(&self) -> Self {
        HealthService { inner: Arc::clone(&self.inner) }
    }
}

/// Errors of the health service (never from the DNS path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthError {
    /// `start` was called outside a Tokio runtime.
    NoRuntime,
}

impl std::fmt::Display for HealthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HealthError::NoRuntime => f.write_str("the health service must start inside a Tokio runtime"),
        }
    }
}

impl std::error::Error for HealthError {}

impl HealthService<NetProber> {
    /// Starts the subsystem with real network probes. Must be called inside a Tokio runtime;
    /// no probe runs until [`update`](Self::update).
    pub fn start(opts: HealthOptions) -> Result<HealthService<NetProber>, HealthError> {
        HealthService::with_prober(NetProber::with_source(opts.source), opts)
    }
}

impl<P: Prober> HealthService<P> {
    /// Like [`HealthService::start`] with another prober (tests: fakes on paused time).
    pub fn with_prober(prober: P, opts: HealthOptions) -> Result<HealthService<P>, HealthError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| HealthError::NoRuntime)?;
        Ok(HealthService {
            inner: Arc::new(Inner {
                prober: Arc::new(prober),
                registry: Registry::new(runtime),
                sinks: Sinks {
                    totals: Arc::new(Counters::default()),
                    transitions: Arc::new(Transitions::default()),
                    flips: Arc::new(tokio::sync::watch::channel(0).0),
                },
                seed: opts.seed,
            }),
        })
    }

    /// Reconciles the probe tasks with the probes that these pools (every zone's, together)
    /// reference. Call it on start and on every reload, before [`view`](Self::view).
    pub fn update(&self, all: &[&Pools]) -> UpdateReport {
        let mut conflicts = Vec::new();
        let mut wanted: HashMap<HealthKey, Arc<ProbeJob>> = HashMap::new();
        for pools in all {
            for (_, m) in pools.members() {
                let Some(spec) = &m.probe else { continue };
                if m.down_in_file {
                    continue; // statically down: a probe could not change the answer
                }
                let key = HealthKey { target: Target::of(&m.target), probe: spec.name.clone() };
                match wanted.get(&key) {
                    Some(job) if *job.spec != **spec => {
                        let c = format!("{key}: defined differently in two pool files; using the first");
                        if !conflicts.contains(&c) {
                            conflicts.push(c);
                        }
                    }
                    Some(_) => {}
                    None => {
                        wanted.insert(key, Arc::new(ProbeJob { target: m.target.clone(), spec: Arc::clone(spec) }));
                    }
                }
            }
        }
        let inner = &self.inner;
        let mut report = inner.registry.reconcile(
            wanted,
            |a, b| a == b,
            |key, job, entry| {
                let rng = SplitMix64::new(mix64(inner.seed ^ seed_of(key.to_string().as_bytes())));
                probe_loop(
                    Arc::clone(job),
                    Arc::clone(entry),
                    Arc::clone(&inner.prober),
                    inner.sinks.clone(),
                    inner.registry.round(),
                    rng,
                )
            },
        );
        report.conflicts = conflicts;
        report
    }

    /// The health view of one snapshot's pools: build it once when the snapshot is made and
    /// keep it beside the `Pools`. Members without a probe answer their `down` mark; members
    /// with one answer their key's live state (the pool's `health_assume` while unknown).
    pub fn view(&self, pools: &Pools) -> PoolsHealth {
        let mut b = PoolsHealth::builder(pools.member_count());
        for (_, m) in pools.members() {
            match &m.probe {
                _ if m.down_in_file => b.fixed(false),
                None => b.fixed(true),
                Some(spec) => {
                    let key = HealthKey { target: Target::of(&m.target), probe: spec.name.clone() };
                    let entry = self
                        .inner
                        .registry
                        .entry(&key, || Arc::new(ProbeJob { target: m.target.clone(), spec: Arc::clone(spec) }));
                    let assume_up = pools.pool(m.pool).is_none_or(|p| p.health_assume_up);
                    b.live(key, entry, assume_up);
                }
            }
        }
        b.build()
    }

    /// Waits until every probed key has a first result, at most `max`. True when all did.
    pub async fn wait_first_round(&self, max: Duration) -> bool {
        self.inner.registry.wait_until(max, |e| e.state() != State::Unknown).await
    }

    /// Every probed key with its state, sorted.
    pub fn status(&self) -> Vec<(HealthKey, EntryStatus)> {
        let now = Instant::now();
        let mut v = Vec::new();
        self.inner.registry.for_each(|k, e| v.push((k.clone(), e.status(now))));
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Every configured key with its entry and probe (the fleet task reads them).
    pub fn running(&self) -> Vec<(HealthKey, Arc<Entry>, Arc<ProbeJob>)> {
        self.inner.registry.running()
    }

    /// A counter bumped on every state flip of any key (the first result included).
    pub fn flips(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.sinks.flips.subscribe()
    }

    /// Probes run, failures and transitions: totals since start and per configured key.
    pub fn metrics(&self) -> HealthMetrics {
        let mut per_key = Vec::new();
        self.inner.registry.for_each(|k, e| per_key.push((k.clone(), e.counters.get())));
        per_key.sort_by(|a, b| a.0.cmp(&b.0));
        HealthMetrics { total: self.inner.sinks.totals.get(), per_key }
    }

    /// The most recent health transitions, newest first.
    pub fn recent_transitions(&self) -> Vec<Transition> {
        self.inner.sinks.transitions.recent()
    }

    /// How many probe tasks run.
    pub fn tasks(&self) -> usize {
        self.inner.registry.tasks()
    }

    /// Stops every probe task (views keep answering their last state).
    pub fn shutdown(&self) {
        self.inner.registry.shutdown();
    }
}

/// A duration as people write it in the config: "1500 ms".
pub fn millis(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// A uniformly random part of `d` (0 ≤ result < d).
fn part_of(rng: &mut SplitMix64, d: Duration) -> Duration {
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    d.mul_f64(u)
}

async fn probe_loop<P: Prober>(
    job: Arc<ProbeJob>,
    entry: Arc<Entry>,
    prober: Arc<P>,
    sinks: Sinks,
    round: Arc<tokio::sync::Notify>,
    mut rng: SplitMix64,
) {
    let spec = &job.spec;
    prober.prepare(&job.target, spec);
    let key = HealthKey { target: Target::of(&job.target), probe: spec.name.clone() };
    // The first probe comes within one jitter of the start, spreading a cold start's burst.
    let mut next = Instant::now() + part_of(&mut rng, spec.jitter);
    loop {
        tokio::time::sleep_until(next).await;
        let started = Instant::now();
        let r = match tokio::time::timeout(spec.timeout, prober.probe(&job.target, spec)).await {
            Ok(r) => r,
            Err(_) => ProbeResult::new(false, format!("timeout after {}", millis(spec.timeout)), spec.timeout),
        };
        // The transition log is about this node's own probes (a fleet may publish another state).
        let (before, reason) = (entry.local_state(), r.detail.clone());
        if let Some(after) = entry.record(r, spec.thresholds, Instant::now(), &sinks.totals) {
            sinks.transitions.record(&key, before, after, &reason, entry.streak(), spec.thresholds);
            sinks.flips.send_modify(|n| *n += 1);
        }
        round.notify_waiters();
        let gap = spec.interval.saturating_sub(part_of(&mut rng, spec.jitter));
        next = (started + gap).max(Instant::now());
    }
}
