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
        let Some((_, pool)) = raw.pool.iter_mut().find(|(k, _)| k.get_ref() == &e.pool) else {
            errs.at(0..0, format!("runtime change {e}: pool {} is not in this file", e.pool));
            continue;
        };
        let Some((_, region)) = pool.get_mut().region.iter_mut().find(|(k, _)| k.get_ref() == &e.region) else {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use hickory_proto::rr::Name;

    use crate::config::{Edit, PoolEdit, load_pools_with};
    use crate::pool::Content;

    const FILE: &str = "[pool.web]\nregion_policy = \"weighted\"\n\n[pool.web.region.eu]\nweight = 2\n\
                        members = [ { address = \"192.0.2.1\" },\n  { address = \"192.0.2.2\", weight = 4 } ]\n";

    fn edit(region: &str, what: Edit) -> PoolEdit {
        PoolEdit { zone: "x.test.".into(), pool: "web".into(), region: region.into(), what }
    }

    fn load(edits: &[PoolEdit]) -> Result<crate::pool::Pools, Vec<crate::diag::ConfigError>> {
        let refs: Vec<&PoolEdit> = edits.iter().collect();
        load_pools_with(Path::new("x.pools.toml"), FILE, &Name::from_ascii("x.test.").unwrap(), &refs)
    }

    #[test]
    fn edits_compile_like_the_same_edit_in_the_file() {
        let p = load(&[
            edit("eu", Edit::MemberWeight { member: "192.0.2.2".into(), weight: 9 }),
            edit("eu", Edit::AddMember { address: "192.0.2.3".into(), weight: Some(5), probe: None }),
            edit("eu", Edit::RemoveMember { member: "192.0.2.1".into() }),
            edit("eu", Edit::RegionWeight(7)),
        ])
        .unwrap();
        let (_, pool) = p.pools().next().unwrap();
        let r = &pool.regions[0];
        assert_eq!(r.weight.get(), 7);
        let Content::Members(ms) = &r.content else { panic!("members") };
        let got: Vec<(String, u32)> = ms.iter().map(|m| (m.address.to_string(), m.weight.get())).collect();
        assert_eq!(got, vec![("192.0.2.2".into(), 9), ("192.0.2.3".into(), 5)]);
    }

    #[test]
    fn errors_point_at_what_the_edit_touches() {
        let e = load(&[edit("eu", Edit::MemberWeight { member: "192.0.2.2".into(), weight: 0 })]).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].line, 7, "the member's line: {e:?}");
        assert!(e[0].message.contains("weight must be 1..=1000000, got 0"), "{e:?}");
        let e = load(&[
            edit("us", Edit::RegionWeight(1)),
            edit("eu", Edit::RemoveMember { member: "192.0.2.9".into() }),
            PoolEdit { pool: "api".into(), ..edit("eu", Edit::RegionWeight(1)) },
        ])
        .unwrap_err();
        let msgs: Vec<&str> = e.iter().map(|x| x.message.as_str()).collect();
        assert!(msgs.iter().any(|m| m.contains("pool web has no region us")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains("no member 192.0.2.9 in region eu")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains("pool api is not in this file")), "{msgs:?}");
        let e = load(&[
            edit("eu", Edit::RemoveMember { member: "192.0.2.1".into() }),
            edit("eu", Edit::RemoveMember { member: "192.0.2.2".into() }),
        ])
        .unwrap_err();
        assert!(e[0].message.contains("members is empty"), "{e:?}");
    }
}
