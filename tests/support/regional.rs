//! Real regional tiers for integration tests: nginx web servers behind an HAProxy VIP, one
//! such tier per region, all on loopback, all foreground processes killed on Drop.
//!
//! ```text
//!            client ──► 127.0.R.1:VIP_PORT  (HAProxy `frontend web`, maxconn)
//!                               │  `backend web_servers`, `check inter 200 fall 2 rise 2`
//!                   ┌───────────┴───────────┐
//!            nginx 127.0.0.1:P1       nginx 127.0.0.1:P2      (`location /` → 200, `/nginx_status`)
//!   HAProxy stats: 127.0.0.1:S/stats;csv  (and Prometheus at /metrics)
//! ```
//!
//! The VIPs of the regions are distinct 127/8 addresses sharing one port, so a DNS answer (the
//! VIP address) names the region. [`HeldConnections`] is the bounded load generator: it holds
//! TCP connections open to a VIP, which HAProxy counts as current frontend sessions (`scur`).
//!
//! Invariants: only loopback; every wait has a deadline; nginx runs with `master_process off`
//! (one process) so that killing it really stops serving; a missing tool prints `SKIP: <reason>`
//! and the constructor returns `None`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::http_client::http_get;
use super::launch::{spawn_ready, start_with_retries};
use super::process::{Proc, TempDir, find_tool, free_port_on, free_tcp_port};

/// How long a load connection may take to open.
const HTTP_TIMEOUT: Duration = Duration::from_secs(2);

/// Where `nginx` lives, if installed. `GSLBD_TEST_NGINX=/path` overrides; empty = missing.
pub fn nginx_path() -> Option<PathBuf> {
    find_tool("GSLBD_TEST_NGINX", "nginx")
}

/// Where `haproxy` lives, if installed. `GSLBD_TEST_HAPROXY=/path` overrides; empty = missing.
pub fn haproxy_path() -> Option<PathBuf> {
    find_tool("GSLBD_TEST_HAPROXY", "haproxy")
}

/// `true` when both nginx and HAProxy are installed; otherwise prints the SKIP line.
pub fn tier_tools_present() -> bool {
    if nginx_path().is_none() {
        println!("SKIP: nginx not installed (apt-get install nginx)");
        return false;
    }
    if haproxy_path().is_none() {
        println!("SKIP: haproxy not installed (apt-get install haproxy)");
        return false;
    }
    true
}

// ───────────────────────────── nginx ─────────────────────────────

/// One nginx web server on `127.0.0.1:PORT`: `location /` answers 200 with its name,
/// `location = /nginx_status` is `stub_status`. Killed on Drop.
pub struct Nginx {
    proc: Proc,
    addr: SocketAddr,
    name: String,
    _dir: TempDir,
}

impl Nginx {
    /// Starts nginx named `name` on a free loopback port (a few tries), or SKIP → `None`.
    pub fn start(name: &str) -> Option<Nginx> {
        let bin = nginx_path().or_else(|| {
            println!("SKIP: nginx not installed (apt-get install nginx)");
            None
        })?;
        let addr = || SocketAddr::from(([127, 0, 0, 1], free_tcp_port()));
        Some(start_with_retries(&format!("nginx {name}"), || Self::start_at(&bin, name, addr())))
    }

    /// Starts nginx again on the address a stopped one had (`Err` if it cannot bind).
    pub fn restart(name: &str, addr: SocketAddr) -> Result<Nginx, String> {
        let bin = nginx_path().ok_or("nginx not installed")?;
        Self::start_at(&bin, name, addr)
    }

