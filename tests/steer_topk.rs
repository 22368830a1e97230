//! Answers from several regions (`regions_per_answer`, `extra_random`) and the latency
//! policy's hysteresis, decided without a network: the pure decision on a compiled pool file,
//! a health view given as data, seeded randomness.
mod support;

use std::collections::HashMap;
use std::net::IpAddr;

use gslbd::config::load_pools;
use gslbd::pool::{HealthView, MemberId, PoolId, RegionId, Rtt};
use gslbd::steer::{Answer, Explain, Family, decide, next_leader};
use gslbd::util::rng::{Random, SplitMix64};
use hickory_proto::rr::Name;
use support::decide_fixtures::{dublin, pools};

const FIVE: &str = r#"
[names]
www = "web"
[pool.web]
region_policy = "nearest"
member_policy = "all"
max_answers = 6
regions_per_answer = 2
extra_random = 1
[pool.web.region.dublin]
location = [53.35, -6.26]
members = [ { address = "10.0.1.1" }, { address = "10.0.1.2" }, { address = "10.0.1.3" } ]
[pool.web.region.london]
location = [51.5, -0.1]
members = [ { address = "10.0.2.1" }, { address = "10.0.2.2" } ]
[pool.web.region.frankfurt]
location = [50.1, 8.7]
members = [ { address = "10.0.3.1" } ]
[pool.web.region.virginia]
location = [39.0, -77.5]
members = [ { address = "10.0.4.1" } ]
[pool.web.region.tokyo]
location = [35.7, 139.7]
members = [ { address = "10.0.5.1" } ]
"#;

fn addrs(a: &Answer<'_>) -> Vec<IpAddr> {
    match a {
        Answer::Addresses(l) => l.as_slice().to_vec(),
        _ => Vec::new(),
    }
}

#[test]
fn the_two_nearest_regions_plus_one_random_share_max_answers() {
    let p = pools(FIVE);
    let id = p.pool_id("web").unwrap();
    let mut rng = SplitMix64::new(7);
    let mut third: HashMap<String, usize> = HashMap::new();
    for _ in 0..3000 {
        let d = decide(&p, id, Family::V4, &dublin(), &p.file_health(), &mut rng, None);
        let a = addrs(&d.answer);
        // max_answers 6 over 3 regions: 2 records each (member_policy all: file order).
        assert_eq!(a.len(), 5, "dublin 2 of 3, london 2 of 2, one random region's single member: {a:?}");
        assert_eq!(a[..4], ["10.0.1.1", "10.0.1.2", "10.0.2.1", "10.0.2.2"].map(|s| s.parse::<IpAddr>().unwrap()));
        *third.entry(a[4].to_string()).or_default() += 1;
        assert_eq!(d.ecs_scope, 18, "the order depends on the client's location: the GeoIP network's scope");
    }
    // The random region is any of the three others, about a third of the time each.
    assert_eq!(third.len(), 3, "{third:?}");
    for (a, n) in &third {
        assert!((800..1200).contains(n), "{a}: {n} of 3000");
    }
    // Health: Dublin down, so London and Frankfurt are the two nearest; the random one is
    // Virginia or Tokyo.
    let dublin_id = p.pool(id).unwrap().region_id("dublin").unwrap();
    let down: Vec<MemberId> = p.members().filter(|(_, m)| m.region == dublin_id).map(|(i, _)| i).collect();
    let health = |m: MemberId| !down.contains(&m);
    let mut ex = Explain::new();
    let d = decide(&p, id, Family::V4, &dublin(), &health, &mut rng, Some(&mut ex));
    let a = addrs(&d.answer);
    assert_eq!(a[..3], ["10.0.2.1", "10.0.2.2", "10.0.3.1"].map(|s| s.parse::<IpAddr>().unwrap()), "{ex}");
    assert!(a[3].to_string() == "10.0.4.1" || a[3].to_string() == "10.0.5.1", "{a:?}");
    let text = ex.to_string();
    assert!(text.contains("answering from london, frankfurt (best first) + random"), "{text}");
}

#[test]
fn bad_top_k_settings_are_reported_with_their_lines() {
    let origin = Name::from_ascii("gslb.example.com.").unwrap();
    let text = "[names]\nwww = \"web\"\n[pool.web]\nregion_policy = \"all\"\nregions_per_answer = 2\n\
                [pool.web.region.a]\nmembers = [ { address = \"10.0.0.1\" } ]\n\
                [pool.web.region.b]\nmembers = [ { address = \"10.0.0.2\" } ]\n\
                [pool.other]\nmax_answers = 2\nregions_per_answer = 2\nextra_random = 1\n\
                [pool.other.region.a]\nlocation = [1.0, 1.0]\nmembers = [ { address = \"10.0.0.3\" } ]\n\
                [pool.lat]\nregion_policy = \"weighted\"\nlatency_hysteresis = 0.1\nregions_per_answer = 9\n\
                [pool.lat.region.a]\nmembers = [ { address = \"10.0.0.4\" } ]\n";
    let errs = load_pools(std::path::Path::new("t.toml"), text, &origin).unwrap_err();
    let got: Vec<String> = errs.iter().map(|e| format!("{}: {}", e.line, e.message)).collect();
    let want = [
        "5: pool web: regions_per_answer and extra_random have no effect with region_policy all",
        "12: pool other: regions_per_answer + extra_random (3) is more than max_answers (2)",
        "19: pool lat: latency_hysteresis has no effect with region_policy weighted",
        "20: pool lat: regions_per_answer must be 1..=8, got 9",
    ];
    for w in want {
        assert!(got.iter().any(|g| g.starts_with(w)), "missing {w:?} in {got:#?}");
    }
}

