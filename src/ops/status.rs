//! What `GET /status` and the status page show, gathered once per request from the serving
//! state, the override table, the last reload and the health service.
//!
//! ```text
//! Shared<Serving> ─┬─ zones (loaded, stale or failed with file:line errors) → pools → regions → members
//!                  │  (effective health, probe state, answers, load)
//! Reloader ────────┼─ version (generation, digest), last reload (errors, restart needed)
//! OverrideTable ───┼─ overrides (who, when, why; orphaned ones marked), runtime changes, audit tail
//! Fleet ───────────┼─ etcd, nodes, every node's vote per (target, probe)
//! HealthService ───┴─ recent transitions
//! ```
use serde::Serialize;
use tokio::time::Instant;

use super::http::AdminState;
use super::reload::{ErrorReport, ReloadReport};
use crate::pool::{Content, FeedState, HealthView, LoadStatus, MemberId, MemberPolicy, RegionFeed, RegionPolicy};
use crate::services::Transition;
use crate::serving::{ConfigVersion, LiveHealth, Override, OverrideEntry, Serving};
use crate::zone::{Zone, ZoneProblem};

#[derive(Serialize)]
pub struct StatusJson {
    /// gslbd's version and the git commit it was built from.
    pub build: BuildJson,
    pub version: ConfigVersion,
    pub last_reload: ReloadReport,
    /// Settings changed in the files that only a restart applies (from the last reload).
    pub restart_needed: Vec<String>,
    /// Where the up/down state comes from, for this server.
    pub health_source: String,
    pub zones: Vec<ZoneJson>,
    pub overrides: Vec<OverrideEntry>,
    /// Runtime changes in force (`applied` here or not), and the audit tail.
    pub changes: serde_json::Value,
    /// The fleet (`[cluster]`): etcd, nodes, and each (target, probe) with every node's vote.
    pub fleet: Option<serde_json::Value>,
    /// The most recent probe state changes, newest first.
    pub transitions: Vec<Transition>,
}

#[derive(Serialize)]
pub struct BuildJson {
    pub version: &'static str,
    pub commit: &'static str,
}

#[derive(Serialize)]
pub struct ZoneJson {
    pub origin: String,
    /// "loaded"; "stale": the last reload found errors and the previous version still serves;
    /// "failed": never loaded, answered with SERVFAIL.
    pub state: &'static str,
    /// The errors of the last (re)load of this zone, file:line each (empty when loaded).
    pub errors: Vec<ErrorReport>,
    /// What the loader warned about in the serving version (mixed TTLs, no TTL given).
    pub warnings: Vec<ErrorReport>,
    /// "none", "presigned" or "online" (`null` for a zone that never loaded).
    pub signing: Option<&'static str>,
    pub records: usize,
    pub pooled_names: Vec<NameJson>,
    pub pools: Vec<PoolJson>,
    /// Keys, signatures and caches of a zone signed online (`null` otherwise).
    pub dnssec: Option<super::dnssec_view::DnssecJson>,
}

#[derive(Serialize)]
pub struct NameJson {
    pub name: String,
    pub pool: String,
}

#[derive(Serialize)]
pub struct PoolJson {
    pub name: String,
    pub ttl: u32,
    pub degraded_ttl: Option<u32>,
    pub region_policy: &'static str,
    pub member_policy: &'static str,
    pub regions: Vec<RegionJson>,
}

#[derive(Serialize)]
pub struct RegionJson {
    pub name: String,
    /// Whether steering can send clients here now (the decision's own rule).
    pub usable: bool,
    pub members: Vec<MemberJson>,
    /// The region's load feedback; `null` without `feedback`.
    pub feedback: Option<FeedbackJson>,
}

/// A fed region's load, capacity and shedding, as the poller last saw them.
#[derive(Serialize)]
pub struct FeedbackJson {
    /// The `[feedback.NAME]`.
    pub source: String,
    /// "fresh" | "stale" | "missing" (never read).
    pub state: &'static str,
    pub load: f64,
    /// `null` when the region has no capacity (the feed then only reports backends).
    pub capacity: Option<f64>,
    /// load / capacity.
    pub utilization: Option<f64>,
    pub high_watermark: Option<f64>,
    pub low_watermark: Option<f64>,
    /// `null` when the feed does not report backends.
    pub backends_up: Option<u32>,
    /// The shed fraction s (0..=1).
    pub shed: f64,
    pub reason: String,
    /// Seconds since the last good sample (`null`: never read).
    pub age_s: Option<f64>,
    /// The last poll's error, if it failed.
    pub error: Option<String>,
}

