//! Health transitions: each up/down change of a probed (target, probe) is logged once, with
//! the probe's reason and the rise/fall counts that flipped it (as gdnsd logs them), and the
//! most recent ones are kept for the status page.
//!
//! ```text
//! probe task ─ Entry::record → Some(new state) ─► Transitions::record ─► one log line (target gslbd::health)
//!                                                                      └► ring of the last RECENT changes
//! ```
use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

use crate::health::{HealthKey, State, Thresholds};
use crate::util::clock::{rfc3339, unix_now};
use crate::util::lock;

/// How many transitions the status page can show.
pub const RECENT: usize = 64;

/// One state change of one (target, probe).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Transition {
    pub at_unix: u64,
    pub at: String,
    pub target: String,
    pub probe: String,
    /// "unknown", "up" or "down".
    pub from: &'static str,
    pub to: &'static str,
    /// The last probe's result ("connection refused", "HTTP 503", "connected").
    pub reason: String,
    /// Results in a row that flipped the state, and the threshold they met.
    pub streak: u32,
    pub rise: u8,
    pub fall: u8,
}

/// The ring of recent transitions, shared by every probe task.
#[derive(Default)]
pub struct Transitions {
    ring: Mutex<VecDeque<Transition>>,
}

impl Transitions {
    /// Logs one transition (one line) and keeps it. The first result of a key (unknown → up
    /// or down) is logged at debug, every later change at info (down: warn).
    pub fn record(&self, key: &HealthKey, from: State, to: State, reason: &str, streak: u32, t: Thresholds) {
        let now = unix_now();
        let (target, probe) = (key.target.to_string(), key.probe.as_str());
        let (rise, fall) = (t.rise, t.fall);
        match (from, to) {
            (State::Unknown, _) => {
                tracing::debug!(target: "gslbd::health", %target, probe, from = %from, to = %to, reason, streak, rise, fall, "health: first result")
            }
            (_, State::Down) => {
                tracing::warn!(target: "gslbd::health", %target, probe, from = %from, to = %to, reason, streak, rise, fall, "health: {target} is down ({probe}: {streak} failure(s) in a row, fall {fall}): {reason}")
            }
            _ => {
                tracing::info!(target: "gslbd::health", %target, probe, from = %from, to = %to, reason, streak, rise, fall, "health: {target} is up ({probe}: {streak} success(es) in a row, rise {rise}): {reason}")
            }
        }
        let mut ring = lock(&self.ring);
        if ring.len() >= RECENT {
            ring.pop_front();
        }
        ring.push_back(Transition {
            at_unix: now,
            at: rfc3339(now),
            target,
            probe: probe.to_string(),
            from: from.as_str(),
            to: to.as_str(),
            reason: reason.to_string(),
            streak,
            rise,
            fall,
        });
    }

    /// The recent transitions, newest first.
    pub fn recent(&self) -> Vec<Transition> {
        lock(&self.ring).iter().rev().cloned().collect()
    }
}
