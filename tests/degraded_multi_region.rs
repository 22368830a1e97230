//! `degraded_ttl` (issue 18: the short TTL only for answers a down member touches) meets the
//! answers of issue 19: several regions in one answer (`regions_per_answer`) and the latency
//! policy. Neither side tested the other:
//! - an answer from two regions is touched by a down member of its *second* region (that
//!   member is missing from the answer and comes back into it), so it gets the short TTL,
//!   although the first region, the one issue 18's check looked at, has nothing down;
//! - a latency pool decides by the probes' RTTs: a down member of a region that does not
//!   answer leaves the TTL alone, because the all-up decision that issue 18 makes to see
//!   whether the client was moved reads the same RTTs (without them it would fall back to
//!   `nearest`, pick another region and wrongly shorten every answer).
//!
//! The pure decision on a compiled pool file, health and RTTs given as data.
mod support;

use std::net::IpAddr;

use gslbd::pool::{HealthView, MemberId, MemberTarget, PoolId, Pools, RegionId, Rtt};
use gslbd::steer::{Answer, Explain, Family, decide};
use gslbd::util::rng::SplitMix64;
use support::decide_fixtures::{dublin, pools};

fn member(p: &Pools, addr: &str) -> MemberId {
    let a: IpAddr = addr.parse().unwrap();
    p.members().find(|(_, m)| m.target == MemberTarget::Address(a)).map(|(i, _)| i).expect(addr)
}

/// Members up but `down`; RTT estimates per member (10 samples each), no leader yet.
struct View {
    down: Option<MemberId>,
    rtt_ms: Vec<f64>,
}

impl HealthView for View {
    fn is_up(&self, m: MemberId) -> bool {
        Some(m) != self.down
    }
    fn member_rtt(&self, m: MemberId) -> Option<Rtt> {
        self.rtt_ms.get(m.index()).map(|&ms| Rtt { ms, samples: 10 })
    }
    fn latency_leader(&self, _: PoolId) -> Option<RegionId> {
        None
    }
}

/// The addresses and TTL `decide` answers `dublin()` with, and the explanation.
fn ask(p: &Pools, h: &View) -> (Vec<String>, u32, String) {
    let id = p.pool_id("web").unwrap();
    let mut ex = Explain::new();
    let d = decide(p, id, Family::V4, &dublin(), h, &mut SplitMix64::new(1), Some(&mut ex));
    let addrs = match d.answer {
        Answer::Addresses(l) => l.as_slice().iter().map(IpAddr::to_string).collect(),
        _ => Vec::new(),
    };
    (addrs, d.ttl, ex.to_string())
}

const TWO_OF_THREE: &str = r#"
[names]
www = "web"
[pool.web]
ttl = 60
degraded_ttl = 5
region_policy = "failover"
failover_order = ["east", "west", "south"]
member_policy = "all"
max_answers = 4
regions_per_answer = 2
[pool.web.region.east]
members = [ { address = "10.0.1.1" }, { address = "10.0.1.2" } ]
[pool.web.region.west]
members = [ { address = "10.0.2.1" }, { address = "10.0.2.2" } ]
[pool.web.region.south]
members = [ { address = "10.0.3.1" } ]
"#;

#[test]
fn a_down_member_of_the_second_answering_region_shortens_the_ttl() {
    let p = pools(TWO_OF_THREE);
    let up = View { down: None, rtt_ms: Vec::new() };
    let (a, ttl, ex) = ask(&p, &up);
    assert_eq!(a, ["10.0.1.1", "10.0.1.2", "10.0.2.1", "10.0.2.2"], "east and west, 2 each: {ex}");
    assert_eq!(ttl, 60, "nothing down: {ex}");
    // 10.0.2.2 (west, the second region of the answer) down: the answer lacks it, and will
    // have it again when it returns, so it is cached only for degraded_ttl.
    let west_down = View { down: Some(member(&p, "10.0.2.2")), rtt_ms: Vec::new() };
    let (a, ttl, ex) = ask(&p, &west_down);
    assert_eq!(a, ["10.0.1.1", "10.0.1.2", "10.0.2.1"], "{ex}");
    assert_eq!(ttl, 5, "a down member of an answering region touches the answer: {ex}");
    // And a down member of the first region, as issue 18 tested for one-region answers.
    let east_down = View { down: Some(member(&p, "10.0.1.2")), rtt_ms: Vec::new() };
    let (a, ttl, ex) = ask(&p, &east_down);
    assert_eq!(a, ["10.0.1.1", "10.0.2.1", "10.0.2.2"], "{ex}");
    assert_eq!(ttl, 5, "{ex}");
}

const LATENCY: &str = r#"
[names]
www = "web"
[pool.web]
ttl = 60
degraded_ttl = 5
region_policy = "latency"
latency_min_samples = 3
member_policy = "all"
[pool.web.region.tokyo]
location = [35.7, 139.7]
members = [ { address = "10.0.1.1" } ]
[pool.web.region.dublin]
location = [53.35, -6.26]
members = [ { address = "10.0.3.1" }, { address = "10.0.3.2" } ]
"#;

#[test]
fn a_down_member_outside_a_latency_answer_leaves_the_ttl_alone() {
    let p = pools(LATENCY);
    // Tokyo measures 5 ms from this node, Dublin 80 ms: the latency choice is Tokyo although
    // the client is in Dublin (nearest would pick Dublin).
    let mut rtt_ms = vec![0.0; 3];
    rtt_ms[member(&p, "10.0.1.1").index()] = 5.0;
    rtt_ms[member(&p, "10.0.3.1").index()] = 80.0;
    rtt_ms[member(&p, "10.0.3.2").index()] = 80.0;
    let (a, ttl, ex) = ask(&p, &View { down: None, rtt_ms: rtt_ms.clone() });
    assert_eq!((a, ttl), (vec!["10.0.1.1".to_string()], 60), "{ex}");
    // One of Dublin's two members down: Dublin still usable, not answering, and with every
    // member up this client would get Tokyo all the same: the TTL stays 60.
    let dublin_member_down = View { down: Some(member(&p, "10.0.3.2")), rtt_ms: rtt_ms.clone() };
    let (a, ttl, ex) = ask(&p, &dublin_member_down);
    assert_eq!((a, ttl), (vec!["10.0.1.1".to_string()], 60), "{ex}");
    // Tokyo's only member down: the client is moved to Dublin, and back when it returns.
    let tokyo_down = View { down: Some(member(&p, "10.0.1.1")), rtt_ms };
    let (a, ttl, ex) = ask(&p, &tokyo_down);
    assert_eq!((a, ttl), (vec!["10.0.3.1".to_string(), "10.0.3.2".to_string()], 5), "{ex}");
}
