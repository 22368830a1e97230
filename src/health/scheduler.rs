//! Probe tasks: one Tokio task per unique (target, probe) key, reconciled against the loaded
//! pools on every (re)load, publishing into the shared [`Entry`] of its key.
//!
//! ```text
//! update([&Pools]) ── wanted keys ──► registry: HashMap<HealthKey, Running { entry, spec, task }>
//!                                       kept key, same spec: task and state untouched
//!                                       kept key, new spec:  task restarted, state kept
//!                                       new key:             entry (unknown) + task
//!                                       gone key:            task aborted, entry dropped
//! task: sleep_until(next) → timeout(prober.probe()) → entry.record() → next = start + interval − jitter·u
//! ```
//!
//! Only `tokio::time` is used, so every task follows a paused test clock. Randomness (the
//! jitter) comes from a [`SplitMix64`] seeded from the service seed and the key: runs with the
//! same seed schedule the same way. A task runs until its key leaves the configuration or the
//! service is dropped (both abort it); nothing else ends it, and each iteration is bounded by
//! the probe's timeout.
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::HealthError;
use super::overrides;
use super::probe::{NetProber, ProbeResult, ProbeSpec, Prober};
use super::state::{Override, State};
use super::view::{Counters, Counts, Entry, EntryStatus, HealthKey, PoolsHealth, Target};
use crate::steer::rng::{mix64, seed_of};
use crate::steer::{MemberTarget, Pools, Random, SplitMix64};

/// How the service starts.
#[derive(Clone, Debug, Default)]
pub struct HealthOptions {
    /// Where admin overrides are kept (`gslbd.state` beside gslbd.toml, by convention).
    /// `None`: overrides live in memory only.
    pub state_file: Option<PathBuf>,
    /// Seeds the jitter of every task (mixed with the key).
    pub seed: u64,
}

/// What one `update` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateReport {
    pub started: usize,
    pub kept: usize,
    /// Kept keys whose probe definition changed: task restarted, state kept.
    pub restarted: usize,
    pub stopped: usize,
    /// The same (target, probe name) with two different definitions (two zones that define
    /// a probe of the same name differently): the first one is used.
    pub conflicts: Vec<String>,
}

/// Totals and per-key counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthMetrics {
    pub total: Counts,
    pub per_key: Vec<(HealthKey, Counts)>,
}

struct Running {
    entry: Arc<Entry>,
    spec: Arc<ProbeSpec>,
    target: MemberTarget,
    task: Option<JoinHandle<()>>,
}

struct Inner<P: Prober> {
    prober: Arc<P>,
    runtime: tokio::runtime::Handle,
    registry: Mutex<HashMap<HealthKey, Running>>,
    overrides: Mutex<BTreeMap<HealthKey, Override>>,
    state_file: Option<PathBuf>,
    totals: Arc<Counters>,
    /// Notified after every recorded probe (for `wait_first_round`).
    round: Arc<Notify>,
    seed: u64,
}

