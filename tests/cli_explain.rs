//! `gslbd explain` and `gslbd mmdb-build` as an operator uses them: the decision for a client,
//! and a private-network CSV turned into the GeoIP database that steers those networks.
use std::path::Path;
use std::process::Command;

fn gslbd(args: &[&str], cwd: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gslbd")).args(args).current_dir(cwd).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn explain_shows_the_location_the_candidates_and_the_choice() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (ok, out, err) = gslbd(&["explain", "www.gslb.example.com", "A", "--client", "81.2.69.0/24"], root);
    assert!(ok, "{err}");
    for want in [
        "pooled     www.gslb.example.com. -> pool web",
        "geo        block 81.2.64.0/18 (one answer whatever the health), 81.0.0.0/14 (while every region is usable)",
        "location   country GB, continent EU",
        "  * eu-west          usable   4/4 up, 290 km",
        "    us-east          usable   4/4 up, 5715 km",
        "ecs scope  /14: every GeoIP network in 81.0.0.0/14 gets this answer",
        "reply      rcode NOERROR aa 1 ecs-scope 14",
        "answer     www.gslb.example.com. 30 IN A 198.51.100.1",
        "answer     www.gslb.example.com. 30 IN A 198.51.100.2",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let (ok, out, _) = gslbd(&["explain", "static.gslb.example.com", "AAAA", "--client", "192.0.2.7"], root);
    assert!(ok);
    assert!(out.contains("steering   none: answered from the zone file"), "{out}");
    assert!(out.contains("answer     static.gslb.example.com. 3600 IN AAAA 2001:db8::10"), "{out}");
    let (ok, _, err) = gslbd(&["explain", "www.gslb.example.com", "A", "--client", "not-an-ip"], root);
    assert!(!ok && err.contains("neither an address nor a subnet"), "{err}");
}

#[test]
fn a_csv_of_private_networks_steers_them() {
    let dir = std::env::temp_dir().join(format!("gslbd-mmdb-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("zones")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["gslb.example.com.zone", "gslb.example.com.pools.toml"] {
        std::fs::copy(root.join("zones").join(f), dir.join("zones").join(f)).unwrap();
    }
    std::fs::write(
        dir.join("sites.csv"),
        "network,country,latitude,longitude\n# office networks\n10.1.0.0/16,IE,53.35,-6.26\n10.2.0.0/16,SG,,\n10.3.0.0/16,US,39.0,-77.5\n",
    )
    .unwrap();
    let (ok, out, err) = gslbd(&["mmdb-build", "sites.csv", "-o", "sites.mmdb"], &dir);
    assert!(ok, "{err}");
    assert!(out.contains("sites.mmdb"));
    let config =
        std::fs::read_to_string(root.join("gslbd.toml")).unwrap().replace("geoip/default-country.mmdb", "sites.mmdb");
    std::fs::write(dir.join("gslbd.toml"), config).unwrap();
    for (client, region_addr, scope) in
        [("10.1.7.0/24", "198.51.100.1", 16), ("10.2.0.9", "203.0.113.1", 16), ("10.3.200.0/24", "192.0.2.1", 16)]
    {
        let (ok, out, err) = gslbd(&["explain", "www.gslb.example.com", "A", "--client", client], &dir);
        assert!(ok, "{err}");
        assert!(out.contains(&format!("IN A {region_addr}")), "{client}: {out}");
        assert!(out.contains(&format!("ecs-scope {scope}")), "{client}: {out}");
    }
    // A bad CSV names every bad line and writes nothing.
    std::fs::write(dir.join("bad.csv"), "10.9.0.0/33,IE,,\n10.8.0.1/16,IE,,\n10.7.0.0/16,XX1,,\n").unwrap();
    let (ok, _, err) = gslbd(&["mmdb-build", "bad.csv", "-o", "bad.mmdb"], &dir);
    assert!(!ok);
    for line in ["bad.csv:1:", "bad.csv:2:", "bad.csv:3:", "3 error(s)"] {
        assert!(err.contains(line), "missing {line} in {err}");
    }
    assert!(!dir.join("bad.mmdb").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
