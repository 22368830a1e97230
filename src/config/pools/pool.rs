//! One `[pool.NAME]`: its settings, its regions (compiled by [`super::region`]), the region
//! policy with its policy-only keys, and `when_empty`.
use std::ops::Range;

use toml::Spanned;

use super::raw::{RawPool, RawRegion};
use super::region::{self, MapsSeen};
use super::{Ctx, number, word};
use crate::pool::{MaxAnswers, MemberPolicy, Pool, PoolId, Region, RegionId, RegionPolicy, Ttl, WhenEmpty};

/// The region policy as written, before its regions are known.
#[derive(PartialEq, Clone, Copy)]
pub(super) enum PolicyWord {
    Nearest,
    Latency,
    Failover,
    Weighted,
    Sticky,
    All,
}

/// What a region needs to know about its pool while it compiles.
pub(super) struct PoolScope<'a> {
    pub id: PoolId,
    pub name: &'a str,
    pub policy: PolicyWord,
    /// The region policy as written (for messages).
    pub policy_word: &'a str,
    pub member_policy: MemberPolicy,
    pub min_usable_fraction: f64,
}

/// Compiles one pool; also returns the span of its `when_empty` fallback, for cycle reports.
pub(super) fn compile_pool(
    cx: &mut Ctx<'_>,
    id: PoolId,
    name: &Spanned<String>,
    rp: &Spanned<RawPool>,
) -> (Pool, Option<Range<usize>>) {
    let pname = name.get_ref().as_str();
    let pspan = rp.span();
    let raw = rp.get_ref();

    let ttl = ttl(cx, pname, raw);
    let max_answers = match &raw.max_answers {
        None => MaxAnswers::ALL,
        Some(n) => MaxAnswers::new(*n.get_ref()).unwrap_or_else(|| {
            cx.errs.at(
                n.span(),
                format!("pool {pname}: max_answers must be 1..={}, got {}", MaxAnswers::ALL.get(), n.get_ref()),
            );
            MaxAnswers::ALL
        }),
    };
    let min_usable_fraction = match &raw.min_usable_fraction {
        None => 0.0,
        Some(v) => match number(v) {
            Some(f) if (0.0..=1.0).contains(&f) => f,
            _ => {
                cx.errs.at(v.span(), format!("pool {pname}: min_usable_fraction must be a number in 0.0..=1.0"));
                0.0
            }
        },
    };
    let degraded_ttl = raw.degraded_ttl.as_ref().and_then(|t| match Ttl::new(*t.get_ref()) {
        Some(d) if d <= ttl => Some(d),
        _ => {
            cx.errs.at(
                t.span(),
                format!("pool {pname}: degraded_ttl must be 1..=ttl ({}), got {}", ttl.get(), t.get_ref()),
            );
            None
        }
    });
    let health_assume_up = match &raw.health_assume {
        None => true,
        Some(a) => match a.get_ref().as_str() {
            "up" => true,
            "down" => false,
            other => {
                cx.errs
                    .at(a.span(), format!("pool {pname}: health_assume must be \"up\" or \"down\", got \"{other}\""));
                true
            }
        },
    };
    let transfer_static = transfer_static(cx, pname, raw);
    let (policy_word, policy) = region_policy_word(cx, pname, raw);
    let member_policy = member_policy(cx, pname, raw);

    // Regions, in file order.
    let mut raw_regions: Vec<(&Spanned<String>, &Spanned<RawRegion>)> =
        raw.region.iter().map(|(k, v)| (k, v)).collect();
    raw_regions.sort_by_key(|(k, _)| k.span().start);
    if raw_regions.is_empty() {
        cx.errs.at(
            pspan.clone(),
            format!("pool {pname} has no regions: add at least one [pool.{pname}.region.NAME] table"),
        );
    }
    let scope = PoolScope { id, name: pname, policy, policy_word: &policy_word, member_policy, min_usable_fraction };
    let mut seen = MapsSeen::default();
    let regions: Vec<Region> = raw_regions
        .iter()
        .enumerate()
        .map(|(rid, (rname, rr))| {
            region::compile_region(cx, &scope, RegionId(rid as u32), rname.get_ref(), rr, &mut seen)
        })
        .collect();
    let region_spans: Vec<Range<usize>> = raw_regions.iter().map(|(_, rr)| rr.span()).collect();
    let region_policy = resolve_region_policy(cx, &scope, &pspan, raw, &regions, &region_spans);
    let (when_empty, fb_span) = when_empty(cx, pname, raw);
    let (regions_per_answer, extra_random) = top_k(cx, &scope, raw, &regions, max_answers);

    let has_geo_maps = regions.iter().any(|r| !r.geo.is_empty());
    let has_place_maps = regions.iter().any(|r| !r.geo.countries.is_empty() || !r.geo.continents.is_empty());
    let has_asn_maps = regions.iter().any(|r| !r.geo.asns.is_empty());
    let pool = Pool {
        name: pname.to_string(),
        ttl,
        max_answers,
        region_policy,
        member_policy,
        when_empty,
        degraded_ttl,
        min_usable_fraction,
        health_assume_up,
        regions_per_answer,
        extra_random,
        regions,
        has_geo_maps,
        has_place_maps,
        has_asn_maps,
        transfer_static,
    };
    (pool, fb_span)
}

