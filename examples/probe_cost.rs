//! Probe cost: N members (default 10,000), each probed once a second, against local listeners,
//! for a bounded time. Prints the prober process's CPU and memory; results go to BENCHMARKS.md
//! ("Health probes").
//!
//! ```text
//! cargo run --release --example probe_cost -- tcp 30 10000
//! cargo run --release --example probe_cost -- http 30 10000
//! ```
//!
//! Members are distinct loopback addresses 127.1.x.y; one wildcard listener in a child process
//! (this binary with `--serve PORT MODE`) accepts for all of them, so its CPU is not counted
//! as probe cost. CPU is read from /proc (utime + stime, 100 ticks per second on Linux).
// Black-box timing of a real server and real peers: wall-clock time is what is measured here,
// so the clippy.toml rule (tokio's pausable clock inside the server) does not apply.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gslbd::config::load_pools;
use gslbd::services::{HealthOptions, HealthService};
use hickory_proto::rr::Name;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn cpu_secs(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // Fields after the ")" that ends the command name: state is field 3; utime 14, stime 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn mem_kib(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn member(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8)
}

async fn serve(port: u16, http: bool) {
    // A deep accept queue (the kernel caps it at net.core.somaxconn), so that the listener's
    // backlog is not what fails probes.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.set_reuse_address(true).expect("reuseaddr");
    sock.bind(&std::net::SocketAddr::from(([0, 0, 0, 0], port)).into()).expect("bind");
    sock.listen(65_535).expect("listen");
    sock.set_nonblocking(true).expect("nonblocking");
    let l = tokio::net::TcpListener::from_std(sock.into()).expect("listener");
    println!("ready");
    // Runs until the parent kills this process.
    while let Ok((mut s, _)) = l.accept().await {
        if !http {
            continue; // accepted and dropped: the connect was the probe
        }
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let mut n = 0;
            while n < buf.len() {
                match s.read(&mut buf[n..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => n += k,
                }
                if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK").await;
        });
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--serve") {
        let port: u16 = args.get(2).and_then(|p| p.parse().ok()).expect("port");
        let http = args.get(3).map(String::as_str) == Some("http");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
        rt.block_on(serve(port, http));
        return;
    }
    let mode = args.get(1).cloned().unwrap_or_else(|| "tcp".into());
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(30).clamp(1, 600);
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10_000).clamp(1, 60_000);

    let port = std::net::TcpListener::bind("0.0.0.0:0").and_then(|l| l.local_addr()).expect("free port").port();
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args(["--serve", &port.to_string(), &mode])
        .stdout(Stdio::piped())
        .spawn()
        .expect("server process");
    let mut ready = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut ready);
    }
    assert_eq!(ready.trim(), "ready", "server did not start");

    let body = match mode.as_str() {
        "http" => format!("kind = \"http\"\nport = {port}\npath = \"/health\"\nbody_contains = \"OK\""),
        _ => format!("kind = \"tcp\"\nport = {port}"),
    };
    let mut text = format!(
        "[names]\nwww = \"web\"\n[probe.p]\n{body}\ninterval_ms = 1000\njitter_ms = 500\ntimeout_ms = 1000\n\
         [pool.web]\nregion_policy = \"all\"\nmember_policy = \"all\"\n[pool.web.region.a]\nprobe = \"p\"\nmembers = [\n"
    );
    for i in 0..n {
        text.push_str(&format!("  {{ address = \"{}\" }},\n", member(i)));
    }
    text.push_str("]\n");
    let origin = Name::from_ascii("bench.example.").expect("origin");
    let pools = load_pools(Path::new("bench.pools.toml"), &text, &origin).expect("pools");

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    rt.block_on(async {
        let rss_before = mem_kib("VmRSS:");
        let health = HealthService::start(HealthOptions { seed: 1, ..Default::default() }).expect("start");
        let r = health.update(&[&pools]);
        let _view = health.view(&pools);
        let first = Instant::now();
        let all = health.wait_first_round(Duration::from_secs(5)).await;
        println!("{mode}: {} probe tasks; first round complete: {all} after {:?}", r.started, first.elapsed());
        tokio::time::sleep(Duration::from_secs(3)).await; // warm-up
        let (c0, m0, t0) = (cpu_secs("self"), health.metrics().total, Instant::now());
        let s0 = cpu_secs(&child.id().to_string());
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let (c1, m1, el) = (cpu_secs("self"), health.metrics().total, t0.elapsed().as_secs_f64());
        let s1 = cpu_secs(&child.id().to_string());
        let probes = (m1.probes - m0.probes) as f64;
        let status = health.status();
        let down = status.iter().filter(|(_, s)| s.state != gslbd::health::State::Up).count();
        println!(
            "{mode}: {n} members, {el:.1} s: {:.0} probes/s, {} failures, {down} not up at the end",
            probes / el,
            m1.failures - m0.failures
        );
        println!(
            "{mode}: prober CPU {:.1}% of one core ({:.1} µs per probe); listener process CPU {:.1}%",
            100.0 * (c1 - c0) / el,
            1e6 * (c1 - c0) / probes.max(1.0),
            100.0 * (s1 - s0) / el
        );
        println!(
            "{mode}: RSS {} MiB before start, {} MiB now, peak {} MiB",
            rss_before / 1024,
            mem_kib("VmRSS:") / 1024,
            mem_kib("VmHWM:") / 1024
        );
        let mut why: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
        for (_, st) in &status {
            if let Some(r) = st.last.as_ref().filter(|r| !r.ok) {
                *why.entry(r.detail.chars().take(80).collect()).or_default() += 1;
            }
        }
        println!("{mode}: last results that failed, by detail: {why:?}");
        health.shutdown();
    });
    let _ = child.kill();
    let _ = child.wait();
}
