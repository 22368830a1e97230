//! The fleet: gslbd nodes that agree through etcd. Each node publishes its own probe states as
//! votes under a lease, follows every node's votes and the runtime changes through one watch,
//! and decides each (target, probe) by the fleet's rule (`decide = local | quorum | any | all`,
//! with a minimum of fresh voters). Without `[cluster]` none of this runs.
//!
//! ```text
//! etcd (JSON gateway) ◄─► etcd::Client ◄─ Publisher (lease, node record, votes)      publish.rs
//!                                      ◄─ Follower (one watch ─► Fold ─► decide)     fleet.rs, fold.rs
//!                                      ◄─ Fleet::write (runtime changes, If-Match)   fleet.rs
//! decisions ─► health::Entry (one atomic the DNS path reads)   changes ─► serving::OverrideTable
//! ```
//!
//! Invariants: nothing here is on the query path, and nothing on the query path waits for etcd;
//! etcd out of reach means each node decides alone with its own probes and its last known
//! changes; every wait on etcd is bounded by the client's timeouts.
pub mod etcd;
mod fleet;
mod fold;
mod keys;
mod publish;
mod shared;
mod status;

pub use fleet::{Fleet, WriteOutcome};
pub use keys::{Keys, NodeInfo, VoteValue};
