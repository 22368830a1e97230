//! The UDP fast path: one blocking std thread per SO_REUSEPORT socket, each running a tight
//! `recvmmsg` → answer in place → `sendmmsg` loop over preallocated buffers, as gdnsd does.
//!
//! ```text
//! Batch::receive: recvmmsg(MSG_WAITFORONE, up to BATCH datagrams, + IP_PKTINFO / IPV6_PKTINFO cmsgs)
//!     │  datagram i: the query, the client, the address it was sent to
//!     ▼
//! Handler::begin_batch (gslbd: one arc-swap load of the serving state, one clock read)
//! Handler::handle(query, client) ─► reply i (gslbd: the reply cache, or respond_with → Observer::observe → RRL)
//!     ▼
//! Batch::send: sendmmsg(the replies, each to its client, from the address it was sent to)
//! ```
//!
//! Nothing here spawns a task or allocates per packet: every buffer and header array is
//! allocated once when the worker starts ([`batch`]). The loop is generic over a [`Handler`] so
//! that the benchmark's null responder (`examples/null_responder.rs`) runs the very same socket
//! code, and over the [`AnswerSource`] and [`Observer`] so that the server, the tests and the
//! tools run the same handler.
//!
//! Stopping ([`serve_until`]): the socket has a 100 ms receive timeout, so an idle worker sees
//! the stop flag within that time. Once it is set, the worker stops waiting: it reads and
//! answers whatever the kernel has already queued (bounded), then returns, so no query that
//! reached the socket before the stop goes unanswered.
//!
//! gslbd's handler keeps a per-worker cache of replies to plain queries ([`cache`]): a query
//! whose octets (all but the ID, and a Client Subnet option's address) it answered before under
//! the same serving state gets those octets again with its own ID and ECS address, without
//! parsing, lookup or encoding. A pooled answer is kept encoded too, and decided again for each
//! query ([`reply`]: the same decision, client and random draws as `respond_with`'s), its
//! addresses, TTL and ECS scope written into the copy ([`patch`]); what depends on the client's
//! address or the clock (cookies, signatures) is never kept. The observer and RRL see every
//! query alike, hit or miss.
//!
//! A datagram longer than [`RECV_BUF`] bytes (MSG_TRUNC) is dropped and reported to
//! [`Handler::oversize`]: a DNS query that large does not exist in practice. gslbd's handler
//! reports every datagram to its observer, answered or dropped with a [`DropReason`]
//! (malformed, oversize, rrl, other), so the metrics account for each one received.
#[allow(unsafe_code)]
mod batch;
mod cache;
#[cfg(test)]
mod kept_tests;
mod patch;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::Guard;

use super::cookies::badcookie_in_place;
use super::rrl::{Rrl, Verdict, slip_in_place};
use super::{DropReason, NoObserver, Observer, Outcome, Transport, respond_with, steer_again};
use crate::cookie::{BADCOOKIE, SlipReply};
use crate::serving::{AnswerSource, Shared};
use crate::util::rng::{SplitMix64, entropy_seed};
use batch::Batch;
pub use batch::{BATCH, RECV_BUF};
use cache::{Hit, ReplyCache};

/// How long an idle worker waits before it looks at the stop flag again.
const POLL: Duration = Duration::from_millis(100);
/// After a stop, at most this many batches are drained from the socket's queue.
const MAX_DRAIN_BATCHES: usize = 4096;

/// What a worker does with each datagram.
pub trait Handler {
    /// Called once before the datagrams of a batch are handled.
    fn begin_batch(&mut self) {}
    /// Writes the reply to `query` from `client` into `out` (empty, with capacity for a UDP
    /// reply) and returns its length, or `None` to send nothing.
    fn handle(&mut self, query: &[u8], client: SocketAddr, out: &mut Vec<u8>) -> Option<usize>;
    /// A datagram too long for the receive buffer was dropped.
    fn oversize(&mut self, _client: SocketAddr) {}
    /// Called once after the datagrams of a batch are handled, before the replies are sent.
    fn end_batch(&mut self) {}
}

