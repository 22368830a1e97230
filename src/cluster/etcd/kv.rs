//! Key-value calls: put, range (prefix), conditional put (compare on mod_revision), delete.

use serde_json::json;

use super::transport::Retry;
use super::wire::{self, DeleteBody, HeaderOnly, RangeBody, TxnBody, b64, prefix_end};
use super::{Client, Error, KeyValue, LeaseId};

/// What a range returned: the keys and the store revision they were read at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeResult {
    /// The store's revision when the range was served: watch from `revision + 1` to see every
    /// later change exactly once.
    pub revision: i64,
    /// Keys in byte order.
    pub kvs: Vec<KeyValue>,
}

/// The outcome of [`Client::txn_put_if`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnOutcome {
    /// The key matched and was written at `revision` (its new mod_revision).
    Written { revision: i64 },
    /// The key had moved on (or did not exist, or existed when 0 was expected): nothing was
    /// written. `current` is the key as it is now, `None` if absent (the `412` answer's body).
    Conflict { revision: i64, current: Option<KeyValue> },
}

impl Client {
    /// Writes `value` at `key`, attached to `lease` when given. Returns the new store revision.
    pub async fn put(&self, key: &[u8], value: &[u8], lease: Option<LeaseId>) -> Result<i64, Error> {
        let mut body = json!({"key": b64(key), "value": b64(value)});
        if let Some(l) = lease {
            body["lease"] = json!(l.0.to_string());
        }
        // A repeated put of the same value is harmless: safe to re-send after a timeout.
        let h: HeaderOnly = self.t.call("/v3/kv/put", &body, Retry::Idempotent, wire::parse_unary).await?;
        Ok(h.header.revision)
    }

    /// Every key starting with `prefix` (all keys for an empty prefix). The whole answer must fit
    /// in `max_response_bytes`, else [`Error::TooLarge`].
    pub async fn range(&self, prefix: &[u8]) -> Result<RangeResult, Error> {
        // etcd refuses an empty key; "\0" to "\0" is its spelling of "every key".
        let key = if prefix.is_empty() { &[0u8][..] } else { prefix };
        let body = json!({"key": b64(key), "range_end": b64(&prefix_end(prefix))});
        self.range_body(&body).await
    }

    /// One key (`None` if absent) and the store revision.
    pub async fn get(&self, key: &[u8]) -> Result<(i64, Option<KeyValue>), Error> {
        let r = self.range_body(&json!({"key": b64(key)})).await?;
        Ok((r.revision, r.kvs.into_iter().next()))
    }

    async fn range_body(&self, body: &serde_json::Value) -> Result<RangeResult, Error> {
        let r: RangeBody = self.t.call("/v3/kv/range", body, Retry::Idempotent, wire::parse_unary).await?;
        if r.more {
            // Only possible with a limit, which we never send; refuse a partial view.
            return Err(Error::Protocol(format!("range answer truncated ({} of {} keys)", r.kvs.len(), r.count)));
        }
        Ok(RangeResult { revision: r.header.revision, kvs: wire::decode_kvs(r.kvs)? })
    }

    /// Writes `value` at `key` only if the key's mod_revision is `expected_mod_revision`
    /// (0 = only if the key does not exist). The lost-update guard behind `If-Match`.
    /// Never re-sent once it may have reached etcd: a timeout then is
    /// `Error::Timeout { maybe_applied: true }` or an `Unavailable` saying so.
    pub async fn txn_put_if(
        &self,
        key: &[u8],
        value: &[u8],
        expected_mod_revision: i64,
        lease: Option<LeaseId>,
    ) -> Result<TxnOutcome, Error> {
        let k = b64(key);
        let mut put = json!({"key": k, "value": b64(value)});
        if let Some(l) = lease {
            put["lease"] = json!(l.0.to_string());
        }
        let body = json!({
            "compare": [{"key": k, "target": "MOD", "result": "EQUAL", "mod_revision": expected_mod_revision.to_string()}],
            "success": [{"request_put": put}],
            "failure": [{"request_range": {"key": k}}],
        });
        self.txn(&body).await
    }

    /// One conditional txn whose failure branch reads the key back.
    async fn txn(&self, body: &serde_json::Value) -> Result<TxnOutcome, Error> {
        let r: TxnBody = self.t.call("/v3/kv/txn", body, Retry::OnlyIfNotSent, wire::parse_unary).await?;
        if r.succeeded {
            return Ok(TxnOutcome::Written { revision: r.header.revision });
        }
        let current = match r.responses.into_iter().next().and_then(|op| op.response_range) {
            Some(range) => wire::decode_kvs(range.kvs)?.into_iter().next(),
            None => return Err(Error::Protocol("failed txn without its range answer".into())),
        };
        Ok(TxnOutcome::Conflict { revision: r.header.revision, current })
    }

    /// Deletes `key` only if its mod_revision is `expected_mod_revision`: `If-Match` for a
    /// delete. `Written` carries the delete's revision. Never re-sent once it may have reached etcd.
    pub async fn txn_delete_if(&self, key: &[u8], expected_mod_revision: i64) -> Result<TxnOutcome, Error> {
        let k = b64(key);
        let body = json!({
            "compare": [{"key": k, "target": "MOD", "result": "EQUAL", "mod_revision": expected_mod_revision.to_string()}],
            "success": [{"request_delete_range": {"key": k}}],
            "failure": [{"request_range": {"key": k}}],
        });
        self.txn(&body).await
    }

    /// Deletes `key`. Returns the store revision and how many keys went (0 or 1).
    pub async fn delete(&self, key: &[u8]) -> Result<(i64, i64), Error> {
        self.delete_body(&json!({"key": b64(key)})).await
    }

    /// Deletes every key starting with `prefix` (refuses the empty prefix).
    pub async fn delete_prefix(&self, prefix: &[u8]) -> Result<(i64, i64), Error> {
        if prefix.is_empty() {
            return Err(Error::Config("delete_prefix with an empty prefix would delete everything".into()));
        }
        self.delete_body(&json!({"key": b64(prefix), "range_end": b64(&prefix_end(prefix))})).await
    }

    async fn delete_body(&self, body: &serde_json::Value) -> Result<(i64, i64), Error> {
        let r: DeleteBody = self.t.call("/v3/kv/deleterange", body, Retry::Idempotent, wire::parse_unary).await?;
        Ok((r.header.revision, r.deleted))
    }
}
