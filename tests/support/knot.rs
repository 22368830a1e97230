//! Knot DNS (`knotd`), the authoritative server of record the tests compare gslbd with:
//! one zone on a loopback address, in its own temp dir, killed on Drop.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::launch::{Daemon, answers_soa, start_with_retries};
use super::process::{TempDir, find_tool, free_port};

/// Where `knotd` lives, if installed. `GSLBD_TEST_KNOTD=/path/to/knotd` overrides the
/// search; set it empty to check the SKIP path.
pub fn knotd_path() -> Option<PathBuf> {
    find_tool("GSLBD_TEST_KNOTD", "knotd")
}

/// Knot DNS (`knotd`) serving one zone on loopback: each constructor returns the running
/// [`Daemon`] (killed, its temp dir removed, on Drop).
pub struct Knot;

impl Knot {
    /// Starts knotd with `zone_file_text` as zone `zone_origin`, or prints
    /// `SKIP: knotd not installed (apt-get install knot)` to stderr and returns `None`.
    pub fn start(zone_origin: &str, zone_file_text: &str) -> Option<Daemon> {
        Self::start_with_nsid(zone_origin, zone_file_text, "")
    }

    /// Like [`Knot::start`], with Knot's NSID (RFC 5001) set to `nsid` ("" = none).
    pub fn start_with_nsid(zone_origin: &str, zone_file_text: &str, nsid: &str) -> Option<Daemon> {
        let Some(knotd) = knotd_path() else {
            eprintln!("SKIP: knotd not installed (apt-get install knot)");
            return None;
        };
        Some(start_with_retries("knotd", || {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            Self::launch(&knotd, addr, zone_origin, zone_file_text, nsid)
        }))
    }

    /// Starts knotd on `addr` (say port 53 inside a network namespace); `Err` when it does not
    /// answer within the start timeout. Panics when knotd is not installed.
    pub fn start_at(addr: SocketAddr, zone_origin: &str, zone_file_text: &str) -> Result<Daemon, String> {
        let knotd = knotd_path().expect("knotd is installed");
        Self::launch(&knotd, addr, zone_origin, zone_file_text, "")
    }

    fn launch(knotd: &Path, addr: SocketAddr, origin: &str, zone_text: &str, nsid: &str) -> Result<Daemon, String> {
        let dir = TempDir::new("knot-test");
        let zone = dir.write("zone.zone", zone_text);
        let d = dir.path().display();
        let (ip, port) = (addr.ip(), addr.port());
        // identity/version empty: Knot then answers no CHAOS identity queries, so only the zone
        // data is compared; likewise no NSID unless asked for. udp-max-payload 1232 is the DNS
        // flag day 2020 value gslbd uses too.
        let conf = format!(
            "server:\n    listen: {ip}@{port}\n    rundir: {d}\n    udp-max-payload: 1232\n    \
             identity: \"\"\n    version: \"\"\n    nsid: \"{nsid}\"\n\
             log:\n  - target: stderr\n    any: warning\n\
             database:\n    storage: {d}\n\
             template:\n  - id: default\n    storage: {d}\n    semantic-checks: off\n    \
             zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n\
             zone:\n  - domain: {origin}\n    file: {}\n",
            zone.display()
        );
        let conf = dir.write("knot.conf", &conf);
        let mut cmd = Command::new(knotd);
        cmd.arg("-c").arg(&conf).current_dir(dir.path());
        Daemon::start("knotd", cmd, addr, dir, || answers_soa(addr, origin, false))
    }
}
