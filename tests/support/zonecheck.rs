//! Zone files judged by software we did not write (issue 13): the corpus in
//! tests/fixtures/zone-corpus and its MANIFEST, the zone checkers of Knot (`kzonecheck`, Debian
//! knot-dnssecutils), NSD (`nsd-checkzone`) and BIND (`named-checkzone`), Knot and NSD serving
//! a zone file with AXFR allowed from loopback, and a reader of raw replies that keeps each
//! record's RDATA as the server sent it (names decompressed only in the RFC 1035 types, the
//! only ones a server may compress, RFC 3597 §4).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::launch::{answers_soa, spawn_ready};
use super::transport::{frame, read_frame, tcp_connect};
use super::{Proc, TempDir, free_port};

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zone-corpus")
}

/// What the manifest expects of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Ok,
    Err(usize),
}

/// One line of corpus/MANIFEST.
#[derive(Debug, Clone)]
pub struct CorpusCase {
    pub file: String,
    pub origin: String,
    pub expect: Expect,
    /// knot, nsd or bind: whose data an accepted file is compared with.
    pub oracle: String,
    /// Why the servers disagree, if they do.
    pub note: String,
}

pub fn manifest() -> Vec<CorpusCase> {
    let text = std::fs::read_to_string(corpus_dir().join("MANIFEST")).expect("corpus MANIFEST");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let c: Vec<&str> = l.split('|').map(str::trim).collect();
            let expect = match c[2] {
                "ok" => Expect::Ok,
                e => Expect::Err(e.strip_prefix("err:").and_then(|n| n.parse().ok()).expect("err:LINE")),
            };
            CorpusCase { file: c[0].into(), origin: c[1].into(), expect, oracle: c[3].into(), note: c[4..].join("|") }
        })
        .collect()
}

/// What one checker said about one file.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub accept: bool,
    /// The lines its error messages name (empty when it names a node, not a line).
    pub lines: Vec<usize>,
    pub output: String,
}

pub fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// Whether every checker and server the corpus test needs is installed; prints a SKIP line
/// naming the missing ones otherwise.
pub fn tools_present() -> bool {
    let missing: Vec<&str> = ["kzonecheck", "nsd-checkzone", "named-checkzone", "named-compilezone", "knotd", "nsd"]
        .into_iter()
        .filter(|t| tool(t).is_none())
        .collect();
    if !missing.is_empty() {
        eprintln!("SKIP: {} not installed (apt-get install knot knot-dnssecutils nsd bind9-utils)", missing.join(", "));
    }
    missing.is_empty()
}

/// Runs a checker in the corpus directory (relative `$INCLUDE`s then mean the same to all).
fn run_checker(args: &[&str], file: &str) -> Verdict {
    let out = Command::new(tool(args[0]).expect("checker installed"))
        .args(&args[1..])
        .current_dir(corpus_dir())
        .output()
        .expect("run checker");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let mut lines = Vec::new();
    // Knot: "file 'X', line N"; NSD and BIND: "X:N:".
    for pat in [format!("file '{file}', line "), format!("{file}:")] {
        for (at, _) in text.match_indices(&pat) {
            let digits: String = text[at + pat.len()..].chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse::<usize>()
                && !lines.contains(&n)
            {
                lines.push(n);
            }
        }
    }
    Verdict { accept: out.status.success(), lines, output: text }
}

pub fn kzonecheck(origin: &str, file: &str) -> Verdict {
    run_checker(&["kzonecheck", "-v", "-d", "off", "-o", origin, file], file)
}

pub fn nsd_checkzone(origin: &str, file: &str) -> Verdict {
    run_checker(&["nsd-checkzone", origin, file], file)
}

pub fn named_checkzone(origin: &str, file: &str) -> Verdict {
    run_checker(&["named-checkzone", "-k", "ignore", origin, file], file)
}

/// BIND's own expansion of `file` (its `$GENERATE` is BIND's alone), written to `out`.
pub fn named_compilezone(origin: &str, file: &str, out: &Path) -> bool {
    Command::new(tool("named-compilezone").expect("named-compilezone installed"))
        .current_dir(corpus_dir())
        .args(["-q", "-k", "ignore", "-o"])
        .arg(out)
        .args([origin, file])
        .status()
        .is_ok_and(|s| s.success())
}

/// knotd or nsd serving one zone file on 127.0.0.1, AXFR allowed from 127.0.0.1. Killed on Drop.
pub struct XfrServer {
    proc: Proc,
    addr: SocketAddr,
    _dir: TempDir,
}

impl XfrServer {
    /// Knot serving `file` (its relative `$INCLUDE`s are read beside it).
    pub fn knot(origin: &str, file: &Path) -> XfrServer {
        Self::knot_zones(&[(origin, file)])
    }

