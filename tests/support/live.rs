//! Changing the files of a running server the way operators (and accidents) do, and watching
//! its reloads: in-place writes and overwrites, half files, the reload counters of `/metrics`,
//! and GeoIP databases that differ in one network.
use std::io::{Seek, SeekFrom, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use gslbd::geo::{Country, GeoDbBuilder, Location, country_centroid, country_continent};
use ipnet::IpNet;

use super::http;

/// (ok, error) from `gslbd_reloads_total`.
pub fn reloads(admin: SocketAddr) -> (u64, u64) {
    let (code, text) = http(admin, "GET", "/metrics", None);
    assert_eq!(code, 200);
    let get = |result: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("gslbd_reloads_total{{result=\"{result}\"}} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (get("ok"), get("error"))
}

/// Waits (at most 8 s) until the reload counters are `want`; returns how long it took.
/// Panics when they pass it or do not get there.
pub fn wait_reloads(admin: SocketAddr, want: (u64, u64), what: &str) -> Duration {
    let t = Instant::now();
    loop {
        let got = reloads(admin);
        if got == want {
            return t.elapsed();
        }
        assert!(got.0 <= want.0 && got.1 <= want.1, "{what}: reloads {got:?}, expected {want:?}");
        assert!(t.elapsed() < Duration::from_secs(8), "{what}: reloads {got:?} after 8 s, expected {want:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Replaces the content of `path` in place (truncate and write, same inode), as an editor that
/// saves in place, `cat > file` or `cp` does.
pub fn write_in_place(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

/// Writes `bytes` at `at` inside `path`, in place and without truncating (`dd conv=notrunc`).
pub fn overwrite(path: &Path, at: u64, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
}

/// The first half of `text`, cut at a line boundary: a file that still parses.
pub fn first_half(text: &str) -> &str {
    let cut = text[..text.len() / 2].rfind('\n').map_or(0, |i| i + 1);
    &text[..cut]
}

/// `n` bytes of deterministic noise.
pub fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// A GeoIP database: 10.1.0.0/16 in country `gb_net`, 10.2.0.0/16 in JP, 10.3.0.0/16 in US,
/// each at its country's centroid, and 3,000 + `extra` filler /24s elsewhere (so the file has a
/// tree and a data section worth damaging; `extra` changes the tree's shape).
pub fn geo_database(gb_net: &str, extra: u32) -> Vec<u8> {
    let at = |cc: &str| {
        let c = Country::parse(cc).unwrap();
        Location { country: Some(c), continent: country_continent(c), coords: country_centroid(c) }
    };
    let mut b = GeoDbBuilder::new(6);
    let net = |s: &str| s.parse::<IpNet>().unwrap();
    b.insert(net("10.1.0.0/16"), &at(gb_net)).unwrap();
    b.insert(net("10.2.0.0/16"), &at("JP")).unwrap();
    b.insert(net("10.3.0.0/16"), &at("US")).unwrap();
    let ccs = ["DE", "FR", "BR", "IN", "ZA", "CA", "NZ", "SG", "SE", "ES"];
    for i in 0..3000 + extra {
        let n = IpNet::new(IpAddr::from((0x2c00_0000u32 + (i << 8)).to_be_bytes()), 24).unwrap();
        b.insert(n, &at(ccs[i as usize % ccs.len()])).unwrap();
    }
    b.to_bytes().unwrap()
}