#[derive(Serialize)]
pub struct MemberJson {
    /// The address, or the CNAME target of a hand-off region.
    pub member: String,
    pub weight: Option<u32>,
    /// `down = true` in the pool file.
    pub down_in_file: bool,
    #[serde(rename = "override")]
    pub value: Override,
    /// What steering uses now: the override if any, else the probes and the pool file.
    pub up: bool,
    /// One word for people: up, down, drained, forced-up, forced-down, down-in-file.
    pub state: &'static str,
    /// The probe's own state (before overrides): up, down, unknown; `null` without a probe.
    pub probe_state: Option<&'static str>,
    /// The probe's name, if the member is probed.
    pub probe: Option<String>,
    /// Seconds since the probe state last changed (`null`: never, or not probed).
    pub changed_s: Option<f64>,
    /// The last probe result ("connected", "HTTP 503"), if any.
    pub last_result: Option<String>,
    /// The probe state (state, last result, time since the last change), or why not probed.
    pub health: Option<String>,
    pub answers: u64,
}

fn feedback_json(f: &RegionFeed, st: Option<LoadStatus>) -> FeedbackJson {
    let cfg = f.shed.as_ref();
    let st = st.unwrap_or(LoadStatus {
        state: FeedState::Missing,
        load: 0.0,
        backends_up: None,
        shed: 0.0,
        reason: "not polled (this server runs no feedback pollers)".into(),
        age: None,
        error: None,
    });
    FeedbackJson {
        source: f.feed.name.clone(),
        state: st.state.as_str(),
        load: st.load,
        capacity: cfg.map(|c| c.capacity.get()),
        utilization: cfg.map(|c| st.load / c.capacity.get()),
        high_watermark: cfg.map(|c| c.high.get()),
        low_watermark: cfg.map(|c| c.low.get()),
        backends_up: st.backends_up,
        shed: st.shed,
        reason: st.reason,
        age_s: st.age.map(|a| a.as_secs_f64()),
        error: st.error,
    }
}

/// One member's row.
fn member_json(serving: &Serving, zi: usize, health: &LiveHealth<'_>, id: MemberId, member: String) -> MemberJson {
    let (snap, live) = (&serving.config, &serving.live);
    let pools = &snap.zones.zones()[zi].pools;
    let down_in_file = pools.member(id).is_some_and(|i| i.down_in_file);
    let value = live.override_of(zi, id);
    let up = health.is_up(id);
    let probe = live.probes.get(zi).and_then(|p| p.entry(id)).map(|(k, e)| (k.probe.clone(), e.status(Instant::now())));
    let state = match value {
        Override::Drain => "drained",
        Override::ForceUp => "forced-up",
        Override::ForceDown => "forced-down",
        Override::None if down_in_file => "down-in-file",
        Override::None if up => "up",
        Override::None => "down",
    };
    MemberJson {
        member,
        weight: None,
        down_in_file,
        value,
        up,
        state,
        probe_state: probe.as_ref().map(|(_, s)| s.state.as_str()),
        changed_s: probe.as_ref().and_then(|(_, s)| s.since_change).map(|d| d.as_secs_f64()),
        last_result: probe.as_ref().and_then(|(_, s)| s.last.as_ref()).map(|r| r.detail.clone()),
        probe: probe.map(|(n, _)| n),
        health: health.describe(id),
        answers: live.answers_of(zi, id),
    }
}

