//! This node's in-memory copy of the fleet's keys, folded from one etcd watch: every node's
//! votes (with when this node received them), the nodes' membership records, and the runtime
//! changes. Read by the fleet task only; the DNS path never sees it.
//!
//! ```text
//! range(P/) ─reset──┐
//! watch(P/) ─events─┴─► Fold { votes: (target, probe) → node → vote, nodes, changes, revision }
//! ```
use std::collections::{BTreeMap, HashMap};

use tokio::time::Instant;

use super::etcd::{Event, EventKind, KeyValue};
use super::keys::{Keys, Kind, NodeInfo, VoteValue, read_change};
use crate::health::HealthKey;
use crate::serving::{ChangeRecord, ChangeSet};

/// Another node's vote as this node holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteVote {
    pub value: VoteValue,
    /// When this node received it (its own clock).
    pub seen: Instant,
}

/// See the module docs.
#[derive(Default)]
pub struct Fold {
    pub votes: HashMap<HealthKey, BTreeMap<String, RemoteVote>>,
    pub nodes: BTreeMap<String, (Option<NodeInfo>, Instant)>,
    /// By etcd key.
    pub changes: BTreeMap<Vec<u8>, ChangeRecord>,
    /// The etcd revision folded up to.
    pub revision: i64,
}

/// What a fold touched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    pub votes: bool,
    pub changes: bool,
}

impl Fold {
    /// Replaces everything with `kvs`, the whole prefix at `revision`. The changes count as
    /// touched even when equal: what the node held before (its state file) is replaced too.
    pub fn reset(&mut self, keys: &Keys, revision: i64, kvs: &[KeyValue], now: Instant) -> Touched {
        self.changes.clear();
        self.votes.clear();
        self.nodes.clear();
        for kv in kvs {
            self.put(keys, kv, now);
        }
        self.revision = revision;
        Touched { votes: true, changes: true }
    }

    /// Applies watch events (in revision order) up to `revision`.
    pub fn events(&mut self, keys: &Keys, revision: i64, events: &[Event], now: Instant) -> Touched {
        let mut t = Touched::default();
        for e in events {
            let kind = keys.classify(&e.kv.key);
            t.votes |= matches!(kind, Kind::Vote(..) | Kind::Node(_));
            t.changes |= kind == Kind::Change;
            match e.kind {
                EventKind::Put => self.put(keys, &e.kv, now),
                EventKind::Delete => self.delete(kind, &e.kv.key),
            }
        }
        self.revision = self.revision.max(revision);
        t
    }

    fn put(&mut self, keys: &Keys, kv: &KeyValue, now: Instant) {
        match keys.classify(&kv.key) {
            Kind::Vote(hk, node) => match serde_json::from_slice::<VoteValue>(&kv.value) {
                Ok(value) => {
                    self.votes.entry(hk).or_default().insert(node, RemoteVote { value, seen: now });
                }
                Err(e) => {
                    tracing::warn!(key = %String::from_utf8_lossy(&kv.key), error = %e, "unreadable vote ignored")
                }
            },
            Kind::Node(node) => {
                self.nodes.insert(node, (serde_json::from_slice(&kv.value).ok(), now));
            }
            Kind::Change => match read_change(&kv.value, kv.mod_revision) {
                Some(r) => {
                    self.changes.insert(kv.key.clone(), r);
                }
                None => tracing::warn!(key = %String::from_utf8_lossy(&kv.key), "unreadable runtime change ignored"),
            },
            Kind::Other => {}
        }
    }

    fn delete(&mut self, kind: Kind, key: &[u8]) {
        match kind {
            Kind::Vote(hk, node) => {
                if let Some(v) = self.votes.get_mut(&hk) {
                    v.remove(&node);
                    if v.is_empty() {
                        self.votes.remove(&hk);
                    }
                }
            }
            Kind::Node(node) => {
                self.nodes.remove(&node);
            }
            Kind::Change => {
                self.changes.remove(key);
            }
            Kind::Other => {}
        }
    }

    /// The runtime changes as the override table holds them.
    pub fn change_set(&self) -> ChangeSet {
        let mut set = ChangeSet { revision: self.revision, ..ChangeSet::default() };
        for r in self.changes.values() {
            set.records.insert(r.key.clone(), r.clone());
        }
        set
    }
}