/// gslbd's handler: [`respond_with`] on the state in service, then the observer (metrics, the
/// sampled query log) and response rate limiting, exactly as every other transport does them.
pub struct DnsHandler<S: AnswerSource, O: Observer<S> = NoObserver> {
    shared: Shared<S>,
    rrl: Arc<Rrl>,
    rng: SplitMix64,
    outcome: Outcome,
    observer: O,
    /// The state for the batch in progress (one arc-swap load per batch, no lock).
    snap: Option<Guard<Arc<S>>>,
    /// The rate limiter's clock, read once per batch.
    now: Duration,
    /// Whole replies to plain queries, for the state in service ([`cache`]).
    cache: ReplyCache<S>,
}

impl<S: AnswerSource> DnsHandler<S, NoObserver> {
    /// A handler that reports its outcomes to nobody.
    pub fn new(shared: Shared<S>, rrl: Arc<Rrl>) -> DnsHandler<S, NoObserver> {
        DnsHandler::with_observer(shared, rrl, NoObserver)
    }
}

impl<S: AnswerSource, O: Observer<S>> DnsHandler<S, O> {
    /// A handler that reports every outcome to `observer`.
    pub fn with_observer(shared: Shared<S>, rrl: Arc<Rrl>, observer: O) -> DnsHandler<S, O> {
        DnsHandler {
            shared,
            rrl,
            rng: SplitMix64::new(entropy_seed()),
            outcome: Outcome::default(),
            observer,
            snap: None,
            now: Duration::ZERO,
            cache: ReplyCache::new(),
        }
    }
}

impl<S: AnswerSource, O: Observer<S>> Handler for DnsHandler<S, O> {
    fn begin_batch(&mut self) {
        let snap = self.shared.load();
        self.cache.serve_under(&snap);
        self.snap = Some(snap);
        self.now = self.rrl.elapsed();
    }

    fn handle(&mut self, query: &[u8], client: SocketAddr, out: &mut Vec<u8>) -> Option<usize> {
        let state: &S = self.snap.as_ref()?;
        if client.port() == 0 {
            // Cannot be answered; a reflection attempt.
            self.observer.observe(state, &DropReason::Other.outcome(), Transport::Udp, query, client.ip());
            return None;
        }
        let reply = reply(state, &mut self.cache, query, client.ip(), out, &mut self.rng, &mut self.outcome);
        let cookie = self.outcome.cookie;
        let sent = reply.and_then(|len| {
            // A valid server cookie proves the source address: no rate limit (RFC 7873 §5.3,
            // as Knot and Unbound do), and the reply does not debit the network's bucket.
            if cookie.is_some_and(|d| d.status.rrl_exempt()) {
                return Some(len);
            }
            match self.rrl.check(&out[..len], client.ip(), self.now) {
                Verdict::Send => Some(len),
                // Header and question only: no steered records given out.
                Verdict::Slip => {
                    self.outcome.steered = None;
                    match cookie {
                        // The client sent a cookie: BADCOOKIE with a fresh one instead of TC, so
                        // its next UDP query carries a valid cookie and is exempt (no TCP fallback).
                        Some(d) if d.on_rrl_slip() == SlipReply::BadCookie => {
                            self.outcome.rcode = BADCOOKIE;
                            let c = d.cookie.as_ref().map(|c| c.as_bytes()).unwrap_or(&[]);
                            Some(badcookie_in_place(out, len, c, self.outcome.dnssec_ok))
                        }
                        _ => {
                            self.outcome.truncated = true;
                            Some(slip_in_place(out, len))
                        }
                    }
                }
                Verdict::Drop => {
                    self.outcome.replied = false;
                    self.outcome.drop = DropReason::Rrl;
                    None
                }
            }
        });
        // Counted before the reply leaves, so a client that has its answer sees it counted.
        self.observer.observe(state, &self.outcome, Transport::Udp, query, client.ip());
        sent
    }

    fn oversize(&mut self, client: SocketAddr) {
        if let Some(state) = self.snap.as_ref() {
            self.observer.observe(state, &DropReason::Oversize.outcome(), Transport::Udp, &[], client.ip());
        }
    }

    fn end_batch(&mut self) {
        self.snap = None;
    }
}

