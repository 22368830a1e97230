//! gslbd: an authoritative GSLB DNS server.
//!
//! # Layers
//!
//! Each top-level module belongs to one layer and imports only from the layers above it in
//! this table, and from modules listed before it in its own row (`tests/layers.rs` reads this
//! table and fails on any other `crate::` import, so the table is the rule, not a picture of it).
//!
//! | layer | modules | what it holds |
//! |---|---|---|
//! | 0 leaves | `diag`, `util` | config errors with file:line; randomness, the clock, durable writes |
//! | 1 model | `dnssec`, `tsig`, `geo`, `pool`, `zone` | DNSSEC keys, key files, signatures and white lies; TSIG keys and message signing (RFC 8945); GeoIP; the pool model and its ids; zone data, lookups, answer types, online signing and the transfer journal |
//! | 2 pure logic | `health`, `steer`, `feedback`, `cookie` | the rise/fall machine, health and RTT views; the steering decision; feed parsers, shed controller, load view; DNS cookies (RFC 7873/9018) |
//! | 3 config | `config` | files → one immutable compiled `Snapshot`; pools linked into zones |
//! | 4 services | `services` | probers and feed pollers on one keyed-task registry |
//! | 5 serving | `serving` | `Serving { config, live }` swapped atomically; overrides; counters |
//! | 6 fleet | `cluster` | the etcd client; health votes and runtime changes shared by the nodes (never on the query path) |
//! | 7 front end | `dns` | wire parsing, `respond`, encoding, UDP/TCP transports, RRL, hickory adapter |
//! | 8 operations | `ops`, `xfr`, `app` | reload, admin API, metrics, query log; NOTIFY out and the secondary role (zone transfers in); the `App` that `main.rs` runs |
//!
//! # One query, socket to reply
//!
//! ```text
//! dns::udp::serve_until          recvmmsg a batch into preallocated buffers (dns::udp::batch)
//!  └ DnsHandler::begin_batch     one lock-free load of Shared<Serving> per batch
//!  └ DnsHandler::handle
//!     └ dns::udp::cache          the same query octets (ID and ECS address aside) under the same state:
//!                                the kept reply with the new ID and ECS address (dns::udp::patch); a pooled
//!        └ dns::steer_again      one decided again (dns::decide_pooled, as below), its addresses, TTL, scope written in
//!     └ dns::respond_with        dns::wire::parse → header, question, EDNS/ECS/COOKIE (FORMERR, NOTIMP, BADVERS)
//!        └ dns::cookies          cookie::decide: valid / client-only / invalid, BADCOOKIE (RFC 7873, 9018)
//!        └ zone::lookup          zone::ZoneSet::zone_for → Zone::find → answer / referral / negative
//!                                (class CH: zone::Chaos, the identity and version TXT)
//!        └ dns::steer_pooled     for a pooled name (dns::decide_pooled): geo::GeoDb::lookup, AnswerSource::health
//!           └ steer::decide      region and members → addresses or CNAME, TTL, ECS scope
//!        └ dns::encode::encode   reply written into the buffer, names compressed, TC on overflow
//!     └ Observer::observe        ops::QueryObserver: ops::Metrics::record, Live::count_steered, sampled log
//!     └ dns::rrl::Rrl::check     send, slip (TC, or BADCOOKIE to a cookie client) or drop; a valid cookie skips it
//!  └ Batch::send                 sendmmsg the replies, each from the address it was sent to
//! ```
//! A query with a TSIG record (RFC 8945) is checked, answered unsigned and signed by
//! `dns::signed`; on TCP an AXFR/IXFR frame goes to `dns::xfr` first (zone transfers; NOTIFY and
//! the secondary role run off the query path in `xfr`).
//! TCP runs the same `respond_with` and observer per frame (`dns::tcp`); hickory-server's
//! listeners (DNS over TLS, `dns::tls`) run it through `dns::hickory::HickoryHandler`.
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod app;
pub mod cluster;
pub mod config;
pub mod cookie;
pub mod diag;
pub mod dns;
pub mod dnssec;
pub mod feedback;
pub mod geo;
pub mod health;
pub mod ops;
pub mod pool;
pub mod services;
pub mod serving;
pub mod steer;
pub mod tsig;
pub mod util;
pub mod xfr;
pub mod zone;
