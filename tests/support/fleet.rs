//! A fleet on loopback for the issue-17 tests: real etcd members (Debian etcd-server 3.4) on
//! free ports with temp data dirs and etcdctl as the oracle, `gslbd serve` nodes that each probe
//! from their own source address (127.0.0.11, .12, .13), an HTTP health endpoint that fails for
//! chosen source addresses, and an admin client that sends bodies and headers.
//!
//! ```text
//! test ─► Etcd::start(1 | 3) ─► etcd --listen-client-urls http://127.0.0.1:P …
//!      ─► Node::start(i) ──────► gslbd serve ([cluster] node-i, probe_source 127.0.0.1{i})
//!      ─► FailServer ◄── probes from 127.0.0.11/12/13: 503 for the addresses in its fail set
//! ```
//! Every process is killed and every temp dir removed on Drop; all traffic stays on loopback.
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Proc, QUERY_TIMEOUT, TempDir, free_port, wait_listening_admin};

/// The admin token every node is configured with.
pub const TOKEN: &str = "fleet-test-token";

/// `etcd` and `etcdctl` on PATH; otherwise the caller prints SKIP and passes.
pub fn etcd_present() -> bool {
    let ok = |bin: &str, arg: &str| Command::new(bin).arg(arg).output().map(|o| o.status.success()).unwrap_or(false);
    ok("etcd", "--version") && ok("etcdctl", "version")
}

/// Prints the skip line the suite uses for a missing tool.
pub fn skip_without_etcd(test: &str) -> bool {
    if etcd_present() {
        return false;
    }
    println!("SKIP: {test}: etcd/etcdctl not installed (apt-get install etcd-server etcd-client)");
    true
}

/// A port that was free a moment ago and is never handed out twice in this process.
pub fn fresh_port() -> u16 {
    static SEEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    loop {
        let p = free_port();
        if SEEN.lock().unwrap().get_or_insert_with(HashSet::new).insert(p) {
            return p;
        }
    }
}

// ───────────────────────────── etcd ─────────────────────────────

/// One etcd member.
pub struct Member {
    pub name: String,
    pub client_port: u16,
    peer_port: u16,
    data_dir: PathBuf,
    initial: String,
    token: String,
    log: PathBuf,
    child: Option<Child>,
    /// Extra flags (TLS files), and whether clients use https.
    extra: Vec<String>,
    https: bool,
}

impl Member {
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// Starts the process (again, on the same data dir and ports after a kill).
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} already runs", self.name);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let child = Command::new("etcd")
            .args(["--name", &self.name, "--data-dir"])
            .arg(&self.data_dir)
            .args(["--listen-client-urls", &self.url(), "--advertise-client-urls", &self.url()])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &self.initial, "--initial-cluster-token", &self.token])
            .args(["--initial-cluster-state", "new", "--logger", "zap", "--log-outputs", "stderr"])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("etcd runs");
        self.child = Some(child);
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An etcd cluster of 1 or 3 members in a temp dir.
pub struct Etcd {
    pub members: Vec<Member>,
    /// Flags etcdctl needs (TLS files, a user).
    pub ctl_args: Vec<String>,
    _dir: TempDir,
}

impl Etcd {
    pub fn start(n: usize) -> Etcd {
        Etcd::start_with(n, &[], &[])
    }

