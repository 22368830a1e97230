//! Black-box test support shared by every integration test (`mod support;`).
//!
//! ```text
//! test ──► GslbdServer::start / Knot::start ──► child process on 127.0.0.1:PORT
//!   │                                                  ▲
//!   └──► client (query_udp / query_tcp / udp_raw / tcp_pipeline) ──┘
//!   └──► normalise(reply bytes) ──► Normal (comparable, printable)
//! ```
//!
//! Invariants: all traffic goes to loopback; every wait and loop is bounded; every
//! child process is killed and its temp dir removed on Drop (so also on panic).

// Each integration test crate uses a different subset of these helpers.
#![allow(dead_code)]
// Waits on real processes and sockets are bounded by wall-clock time (clippy.toml's rule is
// for the server's own code, which runs on tokio's pausable clock).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

/// nginx and HAProxy regional tiers and the bounded load generator (issue 8 tests).
/// gslbd's `App` in the test process (same workers and serving state as `gslbd serve`).
pub mod app;
/// A counting global allocator for zero-allocation tests (a test binary declares it).
pub mod counting;
/// Signed setups, a validating Unbound with ECS, DS anchors, delv (issue 15 tests).
pub mod dnssec;
pub mod regional;
/// A validating Unbound with one zone's trust anchor (issue 13's pre-signed zones).
pub mod validator;
/// Zone files judged by Knot, NSD and BIND: the issue-13 corpus, checkers, AXFR (issue 13 tests).
pub mod zonecheck;

/// How long one query may take before the client gives up.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a server may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

// ───────────────────────────── temp dirs and processes ─────────────────────────────

/// A directory under `std::env::temp_dir()` removed on Drop. No `tempfile` crate:
/// pid + counter + time is unique enough for test runs on one machine.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `text` to `rel` (creating parent dirs) and returns the full path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A spawned child that is killed and reaped on Drop, with its stderr kept for reports.
pub struct Proc {
    child: Child,
    stderr: Arc<Mutex<String>>,
    /// Lines the child printed on stdout, as they arrive.
    stdout_lines: mpsc::Receiver<String>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let stderr_pipe = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Drains stdout until EOF (the child exits), so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stderr_pipe);
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut s = sink.lock().unwrap();
                // Keep at most 64 KiB: enough to explain a failure.
                if s.len() < 64 * 1024 {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        Proc { child, stderr, stdout_lines: rx }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// `Some(status)` once the child has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Next stdout line, waiting until `deadline` at most.
    pub fn next_line(&self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.stdout_lines.recv_timeout(left).ok()
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ───────────────────────────── gslbd ─────────────────────────────

/// A running `gslbd serve` in its own temp dir. Killed on Drop.
pub struct GslbdServer {
    // Field order matters: the process dies before its directory is removed.
    proc: Proc,
    addrs: Vec<SocketAddr>,
    /// The admin API's address, when the config has an `[admin]` section.
    admin: Option<SocketAddr>,
    dir: TempDir,
}

impl GslbdServer {
    /// Writes `config_toml` as `gslbd.toml` plus `files` (path relative to the config, text)
    /// into a fresh temp dir, starts `gslbd serve --config`, and waits for one
    /// `gslbd listening on ADDR` line per `server.listen` entry.
    pub fn start(config_toml: &str, files: &[(&str, &str)]) -> GslbdServer {
        let dir = TempDir::new("gslbd-test");
        for (rel, text) in files {
            dir.write(rel, text);
        }
        let conf = dir.write("gslbd.toml", config_toml);
        let listens = listen_count(config_toml);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gslbd"));
        cmd.arg("serve").arg("--config").arg(&conf).current_dir(dir.path());
        Self::wait_ready(Proc::spawn(cmd), listens, dir)
    }

    /// The repository's own `gslbd.toml` and the files it names, copied into a temp dir,
    /// with `server.listen` rewritten to `["127.0.0.1:0"]`.
    pub fn start_default() -> GslbdServer {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("gslbd.toml")).expect("read gslbd.toml");
        let mut table: toml::Table = text.parse().expect("gslbd.toml is TOML");
        let dir = TempDir::new("gslbd-default");
        // Copy every relative path the config names (zone files, pools, geo data), and
        // the whole zones/ directory for files that sit "beside" a zone by convention.
        let mut paths = vec!["zones".to_string()];
        collect_strings(&toml::Value::Table(table.clone()), &mut paths);
        for p in paths {
            let src = root.join(&p);
            if !p.is_empty() && Path::new(&p).is_relative() && src.exists() && !p.contains("..") {
                copy_tree(&src, &dir.path().join(&p));
            }
        }
        let server = table.entry("server").or_insert_with(|| toml::Value::Table(toml::Table::new()));
        server
            .as_table_mut()
            .expect("[server] is a table")
            .insert("listen".into(), toml::Value::Array(vec!["127.0.0.1:0".into()]));
        // The admin API too picks a free port, so tests can run side by side.
        if let Some(admin) = table.get_mut("admin").and_then(|a| a.as_table_mut()) {
            admin.insert("listen".into(), "127.0.0.1:0".into());
        }
        let conf = dir.write("gslbd.toml", &toml::to_string(&table).unwrap());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gslbd"));
        cmd.arg("serve").arg("--config").arg(&conf).current_dir(dir.path());
        Self::wait_ready(Proc::spawn(cmd), 1, dir)
    }

    fn wait_ready(mut proc: Proc, listens: usize, dir: TempDir) -> GslbdServer {
        let (addrs, admin) = wait_listening_admin(&mut proc, listens, "gslbd");
        GslbdServer { proc, addrs, admin, dir }
    }

    /// The admin API's address; panics when the config has no `[admin]` section.
    pub fn admin(&self) -> SocketAddr {
        self.admin.expect("the config has an [admin] section")
    }

    /// The server's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.proc.id()
    }

    /// Sends SIGHUP (a reload) to the server.
    pub fn sighup(&self) {
        let ok =
            Command::new("kill").arg("-HUP").arg(self.pid().to_string()).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "kill -HUP {} failed", self.pid());
    }

    /// Sends SIGTERM (a graceful stop) to the server.
    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -TERM {} failed", self.pid());
    }

    /// Waits up to `within` for the server to exit; its exit status, or `None` if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.proc.exited() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The first listen address (UDP and TCP share it).
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }
}

