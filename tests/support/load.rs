//! A bounded query load that checks every answer against the answers allowed at that moment
//! (issue 14: "0 lost and 0 wrong answers" while files change under a running server).
//!
//! ```text
//! threads ─► probe i (UDP, or TCP on a fresh connection) ─► reply? ─no─► lost
//!                                                             └► answer_of(reply) ∈ allowed[probe]? ─no─► wrong
//! test ─► allow(probe, answers) before and after each change it makes
//! ```
//!
//! A test widens a probe's allowed set before it changes a file and narrows it once the new
//! answer is served (`wait_for`), so a check never depends on the exact moment of a reload.
//! Paced to a total rate; every thread stops at `stop()` or after its time limit.
use std::collections::{BTreeSet, HashMap};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::RData;

/// How long one query may take before it counts as lost.
pub const LOST_AFTER: Duration = Duration::from_secs(2);

/// One query the load repeats.
#[derive(Clone)]
pub struct Probe {
    pub label: String,
    /// The query message (its ID is replaced for each send).
    pub query: Message,
    pub tcp: bool,
}

/// The answer a reply stands for: rcode, then the sorted A/AAAA/CNAME data
/// (`NOERROR 192.0.2.1 192.0.2.2`, `NXDOMAIN`).
pub fn answer_of(m: &Message) -> String {
    let mut data: Vec<String> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            RData::CNAME(c) => Some(format!("CNAME {}", c.0)),
            _ => None,
        })
        .collect();
    data.sort();
    let mut s = format!("{:?}", m.metadata.response_code).to_uppercase();
    for d in data {
        s.push(' ');
        s.push_str(&d);
    }
    s
}

/// What the load saw.
#[derive(Debug, Default)]
pub struct Report {
    pub sent: u64,
    pub answered: u64,
    pub lost: u64,
    pub wrong: u64,
    /// The first wrong answers and lost queries, for the failure message.
    pub samples: Vec<String>,
    pub by_answer: HashMap<String, u64>,
}

struct Shared {
    allowed: Mutex<HashMap<String, BTreeSet<String>>>,
    seen: Mutex<HashMap<String, String>>,
    report: Mutex<Report>,
    stop: AtomicBool,
    sent: AtomicU64,
}

/// A running load; stopped by [`Load::stop`] (or on Drop).
pub struct Load {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    /// Starts `threads` threads sending `probes` round robin to `server` at about `qps` in
    /// total, for at most `limit`. `allowed` gives each probe label its allowed answers.
    pub fn start(
        server: SocketAddr,
        probes: Vec<Probe>,
        allowed: &[(&str, &[&str])],
        threads: usize,
        qps: u32,
        limit: Duration,
    ) -> Load {
        assert!(server.ip().is_loopback());
        let shared = Arc::new(Shared {
            allowed: Mutex::new(
                allowed.iter().map(|(l, a)| (l.to_string(), a.iter().map(|s| s.to_string()).collect())).collect(),
            ),
            seen: Mutex::new(HashMap::new()),
            report: Mutex::new(Report::default()),
            stop: AtomicBool::new(false),
            sent: AtomicU64::new(0),
        });
        let interval = Duration::from_secs_f64(threads as f64 / f64::from(qps.max(1)));
        let mut handles = Vec::new();
        for t in 0..threads {
            let (shared, probes) = (shared.clone(), probes.clone());
            handles.push(std::thread::spawn(move || run(t, server, &probes, &shared, interval, limit)));
        }
        Load { shared, threads: handles }
    }

    /// Replaces the answers allowed for `label` from now on.
    pub fn allow(&self, label: &str, answers: &[&str]) {
        let set = answers.iter().map(|s| s.to_string()).collect();
        self.shared.allowed.lock().unwrap().insert(label.to_string(), set);
    }

