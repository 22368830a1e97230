//! TCP transport over real loopback sockets (RFC 7766): pipelined queries are all
//! answered in order, and the connection limits of `[server.tcp]` hold (at a limit, the
//! connection idle the longest makes room for the new one).
mod support;

use std::time::Duration;

use gslbd::config;
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

/// Starts the default setup in this process on 127.0.0.1:0 with `limits` applied.
async fn start(limits: impl FnOnce(&mut config::TcpLimits)) -> support::app::InProcess {
    support::app::start(1, |snap| limits(&mut snap.server.tcp)).await
}

fn query(id: u16, name: &str, t: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = id;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    m.to_vec().unwrap()
}

fn framed(q: &[u8]) -> Vec<u8> {
    [(q.len() as u16).to_be_bytes().to_vec(), q.to_vec()].concat()
}

/// Reads one framed message, or `None` on EOF; bounded by 5 s.
async fn read_msg(s: &mut TcpStream) -> Option<Message> {
    let mut len = [0u8; 2];
    match timeout(Duration::from_secs(5), s.read_exact(&mut len)).await.expect("no reply within 5 s") {
        Ok(_) => {}
        Err(_) => return None,
    }
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    timeout(Duration::from_secs(5), s.read_exact(&mut buf)).await.unwrap().ok()?;
    Some(Message::from_vec(&buf).unwrap())
}

/// True when the server closes the connection within `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut b = [0u8; 1];
    matches!(timeout(within, s.read(&mut b)).await, Ok(Ok(0)) | Ok(Err(_)))
}

#[tokio::test]
async fn pipelined_queries_are_all_answered_in_order() {
    let srv = start(|_| {}).await;
    let addr = srv.addr;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let names = ["static.gslb.example.com.", "big.gslb.example.com.", "nothere.gslb.example.com.", "gslb.example.com."];
    let mut batch = Vec::new();
    for i in 0..40u16 {
        batch.extend(framed(&query(
            1000 + i,
            names[i as usize % 4],
            if i % 4 == 1 { RecordType::TXT } else { RecordType::A },
        )));
    }
    s.write_all(&batch).await.unwrap();
    for i in 0..40u16 {
        let m = read_msg(&mut s).await.expect("an answer for every query");
        assert_eq!(m.metadata.id, 1000 + i);
        assert!(!m.metadata.truncation);
        if i % 4 == 1 {
            assert_eq!(m.answers.len(), 1, "the big TXT comes whole over TCP");
        }
    }
}

#[tokio::test]
async fn a_connection_ends_after_its_query_limit() {
    let srv = start(|l| l.max_queries_per_connection = 3).await;
    let addr = srv.addr;
    let mut s = TcpStream::connect(addr).await.unwrap();
    for i in 0..5u16 {
        s.write_all(&framed(&query(i, "static.gslb.example.com.", RecordType::A))).await.unwrap_or(());
    }
    for i in 0..3u16 {
        assert_eq!(read_msg(&mut s).await.unwrap().metadata.id, i);
    }
    assert!(read_msg(&mut s).await.is_none(), "closed after 3 answers");
}

#[tokio::test]
async fn idle_connections_are_cut_off_and_udp_keeps_answering() {
    let srv = start(|l| {
        l.idle_timeout = Duration::from_millis(300);
        l.max_connections_per_ip = 4;
    })
    .await;
    let addr = srv.addr;
    // Four silent connections fill this client's slots; a fifth takes the slot of the one idle
    // the longest (the first), which is closed, and is answered.
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(TcpStream::connect(addr).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut fifth = TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut silent[0], Duration::from_millis(250)).await, "the idlest one made room");
    fifth.write_all(&framed(&query(5, "static.gslb.example.com.", RecordType::A))).await.unwrap();
    assert_eq!(read_msg(&mut fifth).await.unwrap().metadata.id, 5);
    assert_eq!(srv.counters.evicted(), 1);
    let mut silent = silent.split_off(1);
    // UDP is unaffected.
    let u = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    u.send_to(&query(7, "static.gslb.example.com.", RecordType::A), addr).await.unwrap();
    let mut buf = [0u8; 512];
    let n = timeout(Duration::from_secs(2), u.recv(&mut buf)).await.unwrap().unwrap();
    assert_eq!(Message::from_vec(&buf[..n]).unwrap().answers.len(), 1);
    // The silent ones are closed by the idle timeout.
    for s in &mut silent {
        assert!(closed_within(s, Duration::from_secs(3)).await, "idle connection closed");
    }
    // Their slots are free again.
    let mut again = TcpStream::connect(addr).await.unwrap();
    again.write_all(&framed(&query(9, "gslb.example.com.", RecordType::SOA))).await.unwrap();
    assert_eq!(read_msg(&mut again).await.unwrap().metadata.id, 9);
}

#[tokio::test]
async fn total_connection_limit_and_lifetime() {
    let srv = start(|l| {
        l.max_connections = 2;
        l.max_lifetime = Duration::from_millis(500);
        l.idle_timeout = Duration::from_secs(10);
    })
    .await;
    let addr = srv.addr;
    let mut a = TcpStream::connect(addr).await.unwrap();
    let mut b = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    // `a` asks something, so `b` is the idlest when a third connection needs a slot.
    a.write_all(&framed(&query(1, "static.gslb.example.com.", RecordType::A))).await.unwrap();
    assert_eq!(read_msg(&mut a).await.unwrap().metadata.id, 1);
    let _c = TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut b, Duration::from_millis(250)).await, "the idlest connection made room");
    assert_eq!(srv.counters.open(), 2, "the total limit holds");
    // A busy connection still ends at its lifetime.
    let start = tokio::time::Instant::now();
    loop {
        if a.write_all(&framed(&query(1, "static.gslb.example.com.", RecordType::A))).await.is_err() {
            break;
        }
        if read_msg(&mut a).await.is_none() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(3), "connection outlived its 500 ms lifetime");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(start.elapsed() >= Duration::from_millis(400));
}
