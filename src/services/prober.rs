//! One probe run against one target, as a `[probe.NAME]` defines it: TCP connect, or an
//! HTTP(S) GET through reqwest (rustls with ring).
//!
//! A run never panics and never outlives `timeout`: the whole attempt (connect, TLS, request,
//! bounded body read) sits inside one `tokio::time::timeout`. HTTP connections are never reused
//! (`pool_max_idle_per_host(0)`), so every probe proves the listener still accepts.
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use std::time::Duration;

use tokio::time::Instant;

use crate::config::ProbeSource;
use crate::health::ProbeResult;
use crate::pool::{HttpProbe, MemberTarget, ProbeKind, ProbeSpec, TlsProbe};

/// The most body bytes read when looking for `body_contains`.
pub const MAX_BODY: usize = 64 * 1024;

/// Runs probes. The network implementation is [`NetProber`]; tests use fakes on paused time.
pub trait Prober: Send + Sync + 'static {
    fn probe(&self, target: &MemberTarget, spec: &ProbeSpec) -> impl std::future::Future<Output = ProbeResult> + Send;
    /// Called once when a probe task starts, outside any probe's timeout: work that a first
    /// probe would otherwise pay for inside its timeout (building an HTTP client loads a TLS
    /// configuration and a root store, which can take longer than a short timeout).
    fn prepare(&self, _target: &MemberTarget, _spec: &ProbeSpec) {}
}

/// Installs ring as rustls' process-wide provider (reqwest is built without one). Idempotent.
pub fn install_crypto_provider() {
    // Err means a provider is already installed (ours, or the embedding program's): fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Real probes over the network. HTTP clients are shared between targets with the same TLS
/// settings (a client costs a TLS config and a root store); a probe with its own SNI gets its
/// own client, because reqwest can only pin a name to an address per client.
pub struct NetProber {
    clients: Mutex<HashMap<ClientKey, reqwest::Client>>,
    /// The local addresses probes are sent from (`[server] probe_source`).
    source: ProbeSource,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    tls: Option<TlsProbe>,
    user_agent: String,
    /// Only for SNI clients: the name → address pin.
    pin: Option<(String, SocketAddr)>,
    /// The local address the client binds (probe_source of the target's family).
    local: Option<IpAddr>,
}

impl Default for NetProber {
    fn default() -> Self {
        NetProber::new()
    }
}

impl NetProber {
    pub fn new() -> NetProber {
        NetProber::with_source(ProbeSource::default())
    }

    /// Probes sent from `source`'s addresses (each target from the one of its family).
    pub fn with_source(source: ProbeSource) -> NetProber {
        install_crypto_provider();
        NetProber { clients: Mutex::new(HashMap::new()), source }
    }

    /// Drops cached clients (after a reload removed the probes that used them).
    pub fn clear_clients(&self) {
        if let Ok(mut c) = self.clients.lock() {
            c.clear();
        }
    }

    /// The URL host and client of an HTTP probe whose client does not depend on a name
    /// lookup (every case but a CNAME target with its own SNI).
    fn fixed_key(&self, target: &MemberTarget, h: &HttpProbe) -> Option<(String, ClientKey)> {
        let sni = h.tls.as_ref().and_then(|t| t.sni.clone());
        // The URL's host is what rustls sends as SNI and verifies; with an explicit SNI for an
        // address target, the name is pinned to the address in a client of its own.
        let (url_h, pin, local) = match (target, sni) {
            (MemberTarget::Address(a), Some(name)) => {
                (name.clone(), Some((name, SocketAddr::new(*a, h.port))), self.source.for_target(*a))
            }
            (MemberTarget::Address(a), None) => (url_host(*a), None, self.source.for_target(*a)),
            // A name is probed from the IPv4 source if there is one.
            (MemberTarget::Cname(n), None) => (
                n.to_ascii().trim_end_matches('.').to_string(),
                None,
                self.source.v4.map(IpAddr::V4).or(self.source.v6.map(IpAddr::V6)),
            ),
            (MemberTarget::Cname(_), Some(_)) => return None,
        };
        Some((url_h, ClientKey { tls: h.tls.clone(), user_agent: h.user_agent.clone(), pin, local }))
    }

    fn client(&self, key: ClientKey) -> Result<reqwest::Client, String> {
        if let Some(c) = self.clients.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(c);
        }
        let mut b = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(key.user_agent.clone());
        if let Some(tls) = &key.tls {
            if tls.insecure {
                b = b.tls_danger_accept_invalid_certs(true);
            }
            if let Some(path) = &tls.ca_file {
                let pem = std::fs::read(path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                if certs.is_empty() {
                    return Err(format!("ca_file {}: no certificates", path.display()));
                }
                b = b.tls_certs_only(certs);
            }
        }
        if let Some((name, addr)) = &key.pin {
            b = b.resolve(name, *addr);
        }
        if let Some(local) = key.local {
            b = b.local_address(local);
        }
        let client = b.build().map_err(|e| format!("http client: {e}"))?;
        if let Ok(mut m) = self.clients.lock() {
            m.insert(key, client.clone());
        }
        Ok(client)
    }
}

impl Prober for NetProber {
    fn prepare(&self, target: &MemberTarget, spec: &ProbeSpec) {
        if let ProbeKind::Http(h) = &spec.kind
            && let Some((_, key)) = self.fixed_key(target, h)
        {
            // An error here is reported by the first probe, which builds the client again.
            let _ = self.client(key);
        }
    }

    async fn probe(&self, target: &MemberTarget, spec: &ProbeSpec) -> ProbeResult {
        let start = Instant::now();
        let attempt = async {
            match &spec.kind {
                ProbeKind::Tcp { port } => {
                    let (ok, detail) = tcp(target, *port, self.source).await;
                    (ok, detail, Some(start.elapsed()))
                }
                ProbeKind::Http(h) => http(self, target, h, start).await,
            }
        };
        match tokio::time::timeout(spec.timeout, attempt).await {
            Ok((ok, detail, rtt)) => ProbeResult::new(ok, detail, start.elapsed()).with_rtt(rtt),
            Err(_) => ProbeResult::new(
                false,
                format!("timeout after {}", super::health::millis(spec.timeout)),
                start.elapsed(),
            ),
        }
    }
}

async fn tcp(target: &MemberTarget, port: u16, source: ProbeSource) -> (bool, String) {
    let r = match (target, source == ProbeSource::default()) {
        (MemberTarget::Address(a), true) => tokio::net::TcpStream::connect(SocketAddr::new(*a, port)).await,
        (MemberTarget::Cname(n), true) => {
            tokio::net::TcpStream::connect((n.to_ascii().trim_end_matches('.'), port)).await
        }
        (MemberTarget::Address(a), false) => connect_from(source, SocketAddr::new(*a, port)).await,
        (MemberTarget::Cname(n), false) => {
            let host = n.to_ascii();
            match tokio::net::lookup_host((host.trim_end_matches('.'), port)).await.map(|mut i| i.next()) {
                Ok(Some(addr)) => connect_from(source, addr).await,
                Ok(None) => return (false, format!("{host}: no address")),
                Err(e) => return (false, format!("{host}: {e}")),
            }
        }
    };
    match r {
        Ok(_) => (true, "connected".into()),
        Err(e) => (false, short_io(&e)),
    }
}

/// Connects to `addr` from `source`'s address of its family (or any address if none is set).
async fn connect_from(source: ProbeSource, addr: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let Some(local) = source.for_target(addr.ip()) else { return tokio::net::TcpStream::connect(addr).await };
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.bind(SocketAddr::new(local, 0))?;
    socket.connect(addr).await
}

fn short_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "connection reset".into(),
        _ => e.to_string(),
    }
}

