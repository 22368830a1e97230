//! The UDP and TCP transports around [`super::respond`].
//!
//! UDP: per listen address, `udp_workers` sockets bound with SO_REUSEPORT. The server runs
//! them on the fast path's threads ([`super::udp`]); [`serve_udp`] is the same handling as a
//! tokio task (one packet per system call), kept for in-process tests and embedding.
//! TCP (RFC 7766): pipelined queries are answered in order on each connection, under
//! limits on connections in total and per client address, idle time, lifetime, and
//! queries per connection, all from the config.
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::{Instant, timeout};

use super::rrl::{Rrl, Verdict, slip_in_place};
use super::{Outcome, Transport, respond_with};
use crate::config::Snapshot;
use crate::steer::SplitMix64;

/// A fresh random seed for a worker's generator (std's per-process random hash keys).
pub fn entropy_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
}

/// The snapshot in service; a reload stores a new one.
pub type SharedSnapshot = Arc<ArcSwap<Snapshot>>;

/// The sockets of one listen address: UDP and TCP on the same port.
pub struct Bound {
    pub addr: SocketAddr,
    pub udp: Vec<UdpSocket>,
    pub tcp: TcpListener,
}

/// One UDP socket as gslbd serves it: SO_REUSEPORT, v6-only for IPv6, a 4 MiB receive buffer,
/// non-blocking. Public so the benchmark's null responder uses exactly the same socket.
pub fn udp_socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_port(true)?;
    // Room for bursts: a query is small, 4 MiB holds tens of thousands.
    let _ = s.set_recv_buffer_size(4 << 20);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

fn tcp_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    Ok(s.into())
}

/// The sockets of one listen address as std sockets: for the UDP fast path's threads.
pub struct BoundStd {
    pub addr: SocketAddr,
    pub udp: Vec<std::net::UdpSocket>,
    pub tcp: std::net::TcpListener,
}

/// Binds UDP (`workers` sockets) and TCP on `addr`. Port 0 picks one port for both.
pub fn bind_std(addr: SocketAddr, workers: usize) -> std::io::Result<BoundStd> {
    let mut last_err = None;
    // With port 0 the kernel picks the UDP port; TCP may find it taken, so try again.
    for _ in 0..16 {
        let first = udp_socket(addr)?;
        let port_addr = first.local_addr()?;
        let tcp = match tcp_listener(port_addr) {
            Ok(t) => t,
            Err(e) if addr.port() == 0 => {
                last_err = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut udp = vec![first];
        for _ in 1..workers.max(1) {
            udp.push(udp_socket(port_addr)?);
        }
        return Ok(BoundStd { addr: port_addr, udp, tcp });
    }
    Err(last_err.unwrap_or_else(|| std::io::Error::other("no free port for both UDP and TCP")))
}

/// [`bind_std`], with the sockets registered on the current tokio runtime.
pub fn bind(addr: SocketAddr, workers: usize) -> std::io::Result<Bound> {
    let b = bind_std(addr, workers)?;
    let udp = b.udp.into_iter().map(UdpSocket::from_std).collect::<std::io::Result<Vec<_>>>()?;
    Ok(Bound { addr: b.addr, udp, tcp: TcpListener::from_std(b.tcp)? })
}

/// Serves one UDP socket until the task is dropped. Every reply passes the response rate
/// limiter `rrl` (shared by all UDP workers): sent, slipped (TC=1, no records) or dropped.
pub async fn serve_udp(sock: UdpSocket, shared: SharedSnapshot, rrl: Arc<Rrl>) {
    let mut buf = vec![0u8; 65535];
    let mut out = Vec::with_capacity(4096);
    let mut rng = SplitMix64::new(entropy_seed());
    let mut outcome = Outcome::default();
    loop {
        let (n, src) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "udp receive error");
                continue;
            }
        };
        if src.port() == 0 {
            continue; // cannot be answered; a reflection attempt
        }
        let snap = shared.load();
        let reply = respond_with(&snap, &buf[..n], src.ip(), Transport::Udp, &mut out, &mut rng, &mut outcome);
        // Counted before the reply leaves, so a client that has its answer sees it counted.
        crate::admin::observe(&snap, &outcome, Transport::Udp, &buf[..n], src.ip(), &mut rng);
        drop(snap);
        if let Some(w) = reply {
            let len = match rrl.check(&out[..w.len], src.ip(), rrl.elapsed()) {
                Verdict::Send => w.len,
                Verdict::Slip => slip_in_place(&mut out, w.len),
                Verdict::Drop => continue,
            };
            if let Err(e) = sock.send_to(&out[..len], src).await {
                tracing::debug!(error = %e, %src, "udp send error");
            }
        }
    }
}

