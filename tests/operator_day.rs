//! The operator's rough edges (issue 18), each through the real binary where it shows: reload
//! results that say what changed and what needs a restart, overrides whose member left the
//! config, a state file that cannot be written, `gslbd explain` with the admin overrides, the
//! health source, API errors, and the health transition log line.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use support::{admin_status as status, ctl, json};

use std::net::{IpAddr, TcpListener};
use std::process::Command;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use support::*;

const TOKEN: &str = "operator-token";

fn config(extra_admin: &str) -> String {
    let zone = "[[zone]]\norigin = \"gslb.test.\"\nfile = \"gslb.test.zone\"\npools = \"gslb.test.pools.toml\"\n";
    format!("{}{extra_admin}\n\n{zone}", crate::admin_server_toml!())
}

const ZONE: &str = crate::gslb_test_zone_head!();

fn pools(east: &str) -> String {
    format!(
        r#"[names]
www = "web"

[pool.web]
ttl = 60
degraded_ttl = 5
region_policy = "failover"
member_policy = "all"
failover_order = ["east", "west"]

[pool.web.region.east]
members = [ {east} ]

[pool.web.region.west]
members = [ {{ address = "198.51.100.1" }} ]
"#
    )
}

const EAST: &str = r#"{ address = "192.0.2.1" }, { address = "192.0.2.2" }"#;

fn start(extra_admin: &str) -> GslbdServer {
    let p = pools(EAST);
    GslbdServer::start(
        &config(extra_admin),
        &[("gslb.test.zone", ZONE), ("gslb.test.pools.toml", &p), ("admin.token", TOKEN)],
    )
}

fn reload(s: &GslbdServer) -> (u16, serde_json::Value) {
    let (code, body) = http(s.admin(), "POST", "/reload", Some(TOKEN));
    (code, json(&body))
}

fn answer(s: &GslbdServer) -> (Vec<IpAddr>, u32) {
    let m = query_udp(s.addr(), &QuerySpec::new("www.gslb.test.", RecordType::A).to_message(rand_id()));
    let addrs = answers_of(&m).iter().filter_map(|(_, _, _, d)| d.parse().ok()).collect();
    (addrs, m.answers.first().map(|r| r.ttl).unwrap_or(0))
}

// ───────────────────────────── bug 2: restart needed ─────────────────────────────

