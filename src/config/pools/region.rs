//! One `[pool.NAME.region.REGION]`: location, bias, weight, geo map, what it answers with
//! (members, a cname or a delegate: [`super::content`]), its load feed, and the keys that
//! have no effect under the pool's policies (errors, so a typo cannot silently change
//! behaviour).
use std::collections::HashMap;
use std::sync::Arc;

use ipnet::IpNet;
use toml::Spanned;

use super::content;
use super::pool::{PolicyWord, PoolScope};
use super::probe::lookup_probe;
use super::raw::{RawGeo, RawRegion};
use super::{Ctx, Errs, number};
use crate::geo::{Continent, Coordinates, Country};
use crate::pool::{
    Bias, Capacity, Content, FeedSpec, GeoMap, LoadSlot, MemberPolicy, Region, RegionFeed, RegionId, ShedConfig,
    Watermark, Weight,
};
use crate::util::rng::seed_of;

/// The geo map entries already taken by an earlier region of the pool (each maps to one region).
#[derive(Default)]
pub(super) struct MapsSeen {
    countries: HashMap<Country, String>,
    continents: HashMap<Continent, String>,
    networks: HashMap<IpNet, String>,
    asns: HashMap<u32, String>,
}

/// Compiles one region. A region whose content fails to compile is still returned (as an
/// empty member list) so that region ids stay aligned; the collected errors fail the load.
pub(super) fn compile_region(
    cx: &mut Ctx<'_>,
    p: &PoolScope<'_>,
    rid: RegionId,
    rname: &str,
    rr: &Spanned<RawRegion>,
    seen: &mut MapsSeen,
) -> Region {
    let r = rr.get_ref();
    let ctx = format!("pool {}, region {rname}", p.name);

    let location = r.location.as_ref().and_then(|l| {
        let v = l.get_ref();
        let c = if v.len() == 2 { Coordinates::new(v[0], v[1]) } else { None };
        if c.is_none() {
            cx.errs.at(l.span(), format!("{ctx}: location must be [latitude, longitude] with latitude in -90..=90 and longitude in -180..=180"));
        }
        c
    });
    let bias = match &r.bias {
        None => Bias::default(),
        Some(b) => Bias::new(*b.get_ref()).unwrap_or_else(|| {
            cx.errs.at(b.span(), format!("{ctx}: bias must be -99..=99, got {}", b.get_ref()));
            Bias::default()
        }),
    };
    let weight = parse_weight(&mut cx.errs, &r.weight, &ctx);
    let geo = r.geo.as_ref().map(|g| compile_geo(&mut cx.errs, g.get_ref(), rname, &ctx, seen)).unwrap_or_default();

    let region_probe = r.probe.as_ref().and_then(|pr| lookup_probe(&mut cx.errs, &cx.probes, pr, &ctx));
    let content = match (&r.members, &r.cname, &r.delegate) {
        (Some(_), Some(c), _) => {
            cx.errs.at(c.span(), format!("{ctx}: has both members and cname; a region answers with one or the other"));
            None
        }
        (Some(_), None, Some(d)) | (None, Some(_), Some(d)) => {
            cx.errs
                .at(d.span(), format!("{ctx}: has delegate and members or cname; a region answers with one of them"));
            None
        }
        (None, None, None) => {
            cx.errs.at(rr.span(), format!("{ctx}: has neither members nor cname (nor delegate)"));
            None
        }
        (Some(ms), None, None) => {
            content::compile_members(cx, (p.id, rid), ms, region_probe.as_ref(), &ctx).map(Content::Members)
        }
        (None, Some(c), None) => content::compile_cname(cx, (p.id, rid), c, region_probe.as_ref(), &ctx),
        (None, None, Some(d)) => content::compile_delegate(cx, (p.id, rid), d, region_probe.as_ref(), &ctx),
    };
    let feedback = compile_region_feed(cx, r, &ctx, p.policy == PolicyWord::All).map(|(feed, shed)| {
        let slot = LoadSlot(cx.fed.len() as u32);
        cx.fed.push((p.id, rid));
        RegionFeed { slot, feed, shed }
    });
    let (serves_v4, serves_v6) = match &content {
        Some(Content::Members(ms)) => (ms.iter().any(|m| m.address.is_ipv4()), ms.iter().any(|m| m.address.is_ipv6())),
        _ => (false, false),
    };
    let min_up = match &content {
        Some(Content::Members(ms)) => min_up_of(p.min_usable_fraction, ms.len()),
        _ => 0,
    };
    check_policy_keys(&mut cx.errs, p, r, &ctx);
    Region {
        name: rname.to_string(),
        location,
        bias,
        weight: weight.unwrap_or(Weight::ONE),
        geo,
        content: content.unwrap_or(Content::Members(Vec::new())),
        seed: seed_of(rname.as_bytes()),
        serves_v4,
        serves_v6,
        min_up,
        feedback,
    }
}

