//! The admin HTTP API (axum, HTTP/1, JSON). Read-only calls are open to whoever can reach
//! the listener (loopback by default); calls that change anything need
//! `Authorization: Bearer <token>` with the token of `admin.token_file`.
//!
//! | call | what |
//! |---|---|
//! | `GET /status` | zones, pools, regions, members, health and overrides; DNSSEC keys, expiry horizon, signatures and caches; config version and digest; last reload |
//! | `GET /explain?name=&type=&client=` | the decision `gslbd explain` prints, for the serving config |
//! | `GET /metrics` | Prometheus text |
//! | `POST /reload` | reload now; 200 with the report, 422 with every error (the old config keeps serving) |
//! | `POST /members/{zone}/{pool}/{region}/{member}/{action}` | action: drain, undrain, force-up, force-down, clear |
//! | `POST /regions/{zone}/{pool}/{region}/{action}` | the same for every member of a region |
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::metrics::Metrics;
use super::reload::{ErrorReport, ReloadReport, Reloader, Trigger};
use crate::config::Snapshot;
use crate::pool::{Content, FeedState, HealthView, LoadStatus, MemberPolicy, RegionFeed, RegionPolicy};
use crate::serving::{ConfigVersion, Override, OverrideEntry, OverrideTarget, Overrides, Serving, Shared};
use crate::util::rng::{SplitMix64, entropy_seed};

/// The largest request body accepted (no call needs one; this bounds what a client can send).
pub const BODY_LIMIT: usize = 64 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct AdminState {
    pub shared: Shared<Serving>,
    pub reloader: Arc<Reloader>,
    pub overrides: Arc<dyn Overrides>,
    pub metrics: Arc<Metrics>,
}

