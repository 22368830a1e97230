//! What the fleet's tasks know, kept for `/status` and `/metrics`: whether etcd is in reach,
//! the lease, the nodes seen, and the last decision on every (target, probe).
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

use super::etcd::LeaseId;
use super::keys::NodeInfo;
use crate::health::{FleetView, HealthKey, Reach, State};
use crate::util::lock;

/// Whether this node follows etcd.
#[derive(Clone, Debug)]
pub struct ReachState {
    /// The watch is open (or was closed less than `fallback_after` ago).
    pub connected: bool,
    /// When `connected` last changed.
    pub since: Instant,
    /// The first listing of the prefix has been read.
    pub synced: bool,
    pub endpoint: Option<String>,
    pub error: Option<String>,
}

/// One (target, probe) as last decided.
#[derive(Clone, Debug)]
pub struct DecisionRow {
    pub key: HealthKey,
    pub local: State,
    pub effective: State,
    pub view: FleetView,
}

/// See the module docs.
pub struct FleetShared {
    pub reach: Mutex<ReachState>,
    pub lease: Mutex<(String, Option<String>)>,
    /// The lease held now (revoked at a clean stop).
    pub lease_id: Mutex<Option<LeaseId>>,
    pub nodes: Mutex<BTreeMap<String, (Option<NodeInfo>, Instant)>>,
    pub decisions: Mutex<Vec<DecisionRow>>,
    /// Times etcd went out of reach (for longer than `fallback_after`).
    pub outages: AtomicU64,
    /// Whether the decisions in force were made with etcd in reach (what status pages show).
    pub deciding: Mutex<Reach>,
    /// The etcd revision folded up to.
    pub revision: tokio::sync::watch::Sender<i64>,
}

impl FleetShared {
    pub fn new() -> FleetShared {
        FleetShared {
            reach: Mutex::new(ReachState {
                connected: false,
                since: Instant::now(),
                synced: false,
                endpoint: None,
                error: None,
            }),
            lease: Mutex::new(("none".into(), None)),
            lease_id: Mutex::new(None),
            nodes: Mutex::new(BTreeMap::new()),
            decisions: Mutex::new(Vec::new()),
            outages: AtomicU64::new(0),
            deciding: Mutex::new(Reach::Unreachable),
            revision: tokio::sync::watch::channel(0).0,
        }
    }

    pub fn set_lease(&self, state: String, error: Option<String>) {
        *lock(&self.lease) = (state, error);
    }

    pub fn reach(&self) -> ReachState {
        lock(&self.reach).clone()
    }

    pub fn deciding(&self) -> Reach {
        *lock(&self.deciding)
    }

    pub fn outages(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }
}
