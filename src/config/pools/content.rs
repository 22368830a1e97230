//! What a region answers with: member addresses, a CNAME hand-off, or a `delegate` hand-off
//! into a delegated subzone. Each health-checked thing becomes a [`MemberInfo`] with its id.
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use toml::Spanned;

use super::probe::lookup_probe;
use super::raw::RawMember;
use super::region::parse_weight;
use super::{Ctx, name_below};
use crate::pool::{
    Content, Delegation, Member, MemberId, MemberInfo, MemberTarget, PoolId, ProbeSpec, RegionId, Weight,
};
use crate::util::rng::seed_of_addr;

/// `members = [...]`: each address once, with its weight, `down` mark and probe.
pub(super) fn compile_members(
    cx: &mut Ctx<'_>,
    (pool, region): (PoolId, RegionId),
    ms: &Spanned<Vec<Spanned<RawMember>>>,
    region_probe: Option<&Arc<ProbeSpec>>,
    ctx: &str,
) -> Option<Vec<Member>> {
    let errs = &mut cx.errs;
    if ms.get_ref().is_empty() {
        errs.at(ms.span(), format!("{ctx}: members is empty; list at least one address (or use cname)"));
        return None;
    }
    let mut out = Vec::with_capacity(ms.get_ref().len());
    let mut seen = HashSet::new();
    for m in ms.get_ref() {
        let rm = m.get_ref();
        let addr: IpAddr = match rm.address.get_ref().parse() {
            Ok(a) => a,
            Err(_) => {
                errs.at(
                    rm.address.span(),
                    format!("{ctx}: \"{}\" is not an IPv4 or IPv6 address", rm.address.get_ref()),
                );
                continue;
            }
        };
        if !seen.insert(addr) {
            errs.at(rm.address.span(), format!("{ctx}: member {addr} is listed twice"));
            continue;
        }
        let weight = parse_weight(errs, &rm.weight, ctx).unwrap_or(Weight::ONE);
        let probe = match &rm.probe {
            Some(p) => lookup_probe(errs, &cx.probes, p, ctx),
            None => region_probe.cloned(),
        };
        let id = MemberId(cx.members.len() as u32);
        cx.members.push(MemberInfo { pool, region, target: MemberTarget::Address(addr), down_in_file: rm.down, probe });
        out.push(Member { id, address: addr, weight, seed: seed_of_addr(addr) });
    }
    Some(out)
}

/// `cname = "target."` or `{ name, down, probe }`: a hand-off, health-checked as one member.
pub(super) fn compile_cname(
    cx: &mut Ctx<'_>,
    (pool, region): (PoolId, RegionId),
    c: &Spanned<toml::Value>,
    region_probe: Option<&Arc<ProbeSpec>>,
    ctx: &str,
) -> Option<Content> {
    let errs = &mut cx.errs;
    let mut probe = region_probe.cloned();
    let (text, down) = match c.get_ref() {
        toml::Value::String(s) => (s.as_str(), false),
        toml::Value::Table(t) => {
            let name = t.get("name").and_then(|v| v.as_str());
            let down = t.get("down").map(|v| v.as_bool());
            let own_probe = t.get("probe").map(|v| v.as_str());
            let unknown = t.keys().any(|k| k != "name" && k != "down" && k != "probe");
            if let Some(p) = own_probe {
                match p {
                    Some(p) => match cx.probes.get(p) {
                        Some(spec) => probe = Some(Arc::clone(spec)),
                        None => {
                            errs.at(c.span(), format!("{ctx}: probe \"{p}\" is not defined (add a [probe.{p}] table)"))
                        }
                    },
                    None => errs.at(c.span(), format!("{ctx}: cname probe must be a probe name")),
                }
            }
            match (name, down, unknown) {
                (Some(n), None, false) => (n, false),
                (Some(n), Some(Some(d)), false) => (n, d),
                _ => {
                    errs.at(c.span(), format!("{ctx}: cname must be \"target.name.\" or {{ name = \"target.name.\", down = true|false, probe = \"NAME\" }}"));
                    return None;
                }
            }
        }
        _ => {
            errs.at(
                c.span(),
                format!("{ctx}: cname must be \"target.name.\" or {{ name = \"target.name.\", down = true|false }}"),
            );
            return None;
        }
    };
    let target = match name_below(text, cx.origin) {
        Ok(n) => n,
        Err(tail) => {
            cx.errs.at(c.span(), format!("{ctx}: cname \"{text}\" {tail}"));
            return None;
        }
    };
    let id = MemberId(cx.members.len() as u32);
    // Checked against the zone when the pools are linked (config::link): a relative name is
    // an error there, so that the other cname problems of the file are reported with it.
    cx.cname_offsets.push((id, c.span().start, !text.ends_with('.')));
    cx.members.push(MemberInfo {
        pool,
        region,
        target: MemberTarget::Cname(target.clone()),
        down_in_file: down,
        probe,
    });
    Some(Content::Cname { id, target, delegation: None })
}

/// `delegate = "www.eu-west"`: the target is resolved against the origin and must be inside
/// the zone; the zone cut and glue are checked when the pools are linked to the zone
/// (`config::link`), which knows the zone's data.
pub(super) fn compile_delegate(
    cx: &mut Ctx<'_>,
    (pool, region): (PoolId, RegionId),
    d: &Spanned<String>,
    region_probe: Option<&Arc<ProbeSpec>>,
    ctx: &str,
) -> Option<Content> {
    let origin = cx.origin;
    let errs = &mut cx.errs;
    let text = d.get_ref().as_str();
    let target = match name_below(text, origin) {
        Ok(n) => n,
        Err(tail) => {
            errs.at(d.span(), format!("{ctx}: delegate \"{text}\" {tail}"));
            return None;
        }
    };
    if !origin.zone_of(&target) || target == *origin {
        errs.at(
            d.span(),
            format!(
                "{ctx}: delegate target {target} must be below the zone {origin} (at or below one of its zone cuts)"
            ),
        );
        return None;
    }
    let id = MemberId(cx.members.len() as u32);
    // The name itself carries no probe: the region's probe runs against the glue addresses.
    cx.members.push(MemberInfo {
        pool,
        region,
        target: MemberTarget::Cname(target.clone()),
        down_in_file: false,
        probe: None,
    });
    let delegation = Delegation { cut: None, glue: Vec::new(), probe: region_probe.cloned(), offset: d.span().start };
    Some(Content::Cname { id, target, delegation: Some(Box::new(delegation)) })
}
