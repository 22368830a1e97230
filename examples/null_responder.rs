//! The floor for the side-by-side benchmark (`benches/peers/run.sh`): a UDP responder that
//! does no DNS work at all. It answers every query with the query itself, QR and AA set and
//! one fixed `A 192.0.2.1` record (TTL 30, owner = pointer to the question name) inserted
//! after the question; an OPT (or anything else) in the additional section is copied back
//! unchanged.
//!
//! Its socket loop is gslbd's own UDP fast path (`gslbd::dns::udp::serve`, generic over a
//! handler): per address one SO_REUSEPORT socket per CPU (4 MiB receive buffer), each served
//! by its own thread with `recvmmsg`/`sendmmsg` batches of 32 into preallocated buffers. Only
//! the handler differs (a fixed reply instead of `respond`), so the difference between the
//! two is "the cost of the DNS work".
//!
//!   cargo run --release --example null_responder -- 127.0.0.1:5399 [workers]
//!
//! It prints `null-responder listening on ADDR` once bound, like gslbd.
use std::net::SocketAddr;

use gslbd::dns::server::udp_socket;
use gslbd::dns::udp::{Handler, spawn_workers};

/// The fixed answer: owner 0xC00C, type A, class IN, TTL 30, rdlength 4, 192.0.2.1.
const ANSWER: [u8; 16] = [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 1];

/// Writes the reply to `q` into `out`; `None` for anything that is not a one-question query.
fn reply(q: &[u8], out: &mut Vec<u8>) -> Option<()> {
    if q.len() < 12 || q[2] & 0x80 != 0 || q[4..6] != [0, 1] {
        return None;
    }
    // End of the question: the name's labels, then type and class.
    let mut i = 12;
    loop {
        let l = *q.get(i)? as usize;
        if l == 0 {
            i += 1;
            break;
        }
        if l & 0xC0 != 0 {
            return None;
        }
        i += 1 + l;
    }
    let qend = i + 4;
    if qend > q.len() {
        return None;
    }
    out.clear();
    out.extend_from_slice(&q[..qend]);
    out[2] |= 0x84; // QR, AA
    out[3] = 0; // RA, Z, RCODE = NOERROR
    out[6] = 0;
    out[7] = 1; // ANCOUNT = 1
    out[8] = 0;
    out[9] = 0; // NSCOUNT = 0; ARCOUNT as in the query
    out.extend_from_slice(&ANSWER);
    out.extend_from_slice(&q[qend..]);
    Some(())
}

/// The fixed-reply handler for gslbd's UDP loop.
struct Null;

impl Handler for Null {
    fn handle(&mut self, query: &[u8], client: SocketAddr, out: &mut Vec<u8>) -> Option<usize> {
        if client.port() == 0 {
            return None;
        }
        reply(query, out).map(|_| out.len())
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args.next().unwrap_or_else(|| "127.0.0.1:5399".into()).parse().expect("address");
    let workers: usize = match args.next() {
        Some(w) => w.parse().expect("workers"),
        None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    let first = udp_socket(addr).expect("bind");
    let addr = first.local_addr().expect("local address");
    let mut socks = vec![first];
    for _ in 1..workers.max(1) {
        socks.push(udp_socket(addr).expect("bind"));
    }
    spawn_workers(socks, || Null).expect("worker threads");
    println!("null-responder listening on {addr}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // The workers run until the process is killed.
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::reply;

    #[test]
    fn echoes_question_and_adds_one_a_record() {
        // id 0x1234, RD, one question www.example. A IN, no EDNS.
        let q = [
            0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l',
            b'e', 0, 0, 1, 0, 1,
        ];
        let mut out = Vec::new();
        reply(&q, &mut out).unwrap();
        assert_eq!(&out[..2], &[0x12, 0x34]);
        assert_eq!(out[2], 0x85);
        assert_eq!(&out[6..8], &[0, 1]);
        assert_eq!(out.len(), q.len() + 16);
        assert_eq!(&out[out.len() - 4..], &[192, 0, 2, 1]);
        let mut r = q;
        r[2] = 0x80;
        assert!(reply(&r, &mut out).is_none());
    }
}
