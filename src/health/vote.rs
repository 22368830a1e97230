//! A fleet's decision on one (target, probe), as pure logic: the fresh votes of the nodes (this
//! node's own observation among them) and the `decide` rule give the state every node uses,
//! or "fall back to the local observation" with the reason.
//!
//! ```text
//! votes (node, up|down) ──► V = fresh voters ──► |V| < min_voters or etcd out of reach ─► local
//!                                              └► local | quorum | any | all ───────────► up / down
//! ```
//!
//! The result goes through no second rise/fall: each vote already is its node's rise/fall state.
use std::fmt;

use tokio::time::Instant;

use super::State;
use crate::pool::Decide;

/// One node's vote on one (target, probe), as this node holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeVote {
    pub node: String,
    pub state: State,
    /// The voter's last probe result ("HTTP 200", "timeout after 1s").
    pub detail: String,
    /// When this node received the vote (its own clock, so clock skew between nodes does not
    /// matter); for this node's own vote, its last probe.
    pub seen: Instant,
    /// This node's own observation.
    pub own: bool,
}

/// How the fleet decided one (target, probe), kept in its entry for status pages and `explain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetView {
    pub decide: Decide,
    /// The fleet's state; `None` when this node falls back to its own observation.
    pub decided: Option<State>,
    /// "2/3 up", "fallback: 1 fresh voter < 2", "fallback: etcd out of reach".
    pub reason: String,
    /// Every vote counted (fresh), this node's first, then by node name.
    pub votes: Vec<NodeVote>,
}

impl FleetView {
    /// `decide=quorum: 2/3 up → up; node1 up (HTTP 200) 1.2s ago, node2 down (HTTP 503) 0.4s ago`.
    pub fn describe(&self, now: Instant) -> String {
        let mut s = format!("decide={}: {}", self.decide, self.reason);
        if let Some(d) = self.decided {
            s.push_str(&format!(" → {d}"));
        }
        for (i, v) in self.votes.iter().enumerate() {
            s.push_str(if i == 0 { "; " } else { ", " });
            let age = now.saturating_duration_since(v.seen).as_secs_f64();
            s.push_str(&format!("{} {} ({}) {age:.1}s ago", v.node, v.state, v.detail));
        }
        s
    }
}

/// The outcome of [`decide`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// `None`: fall back to the local observation.
    pub state: Option<State>,
    pub reason: String,
}

/// Why a node decides alone although it is in a fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// The node follows etcd: votes are current.
    Connected,
    /// etcd has been out of reach for longer than the grace period.
    Unreachable,
}

impl fmt::Display for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reach::Connected => "connected",
            Reach::Unreachable => "etcd out of reach",
        })
    }
}

/// Decides one (target, probe) from the fresh votes (`Unknown` ones do not count; this node's
/// own observation is one of them). See the module docs.
pub fn decide(rule: Decide, min_voters: u32, reach: Reach, votes: &[State]) -> Decision {
    let up = votes.iter().filter(|s| **s == State::Up).count();
    let down = votes.iter().filter(|s| **s == State::Down).count();
    let n = up + down;
    let fallback = |reason: String| Decision { state: None, reason };
    if rule == Decide::Local {
        return fallback(format!("{up}/{n} up; each node uses its own probes"));
    }
    if reach == Reach::Unreachable {
        return fallback("fallback to local: etcd out of reach".into());
    }
    if (n as u64) < u64::from(min_voters) {
        let voters = if n == 1 { "voter" } else { "voters" };
        return fallback(format!("fallback to local: {n} fresh {voters} < min_voters {min_voters}"));
    }
    let tally = format!("{up}/{n} up");
    let state = match rule {
        Decide::Local => None,
        Decide::Any => Some(if up > 0 { State::Up } else { State::Down }),
        Decide::All => Some(if down == 0 { State::Up } else { State::Down }),
        Decide::Quorum if 2 * up > n => Some(State::Up),
        Decide::Quorum if 2 * down > n => Some(State::Down),
        Decide::Quorum => return fallback(format!("{tally}: a tie keeps the local observation")),
    };
    Decision { state, reason: tally }
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::{Down, Unknown, Up};

    #[test]
    fn quorum_needs_a_strict_majority() {
        let d = |v: &[State]| decide(Decide::Quorum, 2, Reach::Connected, v).state;
        assert_eq!(d(&[Up, Up, Down]), Some(Up));
        assert_eq!(d(&[Down, Up, Down]), Some(Down));
        assert_eq!(d(&[Up, Down]), None, "a tie keeps the local state");
        assert_eq!(d(&[Up, Down, Unknown, Unknown]), None, "unknown votes do not count");
        assert_eq!(d(&[Down, Down]), Some(Down));
    }

    #[test]
    fn any_all_and_local() {
        let v = [Up, Down, Down];
        assert_eq!(decide(Decide::Any, 2, Reach::Connected, &v).state, Some(Up));
        assert_eq!(decide(Decide::All, 2, Reach::Connected, &v).state, Some(Down));
        assert_eq!(decide(Decide::All, 2, Reach::Connected, &[Up, Up]).state, Some(Up));
        assert_eq!(decide(Decide::Any, 2, Reach::Connected, &[Down, Down]).state, Some(Down));
        assert_eq!(decide(Decide::Local, 1, Reach::Connected, &v).state, None);
    }

    #[test]
    fn too_few_voters_or_no_etcd_fall_back() {
        let d = decide(Decide::Quorum, 2, Reach::Connected, &[Down]);
        assert_eq!(d.state, None);
        assert_eq!(d.reason, "fallback to local: 1 fresh voter < min_voters 2");
        let d = decide(Decide::Quorum, 2, Reach::Unreachable, &[Down, Down, Down]);
        assert_eq!((d.state, d.reason.as_str()), (None, "fallback to local: etcd out of reach"));
        assert_eq!(decide(Decide::Quorum, 3, Reach::Connected, &[Down, Down, Up]).state, Some(Down));
    }
}
