//! DNSSEC test support (issue 15): the default setup signed online in a temp dir, the DS of a
//! zone from `gslbd dnssec ds` or BIND's own tools, a validating Unbound that reaches several
//! zones by stubs and forwards Client Subnet, and dig/delv through it.
//!
//! Every process runs on 127.0.0.1 with a bounded lifetime; Unbound never queries anything
//! but its stubs (`do-not-query-address` covers the documentation ranges the zones' glue uses).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{Proc, START_TIMEOUT, TempDir, assert_loopback, dig_path, free_port, run_bounded, unbound_path};

/// A query in wire form with EDNS (payload 1232) and DO, and an ECS option for the /24
/// `subnet` when given (for tests that call `dns::respond` in process).
pub fn wire_query_do(name: &str, qtype: u16, subnet: Option<[u8; 3]>) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1, 0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0]);
    match subnet {
        None => q.extend_from_slice(&[0, 0]),
        Some(s) => {
            // OPTION 8: family 1, source /24, scope 0, three address octets.
            q.extend_from_slice(&[0, 11, 0, 8, 0, 7, 0, 1, 24, 0]);
            q.extend_from_slice(&s);
        }
    }
    q
}

/// A server for the signed default setup (see [`signed_config`]; `dnssec` adds keys to its
/// `[zone.dnssec]`), or `None` after a SKIP line when dig is missing.
pub fn start_signed(dnssec: &str, zone: &str, pools: &str) -> Option<super::GslbdServer> {
    if dig_path().is_none() {
        println!("SKIP: dig not installed (apt-get install bind9-dnsutils)");
        return None;
    }
    let files = [("zone.zone", zone), ("pools.toml", pools), ("token", TOKEN)];
    Some(super::GslbdServer::start(&signed_config(dnssec, ""), &files))
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The default zone file and pool file, as text.
pub fn default_zone() -> (String, String) {
    let z = std::fs::read_to_string(root().join("zones/gslb.example.com.zone")).unwrap();
    let p = std::fs::read_to_string(root().join("zones/gslb.example.com.pools.toml")).unwrap();
    (z, p)
}

/// A config serving `gslb.example.com.` (zone.zone, pools.toml) signed online, with the shipped
/// GeoIP database, an admin API on a free port, the keys in the server's own temp dir, and
/// `extra` appended (more `[zone.dnssec]` keys first, then other tables).
pub fn signed_config(dnssec: &str, extra: &str) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nudp_workers = 1\n\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"token\"\n\n\
         [geoip]\ndatabase = \"{}\"\n\n[[zone]]\norigin = \"gslb.example.com.\"\nfile = \"zone.zone\"\npools = \"pools.toml\"\n\
         [zone.dnssec]\nenabled = true\n{dnssec}\n{extra}",
        root().join("geoip/default-country.mmdb").display()
    )
}

/// The admin token written as `token` beside [`signed_config`].
pub const TOKEN: &str = "dnssec-test-token";

/// Runs `gslbd dnssec ARGS --config CONFIG` and returns its output (panics on failure).
pub fn gslbd_dnssec(config: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gslbd"));
    cmd.arg("dnssec").arg("--config").arg(config).args(args);
    run_bounded(cmd, Duration::from_secs(20))
}

