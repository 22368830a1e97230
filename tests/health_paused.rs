//! The health scheduler and state machine on Tokio's paused clock, with fake probers: no
//! network, no real sleeps. Failover/recovery timing, the flap bound, reloads keeping state,
//! one task per unique (target, probe), unknown-state assumptions, overrides that survive a
//! restart, and the health-driven parts of `decide` (min_usable_fraction, degraded_ttl).
mod support;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use gslbd::config::load_pools;
use gslbd::health::{HealthKey, ProbeResult, State, Target};
use gslbd::pool::ProbeSpec;
use gslbd::pool::{HealthView, MemberTarget, Pools};
use gslbd::services::{HealthOptions, HealthService, Prober};
use gslbd::steer::{Answer, Client, Family, decide};
use gslbd::util::rng::{Random, SplitMix64};
use hickory_proto::rr::Name;
use tokio::time::Instant;

/// Scripted targets: each address is up or down as the test says; unknown addresses are up.
/// Counts probes per address.
#[derive(Clone, Default)]
struct Switches {
    down: Arc<Mutex<HashMap<IpAddr, bool>>>,
    probes: Arc<Mutex<HashMap<IpAddr, u64>>>,
    /// Delay of every probe (a slow target).
    delay: Duration,
}

impl Switches {
    fn set_down(&self, a: &str, down: bool) {
        self.down.lock().expect("lock").insert(a.parse().expect("addr"), down);
    }
    fn probes(&self, a: &str) -> u64 {
        self.probes.lock().expect("lock").get(&a.parse::<IpAddr>().expect("addr")).copied().unwrap_or(0)
    }
}

impl Prober for Switches {
    async fn probe(&self, target: &MemberTarget, _spec: &ProbeSpec) -> ProbeResult {
        let MemberTarget::Address(a) = target else { return ProbeResult::new(false, "name", Duration::ZERO) };
        *self.probes.lock().expect("lock").entry(*a).or_default() += 1;
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let down = self.down.lock().expect("lock").get(a).copied().unwrap_or(false);
        ProbeResult::new(!down, if down { "scripted down" } else { "scripted up" }, self.delay)
    }
}

/// Fails each probe with probability `p`, from a seeded generator (deterministic).
struct Flaky {
    rng: Mutex<SplitMix64>,
    p_fail: f64,
    /// Every result, in order (to compute the bound from the actual sequence).
    log: Arc<Mutex<Vec<bool>>>,
}

