//! Counted, capped, coalesced (`gslbd serve`, the real binary, read back with a real
//! Prometheus text parser):
//! - every UDP datagram received is in `/metrics`, answered (by rcode) or dropped with its
//!   reason: an oversize datagram, a runt (malformed), a response sent to us (other), replies
//!   the rate limiter dropped (rrl); answered + dropped = sent;
//! - every admin endpoint caps its request body: a declared 10 MB body to `POST /reload` gets
//!   413 without a token even being looked at, a chunked 100 KiB body to `GET /status` (whose
//!   handler reads no body) gets 413, a small one 200;
//! - 100 concurrent `POST /reload` make at most two reloads, and all get the report.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::rr::RecordType;
use support::{GslbdServer, QuerySpec, http};

const TOKEN: &str = "accounting-token";

const CONFIG: &str = concat!(
    crate::admin_server_toml!(),
    r#"
# One reply per second per client network and no slips: a burst of identical queries is
# mostly dropped by the rate limiter, so rrl drops show up.
[server.rrl]
enabled = true
responses_per_second = 1
slip = 0

[[zone]]
origin = "gslb.test."
file = "gslb.test.zone"
"#
);

const ZONE: &str = concat!(crate::gslb_test_zone_head!(), "www IN A 192.0.2.80\n");

/// Every sample of the scrape, keyed `name{label=value,...}` with labels sorted.
fn scrape(srv: &GslbdServer) -> HashMap<String, f64> {
    let (code, text) = http(srv.admin(), "GET", "/metrics", None);
    assert_eq!(code, 200);
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    parsed
        .samples
        .into_iter()
        .map(|s| {
            let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            let v = match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
                prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            };
            (format!("{}{{{}}}", s.metric, labels.join(",")), v)
        })
        .collect()
}

fn udp_totals(m: &HashMap<String, f64>) -> (f64, f64) {
    let sum = |prefix: &str| {
        m.iter().filter(|(k, _)| k.starts_with(prefix) && k.contains("transport=udp")).map(|(_, v)| v).sum::<f64>()
    };
    (sum("gslbd_queries_total{"), sum("gslbd_dropped_total{"))
}

#[test]
fn every_datagram_is_counted_with_its_reason() {
    let srv = GslbdServer::start(CONFIG, &[("gslb.test.zone", ZONE), ("admin.token", TOKEN)]);
    let before = scrape(&srv);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let q = QuerySpec::new("www.gslb.test.", RecordType::A).to_message(7).to_vec().unwrap();
    let mut response = q.clone();
    response[2] |= 0x80; // QR=1
    let mut sent = 0u32;
    for d in [vec![0u8; 5000], vec![1, 2, 3, 4, 5], response] {
        s.send_to(&d, srv.addr()).unwrap();
        sent += 1;
    }
    // 30 identical queries at once: one reply within the rate, the others dropped.
    for _ in 0..30 {
        s.send_to(&q, srv.addr()).unwrap();
        sent += 1;
    }
    let mut replies = 0;
    let mut buf = [0u8; 1500];
    while s.recv(&mut buf).is_ok() {
        replies += 1;
    }
    let after = scrape(&srv);
    let delta = |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
    let dropped = |reason: &str| delta(&format!("gslbd_dropped_total{{reason={reason},transport=udp}}"));
    assert_eq!(dropped("oversize"), 1.0, "the 5,000-byte datagram");
    assert_eq!(dropped("malformed"), 1.0, "the 5-byte runt");
    assert_eq!(dropped("other"), 1.0, "the response");
    assert_eq!(dropped("rrl"), f64::from(30 - replies), "{replies} of 30 rate-limited queries answered");
    assert!((1..30).contains(&replies), "{replies} replies");
    let ((q0, d0), (q1, d1)) = (udp_totals(&before), udp_totals(&after));
    assert_eq!((q1 - q0) + (d1 - d0), f64::from(sent), "answered + dropped = datagrams sent");
    assert_eq!(q1 - q0, f64::from(replies), "answered = replies received");
    assert_eq!(after.get("gslbd_tcp_evicted_total{}"), Some(&0.0), "the TCP table is in /metrics too");
    println!("udp: {sent} sent, {replies} answered, dropped: oversize 1, malformed 1, other 1, rrl {}", 30 - replies);
}

