//! The fleet: this node's votes go to etcd, every node's votes and the runtime changes come
//! back through one watch, and each (target, probe) is decided by the fleet's rule. Everything
//! runs in background tasks; the DNS path reads the same one atomic per member as without a
//! fleet, and nothing on it waits for etcd.
//!
//! ```text
//! probe flips ─► Publisher ─put(lease)─► etcd P/votes/T/PROBE/NODE, P/nodes/NODE
//!                                          │ one watch on P/ (range first, then from its revision + 1)
//!                                          ▼
//! Follower: Fold (votes, nodes, changes) ─► decide per key ─► Entry::set_fleet (published state)
//!                                        └─► OverrideTable::replace (changes) ─► reload when pool edits changed
//! admin API ─► Fleet::write ─txn(If-Match)─► P/changes/… ─► (the watch applies it on every node)
//! ```
//!
//! etcd out of reach for longer than `fallback_after`: every key falls back to this node's
//! own probes, said in `/status`, `/metrics` and the log; when the watch is back the fold is
//! brought up to date (or re-listed) and the fleet decides again.
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::etcd::{Client, ClientConfig, Credentials, TlsConfig, TxnOutcome, WatchItem};
use super::fold::{Fold, Touched};
use super::keys::{Keys, read_change};
use super::publish::Publisher;
use super::shared::{DecisionRow, FleetShared};
use crate::config::{ClusterConfig, ClusterSettings, ProbeSource};
use crate::health::{FleetView, HealthKey, NodeVote, Reach, State, decide};
use crate::services::HealthService;
use crate::serving::{ChangeKey, ChangeMeta, ChangeRecord, OverrideTable, Serving, Shared};
use crate::util::lock;

/// How often decisions are re-checked without an event (the grace period and vote ages).
const TICK: Duration = Duration::from_millis(250);
/// How long a write waits for the watch to bring it back before answering.
const APPLY_WAIT: Duration = Duration::from_secs(2);

/// The outcome of [`Fleet::write`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Stored at this etcd revision (and applied here, unless the watch was slower than 2 s).
    Written { revision: i64 },
    /// `If-Match` named another revision; `current` is the change as it is (None: absent).
    Stale { current: Option<Box<ChangeRecord>> },
}

/// A running fleet membership. See the module docs.
pub struct Fleet {
    settings: ClusterSettings,
    client: Client,
    keys: Keys,
    pub(super) shared: Arc<FleetShared>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Bumped when the fleet's pool-file edits change (the app reloads then).
    config_changes: tokio::sync::watch::Sender<u64>,
}

