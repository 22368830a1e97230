//! `[probe.NAME]`: health checks (tcp, http, https) with their timing and rise/fall, each
//! key checked against its kind.
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::Name;
use toml::Spanned;

use super::Errs;
use super::raw::RawProbe;
use crate::pool::{Decide, HttpProbe, ProbeKind, ProbeSpec, Thresholds, TlsProbe};

/// The `[probe.NAME]` a member or region names; an error when it is not defined.
pub(super) fn lookup_probe(
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
pub(super) fn compile_probes(
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
    let interval = errs.int(&ctx, &r.interval_ms, "interval_ms", (100, 3_600_000), 5_000);
    let jitter = errs.int(&ctx, &r.jitter_ms, "jitter_ms", (0, interval / 2), interval / 10);
    let timeout = errs.int(&ctx, &r.timeout_ms, "timeout_ms", (1, interval), interval.min(2_000));
    let rise = errs.int(&ctx, &r.rise, "rise", (1, 100), 2);
    let fall = errs.int(&ctx, &r.fall, "fall", (1, 100), 3);
    let min_voters = r.min_voters.as_ref().map(|_| errs.int(&ctx, &r.min_voters, "min_voters", (1, 100), 1) as u32);
    let decide = r.decide.as_ref().and_then(|d| {
        let parsed = Decide::parse(d.get_ref());
        if parsed.is_none() {
            errs.at(
                d.span(),
                format!("{ctx}: decide must be \"local\", \"quorum\", \"any\" or \"all\", got \"{}\"", d.get_ref()),
            );
        }
        parsed
    });

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
        decide,
        min_voters,
    }
}