/// Waits (bounded by [`START_TIMEOUT`]) for `count` lines `gslbd listening on ADDR`.
/// Panics with the child's stderr when it exits or stays silent.
pub fn wait_listening(proc: &mut Proc, count: usize, what: &str) -> Vec<SocketAddr> {
    wait_listening_admin(proc, count, what).0
}

/// [`wait_listening`], also returning the `gslbd admin listening on ADDR` line's address
/// (printed before the DNS lines when the config has an `[admin]` section).
pub fn wait_listening_admin(proc: &mut Proc, count: usize, what: &str) -> (Vec<SocketAddr>, Option<SocketAddr>) {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut addrs = Vec::new();
    let mut admin = None;
    while addrs.len() < count {
        match proc.next_line(deadline) {
            Some(line) => {
                if let Some(rest) = line.trim().strip_prefix("gslbd admin listening on ") {
                    admin = rest.trim().parse().ok();
                } else if let Some(rest) = line.trim().strip_prefix("gslbd listening on ") {
                    let a: SocketAddr =
                        rest.trim().parse().unwrap_or_else(|e| panic!("{what}: bad address in {line:?}: {e}"));
                    addrs.push(a);
                }
            }
            None => {
                let status = proc.exited();
                // Give the stderr reader a moment to catch the last words (bounded).
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "{what} did not print {count} 'gslbd listening on' lines within {START_TIMEOUT:?} \
                     (got {addrs:?}, exit status {status:?}); stderr:\n{}",
                    proc.stderr()
                );
            }
        }
    }
    (addrs, admin)
}

// ───────────────────────────── admin HTTP ─────────────────────────────

