//! The config loaders: arbitrary text → `gslbd::config::parse_config` (gslbd.toml) and
//! `gslbd::config::load_pools` (a pool file). The first byte picks the loader. Nothing may
//! panic; every error names a line of the text (or 0); a pool file that loads can be steered:
//! `decide` answers every pooled name for v4/v6 clients, with and without ECS-like subnets,
//! at most MAX_ANSWERS addresses, a TTL from 1 to 86400, a scope within the source prefix.
#![no_main]

use std::path::Path;

use gslbd::config::load_pools;
use gslbd::config::parse_config;
use gslbd::pool::MAX_ANSWERS;
use gslbd::steer::{Answer, Client, Family, decide};
use gslbd::util::rng::SplitMix64;
use hickory_proto::rr::Name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let lines = text.lines().count() + 1;
    let line_ok =
        |line: usize, msg: &dyn std::fmt::Display| assert!(line <= lines, "error on line {line} of {lines}: {msg}");
    if which & 1 == 0 {
        if let Err(errs) = parse_config(Path::new("/fuzz/gslbd.toml"), text) {
            assert!(!errs.is_empty());
            errs.iter().for_each(|e| line_ok(e.line, e));
        }
        return;
    }
    let origin = Name::from_ascii("gslb.example.com.").unwrap();
    let pools = match load_pools(Path::new("fuzz.pools.toml"), text, &origin) {
        Ok(p) => p,
        Err(errs) => {
            assert!(!errs.is_empty());
            errs.iter().for_each(|e| line_ok(e.line, e));
            return;
        }
    };
    let mut rng = SplitMix64::new(data.len() as u64);
    let clients = ["81.2.69.160/32", "2001:db8::/56", "10.1.2.0/24", "0.0.0.0/0", "::/0"];
    let names: Vec<_> = pools.names().map(|(_, id)| id).collect();
    for pool in names {
        for c in clients {
            let client = Client { subnet: c.parse().unwrap(), geo: None, ranked: None };
            for family in [Family::V4, Family::V6] {
                let d = decide(&pools, pool, family, &client, &pools.file_health(), &mut rng, None);
                assert!((1..=86400).contains(&d.ttl), "ttl {}", d.ttl);
                assert!(d.ecs_scope <= client.subnet.prefix_len(), "scope past the source prefix");
                if let Answer::Addresses(a) = &d.answer {
                    assert!(a.len() <= MAX_ANSWERS);
                }
            }
        }
    }
});