    /// `member_args` go to every member (with `--cert-file` among them, clients use https);
    /// `ctl_args` to every etcdctl call.
    pub fn start_with(n: usize, member_args: &[String], ctl_args: &[String]) -> Etcd {
        let dir = TempDir::new("fleet-etcd");
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (fresh_port(), fresh_port())).collect();
        let initial =
            ports.iter().enumerate().map(|(i, (_, p))| format!("m{i}=http://127.0.0.1:{p}")).collect::<Vec<_>>();
        let mut members = Vec::new();
        for (i, (c, p)) in ports.iter().enumerate() {
            let mut m = Member {
                name: format!("m{i}"),
                client_port: *c,
                peer_port: *p,
                data_dir: dir.path().join(format!("m{i}.etcd")),
                initial: initial.join(","),
                token: format!("t{}", ports[0].1),
                log: dir.path().join(format!("m{i}.log")),
                child: None,
                extra: member_args.to_vec(),
                https: member_args.iter().any(|a| a == "--cert-file"),
            };
            m.spawn();
            members.push(m);
        }
        let e = Etcd { members, ctl_args: ctl_args.to_vec(), _dir: dir };
        e.wait_healthy(Duration::from_secs(20));
        e
    }

    pub fn urls(&self) -> Vec<String> {
        self.members.iter().map(Member::url).collect()
    }

    /// Waits until etcdctl finds every running member healthy.
    pub fn wait_healthy(&self, within: Duration) {
        let start = Instant::now();
        let running: Vec<String> = self.members.iter().filter(|m| m.running()).map(Member::url).collect();
        loop {
            let ok = Command::new("etcdctl")
                .env("ETCDCTL_API", "3")
                .args(["--endpoints", &running.join(","), "--command-timeout=1s"])
                .args(&self.ctl_args)
                .args(["endpoint", "health"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                return;
            }
            if start.elapsed() > within {
                let logs: Vec<String> = self.members.iter().map(|m| format!("{}:\n{}", m.name, m.log_tail())).collect();
                panic!("etcd not healthy within {within:?}\n{}", logs.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// etcdctl (API v3) on the running members; its stdout. Panics on failure.
    pub fn ctl(&self, args: &[&str]) -> String {
        let running: Vec<String> = self.members.iter().filter(|m| m.running()).map(Member::url).collect();
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &running.join(","), "--command-timeout=5s"])
            .args(&self.ctl_args)
            .args(args)
            .output()
            .expect("etcdctl runs");
        assert!(out.status.success(), "etcdctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The keys under `prefix`, as etcdctl lists them.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.ctl(&["get", "--prefix", "--keys-only", prefix])
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }

    /// The index of the leader, as etcdctl reports it.
    pub fn leader(&self) -> usize {
        let out = self.ctl(&["endpoint", "status", "-w", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        for e in v.as_array().unwrap() {
            let st = &e["Status"];
            if st["header"]["member_id"] == st["leader"] {
                let ep = e["Endpoint"].as_str().unwrap();
                return self.members.iter().position(|m| m.url() == ep).unwrap();
            }
        }
        panic!("no leader in {out}")
    }
}

// ───────────────────────────── a health endpoint that fails per source ─────────────────────────────

/// HTTP/1.1 on one loopback address: 200, or 503 for requests from the addresses in `fail`.
pub struct FailServer {
    pub addr: SocketAddr,
    pub fail: Arc<Mutex<HashSet<IpAddr>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FailServer {
    pub fn start(ip: &str) -> FailServer {
        let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}: {e}"));
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let fail: Arc<Mutex<HashSet<IpAddr>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (f, s) = (fail.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut c, peer)) => {
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_read_timeout(Some(Duration::from_millis(500)));
                        let mut buf = [0u8; 1024];
                        let _ = c.read(&mut buf);
                        let failing = f.lock().unwrap().contains(&peer.ip());
                        let reply: &[u8] = if failing {
                            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nfail"
                        } else {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                        };
                        let _ = c.write_all(reply);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FailServer { addr, fail, stop, thread: Some(thread) }
    }

    /// Fails requests from these sources from now on (and only those).
    pub fn fail_for(&self, sources: &[&str]) {
        *self.fail.lock().unwrap() = sources.iter().map(|s| s.parse().unwrap()).collect();
    }
}

impl Drop for FailServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ───────────────────────────── gslbd nodes ─────────────────────────────

/// The probe source of node `i` (1-based): 127.0.0.1{i}.
pub fn source_of(i: usize) -> String {
    format!("127.0.0.{}", 10 + i)
}

/// One `gslbd serve` in its own directory, which outlives restarts.
pub struct Node {
    pub name: String,
    proc: Option<Proc>,
    pub dns: SocketAddr,
    pub admin: SocketAddr,
    pub dir: TempDir,
}

impl Node {
    /// Writes `files` (relative path, text) and `gslbd.toml` = `config`, then starts it.
    pub fn start(name: &str, config: &str, files: &[(&str, String)]) -> Node {
        let dir = TempDir::new(&format!("fleet-{name}"));
        for (rel, text) in files {
            dir.write(rel, text);
        }
        dir.write("admin.token", TOKEN);
        dir.write("gslbd.toml", config);
        let mut n = Node {
            name: name.into(),
            proc: None,
            dns: "127.0.0.1:0".parse().unwrap(),
            admin: "127.0.0.1:0".parse().unwrap(),
            dir,
        };
        n.spawn();
        n
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gslbd"));
        cmd.arg("serve").arg("--config").arg(self.dir.path().join("gslbd.toml")).current_dir(self.dir.path());
        cmd.env("RUST_LOG", "info,gslbd::query=warn");
        let mut proc = Proc::spawn(cmd);
        let (addrs, admin) = wait_listening_admin(&mut proc, 1, &self.name);
        self.dns = addrs[0];
        self.admin = admin.expect("the node has an admin API");
        self.proc = Some(proc);
    }

    /// SIGKILL: the node dies without a word (its lease is not revoked).
    pub fn kill(&mut self) {
        self.proc = None;
    }

    /// SIGTERM and wait (a clean stop), then start again on the same directory and ports.
    pub fn restart(&mut self) {
        if let Some(p) = &self.proc {
            let _ = Command::new("kill").arg("-TERM").arg(p.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.proc.as_mut().is_some_and(|p| p.exited().is_none()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.proc = None;
        self.spawn();
    }

    pub fn stderr(&self) -> String {
        self.proc.as_ref().map(Proc::stderr).unwrap_or_default()
    }

    pub fn status(&self) -> serde_json::Value {
        let (code, body, _) = admin_call(self.admin, "GET", "/status", &[], None);
        assert_eq!(code, 200, "{}: /status: {body}", self.name);
        serde_json::from_str(&body).unwrap()
    }

    /// `/status` `fleet.decisions` entry of (target, probe).
    pub fn decision(&self, target: &str, probe: &str) -> serde_json::Value {
        let st = self.status();
        let d = st["fleet"]["decisions"].as_array().cloned().unwrap_or_default();
        d.into_iter().find(|d| d["target"] == target && d["probe"] == probe).unwrap_or_default()
    }

    pub fn metrics(&self) -> String {
        admin_call(self.admin, "GET", "/metrics", &[], None).1
    }
}

/// Waits until `f` holds (polling every 25 ms); the time it took. Panics with `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if f() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// One admin HTTP/1.0 call with extra headers and an optional JSON body (the token is sent);
/// returns (status, body, headers lower-cased).
pub fn admin_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String, Vec<(String, String)>) {
    assert!(addr.ip().is_loopback());
    let mut s = TcpStream::connect_timeout(&addr, QUERY_TIMEOUT).unwrap_or_else(|e| panic!("admin {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.unwrap_or("");
    let mut req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let hdrs: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())))
        .collect();
    // HTTP/1.0: the body is not chunked, it ends with the connection.
    (code, rest.to_string(), hdrs)
}

/// The `ETag` of a reply, as a revision.
pub fn etag(headers: &[(String, String)]) -> i64 {
    headers.iter().find(|(k, _)| k == "etag").and_then(|(_, v)| v.trim_matches('"').parse().ok()).unwrap_or(-1)
}

/// The zone file every fleet test serves (`gslb.test.`).
pub fn zone() -> String {
    "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n".into()
}

/// gslbd.toml of node `i` (1-based) of a fleet on `etcd` under `prefix`, with `extra` lines in `[cluster]`.
pub fn node_config(i: usize, endpoints: &[String], prefix: &str, extra: &str) -> String {
    let eps: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
    format!(
        r#"[server]
listen = ["127.0.0.1:0"]
udp_workers = 1
health_startup_wait_ms = 2000
probe_source = "{source}"

[admin]
listen = "127.0.0.1:0"
token_file = "admin.token"

[cluster]
endpoints = [{eps}]
node = "node{i}"
prefix = "{prefix}"
lease_ttl = 2
{extra}

[[zone]]
origin = "gslb.test."
file = "gslb.test.zone"
pools = "gslb.test.pools.toml"
"#,
        source = source_of(i),
        eps = eps.join(", "),
    )
}

/// A fresh key prefix per test (tests may share an etcd).
pub fn prefix(tag: &str) -> String {
    format!("/gslbd-test/{tag}-{}", fresh_port())
}

/// Answers (first A record) of `name` for each client /24 in `subnets`.
pub fn answers(dns: SocketAddr, name: &str, subnets: &[String]) -> Vec<Option<IpAddr>> {
    use hickory_proto::rr::RecordType;
    subnets
        .iter()
        .map(|s| {
            let m = super::query_udp(dns, &super::ecs_query(name, RecordType::A, Some(s)));
            m.answers.iter().find_map(|r| r.data.ip_addr())
        })
        .collect()
}

/// `n` distinct client /24s spread over the IPv4 space (deterministic).
pub fn subnets(n: usize, seed: u32) -> Vec<String> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let net = x & 0xffff_ff00;
        let first = net >> 24;
        if first == 0 || first == 127 || first >= 224 || !seen.insert(net) {
            continue;
        }
        out.push(format!("{}/24", std::net::Ipv4Addr::from(net)));
    }
    out
}
