//! Zero allocations per query: the real UDP fast-path worker (`gslbd::dns::udp::serve` with
//! gslbd's `DnsHandler`) on a real loopback socket, in this process, with the default setup
//! (zones/, the shipped GeoIP database). A counting global allocator counts the heap
//! allocations made on the worker's thread only. After a warm-up, thousands of pooled A and
//! AAAA queries with ECS from many different subnets (so GeoIP lookups and the decision
//! cache are exercised), static answers and NXDOMAINs must cost exactly 0 allocations, and
//! the answers must be right: region per subnet, ECS scope, rcode.
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use gslbd::config;
use gslbd::dns::rrl::Rrl;
use gslbd::dns::server::{SharedSnapshot, udp_socket};
use gslbd::dns::udp::{DnsHandler, serve};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use support::{QuerySpec, answers_of, ecs_of, ecs_query};

/// Counts allocations (alloc, alloc_zeroed, realloc) made by threads that opted in.
struct Counting;

thread_local!(static TRACKED: Cell<bool> = const { Cell::new(false) });
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn count() {
    if TRACKED.try_with(|t| t.get()).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
// a const-initialised thread-local and an atomic, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, new) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The default setup served by one fast-path worker thread on 127.0.0.1:0.
fn start_worker() -> SocketAddr {
    let snap = config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("gslbd.toml")).expect("default config loads");
    assert!(snap.geo.is_some(), "the default setup has a GeoIP database");
    let rrl = Arc::new(Rrl::new(&snap.server.rrl));
    let shared: SharedSnapshot = Arc::new(ArcSwap::from_pointee(snap));
    let sock = udp_socket("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        TRACKED.with(|t| t.set(true));
        let e = serve(sock, DnsHandler::new(shared, rrl));
        panic!("worker stopped: {e:?}");
    });
    addr
}

/// Sends `queries` in windows of 16 (so the worker sees batches), returns the replies in order.
fn exchange_all(client: &UdpSocket, to: SocketAddr, queries: &[Vec<u8>]) -> Vec<Message> {
    let mut replies = Vec::with_capacity(queries.len());
    let mut buf = [0u8; 2048];
    for window in queries.chunks(16) {
        for q in window {
            client.send_to(q, to).unwrap();
        }
        let mut got: Vec<Message> = Vec::new();
        while got.len() < window.len() {
            let (n, _) = client.recv_from(&mut buf).expect("every query is answered");
            got.push(Message::from_vec(&buf[..n]).expect("the reply parses"));
        }
        // Put them back in query order (the ids are distinct within a window).
        for q in window {
            let id = u16::from_be_bytes([q[0], q[1]]);
            let i = got.iter().position(|m| m.metadata.id == id).expect("a reply per query id");
            replies.push(got.swap_remove(i));
        }
    }
    replies
}

fn query(id: u16, name: &str, t: RecordType, ecs: Option<&str>) -> Vec<u8> {
    let mut m = match ecs {
        Some(_) => ecs_query(name, t, ecs),
        None => ecs_query(name, t, None),
    };
    m.metadata.id = id;
    m.to_vec().unwrap()
}

/// Subnets the shipped database places, with the region `www` answers and the scope.
const KNOWN: [(&str, &str, &str, &str); 3] = [
    ("81.2.69.0/24", "198.51.100.", "2001:db8:2::", "81.2.69.0/24/14"),
    ("1.0.16.0/24", "203.0.113.", "2001:db8:3::", ""),
    ("18.0.0.0/24", "192.0.2.", "2001:db8:1::", ""),
];

