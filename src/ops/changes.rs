//! The runtime write API: member weights, added or removed members, region weights, and drains
//! and forced states, made on any node. Each change is checked by the config compiler exactly as
//! the same edit in a pool file would be (422 naming the field), carries who, when and why, and
//! is stored with a revision that `If-Match` guards (412 when stale). In a fleet it goes to
//! etcd and every node applies it; on a single node it goes to the state file.
//!
//! | call | what |
//! |---|---|
//! | `GET /changes` | every change in force (with `applied` on this node), the revision, the audit tail |
//! | `GET/PUT/DELETE /changes/{zone}/{pool}/{region}/weight` | a region's weight |
//! | `GET/PUT/DELETE /changes/{zone}/{pool}/{region}/override` | drain / force-up / force-down a region |
//! | `GET/PUT/DELETE /changes/{zone}/{pool}/{region}/members/{member}/weight` | a member's weight |
//! | `GET/PUT/DELETE /changes/{zone}/{pool}/{region}/members/{member}/override` | drain / force a member |
//! | `GET/PUT/DELETE /changes/{zone}/{pool}/{region}/members/{member}` | add a member (`{"weight","probe"}`) or remove one (`"removed"`) |
//!
//! A PUT body is `{"value": …, "why": "…", "who": "…"}`; DELETE returns the setting to what the
//! files say. `If-Match: "R"` (the `ETag` of a GET or of the last write) makes the write happen
//! only if the change is still at revision R; `If-None-Match: *` only if there is none.
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::http::{AdminState, ApiError, authorize, not_saved, resolve};
use super::reload::Trigger;
use crate::cluster::{Fleet, WriteOutcome};
use crate::serving::{
    ChangeKey, ChangeMeta, ChangeRecord, ChangeValue, Override, OverrideEntry, OverrideNote, OverrideTable,
    OverrideTarget, Overrides, Setting, check_change,
};

/// Where runtime changes are kept: the fleet's etcd, or this node's state file.
#[derive(Clone)]
pub struct Changes {
    pub table: Arc<OverrideTable>,
    pub fleet: Option<Arc<Fleet>>,
}

/// The routes of this API (merged into the admin router).
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/changes", get(list))
        .route("/changes/{zone}/{pool}/{region}/{setting}", get(region_get).put(region_put).delete(region_delete))
        .route(
            "/changes/{zone}/{pool}/{region}/members/{member}",
            get(member_get).put(member_put).delete(member_delete),
        )
        .route(
            "/changes/{zone}/{pool}/{region}/members/{member}/{setting}",
            get(member_setting_get).put(member_setting_put).delete(member_setting_delete),
        )
}

type Region = Path<(String, String, String, String)>;
/// A reply; the error side is [`Fail`].
type Reply = Result<Response, Fail>;

/// An error reply: a status and a JSON body with `error` (and, for some, `field`, `errors`,
/// `revision`, `current`); a 412 carries the change's current `ETag`.
#[derive(Debug)]
pub struct Fail(StatusCode, Box<serde_json::Value>, Option<i64>);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        if self.0 == StatusCode::UNAUTHORIZED {
            let msg = self.1["error"].as_str().unwrap_or_default().to_string();
            return ApiError(self.0, msg).into_response();
        }
        let mut r = (self.0, axum::Json(*self.1)).into_response();
        if let Some(rev) = self.2 {
            r.headers_mut().insert(header::ETAG, etag(rev));
        }
        r
    }
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Fail {
        Fail(e.0, Box::new(serde_json::json!({ "error": e.1 })), None)
    }
}
type MemberSetting = Path<(String, String, String, String, String)>;