    /// Waits (bounded) until the last answers seen for `label` were `answer` for `for_n`
    /// consecutive replies (any thread); panics with what was seen after `within`.
    pub fn wait_for(&self, label: &str, answer: &str, within: Duration) -> Duration {
        let t = Instant::now();
        let mut streak = 0;
        let mut last_sent = 0;
        while t.elapsed() < within {
            std::thread::sleep(Duration::from_millis(20));
            let sent = self.shared.sent.load(Ordering::Relaxed);
            if sent == last_sent {
                continue;
            }
            last_sent = sent;
            let seen = self.shared.seen.lock().unwrap().get(label).cloned().unwrap_or_default();
            streak = if seen == answer { streak + 1 } else { 0 };
            if streak >= 5 {
                return t.elapsed();
            }
        }
        let seen = self.shared.seen.lock().unwrap().get(label).cloned();
        panic!("{label}: still not answered {answer:?} after {within:?} (last: {seen:?})");
    }

    /// Stops the load and returns what it saw.
    pub fn stop(mut self) -> Report {
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        std::mem::take(&mut *self.shared.report.lock().unwrap())
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

fn run(t: usize, server: SocketAddr, probes: &[Probe], shared: &Shared, interval: Duration, limit: Duration) {
    let start = Instant::now();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(LOST_AFTER)).unwrap();
    let mut next = Instant::now();
    let mut i = t;
    let mut id = (t as u16).wrapping_mul(7919);
    while !shared.stop.load(Ordering::Relaxed) && start.elapsed() < limit {
        let probe = &probes[i % probes.len()];
        i += 1;
        id = id.wrapping_add(1);
        let mut q = probe.query.clone();
        q.metadata.id = id;
        let bytes = q.to_vec().unwrap();
        shared.sent.fetch_add(1, Ordering::Relaxed);
        let reply = if probe.tcp { ask_tcp(server, &bytes) } else { ask_udp(&udp, server, &bytes, id) };
        let mut r = shared.report.lock().unwrap();
        r.sent += 1;
        match reply.and_then(|b| Message::from_vec(&b).ok()) {
            None => {
                r.lost += 1;
                if r.samples.len() < 20 {
                    r.samples.push(format!("lost: {} (id {id}) at {:?}", probe.label, start.elapsed()));
                }
            }
            Some(m) => {
                r.answered += 1;
                let got = answer_of(&m);
                *r.by_answer.entry(format!("{}: {got}", probe.label)).or_default() += 1;
                let allowed = shared.allowed.lock().unwrap().get(&probe.label).cloned().unwrap_or_default();
                if !allowed.contains(&got) {
                    r.wrong += 1;
                    if r.samples.len() < 20 {
                        let at = start.elapsed();
                        r.samples.push(format!("wrong: {} got {got:?} (allowed {allowed:?}) at {at:?}", probe.label));
                    }
                }
                shared.seen.lock().unwrap().insert(probe.label.clone(), got);
            }
        }
        drop(r);
        next += interval;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
}

fn ask_udp(s: &UdpSocket, server: SocketAddr, q: &[u8], id: u16) -> Option<Vec<u8>> {
    s.send_to(q, server).ok()?;
    let deadline = Instant::now() + LOST_AFTER;
    let mut buf = vec![0u8; 65535];
    loop {
        s.set_read_timeout(Some(deadline.checked_duration_since(Instant::now())?.max(Duration::from_millis(1))))
            .ok()?;
        let (n, _) = s.recv_from(&mut buf).ok()?;
        // A late reply to an earlier (lost) query is not this one's.
        if n >= 12 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            buf.truncate(n);
            return Some(buf);
        }
    }
}

fn ask_tcp(server: SocketAddr, q: &[u8]) -> Option<Vec<u8>> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect_timeout(&server, LOST_AFTER).ok()?;
    s.set_read_timeout(Some(LOST_AFTER)).ok()?;
    s.set_write_timeout(Some(LOST_AFTER)).ok()?;
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(q);
    s.write_all(&framed).ok()?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}
