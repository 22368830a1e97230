//! The admin API's cap on request bodies, for every endpoint, whether or not its handler reads
//! a body: a body declared larger than the cap is refused with 413 before a byte of it is read;
//! one without a declared length (chunked) is read up to the cap, and refused with 413 past it.
//! So no request makes the server read or buffer more than [`BODY_LIMIT`] bytes of body, and an
//! over-long body never gets a 200 from a handler that happens to ignore it.
//!
//! ```text
//! request ─► Content-Length > cap? ─► 413
//!         └► read the body, at most cap bytes ─► more? ─► 413
//!                                              └► the route's handler, with the body read
//! ```
use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::http::ApiError;

/// The largest request body accepted: what the calls with a body need (a `/changes` value,
/// `POST /rtt`'s 1,000 measurements written compactly) fits; this bounds what a client can send.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The middleware (`axum::middleware::from_fn(cap_body)` on the whole router).
pub async fn cap_body(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(_) => too_large(),
    }
}

fn too_large() -> Response {
    let mut r = ApiError(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body over {BODY_LIMIT} bytes: no admin call takes a body that large (POST /rtt: send fewer measurements per request)"),
    )
    .into_response();
    // The rest of the body is not read: the connection cannot be reused.
    r.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    r
}
