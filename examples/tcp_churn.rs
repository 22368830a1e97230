//! A load client for the side-by-side benchmark's TCP "short" case (`benches/peers/run.sh`):
//! every query on a new connection (connect, one framed query, read the framed reply, close).
//!
//! dnsperf's TCP mode (`-O num-queries-per-conn=1`) could not load a server this way: it waits
//! for each non-blocking connect by polling and reached only 100–270 connections a second on
//! the 2-core machine, all three servers alike (30–80 ms per query), so the servers' CPU per
//! query was a handful of clock ticks in a run and the ratios were noise. This client runs
//! THREADS (default 8) blocking threads, each one connection at a time, back to back.
//!
//!   cargo run --release --example tcp_churn -- 127.0.0.1:5411 SECONDS [THREADS] [NAME]
//!
//! It stops after SECONDS or 2,000,000 queries, whichever comes first, and prints what
//! `run.sh` reads from `dnsperf -v`: one `> RCODE NAME A SECONDS` line per answered query,
//! then `Queries completed:`, `Queries lost:` and `Queries per second:`. A query is lost when
//! the connection, the write or the read fails or times out (1 s), or the reply is not a reply
//! to it (ID, QR). The client closes first, so the TIME_WAIT state is the client's, as with a
//! resolver; loopback connections reuse TIME_WAIT ports (Linux `tcp_tw_reuse` = 2, the default).
// A load client times real connections on the wall clock (no paused test clock applies).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The most queries in one run, all threads together.
const MAX_QUERIES: u64 = 2_000_000;
const TIMEOUT: Duration = Duration::from_secs(1);

/// The framed query: 2-octet length, header (ID patched per query), `NAME A IN`.
fn framed_query(name: &str) -> Vec<u8> {
    let mut q = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    framed
}

const RCODES: [&str; 11] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",
    "NOTZONE",
];

/// One query on a new connection: the reply's rcode, or `None` when it was lost.
fn one(addr: SocketAddr, query: &mut [u8], id: u16) -> Option<u8> {
    query[2..4].copy_from_slice(&id.to_be_bytes());
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).ok()?;
    s.set_nodelay(true).ok()?;
    s.set_read_timeout(Some(TIMEOUT)).ok()?;
    s.write_all(query).ok()?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut reply).ok()?;
    (reply.len() >= 12 && reply[..2] == id.to_be_bytes() && reply[2] & 0x80 != 0).then_some(reply[3] & 0x0f)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: tcp_churn ADDR SECONDS [THREADS] [NAME]";
    let addr: SocketAddr = args.first().and_then(|a| a.parse().ok()).expect(usage);
    let seconds: f64 = args.get(1).and_then(|a| a.parse().ok()).expect(usage);
    let threads: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let name = args.get(3).cloned().unwrap_or_else(|| "www.gslb.example.com".to_string());
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let issued = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (issued, name) = (issued.clone(), name.clone());
            std::thread::spawn(move || {
                let mut query = framed_query(&name);
                let mut lines = String::new();
                let (mut done, mut lost) = (0u64, 0u64);
                let mut id = (t as u16).wrapping_mul(7919);
                while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < MAX_QUERIES {
                    id = id.wrapping_add(1);
                    let t0 = Instant::now();
                    match one(addr, &mut query, id) {
                        Some(rcode) => {
                            let rc = RCODES.get(usize::from(rcode)).copied().unwrap_or("OTHER");
                            lines.push_str(&format!("> {rc} {name} A {:.6}\n", t0.elapsed().as_secs_f64()));
                            done += 1;
                        }
                        None => lost += 1,
                    }
                }
                (lines, done, lost)
            })
        })
        .collect();
    let (mut done, mut lost) = (0u64, 0u64);
    let mut out = std::io::stdout().lock();
    for w in workers {
        let (lines, d, l) = w.join().expect("worker thread");
        out.write_all(lines.as_bytes()).expect("stdout");
        done += d;
        lost += l;
    }
    let elapsed = started.elapsed().as_secs_f64();
    writeln!(out, "  Queries completed:    {done}").expect("stdout");
    writeln!(out, "  Queries lost:         {lost}").expect("stdout");
    writeln!(out, "  Queries per second:   {:.6}", done as f64 / elapsed).expect("stdout");
}
