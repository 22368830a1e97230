//! The IXFR journal (issue 16): each reload that changes the serial adds one version; IXFR
//! from a serial the journal holds gets the differences, from an older one the whole zone
//! (RFC 1995 §4), from the current one the SOA alone; `[transfer] journal` bounds it.
// Waits on real processes are bounded by wall-clock time.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use support::*;

const ORIGIN: &str = "journal.test.";

fn zone(serial: u32, www: &str) -> String {
    format!(
        "$ORIGIN journal.test.\n$TTL 300\n@ SOA ns hostmaster {serial} 7200 900 1209600 300\n@ NS ns\nns A 192.0.2.53\nwww A {www}\n"
    )
}

fn serial(addr: SocketAddr) -> Option<u32> {
    let q = QuerySpec::new(ORIGIN, RecordType::SOA).to_message(rand_id()).to_vec().ok()?;
    let n = normalise(&udp_raw_timeout(addr, &q, Duration::from_millis(300))?);
    n.answer.first()?.split_whitespace().nth(6)?.parse().ok()
}

/// IXFR from `from` over TCP: every answer record of every reply message, as text.
fn ixfr(addr: SocketAddr, from: u32) -> Vec<String> {
    let mut q = QuerySpec::new(ORIGIN, RecordType::IXFR).to_message(0x1234).to_vec().unwrap();
    q[9] = 1; // NSCOUNT: our SOA
    q.extend_from_slice(&[0xC0, 12, 0, 6, 0, 1, 0, 0, 1, 44, 0, 22, 0, 0]);
    q.extend_from_slice(&from.to_be_bytes());
    q.extend_from_slice(&[0; 16]);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut f = (q.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(&q);
    s.write_all(&f).unwrap();
    let (mut out, mut soas) = (Vec::new(), 0);
    loop {
        let mut len = [0u8; 2];
        if s.read_exact(&mut len).is_err() {
            return out;
        }
        let mut m = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut m).unwrap();
        let msg = Message::from_vec(&m).unwrap();
        for r in &msg.answers {
            out.push(format!("{} {} {}", r.name, r.record_type(), r.data));
            soas += usize::from(r.record_type() == RecordType::SOA);
        }
        // Done: a lone SOA, or the closing SOA equal to the first (at least 2 SOAs for AXFR form,
        // 4 for one IXFR step, 6 for two).
        let first = out.first().cloned().unwrap_or_default();
        if out.len() == 1
            || (soas >= 2 && out.last() == Some(&first) && (soas % 2 == 0))
                && !(soas == 2 && out.get(1).is_some_and(|r| r.contains(" SOA ") && *r != first))
        {
            return out;
        }
    }
}

#[test]
fn ixfr_from_the_journal_or_the_whole_zone() {
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[transfer]\njournal = 1\n\n[[zone]]\norigin = \"{ORIGIN}\"\nfile = \"z.zone\"\n\
         allow_transfer = [{{ networks = [\"127.0.0.0/8\"] }}]\n"
    );
    let g = GslbdServer::start(&config, &[("z.zone", &zone(1, "192.0.2.1"))]);
    // The SIGHUP handler is installed just after the listen lines are printed.
    std::thread::sleep(Duration::from_millis(300));
    for (s, www) in [(2, "192.0.2.2"), (3, "192.0.2.3")] {
        std::fs::write(g.dir().join("z.zone"), zone(s, www)).unwrap();
        g.sighup();
        let t = Instant::now();
        while serial(g.addr()) != Some(s) {
            assert!(t.elapsed() < Duration::from_secs(5), "no reload to {s}:\n{}", g.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // From 2 (in the journal): SOA 3, SOA 2, -www .2, SOA 3, +www .3, SOA 3.
    let diff = ixfr(g.addr(), 2);
    println!("IXFR from 2:\n{}", diff.join("\n"));
    assert_eq!(diff.len(), 6, "{diff:?}");
    assert!(diff[2].ends_with("192.0.2.2") && diff[4].ends_with("192.0.2.3"), "{diff:?}");
    // From 1 (the journal holds one version): the whole zone, SOA … SOA.
    let full = ixfr(g.addr(), 1);
    println!("IXFR from 1:\n{}", full.join("\n"));
    assert_eq!(full.len(), 5, "SOA, NS, ns A, www A, SOA: {full:?}");
    assert!(full.iter().filter(|r| r.contains(" SOA ")).count() == 2);
    // From 3: up to date, the SOA alone.
    assert_eq!(ixfr(g.addr(), 3).len(), 1);
    let log = support::xfr::log_when(&g, Duration::from_secs(3), |l| l.contains("kind=ixfr-up-to-date"));
    for kind in ["kind=ixfr", "kind=ixfr-as-axfr", "kind=ixfr-up-to-date"] {
        assert!(log.contains(kind), "{kind} not logged:\n{log}");
    }
}