    /// Knot serving several zones, each `(origin, file)`, answering as the differential tests
    /// compare it: UDP payload 1232 (gslbd's), no identity, version or NSID.
    pub fn knot_zones(zones: &[(&str, &Path)]) -> XfrServer {
        let origins: Vec<&str> = zones.iter().map(|z| z.0).collect();
        Self::knot_zones_serving(zones, &origins)
    }

    /// [`Self::knot_zones`], ready once the zones `serving` answer (the others may be broken).
    pub fn knot_zones_serving(zones: &[(&str, &Path)], serving: &[&str]) -> XfrServer {
        let dir = TempDir::new("knot-xfr");
        let port = free_port();
        let d = dir.path().display();
        let mut conf = format!(
            "server:\n    rundir: {d}\n    listen: 127.0.0.1@{port}\n    background-workers: 1\n    \
             udp-max-payload: 1232\n    identity: \"\"\n    version: \"\"\n    nsid: \"\"\n\
             log:\n  - target: stderr\n    any: warning\n\
             database:\n    storage: {d}/db\n\
             acl:\n  - id: axfr\n    address: 127.0.0.1\n    action: transfer\n\
             template:\n  - id: default\n    storage: {d}\n    acl: axfr\n    zonefile-sync: -1\n    \
             journal-content: none\n\
             zone:\n"
        );
        for (origin, file) in zones {
            let f = file.canonicalize().expect("zone file");
            conf.push_str(&format!("  - domain: {origin}\n    file: {}\n", f.display()));
        }
        let conf = dir.write("knot.conf", &conf);
        let mut cmd = Command::new(tool("knotd").expect("knotd installed"));
        cmd.arg("-c").arg(conf);
        Self::ready("knotd", cmd, port, serving, dir)
    }

    /// NSD serving `file`; its zonesdir is the file's directory, so relative `$INCLUDE`s
    /// resolve as nsd-checkzone run there resolves them.
    pub fn nsd(origin: &str, file: &Path) -> XfrServer {
        let dir = TempDir::new("nsd-xfr");
        let port = free_port();
        let file = file.canonicalize().expect("zone file");
        let conf = format!(
            "server:\n    ip-address: 127.0.0.1@{port}\n    username: \"\"\n    chroot: \"\"\n\
             zonesdir: \"{z}\"\n    database: \"\"\n    pidfile: \"{d}/nsd.pid\"\n\
             xfrdfile: \"{d}/xfrd.state\"\n    zonelistfile: \"{d}/zone.list\"\n\
             server-count: 1\n    verbosity: 1\n\
             remote-control:\n    control-enable: no\n\
             zone:\n    name: {origin}\n    zonefile: \"{f}\"\n    provide-xfr: 127.0.0.1 NOKEY\n",
            d = dir.path().display(),
            z = file.parent().expect("dir").display(),
            f = file.display(),
        );
        let conf = dir.write("nsd.conf", &conf);
        let mut cmd = Command::new(tool("nsd").expect("nsd installed"));
        cmd.arg("-d").arg("-c").arg(conf);
        Self::ready("nsd", cmd, port, &[origin], dir)
    }

    /// Starts `cmd` and waits (bounded) until it answers an SOA query for each of `origins`.
    fn ready(what: &str, cmd: Command, port: u16, origins: &[&str], dir: TempDir) -> XfrServer {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let ready = || origins.iter().try_for_each(|origin| answers_soa(addr, origin, false));
        match spawn_ready(what, cmd, ready) {
            Ok(proc) => XfrServer { proc, addr, _dir: dir },
            Err(e) => panic!("zone server did not serve {origins:?}: {e}"),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The zone's records by AXFR, the closing SOA left out.
    pub fn axfr(&self, origin: &[u8]) -> Result<Vec<WireRr>, String> {
        let mut s = tcp_connect(self.addr).ok_or("connect")?;
        std::io::Write::write_all(&mut s, &frame(&raw_query(0x1337, origin, 252, false))).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let mut soas = 0;
        for _ in 0..10_000 {
            let msg = read_frame(&mut s).ok_or_else(|| format!("AXFR cut short\n{}", self.proc.stderr()))?;
            if msg.get(3).is_none_or(|b| b & 0x0f != 0) {
                return Err(format!("AXFR refused (rcode {:?})", msg.get(3).map(|b| b & 0x0f)));
            }
            for rr in sections(&msg)?.remove(0) {
                if rr.rtype == 6 {
                    soas += 1;
                    if soas == 2 {
                        return Ok(out);
                    }
                }
                out.push(rr);
            }
        }
        Err("AXFR did not end".into())
    }
}

/// A query for `qname` (wire form, any octets) and `qtype`, with EDNS (payload 1232) and DO
/// when `dnssec`.
pub fn raw_query(id: u16, qname: &[u8], qtype: u16, dnssec: bool) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    q.extend_from_slice(qname);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    let flags: u16 = if dnssec { 0x8000 } else { 0 };
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0]);
    q.extend_from_slice(&flags.to_be_bytes());
    q.extend_from_slice(&[0, 0]);
    q
}

