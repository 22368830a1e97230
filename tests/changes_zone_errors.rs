//! Runtime changes (issue 17) beside per-zone isolation (issue 13), on a single node:
//! - a zone whose files have errors does not block changes to the other zones; a change to
//!   that zone itself, which is not served, is refused (404) naming its first error's file:line;
//! - a change that no longer compiles once the pool file changed is left out on this node
//!   (`applied: false`, with the compiler's error), and the zone serves its files: the change
//!   does not take the zone out of service as a zone with errors would be.
// Black-box timing of real processes: wall-clock time is what is measured here.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use support::json;

use std::net::IpAddr;

use support::fleet::*;

const CONFIG: &str = concat!(
    crate::admin_server_toml!(),
    "\n[[zone]]\norigin = \"gslb.test.\"\nfile = \"gslb.test.zone\"\npools = \"gslb.test.pools.toml\"\n\n\
                      [[zone]]\norigin = \"bad.test.\"\nfile = \"bad.test.zone\"\npools = \"bad.test.pools.toml\"\n"
);

fn pools(members: &[&str]) -> String {
    let list: Vec<String> = members.iter().map(|m| format!("{{ address = \"{m}\" }}")).collect();
    format!(
        "[names]\nwww = \"web\"\n\n[pool.web]\nmember_policy = \"sticky\"\nmax_answers = 1\n\n\
         [pool.web.region.eu]\nmembers = [ {} ]\n",
        list.join(", ")
    )
}

fn get(node: &Node, path: &str) -> serde_json::Value {
    let (code, body, _) = admin_call(node.admin, "GET", path, &[], None);
    assert_eq!(code, 200, "{path}: {body}");
    json(&body)
}

fn zone_state(node: &Node, origin: &str) -> serde_json::Value {
    let st = get(node, "/status");
    st["zones"].as_array().unwrap().iter().find(|z| z["origin"] == origin).cloned().unwrap_or_default()["state"].clone()
}

fn put_weight(node: &Node, zone: &str, member: &str, weight: u32) -> (u16, serde_json::Value) {
    let path = format!("/changes/{zone}/web/eu/members/{member}/weight");
    let (code, body, _) = admin_call(node.admin, "PUT", &path, &[], Some(&format!("{{\"value\": {weight}}}")));
    (code, json(&body))
}

#[test]
fn a_change_that_no_longer_compiles_is_left_out_and_the_zone_serves_its_files() {
    let bad_zone = format!("{}www A 192.0.2.300\n", zone());
    let node = Node::start(
        "changes-zone-errors",
        CONFIG,
        &[
            ("gslb.test.zone", zone()),
            ("gslb.test.pools.toml", pools(&["192.0.2.1", "192.0.2.2"])),
            ("bad.test.zone", bad_zone),
            ("bad.test.pools.toml", pools(&["192.0.2.1", "192.0.2.2"])),
        ],
    );
    assert_eq!((zone_state(&node, "gslb.test."), zone_state(&node, "bad.test.")), ("loaded".into(), "failed".into()));

    // The broken zone does not block a change to the other one; a change to it is refused
    // with its own errors.
    let (code, v) = put_weight(&node, "gslb.test.", "192.0.2.2", 3);
    assert_eq!(code, 200, "{v}");
    let (code, v) = put_weight(&node, "bad.test.", "192.0.2.2", 3);
    assert_eq!(code, 404, "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("is not served: its files have 1 error(s)") && e.contains("bad.test.zone:5: "), "{v}");

    // The pool file drops the member the change weighs: the change is left out here, with the
    // compiler's error, and the zone serves what its files say (not its previous version).
    std::fs::write(node.dir.path().join("gslb.test.pools.toml"), pools(&["192.0.2.1", "192.0.2.3"])).unwrap();
    let (code, r, _) = admin_call(node.admin, "POST", "/reload", &[], None);
    let r = json(&r);
    assert_eq!((code, r["published"].as_bool()), (422, Some(true)), "only bad.test. has errors: {r}");
    assert!(
        r["errors"].as_array().unwrap().iter().all(|e| e["file"].as_str().unwrap().ends_with("bad.test.zone")),
        "{r}"
    );
    assert_eq!(zone_state(&node, "gslb.test."), "loaded");
    let changes = get(&node, "/changes");
    let c = &changes["changes"][0];
    assert_eq!((c["zone"].as_str(), c["applied"].as_bool()), (Some("gslb.test."), Some(false)), "{changes}");
    assert!(c["error"].as_str().unwrap().contains("192.0.2.2"), "{changes}");
    let answers = answers(node.dns, "www.gslb.test.", &subnets(200, 5));
    let new: IpAddr = "192.0.2.3".parse().unwrap();
    let gone: IpAddr = "192.0.2.2".parse().unwrap();
    assert!(answers.contains(&Some(new)) && !answers.contains(&Some(gone)), "the files serve: {answers:?}");
}