/// One HTTP/1.1 request to the admin API on loopback (`Connection: close`, bounded by
/// [`QUERY_TIMEOUT`]); returns the status code and the body.
pub fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    assert_loopback(addr);
    let mut s =
        TcpStream::connect_timeout(&addr, QUERY_TIMEOUT).unwrap_or_else(|e| panic!("admin connect {addr}: {e}"));
    s.set_read_timeout(Some(QUERY_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(QUERY_TIMEOUT)).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).expect("admin request write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap_or_else(|e| panic!("admin {method} {path}: {e}"));
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) =
        text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("admin {method} {path}: no HTTP header end in {text:?}"));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("admin {method} {path}: bad status line in {head:?}"));
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
    (code, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Number of entries in `server.listen` (1 if absent or unparsable: the server's default
/// is then whatever it is, and the test will say what it printed).
fn listen_count(config_toml: &str) -> usize {
    config_toml
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("server")?.get("listen")?.as_array().map(|a| a.len()))
        .unwrap_or(1)
        .max(1)
}

fn collect_strings(v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::String(s) => out.push(s.clone()),
        toml::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        toml::Value::Table(t) => t.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

fn copy_tree(src: &Path, dst: &Path) {
    if src.is_dir() {
        std::fs::create_dir_all(dst).unwrap();
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            copy_tree(&e.path(), &dst.join(e.file_name()));
        }
    } else {
        if let Some(p) = dst.parent() {
            std::fs::create_dir_all(p).unwrap();
        }
        std::fs::copy(src, dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    }
}

// ───────────────────────────── Knot DNS ─────────────────────────────

/// Where `knotd` lives, if installed. `GSLBD_TEST_KNOTD=/path/to/knotd` overrides the
/// search; set it empty to check the SKIP path.
pub fn knotd_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GSLBD_TEST_KNOTD") {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    let mut dirs: Vec<PathBuf> = vec!["/usr/sbin".into(), "/usr/local/sbin".into()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter().map(|d| d.join("knotd")).find(|p| p.is_file())
}

/// A running Knot DNS (`knotd`) serving one zone on 127.0.0.1. Killed on Drop.
pub struct Knot {
    proc: Proc,
    addr: SocketAddr,
    dir: TempDir,
}

impl Knot {
    /// Starts knotd with `zone_file_text` as zone `zone_origin`, or prints
    /// `SKIP: knotd not installed (apt-get install knot)` to stderr and returns `None`.
    pub fn start(zone_origin: &str, zone_file_text: &str) -> Option<Knot> {
        Self::start_with_nsid(zone_origin, zone_file_text, "")
    }

    /// Like [`Knot::start`], with Knot's NSID (RFC 5001) set to `nsid` ("" = none).
    pub fn start_with_nsid(zone_origin: &str, zone_file_text: &str, nsid: &str) -> Option<Knot> {
        let Some(knotd) = knotd_path() else {
            eprintln!("SKIP: knotd not installed (apt-get install knot)");
            return None;
        };
        // A free port can be taken by someone else between our probe and knotd's bind:
        // try a few ports (bounded).
        let mut last_err = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let dir = TempDir::new("knot-test");
            let zone = dir.write("zone.zone", zone_file_text);
            let d = dir.path().display();
            // identity/version empty: Knot then answers no CHAOS identity queries, so
            // only the zone data is compared; likewise no NSID unless asked for. udp-max-payload 1232 is the
            // DNS flag day 2020 value gslbd uses too.
            let conf = format!(
                "server:\n    listen: 127.0.0.1@{port}\n    rundir: {d}\n    udp-max-payload: 1232\n    \
                 identity: \"\"\n    version: \"\"\n    nsid: \"{nsid}\"\n\
                 log:\n  - target: stderr\n    any: warning\n\
                 database:\n    storage: {d}\n\
                 template:\n  - id: default\n    storage: {d}\n    semantic-checks: off\n    \
                 zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n\
                 zone:\n  - domain: {zone_origin}\n    file: {}\n",
                zone.display()
            );
            let conf = dir.write("knot.conf", &conf);
            let mut cmd = Command::new(&knotd);
            cmd.arg("-c").arg(&conf).current_dir(dir.path());
            let mut proc = Proc::spawn(cmd);
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            match wait_answers_soa(&mut proc, addr, zone_origin) {
                Ok(()) => return Some(Knot { proc, addr, dir }),
                Err(e) => last_err = format!("{e}; knotd stderr:\n{}", proc.stderr()),
            }
        }
        panic!("knotd did not start: {last_err}");
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }
}

/// Polls until `addr` answers an SOA query for `origin` with NOERROR (bounded).
fn wait_answers_soa(proc: &mut Proc, addr: SocketAddr, origin: &str) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let q = QuerySpec::new(origin, RecordType::SOA).to_message(0x5eed);
    let bytes = q.to_vec().unwrap();
    while Instant::now() < deadline {
        if let Some(status) = proc.exited() {
            return Err(format!("exited with {status}"));
        }
        if let Some(r) = udp_raw_timeout(addr, &bytes, Duration::from_millis(200))
            && r.len() >= 4
            && r[3] & 0x0f == 0
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("no NOERROR SOA answer from {addr} within {START_TIMEOUT:?}"))
}

/// A port that was free on 127.0.0.1 for both UDP and TCP a moment ago.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port found in 50 tries");
}

// ───────────────────────────── queries ─────────────────────────────

/// EDNS part of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdnsSpec {
    pub version: u8,
    pub payload: u16,
    /// The whole 16-bit flags field (DO = 0x8000).
    pub flags: u16,
    pub options: Vec<(u16, Vec<u8>)>,
}

impl Default for EdnsSpec {
    fn default() -> Self {
        EdnsSpec { version: 0, payload: 1232, flags: 0, options: Vec::new() }
    }
}

/// Everything a test query can vary, built into a hickory [`Message`].
#[derive(Clone, Debug)]
pub struct QuerySpec {
    pub qname: String,
    pub qtype: u16,
    pub qclass: u16,
    pub opcode: u8,
    pub rd: bool,
    pub cd: bool,
    pub ad: bool,
    pub edns: Option<EdnsSpec>,
}

impl QuerySpec {
    /// IN class, QUERY opcode, RD clear, no EDNS.
    pub fn new(qname: &str, qtype: RecordType) -> QuerySpec {
        QuerySpec {
            qname: qname.to_string(),
            qtype: u16::from(qtype),
            qclass: 1,
            opcode: 0,
            rd: false,
            cd: false,
            ad: false,
            edns: None,
        }
    }

