//! Black-box test support shared by every integration test (`mod support;`, then
//! `use support::*` or the names it needs): one module per idea, each re-exported here.
//!
//! ```text
//! test ──► GslbdServer / Knot / Unbound (launch: spawn, poll until ready, retry on a new port)
//!   │            └► child process on 127.0.0.1:PORT, in a TempDir, killed on Drop
//!   ├──► QuerySpec / ecs_query ─► query_udp / query_tcp / udp_raw / tcp_pipeline / dig ──► server
//!   ├──► normalise(reply bytes) ─► Normal (comparable, printable, diff)
//!   ├──► HttpStub (health endpoints, load feeds) ◄── gslbd's probes and pollers;  http ──► admin API
//!   └──► CountingAlloc, geo_fixture, app (gslbd's App in-process), regional (nginx + HAProxy)
//! ```
//!
//! Invariants: all traffic goes to loopback; every wait and loop is bounded; every child
//! process is killed and its temp dir removed on Drop (so also on panic).
//!
//! `invariants.rs` (the oracle for `dns::respond`) is not a module here: tests/proptest_wire.rs
//! and the fuzz targets include it by path, without the rest.
//!
//! Adding a helper: a new file `support/<name>.rs` and one `pub mod <name>;` line (plus a
//! `pub use` line when its names should come with `use support::*`).

// Each integration test crate uses a different subset of these helpers (and of the `pub use`
// re-exports below, which are all that `unused_imports` finds here).
#![allow(dead_code, unused_imports)]
// Waits on real processes and sockets are bounded by wall-clock time (clippy.toml's rule is
// for the server's own code, which runs on tokio's pausable clock).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

/// The `[server]` and `[admin]` tables of the admin-API tests: loopback, one UDP worker, the
/// admin token in `admin.token`. A literal, for `concat!` into a test's config text.
#[macro_export]
macro_rules! admin_server_toml {
    () => {
        "[server]\nlisten = [\"127.0.0.1:0\"]\nudp_workers = 1\n\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"admin.token\"\n"
    };
}

/// The head of the small `gslb.test.` zones these tests serve: SOA (serial 1), NS and the NS's
/// address. A literal, for `concat!`.
#[macro_export]
macro_rules! gslb_test_zone_head {
    () => {
        "$ORIGIN gslb.test.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n"
    };
}

/// gslbd's `App` in the test process (same workers and serving state as `gslbd serve`).
pub mod app;
pub mod cases;
pub mod counting_alloc;
pub mod decide_fixtures;
pub mod dig;
/// Signed setups, a validating Unbound with ECS, DS anchors, delv (issue 15 tests).
pub mod dnssec;
pub mod ecs;
/// Three gslbd nodes and a real etcd on loopback (issue 17 tests).
pub mod fleet;
pub mod geo_fixture;
pub mod gslbd_server;
pub mod http_client;
pub mod http_stub;
pub mod knot;
pub mod launch;
pub mod live;
pub mod load;
pub mod normal;
pub mod pool_files;
pub mod process;
pub mod query;
/// nginx and HAProxy regional tiers and the bounded load generator (issue 8 tests).
pub mod regional;
/// The reloader of `gslbd serve` alone, reloads made by the test (no watcher).
pub mod reloads;
/// ECS scope blocks checked network by network against the GeoIP database (issue 20).
pub mod scope_walk;
/// gslbd in-process on a config of the test's own (cookies, DNS over TLS), kdig, test certificates.
pub mod served;
pub mod transport;
pub mod unbound;
/// A validating Unbound with one zone's trust anchor (issue 13's pre-signed zones).
pub mod validator;
/// Headless Chromium through ChromeDriver (the status page test).
pub mod webdriver;
/// Knot as gslbd's secondary or primary, TSIG keys, the knot_diff query table (issue 16 tests).
pub mod xfr;
/// Zone files judged by Knot, NSD and BIND: the issue-13 corpus, checkers, AXFR (issue 13 tests).
pub mod zonecheck;

pub use cases::*;
pub use counting_alloc::*;
pub use dig::*;
pub use ecs::*;
pub use geo_fixture::*;
pub use gslbd_server::*;
pub use http_client::*;
pub use http_stub::*;
pub use knot::*;
pub use launch::*;
pub use normal::*;
pub use pool_files::*;
pub use process::*;
pub use query::*;
pub use transport::*;
pub use unbound::*;