/// `geo = { countries, continents, networks }`: each entry maps to one region only.
fn compile_geo(errs: &mut Errs<'_>, gr: &RawGeo, rname: &str, ctx: &str, seen: &mut MapsSeen) -> GeoMap {
    let mut geo = GeoMap::default();
    for c in &gr.countries {
        match Country::parse(c.get_ref()) {
            Some(cc) => {
                if let Some(prev) = seen.countries.insert(cc, rname.to_string()) {
                    errs.at(c.span(), format!("{ctx}: country {cc} is already mapped to region {prev}"));
                }
                geo.countries.push(cc);
            }
            None => errs.at(c.span(), format!("{ctx}: \"{}\" is not a two-letter ISO 3166 country code", c.get_ref())),
        }
    }
    for c in &gr.continents {
        match Continent::parse(c.get_ref()) {
            Some(cc) => {
                if let Some(prev) = seen.continents.insert(cc, rname.to_string()) {
                    errs.at(c.span(), format!("{ctx}: continent {} is already mapped to region {prev}", cc.as_str()));
                }
                geo.continents.push(cc);
            }
            None => errs.at(
                c.span(),
                format!("{ctx}: \"{}\" is not a continent code (AF, AN, AS, EU, NA, OC, SA)", c.get_ref()),
            ),
        }
    }
    for a in &gr.asns {
        let parsed = match a.get_ref() {
            toml::Value::Integer(n) => u32::try_from(*n).ok().filter(|n| *n > 0),
            toml::Value::String(s) => {
                let digits = s.strip_prefix("AS").or_else(|| s.strip_prefix("as")).unwrap_or(s);
                digits.parse::<u32>().ok().filter(|n| *n > 0)
            }
            _ => None,
        };
        match parsed {
            Some(asn) => {
                if let Some(prev) = seen.asns.insert(asn, rname.to_string()) {
                    errs.at(a.span(), format!("{ctx}: AS{asn} is already mapped to region {prev}"));
                }
                geo.asns.push(asn);
            }
            None => errs
                .at(a.span(), format!("{ctx}: {} is not an AS number (1..=4294967295, or \"AS64500\")", a.get_ref())),
        }
    }
    for n in &gr.networks {
        match n.get_ref().parse::<IpNet>() {
            Ok(net) if net.trunc() != net => {
                errs.at(n.span(), format!("{ctx}: network {net} has host bits set; did you mean {}?", net.trunc()))
            }
            Ok(net) => {
                if let Some(prev) = seen.networks.insert(net, rname.to_string()) {
                    errs.at(n.span(), format!("{ctx}: network {net} is already mapped to region {prev}"));
                }
                geo.networks.push(net);
            }
            Err(_) => {
                errs.at(n.span(), format!("{ctx}: \"{}\" is not a CIDR network (like 192.0.2.0/24)", n.get_ref()))
            }
        }
    }
    geo
}

/// Keys that have no effect under the chosen policies are errors, so that a policy typo or a
/// forgotten switch cannot silently change behaviour.
fn check_policy_keys(errs: &mut Errs<'_>, p: &PoolScope<'_>, r: &RawRegion, ctx: &str) {
    let rp_word = p.policy_word;
    if !matches!(p.policy, PolicyWord::Nearest | PolicyWord::Latency) {
        if let Some(l) = &r.location {
            errs.at(
                l.span(),
                format!("{ctx}: location has no effect with region_policy {rp_word} (only nearest and latency use it)"),
            );
        }
        if let Some(b) = &r.bias {
            errs.at(
                b.span(),
                format!("{ctx}: bias has no effect with region_policy {rp_word} (only nearest and latency use it)"),
            );
        }
    }
    if !matches!(p.policy, PolicyWord::Weighted | PolicyWord::Sticky)
        && let Some(w) = &r.weight
    {
        errs.at(
            w.span(),
            format!(
                "{ctx}: region weight has no effect with region_policy {rp_word} (only weighted and sticky use it)"
            ),
        );
    }
    if p.member_policy == MemberPolicy::All
        && let Some(ms) = &r.members
    {
        for m in ms.get_ref() {
            if let Some(w) = &m.get_ref().weight {
                errs.at(w.span(), format!("{ctx}: member weight has no effect with member_policy all"));
            }
        }
    }
    if p.policy == PolicyWord::All {
        if let Some(g) = &r.geo {
            errs.at(
                g.span(),
                format!("{ctx}: a geo map has no effect with region_policy all (every usable region answers)"),
            );
        }
        if let Some(c) = &r.cname {
            errs.at(
                c.span(),
                format!("{ctx}: region_policy all merges the members of all regions, so a region cannot be a cname"),
            );
        }
        if let Some(d) = &r.delegate {
            errs.at(
                d.span(),
                format!("{ctx}: region_policy all merges the members of all regions, so a region cannot delegate"),
            );
        }
    }
}

