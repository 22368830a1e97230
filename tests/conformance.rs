//! Conformance judged by tools other people wrote (Debian packages):
//! - the RFC 8906 section 8 probes as `dig` commands, with the rcodes and flags a correct
//!   authoritative server gives;
//! - `zonemaster-cli` (0 ERROR, 0 WARNING; only the two loopback findings are lowered to INFO
//!   by a profile; its DNSSEC module included) and `dnsviz probe -A -E` + `grok` with the
//!   root's key as trust anchor (no errors or warnings, every name SECURE), both inside
//!   `unshare -n` against a private, signed root → example.com (Knot) → gslb.example.com
//!   (gslbd on 127.53.0.1 and 127.53.0.2, signed online, its DS in example.com) hierarchy:
//!   tests/conformance/zonemaster-dnsviz.sh.
//!
//! A missing tool, or a machine where `unshare -n` is not permitted, prints `SKIP: <reason>`.
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{GslbdServer, TempDir};

fn which(bin: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = vec!["/usr/sbin".into(), "/usr/local/sbin".into()];
    if let Some(p) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    dirs.into_iter().map(|d| d.join(bin)).find(|p| p.is_file())
}

struct Dig {
    status: String,
    flags: Vec<String>,
    edns_version: Option<u8>,
    text: String,
}

fn dig(srv: &GslbdServer, args: &[&str]) -> Dig {
    let addr = srv.addr();
    let out = Command::new("dig")
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string(), "+time=2", "+tries=1"])
        .args(args)
        .output()
        .expect("run dig");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text.split("status: ").nth(1).and_then(|s| s.split(',').next()).unwrap_or("(none)").to_string();
    let flags = text
        .split(";; flags: ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .map(|f| f.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let edns_version =
        text.split("EDNS: version: ").nth(1).and_then(|s| s.split(',').next()).and_then(|v| v.trim().parse().ok());
    Dig { status, flags, edns_version, text }
}

#[test]
fn rfc8906_probes_with_dig() {
    if which("dig").is_none() {
        println!("SKIP: dig not installed (apt-get install bind9-dnsutils)");
        return;
    }
    let srv = GslbdServer::start_default();
    let z = "gslb.example.com";
    let has = |d: &Dig, f: &str| d.flags.iter().any(|x| x == f);

    let d = dig(&srv, &["+norec", "+noedns", z, "SOA"]);
    assert!(d.status == "NOERROR" && has(&d, "aa") && d.edns_version.is_none(), "plain:\n{}", d.text);

    let d = dig(&srv, &["+norec", "+edns=0", z, "SOA"]);
    assert!(d.status == "NOERROR" && has(&d, "aa") && d.edns_version == Some(0), "EDNS:\n{}", d.text);

    let d = dig(&srv, &["+norec", "+edns=1", "+noednsneg", z, "SOA"]);
    assert!(d.status == "BADVERS" && d.edns_version == Some(0), "EDNS version 1:\n{}", d.text);

    let d = dig(&srv, &["+norec", "+ednsopt=100", z, "SOA"]);
    assert!(d.status == "NOERROR" && !d.text.contains("OPT=100"), "unknown option:\n{}", d.text);

    let d = dig(&srv, &["+norec", "+ednsflags=0x80", z, "SOA"]);
    let opt_line = d.text.lines().find(|l| l.contains("EDNS: version")).unwrap_or("").to_string();
    assert!(d.status == "NOERROR" && !opt_line.contains("MBZ"), "unknown flag echoed or error:\n{}", d.text);

    let d = dig(&srv, &["+opcode=15", "+header-only"]);
    assert!(d.status == "NOTIMP", "opcode 15:\n{}", d.text);

    let d = dig(&srv, &["+norec", "+bufsize=512", "+dnssec", "+ignore", z, "DNSKEY"]);
    assert!(d.status == "NOERROR" && !d.text.contains("Warning: Message parser"), "512-byte DO DNSKEY:\n{}", d.text);
    let d = dig(&srv, &["+norec", "+bufsize=512", "+dnssec", "+ignore", &format!("big.{z}"), "TXT"]);
    assert!(d.status == "NOERROR" && has(&d, "tc"), "512-byte DO big TXT is truncated:\n{}", d.text);

    let d = dig(&srv, &["+norec", "+tcp", z, "SOA"]);
    assert!(d.status == "NOERROR" && has(&d, "aa") && d.text.contains("(TCP)"), "TCP:\n{}", d.text);
}

