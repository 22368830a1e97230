//! DNS cookies on the query path (RFC 7873, RFC 9018 server cookies; the decision itself is
//! [`crate::cookie::decide`]): what a query's COOKIE option comes to under the serving
//! config, and the BADCOOKIE reply that replaces an RRL slip for a client that sent a cookie.
//!
//! ```text
//! EdnsQuery.cookie ─► decide(secrets, policy, cookie, has_question, client, transport, now)
//!                        status ─► Outcome (metrics), RRL exemption (Valid)
//!                        action BadCookie ─► rcode 23, question echoed, no records
//!                        cookie ─► the reply's OPT
//! ```
//! No allocation: the decision and the reply option are fixed-size values; the clock is read
//! only for a query that carries a cookie while cookies are on.
use std::net::IpAddr;

use super::Transport;
use super::wire::EdnsQuery;
use crate::config::Snapshot;
use crate::cookie::{self, Decision};
use crate::util::clock::unix_now;

/// The cookie decision for a query's OPT, or `None` when cookies are off or the query has
/// no COOKIE option (then the reply carries none, as without cookie support).
pub fn decide_for(
    snap: &Snapshot,
    edns: Option<&EdnsQuery>,
    has_question: bool,
    client: IpAddr,
    transport: Transport,
) -> Option<Decision> {
    let cookies = snap.cookies.as_ref()?;
    let c = edns?.cookie.as_ref()?;
    let transport = match transport {
        Transport::Udp => cookie::Transport::Udp,
        Transport::Tcp => cookie::Transport::Stream,
    };
    // RFC 1982 arithmetic on 32 bits: the truncation is what the cookie format carries.
    let now = unix_now() as u32;
    Some(cookie::decide(&cookies.secrets, cookies.policy, Some(c), has_question, client.to_canonical(), transport, now))
}

/// Rewrites the reply in `buf` (`len` bytes: header, question, ..., with the header's counts)
/// into a BADCOOKIE reply: header and question, rcode 23 (7 in the header, 1 in the OPT),
/// and an OPT record holding `reply_cookie` (the whole COOKIE option). Returns the new length.
/// The result is never longer than the reply it replaces, which carried the same option.
pub fn badcookie_in_place(buf: &mut Vec<u8>, len: usize, reply_cookie: &[u8], dnssec_ok: bool) -> usize {
    let kept = super::rrl::slip_in_place(buf, len);
    buf.truncate(kept);
    buf[2] &= !0x02; // no TC: the reply is whole
    buf[3] = (buf[3] & 0xF0) | (cookie::BADCOOKIE & 0xF) as u8;
    // OPT: root owner, type 41, our payload size, extended rcode 1, DO copied, the cookie.
    buf.push(0);
    buf.extend_from_slice(&41u16.to_be_bytes());
    buf.extend_from_slice(&super::EDNS_PAYLOAD.to_be_bytes());
    buf.push((cookie::BADCOOKIE >> 4) as u8);
    buf.push(0);
    buf.extend_from_slice(&(if dnssec_ok { 0x8000u16 } else { 0 }).to_be_bytes());
    buf.extend_from_slice(&(reply_cookie.len() as u16).to_be_bytes());
    buf.extend_from_slice(reply_cookie);
    buf[10..12].copy_from_slice(&1u16.to_be_bytes());
    buf.len()
}
