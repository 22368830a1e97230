//! Zone transfer tests (issue 16): Knot as gslbd's secondary or as its primary, with a TSIG
//! key, logging at info to stderr (the tests read which transfers Knot made), and the query
//! list of tests/knot_diff.rs read from that file (so the two tests compare the same queries).
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use super::knot::knotd_path;
use super::launch::{Daemon, answers_soa};
use super::process::TempDir;
use super::query::{EdnsSpec, QuerySpec};
use super::transport::udp_raw_timeout;

/// The TSIG secret the tests share (base64 of 32 octets).
pub const TSIG_SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==";
/// Another secret, for "wrong key" cases.
pub const WRONG_SECRET: &str = "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3JvbmchIQ==";

/// A BIND key file for key `name` with `secret`.
pub fn bind_key_file(name: &str, secret: &str) -> String {
    format!("key \"{name}\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{secret}\";\n}};\n")
}

/// Knot's common server settings: answers as the differential tests compare them.
fn server_conf(d: &str, addr: SocketAddr) -> String {
    format!(
        "server:\n    listen: {}@{}\n    rundir: {d}\n    udp-max-payload: 1232\n    identity: \"\"\n    \
         version: \"\"\n    nsid: \"\"\n    background-workers: 1\n\
         log:\n  - target: stderr\n    any: info\n\
         database:\n    storage: {d}\n",
        addr.ip(),
        addr.port()
    )
}

/// Knot as the secondary of `origin`, transferring from `primary` with key `key` (name,
/// secret; `None`: unsigned), accepting NOTIFY from 127.0.0.1 (signed with the key when
/// there is one). Listens on `addr`; ready once it answers at all (SERVFAIL until its first
/// transfer: wait for the zone with [`serves`]).
pub fn knot_secondary(
    addr: SocketAddr,
    origin: &str,
    primary: SocketAddr,
    key: Option<(&str, &str)>,
) -> Option<Result<Daemon, String>> {
    let Some(knotd) = knotd_path() else {
        eprintln!("SKIP: knotd not installed (apt-get install knot)");
        return None;
    };
    let dir = TempDir::new("knot-secondary");
    let d = dir.path().display().to_string();
    let mut conf = server_conf(&d, addr);
    let key_ref = match key {
        Some((name, secret)) => {
            conf.push_str(&format!("key:\n  - id: {name}\n    algorithm: hmac-sha256\n    secret: {secret}\n"));
            format!("\n    key: {name}")
        }
        None => String::new(),
    };
    conf.push_str(&format!(
        "remote:\n  - id: primary\n    address: {}@{}{key_ref}\n\
         acl:\n  - id: notify\n    address: 127.0.0.1{key_ref}\n    action: notify\n\
         template:\n  - id: default\n    storage: {d}\n    semantic-checks: off\n    zonefile-sync: -1\n    \
         journal-content: changes\n\
         zone:\n  - domain: {origin}\n    master: primary\n    acl: notify\n    file: {d}/secondary.zone\n",
        primary.ip(),
        primary.port()
    ));
    let conf = dir.write("knot.conf", &conf);
    let mut cmd = Command::new(knotd);
    cmd.arg("-c").arg(&conf).current_dir(dir.path());
    let query = QuerySpec::new(origin, RecordType::SOA).to_message(0x5353).to_vec().expect("query");
    Some(Daemon::start("knotd (secondary)", cmd, addr, dir, move || {
        udp_raw_timeout(addr, &query, Duration::from_millis(300)).map(|_| ()).ok_or_else(|| "no answer".to_string())
    }))
}

