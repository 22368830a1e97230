//! Query counters and the Prometheus text exposition (format 0.0.4), rendered by hand.
//!
//! Why no metrics crate: the hot path must only increment handles it already holds. The
//! `prometheus` crate's label vectors hash the label values on every `with_label_values`,
//! and the `metrics` facade looks keys up in a registry; both would sit on the query path
//! (rust-stack notes §1.6 measured that doubling the CPU per query). Our dimensions are small
//! and fixed (transport × rcode × qtype bucket) or follow the snapshot's own ids (answers per
//! member), so plain arrays of atomics, indexed directly, do the job, and the text format is
//! a few lines to write. Tests read it back with a real parser (`prometheus-parse`).
//!
//! Everything here is created once at start-up ([`Metrics`]) or once per reload (the
//! per-member counters in the serving state's `Live`); [`Metrics::record`] does fixed-index
//! `fetch_add`s and nothing else.
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::cookie::Status;
use crate::dns::{DropReason, Outcome, Transport};
use crate::serving::{Serving, member_name};

const TRANSPORTS: [&str; 2] = ["udp", "tcp"];

/// The labels of `gslbd_cookie_queries_total`'s `status`.
const COOKIE_STATUS: [&str; 3] = ["valid", "client-only", "invalid"];

/// Rcode buckets: the ones a server of ours sends, then "other".
const RCODES: [(u16, &str); 9] = [
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (16, "BADVERS"),
    (23, "BADCOOKIE"),
    (u16::MAX, "other"),
];

/// Qtype buckets: the common types by name, then "other"; "none" for no readable question.
const QTYPES: [(u16, &str); 18] = [
    (1, "A"),
    (28, "AAAA"),
    (5, "CNAME"),
    (15, "MX"),
    (2, "NS"),
    (6, "SOA"),
    (16, "TXT"),
    (33, "SRV"),
    (12, "PTR"),
    (257, "CAA"),
    (65, "HTTPS"),
    (64, "SVCB"),
    (43, "DS"),
    (255, "ANY"),
    (252, "AXFR"),
    (251, "IXFR"),
    (u16::MAX, "other"),
    (0, "none"),
];
const QTYPE_OTHER: usize = 16;
const QTYPE_NONE: usize = 17;

type Row<const N: usize> = [AtomicU64; N];

/// Extra metrics rendered after ours: the hook for subsystems with their own counters
/// (the health module's probe results, latencies and transitions). Called only at scrape time.
pub trait MetricsSource: Send + Sync {
    /// Appends complete metric families (with `# HELP`/`# TYPE`) in the text format.
    fn render(&self, out: &mut String);
}

/// Process-wide counters. Created once at start-up; outlive every reload.
pub struct Metrics {
    /// [transport][rcode bucket][qtype bucket]
    queries: [[Row<{ QTYPES.len() }>; RCODES.len()]; 2],
    /// Packets that got no reply, per transport and [`DropReason`] (in `DropReason::ALL` order).
    dropped: [Row<{ DropReason::ALL.len() }>; 2],
    /// Queries with an EDNS Client Subnet option, per transport.
    ecs: Row<2>,
    /// Replies sent with TC set, per transport.
    truncated: Row<2>,
    /// Queries with a COOKIE option (cookies on), per transport and [`COOKIE_STATUS`].
    cookies: [Row<3>; 2],
    /// Reloads that swapped a new snapshot in, and reloads that kept the old one.
    pub(crate) reloads_ok: AtomicU64,
    /// Reloads that swapped a new snapshot in although some zones had errors.
    pub(crate) reloads_partial: AtomicU64,
    pub(crate) reloads_failed: AtomicU64,
    /// Unix time of the last reload attempt and of the last successful one (0: none yet).
    pub(crate) last_reload_unix: AtomicU64,
    pub(crate) last_success_unix: AtomicU64,
    /// 1 if the last reload attempt succeeded (or none failed yet), else 0.
    pub(crate) last_reload_ok: AtomicU64,
    /// Errors of the last failed reload (0 after a success).
    pub(crate) last_reload_errors: AtomicU64,
    /// Registered at start-up by other subsystems; read only when /metrics is scraped.
    sources: Mutex<Vec<Arc<dyn MetricsSource>>>,
    /// When the process started (Unix seconds).
    pub(crate) started_unix: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            queries: [const { [const { [const { AtomicU64::new(0) }; QTYPES.len()] }; RCODES.len()] }; 2],
            dropped: [const { [const { AtomicU64::new(0) }; DropReason::ALL.len()] }; 2],
            ecs: [const { AtomicU64::new(0) }; 2],
            truncated: [const { AtomicU64::new(0) }; 2],
            cookies: [const { [const { AtomicU64::new(0) }; 3] }; 2],
            reloads_ok: AtomicU64::new(0),
            reloads_partial: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            last_reload_unix: AtomicU64::new(0),
            last_success_unix: AtomicU64::new(0),
            last_reload_ok: AtomicU64::new(1),
            last_reload_errors: AtomicU64::new(0),
            sources: Mutex::new(Vec::new()),
            started_unix: crate::util::clock::unix_now(),
        }
    }
}