async fn region_get(State(st): State<AdminState>, Path((z, p, r, s)): Region) -> Reply {
    get_one(&st, key_of(&st, &z, &p, &r, None, Some(&s), false)?)
}
async fn region_put(State(st): State<AdminState>, Path((z, p, r, s)): Region, h: HeaderMap, body: Bytes) -> Reply {
    write(&st, &h, key_of(&st, &z, &p, &r, None, Some(&s), false)?, Some(body)).await
}
async fn region_delete(State(st): State<AdminState>, Path((z, p, r, s)): Region, h: HeaderMap) -> Reply {
    write(&st, &h, key_of(&st, &z, &p, &r, None, Some(&s), false)?, None).await
}
async fn member_get(State(st): State<AdminState>, Path((z, p, r, m)): Region) -> Reply {
    get_one(&st, key_of(&st, &z, &p, &r, Some(&m), None, true)?)
}
async fn member_put(State(st): State<AdminState>, Path((z, p, r, m)): Region, h: HeaderMap, body: Bytes) -> Reply {
    write(&st, &h, key_of(&st, &z, &p, &r, Some(&m), None, true)?, Some(body)).await
}
async fn member_delete(State(st): State<AdminState>, Path((z, p, r, m)): Region, h: HeaderMap) -> Reply {
    write(&st, &h, key_of(&st, &z, &p, &r, Some(&m), None, true)?, None).await
}
async fn member_setting_get(State(st): State<AdminState>, Path((z, p, r, m, s)): MemberSetting) -> Reply {
    get_one(&st, key_of(&st, &z, &p, &r, Some(&m), Some(&s), false)?)
}
async fn member_setting_put(
    State(st): State<AdminState>,
    Path((z, p, r, m, s)): MemberSetting,
    h: HeaderMap,
    body: Bytes,
) -> Reply {
    write(&st, &h, key_of(&st, &z, &p, &r, Some(&m), Some(&s), false)?, Some(body)).await
}
async fn member_setting_delete(
    State(st): State<AdminState>,
    Path((z, p, r, m, s)): MemberSetting,
    h: HeaderMap,
) -> Reply {
    write(&st, &h, key_of(&st, &z, &p, &r, Some(&m), Some(&s), false)?, None).await
}

/// The change a path names. Zone, pool and region must be served; the member too, except
/// for a member being added (`presence`), which only has to be an address.
fn key_of(
    st: &AdminState,
    zone: &str,
    pool: &str,
    region: &str,
    member: Option<&str>,
    setting: Option<&str>,
    presence: bool,
) -> Result<ChangeKey, Fail> {
    let setting = match setting {
        None => Setting::Member,
        Some("weight") => Setting::Weight,
        Some("override") => Setting::Override,
        Some(other) => {
            return Err(api(
                StatusCode::NOT_FOUND,
                format!("no setting '{other}': a region or member has 'weight' and 'override'"),
            ));
        }
    };
    let serving = st.shared.load();
    let target = if presence {
        let mut t = resolve(&serving.config, zone, pool, region, None).map_err(Fail::from)?;
        let m = member.unwrap_or_default();
        // An added member is an address; one that exists is named as the files name it.
        let name = match resolve(&serving.config, zone, pool, region, Some(m)) {
            Ok(found) => found.member,
            Err(_) => match m.parse::<std::net::IpAddr>() {
                Ok(a) => Some(a.to_string()),
                Err(_) => return Err(unprocessable("member", format!("'{m}' is not an IPv4 or IPv6 address"), &[])),
            },
        };
        t.member = name;
        t
    } else {
        resolve(&serving.config, zone, pool, region, member).map_err(Fail::from)?
    };
    Ok(ChangeKey { target, setting })
}

/// A 422 naming the field at fault, with the compiler's errors when there are some.
fn unprocessable(field: &str, error: String, errors: &[serde_json::Value]) -> Fail {
    let body = serde_json::json!({ "error": error, "field": field, "errors": errors });
    Fail(StatusCode::UNPROCESSABLE_ENTITY, Box::new(body), None)
}

fn api(code: StatusCode, message: String) -> Fail {
    Fail(code, Box::new(serde_json::json!({ "error": message })), None)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    value: serde_json::Value,
    #[serde(default)]
    why: String,
    #[serde(default)]
    who: Option<String>,
}

/// `If-Match: "R"` → Some(R); `If-None-Match: *` → Some(0); neither → None.
fn expected_revision(h: &HeaderMap) -> Result<Option<i64>, Fail> {
    if h.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == b"*") {
        return Ok(Some(0));
    }
    let Some(v) = h.get(header::IF_MATCH) else { return Ok(None) };
    let text = v.to_str().unwrap_or_default().trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<i64>().map(Some).map_err(|_| {
        api(StatusCode::BAD_REQUEST, format!("If-Match: '{text}' is not a revision (an ETag such as \"42\")"))
    })
}

