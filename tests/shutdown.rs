//! A graceful stop under load (SIGTERM to the real binary): the server stops accepting,
//! answers every query it had received (UDP datagrams already queued on its sockets, TCP
//! queries already sent on open connections), closes its TCP connections after their replies,
//! and exits 0 within 2 s. Judged from both sides: every query a client sent before the signal
//! is answered, no packet the server read went unanswered (its exit summary), and the clients
//! received exactly the replies the server says it sent.
//!
//! Bounded: 4 UDP and 2 TCP client threads, each at most 50,000 queries and 10 s; loopback only.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use support::{GslbdServer, QuerySpec};

const MAX_QUERIES: usize = 50_000;
const MAX_TIME: Duration = Duration::from_secs(10);

/// What one client saw: queries sent before the signal that got no reply, replies received.
#[derive(Default, Debug)]
struct Seen {
    sent_before: usize,
    unanswered_before: usize,
    replies: usize,
}

fn query(id: u16, i: usize) -> Vec<u8> {
    let (name, t) = match i % 3 {
        0 => ("www.gslb.example.com.", RecordType::A),
        1 => ("static.gslb.example.com.", RecordType::A),
        _ => ("nothere.gslb.example.com.", RecordType::AAAA),
    };
    QuerySpec::new(name, t).to_message(id).to_vec().unwrap()
}

/// Windows of 16 queries; waits for each window's replies (at most 300 ms after the signal).
fn udp_client(addr: SocketAddr, signalled: Arc<AtomicBool>, done: Arc<AtomicBool>) -> Seen {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut seen = Seen::default();
    let start = Instant::now();
    let mut i = 0;
    let mut buf = [0u8; 2048];
    while !done.load(Ordering::Acquire) && i < MAX_QUERIES && start.elapsed() < MAX_TIME {
        let mut waiting: Vec<(u16, bool)> = Vec::new();
        for _ in 0..16 {
            let id = i as u16;
            let before = !signalled.load(Ordering::Acquire);
            if s.send_to(&query(id, i), addr).is_err() {
                break; // the port is closed: the server has stopped
            }
            waiting.push((id, before));
            seen.sent_before += usize::from(before);
            i += 1;
        }
        while !waiting.is_empty() {
            let Ok(n) = s.recv(&mut buf) else { break };
            if n < 2 {
                continue;
            }
            let id = u16::from_be_bytes([buf[0], buf[1]]);
            if let Some(k) = waiting.iter().position(|(w, _)| *w == id) {
                waiting.swap_remove(k);
                seen.replies += 1;
            }
        }
        for (_, before) in &waiting {
            if *before {
                seen.unanswered_before += 1;
            }
        }
        if waiting.iter().any(|(_, b)| !b) && signalled.load(Ordering::Acquire) {
            break; // the server no longer answers queries sent after the signal: done
        }
    }
    seen
}

/// Pipelines 8 queries at a time until the server closes the connection; moves to a new
/// connection every 800 queries (below the server's 1,000 per connection).
fn tcp_client(addr: SocketAddr, signalled: Arc<AtomicBool>) -> Seen {
    let connect = || {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s
    };
    let mut s = connect();
    let mut seen = Seen::default();
    let start = Instant::now();
    let mut i = 0;
    'conn: while i < MAX_QUERIES && start.elapsed() < MAX_TIME {
        if i > 0 && i % 800 == 0 && !signalled.load(Ordering::Acquire) {
            s = connect();
        }
        let before = !signalled.load(Ordering::Acquire);
        let mut batch = Vec::new();
        for _ in 0..8 {
            let q = query(i as u16, i);
            batch.extend_from_slice(&(q.len() as u16).to_be_bytes());
            batch.extend_from_slice(&q);
            i += 1;
        }
        if s.write_all(&batch).is_err() {
            break;
        }
        for k in 0..8 {
            let mut len = [0u8; 2];
            if s.read_exact(&mut len).is_err() {
                // Closed by the server: a clean close after the last reply, never before one
                // of the queries it had been sent before the signal.
                if before {
                    seen.unanswered_before += 8 - k;
                }
                break 'conn;
            }
            let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
            s.read_exact(&mut msg).unwrap();
            seen.replies += 1;
        }
        if before {
            seen.sent_before += 8;
        }
    }
    seen
}