    pub fn to_message(&self, id: u16) -> Message {
        let name = Name::from_ascii(&self.qname).unwrap_or_else(|e| panic!("{}: {e}", self.qname));
        let mut m = Message::new(id, MessageType::Query, OpCode::from_u8(self.opcode));
        let mut q = Query::query(name, RecordType::from(self.qtype));
        q.set_query_class(DNSClass::from(self.qclass));
        m.add_query(q);
        m.metadata.recursion_desired = self.rd;
        m.metadata.checking_disabled = self.cd;
        m.metadata.authentic_data = self.ad;
        if let Some(e) = &self.edns {
            let mut edns = Edns::new();
            edns.set_version(e.version);
            edns.set_max_payload(e.payload);
            *edns.flags_mut() = e.flags.into();
            for (code, data) in &e.options {
                edns.options_mut().insert(EdnsOption::Unknown(*code, data.clone()));
            }
            m.set_edns(edns);
        }
        m
    }
}

// ───────────────────────────── transports ─────────────────────────────

fn local_for(addr: SocketAddr) -> &'static str {
    if addr.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" }
}

fn assert_loopback(addr: SocketAddr) {
    assert!(addr.ip().is_loopback(), "tests only talk to loopback, not {addr}");
}

/// Sends `query` over UDP and returns the first datagram back, or `None` after [`QUERY_TIMEOUT`].
pub fn udp_raw(addr: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    udp_raw_timeout(addr, query, QUERY_TIMEOUT)
}

pub fn udp_raw_timeout(addr: SocketAddr, query: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    assert_loopback(addr);
    let s = UdpSocket::bind(local_for(addr)).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.connect(addr).ok()?;
    s.send(query).ok()?;
    let mut buf = vec![0u8; 65535];
    let n = s.recv(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Sends `query` over a fresh TCP connection and reads one length-prefixed reply.
pub fn tcp_raw(addr: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let mut s = tcp_connect(addr)?;
    s.write_all(&frame(query)).ok()?;
    read_frame(&mut s)
}

fn tcp_connect(addr: SocketAddr) -> Option<TcpStream> {
    assert_loopback(addr);
    let s = TcpStream::connect_timeout(&addr, QUERY_TIMEOUT).ok()?;
    s.set_read_timeout(Some(QUERY_TIMEOUT)).ok()?;
    s.set_write_timeout(Some(QUERY_TIMEOUT)).ok()?;
    Some(s)
}

fn frame(msg: &[u8]) -> Vec<u8> {
    let len = u16::try_from(msg.len()).expect("DNS message over 65535 bytes");
    let mut v = len.to_be_bytes().to_vec();
    v.extend_from_slice(msg);
    v
}

fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}

/// Sends all `queries` back to back on one TCP connection (one write), then reads
/// as many replies; returns them by message ID. Panics on a duplicate or missing ID.
pub fn tcp_pipeline(addr: SocketAddr, queries: &[Vec<u8>]) -> HashMap<u16, Vec<u8>> {
    let mut s = tcp_connect(addr).unwrap_or_else(|| panic!("TCP connect to {addr} failed"));
    let mut out = Vec::new();
    for q in queries {
        out.extend(frame(q));
    }
    s.write_all(&out).expect("pipelined write");
    let mut replies = HashMap::new();
    for i in 0..queries.len() {
        let r =
            read_frame(&mut s).unwrap_or_else(|| panic!("{addr}: pipelined reply {i} of {} missing", queries.len()));
        assert!(r.len() >= 12, "{addr}: pipelined reply {i} shorter than a header");
        let id = u16::from_be_bytes([r[0], r[1]]);
        assert!(replies.insert(id, r).is_none(), "{addr}: two replies with ID {id}");
    }
    replies
}

/// The query's ID, from its first two bytes.
pub fn msg_id(bytes: &[u8]) -> u16 {
    u16::from_be_bytes([bytes[0], bytes[1]])
}

/// UDP exchange that checks the reply's ID. Panics on timeout or mismatch.
pub fn exchange_udp(addr: SocketAddr, query: &[u8]) -> Vec<u8> {
    let r = udp_raw(addr, query).unwrap_or_else(|| panic!("{addr}: no UDP reply in {QUERY_TIMEOUT:?}"));
    assert!(r.len() >= 12 && msg_id(&r) == msg_id(query), "{addr}: UDP reply with wrong ID or too short");
    r
}

/// TCP exchange that checks the reply's ID. Panics on timeout or mismatch.
pub fn exchange_tcp(addr: SocketAddr, query: &[u8]) -> Vec<u8> {
    let r = tcp_raw(addr, query).unwrap_or_else(|| panic!("{addr}: no TCP reply in {QUERY_TIMEOUT:?}"));
    assert!(r.len() >= 12 && msg_id(&r) == msg_id(query), "{addr}: TCP reply with wrong ID or too short");
    r
}

pub fn query_udp(addr: SocketAddr, query: &Message) -> Message {
    let r = exchange_udp(addr, &query.to_vec().expect("encode query"));
    Message::from_vec(&r).unwrap_or_else(|e| panic!("{addr}: undecodable UDP reply: {e}"))
}

pub fn query_tcp(addr: SocketAddr, query: &Message) -> Message {
    let r = exchange_tcp(addr, &query.to_vec().expect("encode query"));
    Message::from_vec(&r).unwrap_or_else(|e| panic!("{addr}: undecodable TCP reply: {e}"))
}

// ───────────────────────────── normaliser ─────────────────────────────

/// The OPT record of a reply, compared on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptNorm {
    pub version: u8,
    pub payload: u16,
    /// Upper 8 bits of the 12-bit rcode.
    pub ext_rcode: u8,
    /// The whole flags field (DO = 0x8000).
    pub flags: u16,
    /// (code, data as hex or debug text), in wire order.
    pub options: Vec<(u16, String)>,
}

