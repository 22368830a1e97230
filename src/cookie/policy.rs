//! What to do with a query's cookie: RFC 7873 §5.2 and §5.4, with RFC 9018 server cookies.
//!
//! | query carries                  | UDP, default policy      | UDP, `require_on_udp`   | TCP / DoT / DoQ |
//! |--------------------------------|--------------------------|-------------------------|-----------------|
//! | no COOKIE (§5.2.1)             | answer, no cookie        | answer, no cookie       | same            |
//! | malformed COOKIE (§5.2.2)      | FORMERR (the parser's)   | FORMERR                 | FORMERR         |
//! | client cookie only (§5.2.3)    | answer + fresh cookie    | BADCOOKIE + fresh       | answer + fresh  |
//! | invalid server cookie (§5.2.4) | answer + fresh cookie    | BADCOOKIE + fresh       | answer + fresh  |
//! | valid server cookie (§5.2.5)   | answer + echo/refresh    | answer + echo/refresh   | same            |
//! | QDCOUNT=0, COOKIE (§5.4)       | NOERROR + fresh cookie, or BADCOOKIE if its server cookie is invalid (all transports) |
//!
//! A stream transport proves the source address by its handshake, so it never gets BADCOOKIE
//! for a missing cookie (§5.2.3: "SHOULD choose (3)"); its replies still carry a cookie, so a
//! client can learn it there. Only a valid server cookie exempts a query from response rate
//! limiting ([`Status::rrl_exempt`]). When RRL would slip a reply (TC=1) to a query that has a
//! client cookie, [`Decision::on_rrl_slip`] makes it BADCOOKIE with a fresh cookie instead: a
//! single small reply, and the resolver's next UDP query carries a valid cookie, is exempt,
//! and needs no TCP fallback (§5.2.3 lets the server choose BADCOOKIE "based on server
//! policy, including rate limiting").
//!
//! "Echo" is §5.2.5 (a): the client's own valid cookie comes back unchanged while it is at most
//! half an hour old and made with the current secret; otherwise a fresh one is made (§5.2.5 (b),
//! RFC 9018 §4.3).
use std::net::IpAddr;

use super::option::{QueryCookie, ReplyCookie};
use super::secret::Secrets;
use super::server_cookie::{self, Invalid};

/// How the query arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    /// TCP, DNS over TLS, DNS over QUIC: the handshake already proved the source address.
    Stream,
}

/// The operator's choice for UDP queries without a valid server cookie.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Answer BADCOOKIE (with a fresh cookie) to UDP queries that carry a client cookie but no
    /// valid server cookie, as Knot's mod-cookies and BIND's `require-server-cookie yes` do.
    /// Off by default: such queries are answered normally (and rate limited).
    pub require_on_udp: bool,
}

/// What the query's cookie turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// No COOKIE option: handled as if cookies did not exist (RFC 7873 §5.2.1).
    Absent,
    /// A client cookie only (§5.2.3).
    ClientOnly,
    /// A server cookie that does not verify (§5.2.4), and why.
    Invalid(Invalid),
    /// A server cookie that verifies (§5.2.5).
    Valid,
}

impl Status {
    /// A query whose source address is proven by a valid server cookie is not rate limited.
    pub fn rrl_exempt(&self) -> bool {
        matches!(self, Status::Valid)
    }
}

/// The reply's fate, as far as cookies decide it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Answer as usual (the reply carries `Decision::cookie` when there is one).
    Answer,
    /// Reply with extended RCODE BADCOOKIE (23), the question echoed, no records, and the
    /// fresh cookie in OPT.
    BadCookie,
}

/// What RRL's slip becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlipReply {
    /// The usual slip: TC=1, no records.
    Truncated,
    /// BADCOOKIE with the fresh cookie (the query had a client cookie).
    BadCookie,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub status: Status,
    pub action: Action,
    /// The COOKIE option for the reply's OPT, whatever the rcode.
    pub cookie: Option<ReplyCookie>,
}

impl Decision {
    pub fn on_rrl_slip(&self) -> SlipReply {
        match self.status {
            Status::ClientOnly | Status::Invalid(_) if self.cookie.is_some() => SlipReply::BadCookie,
            _ => SlipReply::Truncated,
        }
    }
}

/// Decides for one query. `has_question` is false for a QDCOUNT=0 query (§5.4: "give me a
/// cookie"); `now` is the UNIX time in seconds (truncated to 32 bits). No allocation.
pub fn decide(
    secrets: &Secrets,
    policy: Policy,
    cookie: Option<&QueryCookie>,
    has_question: bool,
    client_ip: IpAddr,
    transport: Transport,
    now: u32,
) -> Decision {
    let Some(cookie) = cookie else {
        return Decision { status: Status::Absent, action: Action::Answer, cookie: None };
    };
    let client = cookie.client();
    let fresh = || ReplyCookie::new(client, &server_cookie::make(secrets.current(), client, client_ip, now));
    let (status, reply) = match cookie.server() {
        None => (Status::ClientOnly, fresh()),
        Some(server) => match verify(secrets, cookie, server, client_ip, now) {
            Ok(Verified { echo: true }) => (Status::Valid, ReplyCookie::new(client, server)),
            Ok(Verified { echo: false }) => (Status::Valid, fresh()),
            Err(why) => (Status::Invalid(why), fresh()),
        },
    };
    let action = match (status, has_question, transport) {
        (Status::Invalid(_), false, _) => Action::BadCookie,
        (_, false, _) | (Status::Valid, _, _) | (_, _, Transport::Stream) => Action::Answer,
        (_, true, Transport::Udp) if policy.require_on_udp => Action::BadCookie,
        _ => Action::Answer,
    };
    Decision { status, action, cookie: Some(reply) }
}

struct Verified {
    /// The client's cookie may go back unchanged (current secret, not older than half an hour).
    echo: bool,
}

fn verify(secrets: &Secrets, cookie: &QueryCookie, server: &[u8], ip: IpAddr, now: u32) -> Result<Verified, Invalid> {
    let stamp = server_cookie::check_form(server, now)?;
    if server_cookie::hash_matches(secrets.current(), cookie.client(), server, ip) {
        return Ok(Verified { echo: !server_cookie::needs_refresh(stamp, now) });
    }
    match secrets.other_at(now) {
        Some(other) if server_cookie::hash_matches(other, cookie.client(), server, ip) => Ok(Verified { echo: false }),
        _ => Err(Invalid::Hash),
    }
}
