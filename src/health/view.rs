//! The published health state: one shared [`Entry`] per [`HealthKey`] (target, probe name),
//! written by its probe task, and [`PoolsHealth`], the [`HealthView`] one `Pools` snapshot
//! answers with.
//!
//! ```text
//! probe task ──record()──► Entry { state: AtomicU8, details under a Mutex }
//! fleet task ──set_fleet()─┘    ▲ Arc, shared by every snapshot that has the key
//! PoolsHealth.slots[member id] ─┘   is_up = index + one atomic load (no hashing, no lock)
//! ```
//!
//! The published state is the local rise/fall state, unless a fleet (`cluster`) decides the
//! key together with other nodes: then it is the fleet's decision, written in the background,
//! and the DNS path still reads the same one atomic.
//!
//! Entries are keyed by (address or name, probe name), not by member id, so a reload that
//! keeps a member keeps its entry: the new snapshot's view points at the same `Arc<Entry>`.
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::ProbeResult;
use super::rtt::{Rtt, RttEwma};
use super::state::{Machine, State, Thresholds};
use super::vote::FleetView;
use crate::pool::{HealthView, MemberId, MemberTarget};

/// What health state is keyed by: the probed thing and the probe's name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HealthKey {
    pub target: Target,
    pub probe: String,
}

/// A probed address, or a CNAME region's target name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Address(std::net::IpAddr),
    /// Fully qualified, lower case.
    Name(String),
}

impl Target {
    pub fn of(t: &MemberTarget) -> Target {
        match t {
            MemberTarget::Address(a) => Target::Address(*a),
            MemberTarget::Cname(n) => Target::Name(n.to_lowercase().to_ascii()),
        }
    }
    /// Parses what `Display` writes: an address, or a name (a trailing dot is added).
    pub fn parse(s: &str) -> Option<Target> {
        if let Ok(a) = s.parse() {
            return Some(Target::Address(a));
        }
        let n = hickory_proto::rr::Name::from_ascii(s).ok()?;
        let mut n = n.to_lowercase();
        n.set_fqdn(true);
        Some(Target::Name(n.to_ascii()))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Address(a) => write!(f, "{a}"),
            Target::Name(n) => f.write_str(n),
        }
    }
}

impl fmt::Display for HealthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} probe {}", self.target, self.probe)
    }
}

/// Probe counters (monotonic).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub probes: u64,
    pub failures: u64,
    /// State changes, the first result (unknown → up/down) included.
    pub transitions: u64,
}

#[derive(Debug, Default)]
pub struct Counters {
    probes: AtomicU64,
    failures: AtomicU64,
    transitions: AtomicU64,
}

impl Counters {
    pub fn add(&self, ok: bool, flipped: bool) {
        self.probes.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        if flipped {
            self.transitions.fetch_add(1, Ordering::Relaxed);
        }
    }
    pub fn get(&self) -> Counts {
        Counts {
            probes: self.probes.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            transitions: self.transitions.load(Ordering::Relaxed),
        }
    }
}

/// The shared state of one key.
#[derive(Debug)]
pub struct Entry {
    /// The [`State`] code: the only thing the DNS path reads.
    word: AtomicU8,
    detail: Mutex<Detail>,
    pub counters: Counters,
    /// The RTTs of the successful probes, averaged (`region_policy = "latency"`).
    pub rtt: RttEwma,
}

#[derive(Debug, Default)]
struct Detail {
    machine: Machine,
    last: Option<ProbeResult>,
    last_at: Option<Instant>,
    changed_at: Option<Instant>,
    /// The fleet's view of this key (in a `[cluster]`): when it decides, its state is published.
    fleet: Option<FleetView>,
}

/// A point-in-time copy of an entry, for status pages and `explain`.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryStatus {
    /// This node's own rise/fall state.
    pub state: State,
    /// What steering uses: the fleet's decision when it decides, else `state`.
    pub effective: State,
    /// How the fleet decided, with each node's vote and its age (in a `[cluster]`).
    pub fleet: Option<String>,
    pub last: Option<ProbeResult>,
    /// Time since the last probe finished.
    pub since_last: Option<Duration>,
    /// Time since the state last changed (None while unknown).
    pub since_change: Option<Duration>,
    pub counts: Counts,
}

