//! Hostile transfers (issue 16, Must-show 4): AXFR from an address the zone does not allow and
//! AXFR over UDP are REFUSED; a primary that cuts a transfer short, sends a malformed one or
//! one that never ends (bounded by `[transfer] max_in_bytes` and `max_in_seconds`) leaves the
//! old data serving, and the error shows in the log, `/status` and `/metrics`.
// Waits on real processes are bounded by wall-clock time.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use support::*;

const ORIGIN: &str = "hostile.test.";
const ZONE: &str = "$ORIGIN hostile.test.\n$TTL 300\n@ SOA ns hostmaster 1 7200 900 1209600 300\n@ NS ns\nns A 192.0.2.53\nwww A 192.0.2.1\n";

fn soa_serial(addr: SocketAddr) -> Option<u32> {
    let q = QuerySpec::new(ORIGIN, RecordType::SOA).to_message(rand_id()).to_vec().ok()?;
    let n = normalise(&udp_raw_timeout(addr, &q, Duration::from_millis(300))?);
    n.answer.first()?.split_whitespace().nth(6)?.parse().ok()
}

#[test]
fn refused_from_other_addresses_and_over_udp() {
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[[zone]]\norigin = \"{ORIGIN}\"\nfile = \"z.zone\"\n\
         allow_transfer = [{{ networks = [\"127.0.0.2/32\"] }}]\n"
    );
    let g = GslbdServer::start(&config, &[("z.zone", ZONE)]);
    let q = QuerySpec::new(ORIGIN, RecordType::AXFR).to_message(0x4242).to_vec().unwrap();
    let tcp = normalise(&exchange_tcp(g.addr(), &q));
    assert_eq!((tcp.rcode_name().as_str(), tcp.answer.len()), ("REFUSED", 0), "{tcp}");
    let udp = normalise(&exchange_udp(g.addr(), &q));
    assert_eq!((udp.rcode_name().as_str(), udp.answer.len()), ("REFUSED", 0), "{udp}");
    let log = support::xfr::log_when(&g, Duration::from_secs(3), |l| l.contains("zone transfer refused"));
    assert!(log.contains("zone transfer refused") && log.contains("client=127.0.0.1"), "{log}");
    let (_, metrics) = http(g.admin(), "GET", "/metrics", None);
    assert!(
        metrics.contains("gslbd_zone_transfers_total{direction=\"out\",zone=\"hostile.test.\",result=\"refused\"} 1"),
        "{metrics}"
    );
}

/// What the fake primary does with a transfer request.
const GOOD: u8 = 0;
const TRUNCATED: u8 = 1;
const MALFORMED: u8 = 2;
const ENDLESS: u8 = 3;
const TRICKLE: u8 = 4;

