//! DNS over loopback UDP and TCP (RFC 1035 §4.2 framing): raw bytes, checked exchanges,
//! pipelines, and hickory messages. Every exchange is bounded by [`QUERY_TIMEOUT`] and
//! refuses any address that is not loopback.
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::Message;

use super::query::msg_id;

/// How long one query may take before the client gives up.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

fn local_for(addr: SocketAddr) -> &'static str {
    if addr.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" }
}

/// Panics unless `addr` is on loopback: tests send nothing anywhere else.
pub fn assert_loopback(addr: SocketAddr) {
    assert!(addr.ip().is_loopback(), "tests only talk to loopback, not {addr}");
}

/// Sends `query` over UDP and returns the first datagram back, or `None` after [`QUERY_TIMEOUT`].
pub fn udp_raw(addr: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    udp_raw_timeout(addr, query, QUERY_TIMEOUT)
}

pub fn udp_raw_timeout(addr: SocketAddr, query: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    assert_loopback(addr);
    let s = UdpSocket::bind(local_for(addr)).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.connect(addr).ok()?;
    s.send(query).ok()?;
    let mut buf = vec![0u8; 65535];
    let n = s.recv(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Sends `query` over a fresh TCP connection and reads one length-prefixed reply.
pub fn tcp_raw(addr: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let mut s = tcp_connect(addr)?;
    s.write_all(&frame(query)).ok()?;
    read_frame(&mut s)
}

pub(crate) fn tcp_connect(addr: SocketAddr) -> Option<TcpStream> {
    assert_loopback(addr);
    let s = TcpStream::connect_timeout(&addr, QUERY_TIMEOUT).ok()?;
    s.set_read_timeout(Some(QUERY_TIMEOUT)).ok()?;
    s.set_write_timeout(Some(QUERY_TIMEOUT)).ok()?;
    Some(s)
}

pub(crate) fn frame(msg: &[u8]) -> Vec<u8> {
    let len = u16::try_from(msg.len()).expect("DNS message over 65535 bytes");
    let mut v = len.to_be_bytes().to_vec();
    v.extend_from_slice(msg);
    v
}

pub(crate) fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}

/// Sends all `queries` back to back on one TCP connection (one write), then reads
/// as many replies; returns them by message ID. Panics on a duplicate or missing ID.
pub fn tcp_pipeline(addr: SocketAddr, queries: &[Vec<u8>]) -> HashMap<u16, Vec<u8>> {
    let mut s = tcp_connect(addr).unwrap_or_else(|| panic!("TCP connect to {addr} failed"));
    let mut out = Vec::new();
    for q in queries {
        out.extend(frame(q));
    }
    s.write_all(&out).expect("pipelined write");
    let mut replies = HashMap::new();
    for i in 0..queries.len() {
        let r =
            read_frame(&mut s).unwrap_or_else(|| panic!("{addr}: pipelined reply {i} of {} missing", queries.len()));
        assert!(r.len() >= 12, "{addr}: pipelined reply {i} shorter than a header");
        let id = u16::from_be_bytes([r[0], r[1]]);
        assert!(replies.insert(id, r).is_none(), "{addr}: two replies with ID {id}");
    }
    replies
}

/// UDP exchange that checks the reply's ID. Panics on timeout or mismatch.
pub fn exchange_udp(addr: SocketAddr, query: &[u8]) -> Vec<u8> {
    let r = udp_raw(addr, query).unwrap_or_else(|| panic!("{addr}: no UDP reply in {QUERY_TIMEOUT:?}"));
    assert!(r.len() >= 12 && msg_id(&r) == msg_id(query), "{addr}: UDP reply with wrong ID or too short");
    r
}

/// TCP exchange that checks the reply's ID. Panics on timeout or mismatch.
pub fn exchange_tcp(addr: SocketAddr, query: &[u8]) -> Vec<u8> {
    let r = tcp_raw(addr, query).unwrap_or_else(|| panic!("{addr}: no TCP reply in {QUERY_TIMEOUT:?}"));
    assert!(r.len() >= 12 && msg_id(&r) == msg_id(query), "{addr}: TCP reply with wrong ID or too short");
    r
}

pub fn query_udp(addr: SocketAddr, query: &Message) -> Message {
    let r = exchange_udp(addr, &query.to_vec().expect("encode query"));
    Message::from_vec(&r).unwrap_or_else(|e| panic!("{addr}: undecodable UDP reply: {e}"))
}

pub fn query_tcp(addr: SocketAddr, query: &Message) -> Message {
    let r = exchange_tcp(addr, &query.to_vec().expect("encode query"));
    Message::from_vec(&r).unwrap_or_else(|e| panic!("{addr}: undecodable TCP reply: {e}"))
}
