//! A small etcd v3 client for the fleet layer, over etcd's JSON gateway with the HTTP
//! client gslbd already has (reqwest, HTTP/1.1, rustls with ring). No gRPC stack, no protoc.
//!
//! ```text
//! Client (Clone, Arc inside)
//!   ├─ put / range / get / txn_put_if / delete / delete_prefix     (kv.rs)
//!   ├─ lease_grant / lease_keepalive / lease_revoke / keepalive_task (lease.rs)
//!   ├─ watch(prefix, start_revision) → Watch: Stream<WatchItem>   (watch.rs)
//!   └─ status
//!        └─ Transport: endpoint failover, per-call deadline, bounded bodies, auth token (transport.rs)
//!             └─ wire.rs: the gateway's JSON (base64 bytes, int64 as strings, omitted zeros)
//! ```
//!
//! Getting started:
//! ```no_run
//! # async fn demo() -> Result<(), gslbd::cluster::etcd::Error> {
//! use gslbd::cluster::etcd::{Client, ClientConfig, TxnOutcome, WatchItem};
//! let client = Client::new(ClientConfig::new(["http://127.0.0.1:2379", "http://127.0.0.2:2379"]))?;
//! let lease = client.lease_grant(10).await?;
//! let _keepalive = client.keepalive_task(lease);
//! client.put(b"/gslbd/votes/web/http/node1", b"up", Some(lease.id)).await?;
//! let snapshot = client.range(b"/gslbd/votes/").await?;
//! let mut watch = client.watch(b"/gslbd/votes/", snapshot.revision + 1);
//! while let Some(item) = watch.next().await {
//!     if let WatchItem::Events { events, .. } = item { /* fold into the in-memory view */ }
//! }
//! # Ok(()) }
//! ```
//!
//! Invariants: every call ends within `ClientConfig::timeout` (a watch never ends by itself but
//! reports `Disconnected` when it loses etcd); no response is read past `max_response_bytes`;
//! nothing panics on a malformed answer; conditional writes are never re-sent once they may
//! have reached etcd.
mod config;
mod error;
mod kv;
mod lease;
mod transport;
mod watch;
mod wire;

use std::sync::Arc;

pub use config::{ClientConfig, Credentials, TlsConfig};
pub use error::{Error, code};
pub use kv::{RangeResult, TxnOutcome};
pub use lease::{KeepAlive, Lease, LeaseId, LeaseState};
pub use watch::{Event, EventKind, Watch, WatchItem, WatchOptions};
pub use wire::KeyValue;

/// An etcd client. Cheap to clone; clones share connections, the endpoint choice and the token.
#[derive(Clone)]
pub struct Client {
    t: Arc<transport::Transport>,
}

/// A member's answer to `maintenance/status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// etcd's version, e.g. "3.4.23".
    pub version: String,
    /// The member that answered, and the leader it knows (0: none).
    pub member_id: u64,
    pub leader: u64,
    pub revision: i64,
    pub raft_term: i64,
}

impl Client {
    /// Checks the configuration (every problem at once) and builds the HTTP client. Must run
    /// inside a Tokio runtime only when calls are made; building needs none.
    pub fn new(cfg: ClientConfig) -> Result<Client, Error> {
        Ok(Client { t: Arc::new(transport::Transport::new(cfg)?) })
    }

    /// Status of the member the client currently talks to (with failover like any call).
    pub async fn status(&self) -> Result<Status, Error> {
        let body = serde_json::json!({});
        let s: wire::StatusBody =
            self.t.call("/v3/maintenance/status", &body, transport::Retry::Idempotent, wire::parse_unary).await?;
        Ok(Status {
            version: s.version,
            member_id: s.header.member_id as u64,
            leader: s.leader as u64,
            revision: s.header.revision,
            raft_term: s.raft_term,
        })
    }

    /// The endpoint the next call will try first.
    pub fn current_endpoint(&self) -> &str {
        self.t.endpoint(self.t.current())
    }
}