/// `transfer`: `"omit"` (no addresses) or `{ static = [addresses] }`.
fn transfer_static(cx: &mut Ctx<'_>, pname: &str, raw: &RawPool) -> Vec<std::net::IpAddr> {
    let Some(t) = &raw.transfer else { return Vec::new() };
    let bad = format!("pool {pname}: transfer must be \"omit\" or {{ static = [\"192.0.2.1\", …] }}");
    match t.get_ref() {
        toml::Value::String(s) if s == "omit" => Vec::new(),
        toml::Value::Table(tbl) if tbl.len() == 1 => {
            let Some(toml::Value::Array(list)) = tbl.get("static") else {
                cx.errs.at(t.span(), bad);
                return Vec::new();
            };
            let addrs: Vec<std::net::IpAddr> =
                list.iter().filter_map(|v| v.as_str().and_then(|s| s.parse().ok())).collect();
            if addrs.len() != list.len() || addrs.is_empty() {
                cx.errs.at(t.span(), format!("pool {pname}: transfer.static must list IPv4/IPv6 addresses"));
            }
            addrs
        }
        _ => {
            cx.errs.at(t.span(), bad);
            Vec::new()
        }
    }
}

fn ttl(cx: &mut Ctx<'_>, pname: &str, raw: &RawPool) -> Ttl {
    match &raw.ttl {
        None => Ttl::DEFAULT,
        Some(t) => Ttl::new(*t.get_ref()).unwrap_or_else(|| {
            cx.errs.at(
                t.span(),
                format!("pool {pname}: ttl must be {}..={} seconds, got {}", Ttl::MIN, Ttl::MAX, t.get_ref()),
            );
            Ttl::DEFAULT
        }),
    }
}

fn region_policy_word(cx: &mut Ctx<'_>, pname: &str, raw: &RawPool) -> (String, PolicyWord) {
    let (w, span) = word(&raw.region_policy, "nearest");
    let policy = match w.as_str() {
        "nearest" => PolicyWord::Nearest,
        "latency" => PolicyWord::Latency,
        "failover" => PolicyWord::Failover,
        "weighted" => PolicyWord::Weighted,
        "sticky" => PolicyWord::Sticky,
        "all" => PolicyWord::All,
        other => {
            cx.errs.at(
                span,
                format!(
                    "pool {pname}: unknown region_policy \"{other}\" (expected nearest, latency, failover, weighted, sticky or all)"
                ),
            );
            PolicyWord::Nearest
        }
    };
    (w, policy)
}

fn member_policy(cx: &mut Ctx<'_>, pname: &str, raw: &RawPool) -> MemberPolicy {
    let (w, span) = word(&raw.member_policy, "weighted");
    match w.as_str() {
        "weighted" => MemberPolicy::Weighted,
        "sticky" => MemberPolicy::Sticky,
        "all" => MemberPolicy::All,
        other => {
            cx.errs.at(
                span,
                format!("pool {pname}: unknown member_policy \"{other}\" (expected weighted, sticky or all)"),
            );
            MemberPolicy::Weighted
        }
    }
}

