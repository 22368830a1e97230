//! The sockets of each listen address: `udp_workers` UDP sockets bound with SO_REUSEPORT (one
//! per fast-path worker, [`super::udp`]) and as many SO_REUSEPORT TCP listeners on the same port
//! (one per TCP thread, [`super::tcp`]).
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::Snapshot;
use crate::serving::Shared;

/// A compiled config served as it is: answers with the pool file's own `down` marks and no
/// live state (tools, tests, benches). The server serves a `Shared<Serving>`.
pub type SharedSnapshot = Shared<Snapshot>;

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
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    Ok(s.into())
}

/// The sockets of one listen address: UDP and TCP on the same port, one socket of each per worker.
pub struct Bound {
    pub addr: SocketAddr,
    pub udp: Vec<std::net::UdpSocket>,
    pub tcp: Vec<std::net::TcpListener>,
}

/// Binds `workers` UDP sockets and `workers` TCP listeners on `addr`. Port 0 picks one port for all.
pub fn bind(addr: SocketAddr, workers: usize) -> std::io::Result<Bound> {
    let mut last_err = None;
    // With port 0 the kernel picks the UDP port; TCP may find it taken, so try again.
    for _ in 0..16 {
        let first = udp_socket(free_udp_port(addr)?)?;
        let port_addr = first.local_addr()?;
        let tcp = match tcp_listener(port_addr) {
            Ok(t) => t,
            Err(e) if addr.port() == 0 => {
                last_err = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let (mut udp, mut tcp) = (vec![first], vec![tcp]);
        for _ in 1..workers.max(1) {
            udp.push(udp_socket(port_addr)?);
            tcp.push(tcp_listener(port_addr)?);
        }
        return Ok(Bound { addr: port_addr, udp, tcp });
    }
    Err(last_err.unwrap_or_else(|| std::io::Error::other("no free port for both UDP and TCP")))
}

/// `addr` as is, or with port 0 replaced by a port no UDP socket holds. The kernel's port-0
/// choice for a SO_REUSEPORT socket may be a port that another process's SO_REUSEPORT sockets
/// (same user) already hold, and the two servers would then split each other's queries; a
/// socket without SO_REUSEPORT is only ever given a free port. It is closed at once and the
/// workers bind that port (a port taken in between makes the TCP bind or a worker fail).
fn free_udp_port(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    if addr.port() != 0 {
        return Ok(addr);
    }
    let probe = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        probe.set_only_v6(true)?;
    }
    probe.bind(&addr.into())?;
    let picked = probe.local_addr()?.as_socket().ok_or_else(|| std::io::Error::other("not an IP socket"))?;
    Ok(picked)
}
