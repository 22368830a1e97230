//! Signatures survive churn (issue 15, must-show 3): while clients from many subnets on three
//! continents ask a validating Unbound (ECS forwarded, answers cached at most 1 s) for the
//! pooled name, a region fails and recovers twice (admin force-down / clear), which
//! changes the answer sets the steering picks (two of four addresses a region, at random: more
//! sets than the cache holds). Every answer validates (AD=1, no SERVFAIL), the European
//! clients' answers change and come back, and the pooled-answer signature cache, given a
//! bound of 16 entries, never holds more (gslbd_dnssec_cache_entries ≤ capacity) while it
//! evicts and signs again.
// Wall-clock pacing of a real server.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::dnssec::*;

fn metric(text: &str, name: &str, cache: &str) -> u64 {
    let key = format!("{name}{{zone=\"gslb.example.com.\",cache=\"{cache}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} in\n{text}"))
}

#[test]
fn answers_validate_while_a_region_fails_and_recovers() {
    let (zone, pools) = default_zone();
    // Short TTLs, and five IPv4 members a region of which two are picked at random: many more
    // answer sets (10 pairs a region) than the cache's bound of 16, so that even a slow run
    // (fewer rounds) signs more sets than the cache holds.
    let mut pools = pools.replace("ttl = 30", "ttl = 1").replace("ttl = 20", "ttl = 1");
    for net in ["192.0.2", "198.51.100", "203.0.113"] {
        pools = pools.replace(
            &format!("  {{ address = \"{net}.2\" }},\n"),
            &format!(
                "  {{ address = \"{net}.2\" }},\n  {{ address = \"{net}.3\" }},\n  {{ address = \"{net}.4\" }},\n  {{ address = \"{net}.5\" }},\n"
            ),
        );
    }
    let Some(srv) = start_signed("answer_cache = 16\npresign_limit = 0", &zone, &pools) else { return };
    let anchor = ds_anchor(&srv.dir().join("gslbd.toml"), "gslb.example.com");
    let Some(ub) = Resolver::start(&[("gslb.example.com.", srv.addr())], &[anchor], 1) else { return };
    let subnets = ["81.2.69.0/24", "1.0.16.0/24", "18.0.0.0/24", "2.16.0.0/24", "5.61.0.0/24", "41.0.0.0/24"];
    let mut eu_answers: Vec<BTreeSet<String>> = Vec::new();
    let (mut answers, mut rounds) = (0, 0);
    let start = Instant::now();
    for phase in 0..4 {
        let action = if phase % 2 == 0 { "force-down" } else { "clear" };
        let (code, body) =
            support::http(srv.admin(), "POST", &format!("/regions/gslb.example.com/web/eu-west/{action}"), Some(TOKEN));
        assert_eq!(code, 200, "{action}: {body}");
        let phase_end = Instant::now() + Duration::from_millis(2500);
        while Instant::now() < phase_end {
            rounds += 1;
            for (i, net) in subnets.iter().enumerate() {
                let qtype = if (rounds + i) % 2 == 0 { "A" } else { "AAAA" };
                let r = ub.ask("www.gslb.example.com.", qtype, Some(net));
                answers += 1;
                assert!(
                    r.status == "NOERROR" && r.has("ad") && !r.answer.is_empty(),
                    "{net} {qtype} in phase {phase} ({action}) at {:?}:\n{}\nunbound:\n{}",
                    start.elapsed(),
                    r.text,
                    ub.log()
                );
                if i == 0 && qtype == "A" {
                    // The region answering (by its prefix), not the random pair.
                    let set: BTreeSet<String> =
                        r.rdata("A").into_iter().map(|a| a.rsplit_once('.').unwrap().0.to_string()).collect();
                    if eu_answers.last() != Some(&set) {
                        eu_answers.push(set);
                    }
                }
            }
        }
    }
    let (code, metrics) = support::http(srv.admin(), "GET", "/metrics", None);
    assert_eq!(code, 200);
    let (entries, capacity) = (
        metric(&metrics, "gslbd_dnssec_cache_entries", "answers"),
        metric(&metrics, "gslbd_dnssec_cache_capacity", "answers"),
    );
    let (hits, misses, evictions) = (
        metric(&metrics, "gslbd_dnssec_cache_hits_total", "answers"),
        metric(&metrics, "gslbd_dnssec_cache_misses_total", "answers"),
        metric(&metrics, "gslbd_dnssec_cache_evictions_total", "answers"),
    );
    println!(
        "{answers} validated answers in {rounds} rounds; Europe's A answers went {eu_answers:?}; \
         cache {entries}/{capacity} entries, {hits} hits, {misses} misses, {evictions} evictions"
    );
    assert!(entries <= capacity && capacity == 16, "the cache stays within its bound");
    assert!(eu_answers.len() >= 3, "the failure and the recovery changed the answer: {eu_answers:?}");
    assert!(misses > capacity && hits > 0 && evictions > 0, "more answer sets than the bound were signed");
}
