//! A watch on a key prefix that outlives connections, members and compactions.
//!
//! ```text
//! task: open POST /v3/watch {create_request{prefix, start_revision = next, progress_notify}}
//!         │ (endpoint that last worked first; Grpc-Metadata-hasleader so a member that loses
//!         │  its leader cancels the stream instead of going quiet)
//!         ▼
//!       read newline-delimited {"result":…} messages, each ≤ max_response_bytes
//!         created            → Connected; start "now" fixes next = header.revision + 1
//!         events             → Events; next = last event's mod_revision + 1
//!         progress notify    → next = header.revision + 1
//!         canceled+compacted → Reset (range of the prefix at revision R), next = R + 1
//!         silent ≥ watch_idle_check → status call to that member; failure = broken
//!         broken / ended     → Disconnected (once per outage), backoff, next endpoint
//! ```
//!
//! So a consumer that applies `Reset` as "replace everything under the prefix" and `Events` as
//! changes sees every revision exactly once, in order, across reconnects.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::transport::Transport;
use super::wire::{self, RawEvent, StreamMsg, WatchBody, b64, prefix_end};
use super::{Client, Error, KeyValue};

/// Whether an event wrote or deleted its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change. For a delete, `kv` holds the key and the delete's revision (`mod_revision`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
    /// The key before this change, when the watch asked for it (`prev_kv`).
    pub prev_kv: Option<KeyValue>,
}

/// What a watch delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchItem {
    /// The stream is (again) open on `endpoint`; changes after `revision` will follow.
    Connected { endpoint: String, revision: i64 },
    /// Changes, in revision order; `revision` is that of the last one.
    Events { revision: i64, events: Vec<Event> },
    /// The history needed to resume was compacted (or too large to replay): this is the whole
    /// prefix at `revision`. Replace the view; changes after `revision` follow.
    Reset { revision: i64, kvs: Vec<KeyValue> },
    /// The stream broke and is being re-opened; what the consumer holds may be stale.
    Disconnected { error: String },
}

/// Options of [`Client::watch_with`].
#[derive(Clone, Debug, Default)]
pub struct WatchOptions {
    /// Also deliver each changed key's previous version.
    pub prev_kv: bool,
}

/// A running watch: a [`futures_core::Stream`] of [`WatchItem`]s (and [`Watch::next`]). Dropping
/// it stops the background task and closes the connection.
pub struct Watch {
    rx: mpsc::Receiver<WatchItem>,
    task: JoinHandle<()>,
}

impl Watch {
    pub async fn next(&mut self) -> Option<WatchItem> {
        self.rx.recv().await
    }
}

impl futures_core::Stream for Watch {
    type Item = WatchItem;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WatchItem>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Watches every key under `prefix` from `start_revision` (0: from now on). To follow a
    /// prefix without gaps: `let r = range(prefix)`, apply `r.kvs`, then `watch(prefix, r.revision + 1)`.
    pub fn watch(&self, prefix: &[u8], start_revision: i64) -> Watch {
        self.watch_with(prefix, start_revision, WatchOptions::default())
    }

    pub fn watch_with(&self, prefix: &[u8], start_revision: i64, opts: WatchOptions) -> Watch {
        let (tx, rx) = mpsc::channel(64);
        let w = Watcher { client: self.clone(), prefix: prefix.to_vec(), next: start_revision.max(0), opts, tx };
        Watch { rx, task: tokio::spawn(w.run()) }
    }
}

struct Watcher {
    client: Client,
    prefix: Vec<u8>,
    /// First revision not yet delivered (0: "from now", before the first connection).
    next: i64,
    opts: WatchOptions,
    tx: mpsc::Sender<WatchItem>,
}

/// Why a stream ended.
enum End {
    ConsumerGone,
    /// Resume needs history that is gone, or a message was too large to take: re-list.
    NeedsReset(String),
    /// The token was refused: re-authenticate and re-open.
    Auth(String),
    Broken(String),
}

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

impl Watcher {
    fn t(&self) -> &Arc<Transport> {
        &self.client.t
    }

