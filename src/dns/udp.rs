//! The UDP fast path: one blocking std thread per SO_REUSEPORT socket, each running a tight
//! `recvmmsg` → answer in place → `sendmmsg` loop over preallocated buffers, as gdnsd does.
//!
//! ```text
//! recvmmsg(MSG_WAITFORONE, up to BATCH datagrams, + IP_PKTINFO / IPV6_PKTINFO cmsgs)
//!     │  rx[i]: the query, name[i]: the client, ctrl[i]: the address it was sent to
//!     ▼
//! Handler::begin_batch (gslbd: one arc-swap load of the snapshot, one clock read)
//! Handler::handle(rx[i], client) ─► out[i] (gslbd: respond_with → admin::observe → RRL)
//!     ▼
//! sendmmsg(the replies, each to its client, from the address it was sent to)
//! ```
//!
//! Nothing here spawns a task or allocates per packet: every buffer and header array is
//! allocated once when the worker starts. The loop is generic over a [`Handler`] so that the
//! benchmark's null responder (`examples/null_responder.rs`) runs the very same socket code.
//!
//! Why raw `libc`: `recvmmsg`/`sendmmsg` batch both directions in one system call each, and
//! neither std nor tokio expose them; quinn-udp batches receives but sends one `sendmsg` per
//! datagram. Every `unsafe` block below says what it relies on.
//!
//! Replies leave from the address the query was sent to: on a socket bound to a wildcard
//! address (0.0.0.0 or ::) the kernel reports each datagram's destination (IP_PKTINFO,
//! IPV6_RECVPKTINFO) and the reply names it as its source, so a multi-homed host never
//! answers from an address the client did not ask.
//!
//! A datagram longer than [`RECV_BUF`] bytes (MSG_TRUNC) is dropped: a DNS query that large
//! does not exist in practice (hickory's server cuts at the same size).
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::Guard;

use super::rrl::{Rrl, Verdict, slip_in_place};
use super::server::{SharedSnapshot, entropy_seed};
use super::{Outcome, Transport, respond_with};
use crate::config::Snapshot;
use crate::steer::SplitMix64;

/// Datagrams received (and replies sent) per system call.
pub const BATCH: usize = 32;
/// Room for one received datagram.
pub const RECV_BUF: usize = 4096;
/// Room for one control message (an `in6_pktinfo` cmsg is 36 bytes; 64 keeps alignment).
const CTRL_BUF: usize = 64;

/// What a worker does with each datagram.
pub trait Handler {
    /// Called once before the datagrams of a batch are handled.
    fn begin_batch(&mut self) {}
    /// Writes the reply to `query` from `client` into `out` (empty, with capacity for a UDP
    /// reply) and returns its length, or `None` to send nothing.
    fn handle(&mut self, query: &[u8], client: SocketAddr, out: &mut Vec<u8>) -> Option<usize>;
    /// Called once after the datagrams of a batch are handled, before the replies are sent.
    fn end_batch(&mut self) {}
}

/// gslbd's handler: [`respond_with`] on the snapshot in service, then metrics, the sampled
/// query log and response rate limiting, exactly as every other transport does them.
pub struct DnsHandler {
    shared: SharedSnapshot,
    rrl: Arc<Rrl>,
    rng: SplitMix64,
    outcome: Outcome,
    /// The snapshot for the batch in progress (one arc-swap load per batch, no lock).
    snap: Option<Guard<Arc<Snapshot>>>,
    /// The rate limiter's clock, read once per batch.
    now: Duration,
}

impl DnsHandler {
    pub fn new(shared: SharedSnapshot, rrl: Arc<Rrl>) -> DnsHandler {
        DnsHandler {
            shared,
            rrl,
            rng: SplitMix64::new(entropy_seed()),
            outcome: Outcome::default(),
            snap: None,
            now: Duration::ZERO,
        }
    }
}

impl Handler for DnsHandler {
    fn begin_batch(&mut self) {
        self.snap = Some(self.shared.load());
        self.now = self.rrl.elapsed();
    }

    fn handle(&mut self, query: &[u8], client: SocketAddr, out: &mut Vec<u8>) -> Option<usize> {
        if client.port() == 0 {
            return None; // cannot be answered; a reflection attempt
        }
        let snap = self.snap.as_ref()?;
        let reply = respond_with(snap, query, client.ip(), Transport::Udp, out, &mut self.rng, &mut self.outcome);
        // Counted before the reply leaves, so a client that has its answer sees it counted.
        crate::admin::observe(snap, &self.outcome, Transport::Udp, query, client.ip(), &mut self.rng);
        let w = reply?;
        match self.rrl.check(&out[..w.len], client.ip(), self.now) {
            Verdict::Send => Some(w.len),
            Verdict::Slip => Some(slip_in_place(out, w.len)),
            Verdict::Drop => None,
        }
    }

    fn end_batch(&mut self) {
        self.snap = None;
    }
}

