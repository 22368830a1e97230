//! The rise/fall state machine of one probed thing.
//!
//! Pure and clock-free: [`Machine::observe`] takes one probe result and says whether the state
//! flipped (pingora's `consecutive_success` / `consecutive_failure`, applied by one function).
//!
//! ```text
//!            first result decides          `fall` failures in a row
//!  Unknown ─────────────────────────► Up ──────────────────────────► Down
//!                                     ▲                                │
//!                                     └──────── `rise` successes ──────┘
//! ```
//!
//! Unknown leaves on the first result, whatever rise and fall say: the server waits for the
//! first round at startup, and holding a member unknown for `rise` more intervals would only
//! delay that. Admin overrides are not part of health: they sit on top of it in the serving
//! state (`serving::LiveHealth`), so lifting one shows the probes' live state at once.
use std::fmt;

pub use crate::pool::Thresholds;

/// What the probes say.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// No result yet: the pool's `health_assume` decides.
    Unknown,
    Up,
    Down,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Up => "up",
            State::Down => "down",
        }
    }
    pub(crate) fn to_u8(self) -> u8 {
        match self {
            State::Unknown => 0,
            State::Up => 1,
            State::Down => 2,
        }
    }
    pub(crate) fn from_u8(v: u8) -> State {
        match v {
            1 => State::Up,
            2 => State::Down,
            _ => State::Unknown,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of one probed thing plus the streak that may flip it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    state: State,
    /// Length of the current streak of equal results (saturating).
    streak: u32,
    /// Whether the current streak is of successes.
    streak_ok: bool,
}

impl Default for Machine {
    fn default() -> Self {
        Machine::new()
    }
}

impl Machine {
    pub const fn new() -> Machine {
        Machine { state: State::Unknown, streak: 0, streak_ok: false }
    }
    pub fn state(&self) -> State {
        self.state
    }
    /// The current streak: (length, of successes?).
    pub fn streak(&self) -> (u32, bool) {
        (self.streak, self.streak_ok)
    }
    /// Feeds one result. Returns the new state when it changed.
    pub fn observe(&mut self, ok: bool, t: Thresholds) -> Option<State> {
        if self.streak_ok == ok && self.streak > 0 {
            self.streak = self.streak.saturating_add(1);
        } else {
            self.streak = 1;
            self.streak_ok = ok;
        }
        let next = match (self.state, ok) {
            (State::Unknown, true) => State::Up,
            (State::Unknown, false) => State::Down,
            (State::Up, false) if self.streak >= u32::from(t.fall.max(1)) => State::Down,
            (State::Down, true) if self.streak >= u32::from(t.rise.max(1)) => State::Up,
            (s, _) => s,
        };
        if next == self.state {
            None
        } else {
            self.state = next;
            Some(next)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds { rise: 2, fall: 3 };

    fn feed(m: &mut Machine, seq: &str) -> Vec<Option<State>> {
        seq.chars().map(|c| m.observe(c == '+', T)).collect()
    }

    #[test]
    fn first_result_leaves_unknown() {
        let mut m = Machine::new();
        assert_eq!(m.observe(true, T), Some(State::Up));
        let mut m = Machine::new();
        assert_eq!(m.observe(false, T), Some(State::Down));
    }

    #[test]
    fn fall_needs_consecutive_failures() {
        let mut m = Machine::new();
        m.observe(true, T);
        // two failures, a success, two failures: never three in a row.
        assert!(feed(&mut m, "--+--").iter().all(Option::is_none));
        assert_eq!(m.state(), State::Up);
        assert_eq!(m.observe(false, T), Some(State::Down), "third failure in a row flips");
    }

    #[test]
    fn rise_needs_consecutive_successes() {
        let mut m = Machine::new();
        m.observe(false, T);
        assert_eq!(feed(&mut m, "+-+-"), vec![None; 4]);
        assert_eq!(m.state(), State::Down);
        assert_eq!(feed(&mut m, "++"), vec![None, Some(State::Up)]);
    }

    #[test]
    fn thresholds_of_one_follow_every_result() {
        let one = Thresholds { rise: 1, fall: 1 };
        let mut m = Machine::new();
        m.observe(true, one);
        assert_eq!(m.observe(false, one), Some(State::Down));
        assert_eq!(m.observe(true, one), Some(State::Up));
    }

    #[test]
    fn state_codes_round_trip() {
        for s in [State::Unknown, State::Up, State::Down] {
            assert_eq!(State::from_u8(s.to_u8()), s);
        }
    }
}
