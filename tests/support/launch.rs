//! The one daemon launcher: start a child, poll until it serves, retry on a fresh port.
//!
//! ```text
//! start_with_retries(what, || {            up to 3 tries: a port seen free can be taken
//!     port = free_port(); write config        by someone else before the daemon binds it
//!     spawn_ready(what, cmd, || ready?) ──► Proc once `ready` says Ok, or Err with the
//! })                                        child's exit status / last state and its stderr
//! ```
//! Every wait is bounded by [`START_TIMEOUT`]. Knot, Unbound, nginx and HAProxy start this way;
//! `gslbd serve` binds port 0 and says where it listens ([`super::gslbd_server`]), so needs no retry.
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use super::normal::normalise;
use super::process::{Proc, TempDir};
use super::query::{QuerySpec, rand_id};
use super::transport::udp_raw_timeout;

/// How long a server may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Spawns `cmd` and polls `ready` every 20 ms until it returns `Ok` (then the running child),
/// the child exits, or [`START_TIMEOUT`] passes (then `Err` naming `what`, `ready`'s last
/// complaint and the child's stderr; the child is killed).
pub fn spawn_ready(what: &str, cmd: Command, mut ready: impl FnMut() -> Result<(), String>) -> Result<Proc, String> {
    let mut proc = Proc::spawn(cmd);
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let last = match ready() {
            Ok(()) => return Ok(proc),
            Err(e) => e,
        };
        if let Some(s) = proc.exited() {
            // Give the stderr reader a moment to catch the last words (bounded).
            std::thread::sleep(Duration::from_millis(50));
            return Err(format!("{what} exited with {s}; stderr:\n{}", proc.stderr()));
        }
        if Instant::now() > deadline {
            return Err(format!("{what} not ready within {START_TIMEOUT:?}: {last}; stderr:\n{}", proc.stderr()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A daemon listening on `addr`, with its config in its own temp dir: killed, then the dir
/// removed, on Drop. [`super::knot::Knot`] and [`super::unbound::Unbound`] are such daemons.
pub struct Daemon {
    // Field order matters: the process dies before its directory is removed.
    proc: Proc,
    addr: SocketAddr,
    dir: TempDir,
}

impl Daemon {
    /// [`spawn_ready`] for a daemon that serves on `addr` from `dir`.
    pub fn start(
        what: &str,
        cmd: Command,
        addr: SocketAddr,
        dir: TempDir,
        ready: impl FnMut() -> Result<(), String>,
    ) -> Result<Daemon, String> {
        let proc = spawn_ready(&format!("{what} on {addr}"), cmd, ready)?;
        Ok(Daemon { proc, addr, dir })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }
}

/// Runs `attempt` up to 3 times until it returns `Ok`; panics with the last error.
pub fn start_with_retries<T>(what: &str, mut attempt: impl FnMut() -> Result<T, String>) -> T {
    let mut last = String::new();
    for _ in 0..3 {
        match attempt() {
            Ok(t) => return t,
            Err(e) => last = e,
        }
    }
    panic!("{what} did not start in 3 tries: {last}");
}

/// A readiness check for DNS servers: `Ok` once `addr` answers an SOA query for `zone` (RD as
/// `rd` says: a resolver must recurse) with NOERROR and an answer.
pub fn answers_soa(addr: SocketAddr, zone: &str, rd: bool) -> Result<(), String> {
    let mut q = QuerySpec::new(zone, RecordType::SOA);
    q.rd = rd;
    let bytes = q.to_message(rand_id()).to_vec().unwrap();
    let Some(r) = udp_raw_timeout(addr, &bytes, Duration::from_millis(300)) else {
        return Err(format!("no SOA answer from {addr}"));
    };
    let n = normalise(&r);
    if n.full_rcode() == 0 && !n.answer.is_empty() {
        Ok(())
    } else {
        Err(format!("no NOERROR SOA answer from {addr}; last reply:\n{n}"))
    }
}
