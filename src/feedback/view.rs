//! The live state of each feed and the per-snapshot [`PoolsLoad`] view the query path reads.
//!
//! ```text
//! poller ─record(sample)─► FeedEntry { load, backends, fresh: atomics } ─► ShedState per (capacity, watermarks)
//!                               ▲ Arc, keyed by FeedKey: survives reloads        s ← shed::step(s, load, cfg)
//! PoolsLoad.slots[load slot] ───┘  region_load = index + a few atomic loads (no lock, no clock)
//! ```
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::parse::Sample;
use super::shed::{ShedReason, step};
use crate::pool::{FeedState, LoadSlot, LoadStatus, RegionLoad, ShedConfig};
use crate::util::lock;

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
    /// Keeps only the shed states of these configurations (a reload that changed a region's
    /// capacity or watermarks starts that configuration's fraction from 0).
    pub fn keep_sheds(&self, keep: &[ShedConfig]) {
        let keep: Vec<ShedBits> = keep.iter().map(bits).collect();
        lock(&self.sheds).retain(|b, _| keep.contains(b));
    }

    /// The shed state of one (capacity, watermarks) of this feed, created on first use.
    pub fn shed_for(&self, cfg: &ShedConfig) -> Arc<ShedState> {
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

/// A load slot's feed entry and, when the region sheds, its shed state.
pub type SlotParts = (Arc<FeedEntry>, Option<Arc<ShedState>>);

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
    /// A view from its slots, in load-slot order: each fed region's entry and, when it sheds,
    /// its shed state (`None`: a slot without a feed entry, which reads as no data).
    pub fn new(slots: Vec<Option<SlotParts>>) -> PoolsLoad {
        PoolsLoad { slots: slots.into_iter().map(|s| s.map(|(entry, shed)| Slot { entry, shed })).collect() }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{Capacity, Watermark};
    use std::time::Duration;

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