impl Fleet {
    /// Connects to etcd (lazily: an unreachable etcd is not an error here) and starts the
    /// tasks. Must run inside a Tokio runtime.
    pub fn start(
        cfg: &ClusterConfig,
        source: ProbeSource,
        health: HealthService,
        serving: Shared<Serving>,
        table: Arc<OverrideTable>,
    ) -> Result<Arc<Fleet>, String> {
        let s = &cfg.settings;
        let client = Client::new(client_config(cfg)).map_err(|e| e.to_string())?;
        let keys = Keys::new(&s.prefix, &s.node);
        let shared = Arc::new(FleetShared::new());
        let config_changes = tokio::sync::watch::channel(0).0;
        let fleet = Arc::new(Fleet {
            settings: s.clone(),
            client: client.clone(),
            keys: keys.clone(),
            shared: shared.clone(),
            tasks: Mutex::new(Vec::new()),
            config_changes,
        });
        let probe_source =
            source.v4.map(|a| a.to_string()).into_iter().chain(source.v6.map(|a| a.to_string())).collect();
        let publisher = Publisher {
            client: client.clone(),
            keys: keys.clone(),
            ttl: s.lease_ttl.as_secs() as i64,
            health: health.clone(),
            serving,
            shared: shared.clone(),
            probe_source,
        };
        let follower = Follower {
            fleet: fleet.clone(),
            health,
            table,
            fold: Fold::default(),
            last: HashMap::new(),
            reach: Reach::Unreachable,
        };
        let mut tasks = lock(&fleet.tasks);
        tasks.push(tokio::spawn(publisher.run()));
        tasks.push(tokio::spawn(follower.run()));
        drop(tasks);
        tracing::info!(node = %s.node, prefix = %s.prefix, endpoints = ?s.endpoints, decide = %s.decide,
            min_voters = s.min_voters, "fleet: following etcd");
        Ok(fleet)
    }

    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// A counter bumped whenever the fleet's pool-file edits change.
    pub fn config_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.config_changes.subscribe()
    }

    /// Waits until the fleet's keys have been read once, at most `max`.
    pub async fn wait_synced(&self, max: Duration) -> bool {
        let mut rev = self.shared.revision.subscribe();
        tokio::time::timeout(max, rev.wait_for(|r| *r > 0)).await.is_ok_and(|r| r.is_ok())
    }

    /// Sets (`value: Some`) or clears a runtime change in etcd, if `if_match` (when given) is its
    /// revision (0: it must not exist). Errors are etcd's (the caller answers 503).
    pub async fn write(
        &self,
        key: &ChangeKey,
        value: Option<serde_json::Value>,
        meta: &ChangeMeta,
        if_match: Option<i64>,
    ) -> Result<WriteOutcome, String> {
        let k = self.keys.change_key(key);
        let k = k.as_bytes();
        let e = |e: super::etcd::Error| e.to_string();
        let outcome = match (value, if_match) {
            (Some(v), expected) => {
                let meta = ChangeMeta { node: self.settings.node.clone(), ..meta.clone() };
                let body = serde_json::to_vec(&meta.record(key.clone(), v, 0)).map_err(|e| e.to_string())?;
                match expected {
                    Some(r) => self.client.txn_put_if(k, &body, r, None).await.map_err(e)?,
                    None => TxnOutcome::Written { revision: self.client.put(k, &body, None).await.map_err(e)? },
                }
            }
            (None, Some(r)) => self.client.txn_delete_if(k, r).await.map_err(e)?,
            (None, None) => match self.client.delete(k).await.map_err(e)? {
                // Nothing was there: no event will come back, nothing to wait for.
                (revision, 0) => return Ok(WriteOutcome::Written { revision }),
                (revision, _) => TxnOutcome::Written { revision },
            },
        };
        match outcome {
            TxnOutcome::Conflict { current, .. } => Ok(WriteOutcome::Stale {
                current: current.and_then(|kv| read_change(&kv.value, kv.mod_revision)).map(Box::new),
            }),
            TxnOutcome::Written { revision } => {
                let mut rev = self.shared.revision.subscribe();
                let _ = tokio::time::timeout(APPLY_WAIT, rev.wait_for(|r| *r >= revision)).await;
                Ok(WriteOutcome::Written { revision })
            }
        }
    }

    /// Stops the tasks and revokes the lease, so this node's votes vanish at once (bounded).
    pub async fn shutdown(&self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
        let lease = *lock(&self.shared.lease_id);
        if let Some(id) = lease {
            let _ = tokio::time::timeout(Duration::from_secs(1), self.client.lease_revoke(id)).await;
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }
}

/// The etcd client settings of `[cluster]`.
fn client_config(cfg: &ClusterConfig) -> ClientConfig {
    let s = &cfg.settings;
    let mut c = ClientConfig::new(s.endpoints.clone());
    c.timeout = s.timeout;
    c.attempt_timeout = s.timeout.min(Duration::from_secs(2));
    c.connect_timeout = s.timeout.min(Duration::from_secs(1));
    c.watch_idle_check = Duration::from_secs(2);
    if let (Some(user), Some(password)) = (&s.user, &cfg.files.password) {
        c.credentials = Some(Credentials { user: user.clone(), password: password.clone() });
    }
    if let Some(ca) = &cfg.files.ca_pem {
        c.tls = Some(TlsConfig {
            ca_pem: ca.clone(),
            cert_pem: cfg.files.cert_pem.clone(),
            key_pem: cfg.files.key_pem.clone(),
        });
    }
    c
}

/// The task that follows etcd and decides.
struct Follower {
    fleet: Arc<Fleet>,
    health: HealthService,
    table: Arc<OverrideTable>,
    fold: Fold,
    /// Per key: (falls back, published state), to log transitions once.
    last: HashMap<HealthKey, (bool, State)>,
    reach: Reach,
}