#[test]
fn sigterm_under_load_answers_what_was_received_and_exits_0_within_2s() {
    let mut srv = GslbdServer::start_default();
    let addr = srv.addr();
    let signalled = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let udp: Vec<_> = (0..4)
        .map(|_| {
            let (s, d) = (signalled.clone(), done.clone());
            std::thread::spawn(move || udp_client(addr, s, d))
        })
        .collect();
    let tcp: Vec<_> = (0..2)
        .map(|_| {
            let s = signalled.clone();
            std::thread::spawn(move || tcp_client(addr, s))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    signalled.store(true, Ordering::Release);
    let t0 = Instant::now();
    srv.sigterm();
    let status = srv.wait_exit(Duration::from_secs(5));
    let took = t0.elapsed();
    done.store(true, Ordering::Release);
    let udp: Vec<Seen> = udp.into_iter().map(|t| t.join().unwrap()).collect();
    let tcp: Vec<Seen> = tcp.into_iter().map(|t| t.join().unwrap()).collect();
    let stderr = srv.stderr();
    println!("udp {udp:?}\ntcp {tcp:?}\nstopped after {took:?}");

    assert_eq!(status.and_then(|s| s.code()), Some(0), "exit status 0 after SIGTERM:\n{stderr}");
    assert!(took < Duration::from_secs(2), "exited {took:?} after SIGTERM");
    let summary = stderr.lines().find(|l| l.contains(" stopped ")).unwrap_or_else(|| panic!("no summary:\n{stderr}"));
    let field = |k: &str| -> u64 {
        let v = summary.split_whitespace().find_map(|w| w.strip_prefix(&format!("{k}="))).expect(k);
        v.parse().expect(k)
    };
    assert_eq!((field("udp_dropped"), field("tcp_dropped")), (0, 0), "{summary}");
    let (udp_replies, tcp_replies): (usize, usize) =
        (udp.iter().map(|s| s.replies).sum(), tcp.iter().map(|s| s.replies).sum());
    assert!(udp_replies > 1000 && tcp_replies > 100, "the load ran: {udp_replies} UDP, {tcp_replies} TCP replies");
    assert_eq!(field("udp_replied") as usize, udp_replies, "every UDP reply the server sent arrived: {summary}");
    assert_eq!(field("tcp_replied") as usize, tcp_replies, "every TCP reply the server sent arrived: {summary}");
    for s in udp.iter().chain(&tcp) {
        assert_eq!(s.unanswered_before, 0, "a query sent before SIGTERM went unanswered: {s:?}");
    }
}

/// A SIGHUP that arrives while gslbd is still loading its config (the admin token file has just
/// been made, the zones, pools and GeoIP data are not loaded yet) does not end the process: it
/// starts, answers, and the reload asked for runs once it serves.
#[test]
fn a_sighup_during_start_is_a_reload_after_it_not_the_end() {
    let dir = support::TempDir::new("sighup-start");
    let r = env!("CARGO_MANIFEST_DIR");
    let config = dir.write(
        "gslbd.toml",
        &format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nudp_workers = 1\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             token_file = \"admin.token\"\n\n[geoip]\ndatabase = \"{r}/geoip/default-country.mmdb\"\n\n\
             [[zone]]\norigin = \"gslb.example.com.\"\nfile = \"{r}/zones/gslb.example.com.zone\"\n\
             pools = \"{r}/zones/gslb.example.com.pools.toml\"\n"
        ),
    );
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gslbd"));
    cmd.arg("serve").arg("--config").arg(&config);
    let mut proc = support::Proc::spawn(cmd);
    // The token file is made (and said on stderr) before the config is loaded.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proc.stderr().contains("created the admin token file") {
        assert!(Instant::now() < deadline && proc.exited().is_none(), "no token line:\n{}", proc.stderr());
        std::thread::sleep(Duration::from_millis(1));
    }
    let hup = std::process::Command::new("kill").arg("-HUP").arg(proc.id().to_string()).status().unwrap();
    assert!(hup.success());
    let addrs = support::wait_listening(&mut proc, 1, "gslbd after an early SIGHUP");
    let reply = support::normalise(&support::exchange_udp(
        addrs[0],
        &QuerySpec::new("static.gslb.example.com.", RecordType::A).to_message(7).to_vec().unwrap(),
    ));
    assert_eq!(reply.full_rcode(), 0, "{reply}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proc.stderr().contains("trigger=\"signal\"") && !proc.stderr().contains("trigger=signal") {
        assert!(Instant::now() < deadline, "no reload by the signal:\n{}", proc.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(proc.exited().is_none(), "gslbd ended:\n{}", proc.stderr());
}
