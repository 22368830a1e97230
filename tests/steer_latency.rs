//! `region_policy = "latency"` follows measured delays, end to end: three regions whose
//! members are loopback HTTP servers that answer after 5, 40 and 120 ms (the delay the probe
//! measures as its first byte), gslbd in this process probing them every 300 ms. The answer
//! lists the regions in RTT order; when the 5 ms region's delay goes to 200 ms, clients move
//! within a few probe intervals; with ±30% jitter on every delay the choice does not flip.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use support::served::{Served, post_json, repo};
use support::{QuerySpec, TempDir, udp_raw};

/// A loopback HTTP server answering 200 after `delay_ms` (± `jitter` of it, uniformly).
struct Slow {
    delay_ms: Arc<AtomicU64>,
    jitter_pct: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Slow {
    fn start(addr: SocketAddr, delay_ms: u64) -> std::io::Result<Slow> {
        let l = TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        let (delay, jitter, stop) =
            (Arc::new(AtomicU64::new(delay_ms)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (d, j, s) = (delay.clone(), jitter.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ u64::from(addr.port());
            while !s.load(Ordering::Relaxed) {
                let Ok((mut c, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                };
                let (d, j) = (d.load(Ordering::Relaxed) as f64, j.load(Ordering::Relaxed) as f64 / 100.0);
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let u = (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
                let wait = Duration::from_secs_f64(d * (1.0 + j * u) / 1000.0);
                std::thread::spawn(move || {
                    let _ = c.set_nonblocking(false);
                    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut buf = [0u8; 1024];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() < 8192 {
                        match c.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    std::thread::sleep(wait);
                    let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                });
            }
        });
        Ok(Slow { delay_ms: delay, jitter_pct: jitter, stop })
    }
}

impl Drop for Slow {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

const REGIONS: [(&str, &str, u64); 3] = [("r5", "127.0.1.1", 5), ("r40", "127.0.2.1", 40), ("r120", "127.0.3.1", 120)];

/// The three servers on one port (one address each).
fn servers() -> (u16, Vec<Slow>) {
    for _ in 0..20 {
        let port = TcpListener::bind("127.0.1.1:0").unwrap().local_addr().unwrap().port();
        let all: Result<Vec<Slow>, _> =
            REGIONS.iter().map(|(_, a, d)| Slow::start(format!("{a}:{port}").parse().unwrap(), *d)).collect();
        if let Ok(all) = all {
            return (port, all);
        }
    }
    panic!("no port free on 127.0.1.1, 127.0.2.1 and 127.0.3.1");
}

fn config(dir: &TempDir, port: u16) -> String {
    // File order is the reverse of the RTT order, so the nearest fallback (no coordinates:
    // the default region, then file order) answers 120, 40, 5 until the samples are in.
    let regions: String = REGIONS
        .iter()
        .rev()
        .map(|(name, addr, _)| {
            format!("[pool.lat.region.{name}]\nmembers = [ {{ address = \"{addr}\" }} ]\nprobe = \"rtt\"\n")
        })
        .collect();
    let pools = format!(
        "[names]\nlat = \"lat\"\n\
         [probe.rtt]\nkind = \"http\"\nport = {port}\ninterval_ms = 300\njitter_ms = 0\ntimeout_ms = 290\nrise = 1\nfall = 3\n\
         [pool.lat]\nttl = 5\nregion_policy = \"latency\"\nlatency_min_samples = 3\nlatency_hysteresis = 0.2\n\
         member_policy = \"all\"\nmax_answers = 3\nregions_per_answer = 3\n{regions}"
    );
    dir.write("lat.pools.toml", &pools);
    let r = repo().display();
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nudp_workers = 1\nhealth_startup_wait_ms = 2000\n\
         [[zone]]\norigin = \"gslb.example.com.\"\nfile = \"{r}/zones/gslb.example.com.zone\"\npools = \"lat.pools.toml\"\n"
    )
}

/// The answer's addresses, in order.
fn ask(s: &Served) -> Vec<String> {
    let q = QuerySpec::new("lat.gslb.example.com.", RecordType::A).to_message(7).to_vec().unwrap();
    let Some(r) = udp_raw(s.udp, &q) else { return Vec::new() };
    let m = hickory_proto::op::Message::from_vec(&r).unwrap();
    // In wire order (the preferred region first), not sorted.
    m.answers.iter().map(|r| r.data.to_string()).collect()
}

fn explain_now(s: &Served) -> String {
    gslbd::dns::explain::explain(
        &**s.shared.load(),
        &hickory_proto::rr::Name::from_ascii("lat.gslb.example.com.").unwrap(),
        RecordType::A,
        "192.0.2.0/24".parse().unwrap(),
        &mut gslbd::util::rng::SplitMix64::new(1),
    )
}

/// Polls every 20 ms until `want(first address)` holds, at most `limit`; the time it took.
fn until(s: &Served, limit: Duration, want: impl Fn(&[String]) -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if want(&ask(s)) {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn latency_steering_follows_measured_delays() {
    let dir = TempDir::new("latency");
    let (port, slow) = servers();
    let s = Served::start(&dir, &config(&dir, port));
    let order = ["127.0.1.1", "127.0.2.1", "127.0.3.1"].map(String::from);
    let first = ask(&s);
    assert_eq!(first[0], "127.0.3.1", "before 3 samples per member: nearest's default region, file order: {first:?}");
    // 5, 40, 120 ms: once every member has 3 samples (about 1 s), the answer lists the
    // regions in that order.
    let settled = until(&s, Duration::from_secs(5), |a| a == order);
    assert!(settled.is_some(), "answer {:?}, expected {order:?}", ask(&s));
    let explain = explain_now(&s);
    assert!(explain.contains("lowest RTT region is r5") && explain.contains("ms ("), "{explain}");
    // The 5 ms region slows to 200 ms: clients move to the 40 ms region.
    slow[0].delay_ms.store(200, Ordering::Relaxed);
    let moved = until(&s, Duration::from_secs(5), |a| a.first().map(String::as_str) == Some("127.0.2.1"));
    let moved = moved.unwrap_or_else(|| panic!("clients did not move within 5 s: {:?}", ask(&s)));
    // ±30% jitter on every delay (r5 back at 5 ms): count the changes of the first region.
    slow[0].delay_ms.store(5, Ordering::Relaxed);
    for sl in &slow {
        sl.jitter_pct.store(30, Ordering::Relaxed);
    }
    let back = until(&s, Duration::from_secs(5), |a| a.first().map(String::as_str) == Some("127.0.1.1"));
    assert!(back.is_some());
    let (mut flips, mut last, mut polls) = (0, ask(&s).first().cloned(), 0);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        let now = ask(&s).first().cloned();
        if now != last {
            flips += 1;
        }
        last = now;
        polls += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "settled in {:.2} s; 5 -> 200 ms: clients moved in {:.2} s (probe interval 0.3 s); back in {:.2} s; \
         ±30% jitter: {flips} flips in {polls} polls over 3 s",
        settled.unwrap().as_secs_f64(),
        moved.as_secs_f64(),
        back.unwrap().as_secs_f64()
    );
    assert!(moved < Duration::from_secs(2), "moved within ~3 probe intervals + the probe time: {moved:?}");
    assert_eq!(flips, 0, "5/40/120 ms ±30% never overlap past the 20% hysteresis");
}

/// RTTs posted by clients (`POST /rtt`): the clients of one /24 that measured the 10 ms region
/// get it, with ECS scope /24; other clients, without samples, get the nearest fallback.
#[test]
fn client_posted_rtts_steer_their_24() {
    let dir = TempDir::new("latency-rum");
    dir.write("token", "s3cret\n");
    dir.write(
        "rum.pools.toml",
        "[names]\nlat = \"lat\"\n[pool.lat]\nregion_policy = \"latency\"\nlatency_client_samples = true\n\
         latency_min_samples = 2\nmax_answers = 1\n\
         [pool.lat.region.slow]\nmembers = [ { address = \"127.0.1.1\" } ]\n\
         [pool.lat.region.fast]\nmembers = [ { address = \"127.0.2.1\" } ]\n",
    );
    let r = repo().display();
    let s = Served::start(
        &dir,
        &format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nudp_workers = 1\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"token\"\n\
             [[zone]]\norigin = \"gslb.example.com.\"\nfile = \"{r}/zones/gslb.example.com.zone\"\npools = \"rum.pools.toml\"\n"
        ),
    );
    let admin = s.admin.expect("admin API");
    let ask_from = |subnet: &str| {
        let mut q = QuerySpec::new("lat.gslb.example.com.", RecordType::A);
        q.edns = Some(support::EdnsSpec { options: vec![support::ecs_option(subnet)], ..Default::default() });
        let m =
            hickory_proto::op::Message::from_vec(&udp_raw(s.udp, &q.to_message(9).to_vec().unwrap()).unwrap()).unwrap();
        (m.answers[0].data.to_string(), support::ecs_of(&m)[0].clone())
    };
    let one = r#"[{"client": "198.51.100.77", "zone": "gslb.example.com", "pool": "lat", "rtt_ms": {"slow": 80.0, "fast": 10.0}}]"#;
    assert_eq!(post_json(admin, "/rtt", None, one).0, 401, "posting samples needs the token");
    let (code, body) = post_json(admin, "/rtt", Some("s3cret"), one);
    assert_eq!(code, 200, "{body}");
    // One sample per region is fewer than latency_min_samples (2): the fallback answers.
    assert_eq!(ask_from("198.51.100.0/24").0, "127.0.1.1");
    assert_eq!(post_json(admin, "/rtt", Some("s3cret"), one).0, 200);
    assert_eq!(ask_from("198.51.100.0/24"), ("127.0.2.1".into(), "198.51.100.0/24/24".into()));
    assert_eq!(ask_from("198.51.100.128/25"), ("127.0.2.1".into(), "198.51.100.128/25/24".into()));
    // Another /24 has no samples: the nearest fallback (the default region), scope 0.
    assert_eq!(ask_from("203.0.113.0/24"), ("127.0.1.1".into(), "203.0.113.0/24/0".into()));
    // A sample for a whole /16 cannot be attributed to a /24; a bad RTT is refused.
    let wide = r#"[{"client": "198.51.0.0/16", "zone": "gslb.example.com.", "pool": "lat", "rtt_ms": {"fast": 1}}]"#;
    let (code, body) = post_json(admin, "/rtt", Some("s3cret"), wide);
    assert!(code == 422 && body.contains("wider than a /24"), "{code} {body}");
    let bad = r#"[{"client": "198.51.100.1", "zone": "gslb.example.com.", "pool": "lat", "rtt_ms": {"fast": -1}}]"#;
    assert_eq!(post_json(admin, "/rtt", Some("s3cret"), bad).0, 422);
    let ex = support::served::explain_of(&s, "lat.gslb.example.com.");
    assert!(ex.contains("fallback") || ex.contains("nearest"), "{ex}");
}