/// The API's routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/explain", get(explain))
        .route("/metrics", get(metrics))
        .route("/reload", post(reload))
        .route("/members/{zone}/{pool}/{region}/{member}/{action}", post(member_action))
        .route("/regions/{zone}/{pool}/{region}/{action}", post(region_action))
        .fallback(|| async {
            ApiError(
                StatusCode::NOT_FOUND,
                "no such endpoint: see GET /status, /explain, /metrics; POST /reload, /members/..., /regions/..."
                    .into(),
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves (requests in progress finish).
pub async fn serve_admin(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    if let Err(e) = axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await {
        tracing::error!(error = %e, "admin listener stopped");
    }
}

/// An error reply: `{"error": "..."}` with a status.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// Checks the bearer token of a mutating call against the serving config's token.
fn authorize(snap: &Snapshot, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &snap.admin_token else {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "changes through the API are disabled: set admin.token_file in the config".into(),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        None => Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "this call changes the server: send Authorization: Bearer <token>".into(),
        )),
        Some(g) if constant_time_eq(g.as_bytes(), token.0.as_bytes()) => Ok(()),
        Some(_) => {
            Err(ApiError(StatusCode::UNAUTHORIZED, "the bearer token is not the one in admin.token_file".into()))
        }
    }
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ───────────────────────────── status ─────────────────────────────

#[derive(Serialize)]
struct StatusJson {
    version: ConfigVersion,
    last_reload: ReloadReport,
    /// Where the up/down state comes from.
    health_source: &'static str,
    zones: Vec<ZoneJson>,
    overrides: Vec<OverrideEntry>,
}

#[derive(Serialize)]
struct ZoneJson {
    origin: String,
    /// "loaded"; "stale": the last reload found errors and the previous version still serves;
    /// "failed": never loaded, answered with SERVFAIL.
    state: &'static str,
    /// The errors of the last (re)load of this zone, file:line each (empty when loaded).
    errors: Vec<ErrorReport>,
    /// What the loader warned about in the serving version (mixed TTLs, no TTL given).
    warnings: Vec<ErrorReport>,
    /// "none", "presigned" or "online" (`null` for a zone that never loaded).
    signing: Option<&'static str>,
    records: usize,
    pooled_names: Vec<NameJson>,
    pools: Vec<PoolJson>,
    /// Keys, signatures and caches of a zone signed online (`null` otherwise).
    dnssec: Option<super::dnssec_view::DnssecJson>,
}

#[derive(Serialize)]
struct NameJson {
    name: String,
    pool: String,
}

#[derive(Serialize)]
struct PoolJson {
    name: String,
    ttl: u32,
    region_policy: &'static str,
    member_policy: &'static str,
    regions: Vec<RegionJson>,
}

#[derive(Serialize)]
struct RegionJson {
    name: String,
    members: Vec<MemberJson>,
    /// The region's load feedback; `null` without `feedback`.
    feedback: Option<FeedbackJson>,
}

/// A fed region's load, capacity and shedding, as the poller last saw them.
#[derive(Serialize)]
struct FeedbackJson {
    /// The `[feedback.NAME]`.
    source: String,
    /// "fresh" | "stale" | "missing" (never read).
    state: &'static str,
    load: f64,
    /// `null` when the region has no capacity (the feed then only reports backends).
    capacity: Option<f64>,
    /// load / capacity.
    utilization: Option<f64>,
    high_watermark: Option<f64>,
    low_watermark: Option<f64>,
    /// `null` when the feed does not report backends.
    backends_up: Option<u32>,
    /// The shed fraction s (0..=1).
    shed: f64,
    reason: String,
    /// Seconds since the last good sample (`null`: never read).
    age_s: Option<f64>,
    /// The last poll's error, if it failed.
    error: Option<String>,
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

#[derive(Serialize)]
struct MemberJson {
    /// The address, or the CNAME target of a hand-off region.
    member: String,
    weight: Option<u32>,
    /// `down = true` in the pool file.
    down_in_file: bool,
    #[serde(rename = "override")]
    value: Override,
    /// What steering uses now: the override if any, else the pool file.
    up: bool,
    /// The probe state (state, last result, time since the last change), or why not probed.
    health: Option<String>,
    answers: u64,
}

async fn status(State(st): State<AdminState>) -> Json<serde_json::Value> {
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
                let mut add = |id, member: String, weight| {
                    let info = pools.member(id);
                    members.push(MemberJson {
                        member,
                        weight,
                        down_in_file: info.is_some_and(|i| i.down_in_file),
                        value: live.override_of(zi, id),
                        up: health.is_up(id),
                        health: health.describe(id),
                        answers: live.answers_of(zi, id),
                    });
                };
                match &region.content {
                    Content::Members(ms) => {
                        ms.iter().for_each(|m| add(m.id, m.address.to_string(), Some(m.weight.get())))
                    }
                    Content::Cname { id, target, delegation } => {
                        add(*id, target.to_string(), None);
                        for (g, a) in delegation.iter().flat_map(|d| d.glue.iter()) {
                            add(*g, a.to_string(), None);
                        }
                    }
                }
                let feedback = region.feedback.as_ref().map(|f| feedback_json(f, health.load_status(f.slot)));
                regions.push(RegionJson { name: region.name.clone(), members, feedback });
            }
            pj.push(PoolJson {
                name: pool.name.clone(),
                ttl: pool.ttl.get(),
                region_policy: match pool.region_policy {
                    RegionPolicy::Nearest { .. } => "nearest",
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
        zones.push(ZoneJson {
            origin: zone.origin.to_string(),
            state: if problem.is_some() { "stale" } else { "loaded" },
            errors: problem.map(|p| p.errors.iter().map(ErrorReport::from).collect()).unwrap_or_default(),
            warnings: zone.warnings.iter().map(ErrorReport::from).collect(),
            signing: Some(zone.signing.as_str()),
            records: zone.record_count(),
            pooled_names,
            pools: pj,
            dnssec: super::dnssec_view::dnssec_json(zone),
        });
    }
    for p in snap.zones.problems().iter().filter(|p| !p.serving_previous) {
        zones.push(ZoneJson {
            origin: p.origin.to_string(),
            state: "failed",
            errors: p.errors.iter().map(ErrorReport::from).collect(),
            warnings: Vec::new(),
            signing: None,
            records: 0,
            pooled_names: Vec::new(),
            pools: Vec::new(),
            dnssec: None,
        });
    }
    let body = StatusJson {
        version: live.version.clone(),
        last_reload: st.reloader.last(),
        health_source: "pool file (down = true) under admin overrides",
        zones,
        overrides: st.overrides.list(),
    };
    Json(serde_json::to_value(body).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() })))
}

// ───────────────────────────── explain, metrics, reload ─────────────────────────────

#[derive(Deserialize)]
struct ExplainParams {
    name: Option<String>,
    #[serde(rename = "type")]
    qtype: Option<String>,
    client: Option<String>,
}

async fn explain(
    State(st): State<AdminState>,
    Query(p): Query<ExplainParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (Some(name), Some(qtype), Some(client)) = (p.name, p.qtype, p.client) else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "explain needs name, type and client, e.g. ?name=www.example.com&type=A&client=81.2.69.0/24".into(),
        ));
    };
    let (qname, rtype, net) =
        crate::dns::explain::parse_args(&name, &qtype, &client).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let serving = st.shared.load();
    let mut rng = SplitMix64::new(entropy_seed());
    let text = crate::dns::explain::explain(&**serving, &qname, rtype, net, &mut rng);
    Ok(Json(serde_json::json!({
        "name": qname.to_string(),
        "type": rtype.to_string(),
        "client": net.to_string(),
        "generation": serving.live.version.generation,
        "explain": text,
    })))
}

