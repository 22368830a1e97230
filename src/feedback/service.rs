//! The pollers and the shared feed state: one Tokio task per distinct [`FeedKey`], publishing
//! into its [`FeedEntry`]; one [`ShedState`] per (feed, capacity, watermarks) beside it; and
//! [`PoolsLoad`], the per-snapshot view the query path reads.
//!
//! ```text
//! update([&Pools]) ── wanted keys ──► registry: HashMap<FeedKey, Running { entry, spec, task }>
//!                                       kept key, same spec: task and state untouched
//!                                       kept key, new timing: task restarted, state kept
//!                                       new key: entry (missing) + task;  gone key: task aborted
//! task: sleep_until(next) → timeout(GET url, body ≤ 1 MiB) → parse → entry.record() → next += interval
//! ```
//!
//! Like the health probes (`health::scheduler`), state is keyed by what is polled, not by
//! snapshot ids, so a reload that keeps a feed keeps its samples and its shed fractions.
//! Only `tokio::time` is used. A task runs until its key leaves the configuration or the
//! service is dropped; each iteration is bounded by the feed's timeout (≤ its interval), so
//! the task notices staleness within one interval even when the server stops answering.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::parse::{Sample, sample};
use super::shed::{ShedReason, step};
use super::{FeedKey, FeedSpec, MAX_BODY};
use crate::steer::{FeedState, LoadSlot, LoadStatus, Pools, RegionLoad, ShedConfig};

/// "No backends reported" in [`FeedEntry`]'s backends word.
const NO_BACKENDS: u64 = u64::MAX;

/// The shed fraction of one (feed, capacity, watermarks), written by the feed's task.
#[derive(Debug)]
pub struct ShedState {
    cfg: ShedConfig,
    /// f64 bits of s.
    s: AtomicU64,
    reason: AtomicU8,
}

impl ShedState {
    fn new(cfg: ShedConfig) -> ShedState {
        ShedState { cfg, s: AtomicU64::new(0f64.to_bits()), reason: AtomicU8::new(ShedReason::NoSample.to_u8()) }
    }
    #[inline]
    pub fn shed(&self) -> f64 {
        f64::from_bits(self.s.load(Ordering::Acquire))
    }
    pub fn reason(&self) -> ShedReason {
        ShedReason::from_u8(self.reason.load(Ordering::Acquire))
    }
    fn observe(&self, load: f64) {
        let (s, why) = step(self.shed(), load, &self.cfg);
        self.s.store(s.to_bits(), Ordering::Release);
        self.reason.store(why.to_u8(), Ordering::Release);
    }
}

/// The (bit-exact) identity of a shed configuration.
type ShedBits = (u64, u64, u64);

fn bits(c: &ShedConfig) -> ShedBits {
    (c.capacity.get().to_bits(), c.high.get().to_bits(), c.low.get().to_bits())
}

#[derive(Debug, Default)]
struct Detail {
    last_ok: Option<Instant>,
    last_error: Option<String>,
    polls: u64,
    failures: u64,
}

/// The shared state of one feed.
#[derive(Debug)]
pub struct FeedEntry {
    /// f64 bits of the last good sample's load.
    load: AtomicU64,
    /// Backends up in the last good sample, or [`NO_BACKENDS`].
    backends: AtomicU64,
    /// The last good sample is younger than `stale_after` (kept by the task).
    fresh: AtomicBool,
    detail: Mutex<Detail>,
    sheds: Mutex<HashMap<ShedBits, Arc<ShedState>>>,
}

impl Default for FeedEntry {
    fn default() -> Self {
        FeedEntry::new()
    }
}

impl FeedEntry {
    pub fn new() -> FeedEntry {
        FeedEntry {
            load: AtomicU64::new(0f64.to_bits()),
            backends: AtomicU64::new(NO_BACKENDS),
            fresh: AtomicBool::new(false),
            detail: Mutex::new(Detail::default()),
            sheds: Mutex::new(HashMap::new()),
        }
    }

    #[inline]
    pub fn fresh(&self) -> bool {
        self.fresh.load(Ordering::Acquire)
    }
    #[inline]
    pub fn load(&self) -> f64 {
        f64::from_bits(self.load.load(Ordering::Acquire))
    }
    #[inline]
    pub fn backends_up(&self) -> Option<u32> {
        match self.backends.load(Ordering::Acquire) {
            NO_BACKENDS => None,
            b => Some(b.min(u64::from(u32::MAX)) as u32),
        }
    }

