//! The fuzz targets' invariants on every `cargo test`: arbitrary bytes, structured queries
//! (names inside and outside the zone, every kind of qtype, EDNS on/off and its version,
//! options including valid and invalid Client Subnet, header flags, opcodes) and mutated
//! queries all go through `respond` over UDP and TCP, and each exchange must pass
//! `tests/support/invariants.rs`: dropped only when RFC 1035/5452 say so, else a
//! parsable reply with the query's ID, opcode and question, never bigger than the client
//! can take (512 without EDNS, min(payload, 1232) with it, 65535 over TCP). Also: UDP replies
//! never exceed 1232 bytes, and a query with a valid ECS option gets ECS back.
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::LazyLock;

#[path = "support/invariants.rs"]
mod invariants;

use gslbd::config::{self, Snapshot};
use gslbd::dns::{EDNS_PAYLOAD, Transport, respond};
use gslbd::util::rng::SplitMix64;
use hickory_proto::op::Message;
use hickory_proto::rr::rdata::opt::EdnsCode;
use invariants::check_exchange;
use proptest::prelude::*;

static SNAP: LazyLock<Snapshot> =
    LazyLock::new(|| config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("gslbd.toml")).expect("default config"));

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

fn run(packet: &[u8]) -> Vec<Option<Vec<u8>>> {
    run_from(packet, CLIENT, 1)
}

fn run_from(packet: &[u8], client: IpAddr, seed: u64) -> Vec<Option<Vec<u8>>> {
    let mut replies = Vec::new();
    let mut rng = SplitMix64::new(seed);
    for t in [Transport::Udp, Transport::Tcp] {
        let mut out = Vec::new();
        let w = respond(&*SNAP, packet, client, t, &mut out, &mut rng);
        let reply = w.map(|w| out[..w.len].to_vec());
        if let Err(e) = check_exchange(packet, reply.as_deref(), t) {
            panic!("{t:?}: {e}\nquery: {packet:02x?}\nreply: {reply:02x?}");
        }
        if let (Transport::Udp, Some(r)) = (t, &reply) {
            assert!(r.len() <= EDNS_PAYLOAD as usize, "UDP reply of {} bytes", r.len());
        }
        replies.push(reply);
    }
    replies
}

#[derive(Clone, Debug)]
enum Ecs {
    Valid { v6: bool, prefix: u8, addr: u128 },
    Raw(Vec<u8>),
}

#[derive(Clone, Debug)]
struct Edns {
    payload: u16,
    version: u8,
    flags: u16,
    ecs: Option<Ecs>,
    options: Vec<(u16, Vec<u8>)>,
}

#[derive(Clone, Debug)]
struct Query {
    id: u16,
    flags: u16, // everything but QR and opcode
    opcode: u8,
    labels: Vec<Vec<u8>>,
    qtype: u16,
    qclass: u16,
    edns: Option<Edns>,
}

impl Query {
    fn bytes(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&self.id.to_be_bytes());
        let flags = (self.flags & 0x87FF & !0x8000) | ((self.opcode as u16 & 0xF) << 11);
        b.extend_from_slice(&flags.to_be_bytes());
        b.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, self.edns.is_some() as u8]);
        for l in &self.labels {
            b.push(l.len() as u8);
            b.extend_from_slice(l);
        }
        b.push(0);
        b.extend_from_slice(&self.qtype.to_be_bytes());
        b.extend_from_slice(&self.qclass.to_be_bytes());
        if let Some(e) = &self.edns {
            let mut rdata = Vec::new();
            let mut opt = |code: u16, data: &[u8]| {
                rdata.extend_from_slice(&code.to_be_bytes());
                rdata.extend_from_slice(&(data.len() as u16).to_be_bytes());
                rdata.extend_from_slice(data);
            };
            for (c, d) in &e.options {
                opt(*c, d);
            }
            match &e.ecs {
                Some(Ecs::Valid { v6, prefix, addr }) => {
                    let (family, bits) = if *v6 { (2u16, 128u32) } else { (1, 32) };
                    let prefix = (*prefix as u32).min(bits);
                    let full: Vec<u8> = if *v6 {
                        let a = if prefix == 0 { 0 } else { addr & (u128::MAX << (128 - prefix)) };
                        a.to_be_bytes().to_vec()
                    } else {
                        let a = *addr as u32;
                        let a = if prefix == 0 { 0 } else { a & (u32::MAX << (32 - prefix)) };
                        a.to_be_bytes().to_vec()
                    };
                    let mut d = family.to_be_bytes().to_vec();
                    d.extend_from_slice(&[prefix as u8, 0]);
                    d.extend_from_slice(&full[..(prefix as usize).div_ceil(8)]);
                    opt(8, &d);
                }
                Some(Ecs::Raw(d)) => opt(8, d),
                None => {}
            }
            b.push(0);
            b.extend_from_slice(&41u16.to_be_bytes());
            b.extend_from_slice(&e.payload.to_be_bytes());
            b.push(0);
            b.push(e.version);
            b.extend_from_slice(&e.flags.to_be_bytes());
            b.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            b.extend_from_slice(&rdata);
        }
        b
    }
}