/// Starts one worker thread per socket, each serving it with a handler that `make` builds on
/// that thread. The threads run for the life of the process.
pub fn spawn_workers<H, F>(sockets: Vec<std::net::UdpSocket>, make: F) -> io::Result<()>
where
    H: Handler,
    F: Fn() -> H + Send + Sync + 'static,
{
    let make = Arc::new(make);
    for (i, sock) in sockets.into_iter().enumerate() {
        let make = make.clone();
        std::thread::Builder::new().name(format!("udp-{i}")).spawn(move || {
            if let Err(e) = serve(sock, make()) {
                tracing::error!(error = %e, "UDP worker stopped");
            }
        })?;
    }
    Ok(())
}

/// The preallocated state of one worker: receive and reply buffers, addresses, control
/// messages and the header arrays the two system calls read. Boxed once, never resized, so
/// the pointers stored in the headers stay valid.
struct Buffers {
    rx: Box<[u8]>,
    out: Vec<Vec<u8>>,
    names: Box<[libc::sockaddr_storage]>,
    rx_ctrl: Box<[[u64; CTRL_BUF / 8]]>,
    rx_iov: Box<[libc::iovec]>,
    rx_hdr: Box<[libc::mmsghdr]>,
    tx_names: Box<[libc::sockaddr_storage]>,
    tx_ctrl: Box<[[u64; CTRL_BUF / 8]]>,
    tx_iov: Box<[libc::iovec]>,
    tx_hdr: Box<[libc::mmsghdr]>,
}

impl Buffers {
    fn new() -> Buffers {
        // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs for which all-zero
        // bytes are a valid value (null pointers, zero lengths).
        let zero_storage = || unsafe { zeroed::<libc::sockaddr_storage>() };
        let zero_iov = || unsafe { zeroed::<libc::iovec>() };
        let zero_hdr = || unsafe { zeroed::<libc::mmsghdr>() };
        Buffers {
            rx: vec![0u8; BATCH * RECV_BUF].into_boxed_slice(),
            out: (0..BATCH).map(|_| Vec::with_capacity(RECV_BUF)).collect(),
            names: (0..BATCH).map(|_| zero_storage()).collect(),
            rx_ctrl: vec![[0u64; CTRL_BUF / 8]; BATCH].into_boxed_slice(),
            rx_iov: (0..BATCH).map(|_| zero_iov()).collect(),
            rx_hdr: (0..BATCH).map(|_| zero_hdr()).collect(),
            tx_names: (0..BATCH).map(|_| zero_storage()).collect(),
            tx_ctrl: vec![[0u64; CTRL_BUF / 8]; BATCH].into_boxed_slice(),
            tx_iov: (0..BATCH).map(|_| zero_iov()).collect(),
            tx_hdr: (0..BATCH).map(|_| zero_hdr()).collect(),
        }
    }

    /// Points every receive header at its buffers again (the kernel rewrites the lengths).
    fn arm_receive(&mut self, pktinfo: bool) {
        for i in 0..BATCH {
            self.rx_iov[i] = libc::iovec { iov_base: self.rx[i * RECV_BUF..].as_mut_ptr().cast(), iov_len: RECV_BUF };
            let h = &mut self.rx_hdr[i].msg_hdr;
            h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.rx_iov[i];
            h.msg_iovlen = 1;
            if pktinfo {
                h.msg_control = self.rx_ctrl[i].as_mut_ptr().cast();
                h.msg_controllen = CTRL_BUF as _;
            } else {
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
            }
            h.msg_flags = 0;
            self.rx_hdr[i].msg_len = 0;
        }
    }
}

