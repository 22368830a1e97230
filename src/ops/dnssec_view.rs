//! What operators see of online signing: the `dnssec` object of each zone in `GET /status`
//! (keys and their state, the DS for the parent, the signature expiry horizon, when the zone
//! is signed next, signatures made, the caches) and the `gslbd_dnssec_*` metric families.
use std::fmt::Write;
use std::sync::atomic::Ordering;

use serde::Serialize;

use crate::config::Snapshot;
use crate::dnssec::keys::state;
use crate::dnssec::text::record_to_text;
use crate::util::clock::rfc3339;
use crate::zone::online::{CacheCounters, SigCache};
use crate::zone::{Signer, Zone};

/// The `dnssec` object of a zone signed online in `GET /status`.
#[derive(Serialize)]
pub struct DnssecJson {
    algorithm: &'static str,
    key_dir: String,
    keys: Vec<KeyJson>,
    /// The DS records the parent should publish (one per active KSK).
    ds: Vec<String>,
    /// When this version of the zone was signed.
    signed_at: String,
    /// The earliest expiration among the zone's signatures (load-time and cached).
    expiry_horizon: Option<String>,
    /// When the zone is signed again (or a key changes state).
    next_resign: Option<String>,
    /// The load that made this version: RRsets signed, kept from before, answer sets pre-signed.
    load: LoadJson,
    /// Signatures made since the server started, by kind.
    signatures: SignaturesJson,
    caches: CachesJson,
}

#[derive(Serialize)]
struct KeyJson {
    tag: u16,
    role: &'static str,
    algorithm: u8,
    /// future | published | active | retired | removed
    state: &'static str,
    /// This key signs the zone's data (the ZSK) or its DNSKEY RRset (a KSK).
    signing: bool,
    publish: Option<String>,
    activate: Option<String>,
    inactive: Option<String>,
    delete: Option<String>,
    file: String,
}

#[derive(Serialize)]
struct LoadJson {
    signed: usize,
    kept: usize,
    presigned_answers: usize,
    millis: u64,
}

#[derive(Serialize)]
struct SignaturesJson {
    static_signed: u64,
    static_kept: u64,
    answers: u64,
    denials: u64,
    refreshed: u64,
    failures: u64,
}

#[derive(Serialize)]
struct CachesJson {
    answers: CacheJson,
    denials: CacheJson,
}

#[derive(Serialize)]
struct CacheJson {
    entries: usize,
    capacity: usize,
    hits: u64,
    misses: u64,
    evictions: u64,
}

fn cache_json(c: &SigCache) -> CacheJson {
    let CacheCounters { hits, misses, evictions } = &c.counters;
    let g = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    CacheJson { entries: c.len(), capacity: c.capacity(), hits: g(hits), misses: g(misses), evictions: g(evictions) }
}

/// Serial seconds (RRSIG times) as Unix time, near `now`.
fn unserial(t: u32, now: u64) -> u64 {
    now.saturating_add_signed(i64::from(t.wrapping_sub(now as u32) as i32))
}

/// The `dnssec` object of a zone signed online.
pub(super) fn dnssec_json(zone: &Zone) -> Option<DnssecJson> {
    let s: &Signer = zone.signer.as_deref()?;
    let now = crate::util::clock::unix_now();
    let keys = &s.keys;
    let zsk = s.zsk().map(|k| k.key_tag());
    let ksks: Vec<u16> = keys.signing_ksks(now).iter().map(|k| k.key_tag()).collect();
    let time = |t: Option<u64>| t.map(rfc3339);
    let key_json = keys
        .keys
        .iter()
        .map(|k| KeyJson {
            tag: k.key_tag(),
            role: if k.is_ksk() { "KSK" } else { "ZSK" },
            algorithm: k.algorithm().number(),
            state: state(k, now).as_str(),
            signing: Some(k.key_tag()) == zsk || (k.is_ksk() && ksks.contains(&k.key_tag())),
            publish: time(k.timing.publish),
            activate: time(k.timing.activate),
            inactive: time(k.timing.inactive),
            delete: time(k.timing.delete),
            file: format!("{}.key", keys.path_of(k).display()),
        })
        .collect();
    let ds = keys
        .signing_ksks(now)
        .iter()
        .filter_map(|k| record_to_text(&keys.zone, 3600, 43, &k.ds().ok()?).ok())
        .collect();
    let g = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let c = &s.counters;
    Some(DnssecJson {
        algorithm: s.zsk().map_or("", |k| k.algorithm().mnemonic()),
        key_dir: keys.dir.display().to_string(),
        keys: key_json,
        ds,
        signed_at: rfc3339(s.signed_at),
        expiry_horizon: s.expiry_horizon().map(|e| rfc3339(unserial(e, now))),
        next_resign: s.next_due().map(rfc3339),
        load: LoadJson {
            signed: s.report.signed,
            kept: s.report.kept,
            presigned_answers: s.report.presigned,
            millis: s.report.millis,
        },
        signatures: SignaturesJson {
            static_signed: g(&c.static_signed),
            static_kept: g(&c.static_kept),
            answers: g(&c.answers),
            denials: g(&c.denials),
            refreshed: g(&c.refreshed),
            failures: g(&c.failures),
        },
        caches: CachesJson { answers: cache_json(&s.answers), denials: cache_json(&s.denials) },
    })
}

