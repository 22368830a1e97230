//! Pool files that several tests share, as text with the parts each test varies.
//!
//! Probe and feed definitions are passed as the inside of a TOML inline table
//! (`kind = "tcp", port = 80, rise = 2`), so a test states them in one line.

/// The members of a region: `{ address = "A" }, …`.
pub fn members(addrs: &[&str]) -> String {
    addrs.iter().map(|a| format!("{{ address = \"{a}\" }}")).collect::<Vec<_>>().join(", ")
}

/// `www` is pool `web`: region `a` then region `b` in failover order, every member probed by
/// probe `name` (`probe`: its keys), all usable members answered, TTL `ttl` (5 while degraded).
pub fn probed_failover(name: &str, probe: &str, ttl: u32, a: &[&str], b: &[&str]) -> String {
    format!(
        r#"
[names]
www = "web"

[probe]
{name} = {{ {probe} }}

[pool.web]
ttl = {ttl}
degraded_ttl = 5
region_policy = "failover"
member_policy = "all"
failover_order = ["a", "b"]

[pool.web.region.a]
probe = "{name}"
members = [ {} ]

[pool.web.region.b]
probe = "{name}"
members = [ {} ]
"#,
        members(a),
        members(b)
    )
}

/// `www` is pool `web`: region `eu` hands the name off to the zone cut `eu` (`delegate =
/// "www.eu"`; the cut's glue is probed over TCP on `port`, rise and fall `rise_fall`, every
/// 200 ms), region `us` (one member, `us`) is the failover. TTL 30.
pub fn delegated_failover(port: u16, rise_fall: u32, us: &str) -> String {
    format!(
        r#"[names]
www = "web"

[probe]
dns = {{ kind = "tcp", port = {port}, interval_ms = 200, timeout_ms = 150, rise = {rise_fall}, fall = {rise_fall} }}

[pool.web]
ttl = 30
region_policy = "failover"
failover_order = ["eu", "us"]

[pool.web.region.eu]
delegate = "www.eu"
probe = "dns"

[pool.web.region.us]
members = [ {} ]
"#,
        members(&[us])
    )
}