    /// Feeds one poll's outcome: a good sample updates load, backends and every shed
    /// controller; an error leaves them and marks the feed stale once the last good sample is
    /// older than `stale_after`.
    pub fn record(&self, r: Result<Sample, String>, now: Instant, stale_after: Duration) {
        let mut d = lock(&self.detail);
        d.polls += 1;
        match r {
            Ok(s) => {
                self.load.store(s.load.to_bits(), Ordering::Release);
                self.backends.store(s.backends_up.map_or(NO_BACKENDS, u64::from), Ordering::Release);
                self.fresh.store(true, Ordering::Release);
                d.last_ok = Some(now);
                d.last_error = None;
                for shed in lock(&self.sheds).values() {
                    shed.observe(s.load);
                }
            }
            Err(e) => {
                d.failures += 1;
                d.last_error = Some(e);
                self.check_stale(&d, now, stale_after);
            }
        }
    }

    fn check_stale(&self, d: &Detail, now: Instant, stale_after: Duration) {
        if d.last_ok.is_none_or(|t| now.saturating_duration_since(t) > stale_after) {
            self.fresh.store(false, Ordering::Release);
        }
    }

    /// The controller for `cfg`, created at s = 0 if new.
    fn shed_for(&self, cfg: &ShedConfig) -> Arc<ShedState> {
        Arc::clone(lock(&self.sheds).entry(bits(cfg)).or_insert_with(|| Arc::new(ShedState::new(*cfg))))
    }

    /// Polls run and failed.
    pub fn counts(&self) -> (u64, u64) {
        let d = lock(&self.detail);
        (d.polls, d.failures)
    }

    fn status(&self, shed: Option<&ShedState>, now: Instant) -> LoadStatus {
        let d = lock(&self.detail);
        let state = match (self.fresh(), d.last_ok) {
            (true, _) => FeedState::Fresh,
            (false, Some(_)) => FeedState::Stale,
            (false, None) => FeedState::Missing,
        };
        let reason = match (state, shed) {
            (FeedState::Missing, _) => ShedReason::NoSample.to_string(),
            (FeedState::Stale, _) => ShedReason::Stale.to_string(),
            (FeedState::Fresh, Some(s)) => s.reason().to_string(),
            (FeedState::Fresh, None) => "no capacity configured: not shedding".to_string(),
        };
        LoadStatus {
            state,
            load: self.load(),
            backends_up: self.backends_up(),
            shed: shed.map_or(0.0, ShedState::shed),
            reason,
            age: d.last_ok.map(|t| now.saturating_duration_since(t)),
            error: d.last_error.clone(),
        }
    }
}

/// What answers for one load slot.
#[derive(Clone, Debug)]
struct Slot {
    entry: Arc<FeedEntry>,
    shed: Option<Arc<ShedState>>,
}

/// The load view of one `Pools` snapshot: load slot → its feed's entry and shed state.
#[derive(Clone, Debug, Default)]
pub struct PoolsLoad {
    slots: Box<[Option<Slot>]>,
}

impl PoolsLoad {
    /// What the query path reads: index + a few atomic loads.
    #[inline]
    pub fn region_load(&self, slot: LoadSlot) -> Option<RegionLoad> {
        let s = self.slots.get(slot.index())?.as_ref()?;
        Some(RegionLoad {
            fresh: s.entry.fresh(),
            load: s.entry.load(),
            backends_up: s.entry.backends_up(),
            shed: s.shed.as_ref().map_or(0.0, |x| x.shed()),
        })
    }
    /// With details, for explain and `/status`.
    pub fn load_status(&self, slot: LoadSlot) -> Option<LoadStatus> {
        let s = self.slots.get(slot.index())?.as_ref()?;
        Some(s.entry.status(s.shed.as_deref(), Instant::now()))
    }
}

/// What one `update` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateReport {
    pub started: usize,
    pub kept: usize,
    pub restarted: usize,
    pub stopped: usize,
    /// The same source with two different timings: the first one is used.
    pub conflicts: Vec<String>,
}

struct Running {
    entry: Arc<FeedEntry>,
    spec: Arc<FeedSpec>,
    task: Option<JoinHandle<()>>,
}

struct Inner {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
    registry: Mutex<HashMap<FeedKey, Running>>,
    round: Arc<Notify>,
}

