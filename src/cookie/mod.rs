//! DNS Cookies (RFC 7873) for an authoritative server: the COOKIE option of RFC 7873 and the
//! interoperable server cookie of RFC 9018, with no allocation on the query path.
//!
//! ```text
//! query OPT ──► QueryCookie::parse (8, or 16..=40 bytes; else FORMERR, RFC 7873 §5.2.2)
//!                   │
//!                   ▼
//! decide(&Secrets, Policy, cookie, has_question, client ip, transport, now)
//!     status: None | ClientOnly | Invalid(why) | Valid          (RFC 7873 §5.2.1-§5.2.5)
//!     action: Answer | BadCookie                                (RFC 7873 §5.2.3, §5.4)
//!     cookie: the COOKIE option for the reply (echoed, or made fresh with SipHash-2-4)
//!                   │
//!                   ▼
//! reply OPT gets `cookie.as_bytes()`; BADCOOKIE is extended rcode 23:
//! header RCODE = 23 & 0xF (7), OPT extended RCODE = 23 >> 4 (1)
//! RRL: skipped when `status.rrl_exempt()`; a slip for a client cookie becomes BADCOOKIE
//! ```
//!
//! Invariants: every function on the query path works on stack arrays (a parsed cookie is
//! 41 bytes, a reply option at most 44, the hash input at most 32); time is the caller's
//! `now` in UNIX seconds, compared with RFC 1982 serial arithmetic, so tests mock it.
//! Secrets come from a file that other users cannot read ([`secret::read_secret_file`]).
//! An anycast set interoperates when every node has the same secret (RFC 9018 §5).
pub mod option;
pub mod policy;
pub mod secret;
pub mod server_cookie;

pub use option::{Malformed, QueryCookie, ReplyCookie};
pub use policy::{Action, Decision, Policy, SlipReply, Status, Transport, decide};
pub use secret::{Secret, SecretFile, SecretFileError, Secrets, read_secret_file};
pub use server_cookie::Invalid;

/// The EDNS option code of COOKIE (RFC 7873 §8).
pub const OPTION_CODE: u16 = 10;
/// The extended RCODE BADCOOKIE (RFC 7873 §8): 12 bits, split between the header and OPT.
pub const BADCOOKIE: u16 = 23;