/// Whether `addr` serves `origin` (NOERROR SOA) within `within`, polled every 20 ms.
pub fn serves(addr: SocketAddr, origin: &str, within: Duration) -> bool {
    let t = Instant::now();
    loop {
        if answers_soa(addr, origin, false).is_ok() {
            return true;
        }
        if t.elapsed() > within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Knot as the primary of `origin` from `zone_text`, allowing transfers from 127.0.0.1 with
/// `key` and sending NOTIFY to `notify` (signed with the key). Journal on (IXFR from its
/// differences; `knotc zone-reload` picks up an edited file).
pub fn knot_primary(
    addr: SocketAddr,
    origin: &str,
    zone_text: &str,
    key: (&str, &str),
    notify: SocketAddr,
) -> Option<Result<Daemon, String>> {
    let Some(knotd) = knotd_path() else {
        eprintln!("SKIP: knotd not installed (apt-get install knot)");
        return None;
    };
    let dir = TempDir::new("knot-primary");
    let d = dir.path().display().to_string();
    let zone = dir.write("primary.zone", zone_text);
    let (name, secret) = key;
    let mut conf = server_conf(&d, addr);
    conf.push_str(&format!(
        "control:\n    listen: {d}/knot.sock\n\
         key:\n  - id: {name}\n    algorithm: hmac-sha256\n    secret: {secret}\n\
         remote:\n  - id: gslbd\n    address: {}@{}\n    key: {name}\n\
         acl:\n  - id: xfr\n    address: 127.0.0.1\n    key: {name}\n    action: transfer\n\
         template:\n  - id: default\n    storage: {d}\n    semantic-checks: off\n    zonefile-sync: -1\n    \
         zonefile-load: difference\n    journal-content: changes\n\
         zone:\n  - domain: {origin}\n    file: {}\n    acl: xfr\n    notify: gslbd\n",
        notify.ip(),
        notify.port(),
        zone.display()
    ));
    let conf = dir.write("knot.conf", &conf);
    let mut cmd = Command::new(knotd);
    cmd.arg("-c").arg(&conf).current_dir(dir.path());
    let origin = origin.to_string();
    Some(Daemon::start("knotd (primary)", cmd, addr, dir, move || answers_soa(addr, &origin, false)))
}

/// `knotc -s SOCKET ARGS…` for a Knot started by [`knot_primary`]; its output.
pub fn knotc(knot: &Daemon, args: &[&str]) -> String {
    let sock = knot.dir().join("knot.sock");
    let out = Command::new("knotc").arg("-s").arg(&sock).args(args).output().expect("run knotc");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// One line of tests/knot_diff.rs's `CASES` table, read as that test reads it.
pub struct DiffCase {
    pub line: String,
    pub tcp: bool,
    pub spec: QuerySpec,
    /// The `!TAG` of a documented exception, if any.
    pub exception: Option<String>,
}

/// The query table of tests/knot_diff.rs (`udp|tcp QNAME QTYPE [options] => …`).
pub fn knot_diff_cases() -> Vec<DiffCase> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/knot_diff.rs");
    let text = std::fs::read_to_string(&path).expect("read tests/knot_diff.rs");
    let start = text.find("const CASES: &[&str] = &[").expect("CASES table");
    let end = start + text[start..].find("\n];").expect("end of CASES");
    text[start..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"').and_then(|l| l.strip_suffix("\",")))
        .map(parse_case)
        .collect()
}

fn parse_case(line: &str) -> DiffCase {
    let query = line.split("=>").next().expect("=>");
    let mut t = query.split_whitespace();
    let tcp = t.next() == Some("tcp");
    let qname = t.next().expect("qname");
    let qtype = t.next().expect("qtype");
    let qtype = match qtype.strip_prefix("TYPE") {
        Some(n) => RecordType::from(n.parse::<u16>().expect("type number")),
        None => RecordType::from_str(qtype).expect("type"),
    };
    let mut spec = QuerySpec::new(qname, qtype);
    spec.edns = Some(EdnsSpec::default());
    let mut exception = None;
    for opt in t {
        match opt.split_once('=') {
            None => match opt {
                "noedns" => spec.edns = None,
                "rd" => spec.rd = true,
                "cd" => spec.cd = true,
                "ad" => spec.ad = true,
                "do" => spec.edns.as_mut().expect("edns").flags |= 0x8000,
                tag => exception = Some(tag.trim_start_matches('!').to_string()),
            },
            Some((k, v)) => match k {
                "bufsize" => spec.edns.as_mut().expect("edns").payload = v.parse().unwrap(),
                "ednsver" => spec.edns.as_mut().expect("edns").version = v.parse().unwrap(),
                "ednsflags" => {
                    spec.edns.as_mut().expect("edns").flags |=
                        u16::from_str_radix(v.trim_start_matches("0x"), 16).unwrap()
                }
                "ednsopt" => {
                    let (code, data) = v.split_once(':').unwrap_or((v, ""));
                    let data =
                        (0..data.len() / 2).map(|i| u8::from_str_radix(&data[2 * i..2 * i + 2], 16).unwrap()).collect();
                    spec.edns.as_mut().expect("edns").options.push((code.parse().unwrap(), data));
                }
                "class" => {
                    spec.qclass = match v {
                        "IN" => 1,
                        "CH" => 3,
                        "HS" => 4,
                        n => n.parse().unwrap(),
                    }
                }
                "opcode" => spec.opcode = v.parse().unwrap(),
                _ => exception = Some(format!("unknown option {opt}")),
            },
        }
    }
    DiffCase { line: line.to_string(), tcp, spec, exception }
}

/// `gslbd`'s stderr once `done` holds for it (its lines are read by another thread, so a line
/// logged just now may not be there yet), or after `within` as it then is.
pub fn log_when(gslbd: &super::gslbd_server::GslbdServer, within: Duration, done: impl Fn(&str) -> bool) -> String {
    let t = Instant::now();
    loop {
        let log = gslbd.stderr();
        if done(&log) || t.elapsed() > within {
            return log;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
