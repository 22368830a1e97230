//! Real probes against loopback servers the tests start, stop and restart (real time, small
//! intervals, every wait bounded): the first answer of `decide` (with the live view) that
//! leaves a failed member out comes within interval × fall + 1 s, the first that includes a
//! recovered one within interval × rise + 1 s, and a failed region's clients go to the next
//! region. Plus the HTTP(S) checks themselves: status, body, Host, User-Agent, TLS trust.
// Black-box timing of a real server and real peers: wall-clock time is what is measured here,
// so the clippy.toml rule (tokio's pausable clock inside the server) does not apply.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gslbd::config::load_pools;
use gslbd::pool::{HealthView, MemberTarget, Pools};
use gslbd::pool::{ProbeKind, ProbeSpec};
use gslbd::services::{HealthOptions, HealthService, NetProber, Prober};
use gslbd::steer::{Answer, Client, Family, decide};
use gslbd::util::rng::SplitMix64;
use hickory_proto::rr::Name;
use support::HttpStub;

fn origin() -> Name {
    Name::from_ascii("gslb.example.com.").expect("origin")
}

fn pools(text: &str) -> Pools {
    load_pools(Path::new("test.pools.toml"), text, &origin()).unwrap_or_else(|e| panic!("{e:?}"))
}

fn answer(p: &Pools, h: &impl HealthView) -> Vec<String> {
    let pool = p.pool_id("web").expect("pool");
    let client = Client { subnet: "198.51.100.0/24".parse().expect("net"), geo: None, ranked: None };
    let d = decide(p, pool, Family::V4, &client, h, &mut SplitMix64::new(3), None);
    let mut v: Vec<String> = match d.answer {
        Answer::Addresses(a) => a.as_slice().iter().map(|a| a.to_string()).collect(),
        Answer::Cname(n) => vec![n.to_string()],
        Answer::NoData => Vec::new(),
    };
    v.sort();
    v
}

