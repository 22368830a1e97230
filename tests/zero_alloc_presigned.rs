//! Zero allocations per query for the answers of a pre-signed zone with DO=1 (issue 13): the
//! RRSIGs, the NSEC and NSEC3 proofs (NSEC3 hashes included), wildcards, referrals and DNAME
//! substitution cost no heap allocation, as tests/zero_alloc.rs asserts for the default setup
//! on the UDP worker. Here `dns::respond`, which that worker runs for each packet, answers
//! in this process from the corpus's s01 (NSEC3) and s02 (NSEC), and a counting global
//! allocator (tests/support/counting.rs) counts what this thread allocates.
mod support;

use std::net::IpAddr;
use std::path::Path;

use gslbd::dns::{Transport, respond};
use gslbd::util::rng::SplitMix64;
use support::counting::{self, Counting};
use support::dnssec::wire_query_do;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// (name, type): a positive answer, a CNAME, NODATA at a name and at an empty non-terminal,
/// NXDOMAIN, a wildcard answer and wildcard NODATA, a signed and an insecure referral, a DNAME.
const QUERIES: [(&str, u16); 11] = [
    ("www.example.com.", 1),
    ("alias.example.com.", 1),
    ("www.example.com.", 15),
    ("c.ent.example.com.", 1),
    ("nope.example.com.", 1),
    ("zzz.example.com.", 28),
    ("x.wild.example.com.", 1),
    ("x.wild.example.com.", 16),
    ("www.child.example.com.", 1),
    ("insecure.example.com.", 1),
    ("x.dn.example.com.", 1),
];

#[test]
fn signed_answers_allocate_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["s01-signed-bind.zone", "s02-signed-ldns.zone"] {
        let dir = std::env::temp_dir().join(format!("gslbd-zero-alloc-{}-{file}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("gslbd.toml");
        let zone = root.join("tests/fixtures/zone-corpus").join(file);
        let text = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[[zone]]\norigin = \"example.com.\"\nfile = \"{}\"\n\
             signing = \"presigned\"\n",
            zone.display()
        );
        std::fs::write(&config, text).unwrap();
        let snap = gslbd::config::load(&config).expect("the signed zone loads");
        let _ = std::fs::remove_dir_all(&dir);
        let client: IpAddr = "127.0.0.1".parse().unwrap();
        let mut out = Vec::with_capacity(65536);
        let mut rng = SplitMix64::new(1);
        for (name, qtype) in QUERIES {
            let q = wire_query_do(name, qtype, None);
            // Warm-up, and the answer carries signatures (DNSSEC records were added).
            let w = respond(&snap, &q, client, Transport::Udp, &mut out, &mut rng).expect("an answer");
            assert!(out[..w.len].windows(2).any(|p| p == [0, 46]), "{file}: {name} {qtype}: no RRSIG in the answer");
            counting::start();
            for _ in 0..200 {
                respond(&snap, &q, client, Transport::Udp, &mut out, &mut rng);
            }
            let n = counting::stop();
            assert_eq!(n, 0, "{file}: {name} type {qtype}: {n} allocations in 200 answers");
        }
    }
}
