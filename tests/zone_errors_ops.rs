//! A zone with errors as an operator sees it (issue 13's per-zone isolation with issue 18's
//! operator tools), against the real binary:
//! - the status page lists the zone as not served, with each error's file:line; `gslbd ctl
//!   status`, `/status` and `gslbd check` say the same;
//! - a reload that serves nothing new keeps the generation: the same files (a zone's
//!   `$INCLUDE`d file among them), or changes only to the files of zones that have errors
//!   (each keeps its previous version, or is not served); a change to an included file (with
//!   the zone's serial raised, issue 14's rule) is a new generation that names it; fixing the
//!   files is one too.
// Waits on a real process are bounded by wall-clock time (clippy.toml's rule is for the
// server's own code, which runs on tokio's pausable clock).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::net::IpAddr;
use std::process::Command;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use support::*;

const TOKEN: &str = "zone-ops-token";

const CONFIG: &str = r#"
[server]
listen = ["127.0.0.1:0"]
udp_workers = 1

[admin]
listen = "127.0.0.1:0"
token_file = "admin.token"

[[zone]]
origin = "good.test."
file = "good.test.zone"

[[zone]]
origin = "bad.test."
file = "bad.test.zone"
"#;

/// Its `www` comes from an included file.
const GOOD: &str =
    "$TTL 300\n@ SOA ns hostmaster 1 7200 900 1209600 300\n@ NS ns\nns A 192.0.2.1\n$INCLUDE hosts.inc\n";
/// Line 5 has a bad address, line 6 an unknown type.
const BAD: &str = "$TTL 300\n@ SOA ns hostmaster 1 7200 900 1209600 300\n@ NS ns\nns A 192.0.2.2\nwww A 192.0.2.300\nmail AAAAA ::1\n";
const FIXED: &str = "$TTL 300\n@ SOA ns hostmaster 2 7200 900 1209600 300\n@ NS ns\nns A 192.0.2.2\nwww A 192.0.2.30\n";

fn start() -> GslbdServer {
    GslbdServer::start(
        CONFIG,
        &[
            ("good.test.zone", GOOD),
            ("hosts.inc", "www A 192.0.2.10\n"),
            ("bad.test.zone", BAD),
            ("admin.token", TOKEN),
        ],
    )
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn status(s: &GslbdServer) -> serde_json::Value {
    let (code, body) = http(s.admin(), "GET", "/status", None);
    assert_eq!(code, 200, "{body}");
    json(&body)
}

fn zone(st: &serde_json::Value, origin: &str) -> serde_json::Value {
    st["zones"].as_array().unwrap().iter().find(|z| z["origin"] == origin).cloned().unwrap_or_default()
}

/// Each error as `file-name:line`.
fn error_lines(errors: &serde_json::Value) -> Vec<String> {
    let errors = errors.as_array().unwrap_or_else(|| panic!("no errors: {errors}"));
    errors
        .iter()
        .map(|e| {
            let file = e["file"].as_str().unwrap_or("");
            format!("{}:{}", file.rsplit('/').next().unwrap_or(file), e["line"])
        })
        .collect()
}

fn reload(s: &GslbdServer) -> (u16, serde_json::Value) {
    let (code, body) = http(s.admin(), "POST", "/reload", Some(TOKEN));
    (code, json(&body))
}

fn ctl(s: &GslbdServer, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gslbd"))
        .arg("ctl")
        .arg("--url")
        .arg(format!("http://{}", s.admin()))
        .arg("--token-file")
        .arg(s.dir().join("admin.token"))
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout) + &text(&out.stderr))
}

fn www(s: &GslbdServer, zone: &str) -> (ResponseCode, Vec<IpAddr>) {
    let m = query_udp(s.addr(), &QuerySpec::new(&format!("www.{zone}"), RecordType::A).to_message(rand_id()));
    let addrs = answers_of(&m).iter().filter_map(|(_, _, _, d)| d.parse().ok()).collect();
    (m.metadata.response_code, addrs)
}

