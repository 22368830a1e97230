//! The whole answer path, packet in and packet out: `dns::respond` on the default setup
//! (zones/, the shipped GeoIP database) for a static A query, a pooled A query with ECS
//! (1,024 different /24s, so GeoIP and the decision cache work), and an NXDOMAIN.
//!
//! `respond_dnssec` (issue 15) asks the same with DO=1 of the default setup signed online
//! (`signed_*`: RRSIGs from the zone and, warm, from the signature cache; NSEC white lies) and
//! of the same files unsigned (`unsigned_*`), so the two can be divided; `signed_nxdomain_new`
//! asks a new name each time (a cache miss: one signature per query). This group measures the
//! *CPU time of the benchmark thread* (the scheduler's count, /proc/thread-self/schedstat),
//! not wall time, so that other work on a shared machine does not count; samples are long
//! (0.5 s) because the kernel updates that count at scheduler ticks.
//!
//! `GSLBD_BENCH_SCALE=DIR` adds `load`: config::load of DIR/scale.zone + DIR/scale.pools.toml
//! (benches/peers/gen.py scale …: 1M records, 100k pooled names) unsigned and signed online.
//!
//! `GSLBD_BENCH_COUNT=N:CASE` (CASE one of `respond_dnssec`'s) runs CASE N times and exits,
//! for `perf stat -e instructions:u` or `valgrind --tool=callgrind` (N = 0 gives the set-up's
//! cost to subtract): instructions per query do not depend on what else the machine runs.
//! `pooled_a` (count mode only) is the pooled query without ECS.
//! `GSLBD_BENCH_NO_SCOPE_MAPS=1` drops the ECS scope maps (the scope is then the GeoIP network).
//!
//!   cargo bench --bench respond
use std::hint::black_box;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gslbd::config::Snapshot;
use gslbd::dns::{Transport, respond};
use gslbd::util::rng::SplitMix64;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RecordType};

fn query_do(name: &str, t: RecordType, ecs: Option<&str>, dnssec_ok: bool) -> Vec<u8> {
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    let mut e = Edns::new();
    e.set_max_payload(1232);
    e.set_dnssec_ok(dnssec_ok);
    if let Some(net) = ecs {
        e.options_mut().insert(EdnsOption::Subnet(ClientSubnet::from_str(net).unwrap()));
    }
    m.set_edns(e);
    m.to_vec().unwrap()
}

fn query(name: &str, t: RecordType, ecs: Option<&str>) -> Vec<u8> {
    query_do(name, t, ecs, false)
}

fn pooled_queries(dnssec_ok: bool) -> Vec<Vec<u8>> {
    (0..1024u32)
        .map(|i| {
            let x = i.wrapping_mul(2_654_435_761);
            query_do(
                "www.gslb.example.com.",
                RecordType::A,
                Some(&format!("{}.{}.{}.0/24", 1 + (x >> 24) % 223, (x >> 16) & 0xff, (x >> 8) & 0xff)),
                dnssec_ok,
            )
        })
        .collect()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The default setup's files under `dir`, signed online (keys in `dir/state`) or not.
fn default_setup(dir: &Path, signed: bool) -> Snapshot {
    std::fs::create_dir_all(dir).unwrap();
    let dnssec = if signed { "[zone.dnssec]\nenabled = true\n" } else { "" };
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[geoip]\ndatabase = \"{r}/geoip/default-country.mmdb\"\n[[zone]]\n\
         origin = \"gslb.example.com.\"\nfile = \"{r}/zones/gslb.example.com.zone\"\npools = \"{r}/zones/gslb.example.com.pools.toml\"\n{dnssec}",
        r = root().display()
    );
    std::fs::write(dir.join("gslbd.toml"), text).unwrap();
    gslbd::config::load(&dir.join("gslbd.toml")).expect("the default setup loads")
}

fn bench(c: &mut Criterion) {
    let snap = gslbd::config::load(&root().join("gslbd.toml")).expect("default config");
    let client = IpAddr::from([127, 0, 0, 1]);
    let mut out = Vec::with_capacity(65_536);
    let mut rng = SplitMix64::new(1);
    let mut g = c.benchmark_group("respond");
    let static_a = query("static.gslb.example.com.", RecordType::A, None);
    g.bench_function("static_a", |b| {
        b.iter(|| black_box(respond(&snap, black_box(&static_a), client, Transport::Udp, &mut out, &mut rng)))
    });
    let pooled = pooled_queries(false);
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
    dnssec(c);
    scale(c);
}

/// Nanoseconds this thread has run on a CPU (the scheduler's sum_exec_runtime).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Runs `f` `iters` times and returns the thread's CPU time for them.
fn cpu_time(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = thread_cpu_ns();
    for _ in 0..iters {
        f();
    }
    Duration::from_nanos(thread_cpu_ns().saturating_sub(start))
}

