//! This node's side of the fleet's keys: one lease, held by a keepalive task, that carries its
//! membership record and its votes; a vote is written at once when a local state flips, and
//! all of them again every [`REFRESH`] (which also repairs a write lost to an outage).
//!
//! ```text
//! loop: no lease ─► grant(ttl), keepalive task, put nodes/NODE
//!       local states (HealthService::running) vs what was written ─► put / delete votes
//!       wait: a flip, the lease's state (Expired ─► grant a new one, write everything again),
//!             REFRESH, or 1 s after a failed write
//! ```
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::etcd::{Client, KeepAlive, Lease, LeaseState};
use super::keys::{Keys, NodeInfo, VoteValue};
use super::shared::FleetShared;
use crate::health::{HealthKey, State};
use crate::services::HealthService;
use crate::serving::{Serving, Shared};
use crate::util::clock::{rfc3339, unix_millis, unix_now};

/// Every vote is written again this often (its `at` is what `/status` shows as its age).
pub const REFRESH: Duration = Duration::from_secs(30);
/// The pause after a failed etcd call.
const RETRY: Duration = Duration::from_secs(1);

pub(super) struct Publisher {
    pub client: Client,
    pub keys: Keys,
    pub ttl: i64,
    pub health: HealthService,
    pub serving: Shared<Serving>,
    pub shared: Arc<FleetShared>,
    pub probe_source: Vec<String>,
}

struct Held {
    lease: Lease,
    /// Renews the lease; dropping it stops the renewals.
    _keepalive: KeepAlive,
    state: tokio::sync::watch::Receiver<LeaseState>,
    /// The digest the membership record was written with.
    digest: Option<String>,
}

impl Publisher {
    pub async fn run(self) {
        let mut flips = self.health.flips();
        let started = rfc3339(unix_now());
        let mut held: Option<Held> = None;
        let mut written: HashMap<HealthKey, State> = HashMap::new();
        let mut last_refresh = Instant::now();
        loop {
            if held.is_none() {
                match self.client.lease_grant(self.ttl).await {
                    Ok(lease) => {
                        tracing::info!(lease = lease.id.0, ttl = lease.ttl, "fleet: etcd lease granted");
                        self.shared.set_lease(format!("alive (ttl {} s)", lease.ttl), None);
                        *crate::util::lock(&self.shared.lease_id) = Some(lease.id);
                        let keepalive = self.client.keepalive_task(lease);
                        let state = keepalive.subscribe();
                        held = Some(Held { lease, _keepalive: keepalive, state, digest: None });
                        written.clear();
                    }
                    Err(e) => {
                        self.shared.set_lease("none".into(), Some(e.to_string()));
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                }
            }
            let Some(h) = held.as_mut() else { continue };
            let refresh = last_refresh.elapsed() >= REFRESH;
            let ok = self.write_node(h, &started).await && self.write_votes(h.lease, &mut written, refresh).await;
            if ok && refresh {
                last_refresh = Instant::now();
            }
            let wait = if ok { REFRESH.saturating_sub(last_refresh.elapsed()) } else { RETRY };
            tokio::select! {
                _ = flips.changed() => {}
                _ = tokio::time::sleep(wait) => {}
                changed = h.state.changed() => {
                    let state = h.state.borrow_and_update().clone();
                    match state {
                        LeaseState::Expired => {
                            tracing::warn!("fleet: the etcd lease expired; its votes are gone; writing them again");
                            self.shared.set_lease("expired".into(), None);
                            held = None;
                        }
                        LeaseState::Unreachable { error, .. } => self.shared.set_lease("unreachable".into(), Some(error)),
                        LeaseState::Alive { ttl, .. } => self.shared.set_lease(format!("alive (ttl {ttl} s)"), None),
                    }
                    if changed.is_err() {
                        held = None;
                    }
                }
            }
        }
    }

    /// Writes the membership record when the lease is new or the served config changed.
    async fn write_node(&self, h: &mut Held, started: &str) -> bool {
        let digest = self.serving.load().live.version.digest.clone();
        if h.digest.as_deref() == Some(digest.as_str()) {
            return true;
        }
        let info = NodeInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            digest: digest.clone(),
            started: started.into(),
            probe_source: self.probe_source.clone(),
        };
        let value = serde_json::to_vec(&info).unwrap_or_default();
        match self.client.put(self.keys.node_key().as_bytes(), &value, Some(h.lease.id)).await {
            Ok(_) => {
                h.digest = Some(digest);
                true
            }
            Err(e) => {
                self.shared.set_lease("alive".into(), Some(format!("writing the node record: {e}")));
                false
            }
        }
    }

    /// Writes the votes that changed since they were last written (all of them when `all`),
    /// and deletes those of keys no longer probed. False when a write failed.
    async fn write_votes(&self, lease: Lease, written: &mut HashMap<HealthKey, State>, all: bool) -> bool {
        let now = Instant::now();
        let mut wanted: HashMap<HealthKey, VoteValue> = HashMap::new();
        for (key, entry, _) in self.health.running() {
            let st = entry.status(now);
            if st.state == State::Unknown {
                continue; // no result yet: no vote
            }
            let at_ms = unix_millis();
            let since_ms = at_ms.saturating_sub(st.since_change.map_or(0, |d| d.as_millis() as u64));
            let detail = st.last.map(|r| r.detail).unwrap_or_default();
            wanted.insert(key, VoteValue { state: st.state.to_string(), detail, since_ms, at_ms });
        }
        for (key, v) in &wanted {
            if !all && written.get(key) == Some(&v.state()) {
                continue;
            }
            let value = serde_json::to_vec(v).unwrap_or_default();
            match self.client.put(self.keys.vote_key(key).as_bytes(), &value, Some(lease.id)).await {
                Ok(_) => {
                    written.insert(key.clone(), v.state());
                }
                Err(e) => {
                    tracing::debug!(%key, error = %e, "fleet: vote not written");
                    self.shared.set_lease("alive".into(), Some(format!("writing a vote: {e}")));
                    return false;
                }
            }
        }
        let gone: Vec<HealthKey> = written.keys().filter(|k| !wanted.contains_key(*k)).cloned().collect();
        for key in gone {
            if self.client.delete(self.keys.vote_key(&key).as_bytes()).await.is_err() {
                return false;
            }
            written.remove(&key);
        }
        true
    }
}
