//! Wire bytes → full request handling (`gslbd::dns::respond`) on the default setup (the
//! `gslb.example.com.` zone with its pools and GeoIP data), from one of four resolvers
//! (picked by the input's hash), over UDP and TCP, then the response rate limiter
//! on the reply. Judged by `tests/support/invariants.rs` (`check_exchange`): dropped only as the RFCs
//! say, otherwise a parsable reply with the query's ID, opcode and question, within the
//! client's size limit. A slipped reply (RRL) must parse too, with TC set and no records.
//! Then the same input twice through the UDP handler (`gslbd::dns::udp::DnsHandler`), whose
//! reply cache keeps what it may and answers the second from it (with a Client Subnet
//! option's address and a pooled decision written in): both judged the same way.
#![no_main]

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use gslbd::config::{self, RrlSettings, Snapshot};
use gslbd::dns::rrl::{Rrl, Verdict, slip_in_place};
use gslbd::dns::udp::{DnsHandler, Handler};
use gslbd::dns::{Transport, respond};
use gslbd::util::rng::SplitMix64;
use libfuzzer_sys::fuzz_target;

/// The same oracle the property tests use (tests/support/invariants.rs).
#[path = "../../tests/support/invariants.rs"]
mod invariants;
use invariants::check_exchange;

static SNAP: LazyLock<Snapshot> = LazyLock::new(|| {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gslbd.toml");
    config::load(&conf).unwrap_or_else(|e| panic!("default config: {e}"))
});

// Rate 1 and slip 1: after the first reply of a kind every reply is a slip, so slips get fuzzed.
static RRL: LazyLock<Rrl> = LazyLock::new(|| {
    Rrl::new(&RrlSettings {
        enabled: true,
        responses_per_second: 1,
        slip: 1,
        window: 1,
        table_size: 1024,
        ..RrlSettings::default()
    })
});

thread_local! {
    /// The UDP handler on the default setup (RRL off: the limiter is fuzzed above), kept
    /// across inputs as a worker keeps it, so its reply cache holds earlier inputs' replies.
    static HANDLER: RefCell<DnsHandler<Snapshot>> = {
        let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gslbd.toml");
        let snap = config::load(&conf).unwrap_or_else(|e| panic!("default config: {e}"));
        let shared = Arc::new(arc_swap::ArcSwap::from_pointee(snap));
        let rrl = RrlSettings { enabled: false, ..RrlSettings::default() };
        RefCell::new(DnsHandler::new(shared, Arc::new(Rrl::new(&rrl))))
    };
}

/// Resolvers in different places (GeoIP steers pooled names by them when there is no ECS).
const CLIENTS: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::new(81, 2, 69, 160)),
    IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
    IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
    IpAddr::V6(std::net::Ipv6Addr::new(0x2a02, 0x598, 0, 0, 0, 0, 0, 1)),
];

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let seed = data.iter().fold(0u64, |h, &b| h.wrapping_mul(31).wrapping_add(b as u64));
    let client = CLIENTS[(seed % 4) as usize];
    let mut rng = SplitMix64::new(seed);
    for transport in [Transport::Udp, Transport::Tcp] {
        let w = respond(&*SNAP, data, client, transport, &mut out, &mut rng);
        let reply = w.map(|w| &out[..w.len]);
        if let Err(e) = check_exchange(data, reply, transport) {
            panic!("{transport:?}: {e}\nquery: {data:02x?}\nreply: {reply:02x?}");
        }
        if let (Transport::Udp, Some(w)) = (transport, w) {
            if RRL.check(&out[..w.len], client, Duration::from_secs(1)) == Verdict::Slip {
                let n = slip_in_place(&mut out, w.len);
                let m = hickory_proto::op::Message::from_vec(&out[..n])
                    .unwrap_or_else(|e| panic!("slip does not parse: {e}"));
                assert!(m.metadata.truncation, "a slip has TC set");
                assert!(m.answers.is_empty() && m.authorities.is_empty() && m.additionals.is_empty());
                assert_eq!(out[..2], data[..2], "a slip keeps the ID");
                assert!(n <= w.len);
            }
        }
    }
    HANDLER.with_borrow_mut(|h| {
        for _ in 0..2 {
            out.clear();
            h.begin_batch();
            let n = h.handle(data, SocketAddr::new(client, 5353), &mut out);
            h.end_batch();
            let reply = n.map(|n| &out[..n]);
            if let Err(e) = check_exchange(data, reply, Transport::Udp) {
                panic!("UDP handler: {e}\nquery: {data:02x?}\nreply: {reply:02x?}");
            }
        }
    });
});
