//! Rollovers under validation (issue 15, must-show 5): a zone with 2-second TTLs and a
//! 8-second ZSK lifetime rolls its ZSK by pre-publication on schedule while a validating
//! Unbound (cache at most 2 s) asks for a static name, a pooled name and a name that does not
//! exist five times a second: every answer has AD=1, none is SERVFAIL. gslbd's own DNSKEY
//! RRset is watched go {KSK, ZSK1} → {KSK, ZSK1, ZSK2} (ZSK1 signing) → ZSK2 signing →
//! {KSK, ZSK2}. Then a KSK rollover by command: `gslbd dnssec ksk-roll` adds a KSK (the old
//! anchor still validates: both sign the DNSKEY RRset; CDS names the new one), and
//! `gslbd dnssec ksk-retire` removes the old one, after which a resolver with the new DS
//! validates.
// Wall-clock schedule of a real server: std's clock is what is measured.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::dnssec::*;

const ZONE: &str =
    "$TTL 2\n@ SOA ns1 hostmaster 1 7200 900 1209600 2\n@ NS ns1\nns1 A 127.0.0.1\nstatic A 192.0.2.10\n";
const POOLS: &str = "[names]\nwww = \"web\"\n\n[pool.web]\nttl = 2\n\n[pool.web.region.one]\n\
                     members = [ { address = \"192.0.2.1\" }, { address = \"192.0.2.2\" } ]\n";

/// (ZSK tags in the DNSKEY RRset, KSK tags, the tag that signs `static`'s A RRset).
fn keys_seen(srv: &support::GslbdServer) -> (BTreeSet<String>, BTreeSet<String>, String) {
    // dig computes each key's tag (its own code, not ours) and prints it as a comment.
    let r = dig_reply(srv.addr(), &["+norec", "+rrcomments", "gslb.example.com", "DNSKEY"]);
    let tags = |flags: &str| -> BTreeSet<String> {
        r.answer
            .iter()
            .filter(|l| l.contains(&format!(" DNSKEY {flags} ")))
            .filter_map(|l| l.split("key id = ").nth(1).map(|s| s.trim().to_string()))
            .collect()
    };
    let (zsks, ksks) = (tags("256"), tags("257"));
    let s = dig_reply(srv.addr(), &["+norec", "+dnssec", "static.gslb.example.com", "A"]);
    let signer = s.rrsigs(&s.answer, "A").first().map(|f| f[10].to_string()).unwrap_or_default();
    (zsks, ksks, signer)
}

#[test]
fn zsk_rolls_on_schedule_and_ksk_by_command_without_a_servfail() {
    let dnssec = "zsk_lifetime = \"8s\"\npropagation_delay = \"1s\"\nsignature_validity = \"1h\"\nrefresh = \"30m\"";
    let Some(srv) = start_signed(dnssec, ZONE, POOLS) else { return };
    let config = srv.dir().join("gslbd.toml");
    let anchor = ds_anchor(&config, "gslb.example.com");
    let Some(ub) = Resolver::start(&[("gslb.example.com.", srv.addr())], std::slice::from_ref(&anchor), 2) else {
        return;
    };
    let (first_zsk, _, first_signer) = keys_seen(&srv);
    assert_eq!(first_zsk.len(), 1);
    let mut phases: Vec<(BTreeSet<String>, String)> = vec![(first_zsk.clone(), first_signer.clone())];
    let mut asked = 0;
    let start = Instant::now();
    // The schedule: successor published at ~5 s, signing at 8 s, the old key gone at ~11 s.
    while start.elapsed() < Duration::from_secs(18) {
        for (name, qtype, status) in [
            ("static.gslb.example.com.", "A", "NOERROR"),
            ("www.gslb.example.com.", "A", "NOERROR"),
            ("nope.gslb.example.com.", "A", "NXDOMAIN"),
        ] {
            let r = ub.ask(name, qtype, None);
            asked += 1;
            assert!(
                r.status == status && r.has("ad"),
                "{name} at {:?}: {}\n{}\nunbound:\n{}",
                start.elapsed(),
                r.status,
                r.text,
                ub.log()
            );
        }
        let (zsks, _, signer) = keys_seen(&srv);
        if phases.last() != Some(&(zsks.clone(), signer.clone())) {
            phases.push((zsks.clone(), signer));
        }
        if zsks.len() == 1 && !zsks.contains(first_zsk.iter().next().unwrap()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("{asked} validated answers; DNSKEY phases (ZSKs, signer): {phases:?}");
    let old = first_zsk.iter().next().unwrap().clone();
    let last = phases.last().unwrap();
    assert_eq!(last.0.len(), 1, "the rollover completed: {phases:?}");
    let new = last.0.iter().next().unwrap().clone();
    assert_ne!(new, old);
    assert_eq!(last.1, new, "the new ZSK signs: {phases:?}");
    let both: BTreeSet<String> = [old.clone(), new.clone()].into();
    assert!(phases.iter().any(|p| p.0 == both && p.1 == old), "pre-published before signing: {phases:?}");
    assert!(phases.iter().any(|p| p.0 == both && p.1 == new), "old key kept while its signatures live: {phases:?}");

    // KSK rollover by command.
    let (_, ksks, _) = keys_seen(&srv);
    let old_ksk = ksks.iter().next().unwrap().clone();
    let out = gslbd_dnssec(&config, &["ksk-roll", "gslb.example.com"]);
    let new_ds = out.lines().find(|l| l.contains(" IN DS ")).expect("the new DS").to_string();
    let waited = Instant::now();
    while keys_seen(&srv).1.len() < 2 {
        assert!(waited.elapsed() < Duration::from_secs(10), "the new KSK is not published: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = ub.ask("static.gslb.example.com.", "A", None);
    assert!(r.has("ad"), "the old anchor still validates during the KSK rollover:\n{}", r.text);
    let cds = dig_reply(srv.addr(), &["+norec", "gslb.example.com", "CDS"]).rdata("CDS");
    let new_tag = new_ds.split_whitespace().skip_while(|f| *f != "DS").nth(1).unwrap().to_string();
    assert!(cds.len() == 1 && cds[0].starts_with(&format!("{new_tag} ")), "CDS names the new KSK: {cds:?}");
    gslbd_dnssec(&config, &["ksk-retire", "gslb.example.com", &old_ksk]);
    let waited = Instant::now();
    while keys_seen(&srv).1 != BTreeSet::from([new_tag.clone()]) {
        assert!(waited.elapsed() < Duration::from_secs(10), "the old KSK is still published");
        std::thread::sleep(Duration::from_millis(100));
    }
    let f: Vec<&str> = new_ds.split_whitespace().collect();
    let new_anchor = format!("{} DS {}", f[0], f[4..].join(" "));
    let Some(ub2) = Resolver::start(&[("gslb.example.com.", srv.addr())], &[new_anchor], 2) else { return };
    let r = ub2.ask("www.gslb.example.com.", "A", None);
    assert!(r.has("ad"), "the new KSK's DS validates:\n{}", r.text);
}
