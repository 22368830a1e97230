//! One override system behind two APIs (the merge of issues 17 and 18): a drain made with
//! `POST /members/.../drain?by=&reason=` and an override made with `PUT /changes/...` are the
//! same record, with one who/when/why (`/status` shows it as `by`/`at`/`reason`, `/changes` as
//! `who`/`when`/`why`); a state file of the older list format keeps its who/when/why; a change
//! the state file cannot keep answers 500 on `/changes` as on the drain call; and in a fleet an
//! orphaned override is cleared from etcd (etcdctl is the oracle).
// Black-box waits on real processes: wall-clock time.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use support::json;

use std::time::Duration;

use support::fleet::*;

const EU: &str = "[pool.web.region.eu]\nmembers = [ { address = \"192.0.2.1\" }, { address = \"192.0.2.2\" } ]\n";

fn pools(region: &str) -> String {
    format!("[names]\nwww = \"web\"\n\n[pool.web]\nmember_policy = \"weighted\"\n\n{region}")
}

fn single(state_file: &str) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nudp_workers = 1\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         token_file = \"admin.token\"\n{state_file}\n\n[[zone]]\norigin = \"gslb.test.\"\nfile = \"gslb.test.zone\"\n\
         pools = \"gslb.test.pools.toml\"\n"
    )
}

/// The `/status` override entry of `member`.
fn override_of(node: &Node, member: &str) -> serde_json::Value {
    let st = node.status();
    let list = st["overrides"].as_array().cloned().unwrap_or_default();
    list.into_iter().find(|o| o["member"] == member).unwrap_or_else(|| panic!("no override of {member}: {st}"))
}

/// The `/changes` record of `member`'s override.
fn change_of(node: &Node, member: &str) -> serde_json::Value {
    let path = format!("/changes/gslb.test./web/eu/members/{member}/override");
    let (code, body, _) = admin_call(node.admin, "GET", &path, &[], None);
    assert_eq!(code, 200, "{path}: {body}");
    json(&body)["change"].clone()
}

#[test]
fn a_drain_and_a_changes_override_are_one_record_with_one_who_when_why() {
    let node =
        Node::start("one-record", &single(""), &[("gslb.test.zone", zone()), ("gslb.test.pools.toml", pools(EU))]);
    let (code, body, _) = admin_call(
        node.admin,
        "POST",
        "/members/gslb.test/web/eu/192.0.2.1/drain?by=alice&reason=disk%20swap",
        &[],
        None,
    );
    assert_eq!(code, 200, "{body}");
    let (o, c) = (override_of(&node, "192.0.2.1"), change_of(&node, "192.0.2.1"));
    assert_eq!((o["by"].as_str(), o["reason"].as_str()), (Some("alice"), Some("disk swap")), "{o}");
    assert_eq!(
        (c["who"].as_str(), c["why"].as_str(), c["value"].as_str()),
        (Some("alice"), Some("disk swap"), Some("drain"))
    );
    assert_eq!((&o["at"], &o["at_unix"]), (&c["when"], &c["when_unix"]), "one instant: {o} {c}");

    // The other way round: set through /changes, shown by the drain API's listing.
    let body = r#"{"value": "force-down", "who": "bob", "why": "bad disk"}"#;
    let path = "/changes/gslb.test./web/eu/members/192.0.2.2/override";
    let (code, reply, _) = admin_call(node.admin, "PUT", path, &[], Some(body));
    assert_eq!(code, 200, "{reply}");
    let o = override_of(&node, "192.0.2.2");
    assert_eq!(
        (o["override"].as_str(), o["by"].as_str(), o["reason"].as_str()),
        (Some("force-down"), Some("bob"), Some("bad disk"))
    );
    // The drain API's undrain clears the /changes record, and the state file keeps neither.
    let (code, body, _) = admin_call(node.admin, "POST", "/members/gslb.test/web/eu/192.0.2.2/undrain", &[], None);
    assert_eq!(code, 200, "{body}");
    let (code, _, _) = admin_call(node.admin, "GET", path, &[], None);
    assert_eq!(code, 404, "the record is gone");
    let state = std::fs::read_to_string(node.dir.path().join("gslbd.state")).unwrap();
    assert!(state.contains("192.0.2.1") && !state.contains("192.0.2.2"), "{state}");
}

