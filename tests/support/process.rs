//! Temp dirs, child processes, tools on this machine and free loopback ports: what every
//! launcher ([`super::launch`]) and every black-box test stands on.
//!
//! Invariants: a [`TempDir`] is removed and a [`Proc`] killed and reaped on Drop (so also on
//! panic); a child's stdout and stderr are drained by threads, so it never blocks on a pipe.
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

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

/// Copies the file or directory tree `src` to `dst`.
pub fn copy_tree(src: &Path, dst: &Path) {
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

    /// Waits up to `within` for the child to exit; its exit status, or `None` if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
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
    let left = deadline.saturating_duration_since(Instant::now());
    let Some(status) = p.wait_exit(left.min(Duration::from_secs(1))) else {
        panic!("{what} ran past {limit:?}; output so far:\n{out}\nstderr:\n{}", p.stderr());
    };
    std::thread::sleep(Duration::from_millis(20));
    assert!(status.success(), "{what}: {status}\n{out}\nstderr:\n{}", p.stderr());
    out
}

/// Where the program `name` lives, if installed: the path in the environment variable `env`
/// when it is set (set it empty to check a test's SKIP path), else [`find_program`].
pub fn find_tool(env: &str, name: &str) -> Option<PathBuf> {
    match std::env::var_os(env) {
        Some(p) => (!p.is_empty()).then(|| PathBuf::from(p)),
        None => find_program(name),
    }
}

/// The first of /usr/sbin, /usr/bin, /usr/local/sbin and `$PATH` that has the program `name`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = vec!["/usr/sbin".into(), "/usr/bin".into(), "/usr/local/sbin".into()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
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

/// A TCP port free on every one of `ips` a moment ago.
pub fn free_port_on(ips: &[IpAddr]) -> u16 {
    'next: for _ in 0..50 {
        let first = TcpListener::bind((ips[0], 0)).expect("bind a loopback port");
        let port = first.local_addr().unwrap().port();
        for ip in &ips[1..] {
            if TcpListener::bind((*ip, port)).is_err() {
                continue 'next;
            }
        }
        return port;
    }
    panic!("no port free on all of {ips:?} in 50 tries");
}

/// A TCP port free on 127.0.0.1 a moment ago.
pub fn free_tcp_port() -> u16 {
    free_port_on(&[IpAddr::V4(Ipv4Addr::LOCALHOST)])
}
