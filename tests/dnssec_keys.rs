//! Keys of an online-signed zone (issue 15, must-show 5 without the rollover): made at first
//! start into the key directory with mode 0600, and reused after a restart (the same key
//! tags, no new DNSKEY); BIND's key files imported with `gslbd dnssec import` and served, the
//! DS gslbd prints being the one BIND's dnssec-dsfromkey prints; a private key others can
//! read is a config error naming the file; group access is allowed.
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use support::TempDir;
use support::dnssec::*;

fn start(key_dir: &Path) -> support::GslbdServer {
    let (zone, pools) = default_zone();
    let config = signed_config(&format!("key_dir = \"{}\"", key_dir.display()), "");
    support::GslbdServer::start(&config, &[("zone.zone", &zone), ("pools.toml", &pools), ("token", TOKEN)])
}

fn dnskeys(srv: &support::GslbdServer) -> Vec<String> {
    let mut k = dig_reply(srv.addr(), &["+norec", "gslb.example.com", "DNSKEY"]).rdata("DNSKEY");
    k.sort();
    k
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn key_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('K'))
        .collect();
    v.sort();
    v
}

fn check(config: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gslbd")).args(["check", "--config"]).arg(config).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn keys_are_made_once_with_mode_0600_and_reused_after_a_restart() {
    if support::dig_path().is_none() {
        println!("SKIP: dig not installed (apt-get install bind9-dnsutils)");
        return;
    }
    let keys = TempDir::new("keys");
    let dir = keys.path().join("state/keys");
    let first = start(&dir);
    let files = key_files(&dir);
    assert_eq!(files.len(), 4, "a KSK and a ZSK, .key and .private each: {files:?}");
    assert_eq!(mode(&dir), 0o700, "the key directory is the owner's only");
    for f in &files {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    let before = dnskeys(&first);
    assert_eq!(before.len(), 2);
    drop(first);
    let second = start(&dir);
    assert_eq!(key_files(&dir), files, "no new key files after a restart");
    assert_eq!(dnskeys(&second), before, "the same DNSKEY RRset (same key tags) after a restart");
    let config = second.dir().join("gslbd.toml");

    // Group may read (a gslbd group can share the keys); others may not: a config error
    // naming the file.
    let private = dir.join(files.iter().find(|f| f.ends_with(".private")).unwrap());
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (ok, out) = check(&config);
    assert!(ok, "0640 is allowed:\n{out}");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, out) = check(&config);
    assert!(!ok, "a world-readable private key is refused:\n{out}");
    assert!(
        out.contains(&format!("{}: private key file has mode 0644", private.display())) && out.contains("chmod 600"),
        "{out}"
    );
}

#[test]
fn bind_key_files_are_imported_and_served() {
    if support::dig_path().is_none() || !bind_tools() {
        return;
    }
    let bind = TempDir::new("bind-keys");
    let bind_ds = bind_keys(bind.path(), "gslb.example.com.");
    let keys = TempDir::new("imported");
    let dir = keys.path().join("keys");
    // A config whose key directory gets BIND's files before any start.
    let (zone, pools) = default_zone();
    let conf_dir = TempDir::new("import-config");
    conf_dir.write("zone.zone", &zone);
    conf_dir.write("pools.toml", &pools);
    conf_dir.write("token", TOKEN);
    let config = conf_dir.write("gslbd.toml", &signed_config(&format!("key_dir = \"{}\"", dir.display()), ""));
    let files: Vec<String> = std::fs::read_dir(bind.path())
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".key"))
        .collect();
    let mut args = vec!["import", "gslb.example.com"];
    args.extend(files.iter().map(String::as_str));
    let out = gslbd_dnssec(&config, &args);
    assert_eq!(out.matches("imported").count(), 2, "{out}");
    for f in key_files(&dir) {
        assert_eq!(mode(&dir.join(&f)), 0o600, "{f}");
    }
    // The DS gslbd prints for the imported KSK is BIND's.
    let ours = gslbd_dnssec(&config, &["ds", "gslb.example.com"]);
    let tail = |l: &str| l.split_whitespace().skip_while(|f| *f != "DS").collect::<Vec<_>>().join(" ");
    assert_eq!(tail(ours.lines().next().unwrap()), tail(&bind_ds), "gslbd: {ours}\nBIND: {bind_ds}");
    assert_eq!(key_files(&dir).len(), 4, "no key of gslbd's own was made beside BIND's");
    let srv = start(&dir);
    let tags: Vec<String> =
        bind_ds.split_whitespace().skip_while(|f| *f != "DS").skip(1).take(1).map(String::from).collect();
    let r = dig_reply(srv.addr(), &["+norec", "+dnssec", "gslb.example.com", "DNSKEY"]);
    assert_eq!(r.rrsigs(&r.answer, "DNSKEY")[0][10], tags[0], "the DNSKEY RRset is signed by BIND's KSK:\n{}", r.text);
}