/// Signed (DO=1, online-signed zone) against unsigned (DO=1, the same files unsigned).
fn dnssec(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("gslbd-bench-dnssec-{}", std::process::id()));
    let signed = default_setup(&dir.join("signed"), true);
    let unsigned = default_setup(&dir.join("unsigned"), false);
    if let Ok(count) = std::env::var("GSLBD_BENCH_COUNT") {
        let (mut signed, mut unsigned) = (signed, unsigned);
        if std::env::var_os("GSLBD_BENCH_NO_SCOPE_MAPS").is_some() {
            // Without the ECS scope maps: the scope is the GeoIP network (their cost per query).
            signed.geo_scopes = gslbd::config::GeoScopes::default();
            unsigned.geo_scopes = gslbd::config::GeoScopes::default();
        }
        count_only(&count, &signed, &unsigned);
        let _ = std::fs::remove_dir_all(&dir);
        std::process::exit(0);
    }
    let client = IpAddr::from([127, 0, 0, 1]);
    let mut out = Vec::with_capacity(65_536);
    let mut rng = SplitMix64::new(1);
    let static_a = query_do("static.gslb.example.com.", RecordType::A, None, true);
    let nx = query_do("nope.gslb.example.com.", RecordType::A, None, true);
    let pooled = pooled_queries(true);
    // Warm: every answer set's RRSIG and the NXDOMAIN's NSEC records are in the caches.
    for q in pooled.iter().chain([&static_a, &nx]) {
        respond(&signed, q, client, Transport::Udp, &mut out, &mut rng);
    }
    let mut g = c.benchmark_group("respond_dnssec");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for (label, snap) in [("unsigned", &unsigned), ("signed", &signed)] {
        g.bench_function(format!("{label}_static_a"), |b| {
            b.iter_custom(|iters| {
                cpu_time(iters, || {
                    black_box(respond(snap, black_box(&static_a), client, Transport::Udp, &mut out, &mut rng));
                })
            })
        });
        let mut i = 0;
        g.bench_function(format!("{label}_pooled_a_ecs"), |b| {
            b.iter_custom(|iters| {
                cpu_time(iters, || {
                    i = (i + 1) & 1023;
                    black_box(respond(snap, black_box(&pooled[i]), client, Transport::Udp, &mut out, &mut rng));
                })
            })
        });
        g.bench_function(format!("{label}_nxdomain"), |b| {
            b.iter_custom(|iters| {
                cpu_time(iters, || {
                    black_box(respond(snap, black_box(&nx), client, Transport::Udp, &mut out, &mut rng));
                })
            })
        });
    }
    // A new name every time: the next-closer cover is signed per query (the *.encloser one is cached).
    let mut n = 0u64;
    g.bench_function("signed_nxdomain_new", |b| {
        b.iter_custom(|iters| {
            cpu_time(iters, || {
                n += 1;
                let q = query_do(&format!("n{n}.gslb.example.com."), RecordType::A, None, true);
                black_box(respond(&signed, black_box(&q), client, Transport::Udp, &mut out, &mut rng));
            })
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `GSLBD_BENCH_COUNT=N:CASE`: CASE N times (after the same warm-up as the benchmarks).
fn count_only(spec: &str, signed: &Snapshot, unsigned: &Snapshot) {
    let (n, case) = spec.split_once(':').expect("N:CASE");
    let n: u64 = n.parse().expect("N");
    let (label, what) = case.split_once('_').expect("signed_… or unsigned_…");
    let snap = if label == "signed" { signed } else { unsigned };
    let client = IpAddr::from([127, 0, 0, 1]);
    let mut out = Vec::with_capacity(65_536);
    let mut rng = SplitMix64::new(1);
    let pooled = pooled_queries(true);
    let one = match what {
        "static_a" => query_do("static.gslb.example.com.", RecordType::A, None, true),
        "nxdomain" => query_do("nope.gslb.example.com.", RecordType::A, None, true),
        // A pooled query without ECS: the client's own address (loopback) decides.
        "pooled_a" => query_do("www.gslb.example.com.", RecordType::A, None, true),
        _ => Vec::new(),
    };
    for q in pooled.iter().chain([&one]) {
        respond(snap, q, client, Transport::Udp, &mut out, &mut rng);
    }
    for i in 0..n as usize {
        let q = if what == "pooled_a_ecs" { &pooled[i & 1023] } else { &one };
        black_box(respond(snap, black_box(q), client, Transport::Udp, &mut out, &mut rng));
    }
}

/// Load time of the scale case, unsigned and signed (opt-in: GSLBD_BENCH_SCALE=DIR).
fn scale(c: &mut Criterion) {
    let Some(data) = std::env::var_os("GSLBD_BENCH_SCALE").map(PathBuf::from) else { return };
    let dir = std::env::temp_dir().join(format!("gslbd-bench-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut g = c.benchmark_group("load");
    g.sample_size(10).warm_up_time(Duration::from_millis(1)).measurement_time(Duration::from_secs(1));
    for (label, dnssec) in [("scale_unsigned", ""), ("scale_signed", "[zone.dnssec]\nenabled = true\n")] {
        let conf = dir.join(format!("{label}.toml"));
        let text = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n[[zone]]\norigin = \"scale.example.\"\nfile = \"{d}/scale.zone\"\n\
             pools = \"{d}/scale.pools.toml\"\n{dnssec}",
            d = data.display()
        );
        std::fs::write(&conf, text).unwrap();
        g.bench_function(label, |b| b.iter(|| black_box(gslbd::config::load(&conf).expect("the scale case loads"))));
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