/// A reply reduced to what must match between two servers: header rcode and flags,
/// the question (case kept, for 0x20), each section as a sorted multiset of
/// `owner(lowercase) TTL CLASS TYPE RDATA`, and the OPT record apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Normal {
    pub opcode: u8,
    /// The 4-bit header rcode.
    pub rcode: u8,
    /// Set flags among qr aa tc rd ra ad cd, in that order.
    pub flags: Vec<&'static str>,
    pub question: Vec<String>,
    pub answer: Vec<String>,
    pub authority: Vec<String>,
    /// Without the OPT record.
    pub additional: Vec<String>,
    pub opt: Option<OptNorm>,
    /// Set when hickory could not decode the sections (header fields are still valid).
    pub decode_error: Option<String>,
}

impl Normal {
    /// The full 12-bit rcode (header + EDNS extended bits).
    pub fn full_rcode(&self) -> u16 {
        u16::from(self.opt.as_ref().map_or(0, |o| o.ext_rcode)) << 4 | u16::from(self.rcode)
    }

    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.contains(&f)
    }

    /// Name of the full rcode as dig prints it.
    pub fn rcode_name(&self) -> String {
        match self.full_rcode() {
            0 => "NOERROR".into(),
            1 => "FORMERR".into(),
            2 => "SERVFAIL".into(),
            3 => "NXDOMAIN".into(),
            4 => "NOTIMP".into(),
            5 => "REFUSED".into(),
            9 => "NOTAUTH".into(),
            16 => "BADVERS".into(),
            n => format!("RCODE{n}"),
        }
    }
}

pub fn normalise(bytes: &[u8]) -> Normal {
    assert!(bytes.len() >= 12, "reply shorter than a DNS header");
    let (b2, b3) = (bytes[2], bytes[3]);
    let mut flags = Vec::new();
    for (bit, name) in [
        (b2 & 0x80 != 0, "qr"),
        (b2 & 0x04 != 0, "aa"),
        (b2 & 0x02 != 0, "tc"),
        (b2 & 0x01 != 0, "rd"),
        (b3 & 0x80 != 0, "ra"),
        (b3 & 0x20 != 0, "ad"),
        (b3 & 0x10 != 0, "cd"),
    ] {
        if bit {
            flags.push(name);
        }
    }
    let mut n = Normal {
        opcode: (b2 >> 3) & 0x0f,
        rcode: b3 & 0x0f,
        flags,
        question: Vec::new(),
        answer: Vec::new(),
        authority: Vec::new(),
        additional: Vec::new(),
        opt: None,
        decode_error: None,
    };
    let m = match Message::from_vec(bytes) {
        Ok(m) => m,
        Err(e) => {
            n.decode_error = Some(e.to_string());
            return n;
        }
    };
    n.question = m.queries.iter().map(|q| format!("{} {} {}", q.name(), q.query_class(), q.query_type())).collect();
    let fmt_rr = |r: &hickory_proto::rr::Record| {
        let rdata = match &r.data {
            // Quote each character-string: hickory's Display runs them together.
            RData::TXT(t) => {
                t.txt_data.iter().map(|s| format!("{:?}", String::from_utf8_lossy(s))).collect::<Vec<_>>().join(" ")
            }
            // RDATA made only of names and numbers: names compare case-insensitively
            // (RFC 4343), and Knot compresses them against a 0x20 qname.
            d @ (RData::SOA(_) | RData::NS(_) | RData::CNAME(_) | RData::MX(_) | RData::SRV(_) | RData::PTR(_)) => {
                d.to_string().to_lowercase()
            }
            d => d.to_string(),
        };
        format!("{} {} {} {} {}", r.name.to_lowercase(), r.ttl, r.dns_class, r.record_type(), rdata)
    };
    let section = |rs: &[hickory_proto::rr::Record]| {
        let mut v: Vec<String> = rs.iter().map(fmt_rr).collect();
        v.sort();
        v
    };
    n.answer = section(&m.answers);
    n.authority = section(&m.authorities);
    n.additional = section(&m.additionals);
    n.opt = m.edns.as_ref().map(|e| OptNorm {
        version: e.version(),
        payload: e.max_payload(),
        ext_rcode: e.rcode_high(),
        flags: u16::from(*e.flags()),
        options: e
            .options()
            .options
            .iter()
            .map(|(code, opt)| {
                let text = match opt {
                    EdnsOption::Unknown(_, data) => hex(data),
                    EdnsOption::NSID(p) => hex(p.as_ref()),
                    other => format!("{other:?}"),
                };
                (u16::from(*code), text)
            })
            .collect(),
    });
    n
}

