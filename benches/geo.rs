//! GeoIP lookup cost on the shipped database (geoip/default-country.mmdb): random IPv4 and
//! IPv6 addresses, one tree walk plus the record table read at load (`GeoDb::lookup`).
//!
//!   cargo bench --bench geo
use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use gslbd::geo::GeoDb;

fn addrs(v6: bool) -> Vec<IpAddr> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if v6 {
                // Global unicast 2000::/3, where the database has data.
                let hi = (0x2000u128 | (u128::from(x) & 0x1fff)) << 112;
                IpAddr::from((hi | (u128::from(x) << 48)).to_be_bytes())
            } else {
                IpAddr::from(((x >> 32) as u32).to_be_bytes())
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let db = GeoDb::open(&Path::new(env!("CARGO_MANIFEST_DIR")).join("geoip/default-country.mmdb"))
        .expect("the shipped GeoIP database");
    let mut g = c.benchmark_group("geo_lookup");
    for (name, list) in [("ipv4", addrs(false)), ("ipv6", addrs(true))] {
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) & 4095;
                black_box(db.lookup(black_box(list[i])))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