impl<P: Prober> Drop for Inner<P> {
    fn drop(&mut self) {
        let reg = match self.registry.get_mut() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        for r in reg.values_mut() {
            if let Some(t) = r.task.take() {
                t.abort();
            }
        }
    }
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

impl HealthService<NetProber> {
    /// Starts the subsystem with real network probes: loads the state file (overrides). Must
    /// be called inside a Tokio runtime; no probe runs until [`update`](Self::update).
    pub fn start(opts: HealthOptions) -> Result<HealthService<NetProber>, HealthError> {
        HealthService::with_prober(NetProber::new(), opts)
    }
}

impl<P: Prober> HealthService<P> {
    /// Like [`HealthService::start`] with another prober (tests: fakes on paused time).
    pub fn with_prober(prober: P, opts: HealthOptions) -> Result<HealthService<P>, HealthError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| HealthError::NoRuntime)?;
        let loaded = match &opts.state_file {
            Some(p) => overrides::load(p)?,
            None => BTreeMap::new(),
        };
        Ok(HealthService {
            inner: Arc::new(Inner {
                prober: Arc::new(prober),
                runtime,
                registry: Mutex::new(HashMap::new()),
                overrides: Mutex::new(loaded),
                state_file: opts.state_file,
                totals: Arc::new(Counters::default()),
                round: Arc::new(Notify::new()),
                seed: opts.seed,
            }),
        })
    }

    /// Reconciles the probe tasks with the probes that these pools (every zone's, together)
    /// reference. Call it on start and on every reload, before [`view`](Self::view).
    pub fn update(&self, all: &[&Pools]) -> UpdateReport {
        let mut report = UpdateReport::default();
        let mut wanted: HashMap<HealthKey, (MemberTarget, Arc<ProbeSpec>)> = HashMap::new();
        for pools in all {
            for (_, m) in pools.members() {
                let Some(spec) = &m.probe else { continue };
                if m.down_in_file {
                    continue; // statically down: a probe could not change the answer
                }
                let key = HealthKey { target: Target::of(&m.target), probe: spec.name.clone() };
                match wanted.get(&key) {
                    Some((_, s)) if **s != **spec => {
                        let c = format!("{key}: defined differently in two pool files; using the first");
                        if !report.conflicts.contains(&c) {
                            report.conflicts.push(c);
                        }
                    }
                    Some(_) => {}
                    None => {
                        wanted.insert(key, (m.target.clone(), Arc::clone(spec)));
                    }
                }
            }
        }
        let overrides = self.overrides_map();
        let mut reg = lock(&self.inner.registry);
        let gone: Vec<HealthKey> = reg.keys().filter(|k| !wanted.contains_key(*k)).cloned().collect();
        for k in gone {
            if let Some(t) = reg.remove(&k).and_then(|mut r| r.task.take()) {
                t.abort();
                report.stopped += 1;
            }
        }
        for (key, (target, spec)) in wanted {
            match reg.get_mut(&key) {
                Some(r) if r.task.is_some() && *r.spec == *spec => report.kept += 1,
                Some(r) => {
                    if let Some(t) = r.task.take() {
                        t.abort();
                        report.restarted += 1;
                    } else {
                        report.started += 1;
                    }
                    r.spec = Arc::clone(&spec);
                    r.target = target;
                    r.task = Some(self.spawn(&key, &r.target, &r.spec, &r.entry));
                }
                None => {
                    let entry = Arc::new(Entry::new());
                    if let Some(o) = overrides.get(&key) {
                        entry.set_override(*o);
                    }
                    let task = Some(self.spawn(&key, &target, &spec, &entry));
                    reg.insert(key, Running { entry, spec, target, task });
                    report.started += 1;
                }
            }
        }
        report
    }

    fn spawn(
        &self,
        key: &HealthKey,
        target: &MemberTarget,
        spec: &Arc<ProbeSpec>,
        entry: &Arc<Entry>,
    ) -> JoinHandle<()> {
        let rng = SplitMix64::new(mix64(self.inner.seed ^ seed_of(key.to_string().as_bytes())));
        let fut = probe_loop(
            target.clone(),
            Arc::clone(spec),
            Arc::clone(entry),
            Arc::clone(&self.inner.prober),
            Arc::clone(&self.inner.totals),
            Arc::clone(&self.inner.round),
            rng,
        );
        self.inner.runtime.spawn(fut)
    }

    /// The health view of one snapshot's pools: build it once when the snapshot is made and
    /// keep it beside the `Pools`. Members without a probe answer their `down` mark; members
    /// with one answer their key's live state (the pool's `health_assume` while unknown).
    pub fn view(&self, pools: &Pools) -> PoolsHealth {
        let mut reg = lock(&self.inner.registry);
        let overrides = self.overrides_map();
        let mut b = PoolsHealth::builder(pools.member_count());
        for (_, m) in pools.members() {
            match &m.probe {
                _ if m.down_in_file => b.fixed(false),
                None => b.fixed(true),
                Some(spec) => {
                    let key = HealthKey { target: Target::of(&m.target), probe: spec.name.clone() };
                    // Not registered (view before update): a task-less entry, filled by the
                    // next update that wants the key.
                    let r = reg.entry(key.clone()).or_insert_with(|| {
                        let entry = Arc::new(Entry::new());
                        if let Some(o) = overrides.get(&key) {
                            entry.set_override(*o);
                        }
                        Running { entry, spec: Arc::clone(spec), target: m.target.clone(), task: None }
                    });
                    let assume_up = pools.pool(m.pool).is_none_or(|p| p.health_assume_up);
                    b.live(key, Arc::clone(&r.entry), assume_up);
                }
            }
        }
        b.build()
    }

    /// Waits until every probed key has a first result, at most `max`. True when all did.
    pub async fn wait_first_round(&self, max: Duration) -> bool {
        wait_until(&self.inner.round, max, || self.all_known()).await
    }

    fn all_known(&self) -> bool {
        lock(&self.inner.registry).values().filter(|r| r.task.is_some()).all(|r| r.entry.state() != State::Unknown)
    }

    fn overrides_map(&self) -> BTreeMap<HealthKey, Override> {
        lock(&self.inner.overrides).clone()
    }

    /// Sets (or with `Override::None` clears) an admin override, applies it at once and
    /// writes the state file. On a write error the override still applies in memory.
    pub fn set_override(&self, key: &HealthKey, o: Override) -> Result<(), HealthError> {
        let rows = {
            let mut ov = lock(&self.inner.overrides);
            if o == Override::None {
                ov.remove(key);
            } else {
                ov.insert(key.clone(), o);
            }
            ov.clone()
        };
        if let Some(r) = lock(&self.inner.registry).get(key) {
            r.entry.set_override(o);
        }
        match &self.inner.state_file {
            Some(p) => overrides::save(p, &rows),
            None => Ok(()),
        }
    }

    /// Every override in force (including ones for keys not configured now).
    pub fn overrides(&self) -> Vec<(HealthKey, Override)> {
        self.overrides_map().into_iter().collect()
    }

    /// Every probed key with its state, sorted.
    pub fn status(&self) -> Vec<(HealthKey, EntryStatus)> {
        let now = Instant::now();
        let mut v: Vec<_> = lock(&self.inner.registry).iter().map(|(k, r)| (k.clone(), r.entry.status(now))).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Probes run, failures and transitions: totals since start and per configured key.
    pub fn metrics(&self) -> HealthMetrics {
        let mut per_key: Vec<_> =
            lock(&self.inner.registry).iter().map(|(k, r)| (k.clone(), r.entry.counters.get())).collect();
        per_key.sort_by(|a, b| a.0.cmp(&b.0));
        HealthMetrics { total: self.inner.totals.get(), per_key }
    }

    /// How many probe tasks run.
    pub fn tasks(&self) -> usize {
        lock(&self.inner.registry).values().filter(|r| r.task.is_some()).count()
    }

    /// Stops every probe task (views keep answering their last state).
    pub fn shutdown(&self) {
        for r in lock(&self.inner.registry).values_mut() {
            if let Some(t) = r.task.take() {
                t.abort();
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// A uniformly random part of `d` (0 ≤ result < d).
fn part_of(rng: &mut SplitMix64, d: Duration) -> Duration {
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    d.mul_f64(u)
}

async fn probe_loop<P: Prober>(
    target: MemberTarget,
    spec: Arc<ProbeSpec>,
    entry: Arc<Entry>,
    prober: Arc<P>,
    totals: Arc<Counters>,
    round: Arc<Notify>,
    mut rng: SplitMix64,
) {
    // The first probe comes within one jitter of the start, spreading a cold start's burst.
    let mut next = Instant::now() + part_of(&mut rng, spec.jitter);
    loop {
        tokio::time::sleep_until(next).await;
        let started = Instant::now();
        let r = match tokio::time::timeout(spec.timeout, prober.probe(&target, &spec)).await {
            Ok(r) => r,
            Err(_) => ProbeResult::new(false, format!("timeout after {:?}", spec.timeout), spec.timeout),
        };
        entry.record(r, spec.thresholds, Instant::now(), &totals);
        round.notify_waiters();
        let gap = spec.interval.saturating_sub(part_of(&mut rng, spec.jitter));
        next = (started + gap).max(Instant::now());
    }
}

/// Waits until `done()` holds, re-checking it each time `notify` fires, for at most `max`.
/// True when it held. Shared by the probe and feedback schedulers' first-round waits.
pub async fn wait_until(notify: &Notify, max: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + max;
    // Bounded by the deadline: each pass either returns or waits for a notification.
    loop {
        let notified = notify.notified();
        if done() {
            return true;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return done();
        }
    }
}