pub fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Display for Normal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, ";; opcode {} status {} flags: {}", self.opcode, self.rcode_name(), self.flags.join(" "))?;
        if let Some(e) = &self.decode_error {
            writeln!(f, ";; UNDECODABLE: {e}")?;
        }
        match &self.opt {
            Some(o) => writeln!(
                f,
                ";; OPT version {} payload {} flags {:#06x} ext-rcode {} options {:?}",
                o.version, o.payload, o.flags, o.ext_rcode, o.options
            )?,
            None => writeln!(f, ";; no OPT")?,
        }
        for (title, sec) in [
            ("QUESTION", &self.question),
            ("ANSWER", &self.answer),
            ("AUTHORITY", &self.authority),
            ("ADDITIONAL", &self.additional),
        ] {
            if !sec.is_empty() {
                writeln!(f, ";; {title}")?;
                for r in sec {
                    writeln!(f, "  {r}")?;
                }
            }
        }
        Ok(())
    }
}

/// Field-by-field differences between two normalised replies (empty when equal).
pub fn diff(a_name: &str, a: &Normal, b_name: &str, b: &Normal) -> Vec<String> {
    let mut out = Vec::new();
    if a.opcode != b.opcode {
        out.push(format!("opcode: {a_name} {} vs {b_name} {}", a.opcode, b.opcode));
    }
    if a.full_rcode() != b.full_rcode() {
        out.push(format!("rcode: {a_name} {} vs {b_name} {}", a.rcode_name(), b.rcode_name()));
    }
    if a.flags != b.flags {
        out.push(format!("flags: {a_name} [{}] vs {b_name} [{}]", a.flags.join(" "), b.flags.join(" ")));
    }
    if a.decode_error != b.decode_error {
        out.push(format!("decode: {a_name} {:?} vs {b_name} {:?}", a.decode_error, b.decode_error));
    }
    for (title, x, y) in [
        ("question", &a.question, &b.question),
        ("answer", &a.answer, &b.answer),
        ("authority", &a.authority, &b.authority),
        ("additional", &a.additional, &b.additional),
    ] {
        if x != y {
            let only_a: Vec<_> = multiset_minus(x, y);
            let only_b: Vec<_> = multiset_minus(y, x);
            out.push(format!("{title}: only {a_name} {only_a:?}; only {b_name} {only_b:?}"));
        }
    }
    if a.opt != b.opt {
        out.push(format!("opt: {a_name} {:?} vs {b_name} {:?}", a.opt, b.opt));
    }
    out
}

/// Elements of `x` not matched one-for-one in `y` (both sorted or not; counts matter).
pub fn multiset_minus(x: &[String], y: &[String]) -> Vec<String> {
    let mut left: Vec<&String> = y.iter().collect();
    let mut out = Vec::new();
    for e in x {
        if let Some(i) = left.iter().position(|l| *l == e) {
            left.swap_remove(i);
        } else {
            out.push(e.clone());
        }
    }
    out
}

// ───────────────────────────── Client Subnet (RFC 7871) ─────────────────────────────

/// The ECS option (code 8) for `net` ("81.2.69.0/24", "2a00:1::/48"), as a client sends it:
/// scope 0, the address truncated to the source prefix (whole bytes, trailing bits zero).
pub fn ecs_option(net: &str) -> (u16, Vec<u8>) {
    let net: ipnet::IpNet = net.parse().unwrap_or_else(|e| panic!("ECS subnet {net}: {e}"));
    let net = net.trunc();
    let (family, octets): (u16, Vec<u8>) = match net.addr() {
        std::net::IpAddr::V4(a) => (1, a.octets().to_vec()),
        std::net::IpAddr::V6(a) => (2, a.octets().to_vec()),
    };
    let prefix = net.prefix_len();
    let mut data = family.to_be_bytes().to_vec();
    data.extend_from_slice(&[prefix, 0]);
    data.extend_from_slice(&octets[..usize::from(prefix).div_ceil(8)]);
    (8, data)
}

/// An EDNS query (payload 1232, RD clear) for `qname`/`qtype`, with an ECS option for `ecs`
/// ("a.b.c.d/len") or none.
pub fn ecs_query(qname: &str, qtype: RecordType, ecs: Option<&str>) -> Message {
    let mut q = QuerySpec::new(qname, qtype);
    q.edns = Some(EdnsSpec { options: ecs.map(ecs_option).into_iter().collect(), ..EdnsSpec::default() });
    q.to_message(rand_id())
}

/// A query ID that differs from call to call (no `rand` needed in tests).
pub fn rand_id() -> u16 {
    static N: AtomicU32 = AtomicU32::new(0x1234);
    (N.fetch_add(0x9e37, Ordering::Relaxed) & 0xffff) as u16
}

