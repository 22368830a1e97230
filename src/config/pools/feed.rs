//! `[feedback.NAME]`: the load feeds of the regional tier (haproxy, nginx, prometheus, json),
//! each key checked against its kind.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::Errs;
use super::raw::RawFeed;
use crate::feedback::selector;
use crate::pool::{FeedKey, FeedKind, FeedSpec, MetricSel};
/// Compiles every `[feedback.NAME]`. A feed with errors is left out (and the load fails).
pub(super) fn compile_feeds(
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
    let interval = errs.int(&ctx, &r.interval_ms, "interval_ms", (100, 60_000), 1_000);
    let timeout = errs.int(&ctx, &r.timeout_ms, "timeout_ms", (1, interval), interval.min(1_000));
    let stale_after = errs.int(&ctx, &r.stale_after_ms, "stale_after_ms", (interval, 3_600_000), 3 * interval);

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
        selector(v.get_ref()).map_err(|e| errs.at(v.span(), format!("{ctx}: {key}: {e}"))).ok()
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