/// The region policy with its regions known: `default_region` (nearest) and `failover_order`
/// resolved, regions that no client could reach reported, and policy-only keys checked.
fn resolve_region_policy(
    cx: &mut Ctx<'_>,
    p: &PoolScope<'_>,
    pspan: &Range<usize>,
    raw: &RawPool,
    regions: &[Region],
    region_spans: &[Range<usize>],
) -> RegionPolicy {
    let (pname, rp_word) = (p.name, p.policy_word);
    if p.policy != PolicyWord::Failover
        && let Some(f) = &raw.failover_order
    {
        cx.errs.at(f.span(), format!("pool {pname}: failover_order has no effect with region_policy {rp_word}"));
    }
    if !matches!(p.policy, PolicyWord::Nearest | PolicyWord::Latency)
        && let Some(d) = &raw.default_region
    {
        cx.errs.at(
            d.span(),
            format!(
                "pool {pname}: default_region has no effect with region_policy {rp_word} (only nearest and latency use it)"
            ),
        );
    }
    let (min_samples, hysteresis) = latency_keys(cx, p, raw);
    let client_samples = raw.latency_client_samples.as_ref().is_some_and(|v| *v.get_ref());
    let find_region = |n: &str| regions.iter().position(|r| r.name == n).map(|i| RegionId(i as u32));
    let span_of = |i: usize| region_spans.get(i).cloned().unwrap_or_else(|| pspan.clone());
    match p.policy {
        PolicyWord::Nearest | PolicyWord::Latency => {
            let default_region = match &raw.default_region {
                None => RegionId(0),
                Some(d) => find_region(d.get_ref()).unwrap_or_else(|| {
                    cx.errs.at(
                        d.span(),
                        format!("pool {pname}: default_region \"{}\" is not a region of this pool", d.get_ref()),
                    );
                    RegionId(0)
                }),
            };
            for (i, r) in regions.iter().enumerate() {
                if r.location.is_none() && r.geo.is_empty() && i != default_region.index() {
                    if p.policy == PolicyWord::Latency {
                        continue; // reached by its measured RTT
                    }
                    cx.errs.at(span_of(i), format!(
                        "pool {pname}, region {}: unreachable under nearest: it has no location, no geo map and is not the default_region",
                        r.name
                    ));
                }
            }
            if p.policy == PolicyWord::Latency {
                return RegionPolicy::Latency { default_region, min_samples, hysteresis, client_samples };
            }
            RegionPolicy::Nearest { default_region }
        }
        PolicyWord::Failover => {
            let mut order = failover_order(cx, pname, pspan, raw, &find_region);
            if !order.is_empty() {
                for (i, r) in regions.iter().enumerate() {
                    if !order.contains(&RegionId(i as u32)) && r.geo.is_empty() {
                        cx.errs.at(
                            span_of(i),
                            format!(
                                "pool {pname}, region {}: unreachable: it is not in failover_order and has no geo map",
                                r.name
                            ),
                        );
                    }
                }
            }
            if order.is_empty() {
                // Keep the invariant (non-empty order) even on the error path; the load fails.
                order.push(RegionId(0));
            }
            RegionPolicy::Failover { order }
        }
        PolicyWord::Weighted => RegionPolicy::Weighted,
        PolicyWord::Sticky => RegionPolicy::Sticky,
        PolicyWord::All => RegionPolicy::All,
    }
}

/// `failover_order`, resolved to region ids (empty after an error).
fn failover_order(
    cx: &mut Ctx<'_>,
    pname: &str,
    pspan: &Range<usize>,
    raw: &RawPool,
    find_region: &dyn Fn(&str) -> Option<RegionId>,
) -> Vec<RegionId> {
    let mut order = Vec::new();
    match &raw.failover_order {
        None => cx
            .errs
            .at(pspan.clone(), format!("pool {pname}: region_policy failover needs failover_order = [\"region\", ..]")),
        Some(f) if f.get_ref().is_empty() => {
            cx.errs.at(f.span(), format!("pool {pname}: failover_order is empty"));
        }
        Some(f) => {
            for n in f.get_ref() {
                match find_region(n.get_ref()) {
                    Some(r) if order.contains(&r) => cx.errs.at(
                        n.span(),
                        format!("pool {pname}: region \"{}\" appears twice in failover_order", n.get_ref()),
                    ),
                    Some(r) => order.push(r),
                    None => cx.errs.at(
                        n.span(),
                        format!(
                            "pool {pname}: failover_order names \"{}\", which is not a region of this pool",
                            n.get_ref()
                        ),
                    ),
                }
            }
        }
    }
    order
}

