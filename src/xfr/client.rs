//! DNS messages gslbd sends as a client (NOTIFY, SOA queries, AXFR/IXFR requests), and the
//! exchanges over UDP and TCP, each bounded in time and size.
use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::rr::Name;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::zone::Record;

pub const OPCODE_QUERY: u8 = 0;
pub const OPCODE_NOTIFY: u8 = 4;

/// A request: one question, optionally one answer record (NOTIFY's SOA) or one authority
/// record (IXFR's SOA). AA is set on NOTIFY (RFC 1996 §3.7).
pub fn request(
    id: u16,
    opcode: u8,
    qname: &Name,
    qtype: u16,
    answer: Option<&Record>,
    authority: Option<&Record>,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(512);
    m.extend_from_slice(&id.to_be_bytes());
    let aa: u16 = if opcode == OPCODE_NOTIFY { 0x0400 } else { 0 };
    m.extend_from_slice(&((u16::from(opcode) << 11) | aa).to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&u16::from(answer.is_some()).to_be_bytes());
    m.extend_from_slice(&u16::from(authority.is_some()).to_be_bytes());
    m.extend_from_slice(&0u16.to_be_bytes());
    m.extend_from_slice(&crate::zone::name_wire(qname));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    for r in answer.into_iter().chain(authority) {
        r.write(&mut m);
    }
    m
}

/// The reply's ID, QR bit, opcode and rcode (the low 4 bits), if it has a header.
pub fn reply_header(msg: &[u8]) -> Option<(u16, bool, u8, u8)> {
    let h = msg.get(..4)?;
    Some((u16::from_be_bytes([h[0], h[1]]), h[2] & 0x80 != 0, (h[2] >> 3) & 0xF, h[3] & 0xF))
}

/// The name of an rcode, as logs and `/status` show it.
pub fn rcode_name(rcode: u8) -> String {
    crate::dns::explain::rcode_mnemonic(u16::from(rcode))
}

/// Sends `msg` over UDP to `to` and waits up to `wait` for the reply with the same ID.
pub async fn udp_exchange(to: SocketAddr, msg: &[u8], wait: Duration) -> Result<Vec<u8>, String> {
    let bind: SocketAddr = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().map_err(|_| "bind")?;
    let sock = UdpSocket::bind(bind).await.map_err(|e| format!("udp socket: {e}"))?;
    sock.send_to(msg, to).await.map_err(|e| format!("send to {to}: {e}"))?;
    let id = &msg[..2];
    let mut buf = vec![0u8; 65535];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let (n, from) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf))
            .await
            .map_err(|_| "no answer".to_string())?
            .map_err(|e| format!("receive: {e}"))?;
        if from == to && n >= 12 && &buf[..2] == id {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

/// A TCP connection to a server: framed messages out and in, every read bounded by `wait`.
pub struct Tcp {
    stream: TcpStream,
    wait: Duration,
}

impl Tcp {
    pub async fn connect(to: SocketAddr, wait: Duration) -> Result<Tcp, String> {
        let stream = tokio::time::timeout(wait, TcpStream::connect(to))
            .await
            .map_err(|_| format!("connect to {to}: timed out"))?
            .map_err(|e| format!("connect to {to}: {e}"))?;
        Ok(Tcp { stream, wait })
    }

    pub async fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        let mut framed = Vec::with_capacity(msg.len() + 2);
        framed.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        framed.extend_from_slice(msg);
        tokio::time::timeout(self.wait, self.stream.write_all(&framed))
            .await
            .map_err(|_| "send: timed out".to_string())?
            .map_err(|e| format!("send: {e}"))
    }

    /// The next message (at most 65535 octets by the framing).
    pub async fn recv(&mut self) -> Result<Vec<u8>, String> {
        let mut len = [0u8; 2];
        self.read_exact(&mut len).await?;
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        self.read_exact(&mut msg).await?;
        Ok(msg)
    }

    async fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), String> {
        match tokio::time::timeout(self.wait, self.stream.read_exact(buf)).await {
            Err(_) => Err("read: timed out".into()),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err("the connection closed mid-transfer".into())
            }
            Ok(Err(e)) => Err(format!("read: {e}")),
            Ok(Ok(_)) => Ok(()),
        }
    }
}