impl Follower {
    async fn run(mut self) {
        let client = self.fleet.client.clone();
        let root = self.fleet.keys.root().to_string();
        let mut flips = self.health.flips();
        let mut tick = tokio::time::interval(TICK);
        // The first listing, retried; meanwhile every key is decided locally.
        let start = loop {
            match client.range(root.as_bytes()).await {
                Ok(r) => {
                    let t = self.fold.reset(&self.fleet.keys, r.revision, &r.kvs, Instant::now());
                    self.connected(true, None, None);
                    lock(&self.fleet.shared.reach).synced = true;
                    self.folded(t);
                    break r.revision;
                }
                Err(e) => {
                    self.connected(false, None, Some(e.to_string()));
                    self.decide_all();
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = flips.changed() => {}
                    }
                }
            }
        };
        self.decide_all();
        let mut watch = client.watch(root.as_bytes(), start + 1);
        loop {
            tokio::select! {
                item = watch.next() => match item {
                    None => return,
                    Some(WatchItem::Connected { endpoint, .. }) => self.connected(true, Some(endpoint), None),
                    Some(WatchItem::Disconnected { error }) => self.connected(false, None, Some(error)),
                    Some(WatchItem::Events { revision, events }) => {
                        let t = self.fold.events(&self.fleet.keys, revision, &events, Instant::now());
                        self.folded(t);
                    }
                    Some(WatchItem::Reset { revision, kvs }) => {
                        let t = self.fold.reset(&self.fleet.keys, revision, &kvs, Instant::now());
                        self.folded(t);
                    }
                },
                _ = flips.changed() => {}
                _ = tick.tick() => {}
            }
            self.decide_all();
        }
    }

    fn connected(&self, up: bool, endpoint: Option<String>, error: Option<String>) {
        let mut r = lock(&self.fleet.shared.reach);
        if r.connected != up {
            r.connected = up;
            r.since = Instant::now();
        }
        if endpoint.is_some() {
            r.endpoint = endpoint;
        }
        r.error = error;
    }

    /// Applies what a fold touched: the change set, the nodes, the revision.
    fn folded(&mut self, t: Touched) {
        if t.changes {
            let set = self.fold.change_set();
            let old = self.table.changes();
            self.table.replace(set.clone());
            if !old.same_config(&set) {
                self.fleet.config_changes.send_modify(|n| *n += 1);
            }
        }
        if t.votes {
            *lock(&self.fleet.shared.nodes) = self.fold.nodes.clone();
        }
        self.fleet.shared.revision.send_replace(self.fold.revision.max(1));
    }

    /// Whether etcd counts as in reach now (the grace period included); logs transitions.
    fn reach_now(&mut self) -> Reach {
        let r = self.fleet.shared.reach();
        let grace = self.fleet.settings.fallback_after;
        let reach =
            if r.synced && (r.connected || r.since.elapsed() < grace) { Reach::Connected } else { Reach::Unreachable };
        if reach != self.reach {
            match reach {
                Reach::Unreachable => {
                    self.fleet.shared.outages.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = ?r.error, ?grace,
                        "fleet: etcd out of reach; every key falls back to this node's own probes");
                }
                Reach::Connected => tracing::info!("fleet: etcd in reach; deciding with the fleet"),
            }
            self.reach = reach;
        }
        reach
    }

    /// Decides every probed key and publishes the result into its entry.
    fn decide_all(&mut self) {
        let reach = self.reach_now();
        let s = &self.fleet.settings;
        let me = s.node.as_str();
        let now = Instant::now();
        let mut rows = Vec::new();
        for (key, entry, job) in self.health.running() {
            let rule = job.spec.decide.unwrap_or(s.decide);
            let min_voters = job.spec.min_voters.unwrap_or(s.min_voters);
            let (local, last, last_at) = entry.local_vote();
            let mut votes = Vec::new();
            if local != State::Unknown {
                let detail = last.map(|r| r.detail).unwrap_or_default();
                votes.push(NodeVote { node: me.into(), state: local, detail, seen: last_at.unwrap_or(now), own: true });
            }
            if reach == Reach::Connected {
                for (node, v) in self.fold.votes.get(&key).into_iter().flatten() {
                    let state = v.value.state();
                    if node != me && state != State::Unknown {
                        let detail = v.value.detail.clone();
                        votes.push(NodeVote { node: node.clone(), state, detail, seen: v.seen, own: false });
                    }
                }
            }
            let states: Vec<State> = votes.iter().map(|v| v.state).collect();
            let d = decide(rule, min_voters, reach, &states);
            let view = FleetView { decide: rule, decided: d.state, reason: d.reason, votes };
            let (_, effective) = entry.set_fleet(Some(view.clone()));
            let fallback = view.decided.is_none() && rule != crate::pool::Decide::Local;
            let before = self.last.insert(key.clone(), (fallback, effective));
            if before.is_some_and(|b| b != (fallback, effective)) && (reach == Reach::Connected || !fallback) {
                tracing::info!(%key, decide = %rule, reason = %view.reason, here = %local, state = %effective,
                    "fleet: decision changed");
            }
            rows.push(DecisionRow { key, local, effective, view });
        }
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        *lock(&self.fleet.shared.decisions) = rows;
        *lock(&self.fleet.shared.deciding) = reach;
    }
}