/// The `gslbd_dnssec_*` families.
pub(super) fn render_dnssec(out: &mut String, snap: &Snapshot) {
    let signed: Vec<(String, &Signer)> = snap
        .zones
        .zones()
        .iter()
        .filter_map(|z| Some((super::metrics::esc(&z.origin.to_string()), z.signer.as_deref()?)))
        .collect();
    if signed.is_empty() {
        return;
    }
    let now = crate::util::clock::unix_now();
    let g = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let fam = super::metrics::family;
    fam(
        out,
        "gslbd_dnssec_signatures_total",
        "counter",
        "Signatures made, by kind: static (zone data at load), answer (pooled answer sets), denial (NSEC white lies), refresh (cache entries signed again).",
    );
    for (z, s) in &signed {
        let c = &s.counters;
        for (kind, v) in
            [("static", &c.static_signed), ("answer", &c.answers), ("denial", &c.denials), ("refresh", &c.refreshed)]
        {
            let _ = writeln!(out, "gslbd_dnssec_signatures_total{{zone=\"{z}\",kind=\"{kind}\"}} {}", g(v));
        }
    }
    fam(
        out,
        "gslbd_dnssec_signing_failures_total",
        "counter",
        "Signatures that could not be made (the answer went out without them).",
    );
    for (z, s) in &signed {
        let _ = writeln!(out, "gslbd_dnssec_signing_failures_total{{zone=\"{z}\"}} {}", g(&s.counters.failures));
    }
    let caches = |s: &Signer| [("answers", s.answers.clone()), ("denials", s.denials.clone())];
    for (name, kind, help, pick) in [
        ("gslbd_dnssec_cache_hits_total", "counter", "Signed RRsets served from the cache (no signature made).", 0),
        ("gslbd_dnssec_cache_misses_total", "counter", "Signed RRsets not in the cache: signed on the query path.", 1),
        ("gslbd_dnssec_cache_evictions_total", "counter", "Cache entries replaced because the cache was full.", 2),
        ("gslbd_dnssec_cache_entries", "gauge", "Entries in the cache.", 3),
        ("gslbd_dnssec_cache_capacity", "gauge", "The cache's bound (entries).", 4),
    ] {
        fam(out, name, kind, help);
        for (z, s) in &signed {
            for (cache, c) in caches(s) {
                let v = match pick {
                    0 => g(&c.counters.hits),
                    1 => g(&c.counters.misses),
                    2 => g(&c.counters.evictions),
                    3 => c.len() as u64,
                    _ => c.capacity() as u64,
                };
                let _ = writeln!(out, "{name}{{zone=\"{z}\",cache=\"{cache}\"}} {v}");
            }
        }
    }
    fam(
        out,
        "gslbd_dnssec_expiry_horizon_seconds",
        "gauge",
        "Unix time of the earliest expiration among the zone's signatures.",
    );
    for (z, s) in &signed {
        if let Some(e) = s.expiry_horizon() {
            let _ = writeln!(out, "gslbd_dnssec_expiry_horizon_seconds{{zone=\"{z}\"}} {}", unserial(e, now));
        }
    }
    fam(
        out,
        "gslbd_dnssec_next_resign_seconds",
        "gauge",
        "Unix time at which the zone is signed again or a key changes state.",
    );
    for (z, s) in &signed {
        if let Some(d) = s.next_due() {
            let _ = writeln!(out, "gslbd_dnssec_next_resign_seconds{{zone=\"{z}\"}} {d}");
        }
    }
    fam(out, "gslbd_dnssec_key", "gauge", "1 for each key of the zone, with its tag, role, algorithm and state.");
    for (z, s) in &signed {
        for k in &s.keys.keys {
            let _ = writeln!(
                out,
                "gslbd_dnssec_key{{zone=\"{z}\",tag=\"{}\",role=\"{}\",algorithm=\"{}\",state=\"{}\"}} 1",
                k.key_tag(),
                if k.is_ksk() { "KSK" } else { "ZSK" },
                k.algorithm().number(),
                state(k, now).as_str()
            );
        }
    }
}