/// The first DS record `gslbd dnssec ds ZONE` prints, without its TTL and class: what
/// Unbound takes as `trust-anchor:`.
pub fn ds_anchor(config: &Path, zone: &str) -> String {
    let out = gslbd_dnssec(config, &["ds", zone]);
    let line = out.lines().next().unwrap_or_else(|| panic!("no DS for {zone}:\n{out}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f[3], "DS", "{line}");
    format!("{} DS {}", f[0], f[4..].join(" "))
}

/// The same trust anchor with one digest octet changed: nothing can validate against it.
pub fn wrong_anchor(anchor: &str) -> String {
    let (head, digest) = anchor.rsplit_once(' ').unwrap();
    let mut d: Vec<char> = digest.chars().collect();
    d[0] = if d[0] == '0' { '1' } else { '0' };
    format!("{head} {}", d.into_iter().collect::<String>())
}

/// Whether BIND's key tools are here (else a SKIP line is printed).
pub fn bind_tools() -> bool {
    for t in ["dnssec-keygen", "dnssec-dsfromkey"] {
        if !Command::new(t).arg("-h").output().is_ok_and(|o| !o.stderr.is_empty() || o.status.success()) {
            println!("SKIP: {t} not installed (apt-get install bind9-utils)");
            return false;
        }
    }
    true
}

/// Makes a KSK and a ZSK (ECDSA P-256) for `zone` in `dir` with BIND's dnssec-keygen, and
/// returns the KSK's DS as BIND's dnssec-dsfromkey writes it (`zone. IN DS …`).
pub fn bind_keys(dir: &Path, zone: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let keygen = |ksk: bool| {
        let mut c = Command::new("dnssec-keygen");
        c.args(["-q", "-K"]).arg(dir).args(["-a", "ECDSAP256SHA256"]);
        if ksk {
            c.args(["-f", "KSK"]);
        }
        c.arg(zone);
        run_bounded(c, Duration::from_secs(20)).trim().to_string()
    };
    let ksk = keygen(true);
    keygen(false);
    let mut c = Command::new("dnssec-dsfromkey");
    c.arg("-2").arg(dir.join(format!("{ksk}.key")));
    run_bounded(c, Duration::from_secs(10)).trim().to_string()
}

/// A validating Unbound on 127.0.0.1: DNSSEC on, the given trust anchors, one stub per zone,
/// Client Subnet forwarded to the stubs, cached answers kept at most `max_ttl` seconds.
pub struct Resolver {
    proc: Proc,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Resolver {
    /// Starts it, or prints SKIP and returns `None` without Unbound or dig.
    pub fn start(stubs: &[(&str, SocketAddr)], anchors: &[String], max_ttl: u32) -> Option<Resolver> {
        let Some(unbound) = unbound_path() else {
            println!("SKIP: unbound not installed (apt-get install unbound)");
            return None;
        };
        if dig_path().is_none() {
            println!("SKIP: dig not installed (apt-get install bind9-dnsutils)");
            return None;
        }
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let dir = TempDir::new("unbound-dnssec");
            let mut conf = format!(
                "server:\n    interface: 127.0.0.1\n    port: {port}\n    do-ip6: no\n    outgoing-interface: 127.0.0.1\n    \
                 access-control: 127.0.0.0/8 allow\n    do-daemonize: no\n    so-reuseport: no\n    chroot: \"\"\n    username: \"\"\n    \
                 directory: \"{d}\"\n    pidfile: \"\"\n    logfile: \"\"\n    use-syslog: no\n    verbosity: 1\n    \
                 val-log-level: 2\n    log-servfail: yes\n    num-threads: 1\n    do-not-query-localhost: no\n    \
                 do-not-query-address: 192.0.2.0/24\n    do-not-query-address: 198.51.100.0/24\n    \
                 do-not-query-address: 203.0.113.0/24\n    qname-minimisation: no\n    aggressive-nsec: no\n    \
                 cache-max-ttl: {max_ttl}\n    cache-max-negative-ttl: {max_ttl}\n    \
                 module-config: \"subnetcache validator iterator\"\n    client-subnet-always-forward: yes\n    \
                 max-client-subnet-ipv4: 24\n    max-client-subnet-ipv6: 56\n    send-client-subnet: 127.0.0.1\n",
                d = dir.path().display()
            );
            for a in anchors {
                conf.push_str(&format!("    trust-anchor: \"{a}\"\n"));
            }
            conf.push_str("remote-control:\n    control-enable: no\n");
            for (zone, up) in stubs {
                assert_loopback(*up);
                conf.push_str(&format!("stub-zone:\n    name: \"{zone}\"\n    stub-addr: {}@{}\n", up.ip(), up.port()));
            }
            let conf = dir.write("unbound.conf", &conf);
            let mut cmd = Command::new(&unbound);
            cmd.arg("-d").arg("-c").arg(&conf).current_dir(dir.path());
            let mut proc = Proc::spawn(cmd);
            let deadline = Instant::now() + START_TIMEOUT;
            while !proc.stderr().contains("start of service") && proc.exited().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if proc.stderr().contains("start of service") {
                let addr = format!("127.0.0.1:{port}").parse().unwrap();
                return Some(Resolver { proc, addr, _dir: dir });
            }
            last = proc.stderr();
        }
        panic!("unbound did not start:\n{last}");
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn log(&self) -> String {
        self.proc.stderr()
    }

    /// A recursive DO=1 query, from `subnet` (ECS) when given.
    pub fn ask(&self, name: &str, qtype: &str, subnet: Option<&str>) -> Reply {
        let mut args = vec!["+dnssec", "+rec", name, qtype];
        let ecs = subnet.map(|s| format!("+subnet={s}"));
        if let Some(e) = &ecs {
            args.push(e);
        }
        dig_reply(self.addr, &args)
    }
}

/// What a test needs from a dig reply: status, header flags, and the records by section.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: String,
    pub flags: Vec<String>,
    /// `owner TTL class type rdata` lines of the answer and authority sections.
    pub answer: Vec<String>,
    pub authority: Vec<String>,
    pub text: String,
}

impl Reply {
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
    /// The RDATA of the answer records of `rtype`.
    pub fn rdata(&self, rtype: &str) -> Vec<String> {
        self.answer
            .iter()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.get(3) == Some(&rtype)).then(|| f[4..].join(" "))
            })
            .collect()
    }
    /// The RRSIG records of `section` that cover `rtype`, as their fields.
    pub fn rrsigs<'a>(&'a self, section: &'a [String], rtype: &str) -> Vec<Vec<&'a str>> {
        section
            .iter()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f.get(3) == Some(&"RRSIG") && f.get(4) == Some(&rtype))
            .collect()
    }
}

