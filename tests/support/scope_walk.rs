//! Checking an ECS scope against the GeoIP database itself: every network that maxminddb's
//! iterator (a reader we did not write) lists inside the scope block, with and without data,
//! aliases included, and the order a `nearest` pool tries its regions in for each of them,
//! computed here from the coordinates (not by gslbd's scope maps).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use gslbd::config::Snapshot;
use gslbd::dns::{Transport, respond};
use gslbd::geo::{Coordinates, distance_km};
use gslbd::util::rng::SplitMix64;
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use ipnet::IpNet;
use maxminddb::{Reader, WithinOptions};

use super::ecs::ecs_of;
use super::query::{EdnsSpec, QuerySpec};

/// The three regions of the peer benchmark's pool (`benches/peers/templates/pools.toml`), in
/// file order; the first is the default region.
pub const REGIONS: [(&str, f64, f64); 3] =
    [("us-east", 39.04, -77.49), ("eu-west", 53.35, -6.26), ("ap-southeast", 1.29, 103.85)];

/// Member addresses of each region in that pool file: the answer tells the region.
pub const MEMBERS: [[&str; 2]; 3] =
    [["192.0.2.1", "192.0.2.2"], ["198.51.100.1", "198.51.100.2"], ["203.0.113.1", "203.0.113.2"]];

/// The pool file of the peer benchmark, plus `www2`: the same regions with ap-southeast's
/// members marked down (so not every region is usable and the any-health blocks apply).
pub const POOLS: &str = r#"
[names]
www = "web"
www2 = "web2"

[pool.web]
ttl = 30
max_answers = 1
region_policy = "nearest"
member_policy = "weighted"
default_region = "us-east"
[pool.web.region.us-east]
location = [39.04, -77.49]
members = [ { address = "192.0.2.1", weight = 3 }, { address = "192.0.2.2", weight = 1 } ]
[pool.web.region.eu-west]
location = [53.35, -6.26]
members = [ { address = "198.51.100.1", weight = 3 }, { address = "198.51.100.2", weight = 1 } ]
[pool.web.region.ap-southeast]
location = [1.29, 103.85]
members = [ { address = "203.0.113.1", weight = 3 }, { address = "203.0.113.2", weight = 1 } ]

[pool.web2]
ttl = 30
max_answers = 1
region_policy = "nearest"
member_policy = "weighted"
default_region = "us-east"
[pool.web2.region.us-east]
location = [39.04, -77.49]
members = [ { address = "192.0.2.1", weight = 3 }, { address = "192.0.2.2", weight = 1 } ]
[pool.web2.region.eu-west]
location = [53.35, -6.26]
members = [ { address = "198.51.100.1", weight = 3 }, { address = "198.51.100.2", weight = 1 } ]
[pool.web2.region.ap-southeast]
location = [1.29, 103.85]
members = [ { address = "203.0.113.1", weight = 3, down = true }, { address = "203.0.113.2", weight = 1, down = true } ]
"#;

/// The order a client at `coords` is tried in: regions by distance, then the default
/// region, then file order (a client without coordinates starts at the default region).
pub fn region_order(coords: Option<Coordinates>) -> Vec<usize> {
    let mut order: Vec<(f64, usize)> = match coords {
        Some(c) => REGIONS
            .iter()
            .enumerate()
            .map(|(i, (_, lat, lon))| (distance_km(c, Coordinates::new(*lat, *lon).unwrap()), i))
            .collect(),
        None => Vec::new(),
    };
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<usize> = order.into_iter().map(|(_, i)| i).collect();
    for i in 0..REGIONS.len() {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// The region an answer address belongs to.
pub fn region_of(address: &str) -> Option<usize> {
    MEMBERS.iter().position(|m| m.contains(&address))
}

/// One network of the database: first address (as u128, IPv4 in the low 32 bits) and prefix.
#[derive(Clone, Copy, Debug)]
struct Net {
    start: u128,
    prefix: u8,
}

/// Every network of a database, per family, sorted.
pub struct Walker {
    v4: Vec<Net>,
    v6: Vec<Net>,
}

impl Walker {
    pub fn new(bytes: &[u8]) -> Walker {
        let reader = Reader::from_source(bytes).expect("a MaxMind DB");
        let opts = || WithinOptions::default().include_networks_without_data().include_aliased_networks();
        let list = |cidr: &str| -> Vec<Net> {
            let mut v: Vec<Net> = reader
                .within(cidr.parse().unwrap(), opts())
                .expect("within")
                .map(|r| {
                    let n = r.expect("network").network().expect("network");
                    let start = match n.ip() {
                        IpAddr::V4(a) => u128::from(u32::from(a)),
                        IpAddr::V6(a) => u128::from(a),
                    };
                    Net { start, prefix: n.prefix() }
                })
                .collect();
            v.sort_by_key(|n| n.start);
            v
        };
        Walker { v4: list("0.0.0.0/0"), v6: list("::/0") }
    }

    /// One address of every database network that overlaps `block`.
    pub fn inside(&self, block: IpNet) -> Vec<IpAddr> {
        let block = block.trunc();
        let (list, bits, start) = match block {
            IpNet::V4(b) => (&self.v4, 32u32, u128::from(u32::from(b.network()))),
            IpNet::V6(b) => (&self.v6, 128u32, u128::from(b.network())),
        };
        let size = |p: u8| if u32::from(p) >= bits { 1u128 } else { 1u128 << (bits - u32::from(p)) };
        let end = start + (size(block.prefix_len()) - 1);
        // The network holding `start`, then every one starting inside the block.
        let first = list.partition_point(|n| n.start <= start).saturating_sub(1);
        let addr = |v: u128| match block {
            IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(v as u32)),
            IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(v)),
        };
        list[first..]
            .iter()
            .take_while(|n| n.start <= end)
            .filter(|n| n.start + (size(n.prefix) - 1) >= start)
            .map(|n| addr(n.start.max(start)))
            .collect()
    }
}

/// The first A answer and the ECS scope for `qname` asked with ECS `subnet`.
pub fn ask(snap: &Snapshot, qname: &str, subnet: IpNet) -> (String, u8) {
    // A whatever the ECS family: the members are IPv4, and the answer names the region.
    let mut q = QuerySpec::new(qname, RecordType::A);
    q.edns = Some(EdnsSpec { options: vec![super::ecs::ecs_option(&subnet.to_string())], ..EdnsSpec::default() });
    let mut out = Vec::new();
    let bytes = q.to_message(1).to_vec().unwrap();
    let w = respond(snap, &bytes, "127.0.0.1".parse().unwrap(), Transport::Udp, &mut out, &mut SplitMix64::new(7))
        .expect("a reply");
    let m = Message::from_vec(&out[..w.len]).unwrap();
    let first = m.answers.first().map(|r| r.data.to_string()).unwrap_or_default();
    let ecs = ecs_of(&m);
    let scope = ecs.first().and_then(|e| e.rsplit('/').next()).and_then(|s| s.parse().ok()).expect("an ECS option");
    (first, scope)
}
