//! Pool files (`zones/<zone>.pools.toml`): TOML → raw serde structs that keep spans → the
//! validated [`Pools`] model. Parsing and checking are separate steps; every problem found is
//! collected with its file and line, so an operator fixes a file in one pass.
//!
//! The format is documented key by key on the raw structs below and in `zones/README.md`.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{LowerName, Name};
use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::model::{
    Bias, Capacity, Content, Delegation, GeoMap, LoadSlot, MaxAnswers, Member, MemberId, MemberInfo, MemberPolicy,
    MemberTarget, Pool, PoolId, Pools, Region, RegionFeed, RegionId, RegionPolicy, ShedConfig, Ttl, Watermark, Weight,
    WhenEmpty,
};
use super::rng::{seed_of, seed_of_addr};
use crate::config::{ConfigError, line_of};
use crate::feedback::{FeedKey, FeedKind, FeedSpec, MetricSel};
use crate::geo::{Continent, Coordinates, Country};
use crate::health::{HttpProbe, ProbeKind, ProbeSpec, Thresholds, TlsProbe};

/// The whole file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    /// `[names]`: pooled owner name → pool name. Names are relative to the zone origin, `@` is
    /// the apex, and a name with a trailing dot is absolute (and must be inside the zone).
    #[serde(default)]
    names: BTreeMap<Spanned<String>, Spanned<String>>,
    /// `[pool.NAME]`: one table per pool.
    #[serde(default)]
    pool: BTreeMap<Spanned<String>, Spanned<RawPool>>,
    /// `[probe.NAME]`: health probes, referenced by name from members and regions.
    #[serde(default)]
    probe: BTreeMap<Spanned<String>, Spanned<RawProbe>>,
    /// `[feedback.NAME]`: load and backend health reported by a region's L4/L7 tier,
    /// referenced by name from regions.
    #[serde(default)]
    feedback: BTreeMap<Spanned<String>, Spanned<RawFeed>>,
}

/// `[feedback.NAME]`: one polled source of load (and optionally backends up).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    /// `kind`: `haproxy` (stats CSV) | `nginx` (stub_status) | `prometheus` (text) | `json`.
    kind: Spanned<String>,
    /// `url`: http:// or https://, polled with GET.
    url: Spanned<String>,
    /// `frontend`: haproxy only, required: load = this FRONTEND row's `scur`.
    frontend: Option<Spanned<String>>,
    /// `backend`: haproxy only: backends up = this BACKEND row's `act`.
    backend: Option<Spanned<String>>,
    /// `metric = 'name{label="value"}'`: prometheus only, required: load = the sum of the matches.
    metric: Option<Spanned<String>>,
    /// `backends_metric`: prometheus only: backends up = the sum of the matches.
    backends_metric: Option<Spanned<String>>,
    /// `path = "a.b"`: json only, required: load = the number at this dot path.
    path: Option<Spanned<String>>,
    /// `backends_path`: json only: backends up = the number at this dot path.
    backends_path: Option<Spanned<String>>,
    /// `interval_ms`: 100..=60000, default 1000.
    interval_ms: Option<Spanned<i64>>,
    /// `timeout_ms`: 1..=interval, default min(1000, interval).
    timeout_ms: Option<Spanned<i64>>,
    /// `stale_after_ms`: interval..=3600000, default 3 × interval.
    stale_after_ms: Option<Spanned<i64>>,
}

/// `[probe.NAME]`: one health check, run once per distinct target that references it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    /// `kind`: `tcp` (connect) | `http` | `https` (GET, status and optional body check).
    kind: Spanned<String>,
    /// `port`: required for tcp; default 80 (http) or 443 (https).
    port: Option<Spanned<i64>>,
    /// `path`: http(s) only, starts with '/', default "/".
    path: Option<Spanned<String>>,
    /// `expect_status = [200, 204]`: http(s) only; default [200].
    expect_status: Option<Spanned<Vec<Spanned<i64>>>>,
    /// `body_contains`: http(s) only; the first 64 KiB of the body must contain it.
    body_contains: Option<Spanned<String>>,
    /// `host`: http(s) only; the Host header (default: the target).
    host: Option<Spanned<String>>,
    /// `sni`: https only; the TLS server name sent and verified.
    sni: Option<Spanned<String>>,
    /// `user_agent`: http(s) only; default "gslbd-health/VERSION".
    user_agent: Option<Spanned<String>>,
    /// `insecure = true`: https only; accept any certificate.
    insecure: Option<Spanned<bool>>,
    /// `ca_file`: https only; PEM CA certificates to trust instead of the system roots
    /// (relative to the pool file's directory).
    ca_file: Option<Spanned<String>>,
    /// `interval_ms`: 100..=3600000, default 5000.
    interval_ms: Option<Spanned<i64>>,
    /// `jitter_ms`: 0..=interval/2, default interval/10; each gap is shortened by up to this.
    jitter_ms: Option<Spanned<i64>>,
    /// `timeout_ms`: 1..=interval, default min(2000, interval).
    timeout_ms: Option<Spanned<i64>>,
    /// `rise`: consecutive successes that bring a down target up, 1..=100, default 2.
    rise: Option<Spanned<i64>>,
    /// `fall`: consecutive failures that take an up target down, 1..=100, default 3.
    fall: Option<Spanned<i64>>,
}