impl Prober for Flaky {
    async fn probe(&self, _t: &MemberTarget, _s: &ProbeSpec) -> ProbeResult {
        let u = {
            let mut r = self.rng.lock().expect("lock");
            (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        };
        let ok = u >= self.p_fail;
        self.log.lock().expect("lock").push(ok);
        ProbeResult::new(ok, "flaky", Duration::ZERO)
    }
}

fn origin() -> Name {
    Name::from_ascii("gslb.example.com.").expect("origin")
}

fn pools(text: &str) -> Pools {
    load_pools(Path::new("test.pools.toml"), text, &origin()).unwrap_or_else(|e| panic!("{e:?}"))
}

fn client() -> Client {
    Client { subnet: "198.51.100.0/24".parse().expect("net"), geo: None, ranked: None }
}

/// The addresses `decide` answers for pool `web`, A query, sorted.
fn answer(p: &Pools, h: &impl HealthView) -> Vec<String> {
    let pool = p.pool_id("web").expect("pool web");
    let mut rng = SplitMix64::new(1);
    let d = decide(p, pool, Family::V4, &client(), h, &mut rng, None);
    let mut v: Vec<String> = match d.answer {
        Answer::Addresses(a) => a.as_slice().iter().map(|a| a.to_string()).collect(),
        Answer::Cname(n) => vec![n.to_string()],
        Answer::NoData => Vec::new(),
    };
    v.sort();
    v
}

fn ttl(p: &Pools, h: &impl HealthView) -> u32 {
    let pool = p.pool_id("web").expect("pool web");
    decide(p, pool, Family::V4, &client(), h, &mut SplitMix64::new(1), None).ttl
}

/// Two regions in failover order, every member probed by `chk` (tcp, every second).
static FAILOVER: LazyLock<String> = LazyLock::new(|| {
    let probe = "kind = \"tcp\", port = 80, interval_ms = 1000, jitter_ms = 100, rise = 2, fall = 3";
    support::probed_failover("chk", probe, 60, &["10.0.0.1", "10.0.0.2"], &["10.0.1.1"])
});

/// Advances the paused clock in 10 ms steps until `cond` holds; returns the time taken.
async fn time_until(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    // Bounded: limit / 10 ms steps.
    for _ in 0..=limit.as_millis() / 10 {
        if cond() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test(start_paused = true)]
async fn member_failure_and_recovery_within_interval_times_fall_and_rise() {
    let sw = Switches::default();
    let health = HealthService::with_prober(sw.clone(), HealthOptions::default()).expect("start");
    let p = pools(&FAILOVER);
    let report = health.update(&[&p]);
    assert_eq!(report.started, 3);
    let view = health.view(&p);
    assert!(health.wait_first_round(Duration::from_secs(2)).await, "first round within one jitter");
    assert_eq!(answer(&p, &view), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(ttl(&p, &view), 60, "healthy pool: the pool's ttl");

    let interval = Duration::from_secs(1);
    sw.set_down("10.0.0.1", true);
    let t = time_until(Duration::from_secs(10), || answer(&p, &view) == ["10.0.0.2"]).await.expect("left out");
    assert!(t <= interval * 3 + Duration::from_millis(10), "left out after {t:?} > interval × fall");
    assert!(
        t >= (interval - Duration::from_millis(100)) * 2,
        "three failures need two gaps of ≥ interval − jitter: {t:?}"
    );
    assert_eq!(ttl(&p, &view), 5, "degraded: degraded_ttl");

    sw.set_down("10.0.0.1", false);
    let t = time_until(Duration::from_secs(10), || answer(&p, &view) == ["10.0.0.1", "10.0.0.2"]).await.expect("back");
    assert!(t <= interval * 2 + Duration::from_millis(10), "back after {t:?} > interval × rise");
    assert_eq!(ttl(&p, &view), 60);

    // The whole region fails: its clients go to the next region of failover_order.
    sw.set_down("10.0.0.1", true);
    sw.set_down("10.0.0.2", true);
    let t = time_until(Duration::from_secs(10), || answer(&p, &view) == ["10.0.1.1"]).await.expect("region b");
    assert!(t <= interval * 3 + Duration::from_millis(10), "region failover after {t:?}");
    let m = health.metrics();
    assert_eq!(m.per_key.len(), 3);
    assert!(m.total.transitions >= 3 + 2 + 2, "{m:?}");
    assert!(m.total.failures >= 3 + 3 + 3, "{m:?}");
}

/// The expected number of state changes of a rise/fall machine fed independent results that
/// fail with probability `p`, over `n` probes: one up→down→up cycle takes on average
/// E[probes to see `fall` failures in a row] + E[probes to see `rise` successes in a row],
/// where E[k in a row, probability x each] = (1/x + 1/x² + … + 1/x^k) = Σ x^-i.
fn expected_transitions(n: f64, p: f64, rise: i32, fall: i32) -> f64 {
    let run = |x: f64, k: i32| (1..=k).map(|i| x.powi(-i)).sum::<f64>();
    let cycle = run(p, fall) + run(1.0 - p, rise);
    2.0 * n / cycle
}

#[tokio::test(start_paused = true)]
async fn thirty_percent_random_failures_make_a_bounded_number_of_transitions() {
    const N: u64 = 3000;
    let log = Arc::new(Mutex::new(Vec::new()));
    let flaky = Flaky { rng: Mutex::new(SplitMix64::new(0x5eed)), p_fail: 0.3, log: Arc::clone(&log) };
    let health = HealthService::with_prober(flaky, HealthOptions { seed: 7, ..Default::default() }).expect("start");
    let p = pools(
        &FAILOVER
            .replace("jitter_ms = 100", "jitter_ms = 0")
            .replace(
                "members = [ { address = \"10.0.0.1\" }, { address = \"10.0.0.2\" } ]",
                "members = [ { address = \"10.0.0.1\" } ]",
            )
            .replace("[pool.web.region.b]\nprobe = \"chk\"", "[pool.web.region.b]"),
    );
    health.update(&[&p]);
    assert_eq!(health.tasks(), 1, "only 10.0.0.1 is probed");
    // N probes at 1 s intervals (the first at t = 0).
    tokio::time::sleep(Duration::from_secs(N) - Duration::from_millis(500)).await;
    let m = health.metrics();
    assert_eq!(m.total.probes, N, "one probe per interval on the paused clock");
    let results = log.lock().expect("lock").clone();
    let fails = results.iter().filter(|ok| !**ok).count() as f64 / N as f64;
    assert!((0.27..0.33).contains(&fails), "the seeded source fails ~30%: {fails}");

    // Hard bound from the sequence itself: every up→down flip consumes its own run of three
    // failures in a row, and flips alternate, so transitions ≤ 2 × (disjoint FFF runs) + 1
    // (the +1 is unknown → first state).
    let mut triples = 0;
    let mut streak = 0;
    for ok in &results {
        streak = if *ok { 0 } else { streak + 1 };
        if streak == 3 {
            triples += 1;
            streak = 0;
        }
    }
    let hard = 2 * triples + 1;
    // Statistical bound: E = 2N / (Σ_{i≤3} 0.3^-i + Σ_{i≤2} 0.7^-i) = 2N / 54.98 ≈ 109 for N = 3000
    // (σ ≈ √E); allow 1.5 × E. Without hysteresis (rise = fall = 1) the same source flips
    // 2·p·(1−p)·N ≈ 1260 times.
    let expected = expected_transitions(N as f64, 0.3, 2, 3);
    let naive = results.windows(2).filter(|w| w[0] != w[1]).count();
    let t = m.total.transitions;
    println!("transitions {t}, hard bound {hard}, expected {expected:.0}, without hysteresis {naive}");
    assert!(t <= hard, "{t} transitions > {hard} (2 × disjoint failure triples + 1)");
    assert!((t as f64) <= 1.5 * expected, "{t} transitions > 1.5 × expected {expected:.0}");
    assert!((t as f64) >= 0.5 * expected, "{t} transitions: suspiciously few (expected {expected:.0})");
    assert!(t * 8 < naive as u64, "hysteresis: {t} vs {naive} without it");
}

#[tokio::test(start_paused = true)]
async fn reload_keeps_state_of_kept_pairs_and_stops_removed_ones() {
    let sw = Switches::default();
    let health = HealthService::with_prober(sw.clone(), HealthOptions::default()).expect("start");
    let old = pools(&FAILOVER);
    health.update(&[&old]);
    sw.set_down("10.0.0.1", true);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let v_old = health.view(&old);
    assert_eq!(answer(&old, &v_old), ["10.0.0.2"]);

    // New file: 10.0.0.1 kept (now second in its list, so a different member id), 10.0.0.2
    // removed, 10.0.0.3 added.
    let new = pools(&FAILOVER.replace(
        "members = [ { address = \"10.0.0.1\" }, { address = \"10.0.0.2\" } ]",
        "members = [ { address = \"10.0.0.3\" }, { address = \"10.0.0.1\" } ]",
    ));
    let r = health.update(&[&new]);
    assert_eq!((r.kept, r.started, r.stopped, r.restarted), (2, 1, 1, 0), "{r:?}");
    let v_new = health.view(&new);
    // Immediately (no probe in between): the kept member is still down, the new one assumed up.
    assert_eq!(answer(&new, &v_new), ["10.0.0.3"]);
    let before = sw.probes("10.0.0.2");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(sw.probes("10.0.0.2"), before, "the removed pair is no longer probed");
    assert!(sw.probes("10.0.0.3") >= 5);

    // A changed probe definition restarts the task but keeps the state.
    let changed = pools(&FAILOVER.replace("interval_ms = 1000", "interval_ms = 2000").replace(
        "members = [ { address = \"10.0.0.1\" }, { address = \"10.0.0.2\" } ]",
        "members = [ { address = \"10.0.0.3\" }, { address = \"10.0.0.1\" } ]",
    ));
    let r = health.update(&[&changed]);
    assert_eq!((r.kept, r.restarted), (0, 3), "{r:?}");
    assert_eq!(answer(&changed, &health.view(&changed)), ["10.0.0.3"], "state kept across the restart");
}

#[tokio::test(start_paused = true)]
async fn identical_pairs_are_probed_once_across_pools_and_files() {
    let text = |zone: &str| {
        format!(
            r#"
[names]
www = "web"
api = "api"
[probe.chk]
kind = "tcp"
port = 80
interval_ms = 1000
[pool.web]
[pool.web.region.a]
probe = "chk"
members = [ {{ address = "10.0.0.1" }}, {{ address = "{zone}" }} ]
[pool.api]
[pool.api.region.a]
members = [ {{ address = "10.0.0.1", probe = "chk" }} ]
"#
        )
    };
    let sw = Switches::default();
    let health = HealthService::with_prober(sw.clone(), HealthOptions::default()).expect("start");
    let (a, b) = (pools(&text("10.0.0.2")), pools(&text("10.0.0.3")));
    let r = health.update(&[&a, &b]);
    assert_eq!(r.started, 3, "10.0.0.1 (4 references, one probe), .2, .3: {r:?}");
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let n = sw.probes("10.0.0.1");
    assert!((10..=12).contains(&n), "one probe per (interval − jitter·u) second, not four: {n}");

    // The same name with another definition in a second file is reported, and the first wins.
    let other = pools(&text("10.0.0.2").replace("port = 80", "port = 81"));
    let r = health.update(&[&a, &other]);
    assert_eq!(r.conflicts.len(), 2, "{r:?}");
}

#[tokio::test(start_paused = true)]
async fn unknown_state_answers_the_pools_assumption_until_the_first_result() {
    let sw = Switches { delay: Duration::from_millis(800), ..Switches::default() };
    sw.set_down("10.0.0.1", true);
    let health = HealthService::with_prober(sw.clone(), HealthOptions::default()).expect("start");
    let up = pools(&FAILOVER);
    let down = pools(&FAILOVER.replace("ttl = 60", "ttl = 60\nhealth_assume = \"down\"\nwhen_empty = \"nodata\""));
    health.update(&[&up]);
    let (vu, vd) = (health.view(&up), health.view(&down));
    assert_eq!(answer(&up, &vu), ["10.0.0.1", "10.0.0.2"], "assume up: everything answers before the first round");
    assert!(answer(&down, &vd).is_empty(), "assume down: nothing is usable yet -> when_empty (nodata)");
    assert!(!health.wait_first_round(Duration::from_millis(500)).await, "the wait is bounded");
    assert!(health.wait_first_round(Duration::from_millis(500)).await, "first round after 800 ms");
    assert_eq!(answer(&up, &vu), ["10.0.0.2"]);
    assert_eq!(answer(&down, &vd), ["10.0.0.2"]);
    let key = HealthKey { target: Target::parse("10.0.0.1").expect("t"), probe: "chk".into() };
    let st = health.status().into_iter().find(|(k, _)| *k == key).expect("status").1;
    assert_eq!(st.state, State::Down);
    assert_eq!(st.last.as_ref().map(|r| r.detail.as_str()), Some("scripted down"));
}

#[tokio::test(start_paused = true)]
async fn min_usable_fraction_moves_clients_off_a_half_dead_region() {
    let text = FAILOVER.replace("ttl = 60", "ttl = 60\nmin_usable_fraction = 0.6").replace(
        "members = [ { address = \"10.0.0.1\" }, { address = \"10.0.0.2\" } ]",
        "members = [ { address = \"10.0.0.1\" }, { address = \"10.0.0.2\" }, { address = \"10.0.0.3\" } ]",
    );
    let sw = Switches::default();
    let health = HealthService::with_prober(sw.clone(), HealthOptions::default()).expect("start");
    let p = pools(&text);
    health.update(&[&p]);
    let view = health.view(&p);
    sw.set_down("10.0.0.1", true);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(answer(&p, &view), ["10.0.0.2", "10.0.0.3"], "2/3 up ≥ 0.6: region a stays");
    sw.set_down("10.0.0.2", true);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(answer(&p, &view), ["10.0.1.1"], "1/3 up < 0.6: region b takes the clients");
}
