//! The DNS front end: one function, [`respond_with`], turns a query packet into a reply
//! packet against an [`AnswerSource`] (the serving state, or a bare compiled config); [`udp`]
//! and [`tcp`] run it on the sockets [`server`] binds, and report each outcome to an injected
//! [`Observer`] (metrics and the query log live in `ops`).
//!
//! ```text
//! packet ─► wire::parse ─► Drop | Error(rcode) | Query
//!                                                  │ class IN? zone? AXFR?
//!                                                  ▼
//!                                  zone::lookup (static data, referrals, negatives)
//!                                                  │ pooled name?
//!                             steer::decide_into(pools, .., src.health(zone), rng, &mut steered) → addresses / CNAME
//!                                                  │
//!                       EDNS reply (1232, NSID, ECS echo + scope) ─► encode (TC on overflow)
//! ```
//! `respond` is shared by the UDP fast path ([`udp`]), TCP ([`tcp`]), hickory's `Server`
//! ([`hickory`]), explain, the tests and the fuzz targets. With a reused output buffer it
//! allocates nothing (tests/zero_alloc.rs).
pub mod cookies;
pub mod encode;
pub mod explain;
pub mod hickory;
mod name_memo;
pub mod observe;
pub mod outcome;
pub mod rrl;
pub mod server;
mod signed;
pub mod tcp;
pub mod tls;
pub mod udp;
pub mod wire;
pub mod xfr;

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use ipnet::IpNet;

use crate::config::Snapshot;
use crate::cookie;
use crate::pool::PoolId;
use crate::serving::{AnswerSource, Steered, SteeredAnswer};
use crate::steer::{AddrList, Client, Decided, Explain, Family, Picked, decide_into};
use crate::util::rng::Random;
use crate::zone::key::WireKey;
use crate::zone::online::deny;
use crate::zone::{Lookup, Pooled, Rrs, Section, Signed, Signing, Synthesized, lookup, lookup_into};
use encode::{EdnsReply, Reply, Written, encode};
pub use observe::{NoObserver, Observer};
pub use outcome::{DropReason, Outcome};
use wire::{ErrorRcode, Parsed};

/// The EDNS UDP payload size we advertise and the most we send over UDP (DNS flag day 2020).
pub const EDNS_PAYLOAD: u16 = 1232;
/// Without EDNS a UDP reply is at most 512 bytes (RFC 1035 §4.2.1).
pub const PLAIN_UDP_LIMIT: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

const CLASS_IN: u16 = 1;
const CLASS_CH: u16 = 3;

/// Answers one query packet from `client` into `out`. `None`: drop the packet, send nothing.
/// `rng` drives the weighted choices of pooled names; each worker passes its own.
/// Allocates nothing when `out` has room for a whole message (64 KiB).
pub fn respond<S: AnswerSource, R: Random + ?Sized>(
    src: &S,
    packet: &[u8],
    client: IpAddr,
    transport: Transport,
    out: &mut Vec<u8>,
    rng: &mut R,
) -> Option<Written> {
    respond_with(src, packet, client, transport, out, rng, &mut Outcome::default())
}

