//! The preallocated buffers of one UDP worker and the two system calls that fill and drain
//! them: `recvmmsg` and `sendmmsg`, through raw `libc`, as gdnsd does. Neither std nor tokio
//! expose them, and quinn-udp batches receives but sends one `sendmsg` per datagram. This is
//! the only module of gslbd with `unsafe` code.
//!
//! How the pointers stay sound: the kernel reads and writes our buffers through the raw
//! pointers in the `mmsghdr` arrays. Before each call, [`Batch::arm_receive`] and
//! [`Batch::arm_send`] take each buffer array's base pointer **once** and derive every element
//! pointer from it by offset; no buffer is indexed through a reference between that moment
//! and the end of the call, so no pointer the kernel uses is invalidated (under Stacked or Tree
//! Borrows alike). After the call the buffers are read through ordinary references again, and
//! the next call derives fresh pointers. Control messages are parsed and written as plain
//! bytes, with `MSG_CTRUNC` and every `cmsg_len` checked.
//!
//! Miri: the pointer set-up and the reading back are exercised by the `kernel_fake` test,
//! which replaces the system call by a function that writes through the armed pointers as the
//! kernel would. Miri needs a nightly toolchain, which this project's machines and CI do not
//! have (one stable toolchain, no other can be fetched); where one is available,
//! `cargo +nightly miri test --lib dns::udp::batch` runs that test under Miri (the tests that
//! open sockets are not Miri-compatible and live in the parent module).
use std::io;
use std::mem::{offset_of, size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use super::Handler;

/// Datagrams received (and replies sent) per system call.
pub const BATCH: usize = 32;
/// Room for one received datagram.
pub const RECV_BUF: usize = 4096;
/// Room for the control messages of one datagram (an `in6_pktinfo` cmsg is 40 bytes).
const CTRL_BUF: usize = 64;
type Ctrl = [u64; CTRL_BUF / 8];

/// Where a datagram was sent: the address and interface from its PKTINFO control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Destination {
    addr: IpAddr,
    ifindex: u32,
}

/// A reply waiting for `sendmmsg`: which datagram it answers, and its length.
#[derive(Clone, Copy, Default)]
struct Queued {
    from: usize,
    len: usize,
    dst: Option<Destination>,
}

/// The buffers of one worker. Boxed once, never resized.
pub(super) struct Batch {
    pktinfo: bool,
    rx: Box<[u8]>,
    names: Box<[libc::sockaddr_storage]>,
    rx_ctrl: Box<[Ctrl]>,
    rx_iov: Box<[libc::iovec]>,
    rx_hdr: Box<[libc::mmsghdr]>,
    out: Box<[Vec<u8>]>,
    queued: [Queued; BATCH],
    pending: usize,
    tx_names: Box<[libc::sockaddr_storage]>,
    tx_ctrl: Box<[Ctrl]>,
    tx_iov: Box<[libc::iovec]>,
    tx_hdr: Box<[libc::mmsghdr]>,
}

fn zero_storage() -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is a plain C struct (with private padding fields, so it cannot
    // be built field by field) for which all-zero bytes are a valid value.
    unsafe { zeroed() }
}

fn empty_iov() -> libc::iovec {
    libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }
}

fn empty_hdr() -> libc::mmsghdr {
    libc::mmsghdr {
        msg_hdr: libc::msghdr {
            msg_name: std::ptr::null_mut(),
            msg_namelen: 0,
            msg_iov: std::ptr::null_mut(),
            msg_iovlen: 0,
            msg_control: std::ptr::null_mut(),
            msg_controllen: 0,
            msg_flags: 0,
        },
        msg_len: 0,
    }
}

impl Batch {
    pub(super) fn new(pktinfo: bool) -> Batch {
        Batch {
            pktinfo,
            rx: vec![0u8; BATCH * RECV_BUF].into_boxed_slice(),
            names: (0..BATCH).map(|_| zero_storage()).collect(),
            rx_ctrl: vec![[0u64; CTRL_BUF / 8]; BATCH].into_boxed_slice(),
            rx_iov: (0..BATCH).map(|_| empty_iov()).collect(),
            rx_hdr: (0..BATCH).map(|_| empty_hdr()).collect(),
            out: (0..BATCH).map(|_| Vec::with_capacity(RECV_BUF)).collect(),
            queued: [Queued::default(); BATCH],
            pending: 0,
            tx_names: (0..BATCH).map(|_| zero_storage()).collect(),
            tx_ctrl: vec![[0u64; CTRL_BUF / 8]; BATCH].into_boxed_slice(),
            tx_iov: (0..BATCH).map(|_| empty_iov()).collect(),
            tx_hdr: (0..BATCH).map(|_| empty_hdr()).collect(),
        }
    }