pub(super) fn parse_weight(errs: &mut Errs<'_>, w: &Option<Spanned<i64>>, ctx: &str) -> Option<Weight> {
    let w = w.as_ref()?;
    let parsed = Weight::new(*w.get_ref());
    if parsed.is_none() {
        errs.at(
            w.span(),
            format!(
                "{ctx}: weight must be 1..={}, got {} (to drain a member use down = true)",
                Weight::MAX,
                w.get_ref()
            ),
        );
    }
    parsed
}

/// Up members a region of `n` members needs: ⌈fraction × n⌉, robust to float error
/// (0.3 × 10 is 3.0000000000000004, which must still need 3).
fn min_up_of(fraction: f64, n: usize) -> u32 {
    let need = (fraction * n as f64 - 1e-9).ceil();
    if need <= 0.0 { 0 } else { (need as u32).min(n as u32) }
}

/// A region's `feedback`, `capacity` and watermarks.
fn compile_region_feed(
    cx: &mut Ctx<'_>,
    r: &RawRegion,
    ctx: &str,
    policy_all: bool,
) -> Option<(Arc<FeedSpec>, Option<ShedConfig>)> {
    let errs = &mut cx.errs;
    let feed = r.feedback.as_ref().and_then(|f| {
        let found = cx.feeds.get(f.get_ref()).cloned();
        if found.is_none() {
            let n = f.get_ref();
            errs.at(f.span(), format!("{ctx}: feedback \"{n}\" is not defined (add a [feedback.{n}] table)"));
        }
        found
    });
    let capacity = r.capacity.as_ref().and_then(|c| {
        let v = number(c).and_then(Capacity::new);
        if v.is_none() {
            errs.at(c.span(), format!("{ctx}: capacity must be a number > 0, got {}", c.get_ref()));
        }
        v
    });
    let watermark = |errs: &mut Errs<'_>, v: &Option<Spanned<toml::Value>>, key: &str, default: Watermark| match v {
        None => Some(default),
        Some(w) => {
            let parsed = number(w).and_then(Watermark::new);
            if parsed.is_none() {
                errs.at(
                    w.span(),
                    format!("{ctx}: {key} must be a fraction of capacity in (0, 1], got {}", w.get_ref()),
                );
            }
            parsed
        }
    };
    let high = watermark(errs, &r.high_watermark, "high_watermark", Watermark::HIGH_DEFAULT);
    let low = watermark(errs, &r.low_watermark, "low_watermark", Watermark::LOW_DEFAULT);
    if let (Some(h), Some(l)) = (high, low)
        && l >= h
    {
        let span = r.low_watermark.as_ref().or(r.high_watermark.as_ref()).map_or(0..0, |s| s.span());
        errs.at(
            span,
            format!(
                "{ctx}: watermarks out of order: need 0 < low_watermark ({}) < high_watermark ({}) <= 1",
                l.get(),
                h.get()
            ),
        );
    }
    if r.capacity.is_none() {
        for (key, v) in [("high_watermark", &r.high_watermark), ("low_watermark", &r.low_watermark)] {
            if let Some(v) = v {
                errs.at(v.span(), format!("{ctx}: {key} has no effect without capacity"));
            }
        }
    }
    if let (Some(c), None) = (&r.capacity, &r.feedback) {
        errs.at(
            c.span(),
            format!("{ctx}: capacity needs feedback = \"NAME\" (the feed whose load it is compared with)"),
        );
    }
    if let (Some(c), true) = (&r.capacity, policy_all) {
        errs.at(
            c.span(),
            format!("{ctx}: capacity has no effect with region_policy all (no single region is picked, so none sheds)"),
        );
    }
    let shed = match (capacity, high, low) {
        (Some(capacity), Some(high), Some(low)) if low < high => Some(ShedConfig { capacity, high, low }),
        _ => None,
    };
    Some((feed?, shed))
}
