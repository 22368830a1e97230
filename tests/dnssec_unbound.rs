//! Online-signed answers judged by validators we did not write (issue 15, must-show 1 and
//! 2's delv): a validating Unbound, the zone's DS from `gslbd dnssec ds` as its only trust
//! anchor, stubs to gslbd, Client Subnet forwarded. Every kind of answer comes back with AD=1:
//! static A, MX, TXT; a CNAME chain; a wildcard; pooled A and AAAA steered from Europe, Asia
//! and North America; a `delegate` hand-off into a secure child zone (its keys made by BIND's
//! dnssec-keygen and imported, its DS by BIND's dnssec-dsfromkey); NXDOMAIN; NODATA (at a
//! name, an empty non-terminal, a wildcard); the DS denial of an insecure delegation; DNSKEY.
//! With one digest octet of the anchor changed, every one of them is SERVFAIL. delv, with the
//! same anchor, prints "fully validated" for a pooled name.
mod support;

use support::TempDir;
use support::dnssec::*;

/// The child zone served by the same gslbd, signed with keys BIND made.
const CHILD: &str =
    "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 127.0.0.1\nwww A 192.0.2.200\n";

/// (name, type, ECS subnet, status, what the answer must hold).
const CASES: &[(&str, &str, Option<&str>, &str, &str)] = &[
    ("static.gslb.example.com.", "A", None, "NOERROR", "A 192.0.2.10"),
    ("gslb.example.com.", "MX", None, "NOERROR", "MX 10 mail.gslb.example.com."),
    ("gslb.example.com.", "TXT", None, "NOERROR", "TXT \"gslbd default zone\""),
    ("chain.gslb.example.com.", "A", None, "NOERROR", "A 192.0.2.10"),
    ("host.wild.gslb.example.com.", "A", None, "NOERROR", "A 192.0.2.80"),
    ("www.gslb.example.com.", "A", Some("81.2.69.0/24"), "NOERROR", "A 198.51.100."),
    ("www.gslb.example.com.", "AAAA", Some("81.2.69.0/24"), "NOERROR", "AAAA 2001:db8:2::"),
    ("www.gslb.example.com.", "A", Some("1.0.16.0/24"), "NOERROR", "A 203.0.113."),
    ("www.gslb.example.com.", "AAAA", Some("1.0.16.0/24"), "NOERROR", "AAAA 2001:db8:3::"),
    ("www.gslb.example.com.", "A", Some("18.0.0.0/24"), "NOERROR", "A 192.0.2."),
    ("www.gslb.example.com.", "AAAA", Some("18.0.0.0/24"), "NOERROR", "AAAA 2001:db8:1::"),
    ("lb.gslb.example.com.", "A", None, "NOERROR", "CNAME www.sec.gslb.example.com."),
    ("nope.gslb.example.com.", "A", None, "NXDOMAIN", ""),
    ("a.b.nope.gslb.example.com.", "TXT", None, "NXDOMAIN", ""),
    ("static.gslb.example.com.", "MX", None, "NOERROR", ""),
    ("deep.gslb.example.com.", "A", None, "NOERROR", ""),
    ("host.wild.gslb.example.com.", "MX", None, "NOERROR", ""),
    ("child.gslb.example.com.", "DS", None, "NOERROR", ""),
    ("gslb.example.com.", "DNSKEY", None, "NOERROR", "DNSKEY 257 3 13"),
];