fn etag(revision: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{revision}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

fn with_etag(code: StatusCode, revision: i64, body: serde_json::Value) -> Response {
    let mut r = (code, axum::Json(body)).into_response();
    r.headers_mut().insert(header::ETAG, etag(revision));
    r
}

fn get_one(st: &AdminState, key: ChangeKey) -> Reply {
    match st.changes.table.changes().records.get(&key) {
        Some(r) => Ok(with_etag(StatusCode::OK, r.revision, serde_json::json!({ "change": r }))),
        None => Err(api(StatusCode::NOT_FOUND, format!("no runtime change at {key}: the files decide"))),
    }
}

/// Sets (`body: Some`) or clears a change. See the module docs.
async fn write(st: &AdminState, h: &HeaderMap, key: ChangeKey, body: Option<Bytes>) -> Reply {
    authorize(&st.shared.load().config, h).map_err(Fail::from)?;
    let if_match = expected_revision(h)?;
    let (value, meta) = match &body {
        Some(bytes) => {
            let b: Body = serde_json::from_slice(bytes).map_err(|e| {
                unprocessable("body", format!("the body is {{\"value\": …, \"why\": \"…\", \"who\": \"…\"}}: {e}"), &[])
            })?;
            ChangeValue::parse(key.setting, &b.value).map_err(|e| unprocessable("value", e, &[]))?;
            (Some(b.value), meta_of(h, b.who, b.why))
        }
        None => (None, meta_of(h, None, String::new())),
    };
    if body.is_none() && if_match.is_none() && !st.changes.table.changes().records.contains_key(&key) {
        return Err(api(StatusCode::NOT_FOUND, format!("no runtime change at {key}: the files decide")));
    }
    check(st, &key, value.as_ref(), &meta).await?;
    let (revision, saved) = match &st.changes.fleet {
        Some(fleet) => match fleet.write(&key, value, &meta, if_match).await {
            Ok(WriteOutcome::Written { revision }) => (revision, Ok(())),
            Ok(WriteOutcome::Stale { current }) => return Err(stale(&key, current)),
            Err(e) => {
                return Err(api(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("etcd: {e}; the change may or may not have been stored: GET it and retry with If-Match"),
                ));
            }
        },
        None => {
            let reload = key.setting != Setting::Override;
            let done =
                st.changes.table.commit(key.clone(), value, meta, if_match).map_err(|s| stale(&key, s.current))?;
            if reload {
                st.reloader.reload(Trigger::Change).await;
            }
            (done.revision, done.saved)
        }
    };
    let current = st.changes.table.changes().records.get(&key).cloned();
    tracing::info!(change = %key, revision, "runtime change stored");
    let body = serde_json::json!({ "revision": revision, "change": current });
    Ok(match saved {
        Ok(()) => with_etag(StatusCode::OK, revision, body),
        Err(e) => {
            let mut r = not_saved(body, e);
            r.headers_mut().insert(header::ETAG, etag(revision));
            r
        }
    })
}

/// Who, why and on which node: `who` from the body, else the `X-Gslbd-Who` header, else "api".
/// Both are kept printable and short: they go to logs, the audit file and status pages.
fn meta_of(h: &HeaderMap, who: Option<String>, why: String) -> ChangeMeta {
    let header = h.get("x-gslbd-who").and_then(|v| v.to_str().ok()).map(str::to_string);
    let clean = |s: &str, max: usize| s.chars().filter(|c| !c.is_control()).take(max).collect::<String>();
    let who = clean(&who.or(header).unwrap_or_else(|| "api".into()), 200);
    ChangeMeta { who, why: clean(&why, 1000), node: "local".into() }
}

fn stale(key: &ChangeKey, current: Option<Box<ChangeRecord>>) -> Fail {
    let rev = current.as_ref().map_or(0, |r| r.revision);
    let body = serde_json::json!({
        "error": format!("{key} is at revision {rev}, not the one in If-Match: GET it and decide again"),
        "revision": rev,
        "current": current,
    });
    Fail(StatusCode::PRECONDITION_FAILED, Box::new(body), Some(rev))
}

/// Compiles the config with the change, as the files would be (on a blocking thread).
async fn check(
    st: &AdminState,
    key: &ChangeKey,
    value: Option<&serde_json::Value>,
    meta: &ChangeMeta,
) -> Result<(), Fail> {
    let table = &st.changes.table;
    let (set, not_applied) = (table.changes(), table.not_applied());
    let candidate = meta.record(key.clone(), value.cloned().unwrap_or_default(), 0);
    let path = st.reloader.config_path().to_path_buf();
    let clear = value.is_none();
    let checked = tokio::task::spawn_blocking(move || check_change(&path, &set, &not_applied, &candidate, clear)).await;
    match checked {
        Ok(Ok(())) => Ok(()),
        Ok(Err(errors)) => {
            let list: Vec<serde_json::Value> = errors
                .0
                .iter()
                .map(|e| serde_json::json!({ "file": e.file.display().to_string(), "line": e.line, "message": e.message }))
                .collect();
            let field = if value.is_none() { "change" } else { key.setting.as_str() };
            Err(unprocessable(field, format!("{key}: the config does not compile with this change: {errors}"), &list))
        }
        Err(e) => Err(api(StatusCode::INTERNAL_SERVER_ERROR, format!("the check failed: {e}"))),
    }
}

/// `GET /changes`.
async fn list(State(st): State<AdminState>) -> axum::Json<serde_json::Value> {
    axum::Json(status_json(&st.changes))
}

/// Every change with `applied` (on this node), the revision and the audit tail (for `/status`).
pub fn status_json(c: &Changes) -> serde_json::Value {
    let set = c.table.changes();
    let failed = c.table.not_applied();
    let records: Vec<serde_json::Value> = set
        .records
        .values()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["applied"] = serde_json::Value::Bool(!failed.contains_key(&r.key));
            if let Some(e) = failed.get(&r.key) {
                v["error"] = serde_json::Value::String(format!("not applied here: {e}"));
            }
            v
        })
        .collect();
    serde_json::json!({
        "store": if c.fleet.is_some() { "etcd" } else { "state file" },
        "revision": set.revision,
        "changes": records,
        "audit": c.table.audit(),
    })
}