fn url_host(a: IpAddr) -> String {
    match a {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// An HTTP(S) probe: (success, detail, time from `start` to the response head).
async fn http(p: &NetProber, target: &MemberTarget, h: &HttpProbe, start: Instant) -> (bool, String, Option<Duration>) {
    let mut first_byte = None;
    let (ok, detail) = http_check(p, target, h, start, &mut first_byte).await;
    (ok, detail, first_byte)
}

async fn http_check(
    p: &NetProber,
    target: &MemberTarget,
    h: &HttpProbe,
    start: Instant,
    first_byte: &mut Option<Duration>,
) -> (bool, String) {
    let scheme = if h.tls.is_some() { "https" } else { "http" };
    let sni = h.tls.as_ref().and_then(|t| t.sni.clone());
    let (url_h, key) = match (target, &sni) {
        (MemberTarget::Cname(n), Some(name)) => {
            // Resolve the target name ourselves, then pin the SNI name to that address.
            let host = n.to_ascii();
            match tokio::net::lookup_host((host.trim_end_matches('.'), h.port)).await.map(|mut i| i.next()) {
                Ok(Some(addr)) => {
                    let pin = Some((name.clone(), addr));
                    let local = p.source.for_target(addr.ip());
                    (name.clone(), ClientKey { tls: h.tls.clone(), user_agent: h.user_agent.clone(), pin, local })
                }
                Ok(None) => return (false, format!("{host}: no address")),
                Err(e) => return (false, format!("{host}: {e}")),
            }
        }
        _ => match p.fixed_key(target, h) {
            Some(k) => k,
            None => return (false, "no client for this target".into()),
        },
    };
    let client = match p.client(key) {
        Ok(c) => c,
        Err(e) => return (false, e),
    };
    let url = format!("{scheme}://{url_h}:{}{}", h.port, h.path);
    let mut req = client.get(&url);
    if let Some(host) = &h.host {
        req = req.header(reqwest::header::HOST, host.as_str());
    }
    let mut resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return (false, reqwest_error(&e)),
    };
    *first_byte = Some(start.elapsed());
    let status = resp.status().as_u16();
    if !h.expect_status.contains(&status) {
        let want: Vec<String> = h.expect_status.iter().map(u16::to_string).collect();
        return (false, format!("HTTP {status} (expected {})", want.join(" or ")));
    }
    let Some(needle) = &h.body_contains else { return (true, format!("HTTP {status}")) };
    let mut body: Vec<u8> = Vec::new();
    // Bounded: stops after MAX_BODY bytes (or the end of the body, or an error).
    while body.len() < MAX_BODY {
        match resp.chunk().await {
            Ok(Some(c)) => body.extend_from_slice(&c[..c.len().min(MAX_BODY - body.len())]),
            Ok(None) => break,
            Err(e) => return (false, format!("HTTP {status}, body: {}", reqwest_error(&e))),
        }
    }
    if contains(&body, needle.as_bytes()) {
        (true, format!("HTTP {status}, body matches"))
    } else {
        (false, format!("HTTP {status}, body lacks \"{needle}\""))
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn reqwest_error(e: &reqwest::Error) -> String {
    // The chain's innermost cause is the informative part ("Connection refused", cert errors).
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    let mut depth = 0;
    while let Some(s) = src {
        if depth >= 8 {
            break;
        }
        msg = s.to_string();
        src = s.source();
        depth += 1;
    }
    if e.is_connect() { format!("connect: {msg}") } else { msg }
}

#[cfg(test)]
mod tests {
    use super::contains;

    #[test]
    fn substring_search() {
        assert!(contains(b"hello world", b"o w"));
        assert!(!contains(b"hello", b"world"));
        assert!(contains(b"", b""));
        assert!(!contains(b"ab", b"abc"));
    }
}