async fn metrics(State(st): State<AdminState>) -> Response {
    let serving = st.shared.load();
    let text = st.metrics.render(&serving);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

async fn reload(State(st): State<AdminState>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorize(&st.shared.load().config, &headers)?;
    let report = st.reloader.reload(Trigger::Api).await;
    let code = if report.ok { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((code, Json(report)).into_response())
}

// ───────────────────────────── drain / force ─────────────────────────────

async fn member_action(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path((zone, pool, region, member, action)): Path<(String, String, String, String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    set(&st, &headers, &zone, &pool, &region, Some(&member), &action)
}

async fn region_action(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path((zone, pool, region, action)): Path<(String, String, String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    set(&st, &headers, &zone, &pool, &region, None, &action)
}

fn set(
    st: &AdminState,
    headers: &HeaderMap,
    zone: &str,
    pool: &str,
    region: &str,
    member: Option<&str>,
    action: &str,
) -> Result<Json<serde_json::Value>, ApiError> {
    let serving = st.shared.load();
    let snap = &serving.config;
    authorize(snap, headers)?;
    let Some(value) = Override::from_action(action) else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("unknown action '{action}': use drain, undrain, force-up, force-down or clear"),
        ));
    };
    let target = resolve(snap, zone, pool, region, member)?;
    st.overrides.set_override(target.clone(), value);
    tracing::info!(zone = %target.zone, pool = %target.pool, region = %target.region, member = ?target.member, ?value, "admin override");
    Ok(Json(serde_json::json!({ "target": target, "override": value })))
}

/// Checks the names against the serving snapshot; a 404 names the first that is unknown.
pub fn resolve(
    snap: &Snapshot,
    zone: &str,
    pool: &str,
    region: &str,
    member: Option<&str>,
) -> Result<OverrideTarget, ApiError> {
    let not_found = |m: String| ApiError(StatusCode::NOT_FOUND, m);
    let wanted = format!("{}.", zone.trim_end_matches('.')).to_ascii_lowercase();
    let Some(z) = snap.zones.zones().iter().find(|z| z.origin.to_string().to_ascii_lowercase() == wanted) else {
        return Err(not_found(format!("zone '{zone}' is not served")));
    };
    let Some(p) = z.pools.pool_id(pool).and_then(|id| z.pools.pool(id)) else {
        return Err(not_found(format!("pool '{pool}' not found in zone {wanted}")));
    };
    let Some(r) = p.region_id(region).and_then(|id| p.region(id)) else {
        return Err(not_found(format!("region '{region}' not found in pool '{pool}' of zone {wanted}")));
    };
    let member = match member {
        None => None,
        Some(m) => {
            let found = match &r.content {
                Content::Members(ms) => m
                    .parse::<std::net::IpAddr>()
                    .ok()
                    .and_then(|a| ms.iter().find(|x| x.address == a))
                    .map(|x| x.address.to_string()),
                Content::Cname { target, .. } => {
                    let want = format!("{}.", m.trim_end_matches('.')).to_ascii_lowercase();
                    (target.to_string().to_ascii_lowercase() == want).then(|| target.to_string())
                }
            };
            match found {
                Some(f) => Some(f),
                None => {
                    return Err(not_found(format!(
                        "member '{m}' not found in region '{region}' of pool '{pool}' in zone {wanted}"
                    )));
                }
            }
        }
    };
    Ok(OverrideTarget { zone: wanted, pool: pool.to_string(), region: region.to_string(), member })
}
