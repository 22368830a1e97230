//! Leases: grant, one keepalive, revoke, and a background task that keeps a lease alive and
//! says when it could not.
//!
//! Over the gateway a keepalive is one `POST /v3/lease/keepalive {"ID":…}`: etcd answers one
//! stream message and ends the stream when our request body ends. An answer without `TTL`
//! means the lease is gone (expired or revoked): its keys have been deleted by etcd.

use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::transport::Retry;
use super::wire::{self, HeaderOnly, LeaseBody, StreamMsg};
use super::{Client, Error};

/// A lease's id (etcd's int64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseId(pub i64);

/// A granted lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    pub id: LeaseId,
    /// Seconds etcd granted (it may raise a too-small request to its minimum).
    pub ttl: i64,
}

/// What the keepalive task knows about its lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseState {
    /// The last keepalive succeeded at `at`; etcd reset the lease to `ttl` seconds.
    Alive { ttl: i64, at: Instant },
    /// Keepalives fail since `since` (the lease may still be alive in etcd until `since + ttl`).
    Unreachable { since: Instant, error: String },
    /// etcd says the lease does not exist any more; its keys are gone. The task has stopped:
    /// grant a new lease and write the keys again.
    Expired,
}

/// Handle of a keepalive task; dropping it stops the task (the lease then expires by itself,
/// or call [`Client::lease_revoke`] to drop it at once).
pub struct KeepAlive {
    state: watch::Receiver<LeaseState>,
    task: JoinHandle<()>,
}

impl KeepAlive {
    /// The current state.
    pub fn state(&self) -> LeaseState {
        self.state.borrow().clone()
    }

    /// A receiver that sees every change of state.
    pub fn subscribe(&self) -> watch::Receiver<LeaseState> {
        self.state.clone()
    }

    /// Resolves when etcd says the lease is gone.
    pub async fn expired(&mut self) {
        let _ = self.state.wait_for(|s| *s == LeaseState::Expired).await;
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Grants a lease of `ttl` seconds.
    pub async fn lease_grant(&self, ttl: i64) -> Result<Lease, Error> {
        if ttl <= 0 {
            return Err(Error::Config(format!("lease ttl must be positive, got {ttl}")));
        }
        let body = json!({"TTL": ttl.to_string()});
        // Not re-sent after a timeout: a second grant would leave an orphan lease behind.
        let r: LeaseBody = self.t.call("/v3/lease/grant", &body, Retry::OnlyIfNotSent, wire::parse_unary).await?;
        if !r.error.is_empty() {
            return Err(Error::Etcd { code: 0, message: r.error });
        }
        if r.id == 0 || r.ttl <= 0 {
            return Err(Error::Protocol(format!("lease grant without id or ttl (id {}, ttl {})", r.id, r.ttl)));
        }
        Ok(Lease { id: LeaseId(r.id), ttl: r.ttl })
    }

    /// Renews a lease once. `Some(ttl)`: alive again for `ttl` seconds; `None`: it is gone.
    pub async fn lease_keepalive(&self, id: LeaseId) -> Result<Option<i64>, Error> {
        let body = json!({"ID": id.0.to_string()});
        let r: LeaseBody = self.t.call("/v3/lease/keepalive", &body, Retry::Idempotent, parse_first_message).await?;
        Ok((r.ttl > 0).then_some(r.ttl))
    }

    /// Revokes a lease: its keys are deleted now. A lease that is already gone is not an error.
    pub async fn lease_revoke(&self, id: LeaseId) -> Result<(), Error> {
        let body = json!({"ID": id.0.to_string()});
        match self.t.call::<HeaderOnly, _>("/v3/lease/revoke", &body, Retry::Idempotent, wire::parse_unary).await {
            Ok(_) => Ok(()),
            Err(Error::Etcd { code: super::error::code::NOT_FOUND, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Starts a task that renews `lease` every ttl/3 (retrying every 500 ms while etcd is
    /// unreachable) until etcd says the lease is gone or the handle is dropped.
    pub fn keepalive_task(&self, lease: Lease) -> KeepAlive {
        let (tx, rx) = watch::channel(LeaseState::Alive { ttl: lease.ttl, at: Instant::now() });
        let client = self.clone();
        let task = tokio::spawn(async move {
            let period = renew_every(lease.ttl);
            let retry = Duration::from_millis(500).min(period);
            let mut wait = period;
            loop {
                tokio::time::sleep(wait).await;
                let next = match client.lease_keepalive(lease.id).await {
                    Ok(Some(ttl)) => {
                        wait = renew_every(ttl);
                        LeaseState::Alive { ttl, at: Instant::now() }
                    }
                    Ok(None) => {
                        tracing::warn!(lease = lease.id.0, "etcd lease expired");
                        let _ = tx.send(LeaseState::Expired);
                        return;
                    }
                    Err(e) => {
                        wait = retry;
                        let since = match &*tx.borrow() {
                            LeaseState::Unreachable { since, .. } => *since,
                            _ => Instant::now(),
                        };
                        tracing::debug!(lease = lease.id.0, error = %e, "etcd lease keepalive failed");
                        LeaseState::Unreachable { since, error: e.to_string() }
                    }
                };
                if tx.send(next).is_err() {
                    return; // every receiver dropped
                }
            }
        });
        KeepAlive { state: rx, task }
    }
}

/// A third of the TTL, between 300 ms and 20 minutes whatever etcd said.
fn renew_every(ttl: i64) -> Duration {
    let ms = u64::try_from(ttl).unwrap_or(0).saturating_mul(1000) / 3;
    Duration::from_millis(ms.clamp(300, 20 * 60 * 1000))
}

/// A one-message stream answer (`{"result":…}\n`), or etcd's error.
fn parse_first_message(status: u16, body: &[u8]) -> Result<LeaseBody, Error> {
    if status != 200 {
        return wire::parse_unary::<LeaseBody>(status, body);
    }
    let line = body.split(|b| *b == b'\n').find(|l| !l.iter().all(u8::is_ascii_whitespace));
    let Some(line) = line else { return Err(Error::Protocol("empty keepalive answer".into())) };
    let msg: StreamMsg<LeaseBody> =
        serde_json::from_slice(line).map_err(|e| Error::Protocol(format!("{e} in {}", wire::snippet(line))))?;
    msg.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_period_is_bounded() {
        assert_eq!(renew_every(3), Duration::from_secs(1));
        assert_eq!(renew_every(0), Duration::from_millis(300));
        assert_eq!(renew_every(-7), Duration::from_millis(300));
        assert_eq!(renew_every(i64::MAX), Duration::from_secs(1200));
    }

    #[test]
    fn keepalive_answers() {
        let ok = br#"{"result":{"header":{"revision":"6"},"ID":"41","TTL":"5"}}
"#;
        assert_eq!(parse_first_message(200, ok).unwrap().ttl, 5);
        let gone = br#"{"result":{"header":{"revision":"6"},"ID":"12345"}}"#;
        assert_eq!(parse_first_message(200, gone).unwrap().ttl, 0);
        assert!(matches!(parse_first_message(200, b""), Err(Error::Protocol(_))));
        assert!(matches!(parse_first_message(200, b"{\"result\":"), Err(Error::Protocol(_))));
        let e = parse_first_message(200, br#"{"error":{"grpc_code":14,"message":"no leader"}}"#).unwrap_err();
        assert_eq!(e, Error::Etcd { code: 14, message: "no leader".into() });
    }
}
