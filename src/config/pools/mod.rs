//! Pool files (`zones/<zone>.pools.toml`): TOML → raw serde structs that keep spans ([`raw`]) →
//! the validated [`Pools`] model. Parsing and checking are separate steps; every problem found
//! is collected with its file and line, so an operator fixes a file in one pass.
//!
//! ```text
//! text ─toml─► RawFile ─► probes (probe.rs), feeds (feed.rs)      named definitions first
//!                      ─► pools in file order (pool.rs)            ids = file order
//!                            └─ regions (region.rs) ─ members / cname / delegate (content.rs)
//!                      ─► fallback cycles, [names] (names.rs)      cross-pool checks last
//! ```
//!
//! Everything the pools of one file share while they compile (the named probes and feeds,
//! the pool ids, and the member and load-slot tables they append to) is one [`Ctx`].
mod chunks;
mod content;
mod feed;
mod names;
mod overlay;
mod pool;
mod probe;
mod raw;
mod region;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use hickory_proto::rr::Name;
use toml::Spanned;

use crate::config::PoolEdit;
use crate::diag::{ConfigError, line_of};
use crate::pool::{FeedSpec, MemberInfo, PoolId, Pools, ProbeSpec, RegionId};
use raw::RawPool;

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

    /// An optional integer key that must lie in `lo..=hi`: `default` when absent, and an error
    /// (then `default`) when out of range. `ctx` names the table ("probe web").
    fn int(&mut self, ctx: &str, v: &Option<Spanned<i64>>, key: &str, (lo, hi): (i64, i64), default: i64) -> i64 {
        match v {
            None => default,
            Some(x) if (lo..=hi).contains(x.get_ref()) => *x.get_ref(),
            Some(x) => {
                self.at(x.span(), format!("{ctx}: {key} must be {lo}..={hi}, got {}", x.get_ref()));
                default
            }
        }
    }
}

/// What the pools of one file share while they compile.
struct Ctx<'a> {
    errs: Errs<'a>,
    /// The zone's origin: relative names are below it, absolute ones must be inside it.
    origin: &'a Name,
    /// Pool name → id (file order), for fallbacks and `[names]`.
    pool_ids: HashMap<String, PoolId>,
    /// The `[probe.NAME]` definitions that compiled.
    probes: HashMap<String, Arc<ProbeSpec>>,
    /// The `[feedback.NAME]` definitions that compiled.
    feeds: HashMap<String, Arc<FeedSpec>>,
    /// Every health-checked member of the file, indexed by [`crate::pool::MemberId`].
    members: Vec<MemberInfo>,
    /// Every fed region, indexed by [`crate::pool::LoadSlot`].
    fed: Vec<(PoolId, RegionId)>,
    /// Where each `cname` value is written (checked against the zone when linking).
    cname_offsets: Vec<(crate::pool::MemberId, usize, bool)>,
}

/// Loads one pool file. `origin` is the zone's origin: relative pooled names are below it and
/// absolute ones must be inside it. Returns every problem found, each with file and line.
pub fn load_pools(path: &Path, text: &str, origin: &Name) -> Result<Pools, Vec<ConfigError>> {
    load_pools_with(path, text, origin, &[])
}

/// [`load_pools`] with runtime changes applied to the parsed file before it compiles
/// (`edits` are this zone's, in order); an edit whose pool, region or member is not in the file
/// is an error too.
pub fn load_pools_with(path: &Path, text: &str, origin: &Name, edits: &[&PoolEdit]) -> Result<Pools, Vec<ConfigError>> {
    let mut raw = raw::read(path, text)?;
    let mut errs = Errs { file: path, text, list: Vec::new() };
    overlay::apply(&mut errs, &mut raw, edits);
    let probes = probe::compile_probes(&mut errs, &raw.probe, path.parent().unwrap_or(Path::new("")));
    let mut probe_defs: Vec<(Arc<ProbeSpec>, usize)> = raw
        .probe
        .keys()
        .filter_map(|k| Some((probes.get(k.get_ref())?.clone(), line_of(text, k.span().start))))
        .collect();
    probe_defs.sort_by_key(|(_, line)| *line);
    let feeds = feed::compile_feeds(&mut errs, &raw.feedback);

    // Pools in file order; ids follow that order.
    let mut raw_pools: Vec<(Spanned<String>, Spanned<RawPool>)> = raw.pool;
    // (Cached key: the entries are large, and a stable sort moves each one many times, where
    // this sorts the keys and then swaps each entry into place at most once.)
    raw_pools.sort_by_cached_key(|(k, _)| k.span().start);
    let pool_ids = raw_pools.iter().enumerate().map(|(i, (k, _))| (k.get_ref().clone(), PoolId(i as u32))).collect();

    let mut cx =
        Ctx { errs, origin, pool_ids, probes, feeds, members: Vec::new(), fed: Vec::new(), cname_offsets: Vec::new() };
    let mut compiled = Vec::with_capacity(raw_pools.len());
    let mut fallback_spans = Vec::with_capacity(raw_pools.len());
    // Each raw pool is dropped once compiled: the two forms of all pools never coexist.
    for (i, (name, rp)) in raw_pools.into_iter().enumerate() {
        let (pool, fb_span) = pool::compile_pool(&mut cx, PoolId(i as u32), &name, &rp);
        compiled.push(pool);
        fallback_spans.push(fb_span);
    }
    names::check_fallback_cycles(&mut cx.errs, &compiled, &fallback_spans);
    let mut pools = Pools {
        pools: compiled,
        members: std::mem::take(&mut cx.members),
        fed: cx.fed,
        probe_defs,
        cname_offsets: std::mem::take(&mut cx.cname_offsets),
        ..Pools::default()
    };
    names::compile_names(&mut cx.errs, &mut pools, raw.names, &cx.pool_ids, origin);

    let mut errors = cx.errs.list;
    if errors.is_empty() {
        Ok(pools)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

/// A keyword value and its span, or the default with an empty span.
fn word(v: &Option<Spanned<String>>, default: &str) -> (String, Range<usize>) {
    match v {
        Some(s) => (s.get_ref().clone(), s.span()),
        None => (default.to_string(), 0..0),
    }
}

/// A TOML number (integer or float) as f64.
fn number(v: &Spanned<toml::Value>) -> Option<f64> {
    match v.get_ref() {
        toml::Value::Float(f) => Some(*f),
        toml::Value::Integer(i) => Some(*i as f64),
        _ => None,
    }
}

/// A domain name as written in a pool file: absolute with a trailing dot, else relative to
/// `origin`. The error is the message's tail: "is not a valid domain name: …" or "is too long …".
fn name_below(text: &str, origin: &Name) -> Result<Name, String> {
    match Name::from_ascii(text) {
        Ok(n) if n.is_fqdn() => Ok(n),
        Ok(n) => n.append_domain(origin).map_err(|e| format!("is too long below the origin: {e}")),
        Err(e) => Err(format!("is not a valid domain name: {e}")),
    }
}
