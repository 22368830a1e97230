//! The whole answer path, packet in and packet out: `dns::respond` on the default setup
//! (zones/, the shipped GeoIP database) for a static A query, a pooled A query with ECS
//! (1,024 different /24s, so GeoIP and the decision cache work), and an NXDOMAIN.
//!
//!   cargo bench --bench respond
use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

use criterion::{Criterion, criterion_group, criterion_main};
use gslbd::dns::{Transport, respond};
use gslbd::util::rng::SplitMix64;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RecordType};

fn query(name: &str, t: RecordType, ecs: Option<&str>) -> Vec<u8> {
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    let mut e = Edns::new();
    e.set_max_payload(1232);
    if let Some(net) = ecs {
        e.options_mut().insert(EdnsOption::Subnet(ClientSubnet::from_str(net).unwrap()));
    }
    m.set_edns(e);
    m.to_vec().unwrap()
}

fn bench(c: &mut Criterion) {
    let snap = gslbd::config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("gslbd.toml")).expect("default config");
    let client = IpAddr::from([127, 0, 0, 1]);
    let mut out = Vec::with_capacity(65_536);
    let mut rng = SplitMix64::new(1);
    let mut g = c.benchmark_group("respond");
    let static_a = query("static.gslb.example.com.", RecordType::A, None);
    g.bench_function("static_a", |b| {
        b.iter(|| black_box(respond(&snap, black_box(&static_a), client, Transport::Udp, &mut out, &mut rng)))
    });
    let pooled: Vec<Vec<u8>> = (0..1024u32)
        .map(|i| {
            let x = i.wrapping_mul(2_654_435_761);
            query(
                "www.gslb.example.com.",
                RecordType::A,
                Some(&format!("{}.{}.{}.0/24", 1 + (x >> 24) % 223, (x >> 16) & 0xff, (x >> 8) & 0xff)),
            )
        })
        .collect();
    let mut i = 0;
    g.bench_function("pooled_a_ecs", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(respond(&snap, black_box(&pooled[i]), client, Transport::Udp, &mut out, &mut rng))
        })
    });
    let nx = query("nope.gslb.example.com.", RecordType::A, None);
    g.bench_function("nxdomain", |b| {
        b.iter(|| black_box(respond(&snap, black_box(&nx), client, Transport::Udp, &mut out, &mut rng)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
