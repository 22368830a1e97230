//! The UDP handler's replies, from the reply cache or not, are `respond_with`'s octet for
//! octet, with the same draws of the random source and the same outcome: pooled answers kept
//! encoded and decided again (under health that changes between queries, so TTLs, regions and
//! counts move), static answers to queries with a Client Subnet option, and decisions whose
//! shape differs from the kept reply's (answered whole).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::cache::ReplyCache;
use super::reply;
use crate::config::Snapshot;
use crate::dns::{Outcome, Transport, respond_with};
use crate::pool::{HealthView, MemberId, Pools};
use crate::serving::{AnswerSource, SteeredAnswer};
use crate::util::rng::{Random, SplitMix64};

const ZONE: &str = "$ORIGIN t.test.\n$TTL 300\n@ SOA ns hostmaster 1 7200 900 1209600 300\n@ NS ns\n\
                    ns A 192.0.2.53\nstatic A 192.0.2.10\nalias CNAME mixed\n";

/// `web`: 2 addresses per answer, by weight; a member that is down makes the answers it
/// touches get the degraded TTL. `mixed`: 2 of 3 addresses, 1, or a CNAME, by region.
/// `v4only`: AAAA is NODATA.
const POOLS: &str = r#"
[names]
www = "web"
mixed = "mixed"
v4only = "v4only"

[pool.web]
ttl = 30
degraded_ttl = 5
max_answers = 2
region_policy = "nearest"
member_policy = "weighted"
default_region = "us"
[pool.web.region.us]
location = [39.04, -77.49]
members = [{ address = "192.0.2.1" }, { address = "192.0.2.2" }, { address = "2001:db8:1::1" }, { address = "2001:db8:1::2" }]
[pool.web.region.eu]
location = [53.35, -6.26]
members = [{ address = "198.51.100.1" }, { address = "198.51.100.2" }, { address = "198.51.100.3" }, { address = "2001:db8:2::1" }, { address = "2001:db8:2::2" }]
[pool.web.region.ap]
location = [1.29, 103.85]
members = [{ address = "203.0.113.1" }, { address = "203.0.113.2" }, { address = "2001:db8:3::1" }, { address = "2001:db8:3::2" }]

[pool.mixed]
ttl = 20
degraded_ttl = 4
max_answers = 2
region_policy = "nearest"
member_policy = "weighted"
default_region = "us"
[pool.mixed.region.us]
location = [39.04, -77.49]
members = [{ address = "192.0.2.21" }, { address = "192.0.2.22" }, { address = "192.0.2.23" }]
[pool.mixed.region.eu]
location = [53.35, -6.26]
members = [{ address = "198.51.100.21" }]
[pool.mixed.region.ap]
location = [1.29, 103.85]
cname = "lb.ap.example.net."

[pool.v4only]
ttl = 10
[pool.v4only.region.one]
members = [{ address = "192.0.2.31" }]
"#;

/// The test config, with members down as the test says (`down`: a bit per member id).
struct Flaky {
    snap: Snapshot,
    down: AtomicU64,
}

struct FlakyHealth(u64);

impl HealthView for FlakyHealth {
    fn is_up(&self, m: MemberId) -> bool {
        m.index() >= 64 || self.0 >> m.index() & 1 == 0
    }
}

impl AnswerSource for Flaky {
    type Health<'a> = FlakyHealth;
    fn config(&self) -> &Snapshot {
        &self.snap
    }
    fn health<'a>(&'a self, _zone: usize, _pools: &'a Pools) -> FlakyHealth {
        FlakyHealth(self.down.load(Ordering::Relaxed))
    }
}

fn snapshot() -> Snapshot {
    let dir = std::env::temp_dir().join(format!("gslbd-udp-kept-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("geoip/default-country.mmdb");
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nnsid = \"kept\"\n[geoip]\ndatabase = \"{}\"\n\
         [[zone]]\norigin = \"t.test.\"\nfile = \"t.zone\"\npools = \"t.pools.toml\"\n",
        db.display()
    );
    std::fs::write(dir.join("gslbd.toml"), config).unwrap();
    std::fs::write(dir.join("t.zone"), ZONE).unwrap();
    std::fs::write(dir.join("t.pools.toml"), POOLS).unwrap();
    let snap = crate::config::load(&dir.join("gslbd.toml")).expect("the test config loads");
    let _ = std::fs::remove_dir_all(&dir);
    snap
}

/// An ECS option's family, source prefix and address octets (which may have bits past the
/// prefix).
type Ecs = (u16, u8, Vec<u8>);

/// A query: `name`, `qtype`, and an OPT (DO bit, NSID, an ECS option) when `edns`.
fn query(id: u16, name: &str, qtype: u16, edns: Option<(bool, bool, Option<Ecs>)>) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    if let Some((dnssec_ok, nsid, ecs)) = edns {
        let mut opts = Vec::new();
        if nsid {
            opts.extend_from_slice(&[0, 3, 0, 0]);
        }
        if let Some((family, prefix, addr)) = ecs {
            opts.extend_from_slice(&[0, 8]);
            opts.extend_from_slice(&(4 + addr.len() as u16).to_be_bytes());
            opts.extend_from_slice(&family.to_be_bytes());
            opts.extend_from_slice(&[prefix, 0]);
            opts.extend_from_slice(&addr);
        }
        q.extend_from_slice(&[0, 0, 41, 4, 0xD0, 0, 0, if dnssec_ok { 0x80 } else { 0 }, 0]);
        q.extend_from_slice(&(opts.len() as u16).to_be_bytes());
        q.extend_from_slice(&opts);
    }
    q
}