fn transport_index(t: Transport) -> usize {
    match t {
        Transport::Udp => 0,
        Transport::Tcp => 1,
    }
}

fn rcode_index(rcode: u16) -> usize {
    RCODES.iter().position(|(c, _)| *c == rcode).unwrap_or(RCODES.len() - 1)
}

/// The rcode's name as the metrics label it (NOERROR, NXDOMAIN, …, or "other").
pub fn rcode_name(rcode: u16) -> &'static str {
    RCODES[rcode_index(rcode)].1
}

fn drop_index(reason: DropReason) -> usize {
    match reason {
        DropReason::Malformed => 0,
        DropReason::Oversize => 1,
        DropReason::Rrl => 2,
        DropReason::Other => 3,
    }
}

fn qtype_index(qtype: Option<u16>) -> usize {
    match qtype {
        None => QTYPE_NONE,
        Some(t) => QTYPES[..QTYPE_OTHER].iter().position(|(c, _)| *c == t).unwrap_or(QTYPE_OTHER),
    }
}

impl Metrics {
    /// Counts one query. Fixed-index atomic increments only.
    #[inline]
    pub fn record(&self, outcome: &Outcome, transport: Transport) {
        let t = transport_index(transport);
        // Every query with a COOKIE option, answered or dropped by RRL.
        if let Some(d) = &outcome.cookie {
            let i = match d.status {
                Status::Valid => 0,
                Status::ClientOnly | Status::Absent => 1,
                Status::Invalid(_) => 2,
            };
            self.cookies[t][i].fetch_add(1, Ordering::Relaxed);
        }
        if !outcome.replied {
            self.dropped[t][drop_index(outcome.drop)].fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.queries[t][rcode_index(outcome.rcode)][qtype_index(outcome.qtype)].fetch_add(1, Ordering::Relaxed);
        if outcome.ecs {
            self.ecs[t].fetch_add(1, Ordering::Relaxed);
        }
        if outcome.truncated {
            self.truncated[t].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Packets handled on `transport` since start: (replied, dropped without a reply).
    pub fn totals(&self, transport: Transport) -> (u64, u64) {
        let t = transport_index(transport);
        let replied = self.queries[t].iter().flatten().map(|c| c.load(Ordering::Relaxed)).sum();
        (replied, self.dropped[t].iter().map(|c| c.load(Ordering::Relaxed)).sum())
    }

    /// Adds a subsystem's metrics to every scrape (the health module registers here).
    pub fn add_source(&self, source: Arc<dyn MetricsSource>) {
        self.sources.lock().unwrap_or_else(|p| p.into_inner()).push(source);
    }

    /// The whole exposition: our counters, the snapshot's per-member counters, the sources'.
    pub fn render(&self, serving: &Serving) -> String {
        let (snap, live) = (&serving.config, &serving.live);
        let mut out = String::with_capacity(8192);
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);

        family(&mut out, "gslbd_queries_total", "counter", "DNS queries answered, by transport, rcode and query type.");
        for (t, tname) in TRANSPORTS.iter().enumerate() {
            for (r, (_, rname)) in RCODES.iter().enumerate() {
                for (q, (_, qname)) in QTYPES.iter().enumerate() {
                    let n = get(&self.queries[t][r][q]);
                    if n > 0 {
                        let _ = writeln!(
                            out,
                            "gslbd_queries_total{{transport=\"{tname}\",rcode=\"{rname}\",qtype=\"{qname}\"}} {n}"
                        );
                    }
                }
            }
        }
        family(
            &mut out,
            "gslbd_dropped_total",
            "counter",
            "Packets received and dropped without a reply, by transport and reason (malformed: shorter than a \
             header; oversize: a datagram over the receive buffer; rrl: rate limited; other: responses, port 0).",
        );
        for (t, tname) in TRANSPORTS.iter().enumerate() {
            for reason in DropReason::ALL {
                let n = get(&self.dropped[t][drop_index(reason)]);
                let _ =
                    writeln!(out, "gslbd_dropped_total{{transport=\"{tname}\",reason=\"{}\"}} {n}", reason.as_str());
            }
        }
        for (name, help, row) in [
            ("gslbd_ecs_queries_total", "Queries carrying an EDNS Client Subnet option, by transport.", &self.ecs),
            ("gslbd_truncated_total", "Replies sent truncated (TC set), by transport.", &self.truncated),
        ] {
            family(&mut out, name, "counter", help);
            for (t, tname) in TRANSPORTS.iter().enumerate() {
                let _ = writeln!(out, "{name}{{transport=\"{tname}\"}} {}", get(&row[t]));
            }
        }

        family(
            &mut out,
            "gslbd_cookie_queries_total",
            "counter",
            "Queries with a DNS COOKIE option, by transport and the server cookie's status (valid ones skip RRL).",
        );
        for (t, tname) in TRANSPORTS.iter().enumerate() {
            for (i, sname) in COOKIE_STATUS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "gslbd_cookie_queries_total{{transport=\"{tname}\",status=\"{sname}\"}} {}",
                    get(&self.cookies[t][i])
                );
            }
        }
        family(
            &mut out,
            "gslbd_answers_total",
            "counter",
            "Address records (or CNAME hand-offs) given out, by zone, pool, region and member.",
        );
        for (zi, zone) in snap.zones.zones().iter().enumerate() {
            for (id, m) in zone.pools.members() {
                let pool = zone.pools.pool(m.pool);
                let region = pool.and_then(|p| p.region(m.region)).map(|r| r.name.as_str()).unwrap_or("");
                let _ = writeln!(
                    out,
                    "gslbd_answers_total{{zone=\"{}\",pool=\"{}\",region=\"{}\",member=\"{}\"}} {}",
                    esc(&zone.origin.to_string()),
                    esc(pool.map(|p| p.name.as_str()).unwrap_or("")),
                    esc(region),
                    esc(&member_name(&m.target)),
                    live.answers_of(zi, id)
                );
            }
        }
        family(
            &mut out,
            "gslbd_steered_total",
            "counter",
            "Steering decisions, by zone, pool and the region that answered (\"-\": no single region).",
        );
        live.for_each_counter(snap, |key, counter| {
            if key.member.is_empty() {
                let _ = writeln!(
                    out,
                    "gslbd_steered_total{{zone=\"{}\",pool=\"{}\",region=\"{}\"}} {}",
                    esc(&key.zone),
                    esc(&key.pool),
                    esc(&key.region),
                    get(counter)
                );
            }
        });

        family(
            &mut out,
            "gslbd_reloads_total",
            "counter",
            "Config reloads, by result (ok: swapped in; partial: swapped in, some zones had errors and kept \
             their previous version or are not served; error: the old config kept serving).",
        );
        let _ = writeln!(out, "gslbd_reloads_total{{result=\"ok\"}} {}", get(&self.reloads_ok));
        let _ = writeln!(out, "gslbd_reloads_total{{result=\"partial\"}} {}", get(&self.reloads_partial));
        let _ = writeln!(out, "gslbd_reloads_total{{result=\"error\"}} {}", get(&self.reloads_failed));
        for (name, help, v) in [
            (
                "gslbd_last_reload_timestamp_seconds",
                "Unix time of the last reload attempt (0: none since start).",
                get(&self.last_reload_unix),
            ),
            (
                "gslbd_last_successful_reload_timestamp_seconds",
                "Unix time the serving config was loaded.",
                get(&self.last_success_unix),
            ),
            (
                "gslbd_last_reload_success",
                "1 if the last reload attempt succeeded (or none was tried), else 0.",
                get(&self.last_reload_ok),
            ),
            ("gslbd_last_reload_errors", "Errors found by the last reload attempt.", get(&self.last_reload_errors)),
            (
                "gslbd_config_generation",
                "The serving config's generation: 1 at start, +1 per successful reload.",
                live.version.generation,
            ),
        ] {
            family(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {v}");
        }

        render_zones(&mut out, snap);
        super::dnssec_view::render_dnssec(&mut out, snap);
        render_load(&mut out, serving);
        render_health(&mut out, serving);

        family(&mut out, "gslbd_build_info", "gauge", "Always 1; the labels say which build is running.");
        let _ = writeln!(
            out,
            "gslbd_build_info{{version=\"{}\",commit=\"{}\"}} 1",
            esc(crate::util::build::VERSION),
            esc(crate::util::build::COMMIT)
        );
        family(&mut out, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch.");
        let _ = writeln!(out, "process_start_time_seconds {}", self.started_unix);

        // Hook: probe results, latencies and transitions come from the health module's source.
        for s in self.sources.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            s.render(&mut out);
        }
        out
    }
}

/// Per configured zone: whether it is answered, and how many errors its last load found.
fn render_zones(out: &mut String, snap: &crate::config::Snapshot) {
    let problems = snap.zones.problems();
    let errors_of =
        |origin: &hickory_proto::rr::Name| problems.iter().find(|p| p.origin == *origin).map_or(0, |p| p.errors.len());
    let mut rows: Vec<(String, u8, usize)> =
        snap.zones.zones().iter().map(|z| (z.origin.to_string(), 1, errors_of(&z.origin))).collect();
    rows.extend(problems.iter().filter(|p| !p.serving_previous).map(|p| (p.origin.to_string(), 0, p.errors.len())));
    family(
        out,
        "gslbd_zone_serving",
        "gauge",
        "1 if the zone is answered (loaded, or its previous version kept by a failed reload); 0 if it never \
         loaded and is answered with SERVFAIL.",
    );
    for (zone, serving, _) in &rows {
        let _ = writeln!(out, "gslbd_zone_serving{{zone=\"{}\"}} {serving}", esc(zone));
    }
    family(
        out,
        "gslbd_zone_errors",
        "gauge",
        "Errors the zone's last (re)load found in its zone and pool files (0: loaded clean); /status lists them.",
    );
    for (zone, _, errors) in &rows {
        let _ = writeln!(out, "gslbd_zone_errors{{zone=\"{}\"}} {errors}", esc(zone));
    }
}

/// The load feedback gauges of every fed region (read from the snapshot's load view).
fn render_load(out: &mut String, serving: &Serving) {
    let snap = &serving.config;
    let mut rows = Vec::new();
    for (zi, zone) in snap.zones.zones().iter().enumerate() {
        for (slot, pool, region, feed) in zone.pools.fed() {
            let labels = format!(
                "zone=\"{}\",pool=\"{}\",region=\"{}\",feed=\"{}\"",
                esc(&zone.origin.to_string()),
                esc(zone.pools.pool(pool).map(|p| p.name.as_str()).unwrap_or("")),
                esc(&region.name),
                esc(&feed.feed.name)
            );
            let st = serving.live.loads.get(zi).and_then(|l| l.load_status(slot));
            rows.push((labels, feed.shed.map(|c| c.capacity.get()), st));
        }
    }
    family(
        out,
        "gslbd_region_load",
        "gauge",
        "The region's load as its feed last reported it (sessions, connections or the metric's value).",
    );
    for (l, _, st) in &rows {
        if let Some(st) = st {
            let _ = writeln!(out, "gslbd_region_load{{{l}}} {}", st.load);
        }
    }
    family(out, "gslbd_region_capacity", "gauge", "The region's configured capacity, in its feed's units.");
    for (l, cap, _) in &rows {
        if let Some(c) = cap {
            let _ = writeln!(out, "gslbd_region_capacity{{{l}}} {c}");
        }
    }
    family(out, "gslbd_region_shed_ratio", "gauge", "The share of the region's clients shed to other regions (0..1).");
    for (l, _, st) in &rows {
        let _ = writeln!(out, "gslbd_region_shed_ratio{{{l}}} {}", st.as_ref().map_or(0.0, |s| s.shed));
    }
    family(out, "gslbd_feedback_stale", "gauge", "1 if the region's feed is stale or was never read, 0 if fresh.");
    for (l, _, st) in &rows {
        let stale = st.as_ref().is_none_or(|s| s.state != crate::pool::FeedState::Fresh);
        let _ = writeln!(out, "gslbd_feedback_stale{{{l}}} {}", u8::from(stale));
    }
}

/// Effective health (after admin overrides, what steering uses) of every member, and whether
/// each region is usable (the rule of the steering decision, load feeds included).
fn render_health(out: &mut String, serving: &Serving) {
    let snap = &serving.config;
    family(
        out,
        "gslbd_member_up",
        "gauge",
        "1 if steering counts the member up (probes, the pool file and admin overrides together), else 0.",
    );
    let mut regions = Vec::new();
    for (zi, zone) in snap.zones.zones().iter().enumerate() {
        let health = serving.live.health(zi, &zone.pools);
        let origin = esc(&zone.origin.to_string());
        for (id, m) in zone.pools.members() {
            let pool = zone.pools.pool(m.pool);
            let region = pool.and_then(|p| p.region(m.region)).map(|r| r.name.as_str()).unwrap_or("");
            let _ = writeln!(
                out,
                "gslbd_member_up{{zone=\"{origin}\",pool=\"{}\",region=\"{}\",member=\"{}\"}} {}",
                esc(pool.map(|p| p.name.as_str()).unwrap_or("")),
                esc(region),
                esc(&member_name(&m.target)),
                u8::from(crate::pool::HealthView::is_up(&health, id))
            );
        }
        for (_, pool) in zone.pools.pools() {
            for r in &pool.regions {
                let usable = crate::steer::region_usable(r, &health);
                regions.push(format!(
                    "gslbd_region_usable{{zone=\"{origin}\",pool=\"{}\",region=\"{}\"}} {}",
                    esc(&pool.name),
                    esc(&r.name),
                    u8::from(usable)
                ));
            }
        }
    }
    family(
        out,
        "gslbd_region_usable",
        "gauge",
        "1 if the region can take clients (enough members up, backends reported up), else 0.",
    );
    for line in regions {
        let _ = writeln!(out, "{line}");
    }
}

pub(super) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value (backslash, double quote, newline).
pub(super) fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The health probes' counters and last results as Prometheus families, read from the health
/// service when `/metrics` is scraped (never on the query path).
pub struct ProbeMetrics(pub crate::services::HealthService);

impl MetricsSource for ProbeMetrics {
    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let status = self.0.status();
        let label = |k: &crate::health::HealthKey| {
            format!("target=\"{}\",probe=\"{}\"", esc(&k.target.to_string()), esc(&k.probe))
        };
        family(out, "gslbd_probes_total", "counter", "Health probes run, per (target, probe).");
        for (k, s) in &status {
            let _ = writeln!(out, "gslbd_probes_total{{{}}} {}", label(k), s.counts.probes);
        }
        family(out, "gslbd_probe_failures_total", "counter", "Health probes that failed.");
        for (k, s) in &status {
            let _ = writeln!(out, "gslbd_probe_failures_total{{{}}} {}", label(k), s.counts.failures);
        }
        family(
            out,
            "gslbd_probe_transitions_total",
            "counter",
            "Health state changes (rise/fall flips, the first result included).",
        );
        for (k, s) in &status {
            let _ = writeln!(out, "gslbd_probe_transitions_total{{{}}} {}", label(k), s.counts.transitions);
        }
        family(out, "gslbd_probe_up", "gauge", "1 up, 0 down, -1 not known yet (probe state, before overrides).");
        for (k, s) in &status {
            let v = match s.state {
                crate::health::State::Up => 1,
                crate::health::State::Down => 0,
                crate::health::State::Unknown => -1,
            };
            let _ = writeln!(out, "gslbd_probe_up{{{}}} {v}", label(k));
        }
        family(out, "gslbd_probe_last_duration_seconds", "gauge", "How long the last probe took.");
        for (k, s) in &status {
            if let Some(r) = &s.last {
                let _ = writeln!(out, "gslbd_probe_last_duration_seconds{{{}}} {:.6}", label(k), r.took.as_secs_f64());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        assert_eq!(RCODES[rcode_index(3)].1, "NXDOMAIN");
        assert_eq!(RCODES[rcode_index(16)].1, "BADVERS");
        assert_eq!(RCODES[rcode_index(9)].1, "other");
        assert_eq!(QTYPES[qtype_index(Some(28))].1, "AAAA");
        assert_eq!(QTYPES[qtype_index(Some(999))].1, "other");
        assert_eq!(QTYPES[qtype_index(None)].1, "none");
        assert_eq!(esc("a\"b\\c"), "a\\\"b\\\\c");
        for (i, r) in DropReason::ALL.into_iter().enumerate() {
            assert_eq!(drop_index(r), i, "{r:?}");
        }
    }
}