/// The reply to `query` from `client`, written into `out` (its length; `None`: send nothing):
/// from the reply cache when a slot keeps it (a pooled one decided again, [`from_kept`]), else
/// [`respond_with`]'s, then kept when it may be. Either way `outcome` says what happened, and
/// `rng` makes the same draws: a kept pooled reply takes exactly `respond_with`'s decision.
pub(crate) fn reply<S: AnswerSource>(
    state: &S,
    cache: &mut ReplyCache<S>,
    query: &[u8],
    client: IpAddr,
    out: &mut Vec<u8>,
    rng: &mut SplitMix64,
    outcome: &mut Outcome,
) -> Option<usize> {
    if let Some(len) = cache.find(query).and_then(|hit| from_kept(state, &hit, client, out, rng, outcome)) {
        return Some(len);
    }
    let w = respond_with(state, query, client, Transport::Udp, out, rng, outcome)?;
    cache.put(query, &out[..w.len], outcome);
    Some(w.len)
}

/// The kept reply of `hit`, a pooled one with the decision made again; `None` (and `rng` as it
/// was) when the query must be answered whole: a malformed Client Subnet option, or a decision
/// of another shape than the kept reply's.
fn from_kept<S: AnswerSource>(
    state: &S,
    hit: &Hit<'_, '_>,
    client: IpAddr,
    out: &mut Vec<u8>,
    rng: &mut SplitMix64,
    outcome: &mut Outcome,
) -> Option<usize> {
    let ecs = hit.client_subnet().ok()?;
    *outcome = hit.outcome();
    let Some(p) = hit.pooled() else { return Some(hit.write(None, out)) };
    let before = rng.clone();
    match steer_again(state, p.zone, p.pool, p.family, ecs, client, p.len(), rng, &mut outcome.steered) {
        Some((ttl, scope)) => {
            let addrs = outcome.steered.as_ref().map_or(&[][..], |s| s.answer.addresses());
            Some(hit.write(Some((addrs, ttl, scope)), out))
        }
        None => {
            // respond_with draws again, as it would have without the cache.
            *rng = before;
            None
        }
    }
}

/// The worker threads of a set of sockets, and the flag that stops them.
pub struct Workers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// Asks every worker to stop: each answers what its socket has queued, then returns.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Waits for every worker to return (call [`Workers::stop`] first).
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Starts one worker thread per socket, each serving it with a handler that `make` builds on
/// that thread, until [`Workers::stop`].
pub fn spawn_workers<H, F>(sockets: Vec<std::net::UdpSocket>, make: F) -> io::Result<Workers>
where
    H: Handler,
    F: Fn() -> H + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for (i, sock) in sockets.into_iter().enumerate() {
        let (make, flag) = (make.clone(), stop.clone());
        let t = std::thread::Builder::new().name(format!("udp-{i}")).spawn(move || {
            if let Err(e) = serve_until(sock, make(), &flag) {
                tracing::error!(error = %e, "UDP worker stopped");
            }
        });
        match t {
            Ok(t) => threads.push(t),
            Err(e) => {
                stop.store(true, Ordering::Release);
                return Err(e);
            }
        }
    }
    Ok(Workers { stop, threads })
}

/// Serves `sock` with `handler` until a fatal socket error.
pub fn serve<H: Handler>(sock: std::net::UdpSocket, handler: H) -> io::Result<()> {
    serve_until(sock, handler, &AtomicBool::new(false))
}