/// The drain/force calls of the admin API, through the same store (a fleet's etcd, or the state
/// file). No `If-Match`: the last writer wins, as before. `Ok(Err(e))`: in force on this node
/// but the state file could not be written (`e` says why).
pub async fn set_override(
    st: &AdminState,
    target: OverrideTarget,
    value: Override,
    note: OverrideNote,
) -> Result<Result<(), String>, ApiError> {
    match &st.changes.fleet {
        Some(fleet) => {
            let key = ChangeKey { target, setting: Setting::Override };
            let v = value.action().map(serde_json::Value::from);
            fleet.write(&key, v, &note.into(), None).await.map(|_| Ok(())).map_err(|e| {
                ApiError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("etcd: {e}; the override may or may not have been stored"),
                )
            })
        }
        None => Ok(st.changes.table.set_override(target, value, note)),
    }
}

/// `POST /overrides/clear-orphaned`: clears every override whose target left the config, in the
/// same store. In a fleet each is deleted if still at the revision seen (one set again meanwhile
/// stays). Returns the overrides cleared, and (single node) whether the state file was written.
pub async fn clear_orphaned(
    st: &AdminState,
    note: OverrideNote,
) -> Result<(Vec<OverrideEntry>, Result<(), String>), ApiError> {
    let Some(fleet) = &st.changes.fleet else {
        return Ok(st.changes.table.clear_orphaned_by(note.into()));
    };
    let meta: ChangeMeta = note.into();
    let mut removed = Vec::new();
    for (entry, revision) in st.changes.table.orphaned() {
        let key = ChangeKey { target: entry.target.clone(), setting: Setting::Override };
        match fleet.write(&key, None, &meta, Some(revision)).await {
            Ok(WriteOutcome::Written { .. }) => removed.push(entry),
            Ok(WriteOutcome::Stale { .. }) => {}
            Err(e) => {
                return Err(ApiError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("etcd: {e}; {} orphaned override(s) were cleared before it", removed.len()),
                ));
            }
        }
    }
    Ok((removed, Ok(())))
}