fn name(n: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in n.trim_end_matches('.').split('.') {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

fn rr(owner: &str, rtype: u16, rdata: &[u8]) -> Vec<u8> {
    let mut r = name(owner);
    r.extend_from_slice(&rtype.to_be_bytes());
    r.extend_from_slice(&[0, 1, 0, 0, 1, 44]);
    r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    r.extend_from_slice(rdata);
    r
}

fn soa(serial: u32) -> Vec<u8> {
    let mut rd = name("ns.hostile.test.");
    rd.extend(name("hostmaster.hostile.test."));
    for v in [serial, 7200, 900, 1_209_600, 300] {
        rd.extend_from_slice(&v.to_be_bytes());
    }
    rr(ORIGIN, 6, &rd)
}

/// A reply to `query` (ID, question echoed) with `records`.
fn reply(query: &[u8], records: &[Vec<u8>]) -> Vec<u8> {
    let qend = 12 + query[12..].iter().position(|&b| b == 0).unwrap() + 1 + 4;
    let mut m = query[..2].to_vec();
    m.extend_from_slice(&[0x84, 0, 0, 1]);
    m.extend_from_slice(&(records.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&query[12..qend]);
    records.iter().for_each(|r| m.extend_from_slice(r));
    m
}

fn frame(m: &[u8]) -> Vec<u8> {
    let mut f = (m.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(m);
    f
}

/// A primary on 127.0.0.1 that answers SOA queries with `serial` and transfers as `mode` says.
fn fake_primary(mode: Arc<AtomicU8>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let mode = mode.clone();
            std::thread::spawn(move || serve(conn, mode.load(Ordering::SeqCst)));
        }
    });
    addr
}

fn serve(mut c: TcpStream, mode: u8) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let serial = if mode == GOOD { 1 } else { 2 };
    let started = Instant::now();
    loop {
        let mut len = [0u8; 2];
        if c.read_exact(&mut len).is_err() {
            return;
        }
        let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
        if c.read_exact(&mut q).is_err() {
            return;
        }
        let qtype = {
            let at = 12 + q[12..].iter().position(|&b| b == 0).unwrap() + 1;
            u16::from_be_bytes([q[at], q[at + 1]])
        };
        if qtype == 6 {
            let _ = c.write_all(&frame(&reply(&q, &[soa(serial)])));
            continue;
        }
        let www = rr("www.hostile.test.", 1, &[192, 0, 2, 1]);
        let ns = rr(ORIGIN, 2, &name("ns.hostile.test."));
        let glue = rr("ns.hostile.test.", 1, &[192, 0, 2, 53]);
        match mode {
            GOOD => {
                let _ = c.write_all(&frame(&reply(&q, &[soa(serial), ns, glue, www, soa(serial)])));
            }
            TRUNCATED => {
                let f = frame(&reply(&q, &[soa(serial), ns, glue, www, soa(serial)]));
                let _ = c.write_all(&f[..f.len() / 2]);
                return; // closed mid-message
            }
            MALFORMED => {
                let mut m = reply(&q, &[soa(serial), ns, www]);
                m.extend_from_slice(&[0xC0, 0xFF, 0, 1]); // a pointer past the end, cut
                m[7] = 4;
                let _ = c.write_all(&frame(&m));
                return;
            }
            _ => {
                // Never ends: messages of A records, no closing SOA (bounded here to 30 s).
                let _ = c.write_all(&frame(&reply(&q, &[soa(serial)])));
                let batch: Vec<Vec<u8>> =
                    (0..200u32).map(|i| rr(&format!("h{i}.hostile.test."), 1, &i.to_be_bytes())).collect();
                let m = frame(&reply(&q, &batch));
                while started.elapsed() < Duration::from_secs(30) {
                    if c.write_all(&m).is_err() {
                        return;
                    }
                    if mode == TRICKLE {
                        std::thread::sleep(Duration::from_millis(200)); // under the size bound
                    }
                }
                return;
            }
        }
    }
}

#[test]
fn bad_primaries_leave_the_old_data_serving() {
    let mode = Arc::new(AtomicU8::new(GOOD));
    let primary = fake_primary(mode.clone());
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n\
         [transfer]\nmax_in_bytes = 1000000\nmax_in_seconds = 3\n\n\
         [[zone]]\norigin = \"{ORIGIN}\"\nfile = \"copy.zone\"\nprimary = [\"{primary}\"]\n"
    );
    let g = GslbdServer::start(&config, &[]);
    let t0 = Instant::now();
    while soa_serial(g.addr()) != Some(1) {
        assert!(t0.elapsed() < Duration::from_secs(10), "no first transfer:\n{}", g.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let notify = {
        let mut q = QuerySpec::new(ORIGIN, RecordType::SOA);
        q.opcode = 4;
        q.to_message(0x7777).to_vec().unwrap()
    };
    for (m, what) in [
        (TRUNCATED, "closed mid-transfer"),
        (MALFORMED, "malformed"),
        (ENDLESS, "larger than 1000000 octets"),
        (TRICKLE, "took longer than 3s"),
    ] {
        mode.store(m, Ordering::SeqCst);
        let failures_before = g.stderr().matches("zone transfer in failed").count();
        let ack = normalise(&exchange_udp(g.addr(), &notify));
        assert_eq!(ack.rcode_name(), "NOERROR", "NOTIFY from the primary's address: {ack}");
        let t = Instant::now();
        while g.stderr().matches("zone transfer in failed").count() == failures_before {
            assert!(t.elapsed() < Duration::from_secs(10), "no failure reported for {what}:\n{}", g.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
        println!("{what}: reported after {:?}", t.elapsed());
        let log = g.stderr();
        let last = log.lines().rfind(|l| l.contains("zone transfer in failed")).unwrap_or_default();
        assert!(last.contains(what), "expected {what:?} in: {last}");
        assert_eq!(soa_serial(g.addr()), Some(1), "the old data must keep serving after: {last}");
        let (_, status) = http(g.admin(), "GET", "/status", None);
        assert!(status.contains("\"last_in_error\":{") && status.contains("\"role\":\"secondary\""), "{status}");
        let (_, metrics) = http(g.admin(), "GET", "/metrics", None);
        assert!(metrics.contains("gslbd_zone_transfer_in_failing{zone=\"hostile.test.\"} 1"), "{metrics}");
    }
}