/// Everything `/status` shows, read now.
pub fn collect(st: &AdminState) -> StatusJson {
    let serving = st.shared.load();
    let (snap, live) = (&serving.config, &serving.live);
    let mut zones = Vec::new();
    for (zi, zone) in snap.zones.zones().iter().enumerate() {
        let pools = &zone.pools;
        let health = live.health(zi, pools);
        let pool_name = |id| pools.pool(id).map(|p| p.name.clone()).unwrap_or_default();
        let pooled_names = pools.names().map(|(n, p)| NameJson { name: n.to_string(), pool: pool_name(p) }).collect();
        let mut pj = Vec::new();
        for (_, pool) in pools.pools() {
            let mut regions = Vec::new();
            for region in &pool.regions {
                let mut members = Vec::new();
                match &region.content {
                    Content::Members(ms) => {
                        for m in ms {
                            let mut row = member_json(&serving, zi, &health, m.id, m.address.to_string());
                            row.weight = Some(m.weight.get());
                            members.push(row);
                        }
                    }
                    Content::Cname { id, target, delegation } => {
                        members.push(member_json(&serving, zi, &health, *id, target.to_string()));
                        for (g, a) in delegation.iter().flat_map(|d| d.glue.iter()) {
                            members.push(member_json(&serving, zi, &health, *g, a.to_string()));
                        }
                    }
                }
                let feedback = region.feedback.as_ref().map(|f| feedback_json(f, health.load_status(f.slot)));
                let usable = crate::steer::region_usable(region, &health);
                regions.push(RegionJson { name: region.name.clone(), usable, members, feedback });
            }
            pj.push(PoolJson {
                name: pool.name.clone(),
                ttl: pool.ttl.get(),
                degraded_ttl: pool.degraded_ttl.map(|t| t.get()),
                region_policy: match pool.region_policy {
                    RegionPolicy::Nearest { .. } => "nearest",
                    RegionPolicy::Latency { .. } => "latency",
                    RegionPolicy::Failover { .. } => "failover",
                    RegionPolicy::Weighted => "weighted",
                    RegionPolicy::Sticky => "sticky",
                    RegionPolicy::All => "all",
                },
                member_policy: match pool.member_policy {
                    MemberPolicy::Weighted => "weighted",
                    MemberPolicy::Sticky => "sticky",
                    MemberPolicy::All => "all",
                },
                regions,
            });
        }
        let problem = snap.zones.problems().iter().find(|p| p.origin == zone.origin);
        zones.push(ZoneJson { pooled_names, pools: pj, ..zone_json(zone, problem) });
    }
    zones.extend(snap.zones.problems().iter().filter(|p| !p.serving_previous).map(failed_zone_json));
    let last_reload = st.reloader.last();
    let health = st.reloader.services().health.as_ref();
    StatusJson {
        build: BuildJson { version: crate::util::build::VERSION, commit: crate::util::build::COMMIT },
        version: live.version.clone(),
        restart_needed: last_reload.restart_needed.clone(),
        last_reload,
        health_source: health_source(&serving, health.map_or(0, |h| h.tasks())),
        zones,
        overrides: st.overrides.list(),
        changes: super::changes::status_json(&st.changes),
        fleet: st.changes.fleet.as_ref().map(|f| f.status_json()),
        transitions: health.map(|h| h.recent_transitions()).unwrap_or_default(),
    }
}

/// A served zone's own state: "stale" when its last (re)load failed and this is the previous
/// version (`problem`), else "loaded"; its pools are filled in by the caller.
fn zone_json(zone: &Zone, problem: Option<&ZoneProblem>) -> ZoneJson {
    ZoneJson {
        origin: zone.origin.to_string(),
        state: if problem.is_some() { "stale" } else { "loaded" },
        errors: problem.map(|p| p.errors.iter().map(ErrorReport::from).collect()).unwrap_or_default(),
        warnings: zone.warnings.iter().map(ErrorReport::from).collect(),
        signing: Some(zone.signing.as_str()),
        records: zone.record_count(),
        pooled_names: Vec::new(),
        pools: Vec::new(),
        dnssec: super::dnssec_view::dnssec_json(zone),
    }
}

/// A configured zone that never loaded: answered with SERVFAIL; its errors, file:line each.
fn failed_zone_json(p: &ZoneProblem) -> ZoneJson {
    ZoneJson {
        origin: p.origin.to_string(),
        state: "failed",
        errors: p.errors.iter().map(ErrorReport::from).collect(),
        warnings: Vec::new(),
        signing: None,
        records: 0,
        pooled_names: Vec::new(),
        pools: Vec::new(),
        dnssec: None,
    }
}

/// Where up/down comes from on this server, in words, with the counts that say so.
fn health_source(serving: &Serving, probe_tasks: usize) -> String {
    let zones = serving.config.zones.zones();
    let members: usize = zones.iter().map(|z| z.pools.member_count()).sum();
    let probed: usize = serving.live.probes.iter().map(|p| p.probed()).sum();
    let in_file: usize = zones.iter().flat_map(|z| z.pools.members()).filter(|(_, m)| m.down_in_file).count();
    let overrides = serving.live.overrides_in_force();
    let mut s = if probed > 0 {
        format!(
            "probes: {probed} of {members} members probed by this node ({probe_tasks} probe tasks), the rest from the pool file"
        )
    } else {
        format!("pool file: no member is probed; {members} members up unless down = true")
    };
    if in_file > 0 {
        s.push_str(&format!("; {in_file} down = true in the pool file"));
    }
    s.push_str(&format!("; {overrides} member(s) under an admin override"));
    s
}