/// `dig @ADDR -p PORT +time=2 +tries=1 +nocomments… ARGS` parsed into a [`Reply`].
pub fn dig_reply(server: SocketAddr, args: &[&str]) -> Reply {
    assert_loopback(server);
    let mut cmd = Command::new(dig_path().expect("dig"));
    cmd.arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+time=3", "+tries=1", "+nocmd", "+nomultiline"])
        .args(args);
    let text = run_bounded(cmd, Duration::from_secs(15));
    let status = text
        .lines()
        .find_map(|l| l.split("status: ").nth(1))
        .map(|s| s.split(',').next().unwrap_or("").trim().to_string())
        .unwrap_or_else(|| panic!("no status in dig output:\n{text}"));
    let flags = text
        .lines()
        .find_map(|l| l.strip_prefix(";; flags: "))
        .map(|f| f.split(';').next().unwrap_or("").split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let mut answer = Vec::new();
    let mut authority = Vec::new();
    let mut section = None;
    for l in text.lines() {
        if l.starts_with(";; ANSWER SECTION") {
            section = Some(0);
        } else if l.starts_with(";; AUTHORITY SECTION") {
            section = Some(1);
        } else if l.starts_with(";;") || l.trim().is_empty() {
            section = if l.trim().is_empty() { None } else { section };
        } else if let Some(s) = section {
            let line = l.split_whitespace().collect::<Vec<_>>().join(" ");
            if s == 0 { answer.push(line) } else { authority.push(line) }
        }
    }
    Reply { status, flags, answer, authority, text }
}

/// `delv` through the resolver at `via`, with `anchor` (a DS: `zone. DS tag alg digtype hex`)
/// as its only trust anchor: its first lines (";; fully validated" …).
pub fn delv(via: SocketAddr, anchor: &str, dir: &Path, name: &str, qtype: &str) -> Option<String> {
    if Command::new("delv").arg("-v").output().is_err() {
        println!("SKIP: delv not installed (apt-get install bind9-dnsutils)");
        return None;
    }
    let f: Vec<&str> = anchor.split_whitespace().collect();
    let (zone, tag, alg, dt, digest) = (f[0], f[2], f[3], f[4], f[5]);
    let file = dir.join("anchor.delv");
    std::fs::write(&file, format!("trust-anchors {{ {zone} static-ds {tag} {alg} {dt} \"{digest}\"; }};\n")).unwrap();
    let mut cmd = Command::new("delv");
    cmd.arg(format!("@{}", via.ip()))
        .args(["-p", &via.port().to_string(), "-a"])
        .arg(&file)
        .arg(format!("+root={zone}"))
        .args([name, qtype]);
    Some(run_bounded(cmd, Duration::from_secs(20)))
}