impl EntryStatus {
    /// "up, last HTTP 200 12.3s ago, changed 40.1s ago".
    pub fn describe(&self) -> String {
        let mut s = self.effective.to_string();
        if self.fleet.is_some() {
            s = format!("{} (here {})", self.effective, self.state);
        }
        match (&self.last, self.since_last) {
            (Some(r), Some(ago)) => s.push_str(&format!(", last {} {:.1}s ago", r.detail, ago.as_secs_f64())),
            _ => s.push_str(", not probed yet"),
        }
        if let Some(c) = self.since_change {
            s.push_str(&format!(", changed {:.1}s ago", c.as_secs_f64()));
        }
        if let Some(f) = &self.fleet {
            s.push_str("; fleet ");
            s.push_str(f);
        }
        s
    }
}

impl Default for Entry {
    fn default() -> Self {
        Entry::new()
    }
}

impl Entry {
    pub fn new() -> Entry {
        Entry {
            word: AtomicU8::new(0),
            detail: Mutex::new(Detail::default()),
            counters: Counters::default(),
            rtt: RttEwma::default(),
        }
    }

    /// Up: `assume_up` answers for the unknown state.
    #[inline]
    pub fn is_up(&self, assume_up: bool) -> bool {
        match State::from_u8(self.word.load(Ordering::Acquire)) {
            State::Up => true,
            State::Down => false,
            State::Unknown => assume_up,
        }
    }

    pub fn state(&self) -> State {
        State::from_u8(self.word.load(Ordering::Acquire))
    }

    /// The current streak of equal results (what flipped the state, right after a flip).
    pub fn streak(&self) -> u32 {
        match self.detail.lock() {
            Ok(d) => d.machine.streak().0,
            Err(p) => p.into_inner().machine.streak().0,
        }
    }

    fn publish(&self, d: &Detail) {
        let state = d.fleet.as_ref().and_then(|f| f.decided).unwrap_or(d.machine.state());
        self.word.store(state.to_u8(), Ordering::Release);
    }

    fn detail(&self) -> std::sync::MutexGuard<'_, Detail> {
        // A poisoned lock means a panic elsewhere while holding it; nothing here panics,
        // but keep publishing rather than stop health checking.
        self.detail.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This node's own rise/fall state (what it votes in a fleet).
    pub fn local_state(&self) -> State {
        self.detail().machine.state()
    }

    /// This node's own state and its last probe result, with its time.
    pub fn local_vote(&self) -> (State, Option<ProbeResult>, Option<Instant>) {
        let d = self.detail();
        (d.machine.state(), d.last.clone(), d.last_at)
    }

    /// Sets the fleet's view (`None`: no fleet) and publishes the state it decides (or the
    /// local state when it falls back). Returns the published state before and after.
    pub fn set_fleet(&self, view: Option<FleetView>) -> (State, State) {
        let mut d = self.detail();
        let before = self.state();
        d.fleet = view;
        self.publish(&d);
        (before, self.state())
    }

    /// Feeds one probe result; returns the new state when it flipped. Counts it in `self` and
    /// in `totals`.
    pub fn record(&self, r: ProbeResult, t: Thresholds, now: Instant, totals: &Counters) -> Option<State> {
        let ok = r.ok;
        if let Some(rtt) = r.rtt {
            self.rtt.record(rtt);
        }
        let flipped = {
            let mut d = self.detail();
            let flipped = d.machine.observe(ok, t);
            d.last = Some(r);
            d.last_at = Some(now);
            if flipped.is_some() {
                d.changed_at = Some(now);
            }
            self.publish(&d);
            flipped
        };
        self.counters.add(ok, flipped.is_some());
        totals.add(ok, flipped.is_some());
        flipped
    }

    pub fn status(&self, now: Instant) -> EntryStatus {
        let d = self.detail();
        EntryStatus {
            state: d.machine.state(),
            effective: self.state(),
            fleet: d.fleet.as_ref().map(|f| f.describe(now)),
            last: d.last.clone(),
            since_last: d.last_at.map(|t| now.saturating_duration_since(t)),
            since_change: d.changed_at.map(|t| now.saturating_duration_since(t)),
            counts: self.counters.get(),
        }
    }
}