/// The ECS options of a reply, each as `address/source/scope` (as dig's CLIENT-SUBNET line).
pub fn ecs_of(m: &Message) -> Vec<String> {
    use hickory_proto::rr::rdata::opt::EdnsCode;
    m.edns
        .as_ref()
        .map(|e| {
            e.options()
                .get_all(EdnsCode::Subnet)
                .into_iter()
                .map(|o| match o {
                    EdnsOption::Subnet(s) => {
                        format!("{}/{}/{}", s.addr(), s.source_prefix(), s.scope_prefix())
                    }
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The answer section as `(owner lowercase, TTL, TYPE, RDATA)`, sorted.
pub fn answers_of(m: &Message) -> Vec<(String, u32, String, String)> {
    let mut v: Vec<_> = m
        .answers
        .iter()
        .map(|r| (r.name.to_lowercase().to_string(), r.ttl, r.record_type().to_string(), r.data.to_string()))
        .collect();
    v.sort();
    v
}

// ───────────────────────────── dig ─────────────────────────────

/// Where `dig` lives, if installed. `GSLBD_TEST_DIG=/path/to/dig` overrides the search; set
/// it empty to check the SKIP path.
pub fn dig_path() -> Option<PathBuf> {
    find_tool("GSLBD_TEST_DIG", "dig")
}

fn find_tool(env: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    let mut dirs: Vec<PathBuf> = vec!["/usr/sbin".into(), "/usr/bin".into(), "/usr/local/sbin".into()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// One resource record as dig prints it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DigRr {
    pub owner: String,
    pub ttl: u32,
    pub rtype: String,
    pub rdata: String,
}

/// What a test needs from dig's output.
#[derive(Clone, Debug)]
pub struct DigReply {
    /// `status:` of the header line (NOERROR, NXDOMAIN, …).
    pub status: String,
    /// The ANSWER SECTION, sorted.
    pub answers: Vec<DigRr>,
    /// The `; CLIENT-SUBNET: a/b/c` value, if the reply had ECS.
    pub client_subnet: Option<String>,
    /// The whole output, for failure messages.
    pub text: String,
}

impl DigReply {
    /// The RDATA of the answers of type `rtype`, sorted.
    pub fn rdata(&self, rtype: &str) -> Vec<String> {
        let mut v: Vec<String> = self.answers.iter().filter(|r| r.rtype == rtype).map(|r| r.rdata.clone()).collect();
        v.sort();
        v
    }
}

/// Runs `dig @ADDR -p PORT +time=2 +tries=1 ARGS…` (one try, 2 s) and parses its output.
/// Panics when dig fails, prints no header, or runs past 10 s (then it is killed).
pub fn dig(dig: &Path, server: SocketAddr, args: &[&str]) -> DigReply {
    assert_loopback(server);
    let mut cmd = Command::new(dig);
    cmd.arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(["+time=2", "+tries=1"])
        .args(args);
    let text = run_bounded(cmd, Duration::from_secs(10));
    parse_dig(&text)
}

/// Runs `cmd` to completion (stdout and stderr together), killing it after `limit`.
pub fn run_bounded(cmd: Command, limit: Duration) -> String {
    let what = format!("{cmd:?}");
    let mut p = Proc::spawn(cmd);
    let deadline = Instant::now() + limit;
    let mut out = String::new();
    while let Some(l) = p.next_line(deadline) {
        out.push_str(&l);
        out.push('\n');
    }
    // stdout is closed (EOF) or the deadline passed: wait (bounded) for the exit.
    let end = Instant::now() + Duration::from_secs(1);
    let status = loop {
        if let Some(s) = p.exited() {
            break Some(s);
        }
        if Instant::now() > end || Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let Some(status) = status else {
        panic!("{what} ran past {limit:?}; output so far:\n{out}\nstderr:\n{}", p.stderr());
    };
    std::thread::sleep(Duration::from_millis(20));
    assert!(status.success(), "{what}: {status}\n{out}\nstderr:\n{}", p.stderr());
    out
}

pub fn parse_dig(text: &str) -> DigReply {
    let status = text
        .lines()
        .find_map(|l| l.split("status: ").nth(1))
        .map(|s| s.split(',').next().unwrap_or("").trim().to_string())
        .unwrap_or_else(|| panic!("no status line in dig output:\n{text}"));
    let client_subnet =
        text.lines().find_map(|l| l.trim().strip_prefix("; CLIENT-SUBNET:")).map(|s| s.trim().to_string());
    let mut answers = Vec::new();
    let mut in_answer = false;
    for l in text.lines() {
        if l.starts_with(";; ANSWER SECTION:") {
            in_answer = true;
            continue;
        }
        if in_answer {
            if l.trim().is_empty() || l.starts_with(";;") {
                break;
            }
            let f: Vec<&str> = l.split_whitespace().collect();
            assert!(f.len() >= 5, "answer line {l:?}");
            answers.push(DigRr {
                owner: f[0].to_lowercase(),
                ttl: f[1].parse().unwrap_or_else(|e| panic!("TTL in {l:?}: {e}")),
                rtype: f[3].to_string(),
                rdata: f[4..].join(" "),
            });
        }
    }
    answers.sort();
    DigReply { status, answers, client_subnet, text: text.to_string() }
}

// ───────────────────────────── Unbound ─────────────────────────────

/// Where `unbound` lives, if installed. `GSLBD_TEST_UNBOUND=/path/to/unbound` overrides the
/// search; set it empty to check the SKIP path.
pub fn unbound_path() -> Option<PathBuf> {
    find_tool("GSLBD_TEST_UNBOUND", "unbound")
}

/// A running Unbound resolver on 127.0.0.1 that reaches `zone` through a stub to one
/// authoritative server, sending it ECS (RFC 7871). Killed on Drop.
pub struct Unbound {
    proc: Proc,
    addr: SocketAddr,
    dir: TempDir,
}

impl Unbound {
    /// Starts Unbound with `zone` stubbed to `upstream` and Client Subnet sent to it, or prints
    /// `SKIP: unbound not installed (apt-get install unbound)` and returns `None`.
    ///
    /// The configuration is self-contained (`-c`, no include of /etc/unbound): no trust anchor
    /// (so neither unbound-anchor nor a root key is needed), DNSSEC validation off for `zone`
    /// by `domain-insecure`, no remote control, no chroot, no privilege drop, no daemon.
    pub fn start_stub_with_ecs(zone: &str, upstream: SocketAddr) -> Option<Unbound> {
        let Some(unbound) = unbound_path() else {
            eprintln!("SKIP: unbound not installed (apt-get install unbound)");
            return None;
        };
        assert_loopback(upstream);
        let mut last_err = String::new();
        // A free port can be taken between our probe and Unbound's bind: a few tries (bounded).
        for _attempt in 0..3 {
            let port = free_port();
            let dir = TempDir::new("unbound-test");
            let d = dir.path().display();
            let up_ip = upstream.ip();
            let up_port = upstream.port();
            let conf = format!(
                "server:\n\
                 \x20   interface: 127.0.0.1\n\
                 \x20   port: {port}\n\
                 \x20   do-ip4: yes\n\
                 \x20   do-ip6: no\n\
                 \x20   access-control: 127.0.0.0/8 allow\n\
                 \x20   do-daemonize: no\n\
                 \x20   chroot: \"\"\n\
                 \x20   username: \"\"\n\
                 \x20   directory: \"{d}\"\n\
                 \x20   pidfile: \"\"\n\
                 \x20   logfile: \"\"\n\
                 \x20   use-syslog: no\n\
                 \x20   verbosity: 1\n\
                 \x20   num-threads: 1\n\
                 \x20   do-not-query-localhost: no\n\
                 \x20   qname-minimisation: no\n\
                 \x20   module-config: \"subnetcache validator iterator\"\n\
                 \x20   send-client-subnet: {up_ip}\n\
                 \x20   client-subnet-always-forward: yes\n\
                 \x20   max-client-subnet-ipv4: 24\n\
                 \x20   max-client-subnet-ipv6: 56\n\
                 \x20   domain-insecure: \"{zone}\"\n\
                 remote-control:\n\
                 \x20   control-enable: no\n\
                 stub-zone:\n\
                 \x20   name: \"{zone}\"\n\
                 \x20   stub-addr: {up_ip}@{up_port}\n"
            );
            let conf = dir.write("unbound.conf", &conf);
            let mut cmd = Command::new(&unbound);
            cmd.arg("-d").arg("-c").arg(&conf).current_dir(dir.path());
            let mut proc = Proc::spawn(cmd);
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            match wait_resolves_soa(&mut proc, addr, zone) {
                Ok(()) => return Some(Unbound { proc, addr, dir }),
                Err(e) => last_err = format!("{e}; unbound stderr:\n{}", proc.stderr()),
            }
        }
        panic!("unbound did not start: {last_err}");
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }
}

/// Polls until the resolver at `addr` answers a recursive SOA query for `zone` with NOERROR
/// and an answer (bounded): it listens, and its stub to the authoritative server works.
fn wait_resolves_soa(proc: &mut Proc, addr: SocketAddr, zone: &str) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut q = QuerySpec::new(zone, RecordType::SOA);
    q.rd = true;
    let mut last = String::from("no reply");
    while Instant::now() < deadline {
        if let Some(status) = proc.exited() {
            return Err(format!("exited with {status}"));
        }
        let bytes = q.to_message(rand_id()).to_vec().unwrap();
        if let Some(r) = udp_raw_timeout(addr, &bytes, Duration::from_millis(500)) {
            let n = normalise(&r);
            if n.full_rcode() == 0 && !n.answer.is_empty() {
                return Ok(());
            }
            last = n.to_string();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("no NOERROR SOA answer from {addr} within {START_TIMEOUT:?}; last reply:\n{last}"))
}