    /// Points every receive header at its buffers, deriving each element pointer from its
    /// array's base pointer (see the module docs); returns the header array for the call.
    fn arm_receive(&mut self) -> *mut libc::mmsghdr {
        let rx = self.rx.as_mut_ptr();
        for (i, iov) in self.rx_iov.iter_mut().enumerate() {
            // In bounds: i < BATCH and rx holds BATCH * RECV_BUF bytes.
            *iov = libc::iovec { iov_base: rx.wrapping_add(i * RECV_BUF).cast(), iov_len: RECV_BUF };
        }
        let (iovs, names, ctrls) = (self.rx_iov.as_mut_ptr(), self.names.as_mut_ptr(), self.rx_ctrl.as_mut_ptr());
        for (i, h) in self.rx_hdr.iter_mut().enumerate() {
            h.msg_len = 0;
            h.msg_hdr = libc::msghdr {
                msg_name: names.wrapping_add(i).cast(),
                msg_namelen: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
                msg_iov: iovs.wrapping_add(i),
                msg_iovlen: 1,
                msg_control: if self.pktinfo { ctrls.wrapping_add(i).cast() } else { std::ptr::null_mut() },
                msg_controllen: if self.pktinfo { CTRL_BUF as _ } else { 0 },
                msg_flags: 0,
            };
        }
        self.rx_hdr.as_mut_ptr()
    }

    /// Receives up to [`BATCH`] datagrams: waits for the first when `wait` (up to the socket's
    /// receive timeout), else returns at once (`EAGAIN` when nothing is queued).
    pub(super) fn receive(&mut self, sock: &std::net::UdpSocket, wait: bool) -> io::Result<usize> {
        let hdrs = self.arm_receive();
        let flags = if wait { libc::MSG_WAITFORONE } else { libc::MSG_DONTWAIT };
        // SAFETY: `hdrs` points to BATCH headers armed just above; their name, iovec and
        // control pointers point into this batch's boxed buffers with the lengths given, and
        // none of those buffers is touched until the call returns. The socket is open (owned
        // by `sock`, borrowed for the call).
        let n = unsafe { libc::recvmmsg(sock.as_raw_fd(), hdrs, BATCH as libc::c_uint, flags, std::ptr::null_mut()) };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok((n as usize).min(BATCH)) }
    }

    /// Hands the first `n` received datagrams to `handler` and queues its replies.
    pub(super) fn answer<H: Handler>(&mut self, n: usize, handler: &mut H) {
        self.pending = 0;
        for i in 0..n.min(BATCH) {
            let hdr = &self.rx_hdr[i];
            let Some(client) = from_storage(&self.names[i], hdr.msg_hdr.msg_namelen) else { continue };
            if hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                handler.oversize(client);
                continue;
            }
            let len = (hdr.msg_len as usize).min(RECV_BUF);
            let dst = if self.pktinfo { destination(&self.rx_ctrl[i], &hdr.msg_hdr) } else { None };
            let query = &self.rx[i * RECV_BUF..i * RECV_BUF + len];
            let out = &mut self.out[self.pending];
            out.clear();
            if let Some(reply_len) = handler.handle(query, client, out) {
                self.queued[self.pending] = Queued { from: i, len: reply_len.min(out.len()), dst };
                self.pending += 1;
            }
        }
    }

    /// Points the send headers of the queued replies at their buffers (base pointers taken
    /// once, as for receiving); returns the header array and the count.
    fn arm_send(&mut self) -> (*mut libc::mmsghdr, usize) {
        let m = self.pending;
        let mut ctrl_len = [0usize; BATCH];
        for (k, q) in self.queued[..m].iter().enumerate() {
            self.tx_names[k] = self.names[q.from];
            let out = &mut self.out[k];
            self.tx_iov[k] = libc::iovec { iov_base: out.as_mut_ptr().cast(), iov_len: q.len };
            ctrl_len[k] = q.dst.map_or(0, |d| write_source(&mut self.tx_ctrl[k], d));
        }
        let (iovs, names, ctrls) = (self.tx_iov.as_mut_ptr(), self.tx_names.as_mut_ptr(), self.tx_ctrl.as_mut_ptr());
        for (k, h) in self.tx_hdr[..m].iter_mut().enumerate() {
            let q = &self.queued[k];
            h.msg_len = 0;
            h.msg_hdr = libc::msghdr {
                msg_name: names.wrapping_add(k).cast(),
                msg_namelen: self.rx_hdr[q.from].msg_hdr.msg_namelen,
                msg_iov: iovs.wrapping_add(k),
                msg_iovlen: 1,
                msg_control: if ctrl_len[k] > 0 { ctrls.wrapping_add(k).cast() } else { std::ptr::null_mut() },
                msg_controllen: ctrl_len[k] as _,
                msg_flags: 0,
            };
        }
        (self.tx_hdr.as_mut_ptr(), m)
    }

    /// Sends the queued replies, each to its client and from the address it was sent to.
    pub(super) fn send(&mut self, sock: &std::net::UdpSocket) {
        let (hdrs, m) = self.arm_send();
        let mut sent = 0;
        while sent < m {
            // SAFETY: headers `sent..m` were armed just above; their name, iovec and control
            // pointers point into this batch's buffers (the reply `Vec`s are not touched until
            // the next batch) with the lengths given. The socket is open.
            let r = unsafe { libc::sendmmsg(sock.as_raw_fd(), hdrs.wrapping_add(sent), (m - sent) as libc::c_uint, 0) };
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
        self.pending = 0;
    }
}