/// One resource record as it came off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRr {
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

fn u16_at(m: &[u8], i: usize) -> Result<u16, String> {
    Ok(u16::from_be_bytes(m.get(i..i + 2).ok_or("truncated")?.try_into().unwrap()))
}

/// Reads a possibly compressed name at `pos`: the name uncompressed, and where it ends.
pub fn read_name(m: &[u8], mut pos: usize) -> Result<(Vec<u8>, usize), String> {
    let mut name = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *m.get(pos).ok_or("name runs off the message")?;
        match len {
            0 => {
                name.push(0);
                return Ok((name, end.unwrap_or(pos + 1)));
            }
            1..=63 => {
                name.extend_from_slice(m.get(pos..pos + 1 + usize::from(len)).ok_or("label runs off")?);
                pos += 1 + usize::from(len);
            }
            0xc0..=0xff => {
                end.get_or_insert(pos + 2);
                pos = usize::from(u16_at(m, pos)? & 0x3fff);
            }
            _ => return Err("bad label type".into()),
        }
    }
    Err("name too long or looping".into())
}

/// The answer, authority and additional records of a message (the OPT record left out).
pub fn sections(m: &[u8]) -> Result<Vec<Vec<WireRr>>, String> {
    let counts = [u16_at(m, 6)?, u16_at(m, 8)?, u16_at(m, 10)?];
    let mut pos = 12;
    for _ in 0..u16_at(m, 4)? {
        pos = read_name(m, pos)?.1 + 4;
    }
    let mut out = Vec::new();
    for n in counts {
        let mut section = Vec::new();
        for _ in 0..n {
            let (owner, p) = read_name(m, pos)?;
            let rtype = u16_at(m, p)?;
            let class = u16_at(m, p + 2)?;
            let ttl = u32::from_be_bytes(m.get(p + 4..p + 8).ok_or("truncated")?.try_into().unwrap());
            let rdlen = usize::from(u16_at(m, p + 8)?);
            let start = p + 10;
            let raw = m.get(start..start + rdlen).ok_or("RDATA runs off")?;
            let rdata = match rtype {
                2..=5 | 7..=9 | 12 => read_name(m, start)?.0,
                6 => {
                    let (a, p1) = read_name(m, start)?;
                    let (b, p2) = read_name(m, p1)?;
                    [a, b, m.get(p2..p2 + 20).ok_or("SOA runs off")?.to_vec()].concat()
                }
                14 => {
                    let (a, p1) = read_name(m, start)?;
                    [a, read_name(m, p1)?.0].concat()
                }
                15 => [raw[..2].to_vec(), read_name(m, start + 2)?.0].concat(),
                _ => raw.to_vec(),
            };
            pos = start + rdlen;
            if rtype != 41 {
                section.push(WireRr { owner, rtype, class, ttl, rdata });
            }
        }
        out.push(section);
    }
    Ok(out)
}

/// The RDATA with the letters of its domain names folded to lower case, for the types whose
/// names Knot and NSD lowercase when loading (RFC 4034 §6.2 minus NSEC, RFC 6840 §5.1).
/// Used only to tell a case-only difference from a real one.
pub fn fold_names(rtype: u16, rdata: &[u8]) -> Vec<u8> {
    let mut out = rdata.to_vec();
    let mut fold_at = |at: usize| -> Option<usize> {
        let mut i = at;
        loop {
            let len = usize::from(*out.get(i)?);
            if len == 0 {
                return Some(i + 1);
            }
            for c in out.get_mut(i + 1..i + 1 + len)? {
                c.make_ascii_lowercase();
            }
            i += 1 + len;
        }
    };
    let strings = |mut at: usize, n: usize| -> Option<usize> {
        for _ in 0..n {
            at += 1 + usize::from(*rdata.get(at)?);
        }
        Some(at)
    };
    let _ = match rtype {
        2..=5 | 7..=9 | 12 | 30 | 39 => fold_at(0),
        6 | 14 | 17 => fold_at(0).and_then(&mut fold_at),
        15 | 18 | 21 | 36 => fold_at(2),
        26 => fold_at(2).and_then(&mut fold_at),
        33 => fold_at(6),
        35 => strings(4, 3).and_then(&mut fold_at),
        24 | 46 => fold_at(18),
        _ => None,
    };
    out
}

/// The wire form of a presentation-form absolute name without escapes.
pub fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}