#[test]
fn steady_state_udp_handling_allocates_nothing() {
    let addr = start_worker();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    // 2,000 pooled queries: A and AAAA, ECS from 1,000 different /24s (IPv4) and /48s (IPv6),
    // with the known subnets mixed in so that answers can be checked.
    let mut queries = Vec::new();
    let mut expect: Vec<Option<(usize, bool)>> = Vec::new();
    let mut x: u32 = 0x2545_F491;
    for i in 0..2000u32 {
        let t = if i % 2 == 0 { RecordType::A } else { RecordType::AAAA };
        let (subnet, known) = if i % 10 < 3 {
            (KNOWN[(i % 10) as usize].0.to_string(), Some(((i % 10) as usize, t == RecordType::AAAA)))
        } else {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i % 5 == 4 {
                (format!("2a{:02x}:{:x}:{:x}::/48", x >> 24, (x >> 8) & 0xffff, x & 0xff), None)
            } else {
                (format!("{}.{}.{}.0/24", 1 + (x >> 24) % 223, (x >> 16) & 0xff, (x >> 8) & 0xff), None)
            }
        };
        queries.push(query(i as u16, "www.gslb.example.com.", t, Some(&subnet)));
        expect.push(known);
    }
    let statics = vec![
        query(60_001, "static.gslb.example.com.", RecordType::A, None),
        query(60_002, "chain.gslb.example.com.", RecordType::A, Some("81.2.69.0/24")),
        QuerySpec::new("gslb.example.com.", RecordType::SOA).to_message(60_003).to_vec().unwrap(),
    ];
    let nxdomain = vec![query(60_004, "nope.gslb.example.com.", RecordType::A, Some("81.2.69.0/24"))];

    // Warm-up: every kind of query once through (thread-locals, first-touch of the caches).
    exchange_all(&client, addr, &queries[..200]);
    exchange_all(&client, addr, &statics);
    exchange_all(&client, addr, &nxdomain);

    // The counter works: it saw the worker allocate its buffers when it started.
    assert!(ALLOCATIONS.load(Ordering::SeqCst) > 0, "the worker's start-up allocations are counted");
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let replies = exchange_all(&client, addr, &queries);
    let pooled_allocs = ALLOCATIONS.load(Ordering::SeqCst) - before;

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut static_replies = Vec::new();
    let mut nx_replies = Vec::new();
    for _ in 0..100 {
        static_replies = exchange_all(&client, addr, &statics);
        nx_replies = exchange_all(&client, addr, &nxdomain);
    }
    let static_allocs = ALLOCATIONS.load(Ordering::SeqCst) - before;

    // The answers are right.
    for (m, known) in replies.iter().zip(&expect) {
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(m.answers.len(), 2, "max_answers = 2 for www");
        assert_eq!(ecs_of(m).len(), 1, "the ECS option is echoed");
        if let Some((k, v6)) = known {
            let (subnet, v4_prefix, v6_prefix, scope) = KNOWN[*k];
            let prefix = if *v6 { v6_prefix } else { v4_prefix };
            for (_, ttl, _, rdata) in answers_of(m) {
                assert!(rdata.starts_with(prefix), "{subnet}: {rdata} is not in {prefix}*");
                assert_eq!(ttl, 30);
            }
            if !scope.is_empty() {
                assert_eq!(ecs_of(m), vec![scope.to_string()], "{subnet}: ECS scope is the GeoIP network");
            }
        }
    }
    assert_eq!(
        answers_of(&static_replies[0]),
        vec![("static.gslb.example.com.".into(), 3600, "A".into(), "192.0.2.10".into())]
    );
    assert_eq!(static_replies[1].answers.len(), 3, "chain -> alias -> static");
    assert_eq!(ecs_of(&static_replies[1]), vec!["81.2.69.0/24/0".to_string()], "static data: scope 0");
    assert_eq!(static_replies[2].answers[0].record_type(), RecordType::SOA);
    assert_eq!(nx_replies[0].metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(nx_replies[0].authorities[0].record_type(), RecordType::SOA);

    println!(
        "worker allocations: {pooled_allocs} for 2000 pooled queries with ECS, {static_allocs} for 400 static/NXDOMAIN queries"
    );
    assert_eq!(pooled_allocs, 0, "pooled A/AAAA with ECS: allocations on the worker thread");
    assert_eq!(static_allocs, 0, "static answers and NXDOMAIN: allocations on the worker thread");
}
