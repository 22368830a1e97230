//! DNS over TCP (RFC 7766): pipelined queries are answered in order on each connection, under
//! limits on connections in total and per client address, idle time, lifetime and queries per
//! connection, all from the config.
//!
//! ```text
//! accept ─► slot (total / per address; at a limit the idlest connection is evicted: slots.rs)
//!        ─► connection task:
//!   read into the buffer ─► every complete frame: respond_with ─► Observer ─► reply frame
//!   ─► write the replies of the batch at once ─► read more (idle timeout, lifetime)
//! close: at the query limit, on idle/lifetime, when evicted, or at stop:
//!   answer the complete queries already read ─► flush ─► shut down the write half (FIN)
//!   ─► drain the input until the client closes (bounded), so no reset destroys a written reply
//! ```
//!
//! A connection never holds more than one partial query plus one read chunk in memory.
mod slots;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout};

use super::xfr::Handled;
use super::{Observer, Outcome, Transport, respond_with};
use crate::serving::{AnswerSource, Shared};
use crate::util::rng::{SplitMix64, entropy_seed};
pub use slots::{Slot, TcpCounters};

/// How much is read at a time.
const READ_CHUNK: usize = 4096;
/// After the write half is shut down, how long the client has to close its side.
const DRAIN_TIME: Duration = Duration::from_secs(2);
/// The most input discarded while draining.
const DRAIN_BYTES: usize = 1 << 20;

