//! gslbd: an authoritative GSLB DNS server.
//!
//! ```text
//! files ──► config::load ──► Snapshot (zones + pools + geo) ──► ArcSwap<Snapshot>
//!                                                                    │
//! UDP/TCP ──► dns::wire::parse ──► zone lookup / steer ──► dns::wire::encode ──► reply
//! ```
//!
//! Each module owns one idea:
//! - [`config`]: gslbd.toml and the files it names → one validated, immutable [`config::Snapshot`];
//! - [`zone`]: authoritative data and RFC 1034/4592 lookups (static records, delegations, negatives);
//! - [`geo`]: GeoIP lookup (MaxMind and flat schemas), country centroids, distances;
//! - [`steer`]: the pure decision for pooled names;
//! - [`health`]: TCP/HTTP(S) probes, rise/fall state, overrides, the live health view;
//! - [`feedback`]: load and backends reported by the regional L4/L7 tier, the shed controller;
//! - [`dns`]: the wire front end: parse, answer, EDNS/ECS, truncation, UDP and TCP transports;
//! - [`admin`]: reloads, file watching, the admin HTTP API, metrics and admin overrides.
pub mod admin;
pub mod config;
pub mod dns;
pub mod feedback;
pub mod geo;
pub mod health;
pub mod steer;
pub mod zone;