#[test]
fn unbound_validates_every_kind_of_answer_and_rejects_a_wrong_anchor() {
    if !bind_tools() {
        return;
    }
    let keys = TempDir::new("bind-keys");
    let child_ds = bind_keys(keys.path(), "sec.gslb.example.com.");
    let (zone, pools) = default_zone();
    let zone = format!("{zone}sec IN NS ns1.sec\nns1.sec IN A 127.0.0.1\n{child_ds}\n");
    let pools = pools.replace("[names]\n", "[names]\nlb = \"handoff\"\n")
        + "\n[pool.handoff]\nttl = 30\n\n[pool.handoff.region.sec]\ndelegate = \"www.sec\"\n";
    let extra = format!(
        "[[zone]]\norigin = \"sec.gslb.example.com.\"\nfile = \"sec.zone\"\n[zone.dnssec]\nkey_dir = \"{}\"\n",
        keys.path().display()
    );
    let srv = support::GslbdServer::start(
        &signed_config("", &extra),
        &[("zone.zone", &zone), ("pools.toml", &pools), ("sec.zone", CHILD), ("token", TOKEN)],
    );
    let config = srv.dir().join("gslbd.toml");
    let anchor = ds_anchor(&config, "gslb.example.com");
    // The child's keys are BIND's: the DS gslbd prints for it is the one dnssec-dsfromkey made.
    let ours = gslbd_dnssec(&config, &["ds", "sec.gslb.example.com"]);
    let digest = |l: &str| l.split_whitespace().skip_while(|f| *f != "DS").collect::<Vec<_>>().join(" ");
    assert_eq!(digest(ours.lines().next().unwrap()), digest(&child_ds), "gslbd: {ours}\nBIND: {child_ds}");

    let stubs = [("gslb.example.com.", srv.addr()), ("sec.gslb.example.com.", srv.addr())];
    let Some(good) = Resolver::start(&stubs, std::slice::from_ref(&anchor), 5) else { return };
    for &(name, qtype, subnet, status, want) in CASES {
        let r = good.ask(name, qtype, subnet);
        let why = format!("{name} {qtype} {subnet:?}:\n{}\nunbound:\n{}", r.text, good.log());
        assert_eq!(r.status, status, "{why}");
        assert!(r.has("ad"), "AD=1 expected: {why}");
        if want.is_empty() {
            assert!(r.answer.is_empty(), "no answer records: {why}");
        } else {
            assert!(r.answer.iter().any(|l| l.contains(want)), "answer holds {want:?}: {why}");
        }
    }
    // The hand-off ends at the child's address, validated through the child's DS.
    let r = good.ask("lb.gslb.example.com.", "A", None);
    assert_eq!(r.rdata("A"), vec!["192.0.2.200"], "{}", r.text);

    let dir = TempDir::new("delv");
    if let Some(out) = delv(good.addr(), &anchor, dir.path(), "www.gslb.example.com.", "A") {
        assert!(out.contains("; fully validated"), "delv:\n{out}");
        assert!(out.contains("RRSIG\tA 13 4 30") || out.contains("RRSIG A 13 4 30"), "delv shows the RRSIG:\n{out}");
    }

    let Some(bad) = Resolver::start(&stubs, &[wrong_anchor(&anchor)], 5) else { return };
    for &(name, qtype, subnet, _, _) in CASES {
        let r = bad.ask(name, qtype, subnet);
        assert_eq!(r.status, "SERVFAIL", "{name} {qtype} with a wrong trust anchor:\n{}", r.text);
    }
}

/// The other algorithm: the zone signed with Ed25519 keys (15) validates the same way.
#[test]
fn ed25519_signatures_validate_too() {
    let (zone, pools) = default_zone();
    let Some(srv) = start_signed("algorithm = \"ed25519\"", &zone, &pools) else { return };
    let anchor = ds_anchor(&srv.dir().join("gslbd.toml"), "gslb.example.com");
    assert!(anchor.contains(" DS ") && anchor.split_whitespace().nth(3) == Some("15"), "{anchor}");
    let Some(ub) = Resolver::start(&[("gslb.example.com.", srv.addr())], &[anchor], 5) else { return };
    for (name, qtype, subnet, status) in [
        ("static.gslb.example.com.", "A", None, "NOERROR"),
        ("www.gslb.example.com.", "AAAA", Some("81.2.69.0/24"), "NOERROR"),
        ("nope.gslb.example.com.", "A", None, "NXDOMAIN"),
        ("host.wild.gslb.example.com.", "TXT", None, "NOERROR"),
    ] {
        let r = ub.ask(name, qtype, subnet);
        assert!(r.status == status && r.has("ad"), "{name} {qtype}:\n{}\nunbound:\n{}", r.text, ub.log());
    }
}
