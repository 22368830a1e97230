//! What of a kept reply changes from one query to the next (the reply cache's patches), found
//! once when the reply is kept, by reading the octets [`crate::dns::respond_with`] wrote, and
//! written per query into a copy of them:
//! - the Client Subnet echo: the query's address octets (not part of the cache's key, so that
//!   clients of every subnet asking the same thing share a slot), and for a pooled answer the
//!   scope;
//! - a pooled answer's steered records: each one's TTL and address (A or AAAA).
//!
//! A reply is kept with patches only when they are all that can differ: the steered records
//! are exactly the decision's addresses, in its order, and nothing else in the reply has that
//! type; the echo's address is the query's. The reading is defensive (the reply is our own,
//! but a miscount only means "not kept"): any octet out of place returns `None`.
use std::net::IpAddr;

use crate::dns::wire::{RecordAt, name_end, record_at};
use crate::pool::{MAX_ANSWERS, PoolId};
use crate::steer::Family;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
const EDNS_ECS: u16 = 8;

/// Where a reply's Client Subnet echo is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcsAt {
    /// The scope octet.
    scope: u16,
    /// The first address octet, and how many there are.
    addr: u16,
    len: u8,
    /// The encoder's cap on the scope: the address's bits (32 or 128).
    scope_cap: u8,
}

/// A pooled reply's steered records: the decision that is made again for each query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PooledAt {
    /// The zone's index in the snapshot and the pool the name is bound to.
    pub zone: usize,
    pub pool: PoolId,
    pub family: Family,
    n: u8,
    /// Each steered record's TTL; its RDLENGTH and address follow.
    ttl: [u16; MAX_ANSWERS],
}

impl PooledAt {
    /// How many addresses the reply holds (the decision must give as many).
    pub fn len(&self) -> usize {
        usize::from(self.n)
    }
}

/// What a kept reply's patches need from one query.
pub struct Fill<'a> {
    /// The query's Client Subnet address octets (empty without the option).
    pub ecs_addr: &'a [u8],
    /// A pooled reply's decision: its addresses, TTL and ECS scope.
    pub steered: Option<(&'a [IpAddr], u32, u8)>,
}

/// Finds the Client Subnet echo of `reply` and checks that its address octets are
/// `query_addr` (the query's); `Some(None)` when the reply has none and the query had none.
pub fn find_ecs(reply: &[u8], query_addr: Option<&[u8]>) -> Option<Option<EcsAt>> {
    let r = Reader::new(reply)?;
    let mut at = r.past_question()?;
    for _ in 0..usize::from(r.count(6)?) + usize::from(r.count(8)?) {
        at = r.skip_record(at)?.next;
    }
    let mut found = None;
    for _ in 0..r.count(10)? {
        let rec = r.skip_record(at)?;
        if rec.rtype == TYPE_OPT {
            let mut o = rec.rdata;
            while o + 4 <= rec.next {
                let code = r.u16_at(o)?;
                let len = usize::from(r.u16_at(o + 2)?);
                if code == EDNS_ECS {
                    if found.is_some() || len < 4 {
                        return None;
                    }
                    let family = r.u16_at(o + 4)?;
                    let scope_cap = match family {
                        1 => 32,
                        2 => 128,
                        _ => return None,
                    };
                    let addr = o + 8;
                    found = Some(EcsAt {
                        scope: u16::try_from(o + 7).ok()?,
                        addr: u16::try_from(addr).ok()?,
                        len: u8::try_from(len - 4).ok()?,
                        scope_cap,
                    });
                    if Some(reply.get(addr..o + 4 + len)?) != query_addr {
                        return None;
                    }
                }
                o += 4 + len;
            }
        }
        at = rec.next;
    }
    (found.is_some() == query_addr.is_some()).then_some(found)
}

/// Finds the steered records of a pooled `reply`: the answer section's records of
/// `family`'s type must be exactly `addrs`, in order.
pub fn find_pooled(reply: &[u8], zone: usize, pool: PoolId, family: Family, addrs: &[IpAddr]) -> Option<PooledAt> {
    let r = Reader::new(reply)?;
    let want = if family == Family::V6 { TYPE_AAAA } else { TYPE_A };
    let mut at = r.past_question()?;
    let mut p = PooledAt { zone, pool, family, n: 0, ttl: [0; MAX_ANSWERS] };
    for _ in 0..r.count(6)? {
        let rec = r.skip_record(at)?;
        if rec.rtype == want {
            let i = usize::from(p.n);
            let data = reply.get(rec.rdata..rec.next)?;
            let same = match addrs.get(i)? {
                IpAddr::V4(a) => data == a.octets(),
                IpAddr::V6(a) => data == a.octets(),
            };
            if !same || rec.class != CLASS_IN {
                return None;
            }
            *p.ttl.get_mut(i)? = u16::try_from(rec.rdata - 6).ok()?;
            p.n += 1;
        }
        at = rec.next;
    }
    (p.len() == addrs.len() && !addrs.is_empty()).then_some(p)
}

/// Writes `kept` into `out` with the query's ID and `fill`'s values in place.
pub fn write(
    kept: &[u8],
    query_id: &[u8],
    ecs: Option<&EcsAt>,
    pooled: Option<&PooledAt>,
    fill: &Fill,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(query_id);
    out.extend_from_slice(kept.get(2..).unwrap_or_default());
    if let Some(e) = ecs {
        let at = usize::from(e.addr);
        if let Some(dst) = out.get_mut(at..at + usize::from(e.len))
            && dst.len() == fill.ecs_addr.len()
        {
            dst.copy_from_slice(fill.ecs_addr);
        }
    }
    let Some((addrs, ttl, scope)) = fill.steered else { return };
    if let Some(e) = ecs
        && let Some(o) = out.get_mut(usize::from(e.scope))
    {
        *o = scope.min(e.scope_cap);
    }
    let Some(p) = pooled else { return };
    for (&at, addr) in p.ttl[..p.len()].iter().zip(addrs) {
        let at = usize::from(at);
        if let Some(t) = out.get_mut(at..at + 4) {
            t.copy_from_slice(&ttl.to_be_bytes());
        }
        let data = at + 6;
        match addr {
            IpAddr::V4(a) => out.get_mut(data..data + 4).map(|d| d.copy_from_slice(&a.octets())),
            IpAddr::V6(a) => out.get_mut(data..data + 16).map(|d| d.copy_from_slice(&a.octets())),
        };
    }
}

struct Reader<'a> {
    m: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(m: &'a [u8]) -> Option<Reader<'a>> {
        (m.len() >= 12).then_some(Reader { m })
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        let b = self.m.get(at..at + 2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }

    fn count(&self, at: usize) -> Option<u16> {
        self.u16_at(at)
    }

    /// Past the question section (one question, as every kept reply has).
    fn past_question(&self) -> Option<usize> {
        if self.count(4)? != 1 {
            return None;
        }
        Some(name_end(self.m, 12)? + 4)
    }

    fn skip_record(&self, at: usize) -> Option<RecordAt> {
        record_at(self.m, at)
    }
}