    async fn run(mut self) {
        let n = self.t().endpoint_count().max(1);
        let mut prefer = self.t().current();
        let mut backoff = BACKOFF_MIN;
        let mut outage_reported = false;
        let mut failed_before_start = false;
        let mut reset_due: Option<String> = None;
        loop {
            // "From now" after a failed first try would silently skip what happened meanwhile.
            if self.next == 0 && failed_before_start {
                reset_due = Some("the first connection failed".into());
            }
            if let Some(why) = reset_due.take() {
                match self.reset(&why).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        reset_due = Some(why);
                        if !self.report_outage(&mut outage_reported, format!("re-list failed: {e}")).await {
                            return;
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        continue;
                    }
                }
            }
            let body = self.create_request();
            let end = match self.t().open_stream(prefer, "/v3/watch", &body).await {
                Err(e) => {
                    if e.is_token_error() {
                        End::Auth(e.to_string())
                    } else {
                        End::Broken(e.to_string())
                    }
                }
                Ok((idx, resp)) => {
                    prefer = idx;
                    self.read(idx, resp, &mut outage_reported, &mut backoff).await
                }
            };
            match end {
                End::ConsumerGone => return,
                End::NeedsReset(why) => reset_due = Some(why),
                End::Auth(why) => {
                    tracing::info!(%why, "etcd watch: token refused, re-authenticating");
                    self.t().invalidate_current();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
                End::Broken(why) => {
                    if self.next == 0 {
                        failed_before_start = true;
                    }
                    if !self.report_outage(&mut outage_reported, why).await {
                        return;
                    }
                    prefer = (prefer + 1) % n;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    fn create_request(&self) -> Vec<u8> {
        let key = if self.prefix.is_empty() { vec![0u8] } else { self.prefix.clone() };
        let mut req = json!({
            "key": b64(&key),
            "range_end": b64(&prefix_end(&self.prefix)),
            "progress_notify": true,
        });
        if self.next > 0 {
            req["start_revision"] = json!(self.next.to_string());
        }
        if self.opts.prev_kv {
            req["prev_kv"] = json!(true);
        }
        serde_json::to_vec(&json!({ "create_request": req })).unwrap_or_default()
    }

    /// Sends `Disconnected` once per outage. False when the consumer is gone.
    async fn report_outage(&self, reported: &mut bool, error: String) -> bool {
        tracing::warn!(%error, "etcd watch interrupted");
        if *reported {
            return !self.tx.is_closed();
        }
        *reported = true;
        self.tx.send(WatchItem::Disconnected { error }).await.is_ok()
    }

    /// Re-lists the prefix and delivers it as `Reset`. Ok(false): the consumer is gone.
    async fn reset(&mut self, why: &str) -> Result<bool, Error> {
        tracing::info!(%why, "etcd watch: re-listing the prefix");
        let r = self.client.range(&self.prefix).await?;
        self.next = r.revision.saturating_add(1);
        Ok(self.tx.send(WatchItem::Reset { revision: r.revision, kvs: r.kvs }).await.is_ok())
    }

    async fn read(
        &mut self,
        idx: usize,
        mut resp: reqwest::Response,
        outage_reported: &mut bool,
        backoff: &mut Duration,
    ) -> End {
        let limit = self.t().cfg.max_response_bytes;
        let idle = self.t().cfg.watch_idle_check;
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let chunk = match tokio::time::timeout(idle, resp.chunk()).await {
                Err(_) => match self.t().probe(idx).await {
                    Ok(()) => continue,
                    Err(e) => return End::Broken(format!("stream silent for {idle:?} and {e}")),
                },
                Ok(Err(e)) => return End::Broken(format!("{}: stream: {e}", self.t().endpoint(idx))),
                Ok(Ok(None)) => return End::Broken(format!("{}: stream ended", self.t().endpoint(idx))),
                Ok(Ok(Some(c))) => c,
            };
            buf.extend_from_slice(&chunk);
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if let Some(end) = self.handle(idx, &line, outage_reported, backoff).await {
                    return end;
                }
            }
            if buf.len() > limit {
                return End::NeedsReset(format!("watch message over {limit} bytes"));
            }
        }
    }

    /// Applies one stream message; Some(end) when the stream must be dropped.
    async fn handle(
        &mut self,
        idx: usize,
        line: &[u8],
        outage_reported: &mut bool,
        backoff: &mut Duration,
    ) -> Option<End> {
        let msg: StreamMsg<WatchBody> = match serde_json::from_slice(line) {
            Ok(m) => m,
            Err(e) => return Some(End::Broken(format!("bad watch message: {e} in {}", wire::snippet(line)))),
        };
        let w = match msg.into_result() {
            Ok(w) => w,
            Err(e) if e.is_token_error() => return Some(End::Auth(e.to_string())),
            Err(e) => return Some(End::Broken(e.to_string())),
        };
        if w.canceled {
            if w.compact_revision > 0 {
                return Some(End::NeedsReset(format!("revision {} compacted (at {})", self.next, w.compact_revision)));
            }
            let reason = w.cancel_reason;
            if reason.contains("invalid auth token") || reason.contains("user name is empty") {
                return Some(End::Auth(reason));
            }
            return Some(End::Broken(format!("watch canceled: {reason}")));
        }
        if w.created {
            if self.next == 0 {
                self.next = w.header.revision.saturating_add(1);
            }
            *outage_reported = false;
            *backoff = BACKOFF_MIN;
            let item = WatchItem::Connected {
                endpoint: self.t().endpoint(idx).to_string(),
                revision: self.next.saturating_sub(1),
            };
            return if self.tx.send(item).await.is_err() { Some(End::ConsumerGone) } else { None };
        }
        if w.events.is_empty() {
            // Progress notification: everything up to header.revision has been delivered.
            if w.header.revision >= self.next {
                self.next = w.header.revision.saturating_add(1);
            }
            return None;
        }
        let events = match decode_events(w.events) {
            Ok(ev) => ev,
            Err(e) => return Some(End::Broken(e.to_string())),
        };
        let last = events.iter().map(|e| e.kv.mod_revision).max().unwrap_or(self.next);
        self.next = self.next.max(last.saturating_add(1));
        if self.tx.send(WatchItem::Events { revision: last, events }).await.is_err() {
            return Some(End::ConsumerGone);
        }
        None
    }
}

fn decode_events(raw: Vec<RawEvent>) -> Result<Vec<Event>, Error> {
    raw.into_iter()
        .map(|e| {
            let kind = match e.kind.as_str() {
                "" | "PUT" => EventKind::Put,
                "DELETE" => EventKind::Delete,
                other => return Err(Error::Protocol(format!("unknown event type {other:?}"))),
            };
            let kv = e.kv.ok_or_else(|| Error::Protocol("event without kv".into()))?.decode()?;
            let prev_kv = e.prev_kv.map(|p| p.decode()).transpose()?;
            Ok(Event { kind, kv, prev_kv })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_decode_or_fail_cleanly() {
        let w: StreamMsg<WatchBody> = serde_json::from_str(
            r#"{"result":{"header":{"revision":"6"},"events":[
                {"kv":{"key":"Zm9vMQ==","create_revision":"4","mod_revision":"5","version":"2","value":"YmF6"}},
                {"type":"DELETE","kv":{"key":"Zm9vMQ==","mod_revision":"6"}}]}}"#,
        )
        .unwrap();
        let ev = decode_events(w.into_result().unwrap().events).unwrap();
        assert_eq!(ev[0].kind, EventKind::Put);
        assert_eq!(ev[0].kv.value, b"baz");
        assert_eq!((ev[1].kind, ev[1].kv.mod_revision, ev[1].kv.key.as_slice()), (EventKind::Delete, 6, &b"foo1"[..]));
        let bad: Vec<RawEvent> = serde_json::from_str(r#"[{"type":"EXPLODE","kv":{"key":""}}]"#).unwrap();
        assert!(decode_events(bad).is_err());
        let no_kv: Vec<RawEvent> = serde_json::from_str(r#"[{"type":"PUT"}]"#).unwrap();
        assert!(decode_events(no_kv).is_err());
    }
}