/// Sends `head` (and `body`, from a thread of its own) on one connection; returns the status
/// code of the reply and the reply.
fn raw_http(addr: SocketAddr, head: String, body: Vec<u8>) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        // The server may stop reading once it has refused the body: errors are expected.
        let _ = w.write_all(&body);
    });
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let _ = writer.join();
    let text = String::from_utf8_lossy(&raw).into_owned();
    (status_code(&text), text)
}

/// The status code of an HTTP reply's text; 0 when there is none.
fn status_code(reply: &str) -> u16 {
    reply.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[test]
fn every_admin_endpoint_caps_its_body_and_reloads_coalesce() {
    // A zone of 20,000 names, so that one reload takes long enough for all 100 requests to
    // arrive while it runs.
    let mut zone = ZONE.to_string();
    for i in 0..20_000 {
        zone.push_str(&format!("h{i} IN A 10.{}.{}.{}\n", i >> 16, (i >> 8) & 255, i & 255));
    }
    let srv = GslbdServer::start(CONFIG, &[("gslb.test.zone", &zone), ("admin.token", TOKEN)]);
    let admin = srv.admin();
    // A 10 MB body declared to POST /reload: refused before it is read, token or not.
    let head = format!(
        "POST /reload HTTP/1.1\r\nHost: {admin}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 10485760\r\n\r\n"
    );
    let (code, text) = raw_http(admin, head, Vec::new());
    assert_eq!(code, 413, "{text}");
    assert!(text.contains("request body over 65536 bytes"), "{text}");
    // 100 KiB, chunked, to an endpoint whose handler reads no body.
    let chunk = vec![b'x'; 4096];
    let mut body = Vec::new();
    for _ in 0..25 {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(&chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let head = format!("GET /status HTTP/1.1\r\nHost: {admin}\r\nTransfer-Encoding: chunked\r\n\r\n");
    let (code, text) = raw_http(admin, head, body);
    assert_eq!(code, 413, "{text}");
    // A small body is fine.
    let head = format!("GET /status HTTP/1.1\r\nHost: {admin}\r\nContent-Length: 5\r\nConnection: close\r\n\r\n");
    let (code, text) = raw_http(admin, head, b"hello".to_vec());
    assert_eq!(code, 200, "{text}");

    // 100 concurrent reloads: at most two are done (one running, one for all that waited).
    // Each client connects and sends its request but for the final CRLF, then all send that
    // at once: the requests reach the server within one write each, not spread over 100
    // thread starts and connects (which on a loaded 2-core CI machine took longer than one
    // reload of unchanged files, and made a third reload for the late ones).
    let ok_before = scrape(&srv).get("gslbd_reloads_total{result=ok}").copied().unwrap_or(0.0);
    let start = std::sync::Arc::new(std::sync::Barrier::new(100));
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let start = start.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect_timeout(&admin, Duration::from_secs(3)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let req = format!(
                    "POST /reload HTTP/1.1\r\nHost: {admin}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n"
                );
                s.write_all(req.as_bytes()).unwrap();
                start.wait();
                s.write_all(b"\r\n").unwrap();
                let mut raw = Vec::new();
                let _ = s.take(1 << 20).read_to_end(&mut raw);
                status_code(&String::from_utf8_lossy(&raw))
            })
        })
        .collect();
    let codes: Vec<u16> = calls.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(codes.iter().all(|c| *c == 200), "{codes:?}");
    let done = scrape(&srv).get("gslbd_reloads_total{result=ok}").copied().unwrap_or(0.0) - ok_before;
    assert!((1.0..=2.0).contains(&done), "100 concurrent reloads did {done} reloads");
    println!("413 for a declared 10 MB body and a chunked 100 KiB one; 100 concurrent reloads did {done}");
}