    fn start_at(bin: &Path, name: &str, addr: SocketAddr) -> Result<Nginx, String> {
        let dir = TempDir::new("nginx-test");
        dir.write("tmp/.keep", "");
        dir.write("nginx.conf", &nginx_conf(&dir.path().display().to_string(), addr, name));
        let mut cmd = Command::new(bin);
        cmd.arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .args(["-e", "stderr", "-g", "daemon off;"])
            .current_dir(dir.path());
        let proc = spawn_ready(&format!("nginx on {addr}"), cmd, || match http_get(addr, "/") {
            Some((200, body)) if body.trim() == name => Ok(()),
            other => Err(format!("GET / answered {other:?}")),
        })?;
        Ok(Nginx { proc, addr, name: name.to_string(), _dir: dir })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }
}

/// The nginx configuration the tests use (also shown, trimmed, in README.md).
pub fn nginx_conf(dir: &str, listen: SocketAddr, name: &str) -> String {
    format!(
        r#"# One process, so that stopping it stops serving; every path inside the test's directory.
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    server {{
        listen {listen};
        location / {{ return 200 "{name}\n"; }}
        location = /nginx_status {{ stub_status; }}
    }}
}}
"#
    )
}

// ───────────────────────────── HAProxy ─────────────────────────────

/// One HAProxy: `frontend web` on the region's VIP, `backend web_servers` with the region's
/// web servers health-checked every 200 ms, and a stats listener (`/stats;csv`, `/metrics`).
/// Killed on Drop.
pub struct Haproxy {
    proc: Proc,
    vip: SocketAddr,
    stats: SocketAddr,
    _dir: TempDir,
}

/// The frontend's `maxconn`: well above what any test holds open.
pub const FRONTEND_MAXCONN: u32 = 200;

/// The HAProxy configuration the tests use (also shown, trimmed, in README.md).
pub fn haproxy_cfg(vip: SocketAddr, stats: SocketAddr, servers: &[SocketAddr]) -> String {
    let mut cfg = format!(
        r#"global
    maxconn 1000
    nbthread 1

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout http-request 60s
    timeout server 5s
    timeout check 500ms

frontend web
    bind {vip}
    maxconn {FRONTEND_MAXCONN}
    default_backend web_servers

backend web_servers
    balance roundrobin
    option httpchk GET /
"#
    );
    for (i, s) in servers.iter().enumerate() {
        cfg.push_str(&format!("    server web{} {s} check inter 200 fall 2 rise 2\n", i + 1));
    }
    cfg.push_str(&format!(
        r#"
frontend stats
    bind {stats}
    stats enable
    stats uri /stats
    http-request use-service prometheus-exporter if {{ path /metrics }}
"#
    ));
    cfg
}

impl Haproxy {
    /// Starts HAProxy on `vip` (and a free stats port), or SKIP → `None`; `Err` when it
    /// does not come up (say the VIP port was taken meanwhile).
    pub fn start(vip: SocketAddr, servers: &[SocketAddr]) -> Option<Result<Haproxy, String>> {
        let bin = haproxy_path().or_else(|| {
            println!("SKIP: haproxy not installed (apt-get install haproxy)");
            None
        })?;
        let stats = SocketAddr::from(([127, 0, 0, 1], free_tcp_port()));
        Some(Self::start_at(&bin, vip, stats, servers))
    }

    /// Starts HAProxy again with the addresses a stopped one had.
    pub fn restart(vip: SocketAddr, stats: SocketAddr, servers: &[SocketAddr]) -> Result<Haproxy, String> {
        let bin = haproxy_path().ok_or("haproxy not installed")?;
        Self::start_at(&bin, vip, stats, servers)
    }

    fn start_at(bin: &Path, vip: SocketAddr, stats: SocketAddr, servers: &[SocketAddr]) -> Result<Haproxy, String> {
        let dir = TempDir::new("haproxy-test");
        let cfg = dir.write("haproxy.cfg", &haproxy_cfg(vip, stats, servers));
        let mut cmd = Command::new(bin);
        cmd.arg("-f").arg(&cfg).arg("-db").current_dir(dir.path());
        let proc = spawn_ready(&format!("haproxy on {vip}"), cmd, || {
            let stats_up = http_get(stats, "/stats;csv").is_some_and(|(c, _)| c == 200);
            match TcpStream::connect_timeout(&vip, HTTP_TIMEOUT) {
                Ok(_) if stats_up => Ok(()),
                vip_up => Err(format!("stats up: {stats_up}, VIP: {vip_up:?}")),
            }
        })?;
        Ok(Haproxy { proc, vip, stats, _dir: dir })
    }

