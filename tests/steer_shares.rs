//! Weights and stickiness, measured: over 100,000 simulated clients (deterministic seeds) the
//! answer shares stay within 1 percentage point of the configured weights, and when one of N
//! equal members (or regions) leaves a sticky pool, at most 1/N + 1% of clients change answer,
//! and only clients of the one that left.
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use gslbd::config::load_pools;
use gslbd::pool::{MemberId, MemberTarget, Pools};
use gslbd::steer::{Answer, Client, Decision, Family, decide};
use gslbd::util::rng::{Random, SplitMix64};
use hickory_proto::rr::Name;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

const CLIENTS: usize = 100_000;

fn pools(text: &str) -> Pools {
    let origin = Name::from_ascii("gslb.example.com.").expect("origin");
    load_pools(std::path::Path::new("test.pools.toml"), text, &origin).unwrap_or_else(|e| panic!("{e:?}"))
}

fn first(d: &Answer<'_>) -> Option<IpAddr> {
    match d {
        Answer::Addresses(a) => a.as_slice().first().copied(),
        _ => None,
    }
}

/// Random client /24s (IPv4) or /56s (IPv6), as resolvers send in ECS.
fn client(rng: &mut SplitMix64, v6: bool) -> Client {
    let subnet = if v6 {
        let hi = u128::from(rng.next_u64()) << 64;
        IpNet::V6(Ipv6Net::new(Ipv6Addr::from(hi), 56).expect("prefix").trunc())
    } else {
        IpNet::V4(Ipv4Net::new(Ipv4Addr::from(rng.next_u64() as u32), 24).expect("prefix").trunc())
    };
    Client { subnet, geo: None, ranked: None }
}

/// Asserts that shares are within 1 pp of weight / sum, and returns the largest deviation in pp.
fn assert_shares(counts: &HashMap<IpAddr, usize>, weights: &[(&str, u32)], what: &str) -> f64 {
    let sum: u32 = weights.iter().map(|(_, w)| w).sum();
    let total: usize = counts.values().sum();
    assert_eq!(total, CLIENTS, "{what}: every client got an answer");
    let mut worst = 0.0f64;
    for (addr, w) in weights {
        let a: IpAddr = addr.parse().expect("addr");
        let got = *counts.get(&a).unwrap_or(&0) as f64 / total as f64 * 100.0;
        let want = f64::from(*w) / f64::from(sum) * 100.0;
        let dev = (got - want).abs();
        println!("{what}: {addr} weight {w}: {got:.2}% (configured {want:.2}%, off by {dev:.2} pp)");
        assert!(dev < 1.0, "{what}: {addr} got {got:.2}%, configured {want:.2}%");
        worst = worst.max(dev);
    }
    worst
}

const WEIGHTS: [(&str, u32); 4] = [("192.0.2.1", 1), ("192.0.2.2", 2), ("192.0.2.3", 3), ("192.0.2.4", 4)];

fn member_pool(policy: &str) -> String {
    format!(
        r#"
[names]
www = "web"
[pool.web]
member_policy = "{policy}"
max_answers = 1
[pool.web.region.only]
members = [ {{ address = "192.0.2.1", weight = 1 }}, {{ address = "192.0.2.2", weight = 2 }},
            {{ address = "192.0.2.3", weight = 3 }}, {{ address = "192.0.2.4", weight = 4 }} ]
"#
    )
}

