//! TCP under pressure, on real loopback sockets, with the default limits of `[server.tcp]`
//! (1,024 connections, 64 per address, 1,000 queries per connection):
//! - pipelining past the query limit: 1,001 and 5,000 queries written at once on one
//!   connection get every answer up to the limit, in order, then a clean close: the client
//!   socket reads end-of-stream (FIN), never a reset, and has no pending socket error;
//! - a flood of 2,000 stalled connections from 32 addresses (127.0.x.y) does not shut TCP out:
//!   a fresh client's query is answered within 1 s, and so is dig's TCP retry after a
//!   truncated UDP answer (dig: an outside client; skipped when it is not installed).
//!
//! Every loop is bounded; all traffic is on 127.0.0.0/8.
// Black-box timing of a real server over real sockets: wall-clock time is what is measured.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

fn framed_query(id: u16, name: &str, t: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = id;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    let q = m.to_vec().unwrap();
    [(q.len() as u16).to_be_bytes().to_vec(), q].concat()
}

/// What the client saw: the IDs of the answers, in order, and how the stream ended.
struct Seen {
    ids: Vec<u16>,
    end: std::io::Result<usize>,
}

/// Writes `n` pipelined queries at once (from a task of its own, so a server that stops
/// reading cannot block the reader) and reads answers until the stream ends (bounded).
async fn pipeline(addr: SocketAddr, n: usize) -> (Seen, TcpStream) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let batch: Vec<u8> =
        (0..n).flat_map(|i| framed_query(i as u16, "static.gslb.example.com.", RecordType::A)).collect();
    let writer = tokio::spawn(async move {
        // An error is the server closing after its drain: what the test checks is the reader.
        let _ = wr.write_all(&batch).await;
        wr
    });
    let mut ids = Vec::new();
    let end = loop {
        let mut len = [0u8; 2];
        match timeout(Duration::from_secs(10), rd.read_exact(&mut len)).await.expect("the stream ends within 10 s") {
            Ok(_) => {}
            // read_exact reports a clean end of stream as UnexpectedEof.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break Ok(0),
            Err(e) => break Err(e),
        }
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if let Err(e) = rd.read_exact(&mut buf).await {
            break Err(e);
        }
        ids.push(Message::from_vec(&buf).expect("a DNS message").metadata.id);
    };
    let wr = timeout(Duration::from_secs(10), writer).await.expect("writer done").unwrap();
    (Seen { ids, end }, rd.reunite(wr).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelining_past_the_query_limit_gets_every_answer_then_a_clean_close() {
    let srv = support::app::start(1, |_| {}).await;
    let limit = 1000;
    for n in [1001usize, 5000] {
        let (seen, stream) = pipeline(srv.addr, n).await;
        let want: Vec<u16> = (0..limit as u16).collect();
        assert_eq!(seen.ids.len(), limit, "{n} pipelined: {} answers, ending {:?}", seen.ids.len(), seen.end);
        assert_eq!(seen.ids, want, "{n} pipelined: every answer up to the limit, in order");
        // FIN, not RST: the read ends with 0 bytes, again on a second read, and the socket has
        // no error pending (a reset would show as ECONNRESET on one of them).
        assert!(matches!(seen.end, Ok(0)), "{n} pipelined: the stream ended with {:?}", seen.end);
        let mut stream = stream;
        let mut b = [0u8; 1];
        let again = timeout(Duration::from_secs(2), stream.read(&mut b)).await.unwrap();
        assert!(matches!(again, Ok(0)), "{n} pipelined: second read {again:?}");
        assert!(stream.take_error().unwrap().is_none(), "{n} pipelined: socket error pending");
        println!("{n} pipelined queries: {} answers, then FIN", seen.ids.len());
    }
}

/// Raises the open-file limit for the flood (2,000 client sockets and the server's); false
/// when the hard limit does not allow it.
fn enough_files(need: u64) -> bool {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit write and read one plain struct we own.
    #[allow(unsafe_code)]
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return false;
        }
        if lim.rlim_cur >= need {
            return true;
        }
        if lim.rlim_max < need {
            return false;
        }
        lim.rlim_cur = need;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_stalled_connections_cannot_shut_out_a_new_client() {
    if !enough_files(8192) {
        println!("SKIP: the open-file limit is below 8192 and cannot be raised (ulimit -n)");
        return;
    }
    let srv = support::app::start(1, |_| {}).await;
    // 2,000 connections from 32 addresses (62 or 63 each, under the 64 per address), silent.
    let mut stalled = Vec::new();
    let started = Instant::now();
    for i in 0..2000u32 {
        let src = IpAddr::V4(Ipv4Addr::new(127, 0, 10 + (i % 32) as u8, 1));
        let sock = TcpSocket::new_v4().unwrap();
        sock.bind(SocketAddr::new(src, 0)).unwrap();
        stalled.push(timeout(Duration::from_secs(5), sock.connect(srv.addr)).await.expect("connect in time").unwrap());
    }
    let flood = started.elapsed();
    // Let the accept loop catch up with the backlog (bounded).
    let deadline = Instant::now() + Duration::from_secs(5);
    while srv.counters.evicted() < 2000 - 1024 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(srv.counters.open(), 1024, "the global limit holds");
    assert!(srv.counters.evicted() >= 2000 - 1024, "evicted {}", srv.counters.evicted());

    // A fresh client: connected, asked and answered within 1 s.
    let t = Instant::now();
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(&framed_query(4242, "gslb.example.com.", RecordType::SOA)).await.unwrap();
    let mut len = [0u8; 2];
    timeout(Duration::from_secs(1), s.read_exact(&mut len)).await.expect("answered within 1 s").unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).await.unwrap();
    let took = t.elapsed();
    let m = Message::from_vec(&buf).unwrap();
    assert_eq!((m.metadata.id, m.answers.len()), (4242, 1));
    assert!(took < Duration::from_secs(1), "fresh client answered in {took:?}");

    // A real resolver's retry: dig gets TC over UDP for the big TXT and retries over TCP.
    let dig_took = match support::dig_path() {
        None => {
            println!("SKIP (dig part): dig not installed (apt-get install bind9-dnsutils)");
            None
        }
        Some(dig) => {
            let addr = srv.addr;
            let t = Instant::now();
            let r = tokio::task::spawn_blocking(move || {
                support::dig(&dig, addr, &["big.gslb.example.com", "TXT", "+norec", "+noedns", "+ignore", "+notcp"])
            })
            .await
            .unwrap();
            assert!(r.text.contains("flags: qr aa") && r.text.contains(" tc"), "UDP answer truncated:\n{}", r.text);
            let dig = support::dig_path().unwrap();
            let r = tokio::task::spawn_blocking(move || {
                support::dig(&dig, addr, &["big.gslb.example.com", "TXT", "+norec", "+noedns"])
            })
            .await
            .unwrap();
            let took = t.elapsed();
            assert_eq!((r.status.as_str(), r.rdata("TXT").len()), ("NOERROR", 1), "{}", r.text);
            assert!(r.text.contains("retrying in TCP mode"), "dig retried over TCP:\n{}", r.text);
            Some(took)
        }
    };
    println!(
        "stalled flood: 2000 connections from 32 addresses in {flood:?}, {} open, {} evicted; fresh TCP query \
         answered in {took:?}; dig UDP→TCP retry {dig_took:?}",
        srv.counters.open(),
        srv.counters.evicted()
    );
    drop(stalled);
}
