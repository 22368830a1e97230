//! `[cluster]` against an etcd that wants TLS client certificates and user/password auth (a
//! CA and certificates made here with rcgen; etcdctl as root is the oracle), and `[cluster]`
//! mistakes reported by `gslbd check` with file and line, all together.
// Black-box timing of real processes: wall-clock time is what is measured here.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use support::TempDir;
use support::fleet::*;

/// A CA, an etcd member certificate (serverAuth and clientAuth: etcd's gateway dials its own
/// gRPC port with it) and a client certificate without a CommonName, as PEM files in `dir`.
fn pki(dir: &TempDir) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, "fleet test CA");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    dir.write("ca.pem", &p.self_signed(&key).unwrap().pem());
    let ca = Issuer::new(p, key);
    let leaf = |cn: Option<&str>, sans: &[&str], eku: Vec<ExtendedKeyUsagePurpose>| {
        let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name = DistinguishedName::new();
        match cn {
            Some(cn) => p.distinguished_name.push(DnType::CommonName, cn),
            None => p.distinguished_name.push(DnType::OrganizationName, "gslbd node1"),
        }
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        p.extended_key_usages = eku;
        let key = KeyPair::generate().unwrap();
        (p.signed_by(&key, &ca).unwrap().pem(), key.serialize_pem())
    };
    use ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
    let (cert, key) = leaf(Some("etcd member"), &["127.0.0.1", "localhost"], vec![ServerAuth, ClientAuth]);
    dir.write("member.pem", &cert);
    dir.write("member.key", &key);
    // No CommonName: with auth on, etcd's gateway refuses client certificates that have one.
    let (cert, key) = leaf(None, &[], vec![ClientAuth]);
    dir.write("client.pem", &cert);
    dir.write("client.key", &key);
}

fn pools() -> String {
    "[names]\nwww = \"web\"\n[pool.web]\n[pool.web.region.eu]\nmembers = [ { address = \"192.0.2.1\" } ]\n".into()
}

#[test]
fn a_node_follows_an_etcd_with_tls_client_certificates_and_auth() {
    if skip_without_etcd("fleet over TLS with auth") {
        return;
    }
    let dir = TempDir::new("fleet-pki");
    pki(&dir);
    let f = |n: &str| dir.path().join(n).display().to_string();
    let member = ["--cert-file", &f("member.pem"), "--key-file", &f("member.key")];
    let member: Vec<String> = member
        .iter()
        .map(|s| s.to_string())
        .chain(["--client-cert-auth".into(), "--trusted-ca-file".into(), f("ca.pem")])
        .collect();
    let ctl: Vec<String> = ["--cacert", &f("ca.pem"), "--cert", &f("client.pem"), "--key", &f("client.key")]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut etcd = Etcd::start_with(1, &member, &ctl);
    // A node's user may only touch its fleet's prefix.
    for args in [
        &["role", "add", "root"][..],
        &["user", "add", "root", "--new-user-password=s3cret"],
        &["user", "grant-role", "root", "root"],
        &["role", "add", "gslbd"],
        &["role", "grant-permission", "gslbd", "--prefix=true", "readwrite", "/fleet/"],
        &["user", "add", "node1", "--new-user-password=n0de"],
        &["user", "grant-role", "node1", "gslbd"],
        &["auth", "enable"],
    ] {
        etcd.ctl(args);
    }
    etcd.ctl_args.push("--user=root:s3cret".into());

    let extra = "user = \"node1\"\npassword_file = \"etcd.pass\"\nca_file = \"ca.pem\"\ncert_file = \"client.pem\"\nkey_file = \"client.key\"";
    let config = node_config(1, &etcd.urls(), "/fleet/prod", extra);
    let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap();
    let files = [
        ("gslb.test.zone", zone()),
        ("gslb.test.pools.toml", pools()),
        ("etcd.pass", "n0de\n".to_string()),
        ("ca.pem", read("ca.pem")),
        ("client.pem", read("client.pem")),
        ("client.key", read("client.key")),
    ];
    let node = Node::start("node1", &config, &files);
    assert!(etcd.urls()[0].starts_with("https://"));
    wait_for("the node follows etcd", Duration::from_secs(10), || {
        let st = node.status();
        st["fleet"]["etcd"] == "connected" && st["fleet"]["lease"].as_str().unwrap_or("").starts_with("alive")
    });
    assert_eq!(etcd.keys("/fleet/prod/nodes/"), vec!["/fleet/prod/nodes/node1".to_string()]);
    let path = "/changes/gslb.test./web/eu/members/192.0.2.1/weight";
    let (code, body, _) = admin_call(node.admin, "PUT", path, &[], Some("{\"value\": 7, \"why\": \"tls test\"}"));
    assert_eq!(code, 200, "{body}");
    let stored = etcd.ctl(&["get", "--prefix", "/fleet/prod/changes/"]);
    assert!(stored.contains("\"value\":7") && stored.contains("tls test"), "{stored}");
}

#[test]
fn cluster_mistakes_are_reported_with_their_lines() {
    let dir = TempDir::new("fleet-bad");
    dir.write("z.zone", &zone());
    let conf = dir.write(
        "gslbd.toml",
        "[server]\nlisten = [\"127.0.0.1:0\"]\nprobe_source = [\"127.0.0.11\", \"127.0.0.12\", \"192.0.2.1\"]\n\n[cluster]\n\
         endpoints = [\"https://127.0.0.1:2379\", \"ftp://x\"]\nnode = \"node/1\"\nprefix = \"fleet/\"\n\
         user = \"node1\"\nlease_ttl = 1\ndecide = \"majority\"\n\n[[zone]]\norigin = \"gslb.test.\"\nfile = \"z.zone\"\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gslbd"))
        .arg("check")
        .arg("--config")
        .arg(&conf)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let c = conf.display().to_string();
    for want in [
        format!("{c}:3: probe_source: 127.0.0.12 is a second address of its family"),
        format!("{c}:3: probe_source: 192.0.2.1 is not usable on this host"),
        format!("{c}:6: cluster.endpoints: 'https://127.0.0.1:2379' is https; set cluster.ca_file"),
        format!("{c}:6: cluster.endpoints: 'ftp://x' is not an http:// or https:// URL"),
        format!("{c}:7: cluster.node: 'node/1' must be 1 to 63 of A-Z a-z 0-9 . _ -"),
        format!("{c}:8: cluster.prefix: 'fleet/' must start with '/'"),
        format!("{c}:9: cluster: user and password_file go together"),
        format!("{c}:10: cluster.lease_ttl: must be 2 to 3600, got 1"),
        format!("{c}:11: cluster.decide: must be \"local\", \"quorum\", \"any\" or \"all\", got \"majority\""),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
}
