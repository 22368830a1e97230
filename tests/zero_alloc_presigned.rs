//! Zero allocations per query for the answers of a pre-signed zone with DO=1 (issue 13): the
//! RRSIGs, the NSEC and NSEC3 proofs (NSEC3 hashes included), wildcards, referrals and DNAME
//! substitution cost no heap allocation, as tests/zero_alloc.rs asserts for the default setup
//! on the UDP worker. Here `dns::respond`, which that worker runs for each packet, answers
//! in this process from the corpus's s01 (NSEC3) and s02 (NSEC), and a counting global
//! allocator counts what this thread allocates. (The allocator is this file's own: a test
//! binary has one, and tests/zero_alloc.rs keeps its.)
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use gslbd::dns::{Transport, respond};
use gslbd::util::rng::SplitMix64;

struct CountingAllocator;

thread_local!(static COUNTING: Cell<bool> = const { Cell::new(false) });
static COUNT: AtomicU64 = AtomicU64::new(0);

fn note() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: each call goes to the system allocator unchanged; `note` touches only a
// const-initialised thread-local and an atomic, and allocates nothing.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

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

/// A query with EDNS (payload 1232) and DO.
fn query(name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1, 0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
    q
}

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
            let q = query(name, qtype);
            // Warm-up, and the answer carries signatures (DNSSEC records were added).
            let w = respond(&snap, &q, client, Transport::Udp, &mut out, &mut rng).expect("an answer");
            assert!(out[..w.len].windows(2).any(|p| p == [0, 46]), "{file}: {name} {qtype}: no RRSIG in the answer");
            COUNT.store(0, Ordering::Relaxed);
            COUNTING.with(|c| c.set(true));
            for _ in 0..200 {
                respond(&snap, &q, client, Transport::Udp, &mut out, &mut rng);
            }
            COUNTING.with(|c| c.set(false));
            let n = COUNT.load(Ordering::Relaxed);
            assert_eq!(n, 0, "{file}: {name} type {qtype}: {n} allocations in 200 answers");
        }
    }
}