/// Switches on destination reporting (IP_PKTINFO / IPV6_RECVPKTINFO) on a wildcard socket.
pub(super) fn enable_pktinfo(sock: &std::net::UdpSocket, v6: bool) -> io::Result<()> {
    let on: libc::c_int = 1;
    let (level, opt) =
        if v6 { (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO) } else { (libc::IPPROTO_IP, libc::IP_PKTINFO) };
    // SAFETY: `on` is a live c_int and its size is passed; the socket is open.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
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

// Control messages as the kernel lays them out: a `cmsghdr` { cmsg_len: size_t, cmsg_level:
// int, cmsg_type: int }, padded to the alignment of size_t, then the payload.
const ALIGN: usize = size_of::<usize>();
const fn cmsg_align(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}
const CMSG_HDR: usize = cmsg_align(size_of::<libc::cmsghdr>());
const fn cmsg_len(payload: usize) -> usize {
    CMSG_HDR + payload
}
const fn cmsg_space(payload: usize) -> usize {
    CMSG_HDR + cmsg_align(payload)
}
const PKTINFO4: usize = size_of::<libc::in_pktinfo>();
const PKTINFO6: usize = size_of::<libc::in6_pktinfo>();
const _: () = assert!(cmsg_space(PKTINFO6) <= CTRL_BUF && cmsg_space(PKTINFO4) <= CTRL_BUF);

fn ctrl_bytes(c: &Ctrl) -> [u8; CTRL_BUF] {
    let mut b = [0u8; CTRL_BUF];
    for (chunk, w) in b.chunks_exact_mut(8).zip(c) {
        chunk.copy_from_slice(&w.to_ne_bytes());
    }
    b
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The PKTINFO destination in a datagram's control messages; `None` when there is none, or
/// when the kernel truncated them (MSG_CTRUNC) or any length is out of bounds.
fn destination(ctrl: &Ctrl, h: &libc::msghdr) -> Option<Destination> {
    if h.msg_flags & libc::MSG_CTRUNC != 0 {
        return None;
    }
    let b = ctrl_bytes(ctrl);
    let total = h.msg_controllen.min(CTRL_BUF);
    let mut off = 0;
    while off + CMSG_HDR <= total {
        let len = usize::from_ne_bytes(b.get(off..off + ALIGN)?.try_into().ok()?);
        let level = read_u32(&b, off + offset_of!(libc::cmsghdr, cmsg_level))? as libc::c_int;
        let kind = read_u32(&b, off + offset_of!(libc::cmsghdr, cmsg_type))? as libc::c_int;
        if len < CMSG_HDR || off + len > total {
            return None;
        }
        let data = &b[off + CMSG_HDR..off + len];
        if level == libc::IPPROTO_IP && kind == libc::IP_PKTINFO && len >= cmsg_len(PKTINFO4) {
            let ifindex = read_u32(data, offset_of!(libc::in_pktinfo, ipi_ifindex))?;
            let at = offset_of!(libc::in_pktinfo, ipi_addr);
            let octets: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
            return Some(Destination { addr: IpAddr::V4(Ipv4Addr::from(octets)), ifindex });
        }
        if level == libc::IPPROTO_IPV6 && kind == libc::IPV6_PKTINFO && len >= cmsg_len(PKTINFO6) {
            let at = offset_of!(libc::in6_pktinfo, ipi6_addr);
            let octets: [u8; 16] = data.get(at..at + 16)?.try_into().ok()?;
            let ifindex = read_u32(data, offset_of!(libc::in6_pktinfo, ipi6_ifindex))?;
            return Some(Destination { addr: IpAddr::V6(Ipv6Addr::from(octets)), ifindex });
        }
        off += cmsg_align(len);
    }
    None
}

/// Writes a PKTINFO control message that makes `dst` the reply's source; returns its length.
fn write_source(ctrl: &mut Ctrl, dst: Destination) -> usize {
    let mut b = [0u8; CTRL_BUF];
    let (level, kind, payload) = match dst.addr {
        IpAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_PKTINFO, PKTINFO4),
        IpAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, PKTINFO6),
    };
    b[..ALIGN].copy_from_slice(&cmsg_len(payload).to_ne_bytes());
    let at = offset_of!(libc::cmsghdr, cmsg_level);
    b[at..at + 4].copy_from_slice(&level.to_ne_bytes());
    let at = offset_of!(libc::cmsghdr, cmsg_type);
    b[at..at + 4].copy_from_slice(&kind.to_ne_bytes());
    let data = &mut b[CMSG_HDR..CMSG_HDR + payload];
    match dst.addr {
        IpAddr::V4(a) => {
            // ipi_spec_dst is the source to use; ifindex 0 lets routing pick the interface.
            let at = offset_of!(libc::in_pktinfo, ipi_spec_dst);
            data[at..at + 4].copy_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            // The interface matters for link-local addresses; keep the one it came in on.
            let at = offset_of!(libc::in6_pktinfo, ipi6_addr);
            data[at..at + 16].copy_from_slice(&a.octets());
            let at = offset_of!(libc::in6_pktinfo, ipi6_ifindex);
            data[at..at + 4].copy_from_slice(&dst.ifindex.to_ne_bytes());
        }
    }
    for (w, chunk) in ctrl.iter_mut().zip(b.chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        *w = u64::from_ne_bytes(word);
    }
    cmsg_space(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replies to each query with its bytes reversed.
    struct Reverse;
    impl Handler for Reverse {
        fn handle(&mut self, query: &[u8], _client: SocketAddr, out: &mut Vec<u8>) -> Option<usize> {
            out.extend(query.iter().rev());
            Some(out.len())
        }
    }

    fn v4(a: [u8; 4], port: u16) -> libc::sockaddr_storage {
        let mut s = zero_storage();
        // SAFETY: test set-up: sockaddr_storage is large enough and aligned for sockaddr_in.
        let sin = unsafe { &mut *(&mut s as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_port = port.to_be();
        sin.sin_addr.s_addr = u32::from_be_bytes(a).to_be();
        s
    }

    /// Stands in for recvmmsg: writes `datagrams` through the armed headers exactly as the
    /// kernel does (payload through the iovec, the sender through msg_name, a PKTINFO cmsg
    /// through msg_control), so the provenance of every armed pointer is exercised.
    fn fake_recvmmsg(hdrs: *mut libc::mmsghdr, datagrams: &[(&[u8], libc::sockaddr_storage, Destination)]) -> usize {
        for (i, (data, from, dst)) in datagrams.iter().enumerate() {
            // SAFETY: test stand-in for the kernel: `hdrs` has BATCH armed headers whose
            // pointers are valid for the lengths they carry; i < BATCH.
            unsafe {
                let h = &mut *hdrs.add(i);
                let iov = &*h.msg_hdr.msg_iov;
                std::ptr::copy_nonoverlapping(data.as_ptr(), iov.iov_base.cast::<u8>(), data.len());
                h.msg_len = data.len() as u32;
                std::ptr::write(h.msg_hdr.msg_name.cast::<libc::sockaddr_storage>(), *from);
                h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
                let (ctrl, n) = received_pktinfo(*dst);
                std::ptr::copy_nonoverlapping(ctrl.as_ptr().cast::<u8>(), h.msg_hdr.msg_control.cast::<u8>(), n);
                h.msg_hdr.msg_controllen = n as _;
            }
        }
        datagrams.len()
    }

    /// The PKTINFO cmsg the kernel attaches to a received datagram (the header's destination
    /// is `ipi_addr` for IPv4; the IPv6 layout is the same both ways).
    fn received_pktinfo(dst: Destination) -> (Ctrl, usize) {
        let mut ctrl = [0u64; CTRL_BUF / 8];
        let n = write_source(&mut ctrl, dst);
        if let IpAddr::V4(a) = dst.addr {
            let mut b = ctrl_bytes(&ctrl);
            let at = CMSG_HDR + offset_of!(libc::in_pktinfo, ipi_addr);
            b[at..at + 4].copy_from_slice(&a.octets());
            for (w, chunk) in ctrl.iter_mut().zip(b.chunks_exact(8)) {
                *w = u64::from_ne_bytes(chunk.try_into().unwrap());
            }
        }
        (ctrl, n)
    }

    #[test]
    fn kernel_fake() {
        let mut b = Batch::new(true);
        let dst = Destination { addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), ifindex: 0 };
        let hdrs = b.arm_receive();
        let n = fake_recvmmsg(hdrs, &[(b"abc", v4([127, 0, 0, 1], 5353), dst), (b"xy", v4([10, 0, 0, 1], 53), dst)]);
        b.answer(n, &mut Reverse);
        assert_eq!(b.pending, 2);
        assert_eq!(destination(&b.rx_ctrl[0], &b.rx_hdr[0].msg_hdr), Some(dst));
        let (tx, m) = b.arm_send();
        assert_eq!(m, 2);
        // What sendmmsg would read, through the armed pointers.
        for (k, want) in [&b"cba"[..], &b"yx"[..]].iter().enumerate() {
            // SAFETY: test stand-in for the kernel reading the armed send headers.
            unsafe {
                let h = &*tx.add(k);
                let iov = &*h.msg_hdr.msg_iov;
                assert_eq!(std::slice::from_raw_parts(iov.iov_base.cast::<u8>(), iov.iov_len), *want);
                assert!(h.msg_hdr.msg_controllen > 0, "the reply carries its source address");
            }
        }
        assert_eq!(from_storage(&b.tx_names[1], b.rx_hdr[1].msg_hdr.msg_namelen), Some("10.0.0.1:53".parse().unwrap()));
    }

    #[test]
    fn control_messages_are_bounds_checked() {
        let mut ctrl = [0u64; CTRL_BUF / 8];
        let dst = Destination { addr: IpAddr::V6(Ipv6Addr::LOCALHOST), ifindex: 3 };
        let n = write_source(&mut ctrl, dst);
        let mut h = empty_hdr().msg_hdr;
        h.msg_controllen = n as _;
        assert_eq!(destination(&ctrl, &h), Some(dst));
        h.msg_flags = libc::MSG_CTRUNC;
        assert_eq!(destination(&ctrl, &h), None, "truncated control data is not trusted");
        h.msg_flags = 0;
        h.msg_controllen = (cmsg_len(PKTINFO6) - 1) as _;
        assert_eq!(destination(&ctrl, &h), None, "a cmsg longer than the control data");
        ctrl[0] = 3; // cmsg_len shorter than a header
        h.msg_controllen = n as _;
        assert_eq!(destination(&ctrl, &h), None);
    }

    #[test]
    fn cmsg_sizes_match_libc() {
        // SAFETY: CMSG_LEN and CMSG_SPACE are pure size computations.
        unsafe {
            assert_eq!(cmsg_len(PKTINFO4), libc::CMSG_LEN(PKTINFO4 as u32) as usize);
            assert_eq!(cmsg_space(PKTINFO6), libc::CMSG_SPACE(PKTINFO6 as u32) as usize);
        }
    }
}
