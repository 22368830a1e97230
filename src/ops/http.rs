//! The admin HTTP API (axum, HTTP/1, JSON). Read-only calls are open to whoever can reach
//! the listener (loopback by default); calls that change anything need
//! `Authorization: Bearer <token>` with the token of `admin.token_file`.
//!
//! | call | what |
//! |---|---|
//! | `GET /` | the status page for people (HTML, refreshes itself; see `ops::page`) |
//! | `GET /status` | zones, pools, regions, members, health and overrides; DNSSEC keys, expiry horizon, signatures and caches; config version and digest; last reload |
//! | `GET /explain?name=&type=&client=` | the decision `gslbd explain` prints, for the serving config |
//! | `GET /metrics` | Prometheus text |
//! | `POST /reload` | reload now; 200 with the report, 422 with every error (the old config keeps serving) |
//! | `POST /rtt` | client-measured RTTs per /24 (/56) and region, for latency pools ([`crate::services::rum`]) |
//! | `POST /members/{zone}/{pool}/{region}/{member}/{action}` | action: drain, undrain, force-up, force-down, clear |
//! | `POST /regions/{zone}/{pool}/{region}/{action}` | the same for every member of a region |
//! | `POST /overrides/clear-orphaned` | remove the overrides whose member or region left the config |
//! | `GET/PUT/DELETE /changes/...` | runtime changes: weights, members, region weights, overrides ([`super::changes`]) |
//!
//! Drain/force calls take `?reason=` and `?by=` (kept with the override as its why and who);
//! they go to the same store as `/changes` (the state file, or a fleet's etcd). An unknown
//! action is a 400, a wrong method a 405, both with a JSON `{"error": ...}` body.
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::changes::Changes;
use super::metrics::Metrics;
use super::reload::{Reloader, Trigger};
use crate::config::Snapshot;
use crate::pool::Content;
use crate::services::rum::{EXPIRE_SECS, Measurement};
use crate::serving::{Override, OverrideNote, OverrideTarget, Overrides, Serving, Shared};
use crate::util::clock::unix_now;
use crate::util::rng::{SplitMix64, entropy_seed};

/// What the handlers share.
#[derive(Clone)]
pub struct AdminState {
    pub shared: Shared<Serving>,
    pub reloader: Arc<Reloader>,
    pub overrides: Arc<dyn Overrides>,
    pub metrics: Arc<Metrics>,
    /// Runtime changes and the fleet (`/changes`, `changes.rs`).
    pub changes: Changes,
}

/// The API's routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/", get(super::page::page))
        .route("/status", get(status))
        .route("/explain", get(explain))
        .route("/metrics", get(metrics))
        .route("/reload", post(reload))
        .route("/rtt", post(post_rtt))
        .route("/members/{zone}/{pool}/{region}/{member}/{action}", post(member_action))
        .route("/regions/{zone}/{pool}/{region}/{action}", post(region_action))
        .route("/overrides/clear-orphaned", post(clear_orphaned))
        .merge(super::changes::routes())
        .fallback(|| async {
            ApiError(
                StatusCode::NOT_FOUND,
                "no such endpoint: see GET /, /status, /explain, /metrics, /changes; POST /reload, /members/..., /regions/..., /overrides/clear-orphaned; PUT/DELETE /changes/..."
                    .into(),
            )
        })
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            ApiError(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "{method} is not allowed here: GET reads (/, /status, /explain, /metrics, /changes), POST changes, \
                     PUT/DELETE /changes/..."
                ),
            )
        })
        .layer(axum::middleware::from_fn(super::body_cap::cap_body))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves (requests in progress finish).
pub async fn serve_admin(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
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
pub(crate) fn authorize(snap: &Snapshot, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &snap.admin_token else {
        if let Some(missing) = &snap.admin_token_missing {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                format!("changes through the API are disabled: admin.token_file {} does not exist", missing.display()),
            ));
        }
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

async fn status(State(st): State<AdminState>) -> Json<serde_json::Value> {
    let body = super::status::collect(&st);
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

// ───────────────────────────── client RTTs ─────────────────────────────

/// `POST /rtt`: a JSON array of `{client, zone, pool, rtt_ms: {region: ms}}` measured by
/// clients (real-user measurements), for latency pools with `latency_client_samples = true`.
async fn post_rtt(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let serving = st.shared.load();
    authorize(&serving.config, &headers)?;
    let Some(rum) = serving.live.rum.as_ref() else {
        return Err(ApiError(StatusCode::NOT_FOUND, "this server keeps no client RTTs".into()));
    };
    let batch: Vec<Measurement> = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("expected a JSON array of {{\"client\", \"zone\", \"pool\", \"rtt_ms\": {{region: ms}}}}: {e}"),
        )
    })?;
    let now = unix_now();
    let kept = rum.record(&batch, now).map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    // Published at once (the server also republishes every second, dropping expired samples).
    rum.publish(&serving.config, serving.live.version.generation, now);
    Ok(Json(serde_json::json!({ "kept": kept, "entries": rum.len(), "expire_s": EXPIRE_SECS })))
}

// ───────────────────────────── drain / force ─────────────────────────────

/// `?reason=...&by=...` on a drain/force call.
#[derive(Deserialize, Default)]
pub struct NoteParams {
    reason: Option<String>,
    by: Option<String>,
}

