//! Signatures made at load, kept by a reload when nothing changed, made again only for what
//! changed or is due, and made again in the background before they expire (issue 15: "static
//! data is signed when the config loads and re-signed in the background before the
//! signatures expire, never on the query path; a reload re-signs only RRsets that changed").
//! The first test moves the clock (config::load_at); the second runs a server whose
//! signatures are due 5 seconds after load, and reads /status and /metrics.
// Wall-clock waits on a real server.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::time::{Duration, Instant};

use gslbd::config::{KeyAccess, Snapshot, load_at};
use support::dnssec::*;

fn report(s: &Snapshot) -> gslbd::zone::online::sign::SignReport {
    s.zones.zones()[0].signer.as_ref().expect("signed").report
}

#[test]
fn a_reload_signs_only_what_changed_or_is_due() {
    let dir = support::TempDir::new("resign");
    let (zone, pools) = default_zone();
    dir.write("zone.zone", &zone);
    dir.write("pools.toml", &pools);
    dir.write("token", TOKEN);
    let config = dir.write("gslbd.toml", &signed_config("", ""));
    let t = gslbd::util::clock::unix_now();
    let first = load_at(&config, None, KeyAccess::Manage, t).unwrap();
    let all = report(&first).signed;
    assert!(all > 20 && report(&first).kept == 0, "{:?}", report(&first));
    let signer = first.zones.zones()[0].signer.clone().unwrap();
    assert_eq!(signer.next_due(), Some(t + 7 * 86_400), "signatures are due when 7 of their 14 days are left");

    let same = load_at(&config, Some(&first), KeyAccess::Manage, t + 60).unwrap();
    assert_eq!((report(&same).signed, report(&same).kept), (0, all), "nothing changed: every signature kept");

    dir.write("zone.zone", &zone.replace("\"gslbd default zone\"", "\"changed\""));
    let changed = load_at(&config, Some(&same), KeyAccess::Manage, t + 120).unwrap();
    assert_eq!((report(&changed).signed, report(&changed).kept), (1, all - 1), "only the TXT RRset is signed again");

    let due = load_at(&config, Some(&changed), KeyAccess::Manage, t + 7 * 86_400 + 200).unwrap();
    assert_eq!((report(&due).signed, report(&due).kept), (all, 0), "in the refresh window: everything is signed again");
}

#[test]
fn signatures_are_made_again_in_the_background_and_shown() {
    let (zone, pools) = default_zone();
    let Some(srv) = start_signed("signature_validity = \"60s\"\nrefresh = \"55s\"", &zone, &pools) else { return };
    let soa_sig = || {
        let r = dig_reply(srv.addr(), &["+norec", "+dnssec", "gslb.example.com", "SOA"]);
        r.rrsigs(&r.answer, "SOA")[0][8].to_string() // the expiration
    };
    let before = soa_sig();
    let start = Instant::now();
    while soa_sig() == before {
        assert!(start.elapsed() < Duration::from_secs(15), "the SOA's RRSIG was not made again");
        std::thread::sleep(Duration::from_millis(250));
    }
    let (code, status) = support::http(srv.admin(), "GET", "/status", None);
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["last_reload"]["trigger"], "resign", "{status}");
    let d = &v["zones"][0]["dnssec"];
    assert_eq!(d["keys"].as_array().unwrap().len(), 2, "{d}");
    assert!(d["keys"].as_array().unwrap().iter().all(|k| k["state"] == "active" && k["signing"] == true), "{d}");
    assert!(d["ds"][0].as_str().unwrap().contains(" IN DS "), "{d}");
    for f in ["expiry_horizon", "next_resign", "signed_at"] {
        assert!(d[f].as_str().is_some_and(|s| s.ends_with('Z')), "{f}: {d}");
    }
    assert!(d["signatures"]["static_signed"].as_u64().unwrap() >= 2 * d["load"]["signed"].as_u64().unwrap(), "{d}");
    assert!(d["caches"]["answers"]["capacity"].as_u64().unwrap() >= 100_000, "{d}");
    let (_, metrics) = support::http(srv.admin(), "GET", "/metrics", None);
    for family in [
        "gslbd_dnssec_signatures_total",
        "gslbd_dnssec_expiry_horizon_seconds",
        "gslbd_dnssec_key{",
        "gslbd_dnssec_cache_hits_total",
    ] {
        assert!(metrics.contains(family), "{family} in /metrics:\n{metrics}");
    }
}