/// Serves `sock` with `handler` until a fatal socket error. The socket is switched to
/// blocking mode; on a wildcard address, destination reporting is switched on.
pub fn serve<H: Handler>(sock: std::net::UdpSocket, mut handler: H) -> io::Result<()> {
    sock.set_nonblocking(false)?;
    let local = sock.local_addr()?;
    let pktinfo = local.ip().is_unspecified();
    let fd = sock.as_raw_fd();
    if pktinfo {
        enable_pktinfo(fd, local.is_ipv6())?;
    }
    let mut b = Buffers::new();
    loop {
        b.arm_receive(pktinfo);
        // SAFETY: `rx_hdr` holds BATCH initialised headers whose name, iovec and control
        // pointers point into `b`'s boxed buffers with the lengths given, all alive and not
        // otherwise borrowed for the duration of the call; `fd` is owned by `sock`, alive here.
        let n = unsafe {
            libc::recvmmsg(fd, b.rx_hdr.as_mut_ptr(), BATCH as libc::c_uint, libc::MSG_WAITFORONE, std::ptr::null_mut())
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::ENOMEM) | Some(libc::ECONNREFUSED) => continue,
                Some(libc::EBADF) | Some(libc::ENOTSOCK) | Some(libc::EINVAL) | Some(libc::EFAULT) => return Err(e),
                _ => {
                    tracing::debug!(error = %e, "udp receive error");
                    continue;
                }
            }
        }
        let n = (n as usize).min(BATCH);
        handler.begin_batch();
        let mut m = 0;
        for i in 0..n {
            let hdr = &b.rx_hdr[i];
            let len = (hdr.msg_len as usize).min(RECV_BUF);
            if hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                continue;
            }
            let Some(client) = from_storage(&b.names[i], hdr.msg_hdr.msg_namelen) else { continue };
            let dst = if pktinfo { destination(&b.rx_hdr[i].msg_hdr) } else { None };
            let out = &mut b.out[m];
            out.clear();
            let Some(reply_len) = handler.handle(&b.rx[i * RECV_BUF..i * RECV_BUF + len], client, out) else {
                continue;
            };
            let reply_len = reply_len.min(out.len());
            b.tx_names[m] = b.names[i];
            b.tx_iov[m] = libc::iovec { iov_base: out.as_mut_ptr().cast(), iov_len: reply_len };
            let h = &mut b.tx_hdr[m].msg_hdr;
            h.msg_name = (&mut b.tx_names[m] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = b.rx_hdr[i].msg_hdr.msg_namelen;
            h.msg_iov = &mut b.tx_iov[m];
            h.msg_iovlen = 1;
            h.msg_flags = 0;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            if let Some(dst) = dst {
                let len = write_source(&mut b.tx_ctrl[m], dst);
                if len > 0 {
                    h.msg_control = b.tx_ctrl[m].as_mut_ptr().cast();
                    h.msg_controllen = len as _;
                }
            }
            m += 1;
        }
        handler.end_batch();
        let mut sent = 0;
        while sent < m {
            // SAFETY: headers `sent..m` were filled above; their name, iovec and control
            // pointers point into `b`'s buffers (the reply `Vec`s are not touched until the
            // next batch), with the lengths given.
            let r = unsafe { libc::sendmmsg(fd, b.tx_hdr[sent..].as_mut_ptr(), (m - sent) as libc::c_uint, 0) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                // One reply the kernel refuses (no route, a full buffer): skip it, send the rest.
                tracing::debug!(error = %e, "udp send error");
                sent += 1;
            } else {
                sent += (r as usize).max(1);
            }
        }
    }
}

fn enable_pktinfo(fd: libc::c_int, v6: bool) -> io::Result<()> {
    let on: libc::c_int = 1;
    let (level, opt) =
        if v6 { (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO) } else { (libc::IPPROTO_IP, libc::IP_PKTINFO) };
    // SAFETY: `on` is a live c_int and its size is passed; `fd` is an open socket.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// The sender's address as the kernel wrote it into `s`.
fn from_storage(s: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    match libc::c_int::from(s.ss_family) {
        libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large
            // enough and aligned for (sockaddr_storage is designed for exactly this).
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Where a datagram was sent: the address and interface from its PKTINFO control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Destination {
    addr: IpAddr,
    ifindex: u32,
}

fn destination(h: &libc::msghdr) -> Option<Destination> {
    // SAFETY: `h` is a header the kernel just filled by recvmmsg: msg_control points to our
    // control buffer and msg_controllen is the length it wrote, so the CMSG_* walk stays
    // inside it; each payload is read unaligned-safe with read_unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            let (level, kind) = ((*c).cmsg_level, (*c).cmsg_type);
            if level == libc::IPPROTO_IP && kind == libc::IP_PKTINFO {
                let p: libc::in_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return Some(Destination {
                    addr: IpAddr::V4(Ipv4Addr::from(u32::from_be(p.ipi_addr.s_addr))),
                    ifindex: p.ipi_ifindex as u32,
                });
            }
            if level == libc::IPPROTO_IPV6 && kind == libc::IPV6_PKTINFO {
                let p: libc::in6_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return Some(Destination {
                    addr: IpAddr::V6(Ipv6Addr::from(p.ipi6_addr.s6_addr)),
                    ifindex: p.ipi6_ifindex,
                });
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

/// Writes a PKTINFO control message that makes `dst` the reply's source; returns its length.
fn write_source(buf: &mut [u64; CTRL_BUF / 8], dst: Destination) -> usize {
    // SAFETY: CMSG_SPACE/CMSG_LEN are pure size computations; the header and payload are
    // written inside `buf` (checked against its size first), which is 8-byte aligned as a
    // cmsghdr requires; payloads are written with write_unaligned.
    unsafe {
        let base = buf.as_mut_ptr().cast::<u8>();
        let c = base.cast::<libc::cmsghdr>();
        match dst.addr {
            IpAddr::V4(a) => {
                let space = libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) as usize;
                if space > CTRL_BUF {
                    return 0;
                }
                std::ptr::write_bytes(base, 0, space);
                (*c).cmsg_level = libc::IPPROTO_IP;
                (*c).cmsg_type = libc::IP_PKTINFO;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as _;
                let p = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr { s_addr: u32::from(a).to_be() },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast(), p);
                space
            }
            IpAddr::V6(a) => {
                let space = libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32) as usize;
                if space > CTRL_BUF {
                    return 0;
                }
                std::ptr::write_bytes(base, 0, space);
                (*c).cmsg_level = libc::IPPROTO_IPV6;
                (*c).cmsg_type = libc::IPV6_PKTINFO;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as _;
                // The interface matters for link-local addresses; keep the one it came in on.
                let p =
                    libc::in6_pktinfo { ipi6_addr: libc::in6_addr { s6_addr: a.octets() }, ipi6_ifindex: dst.ifindex };
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast(), p);
                space
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

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
}
