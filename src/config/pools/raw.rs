//! The pool file's TOML as serde reads it, spans kept for error lines. Parsing only: every
//! check happens when these are compiled (see the sibling modules). The format is documented
//! key by key here and in `zones/README.md`.
use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Default, Debug)]
pub(super) struct RawFile {
    /// `[names]`: pooled owner name → pool name. Names are relative to the zone origin, `@` is
    /// the apex, and a name with a trailing dot is absolute (and must be inside the zone).
    pub(super) names: BTreeMap<Spanned<String>, Spanned<String>>,
    /// `[pool.NAME]`: one table per pool, in file order (a name at most once: TOML and the
    /// section reader refuse a table defined twice). A list, not a map: 100,000 pools put
    /// in a map by name and taken out again in file order cost a tenth of their compile.
    pub(super) pool: Vec<(Spanned<String>, Spanned<RawPool>)>,
    /// `[probe.NAME]`: health probes, referenced by name from members and regions.
    pub(super) probe: BTreeMap<Spanned<String>, Spanned<RawProbe>>,
    /// `[feedback.NAME]`: load and backend health reported by a region's L4/L7 tier,
    /// referenced by name from regions.
    pub(super) feedback: BTreeMap<Spanned<String>, Spanned<RawFeed>>,
}

/// Reads a pool file, collecting every TOML error: all syntax errors, then those of `[names]`
/// and of each `[pool.NAME]`, `[probe.NAME]` and `[feedback.NAME]` on its own.
pub(super) fn read(path: &std::path::Path, text: &str) -> Result<RawFile, Vec<crate::diag::ConfigError>> {
    // Section by section where the file allows (the usual layout; see chunks.rs), else whole.
    match super::chunks::read(text) {
        Some(raw) => Ok(raw),
        None => read_whole(path, text),
    }
}

/// [`read`] of the whole document at once.
pub(super) fn read_whole(path: &std::path::Path, text: &str) -> Result<RawFile, Vec<crate::diag::ConfigError>> {
    use crate::config::toml_doc;
    let doc = toml_doc::parse(path, text)?;
    let mut errors = Vec::new();
    let mut raw = RawFile::default();
    for (k, v) in doc {
        match k.get_ref().as_str() {
            "names" => {
                if let Some(n) = toml_doc::value(&mut errors, path, text, v) {
                    raw.names = n;
                }
            }
            "pool" => raw.pool = toml_doc::named(&mut errors, path, text, "pool", v),
            "probe" => raw.probe = toml_doc::named(&mut errors, path, text, "probe", v).into_iter().collect(),
            "feedback" => raw.feedback = toml_doc::named(&mut errors, path, text, "feedback", v).into_iter().collect(),
            other => errors.push(toml_doc::at(
                path,
                text,
                k.span(),
                format!("unknown section `{other}`, expected one of `names`, `pool`, `probe`, `feedback`"),
            )),
        }
    }
    if errors.is_empty() { Ok(raw) } else { Err(errors) }
}

/// `[feedback.NAME]`: one polled source of load (and optionally backends up).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFeed {
    /// `kind`: `haproxy` (stats CSV) | `nginx` (stub_status) | `prometheus` (text) | `json`.
    pub(super) kind: Spanned<String>,
    /// `url`: http:// or https://, polled with GET.
    pub(super) url: Spanned<String>,
    /// `frontend`: haproxy only, required: load = this FRONTEND row's `scur`.
    pub(super) frontend: Option<Spanned<String>>,
    /// `backend`: haproxy only: backends up = this BACKEND row's `act`.
    pub(super) backend: Option<Spanned<String>>,
    /// `metric = 'name{label="value"}'`: prometheus only, required: load = the sum of the matches.
    pub(super) metric: Option<Spanned<String>>,
    /// `backends_metric`: prometheus only: backends up = the sum of the matches.
    pub(super) backends_metric: Option<Spanned<String>>,
    /// `path = "a.b"`: json only, required: load = the number at this dot path.
    pub(super) path: Option<Spanned<String>>,
    /// `backends_path`: json only: backends up = the number at this dot path.
    pub(super) backends_path: Option<Spanned<String>>,
    /// `interval_ms`: 100..=60000, default 1000.
    pub(super) interval_ms: Option<Spanned<i64>>,
    /// `timeout_ms`: 1..=interval, default min(1000, interval).
    pub(super) timeout_ms: Option<Spanned<i64>>,
    /// `stale_after_ms`: interval..=3600000, default 3 × interval.
    pub(super) stale_after_ms: Option<Spanned<i64>>,
}