/// Decides for CLIENTS random IPv4 clients (random sources seeded `seeds`: answers, clients),
/// hands each client and decision to `check` (with the answers' random source), and counts the
/// first answered address.
fn count_answers(
    p: &Pools,
    seeds: (u64, u64),
    mut check: impl FnMut(&Client, &Decision<'_>, &mut SplitMix64),
) -> HashMap<IpAddr, usize> {
    let pool = p.pool_id("web").expect("pool");
    let health = p.file_health();
    let (mut rng, mut clients) = (SplitMix64::new(seeds.0), SplitMix64::new(seeds.1));
    let mut counts = HashMap::new();
    for _ in 0..CLIENTS {
        let c = client(&mut clients, false);
        let d = decide(p, pool, Family::V4, &c, &health, &mut rng, None);
        check(&c, &d, &mut rng);
        *counts.entry(first(&d.answer).expect("answer")).or_insert(0) += 1;
    }
    counts
}

#[test]
fn member_weighted_shares_follow_weights() {
    let p = pools(&member_pool("weighted"));
    let counts = count_answers(&p, (2026, 1), |_, d, _| {
        assert_eq!(d.ecs_scope, 0, "weighted answers do not depend on the client");
    });
    assert_shares(&counts, &WEIGHTS, "member weighted");
}

#[test]
fn member_sticky_shares_follow_weights_and_stick() {
    let p = pools(&member_pool("sticky"));
    let (pool, health) = (p.pool_id("web").expect("pool"), p.file_health());
    let counts = count_answers(&p, (5, 3), |c, d, rng| {
        let again = decide(&p, pool, Family::V4, c, &health, rng, None);
        assert_eq!(d.answer, again.answer, "a sticky client keeps its answer");
        assert_eq!(d.ecs_scope, 24);
    });
    assert_shares(&counts, &WEIGHTS, "member sticky");
}

/// Runs CLIENTS clients before and after `leaving` goes down; returns (moved, had_leaving).
fn sticky_churn(p: &Pools, leaving: &str, v6: bool, family: Family) -> (usize, usize) {
    let pool = p.pool_id("web").expect("pool");
    let gone: Vec<MemberId> = p
        .members()
        .filter(|(_, m)| match &m.target {
            MemberTarget::Address(a) => a.to_string() == leaving,
            MemberTarget::Cname(_) => false,
        })
        .map(|(id, _)| id)
        .collect();
    assert!(!gone.is_empty());
    let all_up = |_: MemberId| true;
    let without = |m: MemberId| !gone.contains(&m);
    let leaving: IpAddr = leaving.parse().expect("addr");
    let mut rng = SplitMix64::new(9);
    let mut clients = SplitMix64::new(11);
    let (mut moved, mut had) = (0, 0);
    for _ in 0..CLIENTS {
        let c = client(&mut clients, v6);
        let before = decide(p, pool, family, &c, &all_up, &mut rng, None);
        let after = decide(p, pool, family, &c, &without, &mut rng, None);
        let (b, a) = (first(&before.answer), first(&after.answer));
        if b == Some(leaving) {
            had += 1;
        }
        if b != a {
            moved += 1;
            assert_eq!(b, Some(leaving), "only clients of the leaving member move");
        }
    }
    (moved, had)
}

#[test]
fn sticky_member_leaving_moves_only_its_share() {
    let n = 5;
    let members: Vec<String> = (1..=n).map(|i| format!("{{ address = \"2001:db8::{i}\" }}")).collect();
    let p = pools(&format!(
        "[names]\nwww = \"web\"\n[pool.web]\nmember_policy = \"sticky\"\nmax_answers = 1\n[pool.web.region.only]\nmembers = [ {} ]\n",
        members.join(", ")
    ));
    let (moved, had) = sticky_churn(&p, "2001:db8::3", true, Family::V6);
    let share = moved as f64 / CLIENTS as f64 * 100.0;
    let bound = 100.0 / n as f64 + 1.0;
    println!(
        "sticky members: one of {n} left, {share:.2}% of clients moved (bound {bound:.2}%), all {had} of its clients"
    );
    assert_eq!(moved, had);
    assert!(share <= bound, "{share:.2}% moved");
}

/// Pool `web` with one region per (address, weight), named a, b, c, …, one member each.
fn region_pool(policy: &str, regions: &[(&str, u32)]) -> String {
    let mut text =
        format!("[names]\nwww = \"web\"\n[pool.web]\nregion_policy = \"{policy}\"\nmember_policy = \"all\"\n");
    for (name, (addr, weight)) in ('a'..).zip(regions) {
        text.push_str(&format!(
            "[pool.web.region.{name}]\nweight = {weight}\nmembers = [ {{ address = \"{addr}\" }} ]\n"
        ));
    }
    text
}

const REGION_WEIGHTS: [(&str, u32); 3] = [("192.0.2.1", 1), ("192.0.2.2", 3), ("192.0.2.3", 6)];

fn region_shares(policy: &str) {
    let p = pools(&region_pool(policy, &REGION_WEIGHTS));
    let counts = count_answers(&p, (77, 78), |_, _, _| {});
    assert_shares(&counts, &REGION_WEIGHTS, &format!("region {policy}"));
}

#[test]
fn region_weighted_shares_follow_weights() {
    region_shares("weighted");
}

#[test]
fn region_sticky_shares_follow_weights() {
    region_shares("sticky");
}

#[test]
fn sticky_region_leaving_moves_only_its_share() {
    // Four regions of weight 1 (the default).
    let regions = [("192.0.2.1", 1), ("192.0.2.2", 1), ("192.0.2.3", 1), ("192.0.2.4", 1)];
    let p = pools(&region_pool("sticky", &regions));
    let (moved, had) = sticky_churn(&p, "192.0.2.2", false, Family::V4);
    let share = moved as f64 / CLIENTS as f64 * 100.0;
    println!("sticky regions: one of 4 left, {share:.2}% of clients moved (bound 26.00%)");
    assert_eq!(moved, had);
    assert!(share <= 26.0);
}