/// [`respond`], also summing up what happened in `outcome` (overwritten) for metrics and logs.
pub fn respond_with<S: AnswerSource, R: Random + ?Sized>(
    src: &S,
    packet: &[u8],
    client: IpAddr,
    transport: Transport,
    out: &mut Vec<u8>,
    rng: &mut R,
    outcome: &mut Outcome,
) -> Option<Written> {
    *outcome = Outcome::default();
    let snap = src.config();
    let query = match wire::parse(packet) {
        Parsed::Drop => {
            // A runt, or a response (QR=1) sent to us: never answered.
            let response = packet.len() >= 12 && packet[2] & 0x80 != 0;
            outcome.drop = if response { DropReason::Other } else { DropReason::Malformed };
            return None;
        }
        Parsed::Error { mut header, rcode, question, edns } => {
            // NOTIFY (RFC 1996) from a secondary zone's primary: NOERROR, AA, and a refresh.
            if header.opcode == xfr::OPCODE_NOTIFY
                && let Some(q) = question.as_ref()
                && xfr::accept_notify(src, q, client)
            {
                let w = error_reply(header, 0, Some(q), edns, None, transport, out, outcome);
                out[2] |= 0x04;
                return Some(w);
            }
            // CD is defined for QUERY only (RFC 4035 §3.1.6 says when a reply copies it): a
            // NOTIMP reply to another opcode does not carry it (Knot clears it too).
            header.cd &= rcode != ErrorRcode::NotImp;
            let rcode = match rcode {
                ErrorRcode::FormErr => u16::from(ResponseCode::FormErr),
                ErrorRcode::NotImp => u16::from(ResponseCode::NotImp),
                ErrorRcode::BadVers => u16::from(ResponseCode::BADVERS),
            };
            // A cookie that parsed goes back in error replies too (RFC 7873 §5.2).
            let decision = cookies::decide_for(snap, edns.as_ref(), question.is_some(), client, transport);
            return Some(error_reply(header, rcode, question.as_ref(), edns, decision, transport, out, outcome));
        }
        Parsed::CookieOnly { header, edns } => {
            // RFC 7873 §5.4: NOERROR and a cookie (BADCOOKIE when its server cookie is
            // invalid); without cookies, QDCOUNT=0 stays FORMERR.
            let formerr = u16::from(ResponseCode::FormErr);
            if snap.cookies.is_none() {
                return Some(error_reply(header, formerr, None, None, None, transport, out, outcome));
            }
            if edns.cookie_malformed {
                return Some(error_reply(header, formerr, None, Some(edns), None, transport, out, outcome));
            }
            let decision = cookies::decide_for(snap, Some(&edns), false, client, transport);
            let rcode = match decision.map(|d| d.action) {
                Some(cookie::Action::BadCookie) => cookie::BADCOOKIE,
                _ => 0,
            };
            return Some(error_reply(header, rcode, None, Some(edns), decision, transport, out, outcome));
        }
        Parsed::Query(q) => q,
        Parsed::Signed => return signed::respond_signed(src, packet, client, transport, out, rng, outcome),
    };
    let qtype = query.question.qtype;
    let cookie_on = snap.cookies.is_some();
    if cookie_on && query.edns.is_some_and(|e| e.cookie_malformed) {
        // RFC 7873 §5.2.2: a malformed COOKIE option is FORMERR.
        let formerr = u16::from(ResponseCode::FormErr);
        return Some(error_reply(
            query.header,
            formerr,
            Some(&query.question),
            query.edns,
            None,
            transport,
            out,
            outcome,
        ));
    }
    let dnssec_ok = query.edns.is_some_and(|e| e.dnssec_ok);
    let decision = cookies::decide_for(snap, query.edns.as_ref(), true, client, transport);
    outcome.cookie = decision;
    outcome.dnssec_ok = dnssec_ok;
    if decision.is_some_and(|d| d.action == cookie::Action::BadCookie) {
        // RFC 7873 §5.2.3 under `require`: no answer until the client proves its address.
        let rc = cookie::BADCOOKIE;
        return Some(error_reply(
            query.header,
            rc,
            Some(&query.question),
            query.edns,
            decision,
            transport,
            out,
            outcome,
        ));
    }
    let synth = Synthesized::default();
    // The question's name as the packet holds it: echoed as it is, and the lookup's key.
    let qname_wire = encode::query_name(packet);
    // We serve class IN, and CHAOS identity TXT (RFC 4892); no zone transfers: zones come
    // from files on every node.
    // Filled in place (a `Lookup` is some 4 KB).
    let mut result = Lookup::new();
    if query.question.qclass == CLASS_CH {
        result = snap.chaos.lookup(&query.question.name, qtype);
    } else if query.question.qclass != CLASS_IN || matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
        result = Lookup::refused();
    } else {
        // The name lower-cased from the packet's octets (plain labels: no label walk of the Name).
        let mut key = WireKey::root();
        if !qname_wire.is_some_and(|w| key.set_wire(w)) {
            key = WireKey::new(&query.question.name);
        }
        lookup_into(&snap.zones, &query.question.name, &key, qtype, dnssec_ok, &synth, &mut result);
    }

    let ecs = query.edns.and_then(|e| e.ecs);
    // Static data does not depend on the client's address: scope 0 (RFC 7871 §7.2.1).
    let mut scope = 0;
    if let Some(pooled) = result.pooled.take() {
        let (subnet, no_scope) = steering_subnet(ecs, client);
        let ctx = SteerCtx { qtype, dnssec_ok, synth: &synth };
        scope = steer_pooled(src, pooled, ctx, subnet, rng, &mut result, None, &mut outcome.steered);
        if no_scope {
            scope = 0;
        }
    }
    let reply_cookie = decision.and_then(|d| d.cookie);
    let edns = query.edns.map(|e| EdnsReply {
        payload: EDNS_PAYLOAD,
        dnssec_ok: e.dnssec_ok,
        nsid: if e.nsid { snap.server.nsid.as_deref() } else { None },
        ecs: e.ecs.map(|c| (c, scope)),
        cookie: reply_cookie.as_ref().map(|c| c.as_bytes()),
    });
    let reply = Reply {
        header: query.header,
        authoritative: result.authoritative,
        rcode: u16::from(result.rcode),
        question: Some(&query.question),
        answer: &result.answer,
        authority: &result.authority,
        additional: &result.additional,
        // What an `Rrs::Addresses` in the answer stands for: the decision's list, where it is kept
        // for the observer (the outcome was reset above, so only this query's decision is there).
        addrs: outcome.steered.as_ref().map_or(&[], |s| s.answer.addresses()),
        edns,
    };
    let limit = size_limit(transport, query.edns.map(|e| e.payload));
    let written = encode::encode_query(&reply, qname_wire, limit, out);
    outcome.replied = true;
    outcome.rcode = reply.rcode;
    outcome.qtype = Some(u16::from(qtype));
    outcome.ecs = ecs.is_some();
    outcome.truncated = written.truncated;
    outcome.signed = result.signed;
    (outcome.sig_cache_hits, outcome.sig_made) = synth.cache_use();
    Some(written)
}

