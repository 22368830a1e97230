//! The JSON of etcd's v3 gateway (grpc-gateway, proto3 JSON mapping), checked against etcd
//! 3.4.23:
//! - `bytes` fields (keys, values) are base64 strings;
//! - `int64`/`uint64` fields are decimal *strings* (`"revision":"5"`); numbers are accepted too;
//! - fields holding their zero value are omitted (`"succeeded"` missing means false, a
//!   keepalive answer without `"TTL"` means the lease is gone, a PUT event has no `"type"`);
//! - unary errors are `{"error":"…","message":"…","code":N}`, stream errors
//!   `{"error":{"grpc_code":N,"message":"…",…}}`; streaming answers wrap each message in
//!   `{"result":…}` and end each with a newline.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer};

use super::Error;

pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn unb64(s: &str, what: &str) -> Result<Vec<u8>, Error> {
    STANDARD.decode(s).map_err(|e| Error::Protocol(format!("{what}: bad base64: {e}")))
}

/// An int64 sent as a string or a number; absent means 0.
fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        N(i64),
        U(u64),
    }
    match Raw::deserialize(d)? {
        Raw::S(s) => s.parse::<i64>().or_else(|_| s.parse::<u64>().map(|u| u as i64)).map_err(serde::de::Error::custom),
        Raw::N(n) => Ok(n),
        // uint64 ids (member, cluster) above i64::MAX keep their bits.
        Raw::U(u) => Ok(u as i64),
    }
}

#[derive(Deserialize, Default, Debug)]
pub(crate) struct RawHeader {
    #[serde(default, deserialize_with = "int")]
    pub revision: i64,
    #[serde(default, deserialize_with = "int")]
    pub member_id: i64,
}

#[derive(Deserialize, Debug)]
pub(crate) struct RawKv {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default, deserialize_with = "int")]
    create_revision: i64,
    #[serde(default, deserialize_with = "int")]
    mod_revision: i64,
    #[serde(default, deserialize_with = "int")]
    version: i64,
    #[serde(default, deserialize_with = "int")]
    lease: i64,
}

/// One key as etcd stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// Revision of the write that created the key (0 in a DELETE event).
    pub create_revision: i64,
    /// Revision of the last write to the key: the `If-Match` token for [`super::Client::txn_put_if`].
    pub mod_revision: i64,
    /// Number of writes since creation (1 after the first put).
    pub version: i64,
    /// Lease the key is attached to, 0 for none.
    pub lease: i64,
}

impl RawKv {
    pub(crate) fn decode(self) -> Result<KeyValue, Error> {
        Ok(KeyValue {
            key: unb64(&self.key, "key")?,
            value: unb64(&self.value, "value")?,
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
            lease: self.lease,
        })
    }
}

pub(crate) fn decode_kvs(raw: Vec<RawKv>) -> Result<Vec<KeyValue>, Error> {
    raw.into_iter().map(RawKv::decode).collect()
}

/// A unary error body, or the `error` object of a stream message.
#[derive(Deserialize, Debug)]
#[serde(untagged)]
pub(crate) enum RawError {
    Unary {
        #[serde(default)]
        code: i32,
        #[serde(default)]
        message: String,
        #[serde(default)]
        error: String,
    },
    Stream {
        error: RawStreamError,
    },
}

#[derive(Deserialize, Debug)]
pub(crate) struct RawStreamError {
    #[serde(default)]
    grpc_code: i32,
    #[serde(default)]
    message: String,
}

impl RawError {
    pub(crate) fn into_error(self) -> Error {
        match self {
            RawError::Unary { code, message, error } => {
                Error::Etcd { code, message: if message.is_empty() { error } else { message } }
            }
            RawError::Stream { error } => Error::Etcd { code: error.grpc_code, message: error.message },
        }
    }
}

/// Parses a unary answer: the typed body on HTTP 200, etcd's error otherwise.
pub(crate) fn parse_unary<T: for<'de> Deserialize<'de>>(status: u16, body: &[u8]) -> Result<T, Error> {
    if status == 200 {
        return serde_json::from_slice(body).map_err(|e| Error::Protocol(format!("{e} in {}", snippet(body))));
    }
    match serde_json::from_slice::<RawError>(body) {
        Ok(e) => match e.into_error() {
            Error::Etcd { code: 0, message } => {
                Err(Error::Protocol(format!("HTTP {status} without a gRPC code: {}", snippet(message.as_bytes()))))
            }
            e => Err(e),
        },
        Err(_) => Err(Error::Protocol(format!("HTTP {status}: {}", snippet(body)))),
    }
}

/// At most 200 characters of a body, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(200)]);
    s.chars().filter(|c| !c.is_control()).collect()
}

// ---- response bodies -----------------------------------------------------------------------

#[derive(Deserialize, Debug)]
pub(crate) struct HeaderOnly {
    #[serde(default)]
    pub header: RawHeader,
}

#[derive(Deserialize, Debug)]
pub(crate) struct RangeBody {
    #[serde(default)]
    pub header: RawHeader,
    #[serde(default)]
    pub kvs: Vec<RawKv>,
    #[serde(default)]
    pub more: bool,
    #[serde(default, deserialize_with = "int")]
    pub count: i64,
}

#[derive(Deserialize, Debug)]
pub(crate) struct DeleteBody {
    #[serde(default)]
    pub header: RawHeader,
    #[serde(default, deserialize_with = "int")]
    pub deleted: i64,
}

