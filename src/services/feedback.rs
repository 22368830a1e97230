//! The feed pollers: one Tokio task per distinct [`FeedKey`] on the shared [`Registry`],
//! publishing into its [`FeedEntry`] (and the entry's shed states, one per capacity and
//! watermarks), and the per-snapshot [`PoolsLoad`] view built from them.
//!
//! ```text
//! update([&Pools]) ── wanted keys ──► Registry<FeedKey, FeedEntry, FeedSpec>   (restarted when the timing changes)
//! task: sleep_until(next) → timeout(GET url, body ≤ 1 MiB) → parse → entry.record() → next += interval
//! view(&Pools) ──► PoolsLoad: load slot → (entry, shed state)
//! ```
//!
//! Like the probes, state is keyed by what is polled, not by snapshot ids, so a reload that
//! keeps a feed keeps its samples and its shed fractions. Only `tokio::time` is used; each
//! iteration is bounded by the feed's timeout (≤ its interval), so the task notices staleness
//! within one interval even when the server stops answering.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::prober::install_crypto_provider;
use super::registry::{Registry, UpdateReport};
use crate::feedback::{FeedEntry, PoolsLoad, sample};
use crate::pool::{FeedKey, FeedSpec, Pools, ShedConfig};

/// The most bytes of a feed's body read; a longer body is an error (not a truncated sample).
pub const MAX_BODY: usize = 1024 * 1024;

struct Inner {
    client: reqwest::Client,
    registry: Registry<FeedKey, FeedEntry, FeedSpec>,
}

/// The pollers. Cheap to clone; the tasks stop when the last clone is dropped (or at
/// [`FeedbackService::shutdown`]).
#[derive(Clone)]
pub struct FeedbackService {
    inner: Arc<Inner>,
}

impl FeedbackService {
    /// Starts the service (no task runs until [`update`](Self::update)). Must be called inside
    /// a Tokio runtime.
    pub fn start() -> Result<FeedbackService, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "the feedback service must start inside a Tokio runtime".to_string())?;
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("gslbd-feedback/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(FeedbackService { inner: Arc::new(Inner { client, registry: Registry::new(runtime) }) })
    }

    /// Reconciles the pollers with the feeds these pools (every zone's, together) name, and
    /// each feed's shed states with the capacities its regions declare.
    pub fn update(&self, all: &[&Pools]) -> UpdateReport {
        let mut conflicts = Vec::new();
        let mut wanted: HashMap<FeedKey, (Arc<FeedSpec>, Vec<ShedConfig>)> = HashMap::new();
        for pools in all {
            for (_, _, _, feed) in pools.fed() {
                let (first, sheds) =
                    wanted.entry(feed.feed.key.clone()).or_insert_with(|| (Arc::clone(&feed.feed), Vec::new()));
                if timing(first) != timing(&feed.feed) {
                    let c = format!("{}: polled with different timings in two places; using the first", feed.feed.key);
                    if !conflicts.contains(&c) {
                        conflicts.push(c);
                    }
                }
                if let Some(cfg) = feed.shed
                    && !sheds.contains(&cfg)
                {
                    sheds.push(cfg);
                }
            }
        }
        let mut jobs = HashMap::with_capacity(wanted.len());
        let mut shed_sets = Vec::with_capacity(wanted.len());
        for (key, (spec, sheds)) in wanted {
            shed_sets.push((key.clone(), Arc::clone(&spec), sheds));
            jobs.insert(key, spec);
        }
        let inner = &self.inner;
        let mut report = inner.registry.reconcile(
            jobs,
            |a, b| timing(a) == timing(b),
            |_, spec, entry| {
                poll_loop(Arc::clone(spec), Arc::clone(entry), inner.client.clone(), inner.registry.round())
            },
        );
        for (key, spec, sheds) in shed_sets {
            let entry = inner.registry.entry(&key, || spec);
            entry.keep_sheds(&sheds);
            for cfg in &sheds {
                entry.shed_for(cfg);
            }
        }
        report.conflicts = conflicts;
        report
    }

    /// The load view of one snapshot's pools: build it once when the snapshot is made.
    pub fn view(&self, pools: &Pools) -> PoolsLoad {
        let mut slots = vec![None; pools.fed_count()];
        for (slot, _, _, feed) in pools.fed() {
            let entry = self.inner.registry.entry(&feed.feed.key, || Arc::clone(&feed.feed));
            let shed = feed.shed.as_ref().map(|c| entry.shed_for(c));
            if let Some(s) = slots.get_mut(slot.index()) {
                *s = Some((entry, shed));
            }
        }
        PoolsLoad::new(slots)
    }

    /// Waits until every feed has been polled once, at most `max`. True when all were.
    pub async fn wait_first_round(&self, max: Duration) -> bool {
        self.inner.registry.wait_until(max, |e| e.counts().0 > 0).await
    }

    /// How many poller tasks run.
    pub fn tasks(&self) -> usize {
        self.inner.registry.tasks()
    }

    /// Stops every poller (views keep answering their last samples).
    pub fn shutdown(&self) {
        self.inner.registry.shutdown();
    }
}

fn timing(s: &FeedSpec) -> (Duration, Duration, Duration) {
    (s.interval, s.timeout, s.stale_after)
}

async fn poll_loop(spec: Arc<FeedSpec>, entry: Arc<FeedEntry>, client: reqwest::Client, round: Arc<Notify>) {
    let mut next = Instant::now();
    loop {
        tokio::time::sleep_until(next).await;
        let started = Instant::now();
        let r = match tokio::time::timeout(spec.timeout, fetch(&client, &spec.key.url)).await {
            Ok(Ok(body)) => sample(&spec.key.kind, &body),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("timeout after {}", super::health::millis(spec.timeout))),
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