/// Runs tests/conformance/zonemaster-dnsviz.sh in a network namespace; `None` (after a
/// printed SKIP) when it cannot run here.
fn in_namespace(tool: &str, package: &str, env: &[(&str, &str)]) -> Option<String> {
    for (bin, pkg) in [
        (tool, package),
        ("knotd", "knot"),
        ("dig", "bind9-dnsutils"),
        ("dnssec-dsfromkey", "bind9-utils"),
        ("unshare", "util-linux"),
        ("ip", "iproute2"),
    ] {
        if which(bin).is_none() {
            println!("SKIP: {bin} not installed (apt-get install {pkg})");
            return None;
        }
    }
    match Command::new("unshare").args(["-n", "true"]).status() {
        Ok(s) if s.success() => {}
        other => {
            println!("SKIP: `unshare -n` is not permitted here ({other:?}); {tool} must not reach the internet");
            return None;
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = TempDir::new("conformance");
    let out = Command::new("timeout")
        .args(["300", "unshare", "-n", "--", "bash"])
        .arg(root.join("tests/conformance/zonemaster-dnsviz.sh"))
        .env("GSLBD", env!("CARGO_BIN_EXE_gslbd"))
        .env("ROOT", root)
        .env("WORK", work.path())
        .envs(env.iter().copied())
        .output()
        .expect("run the namespace script");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let logs: String = ["gslbd.log", "knot.log"]
        .iter()
        .map(|f| format!("--- {f}\n{}\n", std::fs::read_to_string(work.path().join(f)).unwrap_or_default()))
        .collect();
    assert!(out.status.success(), "namespace script failed:\n{text}\n{logs}");
    Some(text)
}

#[test]
fn zonemaster_finds_no_error_or_warning() {
    let Some(out) = in_namespace("zonemaster-cli", "zonemaster-cli", &[("RUN_DNSVIZ", "0")]) else { return };
    println!("{out}");
    let findings: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|level| level == "ERROR" || level == "WARNING" || level == "CRITICAL")
        })
        .collect();
    assert!(
        out.contains("== zonemaster") && !out.contains("zonemaster-cli exit"),
        "zonemaster did not complete:\n{out}"
    );
    assert!(findings.is_empty(), "zonemaster findings:\n{}\n\nfull output:\n{out}", findings.join("\n"));
}

#[test]
fn dnsviz_grok_reports_no_errors_or_warnings() {
    let Some(out) = in_namespace("dnsviz", "dnsviz", &[("RUN_ZONEMASTER", "0")]) else { return };
    println!("{out}");
    assert!(!out.contains("dnsviz probe exit") && !out.contains("dnsviz grok exit"), "dnsviz did not complete:\n{out}");
    let grok = out.split("grok (warning and up):").nth(1).unwrap_or("");
    let info = out.lines().find(|l| l.starts_with("grok-info:")).unwrap_or("");
    assert!(info.contains("NOERROR") || info.contains("status"), "dnsviz grok saw no probed names: {info}\n{out}");
    // The chain of trust from the root's key reaches every name gslbd signs.
    assert!(info.contains("\"SECURE\""), "dnsviz finds the signed zone secure: {info}");
    for not in ["INSECURE", "BOGUS", "INDETERMINATE"] {
        assert!(!info.contains(not), "dnsviz status {not}: {info}\n{out}");
    }
    for bad in ["\"errors\"", "\"warnings\""] {
        assert!(!grok.contains(bad), "dnsviz grok reports {bad}:\n{grok}");
    }
}