/// What answers for one member id.
#[derive(Clone, Debug)]
enum Slot {
    /// No probe: the pool file's `down` mark; or `down = true`, which wins over any probe.
    Static(bool),
    Live {
        entry: Arc<Entry>,
        assume_up: bool,
        key: HealthKey,
    },
}

/// The [`HealthView`] of one `Pools` snapshot, built once when the snapshot is made
/// ([`super::HealthService::view`]). Member ids index a slot directly.
#[derive(Clone, Debug, Default)]
pub struct PoolsHealth {
    slots: Box<[Slot]>,
}

impl PoolsHealth {
    pub fn builder(n: usize) -> PoolsHealthBuilder {
        PoolsHealthBuilder { slots: Vec::with_capacity(n) }
    }
    /// The live entry of a member, with its key (None: not probed).
    pub fn entry(&self, m: MemberId) -> Option<(&HealthKey, &Arc<Entry>)> {
        match self.slots.get(m.index()) {
            Some(Slot::Live { entry, key, .. }) => Some((key, entry)),
            _ => None,
        }
    }
    /// How many members are probed.
    pub fn probed(&self) -> usize {
        self.slots.iter().filter(|s| matches!(s, Slot::Live { .. })).count()
    }
}

pub struct PoolsHealthBuilder {
    slots: Vec<Slot>,
}

impl PoolsHealthBuilder {
    pub fn fixed(&mut self, up: bool) {
        self.slots.push(Slot::Static(up));
    }
    pub fn live(&mut self, key: HealthKey, entry: Arc<Entry>, assume_up: bool) {
        self.slots.push(Slot::Live { entry, assume_up, key });
    }
    pub fn build(self) -> PoolsHealth {
        PoolsHealth { slots: self.slots.into_boxed_slice() }
    }
}

impl HealthView for PoolsHealth {
    #[inline]
    fn is_up(&self, m: MemberId) -> bool {
        match self.slots.get(m.index()) {
            Some(Slot::Static(up)) => *up,
            Some(Slot::Live { entry, assume_up, .. }) => entry.is_up(*assume_up),
            None => false,
        }
    }

    #[inline]
    fn member_rtt(&self, m: MemberId) -> Option<Rtt> {
        match self.slots.get(m.index())? {
            Slot::Live { entry, .. } => entry.rtt.get(),
            Slot::Static(_) => None,
        }
    }

    fn describe(&self, m: MemberId) -> Option<String> {
        match self.slots.get(m.index())? {
            Slot::Static(true) => Some("not probed".into()),
            Slot::Static(false) => Some("down in the pool file".into()),
            Slot::Live { entry, assume_up, key } => {
                let st = entry.status(Instant::now());
                let assumed = if st.effective == State::Unknown {
                    if *assume_up { " (assumed up)" } else { " (assumed down)" }
                } else {
                    ""
                };
                Some(format!("probe {}: {}{assumed}", key.probe, st.describe()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(b: bool) -> ProbeResult {
        ProbeResult::new(b, if b { "ok" } else { "fail" }, Duration::ZERO)
    }

    #[test]
    fn unknown_follows_assume_then_the_machine_decides() {
        let t = Thresholds { rise: 1, fall: 1 };
        let totals = Counters::default();
        let e = Entry::new();
        assert!(e.is_up(true) && !e.is_up(false), "unknown answers the assumption");
        e.record(ok(false), t, Instant::now(), &totals);
        assert!(!e.is_up(true));
        e.record(ok(true), t, Instant::now(), &totals);
        assert_eq!(e.state(), State::Up);
        assert!(e.is_up(false));
        assert_eq!(totals.get(), Counts { probes: 2, failures: 1, transitions: 2 });
    }

    #[test]
    fn target_text_round_trips() {
        for s in ["192.0.2.1", "2001:db8::1", "lb.example.net."] {
            let t = Target::parse(s).expect(s);
            assert_eq!(t.to_string(), s);
        }
        assert_eq!(Target::parse("LB.Example.NET"), Target::parse("lb.example.net."));
    }
}