/// `[probe.NAME]`: one health check, run once per distinct target that references it.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProbe {
    /// `kind`: `tcp` (connect) | `http` | `https` (GET, status and optional body check).
    pub(super) kind: Spanned<String>,
    /// `port`: required for tcp; default 80 (http) or 443 (https).
    pub(super) port: Option<Spanned<i64>>,
    /// `path`: http(s) only, starts with '/', default "/".
    pub(super) path: Option<Spanned<String>>,
    /// `expect_status = [200, 204]`: http(s) only; default [200].
    pub(super) expect_status: Option<Spanned<Vec<Spanned<i64>>>>,
    /// `body_contains`: http(s) only; the first 64 KiB of the body must contain it.
    pub(super) body_contains: Option<Spanned<String>>,
    /// `host`: http(s) only; the Host header (default: the target).
    pub(super) host: Option<Spanned<String>>,
    /// `sni`: https only; the TLS server name sent and verified.
    pub(super) sni: Option<Spanned<String>>,
    /// `user_agent`: http(s) only; default "gslbd-health/VERSION".
    pub(super) user_agent: Option<Spanned<String>>,
    /// `insecure = true`: https only; accept any certificate.
    pub(super) insecure: Option<Spanned<bool>>,
    /// `ca_file`: https only; PEM CA certificates to trust instead of the system roots
    /// (relative to the pool file's directory).
    pub(super) ca_file: Option<Spanned<String>>,
    /// `interval_ms`: 100..=3600000, default 5000.
    pub(super) interval_ms: Option<Spanned<i64>>,
    /// `jitter_ms`: 0..=interval/2, default interval/10; each gap is shortened by up to this.
    pub(super) jitter_ms: Option<Spanned<i64>>,
    /// `timeout_ms`: 1..=interval, default min(2000, interval).
    pub(super) timeout_ms: Option<Spanned<i64>>,
    /// `rise`: consecutive successes that bring a down target up, 1..=100, default 2.
    pub(super) rise: Option<Spanned<i64>>,
    /// `fall`: consecutive failures that take an up target down, 1..=100, default 3.
    pub(super) fall: Option<Spanned<i64>>,
    /// `decide`: in a fleet, `local` | `quorum` | `any` | `all`; default `[cluster] decide`.
    pub(super) decide: Option<Spanned<String>>,
    /// `min_voters`: in a fleet, fresh voters needed to decide together, 1..=100; default
    /// `[cluster] min_voters`.
    pub(super) min_voters: Option<Spanned<i64>>,
}

/// `[pool.NAME]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPool {
    /// `ttl`: seconds, 1..=86400, default 30. Pooled answers should be short-lived so that a
    /// health change reaches clients quickly.
    pub(super) ttl: Option<Spanned<i64>>,
    /// `max_answers`: at most this many address records per answer, 1..=32; default 32, i.e.
    /// all of the chosen members (up to the cap, which keeps replies inside 512 bytes).
    pub(super) max_answers: Option<Spanned<i64>>,
    /// `region_policy`: `nearest` (default) | `failover` | `weighted` | `sticky` | `all`.
    pub(super) region_policy: Option<Spanned<String>>,
    /// `member_policy`: `weighted` (default) | `sticky` | `all`.
    pub(super) member_policy: Option<Spanned<String>>,
    /// `failover_order`: region names, first preferred. Required for (and only allowed with)
    /// `region_policy = "failover"`.
    pub(super) failover_order: Option<Spanned<Vec<Spanned<String>>>>,
    /// `default_region`: where `nearest` sends clients without coordinates. Only with
    /// `nearest`; defaults to the first region in the file.
    pub(super) default_region: Option<Spanned<String>>,
    /// `when_empty`: what to answer when no region is usable: `"fail-open"` (default: decide
    /// as if every member were up), `"nodata"`, or `{ fallback = "other-pool" }`.
    pub(super) when_empty: Option<Spanned<toml::Value>>,
    /// `min_usable_fraction`: 0.0..=1.0, default 0 (one up member per served family is
    /// enough). A region with a smaller fraction of up members is not usable.
    pub(super) min_usable_fraction: Option<Spanned<toml::Value>>,
    /// `degraded_ttl`: 1..=ttl; the TTL while a member of the pool is down (probes or
    /// overrides; `down = true` members do not count). Default: the pool's ttl.
    pub(super) degraded_ttl: Option<Spanned<i64>>,
    /// `health_assume`: `up` (default) | `down`: what a probed member counts as before its
    /// first result.
    pub(super) health_assume: Option<Spanned<String>>,
    /// `latency_min_samples`: latency only; probe RTT samples a member needs before its
    /// estimate counts, 1..=100, default 3.
    pub(super) latency_min_samples: Option<Spanned<i64>>,
    /// `latency_hysteresis`: latency only; fraction 0.0..=0.9 by which a region must be faster
    /// than the current one to take its clients, default 0.2.
    pub(super) latency_hysteresis: Option<Spanned<toml::Value>>,
    /// `latency_client_samples = true`: latency only; RTTs clients post (`POST /rtt`) for
    /// their /24 (/56) decide first where they have enough samples. Default false.
    pub(super) latency_client_samples: Option<Spanned<bool>>,
    /// `regions_per_answer`: members of the k best usable regions, 1..=8, default 1.
    pub(super) regions_per_answer: Option<Spanned<i64>>,
    /// `extra_random`: plus members of j more usable regions drawn at random, 0..=8, default 0.
    pub(super) extra_random: Option<Spanned<i64>>,
    /// `transfer`: what a secondary gets for the pool's names (zone transfers, issue 16):
    /// `"omit"` (default: nothing) or `{ static = ["192.0.2.1", "2001:db8::1"] }` (these
    /// addresses as ordinary A/AAAA records with the pool's ttl).
    pub(super) transfer: Option<Spanned<toml::Value>>,
    /// `[pool.NAME.region.REGION]`: one table per region, at least one. A list in file order,
    /// not a map: a BTreeMap node has room for 11 of these structs (about 8 KB a pool, 0.9 GB
    /// for 100,000 pools) where pools have two or three regions.
    #[serde(default, deserialize_with = "named_list")]
    pub(super) region: Named<RawRegion>,
}