/// Polls `decide` every 10 ms until the answer is `want`; returns how long that took.
async fn until_answer(p: &Pools, h: &impl HealthView, want: &[&str], limit: Duration) -> Duration {
    let start = Instant::now();
    // Bounded by `limit`.
    while start.elapsed() < limit {
        if answer(p, h) == want {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("answer {:?} still not {want:?} after {limit:?}", answer(p, h));
}

fn pool_text(kind: &str, port: u16) -> String {
    let http =
        if kind == "http" { "path = \"/health\", body_contains = \"OK\", host = \"www.example.com\", " } else { "" };
    let probe = format!(
        "kind = \"{kind}\", port = {port}, {http}interval_ms = 200, jitter_ms = 20, timeout_ms = 150, rise = 2, fall = 3"
    );
    support::probed_failover("chk", &probe, 30, &["127.0.0.2", "127.0.0.3"], &["127.0.0.4"])
}

async fn failover_and_recovery(kind: &str) {
    let mut srv =
        HttpStub::new().route("/health", 200, "all OK").start_on_each(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let port = srv[0].port();
    let p = pools(&pool_text(kind, port));
    let health = HealthService::start(HealthOptions { seed: 42, ..Default::default() }).expect("start");
    health.update(&[&p]);
    let view = health.view(&p);
    assert!(health.wait_first_round(Duration::from_secs(2)).await, "{:?}", health.status());
    assert_eq!(answer(&p, &view), ["127.0.0.2", "127.0.0.3"], "{:?}", health.status());

    let interval = Duration::from_millis(200);
    let fail_bound = interval * 3 + Duration::from_secs(1);
    let rise_bound = interval * 2 + Duration::from_secs(1);

    srv[0].stop();
    let out = until_answer(&p, &view, &["127.0.0.3"], Duration::from_secs(5)).await;
    srv[0].restart();
    let back = until_answer(&p, &view, &["127.0.0.2", "127.0.0.3"], Duration::from_secs(5)).await;
    srv[0].stop();
    srv[1].stop();
    let region = until_answer(&p, &view, &["127.0.0.4"], Duration::from_secs(5)).await;
    srv[0].restart();
    srv[1].restart();
    let region_back = until_answer(&p, &view, &["127.0.0.2", "127.0.0.3"], Duration::from_secs(5)).await;
    println!(
        "{kind}: member left out after {out:?} (bound {fail_bound:?}), back after {back:?} (bound {rise_bound:?}); \
         region a failed over to b after {region:?}, back after {region_back:?}"
    );
    assert!(out <= fail_bound, "{kind}: left out after {out:?}");
    assert!(back <= rise_bound, "{kind}: back after {back:?}");
    assert!(region <= fail_bound, "{kind}: region failover after {region:?}");
    assert!(region_back <= rise_bound, "{kind}: region back after {region_back:?}");
    let m = health.metrics();
    assert!(m.total.transitions >= 3 + 2 + 2 + 2, "{m:?}");
    health.shutdown();
    for s in &mut srv {
        s.stop();
    }
    if kind == "http" {
        let seen = srv[2].requests();
        let head = seen.first().expect("127.0.0.4 was probed").to_ascii_lowercase();
        assert!(head.starts_with("get /health http/1.1"), "{head}");
        assert!(head.contains("host: www.example.com"), "{head}");
        assert!(head.contains("user-agent: gslbd-health/"), "{head}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_member_and_region_failover_and_recovery() {
    failover_and_recovery("http").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_member_and_region_failover_and_recovery() {
    failover_and_recovery("tcp").await;
}

fn http_spec(port: u16, f: impl FnOnce(&mut gslbd::pool::HttpProbe)) -> ProbeSpec {
    let text = format!(
        "[probe.h]\nkind = \"http\"\nport = {port}\n[pool.web]\n[pool.web.region.a]\nprobe = \"h\"\nmembers = [ {{ address = \"127.0.0.1\" }} ]\n"
    );
    let p = pools(&text);
    let mut spec = p.members().next().and_then(|(_, m)| m.probe.clone()).expect("probe").as_ref().clone();
    if let ProbeKind::Http(h) = &mut spec.kind {
        f(h);
    }
    spec
}

#[tokio::test]
async fn http_checks_status_and_body() {
    let mut srv = HttpStub::new().route("/", 503, "maintenance").start();
    let port = srv.port();
    let prober = NetProber::new();
    let t = MemberTarget::Address("127.0.0.1".parse().expect("a"));
    let r = prober.probe(&t, &http_spec(port, |_| {})).await;
    assert!(!r.ok && r.detail.contains("HTTP 503"), "{r:?}");
    let r = prober.probe(&t, &http_spec(port, |h| h.expect_status = vec![200, 503])).await;
    assert!(r.ok, "{r:?}");
    let r = prober
        .probe(
            &t,
            &http_spec(port, |h| {
                h.expect_status = vec![503];
                h.body_contains = Some("healthy".into());
            }),
        )
        .await;
    assert!(!r.ok && r.detail.contains("body lacks"), "{r:?}");
    srv.stop();
    let r = prober.probe(&t, &http_spec(port, |_| {})).await;
    assert!(!r.ok && r.detail.contains("connect"), "{r:?}");
}

/// A TLS server on a std thread (rustls, ring) for at most `conns` connections.
fn tls_server(cert_pem: String, key_der: Vec<u8>, conns: usize) -> u16 {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::io::{Read, Write};
    let certs: Vec<CertificateDer<'static>> =
        rustls::pki_types::pem::PemObject::pem_slice_iter(cert_pem.as_bytes()).map(|c| c.expect("pem")).collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der));
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("cert");
    let cfg = Arc::new(cfg);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(conns) {
            let Ok(stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let Ok(conn) = rustls::ServerConnection::new(Arc::clone(&cfg)) else { continue };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let mut buf = [0u8; 4096];
            let mut head = Vec::new();
            // Bounded: 4 reads of the request head at most.
            for _ in 0..4 {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
                if head.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure");
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    port
}

#[tokio::test]
async fn https_checks_trust_sni_and_insecure() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let leaf_key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["probe.test".to_string()])
        .expect("params")
        .signed_by(&leaf_key, &ca)
        .expect("leaf");
    let chain = format!("{}{}", leaf.pem(), ca.pem());
    let port = tls_server(chain, leaf_key.serialize_der(), 8);

    let dir = std::env::temp_dir().join(format!("gslbd-https-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("ca file");

    let prober = NetProber::new();
    let t = MemberTarget::Address("127.0.0.1".parse().expect("a"));
    let spec = |sni: Option<&str>, insecure: bool, ca: bool| {
        let mut s = http_spec(port, |h| {
            h.body_contains = Some("secure".into());
            h.tls = Some(gslbd::pool::TlsProbe {
                sni: sni.map(str::to_string),
                insecure,
                ca_file: ca.then(|| ca_file.clone()),
            });
        });
        s.timeout = Duration::from_secs(3);
        s
    };
    let r = prober.probe(&t, &spec(Some("probe.test"), false, true)).await;
    assert!(r.ok, "trusted CA + matching SNI: {r:?}");
    let r = prober.probe(&t, &spec(Some("other.test"), false, true)).await;
    assert!(!r.ok, "a name the certificate does not carry must fail: {r:?}");
    let r = prober.probe(&t, &spec(Some("probe.test"), false, false)).await;
    assert!(!r.ok, "a private CA is not in the system roots: {r:?}");
    let r = prober.probe(&t, &spec(None, true, false)).await;
    assert!(r.ok, "insecure accepts any certificate: {r:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