/// Accepts connections until `stop` turns true, then stops accepting (the listener is closed)
/// and returns once every connection has answered what it had read and closed.
pub async fn serve_tcp<S: AnswerSource, O: Observer<S>>(
    listener: TcpListener,
    shared: Shared<S>,
    counters: Arc<TcpCounters>,
    observer: O,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        // Reap finished connection tasks so the set does not grow with the connection count.
        while conns.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: wait a little instead of spinning.
                tracing::warn!(error = %e, "tcp accept error");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let limits = shared.load().config().server.tcp.clone();
        // At a limit, the idlest connection makes room (slots.rs).
        let Some(slot) = counters.take(peer.ip(), limits.max_connections, limits.max_connections_per_ip) else {
            drop(stream);
            continue;
        };
        let (shared, observer, stop) = (shared.clone(), observer.clone(), stop.clone());
        conns.spawn(async move {
            let _ = stream.set_nodelay(true);
            Connection::new(stream, peer, slot, shared, observer, stop).serve().await;
        });
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

struct Connection<S: AnswerSource, O: Observer<S>> {
    stream: TcpStream,
    peer: SocketAddr,
    /// Its place in the connection table: released on drop, told when evicted.
    slot: Slot,
    shared: Shared<S>,
    observer: O,
    stop: watch::Receiver<bool>,
    /// Bytes read and not yet answered: at most one partial frame plus one read chunk.
    input: Vec<u8>,
    /// The replies of the frames answered since the last write, framed.
    replies: Vec<u8>,
    out: Vec<u8>,
    rng: SplitMix64,
    outcome: Outcome,
    answered: usize,
}

/// What ended a connection's wait for input.
enum Wait {
    Read(Result<std::io::Result<usize>, tokio::time::error::Elapsed>),
    Stop,
    Evicted,
}

impl<S: AnswerSource, O: Observer<S>> Connection<S, O> {
    fn new(
        stream: TcpStream,
        peer: SocketAddr,
        slot: Slot,
        shared: Shared<S>,
        observer: O,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Connection {
            stream,
            peer,
            slot,
            shared,
            observer,
            stop,
            input: Vec::with_capacity(READ_CHUNK),
            replies: Vec::with_capacity(READ_CHUNK),
            out: Vec::with_capacity(READ_CHUNK),
            rng: SplitMix64::new(entropy_seed()),
            outcome: Outcome::default(),
            answered: 0,
        }
    }

    async fn serve(mut self) {
        let limits = self.shared.load().config().server.tcp.clone();
        let deadline = Instant::now() + limits.max_lifetime;
        loop {
            self.answer_complete(limits.max_queries_per_connection);
            if !self.flush(limits.idle_timeout).await {
                return; // the client is gone or stalled: nothing to save
            }
            if self.answered >= limits.max_queries_per_connection || *self.stop.borrow() {
                break;
            }
            let wait = limits.idle_timeout.min(deadline.saturating_duration_since(Instant::now()));
            self.input.reserve(READ_CHUNK);
            let read = tokio::select! {
                r = timeout(wait, self.stream.read_buf(&mut self.input)) => Wait::Read(r),
                r = self.stop.wait_for(|s| *s) => {
                    drop(r);
                    Wait::Stop
                }
                () = self.slot.evicted() => Wait::Evicted,
            };
            match read {
                Wait::Read(Ok(Ok(n))) if n > 0 => self.slot.touch(),
                Wait::Read(Ok(Ok(_))) => return, // the client closed: every complete query was answered
                Wait::Read(Ok(Err(_))) => return, // a read error: the connection is gone
                // Idle (nothing unread, so closing cannot reset anything) or past its lifetime.
                Wait::Read(Err(_)) => {
                    let busy = !self.input.is_empty() || Instant::now() >= deadline;
                    return self.close(busy).await;
                }
                // The idlest connection, closed to make room for another: as an idle one.
                Wait::Evicted => {
                    let busy = !self.input.is_empty();
                    return self.close(busy).await;
                }
                // Stopping: take what the kernel already holds for us; the loop answers it.
                Wait::Stop => self.read_ready(),
            }
        }
        // At the query limit or stopping: input may be waiting unread.
        self.close(true).await;
    }

    /// Reads what is already readable, without waiting (bounded by one frame's worth).
    fn read_ready(&mut self) {
        while self.input.len() < 2 + usize::from(u16::MAX) {
            self.input.reserve(READ_CHUNK);
            match self.stream.try_read_buf(&mut self.input) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
    }

    /// Answers every complete frame in the input, up to the connection's query limit.
    fn answer_complete(&mut self, limit: usize) {
        let mut at = 0;
        while self.answered < limit {
            let Some(len) = self.input.get(at..at + 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else {
                break;
            };
            let Some(query) = self.input.get(at + 2..at + 2 + len) else { break };
            let snap = self.shared.load();
            // AXFR and IXFR: answered here with as many messages as the zone needs.
            match super::xfr::transfer(&**snap, query, self.peer.ip(), &mut self.replies) {
                Handled::Done(report) => {
                    self.observer.observe_transfer(&snap, &report);
                    self.answered += 1;
                    at += 2 + len;
                    continue;
                }
                Handled::Refuse(report) => self.observer.observe_transfer(&snap, &report),
                Handled::NotTransfer => {}
            }
            let reply = respond_with(
                &**snap,
                query,
                self.peer.ip(),
                Transport::Tcp,
                &mut self.out,
                &mut self.rng,
                &mut self.outcome,
            );
            self.observer.observe(&snap, &self.outcome, Transport::Tcp, query, self.peer.ip());
            drop(snap);
            if let Some(w) = reply {
                self.replies.extend_from_slice(&(w.len as u16).to_be_bytes());
                self.replies.extend_from_slice(&self.out[..w.len]);
            }
            self.answered += 1;
            at += 2 + len;
        }
        self.input.drain(..at);
    }

    /// Writes the pending replies; false when that failed or timed out.
    async fn flush(&mut self, wait: Duration) -> bool {
        if self.replies.is_empty() {
            return true;
        }
        let ok = matches!(timeout(wait, self.stream.write_all(&self.replies)).await, Ok(Ok(())));
        self.replies.clear();
        ok
    }

    /// Shuts down the write half (the client sees FIN after the last reply); with `drain`, then
    /// reads and discards input until the client closes, so that closing with unread input
    /// (which makes the kernel send a reset) cannot destroy replies the client has not read yet.
    async fn close(mut self, drain: bool) {
        if self.stream.shutdown().await.is_err() || !drain {
            return;
        }
        let deadline = Instant::now() + DRAIN_TIME;
        let mut sink = [0u8; READ_CHUNK];
        let mut drained = 0;
        while drained < DRAIN_BYTES {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut sink)).await {
                Ok(Ok(n)) if n > 0 => drained += n,
                _ => break,
            }
        }
    }
}