    pub fn vip(&self) -> SocketAddr {
        self.vip
    }

    /// The stats listener (`http://ADDR/stats;csv`).
    pub fn stats_addr(&self) -> SocketAddr {
        self.stats
    }

    pub fn stats_url(&self) -> String {
        format!("http://{}/stats;csv", self.stats)
    }

    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }

    /// The stats CSV, one map (column → value) per row; panics when HAProxy does not answer.
    pub fn stats(&self) -> Vec<HashMap<String, String>> {
        let (code, body) = http_get(self.stats, "/stats;csv")
            .unwrap_or_else(|| panic!("no answer from HAProxy stats on {}; stderr:\n{}", self.stats, self.stderr()));
        assert_eq!(code, 200, "HAProxy stats: {body}");
        parse_stats_csv(&body)
    }

    /// The column `col` of the row (`pxname`, `svname`).
    pub fn stat(&self, pxname: &str, svname: &str, col: &str) -> String {
        let rows = self.stats();
        rows.iter()
            .find(|r| {
                r.get("pxname").map(String::as_str) == Some(pxname)
                    && r.get("svname").map(String::as_str) == Some(svname)
            })
            .and_then(|r| r.get(col).cloned())
            .unwrap_or_else(|| panic!("no {pxname}/{svname} {col} in HAProxy stats: {rows:?}"))
    }

    /// Current sessions of `frontend web` (what a `kind = "haproxy"` feed reads as load).
    pub fn frontend_scur(&self) -> u32 {
        self.stat("web", "FRONTEND", "scur").parse().expect("scur is a number")
    }

    /// Active servers UP in `backend web_servers`.
    pub fn backends_up(&self) -> u32 {
        self.stat("web_servers", "BACKEND", "act").parse().expect("act is a number")
    }

    /// Polls until `f(self)` holds (bounded by `limit`); panics with `what` and the last stats.
    pub fn wait_until(&self, what: &str, limit: Duration, f: impl Fn(&Haproxy) -> bool) -> Duration {
        let start = Instant::now();
        loop {
            if f(self) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "HAProxy on {}: {what} not reached within {limit:?}; stats:\n{:?}",
                self.vip,
                self.stats()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// HAProxy's CSV: a `# pxname,svname,…` header, then one row per proxy/server.
pub fn parse_stats_csv(text: &str) -> Vec<HashMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .unwrap_or_else(|| panic!("no '# pxname,…' header in HAProxy stats CSV:\n{text}"))
        .split(',')
        .collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| header.iter().zip(l.split(',')).map(|(h, v)| (h.to_string(), v.to_string())).collect())
        .collect()
}

// ───────────────────────────── one region, three regions ─────────────────────────────

/// One region's tier: two nginx behind one HAProxy VIP. Parts can be stopped and started
/// again on the same addresses.
pub struct Region {
    pub name: String,
    pub vip: SocketAddr,
    pub stats: SocketAddr,
    pub servers: [SocketAddr; 2],
    nginx: [Option<Nginx>; 2],
    haproxy: Option<Haproxy>,
}

impl Region {
    pub fn haproxy(&self) -> &Haproxy {
        self.haproxy.as_ref().unwrap_or_else(|| panic!("region {}: HAProxy is stopped", self.name))
    }

    pub fn stats_url(&self) -> String {
        format!("http://{}/stats;csv", self.stats)
    }

    /// Kills web server `i` (0 or 1).
    pub fn stop_nginx(&mut self, i: usize) {
        assert!(self.nginx[i].take().is_some(), "region {}: nginx {i} already stopped", self.name);
    }

