//! A validating Unbound on 127.0.0.1: DNSSEC validation on, one zone reached through a stub to
//! an authoritative server, and that zone's trust anchor (a DS record) configured, so an
//! answer that validates comes back with AD=1 and one that does not with SERVFAIL.
use std::net::SocketAddr;
use std::process::Command;

use std::time::{Duration, Instant};

use super::{Proc, START_TIMEOUT, TempDir, assert_loopback, free_port, unbound_path};

/// A running validating Unbound. Killed on Drop.
pub struct ValidatingUnbound {
    proc: Proc,
    addr: SocketAddr,
    _dir: TempDir,
}

impl ValidatingUnbound {
    /// Starts Unbound validating `zone` with `trust_anchor` (one DS record in presentation
    /// form), stubbed to `upstream`; or prints SKIP and returns `None` without Unbound.
    /// Self-contained config: no root key, no remote control, no chroot, no daemon; the
    /// validator's failures are logged (val-log-level 2) to its stderr.
    pub fn start(zone: &str, trust_anchor: &str, upstream: SocketAddr) -> Option<ValidatingUnbound> {
        let Some(unbound) = unbound_path() else {
            eprintln!("SKIP: unbound not installed (apt-get install unbound)");
            return None;
        };
        assert_loopback(upstream);
        let mut last_err = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let dir = TempDir::new("unbound-validator");
            let conf = format!(
                "server:\n    interface: 127.0.0.1\n    port: {port}\n    do-ip6: no\n    \
                 access-control: 127.0.0.0/8 allow\n    do-daemonize: no\n    so-reuseport: no\n    chroot: \"\"\n    \
                 username: \"\"\n    directory: \"{d}\"\n    pidfile: \"\"\n    logfile: \"\"\n    \
                 use-syslog: no\n    verbosity: 1\n    val-log-level: 2\n    num-threads: 1\n    \
                 do-not-query-localhost: no\n    qname-minimisation: no\n    aggressive-nsec: no\n    \
                 module-config: \"validator iterator\"\n    trust-anchor: \"{trust_anchor}\"\n\
                 remote-control:\n    control-enable: no\n\
                 stub-zone:\n    name: \"{zone}\"\n    stub-addr: {}@{}\n",
                upstream.ip(),
                upstream.port(),
                d = dir.path().display(),
            );
            let conf = dir.write("unbound.conf", &conf);
            let mut cmd = Command::new(&unbound);
            cmd.arg("-d").arg("-c").arg(&conf).current_dir(dir.path());
            let mut proc = Proc::spawn(cmd);
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            match wait_started(&mut proc) {
                Ok(()) => return Some(ValidatingUnbound { proc, addr, _dir: dir }),
                Err(e) => last_err = format!("{e}; unbound stderr:\n{}", proc.stderr()),
            }
        }
        panic!("unbound did not start: {last_err}");
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }
}

/// Waits (bounded) for Unbound's "start of service" log line: it then answers on its port,
/// whether the zone validates (AD=1) or not (SERVFAIL with a wrong trust anchor).
fn wait_started(proc: &mut Proc) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    while !proc.stderr().contains("start of service") {
        if let Some(status) = proc.exited() {
            return Err(format!("exited with {status}"));
        }
        if Instant::now() > deadline {
            return Err(format!("no \"start of service\" within {START_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