/// A health view with RTT estimates per member and a current leader.
struct Rtts {
    ms: Vec<Option<f64>>,
    leader: Option<RegionId>,
}

impl HealthView for Rtts {
    fn is_up(&self, _: MemberId) -> bool {
        true
    }
    fn member_rtt(&self, m: MemberId) -> Option<Rtt> {
        self.ms.get(m.index()).copied().flatten().map(|ms| Rtt { ms, samples: 10 })
    }
    fn latency_leader(&self, _: PoolId) -> Option<RegionId> {
        self.leader
    }
}

const LATENCY: &str = r#"
[names]
www = "web"
[pool.web]
region_policy = "latency"
latency_min_samples = 3
latency_hysteresis = 0.2
regions_per_answer = 3
max_answers = 3
[pool.web.region.far]
location = [35.7, 139.7]
members = [ { address = "10.0.1.1" } ]
[pool.web.region.mid]
location = [39.0, -77.5]
members = [ { address = "10.0.2.1" } ]
[pool.web.region.near]
location = [53.35, -6.26]
members = [ { address = "10.0.3.1" } ]
"#;

#[test]
fn latency_orders_regions_by_rtt_and_falls_back_to_nearest_without_samples() {
    let p = pools(LATENCY);
    let id = p.pool_id("web").unwrap();
    let mut rng = SplitMix64::new(1);
    let ask = |h: &Rtts, rng: &mut SplitMix64| {
        let mut ex = Explain::new();
        let d = decide(&p, id, Family::V4, &dublin(), h, rng, Some(&mut ex));
        (addrs(&d.answer).iter().map(|a| a.to_string()).collect::<Vec<_>>(), d.ecs_scope, ex.to_string())
    };
    // RTTs 120 (far), 40 (mid), 5 (near by RTT, whatever the map says).
    let h = Rtts { ms: vec![Some(5.0), Some(40.0), Some(120.0)], leader: None };
    let (a, scope, ex) = ask(&h, &mut rng);
    assert_eq!(a, ["10.0.1.1", "10.0.2.1", "10.0.3.1"], "lowest RTT first: {ex}");
    assert_eq!(scope, 0, "this node's RTTs do not depend on the client: {ex}");
    assert!(ex.contains("far 5.0 ms (10 samples)") && ex.contains("lowest RTT region is far"), "{ex}");
    // No samples at all: nearest (Dublin is near), with the GeoIP scope.
    let (a, scope, ex) = ask(&Rtts { ms: vec![None; 3], leader: None }, &mut rng);
    assert_eq!(a[0], "10.0.3.1", "{ex}");
    assert_eq!(scope, 18);
    assert!(ex.contains("no usable region has enough samples: falling back to nearest"), "{ex}");
    // Hysteresis: the current region (mid, 40 ms) keeps its clients against a 34 ms challenger.
    let mid = p.pool(id).unwrap().region_id("mid");
    let h = Rtts { ms: vec![Some(120.0), Some(40.0), Some(34.0)], leader: mid };
    assert_eq!(ask(&h, &mut rng).0[0], "10.0.2.1");
    let h = Rtts { ms: vec![Some(120.0), Some(40.0), Some(31.0)], leader: mid };
    assert_eq!(ask(&h, &mut rng).0[0], "10.0.3.1", "31 ms is more than 20% faster than 40 ms");
}

/// ±30% jitter on every probe RTT of two regions 20% apart (40 and 48 ms), 10,000 probe
/// rounds: the raw samples' winner flips thousands of times; the EWMA (α 0.3) with 20%
/// hysteresis, as the tracker runs it, never flips after the first round.
#[test]
fn jitter_of_30_percent_does_not_flip_the_latency_choice() {
    let mut rng = SplitMix64::new(42);
    let mut jitter = |ms: f64| ms * (1.0 + 0.3 * (2.0 * ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64) - 1.0));
    let (mut ewma, alpha) = ([0.0f64; 2], 0.3);
    let (mut raw_winner, mut raw_flips) = (None, 0);
    let (mut leader, mut flips, mut flips_no_hysteresis, mut plain) = (None, 0, 0, None);
    let mut first_flip = None;
    for round in 0..10_000 {
        let sample = [jitter(40.0), jitter(48.0)];
        for i in 0..2 {
            ewma[i] = if round == 0 { sample[i] } else { alpha * sample[i] + (1.0 - alpha) * ewma[i] };
        }
        if round < 2 {
            continue; // latency_min_samples = 3: no estimate before the third sample
        }
        let w = if sample[0] <= sample[1] { 0 } else { 1 };
        if raw_winner.is_some_and(|x| x != w) {
            raw_flips += 1;
        }
        raw_winner = Some(w);
        let next = next_leader(leader, 2, |i| Some(ewma[i]), 0.2);
        if leader.is_some() && next != leader {
            flips += 1;
            first_flip.get_or_insert(round);
        }
        leader = next;
        let np = next_leader(plain, 2, |i| Some(ewma[i]), 0.0);
        if plain.is_some() && np != plain {
            flips_no_hysteresis += 1;
        }
        plain = np;
    }
    println!(
        "10000 rounds, 40 vs 48 ms ±30%: raw samples flip {raw_flips} times, EWMA without hysteresis {flips_no_hysteresis}, EWMA + 20% hysteresis {flips} (at round {first_flip:?})"
    );
    assert!(raw_flips > 1000, "{raw_flips}");
    assert_eq!(flips, 0);
    assert_eq!(leader, Some(0));
}