/// A Client Subnet option: mostly well formed (the address cut to the prefix), sometimes with
/// a bit past the prefix.
fn ecs(rng: &mut SplitMix64) -> Ecs {
    let v6 = rng.next_u64().is_multiple_of(3);
    let prefixes: &[u8] = if v6 { &[0, 32, 48, 56, 64, 128] } else { &[0, 16, 20, 24, 32] };
    let prefix = prefixes[(rng.next_u64() % prefixes.len() as u64) as usize];
    let mut addr: Vec<u8> = rng.next_u64().to_be_bytes().iter().chain(&rng.next_u64().to_be_bytes()).copied().collect();
    addr.truncate(usize::from(prefix).div_ceil(8));
    let spare = (8 - prefix % 8) % 8;
    if let Some(last) = addr.last_mut()
        && !rng.next_u64().is_multiple_of(50)
    {
        *last &= 0xFFu8 << spare;
    }
    (if v6 { 2 } else { 1 }, prefix, addr)
}

#[test]
fn every_reply_is_respond_with_s_octet_for_octet() {
    let snap = Flaky { snap: snapshot(), down: AtomicU64::new(0) };
    let mut cache: ReplyCache<Flaky> = ReplyCache::new();
    let mut rng = SplitMix64::new(7);
    let mut draw = SplitMix64::new(11);
    let (mut out, mut expect) = (Vec::with_capacity(2048), Vec::with_capacity(2048));
    let (mut outcome, mut expect_outcome) = (Outcome::default(), Outcome::default());
    let names = [
        "www.t.test.",
        "WwW.t.test.",
        "mixed.t.test.",
        "alias.t.test.",
        "v4only.t.test.",
        "static.t.test.",
        "nope.t.test.",
    ];
    let (mut kept_pooled, mut kept_static, mut whole_pooled) = (0, 0, 0);
    for i in 0..20_000u32 {
        let name = names[(draw.next_u64() % names.len() as u64) as usize];
        let qtype = [1u16, 28, 255, 15][(draw.next_u64() % 4) as usize];
        let edns = match draw.next_u64() % 8 {
            0 => None,
            1 => Some((false, false, None)),
            2 => Some((true, true, Some(ecs(&mut draw)))),
            _ => Some((false, draw.next_u64().is_multiple_of(4), Some(ecs(&mut draw)))),
        };
        let q = query(i as u16, name, qtype, edns);
        let client = if draw.next_u64().is_multiple_of(2) {
            IpAddr::V4(Ipv4Addr::from(draw.next_u64() as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(u128::from(draw.next_u64()) << 64))
        };
        // Most of the time every member is up; otherwise one or two of the first 24 are down.
        let down = match draw.next_u64() % 4 {
            0 => 1 << (draw.next_u64() % 24),
            1 => 1 << (draw.next_u64() % 24) | 1 << (draw.next_u64() % 24),
            _ => 0,
        };
        snap.down.store(down, Ordering::Relaxed);
        // Before: whether a slot keeps the reply, and how many addresses a pooled one holds.
        let hit = cache.find(&q).map(|h| h.pooled().map(|p| p.len()));
        let mut theirs = rng.clone();
        expect.clear();
        let want = respond_with(&snap, &q, client, Transport::Udp, &mut expect, &mut theirs, &mut expect_outcome);
        out.clear();
        let got = reply(&snap, &mut cache, &q, client, &mut out, &mut rng, &mut outcome);
        assert_eq!(got, want.map(|w| w.len), "query {i}: {q:?}");
        assert_eq!(out, expect, "query {i}: {q:?} from {client}");
        assert_eq!(format!("{outcome:?}"), format!("{expect_outcome:?}"), "query {i}");
        assert_eq!(rng.next_u64(), theirs.next_u64(), "query {i}: the same draws");
        let steered =
            outcome.steered.map(|s| (matches!(s.answer, SteeredAnswer::Addresses(_)), s.answer.addresses().len()));
        match hit {
            Some(Some(n)) if steered == Some((true, n)) => kept_pooled += 1,
            Some(Some(_)) => whole_pooled += 1,
            Some(None) => kept_static += 1,
            None => {}
        }
    }
    // Each path was taken, often: a kept pooled reply decided again, a kept static reply to
    // a query with ECS, and a decision of another shape than the kept one answered whole.
    println!("kept pooled {kept_pooled}, kept static {kept_static}, pooled answered whole {whole_pooled}");
    assert!(kept_pooled > 2_000 && kept_static > 2_000 && whole_pooled > 100);
}
