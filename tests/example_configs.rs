//! Every example in examples/configs/ passes `gslbd check`: each is copied to a temp dir as an
//! operator would use it (a `sites.csv` is built into its `.mmdb` with `gslbd mmdb-build` first;
//! a `geoip/` link points at the repository's GeoIP data), then checked.
mod support;

use std::path::Path;
use std::process::Command;

use support::TempDir;

fn gslbd(args: &[&str], cwd: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gslbd")).args(args).current_dir(cwd).output().expect("run gslbd");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn every_example_config_checks_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<_> = std::fs::read_dir(root.join("examples/configs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let names: Vec<String> = dirs.iter().map(|d| d.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for want in ["active-passive", "weighted-canary", "cname-to-cdn", "three-regions-haproxy", "private-networks-csv"] {
        assert!(names.iter().any(|n| n == want), "examples/configs/{want} exists: {names:?}");
    }
    for dir in dirs {
        let tmp = TempDir::new("gslbd-example");
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
        }
        let conf = std::fs::read_to_string(tmp.path().join("gslbd.toml")).unwrap();
        if conf.contains("\"geoip/") {
            std::os::unix::fs::symlink(root.join("geoip"), tmp.path().join("geoip")).unwrap();
        }
        if tmp.path().join("sites.csv").exists() {
            let (ok, out) = gslbd(&["mmdb-build", "sites.csv", "-o", "sites.mmdb"], tmp.path());
            assert!(ok, "{}: mmdb-build: {out}", dir.display());
        }
        let (ok, out) = gslbd(&["check", "--config", "gslbd.toml"], tmp.path());
        assert!(ok, "{}: gslbd check:\n{out}", dir.display());
        assert!(out.contains("gslbd.toml: ok:"), "{out}");
    }
}

/// The private-networks example steers as its comments say: an office to its nearest data
/// centre, and a site with a country but no coordinates to the default region.
#[test]
fn the_private_networks_example_steers_each_office() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = TempDir::new("gslbd-example-csv");
    for e in std::fs::read_dir(root.join("examples/configs/private-networks-csv")).unwrap().flatten() {
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    assert!(gslbd(&["mmdb-build", "sites.csv", "-o", "sites.mmdb"], tmp.path()).0);
    for (client, want) in [
        ("10.2.7.0/24", "10.1.255.10"),
        ("10.3.1.0/24", "10.3.255.10"),
        ("10.4.0.0/24", "10.4.255.10"),
        ("10.9.1.0/24", "10.1.255.10"),
    ] {
        let (ok, out) = gslbd(
            &["explain", "--config", "gslbd.toml", "intranet.corp.example.com", "A", "--client", client],
            tmp.path(),
        );
        assert!(ok, "{out}");
        assert!(out.contains(&format!("answer     {want}\n")), "{client} -> {want}:\n{out}");
    }
}