fn label() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::sample::select(vec!["www", "api", "static", "alias", "chain", "external", "wild", "x", "ent", "host",
            "deep", "b", "a", "child", "ns1", "ns2", "mail", "big", "_sip", "_udp", "sip", "nothere", "*"])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 1..64),
        1 => "[a-zA-Z0-9-]{1,63}".prop_map(|s| s.into_bytes()),
    ]
}

fn zone_or_not() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let zone = || vec![b"gslb".to_vec(), b"example".to_vec(), b"com".to_vec()];
    prop_oneof![
        4 => prop::collection::vec(label(), 0..4).prop_map(move |mut l| { l.extend(zone()); l }),
        // Letter case varied (0x20): the question must come back exactly as sent.
        1 => prop::collection::vec(label(), 0..3).prop_map(move |mut l| {
            l.extend([b"GsLb".to_vec(), b"eXaMpLe".to_vec(), b"COM".to_vec()]);
            l
        }),
        1 => prop::collection::vec(label(), 0..5),
    ]
}

fn ecs() -> impl Strategy<Value = Ecs> {
    prop_oneof![
        3 => (any::<bool>(), 0u8..=128, any::<u128>()).prop_map(|(v6, prefix, addr)| Ecs::Valid { v6, prefix, addr }),
        1 => prop::collection::vec(any::<u8>(), 0..24).prop_map(Ecs::Raw),
    ]
}

fn edns() -> impl Strategy<Value = Edns> {
    (
        prop_oneof![Just(512u16), Just(1232), Just(4096), Just(0), any::<u16>()],
        prop_oneof![4 => Just(0u8), 1 => any::<u8>()],
        prop_oneof![Just(0u16), Just(0x8000), any::<u16>()],
        prop::option::of(ecs()),
        prop::collection::vec(
            (
                prop_oneof![Just(3u16), Just(10), Just(12), Just(100), any::<u16>()],
                prop::collection::vec(any::<u8>(), 0..16),
            ),
            0..3,
        ),
    )
        .prop_map(|(payload, version, flags, ecs, options)| Edns { payload, version, flags, ecs, options })
}

fn query() -> impl Strategy<Value = Query> {
    (
        any::<u16>(),
        any::<u16>(),
        prop_oneof![6 => Just(0u8), 1 => 0u8..16],
        zone_or_not(),
        prop_oneof![
            4 => prop::sample::select(vec![1u16, 28, 2, 15, 16, 33, 5, 6, 12, 255, 43, 48, 46, 47, 50, 51, 257, 65, 64, 252, 251, 250, 249, 41, 0, 65535]),
            1 => any::<u16>(),
        ],
        prop_oneof![8 => Just(1u16), 1 => Just(3), 1 => Just(255), 1 => any::<u16>()],
        prop::option::of(edns()),
    )
        .prop_map(|(id, flags, opcode, labels, qtype, qclass, edns)| Query { id, flags, opcode, labels, qtype, qclass, edns })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(packet in prop::collection::vec(any::<u8>(), 0..700)) {
        run(&packet);
    }

    #[test]
    fn structured_queries(q in query(), client in any::<IpAddr>(), seed in any::<u64>()) {
        let packet = q.bytes();
        let replies = run_from(&packet, client, seed);
        // A plain QUERY with a valid ECS option (and EDNS version 0) gets ECS back (RFC 7871 §7.2.1).
        if let (Some(e), 0) = (&q.edns, q.opcode)
            && let (Some(Ecs::Valid { .. }), 0, false) = (&e.ecs, e.version, e.options.iter().any(|(c, _)| *c == 8)) {
                let udp = replies[0].as_ref().expect("a reply");
                let m = Message::from_vec(udp).unwrap();
                let labels_ok = q.labels.iter().all(|l| !l.is_empty() && l.len() < 64)
                    && q.labels.iter().map(|l| l.len() + 1).sum::<usize>() < 255;
                if labels_ok {
                    let opt = m.edns.as_ref().expect("an OPT in the reply");
                    prop_assert!(opt.option(EdnsCode::Subnet).is_some(), "no ECS in the reply to {q:?}");
                }
            }
    }

    #[test]
    fn mutated_queries(q in query(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), cut in any::<prop::sample::Index>()) {
        let mut packet = q.bytes();
        for (at, x) in flips {
            let i = at.index(packet.len());
            packet[i] ^= x;
        }
        run(&packet);
        let n = cut.index(packet.len() + 1);
        run(&packet[..n]);
    }
}

/// The largest reply the default zone has: truncated without EDNS, within every payload size.
#[test]
fn the_big_txt_fits_every_limit() {
    let q = Query {
        id: 9,
        flags: 0,
        opcode: 0,
        labels: vec![b"big".to_vec(), b"gslb".to_vec(), b"example".to_vec(), b"com".to_vec()],
        qtype: 16,
        qclass: 1,
        edns: None,
    };
    let r = run(&q.bytes());
    let udp = Message::from_vec(r[0].as_ref().unwrap()).unwrap();
    assert!(udp.metadata.truncation, "600+ bytes of TXT do not fit 512");
    for payload in [512u16, 1000, 1232, 4096, 65535] {
        let q = Query { edns: Some(Edns { payload, version: 0, flags: 0, ecs: None, options: vec![] }), ..q.clone() };
        run(&q.bytes());
    }
}