/// The sections of a reply without records.
const EMPTY: Section<'static> = Section::new();

/// What a pooled answer's lookup needs from its query: the type, the DO bit, and where the
/// names a DNAME synthesizes are kept.
#[derive(Clone, Copy)]
pub(crate) struct SteerCtx<'a> {
    pub qtype: RecordType,
    pub dnssec_ok: bool,
    pub synth: &'a Synthesized,
}

/// A reply with no records: `rcode`, the question if there is one, and an OPT (with the
/// cookie of `decision`) when the query had one. Fills `outcome`.
#[allow(clippy::too_many_arguments)]
fn error_reply(
    header: wire::QueryHeader,
    rcode: u16,
    question: Option<&wire::Question>,
    edns: Option<wire::EdnsQuery>,
    decision: Option<cookie::Decision>,
    transport: Transport,
    out: &mut Vec<u8>,
    outcome: &mut Outcome,
) -> Written {
    let reply_cookie = decision.and_then(|d| d.cookie);
    let edns = edns.map(|e| EdnsReply {
        payload: EDNS_PAYLOAD,
        dnssec_ok: e.dnssec_ok,
        nsid: None,
        ecs: None,
        cookie: reply_cookie.as_ref().map(|c| c.as_bytes()),
    });
    let reply = Reply {
        header,
        authoritative: false,
        rcode,
        question,
        answer: &EMPTY,
        authority: &EMPTY,
        additional: &EMPTY,
        addrs: &[],
        edns,
    };
    let written = encode(&reply, size_limit(transport, edns.map(|_| EDNS_PAYLOAD)), out);
    *outcome = Outcome {
        replied: true,
        drop: DropReason::default(),
        rcode,
        qtype: question.map(|q| u16::from(q.qtype)),
        ecs: false,
        truncated: written.truncated,
        steered: None,
        cookie: decision,
        dnssec_ok: edns.is_some_and(|e| e.dnssec_ok),
        ..Outcome::default()
    };
    written
}

