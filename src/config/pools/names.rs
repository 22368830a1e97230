//! The checks across a file's pools: fallback cycles, and the `[names]` table that points
//! pooled owner names at pools.
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use hickory_proto::rr::{LowerName, Name};
use toml::Spanned;

use super::Errs;
use crate::diag::line_of;
use crate::pool::{Content, Pool, PoolId, Pools, WhenEmpty};

pub(super) fn check_fallback_cycles(errs: &mut Errs<'_>, pools: &[Pool], spans: &[Option<Range<usize>>]) {
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

pub(super) fn compile_names(
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
