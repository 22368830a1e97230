//! Unbound, the resolver of record: a stub zone to one authoritative server on loopback, with
//! Client Subnet sent upstream, in its own temp dir, killed on Drop.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use super::launch::{Daemon, answers_soa, start_with_retries};
use super::process::{TempDir, find_tool, free_port};
use super::transport::assert_loopback;

/// Where `unbound` lives, if installed. `GSLBD_TEST_UNBOUND=/path/to/unbound` overrides the
/// search; set it empty to check the SKIP path.
pub fn unbound_path() -> Option<PathBuf> {
    find_tool("GSLBD_TEST_UNBOUND", "unbound")
}

/// Unbound on 127.0.0.1, reaching one zone through a stub to one authoritative server and
/// sending it Client Subnet (RFC 7871): the constructor returns the running [`Daemon`].
pub struct Unbound;

impl Unbound {
    /// Starts Unbound with `zone` stubbed to `upstream` and Client Subnet sent to it, or prints
    /// `SKIP: unbound not installed (apt-get install unbound)` and returns `None`.
    ///
    /// The configuration is self-contained (`-c`, no include of /etc/unbound): no trust anchor
    /// (so neither unbound-anchor nor a root key is needed), DNSSEC validation off for `zone`
    /// by `domain-insecure`, no remote control, no chroot, no privilege drop, no daemon.
    pub fn start_stub_with_ecs(zone: &str, upstream: SocketAddr) -> Option<Daemon> {
        let Some(unbound) = unbound_path() else {
            eprintln!("SKIP: unbound not installed (apt-get install unbound)");
            return None;
        };
        assert_loopback(upstream);
        Some(start_with_retries("unbound", || {
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
                 \x20   so-reuseport: no\n\
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
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            // Ready once it answers a recursive SOA query: it listens, and its stub works.
            Daemon::start("unbound", cmd, addr, dir, || answers_soa(addr, zone, true))
        }))
    }
}
