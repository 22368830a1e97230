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
//!
//! Threads ([`spawn_tcp_workers`]): each listen address has one SO_REUSEPORT listener per
//! worker (as many as UDP workers, `server.udp_workers`), and each listener is served by its
//! own thread with its own single-threaded runtime, so a connection lives and dies on the
//! thread that accepted it (the kernel spreads new connections over the listeners), as Knot's
//! and NSD's TCP workers do. On the work-stealing runtime every connection's readiness was
//! handed between threads: with a new connection per query (`examples/tcp_churn.rs`, 8
//! clients, 2-core machine), gslbd spent 48.5 µs of CPU per query against Knot's 34–37 µs; one
//! thread per listener: 40–42 µs in 3 of 4 runs (48 in one), Knot 36–38 in the same runs.
mod slots;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, timeout};

use super::xfr::Handled;
use super::{Observer, Outcome, Transport, respond_with};
use crate::serving::{AnswerSource, Shared};
use crate::util::rng::{SplitMix64, entropy_seed};
pub use slots::{Slot, TcpCounters};

/// How much is read at a time once a connection has shown it sends more than one small read.
const READ_CHUNK: usize = 4096;
/// The first buffers' size: a query and its reply fit, and buffers this small come from the
/// allocator's per-thread cache, where 4 KiB ones took ~400 instructions each (callgrind,
/// `tcp_churn`): most connections carry one query (a resolver retrying after TC).
const FIRST_CHUNK: usize = 512;
/// After the write half is shut down, how long the client has to close its side.
const DRAIN_TIME: Duration = Duration::from_secs(2);
/// The most input discarded while draining.
const DRAIN_BYTES: usize = 1 << 20;

/// Serves each of `listeners` (the SO_REUSEPORT TCP sockets of one address) with
/// [`serve_tcp`] on its own thread and single-threaded runtime. The returned future ends when
/// every thread has: after `stop` turns true, once their connections have answered and closed.
pub fn spawn_tcp_workers<S, O>(
    listeners: Vec<std::net::TcpListener>,
    shared: Shared<S>,
    counters: Arc<TcpCounters>,
    observer: O,
    stop: watch::Receiver<bool>,
) -> std::io::Result<impl Future<Output = ()> + Send + 'static>
where
    S: AnswerSource + 'static,
    O: Observer<S> + 'static,
{
    let mut done = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let listener = {
            let _in_rt = rt.enter();
            TcpListener::from_std(listener)?
        };
        let (shared, counters, observer, stop) = (shared.clone(), counters.clone(), observer.clone(), stop.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new().name(format!("tcp-{i}")).spawn(move || {
            rt.block_on(serve_tcp(listener, shared, counters, observer, stop));
            drop(tx);
        })?;
        done.push(rx);
    }
    Ok(async move {
        for rx in done {
            let _ = rx.await;
        }
    })
}

/// Accepts connections until `stop` turns true, then stops accepting (the listener is closed)
/// and returns once every connection has answered what it had read and closed.
pub async fn serve_tcp<S: AnswerSource, O: Observer<S>>(
    listener: TcpListener,
    shared: Shared<S>,
    counters: Arc<TcpCounters>,
    observer: O,
    mut stop: watch::Receiver<bool>,
) {
    // Accepted sockets inherit TCP_NODELAY from the listener (Linux copies the listener's
    // options into each new socket): one system call here instead of one per connection.
    if let Err(e) = socket2::SockRef::from(&listener).set_tcp_nodelay(true) {
        tracing::warn!(error = %e, "cannot set TCP_NODELAY on a TCP listener");
    }
    let conns = Arc::new(Open::default());
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
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
        // Boxed: the connection's future is a few KiB, and tokio moves a task's future (and
        // writes its stage, sized like it) several times between spawn and completion; a box
        // makes those moves a pointer's. Measured with callgrind on `tcp_churn` (a connection
        // per query): 4,270 instructions of memcpy per connection before, of 23,900 in all.
        let open = OpenGuard::new(&conns);
        tokio::spawn(Box::pin(async move {
            Connection::new(stream, peer, slot, shared, observer, stop).serve().await;
            drop(open);
        }));
    }
    drop(listener);
    conns.all_closed().await;
}

/// The connection tasks of one listener still running: counted rather than kept in a
/// `JoinSet`, whose bookkeeping (an entry per task, reaping on every accept) was ~1,200
/// instructions per connection (callgrind, `tcp_churn`).
#[derive(Default)]
struct Open {
    count: std::sync::atomic::AtomicUsize,
    closed: Notify,
}

impl Open {
    /// Resolves once no connection task is running.
    async fn all_closed(&self) {
        loop {
            let closed = self.closed.notified();
            tokio::pin!(closed);
            // Registered before the count is read, so a last close in between is not missed.
            closed.as_mut().enable();
            if self.count.load(std::sync::atomic::Ordering::Acquire) == 0 {
                return;
            }
            closed.await;
        }
    }
}

/// One running connection task; dropped when the task ends (a panic unwinding it included).
struct OpenGuard(Arc<Open>);

impl OpenGuard {
    fn new(open: &Arc<Open>) -> OpenGuard {
        open.count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        OpenGuard(open.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
            self.0.closed.notify_waiters();
        }
    }
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
    /// The room made before each read: [`FIRST_CHUNK`] until a read fills it, then [`READ_CHUNK`].
    chunk: usize,
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
            input: Vec::with_capacity(FIRST_CHUNK),
            replies: Vec::with_capacity(FIRST_CHUNK),
            out: Vec::with_capacity(FIRST_CHUNK),
            chunk: FIRST_CHUNK,
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
            self.input.reserve(self.chunk);
            let room = self.input.capacity() - self.input.len();
            // Biased, the read first: when input is already there nothing else is polled (no
            // timer, stop or eviction waiter registered); the stop flag is checked above.
            let read = tokio::select! {
                biased;
                r = timeout(wait, self.stream.read_buf(&mut self.input)) => Wait::Read(r),
                r = self.stop.wait_for(|s| *s) => {
                    drop(r);
                    Wait::Stop
                }
                () = self.slot.evicted() => Wait::Evicted,
            };
            match read {
                Wait::Read(Ok(Ok(n))) if n > 0 => {
                    if n == room {
                        self.chunk = READ_CHUNK; // more may be waiting: read more at a time
                    }
                    self.slot.touch();
                }
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
        let mut drained = 0;
        while drained < DRAIN_BYTES {
            // The input buffer is the sink (a local array would make every connection's task
            // a chunk larger, and it is moved when spawned).
            self.input.clear();
            self.input.reserve(READ_CHUNK);
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.input)).await {
                Ok(Ok(n)) if n > 0 => drained += n,
                _ => break,
            }
        }
    }
}
