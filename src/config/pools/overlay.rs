//! Runtime changes (member weights, added or removed members, region weights) applied to a pool
//! file's parsed structures before they compile, so a change is checked by the same compiler,
//! with the same messages, as the same edit made in the file. An edited value carries the span
//! of what it changes (the member's address, the region's table), so an error points at that line.
//!
//! ```text
//! pool file ─toml─► RawFile ─apply(edits)─► RawFile' ─compile (probe.rs, pool.rs, …)─► Pools
//!                             └ "runtime change: …" errors for a pool, region or member not found
//! ```
use std::net::IpAddr;

use toml::Spanned;

use super::Errs;
use super::raw::{RawFile, RawMember, RawRegion};
use crate::config::{Edit, PoolEdit};

/// Applies `edits` (all for this file's zone) in order.
pub(super) fn apply(errs: &mut Errs<'_>, raw: &mut RawFile, edits: &[&PoolEdit]) {
    for e in edits {
        let Some(pool) = raw.pool.get_mut(e.pool.as_str()) else {
            errs.at(0..0, format!("runtime change {e}: pool {} is not in this file", e.pool));
            continue;
        };
        let Some(region) = pool.get_mut().region.get_mut(e.region.as_str()) else {
            errs.at(pool.span(), format!("runtime change {e}: pool {} has no region {}", e.pool, e.region));
            continue;
        };
        let span = region.span();
        apply_one(errs, e, span, region.get_mut());
    }
}

fn apply_one(errs: &mut Errs<'_>, e: &PoolEdit, span: std::ops::Range<usize>, r: &mut RawRegion) {
    if let Edit::RegionWeight(w) = &e.what {
        r.weight = Some(Spanned::new(span, *w));
        return;
    }
    let Some(members) = r.members.as_mut() else {
        errs.at(span, format!("runtime change {e}: region {} answers with a cname, not members", e.region));
        return;
    };
    let list_span = members.span();
    let list = members.get_mut();
    let find = |list: &[Spanned<RawMember>], who: &str| list.iter().position(|m| same_address(m.get_ref(), who));
    match &e.what {
        Edit::RegionWeight(_) => {}
        Edit::MemberWeight { member, weight } => match find(list, member) {
            Some(i) => {
                let m = list[i].get_mut();
                m.weight = Some(Spanned::new(m.address.span(), *weight));
            }
            None => errs.at(list_span, format!("runtime change {e}: no member {member} in region {}", e.region)),
        },
        Edit::RemoveMember { member } => match find(list, member) {
            Some(i) => {
                list.remove(i);
            }
            None => errs.at(list_span, format!("runtime change {e}: no member {member} in region {}", e.region)),
        },
        Edit::AddMember { address, weight, probe } => {
            let s = list_span.clone();
            list.push(Spanned::new(
                s.clone(),
                RawMember {
                    address: Spanned::new(s.clone(), address.clone()),
                    weight: weight.map(|w| Spanned::new(s.clone(), w)),
                    down: false,
                    probe: probe.as_ref().map(|p| Spanned::new(s.clone(), p.clone())),
                },
            ));
        }
    }
}

/// Whether a member is `who`: the same address (however written), or the same text.
fn same_address(m: &RawMember, who: &str) -> bool {
    match (m.address.get_ref().parse::<IpAddr>(), who.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => m.address.get_ref() == who,
    }
}