impl Drop for Inner {
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

/// The feedback subsystem. Cheap to clone; the tasks stop when the last clone is dropped (or
/// at [`FeedbackService::shutdown`]).
#[derive(Clone)]
pub struct FeedbackService {
    inner: Arc<Inner>,
}

impl FeedbackService {
    /// Must be called inside a Tokio runtime; nothing is polled until [`update`](Self::update).
    pub fn start() -> Result<FeedbackService, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "the feedback service must start inside a Tokio runtime".to_string())?;
        crate::health::install_crypto_provider();
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("gslbd-feedback/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(FeedbackService {
            inner: Arc::new(Inner {
                client,
                runtime,
                registry: Mutex::new(HashMap::new()),
                round: Arc::new(Notify::new()),
            }),
        })
    }

    /// Reconciles the pollers and shed controllers with the feeds these pools (every zone's)
    /// use. Call on start and on every reload, before [`view`](Self::view).
    pub fn update(&self, all: &[&Pools]) -> UpdateReport {
        let mut report = UpdateReport::default();
        let mut wanted: HashMap<FeedKey, (Arc<FeedSpec>, Vec<ShedConfig>)> = HashMap::new();
        for pools in all {
            for (_, _, _, feed) in pools.fed() {
                let e = wanted.entry(feed.feed.key.clone()).or_insert_with(|| (Arc::clone(&feed.feed), Vec::new()));
                let (first, sheds) = e;
                if (first.interval, first.timeout, first.stale_after)
                    != (feed.feed.interval, feed.feed.timeout, feed.feed.stale_after)
                {
                    let c = format!("{}: polled with different timings in two places; using the first", feed.feed.key);
                    if !report.conflicts.contains(&c) {
                        report.conflicts.push(c);
                    }
                }
                if let Some(cfg) = feed.shed
                    && !sheds.iter().any(|c| bits(c) == bits(&cfg))
                {
                    sheds.push(cfg);
                }
            }
        }
        let mut reg = lock(&self.inner.registry);
        let gone: Vec<FeedKey> = reg.keys().filter(|k| !wanted.contains_key(*k)).cloned().collect();
        for k in gone {
            if let Some(mut r) = reg.remove(&k) {
                if let Some(t) = r.task.take() {
                    t.abort();
                }
                report.stopped += 1;
            }
        }
        for (key, (spec, sheds)) in wanted {
            let r = reg.entry(key).or_insert_with(|| Running {
                entry: Arc::new(FeedEntry::new()),
                spec: Arc::clone(&spec),
                task: None,
            });
            {
                let keep: Vec<ShedBits> = sheds.iter().map(bits).collect();
                lock(&r.entry.sheds).retain(|b, _| keep.contains(b));
            }
            for cfg in &sheds {
                r.entry.shed_for(cfg);
            }
            let same = timing(&r.spec) == timing(&spec);
            match r.task.take() {
                Some(t) if same => {
                    r.task = Some(t);
                    report.kept += 1;
                    continue;
                }
                Some(t) => {
                    t.abort();
                    report.restarted += 1;
                }
                None => report.started += 1,
            }
            r.spec = Arc::clone(&spec);
            let fut = poll_loop(
                Arc::clone(&r.spec),
                Arc::clone(&r.entry),
                self.inner.client.clone(),
                Arc::clone(&self.inner.round),
            );
            r.task = Some(self.inner.runtime.spawn(fut));
        }
        report
    }

    /// The load view of one snapshot's pools (build it once per snapshot).
    pub fn view(&self, pools: &Pools) -> PoolsLoad {
        let mut reg = lock(&self.inner.registry);
        let mut slots = vec![None; pools.fed_count()];
        for (slot, _, _, feed) in pools.fed() {
            let r = reg.entry(feed.feed.key.clone()).or_insert_with(|| Running {
                entry: Arc::new(FeedEntry::new()),
                spec: Arc::clone(&feed.feed),
                task: None,
            });
            let shed = feed.shed.as_ref().map(|c| r.entry.shed_for(c));
            if let Some(s) = slots.get_mut(slot.index()) {
                *s = Some(Slot { entry: Arc::clone(&r.entry), shed });
            }
        }
        PoolsLoad { slots: slots.into_boxed_slice() }
    }

    /// Waits until every polled feed has been polled once, at most `max`. True when all were.
    pub async fn wait_first_round(&self, max: Duration) -> bool {
        crate::health::scheduler::wait_until(&self.inner.round, max, || self.all_polled()).await
    }

    fn all_polled(&self) -> bool {
        lock(&self.inner.registry).values().filter(|r| r.task.is_some()).all(|r| r.entry.counts().0 > 0)
    }

    /// How many pollers run.
    pub fn tasks(&self) -> usize {
        lock(&self.inner.registry).values().filter(|r| r.task.is_some()).count()
    }

    /// Stops every poller (views keep their last state; feeds become stale only by polling, so
    /// they are left as they were).
    pub fn shutdown(&self) {
        for r in lock(&self.inner.registry).values_mut() {
            if let Some(t) = r.task.take() {
                t.abort();
            }
        }
    }
}