/// The steering client for `subnet` asking pool `pool` of zone `zone` (its index in
/// `ZoneSet::zones`): its GeoIP hit when a database is configured, with the network widened to
/// the block of one answer of that pool (`config::GeoScopes`), and the pool's regions ranked
/// for its record where the maps hold that.
pub fn steering_client(snap: &Snapshot, subnet: IpNet, zone: usize, pool: PoolId) -> Client {
    let maps = snap.geo_scopes.get(zone, pool);
    let geo =
        snap.geo.as_ref().map(|g| g.lookup_in(subnet.addr(), maps.map(|m| &m.any_health), maps.map(|m| &m.all_up)));
    // The record's slot comes only with a map of the same database: the ranks beside it fit.
    let ranked = maps.zip(geo.and_then(|g| g.record)).and_then(|(m, slot)| m.ranks.get(slot));
    Client { subnet, geo, ranked }
}

/// The steering decision for pool `pool` of zone `zone` (its index in `ZoneSet::zones`) and a
/// client in `subnet`: the GeoIP hit, the members' health now, and [`decide_into`], which
/// writes the addresses into `steered` (filled here with the decision's ids). The one
/// decision of every pooled reply, whole ([`steer_pooled`]) or kept encoded by the UDP reply
/// cache ([`steer_again`]). `None` for a zone index foreign to the snapshot.
#[allow(clippy::too_many_arguments)]
fn decide_pooled<'a, S: AnswerSource, R: Random + ?Sized>(
    src: &'a S,
    zone: usize,
    pool: PoolId,
    family: Family,
    subnet: IpNet,
    rng: &mut R,
    explain: Option<&mut Explain>,
    steered: &mut Option<Steered>,
) -> Option<Decided<Picked<'a>>> {
    let snap = src.config();
    let pools = &snap.zones.zones().get(zone)?.pools;
    let client = steering_client(snap, subnet, zone, pool);
    // Probe results (or the pool file's marks), under the admin overrides (drain, force up/down).
    let health = src.health(zone, pools);
    // The decision writes its addresses straight into `steered`; the answer is written from there.
    let steered = steered.insert(Steered {
        zone,
        asked: pool,
        pool,
        region: None,
        answer: SteeredAnswer::Addresses(AddrList::new()),
    });
    let SteeredAnswer::Addresses(list) = &mut steered.answer else { return None };
    let d = decide_into(pools, pool, family, &client, &health, rng, explain, list);
    (steered.pool, steered.region) = (d.pool, d.region);
    match d.answer {
        Picked::Addresses => {}
        Picked::Cname(_) => steered.answer = SteeredAnswer::Cname,
        Picked::NoData => steered.answer = SteeredAnswer::NoData,
    }
    Some(d)
}

/// Whom a pooled answer is decided for: the query's ECS subnet, or the resolver's address
/// without one or with a source prefix of 0 (RFC 7871 §7.1.2: "do not use my subnet"); and
/// whether the scope must then be 0.
fn steering_subnet(ecs: Option<wire::ClientSubnet>, client: IpAddr) -> (IpNet, bool) {
    match ecs {
        Some(c) if c.source_prefix() > 0 => (c.net(), false),
        _ => (IpNet::from(client), ecs.is_some()),
    }
}

/// The decision for a pooled reply the UDP reply cache keeps encoded: the same decision, on
/// the same client, health and random source, as [`respond_with`] makes for that query
/// ([`decide_pooled`]). Returns the TTL and the ECS scope to write into the kept reply, or
/// `None` when the answer is not `n` addresses (the kept reply's shape is not this answer's:
/// the caller answers the query whole).
#[allow(clippy::too_many_arguments)]
pub(crate) fn steer_again<S: AnswerSource, R: Random + ?Sized>(
    src: &S,
    zone: usize,
    pool: PoolId,
    family: Family,
    ecs: Option<wire::ClientSubnet>,
    client: IpAddr,
    n: usize,
    rng: &mut R,
    steered: &mut Option<Steered>,
) -> Option<(u32, u8)> {
    let (subnet, no_scope) = steering_subnet(ecs, client);
    let d = decide_pooled(src, zone, pool, family, subnet, rng, None, steered)?;
    let count = steered.as_ref().map_or(0, |s| s.answer.addresses().len());
    (matches!(d.answer, Picked::Addresses) && count == n).then_some((d.ttl, if no_scope { 0 } else { d.ecs_scope }))
}