/// Named tables, each with its name.
pub(super) type Named<T> = Vec<(Spanned<String>, Spanned<T>)>;

/// A table of named tables as a list, in the order the deserializer gives (the file's).
fn named_list<'de, D, T>(d: D) -> Result<Named<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Entries<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Entries<T> {
        type Value = Named<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0).min(64));
            while let Some(entry) = m.next_entry()? {
                out.push(entry);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Entries(std::marker::PhantomData))
}

/// `[pool.NAME.region.REGION]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegion {
    /// `location = [lat, lon]` in degrees. Only with `nearest`, where every region needs one
    /// unless it has a geo map or is the default region.
    pub(super) location: Option<Spanned<Vec<f64>>>,
    /// `bias`: -99..=99, default 0, only with `nearest`. Effective distance =
    /// great-circle distance × (1 − bias/100): positive bias grows the catchment.
    pub(super) bias: Option<Spanned<i64>>,
    /// `weight`: 1..=1000000, default 1, only with `region_policy` weighted or sticky.
    pub(super) weight: Option<Spanned<i64>>,
    /// `geo = { countries = [..], continents = [..], networks = [..] }`: clients matched here
    /// go to this region (if usable) before any distance, order or weight is considered.
    pub(super) geo: Option<Spanned<RawGeo>>,
    /// `members = [ { address = "192.0.2.1", weight = 10, down = true }, .. ]`.
    pub(super) members: Option<Spanned<Vec<Spanned<RawMember>>>>,
    /// `cname = "lb.example.net."` or `cname = { name = "lb.example.net.", down = true }`:
    /// hand the client off to a regional load balancer instead of listing members.
    pub(super) cname: Option<Spanned<toml::Value>>,
    /// `probe = "NAME"`: the default probe of this region's members (or its cname target,
    /// or a delegate region's glue addresses).
    pub(super) probe: Option<Spanned<String>>,
    /// `delegate = "www.eu-west"`: a CNAME hand-off to a name at or below a zone cut of this
    /// zone (relative to the origin, or absolute inside the zone), answered with the referral.
    pub(super) delegate: Option<Spanned<String>>,
    /// `feedback = "NAME"`: the `[feedback.NAME]` reporting this region's load and backends.
    pub(super) feedback: Option<Spanned<String>>,
    /// `capacity`: > 0, in the feed's units; enables shedding above the high watermark.
    pub(super) capacity: Option<Spanned<toml::Value>>,
    /// `high_watermark`: fraction of capacity, default 0.8.
    pub(super) high_watermark: Option<Spanned<toml::Value>>,
    /// `low_watermark`: fraction of capacity, default 0.6; 0 < low < high ≤ 1.
    pub(super) low_watermark: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGeo {
    /// ISO 3166-1 alpha-2 codes ("US", "GB").
    #[serde(default)]
    pub(super) countries: Vec<Spanned<String>>,
    /// AF AN AS EU NA OC SA.
    #[serde(default)]
    pub(super) continents: Vec<Spanned<String>>,
    /// CIDR networks, matched against the client (ECS) subnet.
    #[serde(default)]
    pub(super) networks: Vec<Spanned<String>>,
    /// Autonomous system numbers (`64500` or `"AS64500"`), from `[geoip] asn_database`.
    #[serde(default)]
    pub(super) asns: Vec<Spanned<toml::Value>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMember {
    /// An IPv4 or IPv6 address: answered in A or AAAA responses respectively.
    pub(super) address: Spanned<String>,
    /// 1..=1000000, default 1, only with `member_policy` weighted or sticky.
    pub(super) weight: Option<Spanned<i64>>,
    /// `down = true`: drained: down whatever probes say.
    #[serde(default)]
    pub(super) down: bool,
    /// `probe = "NAME"`: overrides the region's probe for this member.
    pub(super) probe: Option<Spanned<String>>,
}