/// The status page's section of `origin`, up to its end.
fn page_section<'a>(html: &'a str, origin: &str) -> &'a str {
    let at = html.find(&format!(r#"data-zone="{origin}""#)).unwrap_or_else(|| panic!("no section {origin}:\n{html}"));
    let len = html[at..].find("</section>").unwrap_or(html.len() - at);
    &html[at..at + len]
}

#[test]
fn a_zone_with_errors_is_on_the_status_page_in_ctl_and_check_with_its_lines() {
    let s = start();
    assert_eq!(www(&s, "good.test."), (ResponseCode::NoError, vec!["192.0.2.10".parse().unwrap()]));
    assert_eq!(www(&s, "bad.test.").0, ResponseCode::ServFail);

    let (code, html) = http(s.admin(), "GET", "/", None);
    assert_eq!(code, 200, "{html}");
    let bad = page_section(&html, "bad.test.");
    assert!(bad.contains(r#"data-state="failed""#) && bad.contains("not served"), "{bad}");
    for line in [5, 6] {
        assert!(bad.contains(&format!("bad.test.zone:{line}</code>")), "line {line}: {bad}");
    }
    let good = page_section(&html, "good.test.");
    assert!(good.contains(r#"data-state="loaded""#) && !good.contains("errors"), "{good}");

    let st = status(&s);
    assert_eq!(zone(&st, "bad.test.")["state"], "failed", "{st}");
    assert_eq!(error_lines(&zone(&st, "bad.test.")["errors"]), ["bad.test.zone:5", "bad.test.zone:6"]);
    assert_eq!(error_lines(&st["last_reload"]["errors"]), ["bad.test.zone:5", "bad.test.zone:6"]);
    assert_eq!(zone(&st, "good.test.")["state"], "loaded", "{st}");

    let (code, out) = ctl(&s, &["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("zone       bad.test. has errors: NOT SERVED (SERVFAIL)"), "{out}");
    assert!(out.contains("bad.test.zone:5: ") && out.contains("bad.test.zone:6: "), "{out}");
    assert!(!out.contains("good.test. has errors"), "{out}");

    let out = Command::new(env!("CARGO_BIN_EXE_gslbd"))
        .arg("check")
        .arg("--config")
        .arg(s.dir().join("gslbd.toml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bad.test.zone:5: ") && err.contains("bad.test.zone:6: "), "{err}");
    assert!(err.contains("2 error(s) in 1 zone(s)"), "{err}");
}

#[test]
fn only_a_reload_that_serves_something_new_is_a_new_generation() {
    let s = start();
    let dir = s.dir().to_path_buf();
    let write = |rel: &str, text: &str| std::fs::write(dir.join(rel), text).unwrap();

    // The same files (an included one among them), a zone with errors: the same generation.
    let (code, r) = reload(&s);
    assert_eq!(code, 422, "{r}");
    assert_eq!(
        (r["published"].as_bool(), r["changed"].as_bool(), r["generation"].as_u64()),
        (Some(true), Some(false), Some(1)),
        "{r}"
    );

    // The broken zone's file changes but still has errors: nothing new serves.
    write("bad.test.zone", &BAD.replace("mail AAAAA", "ftp AAAAA ::1\nmail AAAAA"));
    let (code, r) = reload(&s);
    assert_eq!(code, 422, "{r}");
    assert_eq!(error_lines(&r["errors"]), ["bad.test.zone:5", "bad.test.zone:6", "bad.test.zone:7"], "{r}");
    assert_eq!((r["changed"].as_bool(), r["generation"].as_u64()), (Some(false), Some(1)), "{r}");
    assert_eq!(r["changed_files"], serde_json::json!([]), "{r}");

    // The included file changes (with the zone's serial raised, as issue 14's serial rule
    // asks): a new generation that names both, not the broken zone's file, and its data is served.
    write("hosts.inc", "www A 192.0.2.11\n");
    write("good.test.zone", &GOOD.replace(" 1 7200 ", " 2 7200 "));
    let (_, r) = reload(&s);
    assert_eq!((r["changed"].as_bool(), r["generation"].as_u64()), (Some(true), Some(2)), "{r}");
    let files = r["changed_files"].to_string();
    assert!(
        files.contains("hosts.inc") && files.contains("good.test.zone") && !files.contains("bad.test.zone"),
        "{files}"
    );
    assert_eq!(www(&s, "good.test.").1, ["192.0.2.11".parse::<IpAddr>().unwrap()]);
    let (_, r) = reload(&s);
    assert_eq!((r["changed"].as_bool(), r["generation"].as_u64()), (Some(false), Some(2)), "{r}");

    // The included file broken: the good zone keeps its previous version, the same generation.
    write("hosts.inc", "www A 192.0.2.999\n");
    let (code, out) = ctl(&s, &["reload"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("reload failed in some zones") && out.contains("generation 2"), "{out}");
    assert!(out.contains("hosts.inc:1: ") && out.contains("bad.test.zone:7: "), "{out}");
    let st = status(&s);
    assert_eq!(zone(&st, "good.test.")["state"], "stale", "{st}");
    assert_eq!(error_lines(&zone(&st, "good.test.")["errors"]), ["hosts.inc:1"], "{st}");
    assert_eq!(st["version"]["generation"], 2, "{st}");
    assert_eq!(www(&s, "good.test.").1, ["192.0.2.11".parse::<IpAddr>().unwrap()], "the previous version serves");

    // Both fixed (the good zone's serial raised again): a new generation naming the files,
    // both zones served.
    write("hosts.inc", "www A 192.0.2.12\n");
    write("good.test.zone", &GOOD.replace(" 1 7200 ", " 3 7200 "));
    write("bad.test.zone", FIXED);
    let (code, r) = reload(&s);
    assert_eq!((code, r["ok"].as_bool(), r["generation"].as_u64()), (200, Some(true), Some(3)), "{r}");
    let files = r["changed_files"].to_string();
    assert!(files.contains("hosts.inc") && files.contains("bad.test.zone"), "{files}");
    assert_eq!(www(&s, "good.test.").1, ["192.0.2.12".parse::<IpAddr>().unwrap()]);
    assert_eq!(www(&s, "bad.test.").1, ["192.0.2.30".parse::<IpAddr>().unwrap()]);
    let st = status(&s);
    assert!(st["zones"].as_array().unwrap().iter().all(|z| z["state"] == "loaded"), "{st}");
}
