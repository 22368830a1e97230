//! The DNSSEC core: keys (ring) and BIND key files, DNSKEY/DS/CDS/CDNSKEY, RRSIGs over RRsets
//! in wire form, NSEC type bitmaps, the white lies that prove names and types absent, and
//! the key manager's rollovers. It knows nothing of zones or queries: `zone::online` signs a
//! zone's data with it at load and its answers per query, and `config` loads the keys.
//!
//! ```text
//!  BIND key files ─keyfile─► ZoneKey (KeyPair: ring) ─► DNSKEY RDATA, key tag, DS / CDS / CDNSKEY
//!       ▲ keys: first keys, ZSK rollover on schedule, KSK rollover by command, import
//!  owner, type, class, TTL, RDATAs (wire, any order) ─rrsig::sign_rrset─► RRSIG RDATA
//!                                                     (canonical form and order: canonical)
//!  negative answer ─denial (epsilon)─► NSEC (owner, RDATA) on the stack ─► sign, or a cache hit
//! ```
//!
//! Everything is in wire form (names uncompressed, `&[u8]`), so the server signs the very
//! octets it serves. Times are passed in (RRSIG inception/expiration as 32-bit serial
//! seconds), so tests control them. No cryptography is written here: signing, verifying,
//! hashing and key generation are ring's; the raw private key BIND's files hold is read out of
//! ring's PKCS#8 document with the RustCrypto `pkcs8`/`sec1` DER decoders.
//!
//! Why not hickory-proto's `dnssec-ring` signer: its `TBS` sorts an RRset by the
//! non-lowercased RDATA, so RRsets with mixed-case names in their RDATA (NS, MX, SRV, CNAME
//! targets) get signatures validators reject (demonstrated with dnspython by the prototype of
//! issue 15); it also works on owned records and allocates per signature, and has no BIND key
//! files, white lies or CDS/CDNSKEY.
//!
//! Invariants: a signature covers the canonical form of the RRset (RFC 4034 §6: lowercase
//! owner, names in RDATA lowercased only for the RFC 4034 §6.2 types less NSEC per RFC 6840
//! §5.1, RDATAs sorted and deduplicated); the caller serves the RRSIG with the RRset's TTL,
//! which is its original TTL or less.
//!
//! # Zone transfers of a signed zone (issue 16)
//!
//! A secondary cannot sign online, so a transfer must carry a complete NSEC chain instead of
//! white lies. It is made from what is already here, without new cryptography: walk
//! `zone::Zone::names()` (the online zone's RRsets already carry their load-time RRSIGs), keep
//! every authoritative name (not the empty non-terminals, not what is below a cut but the
//! cut itself, RFC 4035 §2.3), sort them with [`name::canonical_cmp`], and give each the NSEC
//! `denial::nsec_at`-style RDATA whose next name is the following name (the last one points
//! back to the apex) and whose bitmap is its types plus RRSIG and NSEC; sign each NSEC RRset
//! with the signing ZSK ([`rrsig::sign_rrset`]); pooled names go in with the fallback answer
//! their `transfer` setting chooses, signed like any RRset. The NSEC TTL is
//! min(SOA TTL, SOA MINIMUM) as for the white lies.
pub mod buf;
pub mod canonical;
pub mod denial;
pub mod ds;
pub mod epsilon;
mod error;
pub mod key;
pub mod keyfile;
pub mod keys;
pub mod name;
pub mod nsec;
pub mod rrsig;
pub mod text;
pub mod zonekey;

pub use error::{Error, Result};
pub use key::{Algorithm, KeyPair};
pub use keys::{KeySet, KeyState, ZskSchedule};
pub use rrsig::{RrsigParams, Scratch, sign_rrset};
pub use zonekey::{Timing, ZoneKey};