#[derive(Deserialize, Debug)]
pub(crate) struct TxnBody {
    #[serde(default)]
    pub header: RawHeader,
    #[serde(default)]
    pub succeeded: bool,
    #[serde(default)]
    pub responses: Vec<TxnResponseOp>,
}

#[derive(Deserialize, Debug)]
pub(crate) struct TxnResponseOp {
    #[serde(default)]
    pub response_range: Option<RangeBody>,
}

#[derive(Deserialize, Debug)]
pub(crate) struct LeaseBody {
    #[serde(rename = "ID", default, deserialize_with = "int")]
    pub id: i64,
    #[serde(rename = "TTL", default, deserialize_with = "int")]
    pub ttl: i64,
    #[serde(default)]
    pub error: String,
}

#[derive(Deserialize, Debug)]
pub(crate) struct AuthBody {
    #[serde(default)]
    pub token: String,
}

#[derive(Deserialize, Debug)]
pub(crate) struct StatusBody {
    #[serde(default)]
    pub header: RawHeader,
    #[serde(default)]
    pub version: String,
    #[serde(default, deserialize_with = "int")]
    pub leader: i64,
    #[serde(rename = "raftTerm", default, deserialize_with = "int")]
    pub raft_term: i64,
}

/// One message of a streaming answer (watch, lease keepalive).
#[derive(Deserialize, Debug)]
pub(crate) struct StreamMsg<T> {
    pub result: Option<T>,
    pub error: Option<RawStreamError>,
}

impl<T> StreamMsg<T> {
    pub(crate) fn into_result(self) -> Result<T, Error> {
        match (self.result, self.error) {
            (_, Some(e)) => Err(RawError::Stream { error: e }.into_error()),
            (Some(r), None) => Ok(r),
            (None, None) => Err(Error::Protocol("stream message with neither result nor error".into())),
        }
    }
}

#[derive(Deserialize, Debug)]
pub(crate) struct WatchBody {
    #[serde(default)]
    pub header: RawHeader,
    #[serde(default)]
    pub created: bool,
    #[serde(default)]
    pub canceled: bool,
    #[serde(default, deserialize_with = "int")]
    pub compact_revision: i64,
    #[serde(default)]
    pub cancel_reason: String,
    #[serde(default)]
    pub events: Vec<RawEvent>,
}

#[derive(Deserialize, Debug)]
pub(crate) struct RawEvent {
    /// "PUT" is the zero value and therefore omitted; "DELETE" is spelled out.
    #[serde(rename = "type", default)]
    pub kind: String,
    pub kv: Option<RawKv>,
    pub prev_kv: Option<RawKv>,
}

/// `range_end` for "every key starting with `prefix`" (etcd's `GetPrefixRangeEnd`): the prefix
/// with its last byte below 0xff incremented and what follows it dropped; `\0` (= to the end of
/// the keyspace) when there is no such byte.
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_matches_etcd() {
        assert_eq!(prefix_end(b"a/"), b"a0");
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b");
        assert_eq!(prefix_end(&[0xff, 0xff]), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }

    #[test]
    fn int64_as_string_number_or_absent() {
        let h: RawHeader = serde_json::from_str(r#"{"revision":"42","member_id":"13668033151171901709"}"#).unwrap();
        assert_eq!(h.revision, 42);
        assert_eq!(h.member_id as u64, 13668033151171901709);
        let h: RawHeader = serde_json::from_str(r#"{"revision":7}"#).unwrap();
        assert_eq!((h.revision, h.member_id), (7, 0));
        assert!(serde_json::from_str::<RawHeader>(r#"{"revision":"x"}"#).is_err());
        assert!(serde_json::from_str::<RawHeader>(r#"{"revision":[1]}"#).is_err());
    }

    #[test]
    fn errors_decode_without_panicking() {
        let e = parse_unary::<HeaderOnly>(401, br#"{"error":"etcdserver: invalid auth token","code":16}"#);
        assert_eq!(e.unwrap_err(), Error::Etcd { code: 16, message: "etcdserver: invalid auth token".into() });
        assert!(matches!(parse_unary::<HeaderOnly>(502, b"<html>bad gateway"), Err(Error::Protocol(_))));
        assert!(matches!(parse_unary::<HeaderOnly>(500, b"{}"), Err(Error::Protocol(_))));
        assert!(matches!(parse_unary::<RangeBody>(200, br#"{"kvs":"no"}"#), Err(Error::Protocol(_))));
        let bad_b64: RangeBody = serde_json::from_str(r#"{"kvs":[{"key":"%%%"}]}"#).unwrap();
        assert!(matches!(decode_kvs(bad_b64.kvs), Err(Error::Protocol(_))));
        let m: StreamMsg<WatchBody> =
            serde_json::from_str(r#"{"error":{"grpc_code":14,"http_code":503,"message":"no leader"}}"#).unwrap();
        assert_eq!(m.into_result().unwrap_err(), Error::Etcd { code: 14, message: "no leader".into() });
    }

    #[test]
    fn snippet_is_bounded_and_printable() {
        let s = snippet(&[b'x'; 10_000]);
        assert_eq!(s.len(), 200);
        assert_eq!(snippet(b"a\nb\x00c"), "abc");
    }
}
