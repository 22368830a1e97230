//! Zero allocations per answer from an online-signed zone with DO=1 (issue 15): once an
//! answer set's RRSIG or a denial's NSEC is in the signer's cache, answering it again is a
//! hash, a read lock, a compare and a reference count, and allocates nothing, like the rest
//! of the UDP path (tests/zero_alloc.rs, unmodified, asserts that for the unsigned path on a
//! real socket). Here `dns::respond`, which the UDP worker runs for each packet, answers in
//! this process from the default setup signed online with `presign_limit = 0`, so every
//! pooled answer set goes through the bounded cache: a first pass fills it (cache misses sign
//! and allocate), a second pass must allocate nothing.
mod support;

use std::net::IpAddr;

use gslbd::dns::{Transport, respond};
use gslbd::util::rng::SplitMix64;
use support::counting::{self, Counting};
use support::dnssec::{TOKEN, default_zone, signed_config, wire_query_do as query};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// (name, type): static, CNAME chain, NXDOMAIN (shallow and deep), NODATA, an empty
/// non-terminal, wildcard answer and NODATA, DNSKEY, an insecure referral, DS denial at the
/// cut, NSEC asked for, SRV with glue, a pooled failover answer.
const STATIC: [(&str, u16); 14] = [
    ("static.gslb.example.com.", 1),
    ("chain.gslb.example.com.", 1),
    ("nope.gslb.example.com.", 1),
    ("a.b.nope.gslb.example.com.", 16),
    ("static.gslb.example.com.", 15),
    ("deep.gslb.example.com.", 1),
    ("x.wild.gslb.example.com.", 1),
    ("x.wild.gslb.example.com.", 15),
    ("gslb.example.com.", 48),
    ("host.child.gslb.example.com.", 1),
    ("child.gslb.example.com.", 43),
    ("static.gslb.example.com.", 47),
    ("_sip._udp.gslb.example.com.", 33),
    ("api.gslb.example.com.", 1),
];

#[test]
fn signed_answers_from_the_cache_allocate_nothing() {
    let dir = support::TempDir::new("zero-alloc-online");
    let (zone, pools) = default_zone();
    dir.write("zone.zone", &zone);
    dir.write("pools.toml", &pools);
    dir.write("token", TOKEN);
    let config = dir.write("gslbd.toml", &signed_config("presign_limit = 0", ""));
    let snap = gslbd::config::load(&config).expect("the signed default setup loads");
    let client: IpAddr = "127.0.0.1".parse().unwrap();
    let mut out = Vec::with_capacity(65536);
    let mut rng = SplitMix64::new(1);

    // 1,000 clients' subnets (IPv4 /24s all over), A and AAAA for the pooled name.
    let mut pooled = Vec::new();
    let mut x: u32 = 0x2545_F491;
    for i in 0..1000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let net = [1 + (x >> 24) as u8 % 223, (x >> 16) as u8, (x >> 8) as u8];
        pooled.push(query("www.gslb.example.com.", if i % 2 == 0 { 1 } else { 28 }, Some(net)));
    }
    let statics: Vec<Vec<u8>> = STATIC.iter().map(|(n, t)| query(n, *t, None)).collect();

    // First pass: the caches fill (misses sign). Every reply carries signatures.
    for q in pooled.iter().chain(&statics) {
        let w = respond(&snap, q, client, Transport::Udp, &mut out, &mut rng).expect("an answer");
        assert!(out[..w.len].windows(2).any(|p| p == [0, 46]), "no RRSIG in the reply to {q:02x?}");
    }
    let signer = snap.zones.zones()[0].signer.clone().expect("signed online");
    let made = signer.counters.answers.load(std::sync::atomic::Ordering::Relaxed);
    assert!(made > 0, "pooled answer sets were signed on first use (presign_limit = 0)");

    counting::start();
    for _ in 0..3 {
        for q in &pooled {
            respond(&snap, q, client, Transport::Udp, &mut out, &mut rng);
        }
    }
    let pooled_allocs = counting::stop();
    counting::start();
    for _ in 0..200 {
        for q in &statics {
            respond(&snap, q, client, Transport::Udp, &mut out, &mut rng);
        }
    }
    let static_allocs = counting::stop();
    let hits = signer.answers.counters.hits.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{pooled_allocs} allocations in 3000 signed pooled answers, {static_allocs} in {} signed static/denial answers; \
         {made} answer sets signed, {hits} cache hits",
        200 * STATIC.len()
    );
    assert_eq!(pooled_allocs, 0, "signed pooled answers from the cache");
    assert_eq!(static_allocs, 0, "signed static answers and denials from the cache");
    assert_eq!(signer.counters.answers.load(std::sync::atomic::Ordering::Relaxed), made, "no new signature on a hit");
}