/// Counts open TCP connections, in total and per client address.
#[derive(Default)]
pub struct TcpCounters {
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl TcpCounters {
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

/// Releases a connection's slots when the connection ends.
struct Slot {
    counters: Arc<TcpCounters>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counters.total.fetch_sub(1, Ordering::Relaxed);
        let mut m = self.counters.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = m.get_mut(&self.ip) {
            *c -= 1;
            if *c == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

fn take_slot(counters: &Arc<TcpCounters>, ip: IpAddr, max_total: usize, max_per_ip: usize) -> Option<Slot> {
    let mut m = counters.per_ip.lock().unwrap_or_else(|p| p.into_inner());
    if counters.total.load(Ordering::Relaxed) >= max_total {
        return None;
    }
    let c = m.entry(ip).or_insert(0);
    if *c >= max_per_ip {
        return None;
    }
    *c += 1;
    counters.total.fetch_add(1, Ordering::Relaxed);
    Some(Slot { counters: counters.clone(), ip })
}

/// Accepts TCP connections until the task is dropped.
pub async fn serve_tcp(listener: TcpListener, shared: SharedSnapshot, counters: Arc<TcpCounters>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: wait a little instead of spinning.
                tracing::warn!(error = %e, "tcp accept error");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let limits = shared.load().server.tcp.clone();
        let Some(slot) = take_slot(&counters, peer.ip(), limits.max_connections, limits.max_connections_per_ip) else {
            drop(stream); // over the limit: closed at once
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _ = stream.set_nodelay(true);
            serve_connection(stream, peer, shared).await;
        });
    }
}

async fn serve_connection(mut stream: TcpStream, peer: SocketAddr, shared: SharedSnapshot) {
    let limits = shared.load().server.tcp.clone();
    let deadline = Instant::now() + limits.max_lifetime;
    let mut buf = vec![0u8; 65535];
    let mut out = Vec::with_capacity(4096);
    let mut rng = SplitMix64::new(entropy_seed());
    let mut outcome = Outcome::default();
    for _ in 0..limits.max_queries_per_connection {
        let wait = limits.idle_timeout.min(deadline.saturating_duration_since(Instant::now()));
        let mut len = [0u8; 2];
        match timeout(wait, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return, // idle, past its lifetime, closed, or an error
        }
        let n = u16::from_be_bytes(len) as usize;
        let wait = limits.idle_timeout.min(deadline.saturating_duration_since(Instant::now()));
        match timeout(wait, stream.read_exact(&mut buf[..n])).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let snap = shared.load();
        let reply = respond_with(&snap, &buf[..n], peer.ip(), Transport::Tcp, &mut out, &mut rng, &mut outcome);
        crate::admin::observe(&snap, &outcome, Transport::Tcp, &buf[..n], peer.ip(), &mut rng);
        let Some(w) = reply else {
            continue;
        };
        drop(snap);
        let mut framed = Vec::with_capacity(2 + w.len);
        framed.extend_from_slice(&(w.len as u16).to_be_bytes());
        framed.extend_from_slice(&out[..w.len]);
        match timeout(limits.idle_timeout, stream.write_all(&framed)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
    let _ = stream.shutdown().await;
}