    pub fn start_nginx(&mut self, i: usize) {
        let name = format!("{}-web{}", self.name, i + 1);
        let n = Nginx::restart(&name, self.servers[i]).unwrap_or_else(|e| panic!("{e}"));
        self.nginx[i] = Some(n);
    }

    /// Kills the region's HAProxy: the VIP stops accepting connections.
    pub fn stop_haproxy(&mut self) {
        assert!(self.haproxy.take().is_some(), "region {}: HAProxy already stopped", self.name);
    }

    pub fn start_haproxy(&mut self) {
        let h = Haproxy::restart(self.vip, self.stats, &self.servers).unwrap_or_else(|e| panic!("{e}"));
        self.haproxy = Some(h);
    }
}

/// Three (or any number of) regions: region `i` has VIP `127.0.{i+1}.1:PORT` (one shared
/// port), web servers on `127.0.0.1`, and its stats listener on `127.0.0.1`.
pub struct Tiers {
    pub regions: Vec<Region>,
    pub vip_port: u16,
}

impl Tiers {
    /// Starts every region (nginx first, then HAProxy), or SKIP → `None`. Bounded: a few
    /// tries when a port is taken between choosing and binding it.
    pub fn start(names: &[&str]) -> Option<Tiers> {
        if !tier_tools_present() {
            return None;
        }
        let vip_ips: Vec<IpAddr> =
            (0..names.len()).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, u8::try_from(i + 1).unwrap(), 1))).collect();
        Some(start_with_retries("regional tiers", || {
            let port = free_port_on(&vip_ips);
            let mut regions = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let n1 = Nginx::start(&format!("{name}-web1")).ok_or("nginx is not installed")?;
                let n2 = Nginx::start(&format!("{name}-web2")).ok_or("nginx is not installed")?;
                let servers = [n1.addr(), n2.addr()];
                let vip = SocketAddr::new(vip_ips[i], port);
                let h = Haproxy::start(vip, &servers).ok_or("haproxy is not installed")??;
                regions.push(Region {
                    name: name.to_string(),
                    vip,
                    stats: h.stats_addr(),
                    servers,
                    nginx: [Some(n1), Some(n2)],
                    haproxy: Some(h),
                });
            }
            Ok(Tiers { regions, vip_port: port })
        }))
    }

    pub fn region(&mut self, name: &str) -> &mut Region {
        self.regions.iter_mut().find(|r| r.name == name).unwrap_or_else(|| panic!("no region {name}"))
    }
}

// ───────────────────────────── load generator ─────────────────────────────

/// The bounded load generator: `n` TCP connections held open to a VIP (HAProxy counts each as a
/// current session of the frontend) until dropped or until `max` has passed, whichever is first.
pub struct HeldConnections {
    conns: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
    timer: Option<std::thread::JoinHandle<()>>,
}

/// At most this many connections per generator.
pub const MAX_HELD: usize = 150;

impl HeldConnections {
    pub fn open(addr: SocketAddr, n: usize, max: Duration) -> HeldConnections {
        assert!(addr.ip().is_loopback(), "load only to loopback, not {addr}");
        assert!(n <= MAX_HELD, "at most {MAX_HELD} connections, asked {n}");
        let conns: Vec<TcpStream> = (0..n)
            .map(|i| {
                TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)
                    .unwrap_or_else(|e| panic!("load connection {i} to {addr}: {e}"))
            })
            .collect();
        let conns = Arc::new(Mutex::new(conns));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (conns.clone(), stop.clone());
        let timer = std::thread::spawn(move || {
            let end = Instant::now() + max;
            while Instant::now() < end && !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
            c.lock().unwrap().clear();
        });
        HeldConnections { conns, stop, timer: Some(timer) }
    }

    /// How many are still held.
    pub fn len(&self) -> usize {
        self.conns.lock().unwrap().len()
    }
}

impl Drop for HeldConnections {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.timer.take() {
            let _ = t.join();
        }
        self.conns.lock().unwrap().clear();
    }
}