#[test]
fn a_reload_that_changes_the_sockets_says_a_restart_is_needed() {
    let s = start("");
    let text = config("")
        .replace(r#"listen = ["127.0.0.1:0"]"#, r#"listen = ["127.0.0.2:0"]"#)
        .replace("udp_workers = 1", "udp_workers = 2");
    std::fs::write(s.dir().join("gslbd.toml"), text).unwrap();
    let (code, r) = reload(&s);
    assert_eq!(code, 200, "{r}");
    let notes: Vec<String> =
        r["restart_needed"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect();
    assert!(notes.iter().any(|n| n.contains("server.listen") && n.contains("127.0.0.2:0")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("udp_workers") && n.contains("from 1 to 2")), "{notes:?}");
    assert_eq!(status(&s)["restart_needed"], r["restart_needed"], "/status says so too");
    assert!(!answer(&s).0.is_empty(), "the old sockets keep serving");
    let deadline = Instant::now() + Duration::from_secs(3);
    while !s.stderr().contains("restart needed: server.listen") {
        assert!(Instant::now() < deadline, "the log says so:\n{}", s.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_reload_that_changes_the_probe_source_says_a_restart_is_needed() {
    let s = start("");
    let text = config("").replace("udp_workers = 1", "udp_workers = 1\nprobe_source = \"127.0.0.1\"");
    std::fs::write(s.dir().join("gslbd.toml"), text).unwrap();
    let (code, r) = reload(&s);
    assert_eq!(code, 200, "{r}");
    let notes = r["restart_needed"].to_string();
    assert!(notes.contains("server.probe_source changed"), "{notes}");
}

// ───────────────────────── no-op reload, changed files, API errors ─────────────────────────

#[test]
fn a_reload_names_what_changed_and_a_no_op_reload_keeps_the_generation() {
    let s = start("");
    let (_, r) = reload(&s);
    assert_eq!(r["changed"], false, "{r}");
    assert_eq!(r["generation"], 1, "same files, same generation: {r}");
    assert_eq!(status(&s)["version"]["generation"], 1);

    std::fs::write(s.dir().join("gslb.test.pools.toml"), pools(r#"{ address = "192.0.2.1" }"#)).unwrap();
    let (_, r) = reload(&s);
    assert_eq!(r["changed"], true, "{r}");
    assert_eq!(r["generation"], 2);
    let files = r["changed_files"].to_string();
    assert!(files.contains("gslb.test.pools.toml") && !files.contains("gslb.test.zone"), "{files}");
    let deadline = Instant::now() + Duration::from_secs(3);
    while !s.stderr().lines().any(|l| l.contains("config reloaded") && l.contains("gslb.test.pools.toml")) {
        assert!(Instant::now() < deadline, "the reload log names the file:\n{}", s.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }

    // An unknown action is a 400, a wrong method a 405, both with a JSON error.
    let (code, body) = http(s.admin(), "POST", "/members/gslb.test/web/east/192.0.2.1/explode", Some(TOKEN));
    assert_eq!(code, 400, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("unknown action 'explode'"));
    for (method, path) in
        [("GET", "/reload"), ("POST", "/status"), ("DELETE", "/members/gslb.test/web/east/192.0.2.1/drain")]
    {
        let (code, body) = http(s.admin(), method, path, Some(TOKEN));
        assert_eq!(code, 405, "{method} {path}: {body}");
        assert!(json(&body)["error"].as_str().unwrap().contains("not allowed"), "{body}");
    }
}

// ───────────────────────────── bug 3: orphaned overrides ─────────────────────────────

#[test]
fn an_override_whose_member_left_the_config_is_listed_and_can_be_cleared() {
    let s = start("");
    let drain = "/members/gslb.test/web/east/192.0.2.2/drain?reason=disk%20swap&by=alice";
    let (code, body) = http(s.admin(), "POST", drain, Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    let o = &status(&s)["overrides"][0];
    assert_eq!(o["member"], "192.0.2.2");
    assert_eq!(o["reason"], "disk swap", "{o}");
    assert_eq!(o["by"], "alice");
    assert!(o["at_unix"].as_u64().unwrap() > 1_700_000_000 && o["at"].as_str().unwrap().ends_with('Z'), "{o}");

    // The member leaves the pool file: its override is orphaned, listed as such, and can be
    // cleared by the same path (undrain) or all at once.
    std::fs::write(s.dir().join("gslb.test.pools.toml"), pools(r#"{ address = "192.0.2.1" }"#)).unwrap();
    assert_eq!(reload(&s).0, 200);
    let st = status(&s);
    assert_eq!(st["overrides"][0]["orphaned"], true, "{st}");
    let (code, body) = http(s.admin(), "POST", "/members/gslb.test/web/east/192.0.2.2/undrain", Some(TOKEN));
    assert_eq!(code, 200, "undrain of an orphaned override: {body}");
    assert_eq!(status(&s)["overrides"].as_array().map(Vec::len), Some(0));
    let state = std::fs::read_to_string(s.dir().join("gslbd.state")).unwrap();
    assert!(!state.contains("192.0.2.2"), "gone from the state file too: {state}");

    // Clearing every orphan at once.
    std::fs::write(s.dir().join("gslb.test.pools.toml"), pools(EAST)).unwrap();
    assert_eq!(reload(&s).0, 200);
    assert_eq!(http(s.admin(), "POST", "/members/gslb.test/web/east/192.0.2.2/drain", Some(TOKEN)).0, 200);
    std::fs::write(s.dir().join("gslb.test.pools.toml"), pools(r#"{ address = "192.0.2.1" }"#)).unwrap();
    assert_eq!(reload(&s).0, 200);
    let (code, body) = http(s.admin(), "POST", "/overrides/clear-orphaned", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["removed"][0]["member"], "192.0.2.2", "{body}");
    assert_eq!(status(&s)["overrides"].as_array().map(Vec::len), Some(0));
}

// ─────────────────────── bug 5: a state file that cannot be written ───────────────────────

#[test]
fn a_drain_that_cannot_be_saved_answers_500_and_says_so() {
    // The state file's directory does not exist: reading finds no overrides, every write
    // fails (even for root).
    let s = start(r#"state_file = "no-such-dir/gslbd.state""#);
    let (code, body) = http(s.admin(), "POST", "/members/gslb.test/web/east/192.0.2.1/drain", Some(TOKEN));
    assert_eq!(code, 500, "{body}");
    let v = json(&body);
    assert_eq!(v["applied"], true, "{v}");
    assert_eq!(v["persisted"], false);
    assert!(v["error"].as_str().unwrap().contains("cannot write the state file"), "{v}");
    assert_eq!(answer(&s).0, vec!["192.0.2.2".parse::<IpAddr>().unwrap()], "the drain is in force");
}

#[test]
fn the_shipped_unit_has_a_state_directory_and_the_state_file_goes_there() {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/gslbd.service")).unwrap();
    assert!(unit.lines().any(|l| l.trim() == "StateDirectory=gslbd"), "{unit}");
    assert!(unit.contains("ProtectSystem=strict"));
    // systemd sets STATE_DIRECTORY for StateDirectory=; the default state file follows it.
    let dir = TempDir::new("gslbd-statedir");
    let conf = dir.write("gslbd.toml", &config(""));
    let file = gslbd::config::parse_config(&conf, &std::fs::read_to_string(&conf).unwrap());
    assert!(
        file.unwrap().ops.admin.unwrap().state_file.starts_with(dir.path()),
        "without STATE_DIRECTORY: beside the config"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_gslbd"))
        .args(["check", "--config"])
        .arg(&conf)
        .env("STATE_DIRECTORY", "/var/lib/gslbd")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("type="), "check prints no internal metadata");
}

#[test]
fn a_damaged_state_file_stops_the_start() {
    let dir = TempDir::new("gslbd-damaged");
    let conf = dir.write("gslbd.toml", &config(""));
    dir.write("gslb.test.zone", ZONE);
    dir.write("gslb.test.pools.toml", &pools(EAST));
    dir.write("admin.token", TOKEN);
    dir.write("gslbd.state", "[{ \"zone\": \"gslb.test.\", not json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gslbd"));
    cmd.args(["serve", "--config"]).arg(&conf);
    let mut p = Proc::spawn(cmd);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = p.exited() {
            break s;
        }
        assert!(Instant::now() < deadline, "gslbd serve started on a damaged state file:\n{}", p.stderr());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    std::thread::sleep(Duration::from_millis(50));
    let err = p.stderr();
    assert!(err.contains("gslbd.state: the state file (admin overrides) is damaged"), "{err}");
}

// ─────────────────────── bug 6: explain applies the admin overrides ───────────────────────

#[test]
fn explain_on_the_command_line_applies_the_drains_of_the_state_file() {
    let s = start("");
    let region = "/regions/gslb.test/web/east/drain";
    assert_eq!(http(s.admin(), "POST", region, Some(TOKEN)).0, 200);
    let out = Command::new(env!("CARGO_BIN_EXE_gslbd"))
        .args(["explain", "--config"])
        .arg(s.dir().join("gslbd.toml"))
        .args(["www.gslb.test", "A", "--client", "10.0.0.0/24"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("answer     198.51.100.1"), "east is drained, west answers:\n{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("admin overrides: 1 from"), "{:?}", out.stderr);
    let (_, body) = http(s.admin(), "GET", "/explain?name=www.gslb.test&type=A&client=10.0.0.0/24", None);
    assert_eq!(json(&body)["explain"].as_str().unwrap(), text, "the CLI and the API agree");
}

// ───────────────────────────── bug 7: health_source ─────────────────────────────

#[test]
fn health_source_says_where_health_comes_from_on_this_server() {
    let s = start("");
    let plain = status(&s)["health_source"].as_str().unwrap().to_string();
    assert!(plain.contains("no member is probed") && plain.contains("0 member(s) under an admin override"), "{plain}");
    assert_eq!(http(s.admin(), "POST", "/members/gslb.test/web/east/192.0.2.1/drain", Some(TOKEN)).0, 200);
    let drained = status(&s)["health_source"].as_str().unwrap().to_string();
    assert!(drained.contains("1 member(s) under an admin override"), "{drained}");
    let probed = health_server(&TcpListener::bind("127.0.0.1:0").unwrap());
    let st = status(&probed.0)["health_source"].as_str().unwrap().to_string();
    assert!(st.starts_with("probes: 1 of 2 members probed"), "{st}");
}

// ───────────────────── bug 8: degraded_ttl only for answers it touches ─────────────────────

#[test]
fn draining_one_member_shortens_the_ttl_only_of_answers_it_touches() {
    let s = start("");
    assert_eq!(answer(&s), (vec!["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()], 60));
    // A member of the answering region drained: its answers change when it comes back.
    assert_eq!(http(s.admin(), "POST", "/members/gslb.test/web/east/192.0.2.2/drain", Some(TOKEN)).0, 200);
    assert_eq!(answer(&s), (vec!["192.0.2.1".parse().unwrap()], 5));
    assert_eq!(http(s.admin(), "POST", "/members/gslb.test/web/east/192.0.2.2/undrain", Some(TOKEN)).0, 200);
    // The standby region's member drained: nobody's answer depends on it.
    assert_eq!(http(s.admin(), "POST", "/members/gslb.test/web/west/198.51.100.1/drain", Some(TOKEN)).0, 200);
    assert_eq!(answer(&s).1, 60, "a drain in a region that does not answer leaves the ttl alone");
    // The whole answering region drained: clients moved to west, and come back when it returns.
    assert_eq!(http(s.admin(), "POST", "/members/gslb.test/web/west/198.51.100.1/undrain", Some(TOKEN)).0, 200);
    assert_eq!(http(s.admin(), "POST", "/regions/gslb.test/web/east/drain", Some(TOKEN)).0, 200);
    assert_eq!(answer(&s), (vec!["198.51.100.1".parse().unwrap()], 5));
}

// ───────────────────── one log line per health transition (must-show 4) ─────────────────────

/// A server whose pool `web` has one member, 127.0.0.1, probed by tcp on `listener`'s port
/// every 100 ms (rise 2, fall 2), and one unprobed member.
fn health_server(listener: &TcpListener) -> (GslbdServer, u16) {
    let port = listener.local_addr().unwrap().port();
    let p = format!(
        r#"[names]
www = "web"

[probe.chk]
kind = "tcp"
port = {port}
interval_ms = 100
timeout_ms = 100
rise = 2
fall = 2

[pool.web]
member_policy = "all"
region_policy = "failover"
failover_order = ["east"]

[pool.web.region.east]
members = [ {{ address = "127.0.0.1", probe = "chk" }}, {{ address = "192.0.2.9" }} ]
"#
    );
    let s = GslbdServer::start(
        &config(""),
        &[("gslb.test.zone", ZONE), ("gslb.test.pools.toml", &p), ("admin.token", TOKEN)],
    );
    (s, port)
}

fn lines_with(s: &GslbdServer, needle: &str) -> Vec<String> {
    s.stderr().lines().filter(|l| l.contains(needle)).map(str::to_string).collect()
}

#[test]
fn a_health_transition_is_logged_once_with_target_probe_reason_and_counts() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (s, port) = health_server(&listener);
    drop(listener); // connections to the port are now refused
    let deadline = Instant::now() + Duration::from_secs(5);
    while lines_with(&s, "127.0.0.1 is down").is_empty() {
        assert!(Instant::now() < deadline, "no 'is down' line:\n{}", s.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Ten more failing probes: still one line.
    std::thread::sleep(Duration::from_millis(1000));
    let down = lines_with(&s, "127.0.0.1 is down");
    assert_eq!(down.len(), 1, "exactly one line per transition:\n{}", s.stderr());
    let line = &down[0];
    for field in ["target=127.0.0.1", "probe=\"chk\"", "from=up", "to=down", "streak=2", "rise=2", "fall=2"] {
        assert!(line.contains(field), "'{field}' in: {line}");
    }
    assert!(line.contains("reason=") && line.contains("refused"), "the probe's reason: {line}");
    assert!(line.contains("WARN"), "a member going down is a warning: {line}");

    // It comes back: one "is up" line.
    let _back = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while lines_with(&s, "127.0.0.1 is up").is_empty() {
        assert!(Instant::now() < deadline, "no 'is up' line:\n{}", s.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let up = lines_with(&s, "127.0.0.1 is up");
    assert_eq!(up.len(), 1, "{}", s.stderr());
    assert!(up[0].contains("from=down") && up[0].contains("to=up") && up[0].contains("streak=2"), "{}", up[0]);
    // The status page data lists both transitions, newest first.
    let t = &status(&s)["transitions"];
    assert_eq!((t[0]["to"].as_str(), t[1]["to"].as_str()), (Some("up"), Some("down")), "{t}");
}

// ───────────────────────────── gslbd ctl and --help ─────────────────────────────

#[test]
fn gslbd_ctl_drives_the_admin_api_with_exit_codes_for_scripts() {
    let s = start("");
    let (code, out, err) = ctl(&s, &["drain", "gslb.test", "web", "east", "192.0.2.1", "--reason", "disk swap"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("gslb.test./web/east/192.0.2.1: drain"), "{out}");
    let o = &status(&s)["overrides"][0];
    assert_eq!(o["reason"], "disk swap");
    assert!(o["by"].as_str().unwrap().contains('@'), "ctl says who: {o}");

    let (code, out, _) = ctl(&s, &["states"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ZONE") && lines[0].contains("STATE"), "{out}");
    assert_eq!(lines.len(), 4, "a header and the 3 members:\n{out}");
    assert!(lines.iter().any(|l| l.contains("192.0.2.1") && l.contains("drained")), "{out}");
    assert!(lines.iter().any(|l| l.contains("198.51.100.1") && l.split_whitespace().nth(4) == Some("up")), "{out}");

    let (code, out, _) = ctl(&s, &["status"]);
    assert_eq!(code, 0);
    assert!(out.contains("generation 1") && out.contains("overrides  1") && out.contains("disk swap"), "{out}");

    let (code, out, _) = ctl(&s, &["explain", "www.gslb.test", "A", "--client", "10.0.0.0/24"]);
    assert_eq!(code, 0);
    assert!(out.contains("answer     192.0.2.2"), "{out}");

    let (code, out, _) = ctl(&s, &["undrain", "gslb.test", "web", "east", "192.0.2.1"]);
    assert_eq!((code, out.trim()), (0, "gslb.test./web/east/192.0.2.1: none"));

    // Refused: an unknown member (404) is exit 1 with the server's message.
    let (code, _, err) = ctl(&s, &["drain", "gslb.test", "web", "east", "192.0.2.99"]);
    assert_eq!(code, 1);
    assert!(err.contains("member '192.0.2.99' not found") && err.contains("HTTP 404"), "{err}");

    // A reload with errors is exit 1 and prints them; a good one names the changed file.
    std::fs::write(s.dir().join("gslb.test.pools.toml"), "[pool.web]\nttl = \"x\"\n").unwrap();
    let (code, out, _) = ctl(&s, &["reload"]);
    assert_eq!(code, 1);
    assert!(out.contains("reload failed") && out.contains("gslb.test.pools.toml:2"), "{out}");
    std::fs::write(s.dir().join("gslb.test.pools.toml"), pools(EAST).replace("ttl = 60", "ttl = 61")).unwrap();
    let (code, out, _) = ctl(&s, &["reload"]);
    assert_eq!(code, 0);
    assert!(out.contains("generation 2") && out.contains("gslb.test.pools.toml"), "{out}");

    // Unreachable: exit 3.
    let out = Command::new(env!("CARGO_BIN_EXE_gslbd"))
        .args(["ctl", "--url", &format!("http://127.0.0.1:{}", free_port()), "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn help_names_the_signals_the_admin_api_the_state_file_and_the_logs() {
    let out = Command::new(env!("CARGO_BIN_EXE_gslbd")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in ["SIGHUP", "SIGTERM", "admin API", "Bearer", "state file", "[log] level", "RUST_LOG", "json", "ctl"] {
        assert!(help.contains(needle), "--help mentions {needle}:\n{help}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_gslbd")).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("(commit "), "--version names the commit");
}

// ───────────────────────── JSON logs and the query log ─────────────────────────

#[test]
fn json_logs_and_the_query_log_carry_the_resolver_and_the_answer() {
    let conf = config("").replace("[[zone]]", "[log]\nformat = \"json\"\nquery_sample = 1.0\n\n[[zone]]");
    let p = pools(EAST);
    let s =
        GslbdServer::start(&conf, &[("gslb.test.zone", ZONE), ("gslb.test.pools.toml", &p), ("admin.token", TOKEN)]);
    let m = query_udp(
        s.addr(),
        &QuerySpec {
            edns: Some(EdnsSpec { options: vec![ecs_option("10.1.2.0/24")], ..Default::default() }),
            ..QuerySpec::new("www.gslb.test.", RecordType::A)
        }
        .to_message(rand_id()),
    );
    assert_eq!(m.answers.len(), 2);
    let deadline = Instant::now() + Duration::from_secs(3);
    let line = loop {
        if let Some(l) = s.stderr().lines().find(|l| l.contains("gslbd::query")) {
            break l.to_string();
        }
        assert!(Instant::now() < deadline, "no query log line:\n{}", s.stderr());
        std::thread::sleep(Duration::from_millis(20));
    };
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
    let f = &v["fields"];
    assert_eq!(f["resolver"], "127.0.0.1", "{v}");
    assert_eq!(f["ecs"], "10.1.2.0/24");
    assert_eq!(f["qname"], "www.gslb.test.");
    assert_eq!(f["answer"], "192.0.2.1 192.0.2.2");
    assert_eq!(f["region"], "east");
    assert_eq!(f["rcode"], "NOERROR");
    // Every line on stderr is JSON, the start-up summary included, and it comes once.
    let starts: Vec<serde_json::Value> = s
        .stderr()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .filter(|v: &serde_json::Value| v["fields"]["message"].as_str().is_some_and(|m| m.contains("starting")))
        .collect();
    assert_eq!(starts.len(), 1, "{}", s.stderr());
}