/// `[pool.NAME]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    /// `ttl`: seconds, 1..=86400, default 30. Pooled answers should be short-lived so that a
    /// health change reaches clients quickly.
    ttl: Option<Spanned<i64>>,
    /// `max_answers`: at most this many address records per answer, 1..=32; default 32, i.e.
    /// all of the chosen members (up to the cap, which keeps replies inside 512 bytes).
    max_answers: Option<Spanned<i64>>,
    /// `region_policy`: `nearest` (default) | `failover` | `weighted` | `sticky` | `all`.
    region_policy: Option<Spanned<String>>,
    /// `member_policy`: `weighted` (default) | `sticky` | `all`.
    member_policy: Option<Spanned<String>>,
    /// `failover_order`: region names, first preferred. Required for (and only allowed with)
    /// `region_policy = "failover"`.
    failover_order: Option<Spanned<Vec<Spanned<String>>>>,
    /// `default_region`: where `nearest` sends clients without coordinates. Only with
    /// `nearest`; defaults to the first region in the file.
    default_region: Option<Spanned<String>>,
    /// `when_empty`: what to answer when no region is usable: `"fail-open"` (default: decide
    /// as if every member were up), `"nodata"`, or `{ fallback = "other-pool" }`.
    when_empty: Option<Spanned<toml::Value>>,
    /// `min_usable_fraction`: 0.0..=1.0, default 0 (one up member per served family is
    /// enough). A region with a smaller fraction of up members is not usable.
    min_usable_fraction: Option<Spanned<toml::Value>>,
    /// `degraded_ttl`: 1..=ttl; the TTL while a member of the pool is down (probes or
    /// overrides; `down = true` members do not count). Default: the pool's ttl.
    degraded_ttl: Option<Spanned<i64>>,
    /// `health_assume`: `up` (default) | `down`: what a probed member counts as before its
    /// first result.
    health_assume: Option<Spanned<String>>,
    /// `[pool.NAME.region.REGION]`: one table per region, at least one.
    #[serde(default)]
    region: BTreeMap<Spanned<String>, Spanned<RawRegion>>,
}

/// `[pool.NAME.region.REGION]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegion {
    /// `location = [lat, lon]` in degrees. Only with `nearest`, where every region needs one
    /// unless it has a geo map or is the default region.
    location: Option<Spanned<Vec<f64>>>,
    /// `bias`: -99..=99, default 0, only with `nearest`. Effective distance =
    /// great-circle distance × (1 − bias/100): positive bias grows the catchment.
    bias: Option<Spanned<i64>>,
    /// `weight`: 1..=1000000, default 1, only with `region_policy` weighted or sticky.
    weight: Option<Spanned<i64>>,
    /// `geo = { countries = [..], continents = [..], networks = [..] }`: clients matched here
    /// go to this region (if usable) before any distance, order or weight is considered.
    geo: Option<Spanned<RawGeo>>,
    /// `members = [ { address = "192.0.2.1", weight = 10, down = true }, .. ]`.
    members: Option<Spanned<Vec<Spanned<RawMember>>>>,
    /// `cname = "lb.example.net."` or `cname = { name = "lb.example.net.", down = true }`:
    /// hand the client off to a regional load balancer instead of listing members.
    cname: Option<Spanned<toml::Value>>,
    /// `probe = "NAME"`: the default probe of this region's members (or its cname target,
    /// or a delegate region's glue addresses).
    probe: Option<Spanned<String>>,
    /// `delegate = "www.eu-west"`: a CNAME hand-off to a name at or below a zone cut of this
    /// zone (relative to the origin, or absolute inside the zone), answered with the referral.
    delegate: Option<Spanned<String>>,
    /// `feedback = "NAME"`: the `[feedback.NAME]` reporting this region's load and backends.
    feedback: Option<Spanned<String>>,
    /// `capacity`: > 0, in the feed's units; enables shedding above the high watermark.
    capacity: Option<Spanned<toml::Value>>,
    /// `high_watermark`: fraction of capacity, default 0.8.
    high_watermark: Option<Spanned<toml::Value>>,
    /// `low_watermark`: fraction of capacity, default 0.6; 0 < low < high ≤ 1.
    low_watermark: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGeo {
    /// ISO 3166-1 alpha-2 codes ("US", "GB").
    #[serde(default)]
    countries: Vec<Spanned<String>>,
    /// AF AN AS EU NA OC SA.
    #[serde(default)]
    continents: Vec<Spanned<String>>,
    /// CIDR networks, matched against the client (ECS) subnet.
    #[serde(default)]
    networks: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMember {
    /// An IPv4 or IPv6 address: answered in A or AAAA responses respectively.
    address: Spanned<String>,
    /// 1..=1000000, default 1, only with `member_policy` weighted or sticky.
    weight: Option<Spanned<i64>>,
    /// `down = true`: drained: down whatever probes say.
    #[serde(default)]
    down: bool,
    /// `probe = "NAME"`: overrides the region's probe for this member.
    probe: Option<Spanned<String>>,
}

/// Collects problems with their line numbers.
struct Errs<'a> {
    file: &'a Path,
    text: &'a str,
    list: Vec<ConfigError>,
}

impl Errs<'_> {
    fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let line = line_of(self.text, span.start);
        self.list.push(ConfigError::new(self.file, line, message));
    }
}

/// Loads one pool file. `origin` is the zone's origin: relative pooled names are below it and
/// absolute ones must be inside it. Returns every problem found, each with file and line.
pub fn load_pools(path: &Path, text: &str, origin: &Name) -> Result<Pools, Vec<ConfigError>> {
    let raw: RawFile = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            return Err(vec![ConfigError::new(path, line, e.message().trim_end().to_string())]);
        }
    };
    let mut errs = Errs { file: path, text, list: Vec::new() };
    let probes = compile_probes(&mut errs, &raw.probe, path.parent().unwrap_or(Path::new("")));
    let feeds = compile_feeds(&mut errs, &raw.feedback);

    // Pools in file order; ids follow that order.
    let mut raw_pools: Vec<(Spanned<String>, Spanned<RawPool>)> = raw.pool.into_iter().collect();
    raw_pools.sort_by_key(|(k, _)| k.span().start);
    let pool_ids: HashMap<String, PoolId> =
        raw_pools.iter().enumerate().map(|(i, (k, _))| (k.get_ref().clone(), PoolId(i as u32))).collect();

    let mut pools = Pools::default();
    let mut fallback_spans: Vec<Option<Range<usize>>> = Vec::new();
    for (i, (name, rp)) in raw_pools.iter().enumerate() {
        let (pool, fb_span) = compile_pool(
            &mut errs,
            &mut pools.members,
            &mut pools.fed,
            PoolId(i as u32),
            name,
            rp,
            &pool_ids,
            &probes,
            &feeds,
            origin,
        );
        pools.pools.push(pool);
        fallback_spans.push(fb_span);
    }
    check_fallback_cycles(&mut errs, &pools.pools, &fallback_spans);
    compile_names(&mut errs, &mut pools, raw.names, &pool_ids, origin);

    if errs.list.is_empty() {
        Ok(pools)
    } else {
        errs.list.sort_by_key(|e| e.line);
        Err(errs.list)
    }
}

