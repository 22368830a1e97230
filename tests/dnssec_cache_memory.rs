//! Heap bytes per entry of the pooled-answer signature cache (the README's figure): a signer
//! of the default setup, its cache filled with 20,000 distinct answer sets, a counting
//! allocator measuring what stays allocated. Run by hand (20,000 signatures):
//!   cargo test --test dnssec_cache_memory -- --ignored --nocapture
mod support;

use std::net::IpAddr;

use support::counting::{self, Counting};
use support::dnssec::{TOKEN, default_zone, signed_config};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
#[ignore]
fn memory_per_cached_signature() {
    let dir = support::TempDir::new("cache-memory");
    let (zone, pools) = default_zone();
    dir.write("zone.zone", &zone);
    dir.write("pools.toml", &pools);
    dir.write("token", TOKEN);
    let config = dir.write("gslbd.toml", &signed_config("presign_limit = 0\nanswer_cache = 20000", ""));
    let snap = gslbd::config::load(&config).unwrap();
    let signer = snap.zones.zones()[0].signer.clone().unwrap();
    let owner = hickory_proto::rr::Name::from_ascii("www.gslb.example.com.").unwrap();
    let n = 20_000u32;
    counting::start();
    for i in 0..n {
        let a = IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
        let b = IpAddr::from([10, 200, (i >> 8) as u8, i as u8]);
        signer.addresses(&owner, hickory_proto::rr::RecordType::A, 30, &[a, b]);
    }
    counting::stop();
    let entries = signer.answers.len();
    let per = counting::net_bytes() as f64 / entries as f64;
    println!(
        "{entries} entries (bound {}): {per:.0} heap bytes per cached answer-set signature",
        signer.answers.capacity()
    );
    assert!(entries <= signer.answers.capacity() && entries > 19_000);
}