fn timing(s: &FeedSpec) -> (Duration, Duration, Duration) {
    (s.interval, s.timeout, s.stale_after)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

async fn poll_loop(spec: Arc<FeedSpec>, entry: Arc<FeedEntry>, client: reqwest::Client, round: Arc<Notify>) {
    let mut next = Instant::now();
    loop {
        tokio::time::sleep_until(next).await;
        let started = Instant::now();
        let r = match tokio::time::timeout(spec.timeout, fetch(&client, &spec.key.url)).await {
            Ok(Ok(body)) => sample(&spec.key.kind, &body),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("timeout after {:?}", spec.timeout)),
        };
        if let Err(e) = &r {
            tracing::debug!(feed = %spec.name, url = %spec.key.url, error = %e, "feedback poll failed");
        }
        entry.record(r, Instant::now(), spec.stale_after);
        round.notify_waiters();
        next = (started + spec.interval).max(Instant::now());
    }
}

/// GET `url`: a 2xx status and a body of at most [`MAX_BODY`] bytes.
async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let mut resp = client.get(url).send().await.map_err(|e| short(&e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    let mut body = Vec::new();
    // Bounded: ends at the end of the body, an error, or past MAX_BODY bytes.
    while let Some(chunk) = resp.chunk().await.map_err(|e| short(&e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("body larger than {} KiB", MAX_BODY / 1024));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn short(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    for _ in 0..8 {
        let Some(s) = src else { break };
        msg = s.to_string();
        src = s.source();
    }
    if e.is_connect() { format!("connect: {msg}") } else { msg }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steer::{Capacity, Watermark};

    fn cfg() -> ShedConfig {
        ShedConfig {
            capacity: Capacity::new(100.0).unwrap(),
            high: Watermark::new(0.8).unwrap(),
            low: Watermark::new(0.6).unwrap(),
        }
    }

    #[test]
    fn entry_goes_stale_and_holds_the_shed_fraction() {
        let e = FeedEntry::new();
        let shed = e.shed_for(&cfg());
        let t0 = Instant::now();
        let stale = Duration::from_secs(2);
        assert!(!e.fresh());
        assert_eq!(e.status(Some(&shed), t0).state, FeedState::Missing);
        e.record(Ok(Sample { load: 100.0, backends_up: Some(2) }), t0, stale);
        assert!(e.fresh());
        assert!((shed.shed() - 0.2).abs() < 1e-12);
        assert_eq!(e.backends_up(), Some(2));
        // A failure within stale_after: still fresh, nothing changes.
        e.record(Err("refused".into()), t0 + Duration::from_secs(1), stale);
        assert!(e.fresh());
        // Past stale_after: stale; s and the last values are held.
        e.record(Err("refused".into()), t0 + Duration::from_secs(3), stale);
        assert!(!e.fresh());
        assert!((shed.shed() - 0.2).abs() < 1e-12, "stale holds s");
        let st = e.status(Some(&shed), t0 + Duration::from_secs(3));
        assert_eq!(st.state, FeedState::Stale);
        assert_eq!(st.reason, "feed stale: holding");
        assert_eq!(st.error.as_deref(), Some("refused"));
        assert_eq!(st.load, 100.0);
        // A good sample again: fresh, and the controller steps from where it was.
        e.record(Ok(Sample { load: 10.0, backends_up: None }), t0 + Duration::from_secs(4), stale);
        assert!(e.fresh());
        assert_eq!(shed.shed(), 0.0);
        assert_eq!(e.backends_up(), None);
        assert_eq!(e.counts(), (4, 2));
    }
}