impl NoteParams {
    /// The note kept with the override: the caller's name (`?by=`, else the `X-Gslbd-Who`
    /// header the `/changes` API also reads), else its address. Bounded, and control
    /// characters dropped, so the status page and the state file stay readable.
    fn note(self, peer: Option<SocketAddr>, headers: &HeaderMap) -> OverrideNote {
        let clean = |s: String| -> String { s.chars().filter(|c| !c.is_control()).take(200).collect() };
        let header = headers.get("x-gslbd-who").and_then(|v| v.to_str().ok()).map(str::to_string);
        let by = self.by.or(header).map(clean).filter(|b| !b.is_empty());
        OverrideNote {
            reason: self.reason.map(clean).filter(|r| !r.is_empty()),
            by: by.or_else(|| peer.map(|p| p.ip().to_string())).unwrap_or_default(),
        }
    }
}

async fn member_action(
    State(st): State<AdminState>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(note): Query<NoteParams>,
    Path((zone, pool, region, member, action)): Path<(String, String, String, String, String)>,
) -> Result<Response, ApiError> {
    let note = note.note(peer.map(|c| c.0.0), &headers);
    set(&st, &headers, &zone, &pool, &region, Some(&member), &action, note).await
}

async fn region_action(
    State(st): State<AdminState>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(note): Query<NoteParams>,
    Path((zone, pool, region, action)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    let note = note.note(peer.map(|c| c.0.0), &headers);
    set(&st, &headers, &zone, &pool, &region, None, &action, note).await
}

/// A change that took effect but could not be saved: 500, saying so.
pub(super) fn not_saved(body: serde_json::Value, error: String) -> Response {
    let mut body = body;
    body["applied"] = serde_json::Value::Bool(true);
    body["persisted"] = serde_json::Value::Bool(false);
    body["error"] = serde_json::Value::String(format!(
        "{error}: the change is in force on this server but will be lost when it stops"
    ));
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

#[allow(clippy::too_many_arguments)]
async fn set(
    st: &AdminState,
    headers: &HeaderMap,
    zone: &str,
    pool: &str,
    region: &str,
    member: Option<&str>,
    action: &str,
    note: OverrideNote,
) -> Result<Response, ApiError> {
    let serving = st.shared.load();
    let snap = &serving.config;
    authorize(snap, headers)?;
    let Some(value) = Override::from_action(action) else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("unknown action '{action}': use drain, undrain, force-up, force-down or clear"),
        ));
    };
    let target = match resolve(snap, zone, pool, region, member) {
        Ok(t) => t,
        // An override whose target left the config can still be cleared by its names.
        Err(e) if value == Override::None => match orphan(st, zone, pool, region, member) {
            Some(t) => t,
            None => return Err(e),
        },
        Err(e) => return Err(e),
    };
    let member_name = target.member.clone().unwrap_or_default();
    tracing::info!(
        zone = %target.zone, pool = %target.pool, region = %target.region, member = %member_name,
        action, by = %note.by, reason = note.reason.as_deref().unwrap_or(""),
        "admin override: {action} {}/{}/{}{}{} by {}",
        target.zone, target.pool, target.region, if member_name.is_empty() { "" } else { "/" }, member_name, note.by
    );
    let saved = super::changes::set_override(st, target.clone(), value, note).await?;
    let body = serde_json::json!({ "target": target, "override": value, "persisted": true });
    Ok(match saved {
        Ok(()) => Json(body).into_response(),
        Err(e) => not_saved(body, e),
    })
}

/// The override in the table with these names whose target is no longer served.
fn orphan(st: &AdminState, zone: &str, pool: &str, region: &str, member: Option<&str>) -> Option<OverrideTarget> {
    let zone = format!("{}.", zone.trim_end_matches('.')).to_ascii_lowercase();
    let member = member.map(|m| match m.parse::<std::net::IpAddr>() {
        Ok(a) => a.to_string(),
        Err(_) => format!("{}.", m.trim_end_matches('.')).to_ascii_lowercase(),
    });
    st.overrides
        .list()
        .into_iter()
        .find(|e| {
            e.orphaned
                && e.target.zone == zone
                && e.target.pool == pool
                && e.target.region == region
                && e.target.member.as_ref().map(|m| m.to_ascii_lowercase()) == member
        })
        .map(|e| e.target)
}

async fn clear_orphaned(
    State(st): State<AdminState>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(note): Query<NoteParams>,
) -> Result<Response, ApiError> {
    authorize(&st.shared.load().config, &headers)?;
    let note = note.note(peer.map(|c| c.0.0), &headers);
    let (removed, saved) = super::changes::clear_orphaned(&st, note).await?;
    tracing::info!(removed = removed.len(), "admin: orphaned overrides cleared");
    let body = serde_json::json!({ "removed": removed, "persisted": true });
    Ok(match saved {
        Ok(()) => Json(body).into_response(),
        Err(e) => not_saved(body, e),
    })
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
        let problem = snap.zones.problems().iter().find(|p| p.origin.to_string().to_ascii_lowercase() == wanted);
        return Err(not_found(match problem.and_then(|p| p.errors.first().map(|e| (p.errors.len(), e))) {
            Some((n, first)) => {
                format!("zone '{zone}' is not served: its files have {n} error(s) (all in /status), the first {first}")
            }
            None => format!("zone '{zone}' is not served"),
        }));
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