#[test]
fn a_state_file_of_the_list_format_keeps_who_when_and_why() {
    let old = r#"[{"zone": "gslb.test.", "pool": "web", "region": "eu", "member": "192.0.2.2", "override": "drain",
                  "at_unix": 1700000000, "at": "2023-11-14T22:13:20Z", "reason": "rack move", "by": "carol"},
                 {"zone": "gslb.test.", "pool": "web", "region": "eu", "override": "force-up"}]"#;
    let files = [("gslb.test.zone", zone()), ("gslb.test.pools.toml", pools(EU)), ("gslbd.state", old.to_string())];
    let node = Node::start("list-format", &single(""), &files);
    let o = override_of(&node, "192.0.2.2");
    assert_eq!(
        (o["by"].as_str(), o["reason"].as_str(), o["at_unix"].as_u64()),
        (Some("carol"), Some("rack move"), Some(1_700_000_000)),
        "{o}"
    );
    let c = change_of(&node, "192.0.2.2");
    assert_eq!(
        (c["who"].as_str(), c["why"].as_str(), c["when"].as_str()),
        (Some("carol"), Some("rack move"), Some("2023-11-14T22:13:20Z"))
    );
    let st = node.status();
    let region = st["overrides"].as_array().unwrap().iter().find(|o| o.get("member").is_none()).cloned().unwrap();
    assert_eq!(region["override"], "force-up", "{st}");
}

#[test]
fn a_runtime_change_the_state_file_cannot_keep_answers_500_and_holds() {
    let files = [("gslb.test.zone", zone()), ("gslb.test.pools.toml", pools(EU))];
    let node = Node::start("unsaved", &single("state_file = \"no-such-dir/gslbd.state\""), &files);
    let path = "/changes/gslb.test./web/eu/members/192.0.2.2/weight";
    let (code, body, h) = admin_call(node.admin, "PUT", path, &[], Some(r#"{"value": 3, "who": "alice"}"#));
    assert_eq!(code, 500, "{body}");
    let v = json(&body);
    assert_eq!((v["applied"].as_bool(), v["persisted"].as_bool()), (Some(true), Some(false)), "{v}");
    assert!(v["error"].as_str().unwrap().contains("cannot write the state file"), "{v}");
    assert_eq!(v["change"]["value"], 3, "{v}");
    let rev = etag(&h);
    let (code, body, h) = admin_call(node.admin, "GET", path, &[], None);
    assert_eq!((code, etag(&h)), (200, rev), "in force until the server stops: {body}");
}

#[test]
fn in_a_fleet_orphaned_overrides_are_cleared_from_etcd() {
    if skip_without_etcd("fleet orphaned overrides") {
        return;
    }
    let etcd = Etcd::start(1);
    let prefix = prefix("orphans");
    let files = [("gslb.test.zone", zone()), ("gslb.test.pools.toml", pools(EU))];
    let node = Node::start("orphans", &node_config(1, &etcd.urls(), &prefix, ""), &files);
    let (code, body, _) =
        admin_call(node.admin, "POST", "/members/gslb.test/web/eu/192.0.2.2/drain?by=alice&reason=swap", &[], None);
    assert_eq!(code, 200, "{body}");
    let changes = format!("{prefix}/changes/");
    assert_eq!(etcd.keys(&changes).len(), 1, "the drain is in etcd");
    let c = change_of(&node, "192.0.2.2");
    assert_eq!(
        (c["who"].as_str(), c["why"].as_str(), c["node"].as_str()),
        (Some("alice"), Some("swap"), Some("node1"))
    );

    // The member leaves the pool file: orphaned; cleared in etcd, and so on the node.
    let one = "[pool.web.region.eu]\nmembers = [ { address = \"192.0.2.1\" } ]\n";
    std::fs::write(node.dir.path().join("gslb.test.pools.toml"), pools(one)).unwrap();
    let (code, body, _) = admin_call(node.admin, "POST", "/reload", &[], None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(override_of(&node, "192.0.2.2")["orphaned"], true);
    let (code, body, _) = admin_call(node.admin, "POST", "/overrides/clear-orphaned", &[], None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["removed"][0]["member"], "192.0.2.2", "{body}");
    assert!(etcd.keys(&changes).is_empty(), "gone from etcd: {:?}", etcd.keys(&changes));
    wait_for("the node drops it", Duration::from_secs(2), || {
        node.status()["overrides"].as_array().is_some_and(|o| o.is_empty())
    });
}

#[test]
fn explain_on_the_command_line_applies_runtime_changes_as_the_server_does() {
    let node = Node::start("explain", &single(""), &[("gslb.test.zone", zone()), ("gslb.test.pools.toml", pools(EU))]);
    let path = "/changes/gslb.test./web/eu/members/192.0.2.1";
    let (code, body, _) = admin_call(node.admin, "PUT", path, &[], Some(r#"{"value": "removed"}"#));
    assert_eq!(code, 200, "{body}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gslbd"))
        .args(["explain", "--config"])
        .arg(node.dir.path().join("gslbd.toml"))
        .args(["www.gslb.test", "A", "--client", "10.0.0.0/24"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("runtime changes to the pool files: 1"), "{stderr}");
    let (_, body, _) =
        admin_call(node.admin, "GET", "/explain?name=www.gslb.test&type=A&client=10.0.0.0/24", &[], None);
    assert_eq!(json(&body)["explain"].as_str().unwrap(), text, "the CLI and the API agree");
    assert!(text.contains("answer     192.0.2.2\n") && !text.contains("192.0.2.1"), "removed here too:\n{text}");
}