/// Fills the answer of a pooled name from the steering decision (addresses go to `steered`,
/// which an [`Rrs::Addresses`] in the answer stands for); returns the ECS scope and puts the
/// decision's ids in `steered`.
#[allow(clippy::too_many_arguments)]
fn steer_pooled<'a, S: AnswerSource, R: Random + ?Sized>(
    src: &'a S,
    pooled: Pooled<'a>,
    ctx: SteerCtx<'a>,
    subnet: IpNet,
    rng: &mut R,
    result: &mut Lookup<'a>,
    explain: Option<&mut Explain>,
    steered: &mut Option<Steered>,
) -> u8 {
    let snap = src.config();
    let qtype = ctx.qtype;
    let Some(zone) = snap.zones.zones().get(pooled.zone) else { return 0 };
    let family = family_of(qtype);
    let Some(d) = decide_pooled(src, pooled.zone, pooled.pool, family, subnet, rng, explain, steered) else {
        return 0;
    };
    let Some(steered) = steered.as_ref() else { return 0 };
    let addrs = steered.answer.addresses();
    // With DO=1 an online-signed zone signs what the steering chose: each answer set once,
    // its RRSIG kept in the zone's cache (a hit allocates nothing), the NODATA proven.
    let signed = ctx.dnssec_ok && zone.signing != Signing::None;
    let signer = if ctx.dnssec_ok { zone.signer.as_deref() } else { None };
    let hold =
        |s: Option<(std::sync::Arc<Signed>, bool)>| s.and_then(|(s, hit)| ctx.synth.hold(s, hit)).map(|h| &h.sigs);
    let no_data = |result: &mut Lookup<'a>| {
        let (apex, soa) = zone.negative_soa();
        result.authority.push(Rrs::Set {
            owner: apex,
            set: soa,
            sigs: if signed { soa.sigs.as_deref() } else { None },
        });
        if let (Some(_), Some((owner, node))) = (signer, zone.entry(pooled.owner)) {
            let rtype = if family == Family::V6 { RecordType::AAAA } else { RecordType::A };
            deny::no_type(zone, owner, node, Some(rtype), ctx.synth, &mut result.authority);
        }
    };
    match d.answer {
        Picked::Addresses => {
            if addrs.is_empty() {
                no_data(result);
            } else {
                let rtype = if family == Family::V6 { RecordType::AAAA } else { RecordType::A };
                let sigs = hold(signer.and_then(|s| s.addresses(pooled.owner, rtype, d.ttl, addrs)));
                result.answer.push(Rrs::Addresses { owner: pooled.owner, ttl: d.ttl, sigs });
            }
        }
        Picked::Cname(target) => {
            let sigs = hold(signer.and_then(|s| s.cname(pooled.owner, d.ttl, target)));
            result.answer.push(Rrs::Cname { owner: pooled.owner, ttl: d.ttl, target, sigs });
            // An in-zone hand-off target is answered too, as for any in-zone CNAME.
            if zone.origin.zone_of(target) && qtype != RecordType::CNAME {
                let more = lookup(&snap.zones, target, qtype, ctx.dnssec_ok, ctx.synth);
                if more.pooled.is_none() {
                    result.rcode = more.rcode;
                    result.answer.extend(&more.answer);
                    result.authority.extend(&more.authority);
                    result.additional.extend(&more.additional);
                }
            }
        }
        Picked::NoData => no_data(result),
    }
    d.ecs_scope
}

/// The family a pooled name answers a question of type `qtype` with: AAAA for AAAA, else A
/// (ANY gets the A answer: RFC 8482 lets us pick one RRset).
pub(crate) fn family_of(qtype: RecordType) -> Family {
    if qtype == RecordType::AAAA { Family::V6 } else { Family::V4 }
}

/// The largest reply the client can take: 512 without EDNS, its payload size (at most
/// ours) with EDNS, and a whole message over TCP.
fn size_limit(transport: Transport, client_payload: Option<u16>) -> usize {
    match (transport, client_payload) {
        (Transport::Tcp, _) => u16::MAX as usize,
        (Transport::Udp, None) => PLAIN_UDP_LIMIT,
        (Transport::Udp, Some(p)) => (p.min(EDNS_PAYLOAD) as usize).max(PLAIN_UDP_LIMIT),
    }
}