/// Serves `sock` with `handler` until `stop` is set (see the module docs) or a fatal socket
/// error. The socket is switched to blocking mode with a short receive timeout; on a wildcard
/// address, destination reporting is switched on.
pub fn serve_until<H: Handler>(sock: std::net::UdpSocket, mut handler: H, stop: &AtomicBool) -> io::Result<()> {
    sock.set_nonblocking(false)?;
    sock.set_read_timeout(Some(POLL))?;
    let local = sock.local_addr()?;
    let pktinfo = local.ip().is_unspecified();
    if pktinfo {
        batch::enable_pktinfo(&sock, local.is_ipv6())?;
    }
    let mut b = Batch::new(pktinfo);
    let mut drained = 0;
    loop {
        let draining = stop.load(Ordering::Acquire);
        if draining {
            drained += 1;
            if drained > MAX_DRAIN_BATCHES {
                return Ok(());
            }
        }
        let n = match b.receive(&sock, !draining) {
            Ok(n) => n,
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) if draining => return Ok(()), // the queue is empty: done
                Some(libc::EINTR | libc::EAGAIN | libc::ENOMEM | libc::ECONNREFUSED) => continue,
                Some(libc::EBADF | libc::ENOTSOCK | libc::EINVAL | libc::EFAULT) => return Err(e),
                _ => {
                    tracing::debug!(error = %e, "udp receive error");
                    continue;
                }
            },
        };
        handler.begin_batch();
        b.answer(n, &mut handler);
        handler.end_batch();
        b.send(&sock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    /// Echoes the query back with its first byte incremented.
    struct Echo;
    impl Handler for Echo {
        fn handle(&mut self, query: &[u8], _client: SocketAddr, out: &mut Vec<u8>) -> Option<usize> {
            if query.first() == Some(&0xFF) {
                return None;
            }
            out.extend_from_slice(query);
            out[0] = out[0].wrapping_add(1);
            Some(out.len())
        }
    }

    fn start(bind: &str) -> SocketAddr {
        let sock = crate::dns::server::udp_socket(bind.parse().unwrap()).unwrap();
        let addr = sock.local_addr().unwrap();
        std::thread::spawn(move || serve(sock, Echo));
        addr
    }

    #[test]
    fn batches_are_answered_each_to_its_sender() {
        let addr = start("127.0.0.1:0");
        let clients: Vec<UdpSocket> = (0..40).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
        for (i, c) in clients.iter().enumerate() {
            c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            c.send_to(&[i as u8, 7, 7], addr).unwrap();
        }
        // One that gets no reply does not hold up the others.
        clients[0].send_to(&[0xFF], addr).unwrap();
        for (i, c) in clients.iter().enumerate() {
            let mut buf = [0u8; 16];
            let (n, from) = c.recv_from(&mut buf).unwrap();
            assert_eq!(from, addr);
            assert_eq!(&buf[..n], &[i as u8 + 1, 7, 7]);
        }
    }

    #[test]
    fn replies_leave_from_the_queried_address_on_a_wildcard_socket() {
        // Bound to 0.0.0.0; queried on 127.0.0.2 (any 127/8 address is local on Linux).
        let port = start("0.0.0.0:0").port();
        for dst in ["127.0.0.1", "127.0.0.2"] {
            let to: SocketAddr = format!("{dst}:{port}").parse().unwrap();
            let c = UdpSocket::bind("127.0.0.1:0").unwrap();
            c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            c.send_to(&[1, 2], to).unwrap();
            let mut buf = [0u8; 16];
            let (n, from) = c.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&[2u8, 2][..], to), "the reply comes from {to}");
        }
        // IPv6 wildcard, queried on ::1 (skipped where the host has no IPv6 loopback).
        let Ok(sock) = crate::dns::server::udp_socket("[::]:0".parse().unwrap()) else {
            println!("SKIP: no IPv6 wildcard socket");
            return;
        };
        let port = sock.local_addr().unwrap().port();
        std::thread::spawn(move || serve(sock, Echo));
        let Ok(c) = UdpSocket::bind("[::1]:0") else {
            println!("SKIP: no IPv6 loopback");
            return;
        };
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let to: SocketAddr = format!("[::1]:{port}").parse().unwrap();
        c.send_to(&[5], to).unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = c.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&[6u8][..], to));
    }

    #[test]
    fn a_stopped_worker_answers_what_is_queued_then_returns() {
        let sock = crate::dns::server::udp_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = sock.local_addr().unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        // Queued before the worker even starts, and the stop is already set: every one of
        // them is still answered, and the worker returns.
        for i in 0..100u8 {
            c.send_to(&[i], addr).unwrap();
        }
        let stop = Arc::new(AtomicBool::new(true));
        let s = stop.clone();
        let worker = std::thread::spawn(move || serve_until(sock, Echo, &s));
        let mut got = 0;
        let mut buf = [0u8; 16];
        while got < 100 {
            c.recv_from(&mut buf).expect("every queued query is answered");
            got += 1;
        }
        worker.join().unwrap().unwrap();
    }
}