/// `when_empty`, and the span of a fallback (for cycle reports).
fn when_empty(cx: &mut Ctx<'_>, pname: &str, raw: &RawPool) -> (WhenEmpty, Option<Range<usize>>) {
    let Some(v) = &raw.when_empty else { return (WhenEmpty::FailOpen, None) };
    let mut bad = || {
        cx.errs.at(
            v.span(),
            format!("pool {pname}: when_empty must be \"fail-open\", \"nodata\" or {{ fallback = \"pool\" }}"),
        );
        (WhenEmpty::FailOpen, None)
    };
    match v.get_ref() {
        toml::Value::String(s) if s == "fail-open" => (WhenEmpty::FailOpen, None),
        toml::Value::String(s) if s == "nodata" => (WhenEmpty::NoData, None),
        toml::Value::Table(t) if t.len() == 1 => match t.get("fallback") {
            Some(toml::Value::String(target)) => match cx.pool_ids.get(target) {
                Some(&tid) => (WhenEmpty::Fallback(tid), Some(v.span())),
                None => {
                    cx.errs.at(v.span(), format!("pool {pname}: fallback pool \"{target}\" does not exist"));
                    (WhenEmpty::FailOpen, None)
                }
            },
            _ => bad(),
        },
        _ => bad(),
    }
}

/// `latency_min_samples` and `latency_hysteresis` (only with `region_policy = "latency"`).
fn latency_keys(cx: &mut Ctx<'_>, p: &PoolScope<'_>, raw: &RawPool) -> (u32, f64) {
    let (pname, rp_word) = (p.name, p.policy_word);
    if p.policy != PolicyWord::Latency {
        for (key, span) in [
            ("latency_min_samples", raw.latency_min_samples.as_ref().map(|v| v.span())),
            ("latency_hysteresis", raw.latency_hysteresis.as_ref().map(|v| v.span())),
            ("latency_client_samples", raw.latency_client_samples.as_ref().map(|v| v.span())),
        ] {
            if let Some(span) = span {
                cx.errs.at(span, format!("pool {pname}: {key} has no effect with region_policy {rp_word}"));
            }
        }
    }
    let min_samples = match &raw.latency_min_samples {
        None => 3,
        Some(v) if (1..=100).contains(v.get_ref()) => *v.get_ref() as u32,
        Some(v) => {
            cx.errs.at(v.span(), format!("pool {pname}: latency_min_samples must be 1..=100, got {}", v.get_ref()));
            3
        }
    };
    let hysteresis = match &raw.latency_hysteresis {
        None => 0.2,
        Some(v) => match number(v) {
            Some(h) if (0.0..=0.9).contains(&h) => h,
            _ => {
                cx.errs.at(
                    v.span(),
                    format!("pool {pname}: latency_hysteresis must be a fraction in 0.0..=0.9, got {}", v.get_ref()),
                );
                0.2
            }
        },
    };
    (min_samples, hysteresis)
}

/// `regions_per_answer` and `extra_random`: checked against the policy, the regions and
/// `max_answers` (each answering region gets at least one record).
fn top_k(cx: &mut Ctx<'_>, p: &PoolScope<'_>, raw: &RawPool, regions: &[Region], max_answers: MaxAnswers) -> (u8, u8) {
    let pname = p.name;
    let mut get = |v: &Option<Spanned<i64>>, key: &str, lo: i64, default: u8| match v {
        None => (default, None),
        Some(x) if (lo..=8).contains(x.get_ref()) => (*x.get_ref() as u8, Some(x.span())),
        Some(x) => {
            cx.errs.at(x.span(), format!("pool {pname}: {key} must be {lo}..=8, got {}", x.get_ref()));
            (default, None)
        }
    };
    let (k, k_span) = get(&raw.regions_per_answer, "regions_per_answer", 1, 1);
    let (j, j_span) = get(&raw.extra_random, "extra_random", 0, 0);
    let Some(span) = k_span.or(j_span).filter(|_| k + j > 1) else { return (k, j) };
    if p.policy == PolicyWord::All {
        cx.errs.at(
            span,
            format!("pool {pname}: regions_per_answer and extra_random have no effect with region_policy all"),
        );
    } else if let Some(r) = regions.iter().find(|r| matches!(r.content, crate::pool::Content::Cname { .. })) {
        cx.errs.at(
            span,
            format!(
                "pool {pname}: answers from several regions need member regions, but region {} is a cname/delegate",
                r.name
            ),
        );
    } else if usize::from(k + j) > max_answers.get() {
        cx.errs.at(
            span,
            format!(
                "pool {pname}: regions_per_answer + extra_random ({}) is more than max_answers ({}): each answering region needs a record",
                k + j,
                max_answers.get()
            ),
        );
    }
    (k, j)
}