fn word(v: &Option<Spanned<String>>, default: &str) -> (String, Range<usize>) {
    match v {
        Some(s) => (s.get_ref().clone(), s.span()),
        None => (default.to_string(), 0..0),
    }
}

#[allow(clippy::too_many_arguments)]
fn compile_pool(
    errs: &mut Errs<'_>,
    members: &mut Vec<MemberInfo>,
    fed: &mut Vec<(PoolId, RegionId)>,
    id: PoolId,
    name: &Spanned<String>,
    rp: &Spanned<RawPool>,
    pool_ids: &HashMap<String, PoolId>,
    probes: &HashMap<String, Arc<ProbeSpec>>,
    feeds: &HashMap<String, Arc<FeedSpec>>,
    origin: &Name,
) -> (Pool, Option<Range<usize>>) {
    let pname = name.get_ref().as_str();
    let pspan = rp.span();
    let raw = rp.get_ref();

    let ttl = match &raw.ttl {
        None => Ttl::DEFAULT,
        Some(t) => Ttl::new(*t.get_ref()).unwrap_or_else(|| {
            errs.at(
                t.span(),
                format!("pool {pname}: ttl must be {}..={} seconds, got {}", Ttl::MIN, Ttl::MAX, t.get_ref()),
            );
            Ttl::DEFAULT
        }),
    };
    let max_answers = match &raw.max_answers {
        None => MaxAnswers::ALL,
        Some(n) => MaxAnswers::new(*n.get_ref()).unwrap_or_else(|| {
            errs.at(
                n.span(),
                format!("pool {pname}: max_answers must be 1..={}, got {}", MaxAnswers::ALL.get(), n.get_ref()),
            );
            MaxAnswers::ALL
        }),
    };

    let min_usable_fraction = match &raw.min_usable_fraction {
        None => 0.0,
        Some(v) => {
            let f = match v.get_ref() {
                toml::Value::Float(f) => Some(*f),
                toml::Value::Integer(i) => Some(*i as f64),
                _ => None,
            };
            match f {
                Some(f) if (0.0..=1.0).contains(&f) => f,
                _ => {
                    errs.at(v.span(), format!("pool {pname}: min_usable_fraction must be a number in 0.0..=1.0"));
                    0.0
                }
            }
        }
    };
    let degraded_ttl = raw.degraded_ttl.as_ref().and_then(|t| match Ttl::new(*t.get_ref()) {
        Some(d) if d <= ttl => Some(d),
        _ => {
            errs.at(
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
                errs.at(a.span(), format!("pool {pname}: health_assume must be \"up\" or \"down\", got \"{other}\""));
                true
            }
        },
    };

    #[derive(PartialEq, Clone, Copy)]
    enum RP {
        Nearest,
        Failover,
        Weighted,
        Sticky,
        All,
    }
    let (rp_word, rp_span) = word(&raw.region_policy, "nearest");
    let rpol = match rp_word.as_str() {
        "nearest" => RP::Nearest,
        "failover" => RP::Failover,
        "weighted" => RP::Weighted,
        "sticky" => RP::Sticky,
        "all" => RP::All,
        other => {
            errs.at(
                rp_span.clone(),
                format!("pool {pname}: unknown region_policy \"{other}\" (expected nearest, failover, weighted, sticky or all)"),
            );
            RP::Nearest
        }
    };
    let (mp_word, mp_span) = word(&raw.member_policy, "weighted");
    let member_policy = match mp_word.as_str() {
        "weighted" => MemberPolicy::Weighted,
        "sticky" => MemberPolicy::Sticky,
        "all" => MemberPolicy::All,
        other => {
            errs.at(
                mp_span,
                format!("pool {pname}: unknown member_policy \"{other}\" (expected weighted, sticky or all)"),
            );
            MemberPolicy::Weighted
        }
    };

    // Regions, in file order.
    let mut raw_regions: Vec<(&Spanned<String>, &Spanned<RawRegion>)> = raw.region.iter().collect();
    raw_regions.sort_by_key(|(k, _)| k.span().start);
    if raw_regions.is_empty() {
        errs.at(
            pspan.clone(),
            format!("pool {pname} has no regions: add at least one [pool.{pname}.region.NAME] table"),
        );
    }
    let mut regions = Vec::with_capacity(raw_regions.len());
    let mut seen_country: HashMap<Country, String> = HashMap::new();
    let mut seen_continent: HashMap<Continent, String> = HashMap::new();
    let mut seen_net: HashMap<IpNet, String> = HashMap::new();
    for (rid, (rname, rr)) in raw_regions.iter().enumerate() {
        let rname = rname.get_ref().as_str();
        let rspan = rr.span();
        let r = rr.get_ref();
        let ctx = format!("pool {pname}, region {rname}");

        let location = r.location.as_ref().and_then(|l| {
            let v = l.get_ref();
            let c = if v.len() == 2 { Coordinates::new(v[0], v[1]) } else { None };
            if c.is_none() {
                errs.at(l.span(), format!("{ctx}: location must be [latitude, longitude] with latitude in -90..=90 and longitude in -180..=180"));
            }
            c
        });
        let bias = match &r.bias {
            None => Bias::default(),
            Some(b) => Bias::new(*b.get_ref()).unwrap_or_else(|| {
                errs.at(b.span(), format!("{ctx}: bias must be -99..=99, got {}", b.get_ref()));
                Bias::default()
            }),
        };
        let weight = parse_weight(errs, &r.weight, &ctx);

        let mut geo = GeoMap::default();
        if let Some(g) = &r.geo {
            let gr = g.get_ref();
            for c in &gr.countries {
                match Country::parse(c.get_ref()) {
                    Some(cc) => {
                        if let Some(prev) = seen_country.insert(cc, rname.to_string()) {
                            errs.at(c.span(), format!("{ctx}: country {cc} is already mapped to region {prev}"));
                        }
                        geo.countries.push(cc);
                    }
                    None => errs
                        .at(c.span(), format!("{ctx}: \"{}\" is not a two-letter ISO 3166 country code", c.get_ref())),
                }
            }
            for c in &gr.continents {
                match Continent::parse(c.get_ref()) {
                    Some(cc) => {
                        if let Some(prev) = seen_continent.insert(cc, rname.to_string()) {
                            errs.at(
                                c.span(),
                                format!("{ctx}: continent {} is already mapped to region {prev}", cc.as_str()),
                            );
                        }
                        geo.continents.push(cc);
                    }
                    None => errs.at(
                        c.span(),
                        format!("{ctx}: \"{}\" is not a continent code (AF, AN, AS, EU, NA, OC, SA)", c.get_ref()),
                    ),
                }
            }
            for n in &gr.networks {
                match n.get_ref().parse::<IpNet>() {
                    Ok(net) if net.trunc() != net => errs
                        .at(n.span(), format!("{ctx}: network {net} has host bits set; did you mean {}?", net.trunc())),
                    Ok(net) => {
                        if let Some(prev) = seen_net.insert(net, rname.to_string()) {
                            errs.at(n.span(), format!("{ctx}: network {net} is already mapped to region {prev}"));
                        }
                        geo.networks.push(net);
                    }
                    Err(_) => errs
                        .at(n.span(), format!("{ctx}: \"{}\" is not a CIDR network (like 192.0.2.0/24)", n.get_ref())),
                }
            }
        }

        let region_probe = r.probe.as_ref().and_then(|p| lookup_probe(errs, probes, p, &ctx));
        let content = match (&r.members, &r.cname, &r.delegate) {
            (Some(_), Some(c), _) => {
                errs.at(c.span(), format!("{ctx}: has both members and cname; a region answers with one or the other"));
                None
            }
            (Some(_), None, Some(d)) | (None, Some(_), Some(d)) => {
                errs.at(
                    d.span(),
                    format!("{ctx}: has delegate and members or cname; a region answers with one of them"),
                );
                None
            }
            (None, None, None) => {
                errs.at(rspan.clone(), format!("{ctx}: has neither members nor cname (nor delegate)"));
                None
            }
            (Some(ms), None, None) => {
                compile_members(errs, members, id, RegionId(rid as u32), ms, region_probe.as_ref(), probes, &ctx)
                    .map(Content::Members)
            }
            (None, Some(c), None) => {
                compile_cname(errs, members, id, RegionId(rid as u32), c, region_probe.as_ref(), probes, &ctx, origin)
            }
            (None, None, Some(d)) => {
                compile_delegate(errs, members, id, RegionId(rid as u32), d, region_probe.as_ref(), &ctx, origin)
            }
        };
        let feedback = compile_region_feed(errs, r, &ctx, feeds, rpol == RP::All).map(|(feed, shed)| {
            let slot = LoadSlot(fed.len() as u32);
            fed.push((id, RegionId(rid as u32)));
            RegionFeed { slot, feed, shed }
        });
        let (serves_v4, serves_v6) = match &content {
            Some(Content::Members(ms)) => {
                (ms.iter().any(|m| m.address.is_ipv4()), ms.iter().any(|m| m.address.is_ipv6()))
            }
            _ => (false, false),
        };
        let min_up = match &content {
            Some(Content::Members(ms)) => min_up_of(min_usable_fraction, ms.len()),
            _ => 0,
        };
        // A region whose content failed to compile is still pushed (as an empty member list)
        // so that region ids stay aligned; the collected errors make the load fail anyway.
        regions.push(Region {
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
        });

        // Keys that have no effect under the chosen policies are errors, so that a policy typo
        // or a forgotten switch cannot silently change behaviour.
        if rpol != RP::Nearest {
            if let Some(l) = &r.location {
                errs.at(
                    l.span(),
                    format!("{ctx}: location has no effect with region_policy {rp_word} (only nearest uses it)"),
                );
            }
            if let Some(b) = &r.bias {
                errs.at(
                    b.span(),
                    format!("{ctx}: bias has no effect with region_policy {rp_word} (only nearest uses it)"),
                );
            }
        }
        if !matches!(rpol, RP::Weighted | RP::Sticky)
            && let Some(w) = &r.weight
        {
            errs.at(
                w.span(),
                format!(
                    "{ctx}: region weight has no effect with region_policy {rp_word} (only weighted and sticky use it)"
                ),
            );
        }
        if member_policy == MemberPolicy::All
            && let Some(ms) = &r.members
        {
            for m in ms.get_ref() {
                if let Some(w) = &m.get_ref().weight {
                    errs.at(w.span(), format!("{ctx}: member weight has no effect with member_policy all"));
                }
            }
        }
        if rpol == RP::All {
            if let Some(g) = &r.geo {
                errs.at(
                    g.span(),
                    format!("{ctx}: a geo map has no effect with region_policy all (every usable region answers)"),
                );
            }
            if let Some(c) = &r.cname {
                errs.at(
                    c.span(),
                    format!(
                        "{ctx}: region_policy all merges the members of all regions, so a region cannot be a cname"
                    ),
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

    let has_geo_maps = regions.iter().any(|r| !r.geo.is_empty());
    let has_place_maps = regions.iter().any(|r| !r.geo.countries.is_empty() || !r.geo.continents.is_empty());

    // Policy-specific keys.
    if rpol != RP::Failover
        && let Some(f) = &raw.failover_order
    {
        errs.at(f.span(), format!("pool {pname}: failover_order has no effect with region_policy {rp_word}"));
    }
    if rpol != RP::Nearest
        && let Some(d) = &raw.default_region
    {
        errs.at(
            d.span(),
            format!("pool {pname}: default_region has no effect with region_policy {rp_word} (only nearest uses it)"),
        );
    }
    let find_region = |n: &str| regions.iter().position(|r| r.name == n).map(|i| RegionId(i as u32));
    let region_policy = match rpol {
        RP::Nearest => {
            let default_region = match &raw.default_region {
                None => RegionId(0),
                Some(d) => find_region(d.get_ref()).unwrap_or_else(|| {
                    errs.at(
                        d.span(),
                        format!("pool {pname}: default_region \"{}\" is not a region of this pool", d.get_ref()),
                    );
                    RegionId(0)
                }),
            };
            for (i, r) in regions.iter().enumerate() {
                if r.location.is_none() && r.geo.is_empty() && i != default_region.index() {
                    let span = raw_regions.get(i).map_or(pspan.clone(), |(_, rr)| rr.span());
                    errs.at(span, format!(
                        "pool {pname}, region {}: unreachable under nearest: it has no location, no geo map and is not the default_region",
                        r.name
                    ));
                }
            }
            RegionPolicy::Nearest { default_region }
        }
        RP::Failover => {
            let mut order = Vec::new();
            match &raw.failover_order {
                None => errs.at(
                    pspan.clone(),
                    format!("pool {pname}: region_policy failover needs failover_order = [\"region\", ..]"),
                ),
                Some(f) if f.get_ref().is_empty() => {
                    errs.at(f.span(), format!("pool {pname}: failover_order is empty"));
                }
                Some(f) => {
                    for n in f.get_ref() {
                        match find_region(n.get_ref()) {
                            Some(r) if order.contains(&r) => errs.at(
                                n.span(),
                                format!("pool {pname}: region \"{}\" appears twice in failover_order", n.get_ref()),
                            ),
                            Some(r) => order.push(r),
                            None => errs.at(
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
            if !order.is_empty() {
                for (i, r) in regions.iter().enumerate() {
                    if !order.contains(&RegionId(i as u32)) && r.geo.is_empty() {
                        let span = raw_regions.get(i).map_or(pspan.clone(), |(_, rr)| rr.span());
                        errs.at(
                            span,
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
        RP::Weighted => RegionPolicy::Weighted,
        RP::Sticky => RegionPolicy::Sticky,
        RP::All => RegionPolicy::All,
    };

    let mut fb_span = None;
    let when_empty = match &raw.when_empty {
        None => WhenEmpty::FailOpen,
        Some(v) => {
            let bad = |errs: &mut Errs<'_>| {
                errs.at(
                    v.span(),
                    format!("pool {pname}: when_empty must be \"fail-open\", \"nodata\" or {{ fallback = \"pool\" }}"),
                );
                WhenEmpty::FailOpen
            };
            match v.get_ref() {
                toml::Value::String(s) if s == "fail-open" => WhenEmpty::FailOpen,
                toml::Value::String(s) if s == "nodata" => WhenEmpty::NoData,
                toml::Value::Table(t) if t.len() == 1 => match t.get("fallback") {
                    Some(toml::Value::String(target)) => match pool_ids.get(target) {
                        Some(&tid) => {
                            fb_span = Some(v.span());
                            WhenEmpty::Fallback(tid)
                        }
                        None => {
                            errs.at(v.span(), format!("pool {pname}: fallback pool \"{target}\" does not exist"));
                            WhenEmpty::FailOpen
                        }
                    },
                    _ => bad(errs),
                },
                _ => bad(errs),
            }
        }
    };

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
        regions,
        has_geo_maps,
        has_place_maps,
    };
    (pool, fb_span)
}

fn parse_weight(errs: &mut Errs<'_>, w: &Option<Spanned<i64>>, ctx: &str) -> Option<Weight> {
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

#[allow(clippy::too_many_arguments)]
fn compile_members(
    errs: &mut Errs<'_>,
    infos: &mut Vec<MemberInfo>,
    pool: PoolId,
    region: RegionId,
    ms: &Spanned<Vec<Spanned<RawMember>>>,
    region_probe: Option<&Arc<ProbeSpec>>,
    probes: &HashMap<String, Arc<ProbeSpec>>,
    ctx: &str,
) -> Option<Vec<Member>> {
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
            Some(p) => lookup_probe(errs, probes, p, ctx),
            None => region_probe.cloned(),
        };
        let id = MemberId(infos.len() as u32);
        infos.push(MemberInfo { pool, region, target: MemberTarget::Address(addr), down_in_file: rm.down, probe });
        out.push(Member { id, address: addr, weight, seed: seed_of_addr(addr) });
    }
    Some(out)
}

#[allow(clippy::too_many_arguments)]
fn compile_cname(
    errs: &mut Errs<'_>,
    infos: &mut Vec<MemberInfo>,
    pool: PoolId,
    region: RegionId,
    c: &Spanned<toml::Value>,
    region_probe: Option<&Arc<ProbeSpec>>,
    probes: &HashMap<String, Arc<ProbeSpec>>,
    ctx: &str,
    origin: &Name,
) -> Option<Content> {
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
                    Some(p) => match probes.get(p) {
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
    let target = match Name::from_ascii(text) {
        Ok(n) if n.is_fqdn() => n,
        Ok(n) => match n.append_domain(origin) {
            Ok(n) => n,
            Err(e) => {
                errs.at(c.span(), format!("{ctx}: cname \"{text}\" is too long below the origin: {e}"));
                return None;
            }
        },
        Err(e) => {
            errs.at(c.span(), format!("{ctx}: cname \"{text}\" is not a valid domain name: {e}"));
            return None;
        }
    };
    let id = MemberId(infos.len() as u32);
    infos.push(MemberInfo { pool, region, target: MemberTarget::Cname(target.clone()), down_in_file: down, probe });
    Some(Content::Cname { id, target, delegation: None })
}

/// `delegate = "www.eu-west"`: the target is resolved against the origin and must be inside
/// the zone; the zone cut and glue are checked by `Zone::attach_pools`, which knows the zone.
#[allow(clippy::too_many_arguments)]
fn compile_delegate(
    errs: &mut Errs<'_>,
    infos: &mut Vec<MemberInfo>,
    pool: PoolId,
    region: RegionId,
    d: &Spanned<String>,
    region_probe: Option<&Arc<ProbeSpec>>,
    ctx: &str,
    origin: &Name,
) -> Option<Content> {
    let text = d.get_ref().as_str();
    let target = match Name::from_ascii(text) {
        Ok(n) if n.is_fqdn() => n,
        Ok(n) => match n.append_domain(origin) {
            Ok(n) => n,
            Err(e) => {
                errs.at(d.span(), format!("{ctx}: delegate \"{text}\" is too long below the origin: {e}"));
                return None;
            }
        },
        Err(e) => {
            errs.at(d.span(), format!("{ctx}: delegate \"{text}\" is not a valid domain name: {e}"));
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
    let id = MemberId(infos.len() as u32);
    // The name itself carries no probe: the region's probe runs against the glue addresses.
    infos.push(MemberInfo {
        pool,
        region,
        target: MemberTarget::Cname(target.clone()),
        down_in_file: false,
        probe: None,
    });
    let delegation = Delegation { cut: None, glue: Vec::new(), probe: region_probe.cloned(), offset: d.span().start };
    Some(Content::Cname { id, target, delegation: Some(Box::new(delegation)) })
}

/// A TOML number (integer or float) as f64.
fn number(v: &Spanned<toml::Value>) -> Option<f64> {
    match v.get_ref() {
        toml::Value::Float(f) => Some(*f),
        toml::Value::Integer(i) => Some(*i as f64),
        _ => None,
    }
}

/// A region's `feedback`, `capacity` and watermarks.
fn compile_region_feed(
    errs: &mut Errs<'_>,
    r: &RawRegion,
    ctx: &str,
    feeds: &HashMap<String, Arc<FeedSpec>>,
    policy_all: bool,
) -> Option<(Arc<FeedSpec>, Option<ShedConfig>)> {
    let feed = r.feedback.as_ref().and_then(|f| {
        let found = feeds.get(f.get_ref()).cloned();
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

/// Compiles every `[feedback.NAME]`. A feed with errors is left out (and the load fails).
fn compile_feeds(
    errs: &mut Errs<'_>,
    raw: &BTreeMap<Spanned<String>, Spanned<RawFeed>>,
) -> HashMap<String, Arc<FeedSpec>> {
    let mut out = HashMap::new();
    let mut entries: Vec<_> = raw.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (name, rf) in entries {
        let before = errs.list.len();
        let spec = compile_feed(errs, name.get_ref(), rf.get_ref());
        if errs.list.len() == before
            && let Some(spec) = spec
        {
            out.insert(name.get_ref().clone(), Arc::new(spec));
        }
    }
    out
}

fn compile_feed(errs: &mut Errs<'_>, name: &str, r: &RawFeed) -> Option<FeedSpec> {
    let ctx = format!("feedback {name}");
    let int = |errs: &mut Errs<'_>, v: &Option<Spanned<i64>>, key: &str, lo: i64, hi: i64, default: i64| -> i64 {
        match v {
            None => default,
            Some(x) if (lo..=hi).contains(x.get_ref()) => *x.get_ref(),
            Some(x) => {
                errs.at(x.span(), format!("{ctx}: {key} must be {lo}..={hi}, got {}", x.get_ref()));
                default
            }
        }
    };
    let interval = int(errs, &r.interval_ms, "interval_ms", 100, 60_000, 1_000);
    let timeout = int(errs, &r.timeout_ms, "timeout_ms", 1, interval, interval.min(1_000));
    let stale_after = int(errs, &r.stale_after_ms, "stale_after_ms", interval, 3_600_000, 3 * interval);

    let url = r.url.get_ref();
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => errs.at(r.url.span(), format!("{ctx}: url must be an http:// or https:// URL, got \"{url}\"")),
    }
    let kind_word = r.kind.get_ref().as_str();
    let known = matches!(kind_word, "haproxy" | "nginx" | "prometheus" | "json");
    if !known {
        errs.at(
            r.kind.span(),
            format!("{ctx}: unknown kind \"{kind_word}\" (expected haproxy, nginx, prometheus or json)"),
        );
    }
    // Keys of other kinds are errors, so that a kind typo cannot silently ignore them.
    for (key, v, owner) in [
        ("frontend", &r.frontend, "haproxy"),
        ("backend", &r.backend, "haproxy"),
        ("metric", &r.metric, "prometheus"),
        ("backends_metric", &r.backends_metric, "prometheus"),
        ("path", &r.path, "json"),
        ("backends_path", &r.backends_path, "json"),
    ] {
        if let (Some(v), true) = (v, known && kind_word != owner) {
            errs.at(v.span(), format!("{ctx}: {key} has no effect with kind {kind_word} (only {owner})"));
        }
    }
    let text = |errs: &mut Errs<'_>, v: &Option<Spanned<String>>, key: &str| -> Option<String> {
        let v = v.as_ref()?;
        let t = v.get_ref().trim();
        if t.is_empty() || t.chars().any(char::is_control) {
            errs.at(v.span(), format!("{ctx}: {key} must be non-empty text without control characters"));
            return None;
        }
        Some(t.to_string())
    };
    let metric = |errs: &mut Errs<'_>, v: &Option<Spanned<String>>, key: &str| -> Option<MetricSel> {
        let v = v.as_ref()?;
        MetricSel::parse(v.get_ref()).map_err(|e| errs.at(v.span(), format!("{ctx}: {key}: {e}"))).ok()
    };
    let json_path = |errs: &mut Errs<'_>, v: &Option<Spanned<String>>, key: &str| -> Option<String> {
        let v = v.as_ref()?;
        let p = v.get_ref();
        if p.is_empty() || p.split('.').any(str::is_empty) {
            errs.at(
                v.span(),
                format!("{ctx}: {key} \"{p}\" must be a dot path like \"load.sessions\" (no empty segments)"),
            );
            return None;
        }
        Some(p.clone())
    };
    let kind = match kind_word {
        "haproxy" => {
            let frontend = text(errs, &r.frontend, "frontend");
            if r.frontend.is_none() {
                errs.at(
                    r.kind.span(),
                    format!("{ctx}: kind haproxy needs frontend = \"NAME\" (the FRONTEND row whose scur is the load)"),
                );
            }
            FeedKind::Haproxy { frontend: frontend?, backend: text(errs, &r.backend, "backend") }
        }
        "nginx" => FeedKind::Nginx,
        "prometheus" => {
            if r.metric.is_none() {
                errs.at(r.kind.span(), format!("{ctx}: kind prometheus needs metric = 'name{{label=\"value\"}}'"));
            }
            FeedKind::Prometheus {
                metric: metric(errs, &r.metric, "metric")?,
                backends: metric(errs, &r.backends_metric, "backends_metric"),
            }
        }
        "json" => {
            if r.path.is_none() {
                errs.at(r.kind.span(), format!("{ctx}: kind json needs path = \"a.b\" (the dot path of the load)"));
            }
            FeedKind::Json {
                path: json_path(errs, &r.path, "path")?,
                backends_path: json_path(errs, &r.backends_path, "backends_path"),
            }
        }
        _ => return None,
    };
    Some(FeedSpec {
        name: name.to_string(),
        key: FeedKey { kind, url: url.clone() },
        interval: Duration::from_millis(interval as u64),
        timeout: Duration::from_millis(timeout as u64),
        stale_after: Duration::from_millis(stale_after as u64),
    })
}

fn check_fallback_cycles(errs: &mut Errs<'_>, pools: &[Pool], spans: &[Option<Range<usize>>]) {
    for start in 0..pools.len() {
        let mut path = vec![start];
        let mut cur = start;
        // At most pools.len() steps: any longer walk repeats a pool.
        for _ in 0..pools.len() {
            let Some(WhenEmpty::Fallback(next)) = pools.get(cur).map(|p| p.when_empty) else { break };
            let next = next.index();
            if next == start {
                // Report each cycle once, at its first pool in file order.
                if path.iter().all(|&p| p >= start) {
                    let names: Vec<&str> = path
                        .iter()
                        .chain(std::iter::once(&start))
                        .filter_map(|&p| pools.get(p))
                        .map(|p| p.name.as_str())
                        .collect();
                    let span = spans.get(start).cloned().flatten().unwrap_or(0..0);
                    errs.at(span, format!("fallback cycle: {}", names.join(" -> ")));
                }
                break;
            }
            if path.contains(&next) {
                break; // a cycle not through `start`; it is reported from its own first pool
            }
            path.push(next);
            cur = next;
        }
    }
}

fn compile_names(
    errs: &mut Errs<'_>,
    pools: &mut Pools,
    names: BTreeMap<Spanned<String>, Spanned<String>>,
    pool_ids: &HashMap<String, PoolId>,
    origin: &Name,
) {
    let mut out: Vec<(LowerName, PoolId)> = Vec::new();
    let mut spans: HashMap<LowerName, usize> = HashMap::new();
    let mut entries: Vec<_> = names.into_iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (key, val) in entries {
        let k = key.get_ref().as_str();
        let span = key.span();
        let name = if k == "@" {
            Some(origin.clone())
        } else {
            match Name::from_ascii(k) {
                Ok(n) if n.is_fqdn() => {
                    if origin.zone_of(&n) {
                        Some(n)
                    } else {
                        errs.at(span.clone(), format!("pooled name {k} is not inside the zone {origin}"));
                        None
                    }
                }
                Ok(n) => match n.append_domain(origin) {
                    Ok(n) => Some(n),
                    Err(e) => {
                        errs.at(span.clone(), format!("pooled name {k} is too long below {origin}: {e}"));
                        None
                    }
                },
                Err(e) => {
                    errs.at(span.clone(), format!("pooled name \"{k}\" is not a valid domain name: {e}"));
                    None
                }
            }
        };
        let pool = match pool_ids.get(val.get_ref()) {
            Some(&p) => Some(p),
            None => {
                errs.at(
                    val.span(),
                    format!("pooled name {k} refers to pool \"{}\", which is not defined", val.get_ref()),
                );
                None
            }
        };
        let (Some(name), Some(pool)) = (name, pool) else { continue };
        if name.is_wildcard() {
            errs.at(span, format!("pooled name {k}: wildcard pooled names are not supported"));
            continue;
        }
        if name == *origin && chain_has_cname(&pools.pools, pool) {
            errs.at(span, format!("pooled name {k} is the zone apex, which cannot be a CNAME, but pool {} (or a pool it falls back to) has a cname region", val.get_ref()));
            continue;
        }
        let lower = LowerName::new(&name);
        // The byte offset is kept, and turned into a line only for an error: counting lines
        // for every name would be quadratic in the size of the file.
        if let Some(prev) = spans.insert(lower.clone(), span.start) {
            let prev = line_of(errs.text, prev);
            errs.at(span, format!("pooled name {name} is already defined on line {prev}"));
            continue;
        }
        out.push((lower, pool));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    pools.names = out;
}

/// Whether this pool, or any pool it falls back to, can answer with a CNAME.
fn chain_has_cname(pools: &[Pool], start: PoolId) -> bool {
    let mut cur = Some(start);
    // Bounded: a chain longer than the number of pools is a cycle (reported elsewhere).
    for _ in 0..=pools.len() {
        let Some(p) = cur.and_then(|c| pools.get(c.index())) else { return false };
        if p.regions.iter().any(|r| matches!(r.content, Content::Cname { .. })) {
            return true;
        }
        cur = match p.when_empty {
            WhenEmpty::Fallback(next) => Some(next),
            _ => None,
        };
    }
    false
}

/// Up members a region of `n` members needs: ⌈fraction × n⌉, robust to float error
/// (0.3 × 10 is 3.0000000000000004, which must still need 3).
fn min_up_of(fraction: f64, n: usize) -> u32 {
    let need = (fraction * n as f64 - 1e-9).ceil();
    if need <= 0.0 { 0 } else { (need as u32).min(n as u32) }
}

fn lookup_probe(
    errs: &mut Errs<'_>,
    probes: &HashMap<String, Arc<ProbeSpec>>,
    name: &Spanned<String>,
    ctx: &str,
) -> Option<Arc<ProbeSpec>> {
    let found = probes.get(name.get_ref()).cloned();
    if found.is_none() {
        let n = name.get_ref();
        errs.at(name.span(), format!("{ctx}: probe \"{n}\" is not defined (add a [probe.{n}] table)"));
    }
    found
}

/// Compiles every `[probe.NAME]`. A probe with errors is left out (and the load fails).
fn compile_probes(
    errs: &mut Errs<'_>,
    raw: &BTreeMap<Spanned<String>, Spanned<RawProbe>>,
    dir: &Path,
) -> HashMap<String, Arc<ProbeSpec>> {
    let mut out = HashMap::new();
    let mut entries: Vec<_> = raw.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (name, rp) in entries {
        let before = errs.list.len();
        let spec = compile_probe(errs, name.get_ref(), rp.get_ref(), dir);
        if errs.list.len() == before {
            out.insert(name.get_ref().clone(), Arc::new(spec));
        }
    }
    out
}

fn compile_probe(errs: &mut Errs<'_>, name: &str, r: &RawProbe, dir: &Path) -> ProbeSpec {
    let ctx = format!("probe {name}");
    let int = |errs: &mut Errs<'_>, v: &Option<Spanned<i64>>, key: &str, lo: i64, hi: i64, default: i64| -> i64 {
        match v {
            None => default,
            Some(x) if (lo..=hi).contains(x.get_ref()) => *x.get_ref(),
            Some(x) => {
                errs.at(x.span(), format!("{ctx}: {key} must be {lo}..={hi}, got {}", x.get_ref()));
                default
            }
        }
    };
    let interval = int(errs, &r.interval_ms, "interval_ms", 100, 3_600_000, 5_000);
    let jitter = int(errs, &r.jitter_ms, "jitter_ms", 0, interval / 2, interval / 10);
    let timeout = int(errs, &r.timeout_ms, "timeout_ms", 1, interval, interval.min(2_000));
    let rise = int(errs, &r.rise, "rise", 1, 100, 2);
    let fall = int(errs, &r.fall, "fall", 1, 100, 3);

    let kind_word = r.kind.get_ref().as_str();
    let (is_http, tls) = match kind_word {
        "tcp" => (false, false),
        "http" => (true, false),
        "https" => (true, true),
        other => {
            errs.at(r.kind.span(), format!("{ctx}: unknown kind \"{other}\" (expected tcp, http or https)"));
            (false, false)
        }
    };
    let default_port = if tls {
        443
    } else if is_http {
        80
    } else {
        0
    };
    let port = match &r.port {
        None if !is_http => {
            if matches!(kind_word, "tcp") {
                errs.at(r.kind.span(), format!("{ctx}: a tcp probe needs a port"));
            }
            0
        }
        None => default_port,
        Some(p) if (1..=65535).contains(p.get_ref()) => *p.get_ref() as u16,
        Some(p) => {
            errs.at(p.span(), format!("{ctx}: port must be 1..=65535, got {}", p.get_ref()));
            default_port
        }
    };
    // Keys that only mean something for some kinds are errors elsewhere.
    let only = |errs: &mut Errs<'_>, span: Option<Range<usize>>, key: &str, ok: bool, kinds: &str| {
        if let (Some(span), false) = (span, ok) {
            errs.at(span, format!("{ctx}: {key} has no effect with kind {kind_word} (only {kinds})"));
        }
    };
    only(errs, r.path.as_ref().map(|v| v.span()), "path", is_http, "http and https");
    only(errs, r.expect_status.as_ref().map(|v| v.span()), "expect_status", is_http, "http and https");
    only(errs, r.body_contains.as_ref().map(|v| v.span()), "body_contains", is_http, "http and https");
    only(errs, r.host.as_ref().map(|v| v.span()), "host", is_http, "http and https");
    only(errs, r.user_agent.as_ref().map(|v| v.span()), "user_agent", is_http, "http and https");
    only(errs, r.sni.as_ref().map(|v| v.span()), "sni", tls, "https");
    only(errs, r.insecure.as_ref().map(|v| v.span()), "insecure", tls, "https");
    only(errs, r.ca_file.as_ref().map(|v| v.span()), "ca_file", tls, "https");

    let path = match &r.path {
        None => "/".to_string(),
        Some(p)
            if p.get_ref().starts_with('/') && !p.get_ref().chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            p.get_ref().clone()
        }
        Some(p) => {
            errs.at(
                p.span(),
                format!("{ctx}: path must start with '/' and contain no spaces, got \"{}\"", p.get_ref()),
            );
            "/".to_string()
        }
    };
    let mut expect_status = Vec::new();
    match &r.expect_status {
        None => expect_status.push(200),
        Some(list) if list.get_ref().is_empty() => errs.at(list.span(), format!("{ctx}: expect_status is empty")),
        Some(list) => {
            for c in list.get_ref() {
                match u16::try_from(*c.get_ref()) {
                    Ok(code) if (100..=599).contains(&code) => expect_status.push(code),
                    _ => errs.at(
                        c.span(),
                        format!("{ctx}: expect_status {} is not an HTTP status (100..=599)", c.get_ref()),
                    ),
                }
            }
        }
    }
    let text_ok = |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_control());
    for (key, v) in
        [("host", &r.host), ("sni", &r.sni), ("user_agent", &r.user_agent), ("body_contains", &r.body_contains)]
    {
        if let Some(v) = v
            && !text_ok(v.get_ref())
        {
            errs.at(v.span(), format!("{ctx}: {key} must be non-empty text without control characters"));
        }
    }
    if let Some(sni) = &r.sni
        && Name::from_ascii(sni.get_ref()).is_err()
    {
        errs.at(sni.span(), format!("{ctx}: sni \"{}\" is not a valid host name", sni.get_ref()));
    }
    let insecure = r.insecure.as_ref().is_some_and(|i| *i.get_ref());
    if let (true, Some(ca)) = (insecure, &r.ca_file) {
        errs.at(ca.span(), format!("{ctx}: ca_file has no effect with insecure = true"));
    }
    let ca_file = r.ca_file.as_ref().map(|c| dir.join(c.get_ref()));

    let kind = if is_http {
        ProbeKind::Http(HttpProbe {
            port,
            path,
            expect_status,
            body_contains: r.body_contains.as_ref().map(|b| b.get_ref().clone()),
            host: r.host.as_ref().map(|h| h.get_ref().clone()),
            user_agent: r.user_agent.as_ref().map_or_else(
                || concat!("gslbd-health/", env!("CARGO_PKG_VERSION")).to_string(),
                |u| u.get_ref().clone(),
            ),
            tls: tls.then(|| TlsProbe { sni: r.sni.as_ref().map(|s| s.get_ref().clone()), insecure, ca_file }),
        })
    } else {
        ProbeKind::Tcp { port }
    };
    ProbeSpec {
        name: name.to_string(),
        kind,
        interval: Duration::from_millis(interval as u64),
        jitter: Duration::from_millis(jitter as u64),
        timeout: Duration::from_millis(timeout as u64),
        thresholds: Thresholds { rise: rise as u8, fall: fall as u8 },
    }
}
