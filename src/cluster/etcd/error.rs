//! The one error type of the crate. Every call returns it; nothing panics on what etcd (or
//! something pretending to be etcd) sends back.

use std::fmt;
use std::time::Duration;

/// gRPC status codes that etcd's gateway puts in `"code"` (the ones we act on).
pub mod code {
    /// `InvalidArgument`: bad request, also "user name is empty" (no token while auth is on).
    pub const INVALID_ARGUMENT: i32 = 3;
    /// `DeadlineExceeded`: "etcdserver: request timed out" (the write may still be applied).
    pub const DEADLINE_EXCEEDED: i32 = 4;
    /// `NotFound`: "requested lease not found".
    pub const NOT_FOUND: i32 = 5;
    /// `PermissionDenied`: the authenticated user lacks a role for this key.
    pub const PERMISSION_DENIED: i32 = 7;
    /// `FailedPrecondition`: e.g. "mvcc: required revision has been compacted" is 11 (`OutOfRange`).
    pub const OUT_OF_RANGE: i32 = 11;
    /// `Unavailable`: "no leader", "leader changed", "too many requests".
    pub const UNAVAILABLE: i32 = 14;
    /// `Unauthenticated`: "invalid auth token" (expired simple token, or one from another cluster).
    pub const UNAUTHENTICATED: i32 = 16;
}

/// What went wrong with a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The client configuration is unusable (no endpoints, a bad URL, unreadable PEM…).
    Config(String),
    /// No endpoint could be reached (every attempt failed before etcd answered).
    Unavailable(String),
    /// The call's deadline passed. `maybe_applied` is true when a write was sent and its
    /// outcome is unknown (it may have been applied).
    Timeout { after: Duration, maybe_applied: bool },
    /// etcd answered with an error status (`code` is the gRPC code, `message` etcd's text).
    Etcd { code: i32, message: String },
    /// Authentication failed (wrong user or password, or auth is off and a token was asked for).
    Auth(String),
    /// The response was not what the gateway sends: bad JSON, bad base64, missing fields.
    Protocol(String),
    /// The response was larger than the configured bound.
    TooLarge { limit: usize },
}

impl Error {
    /// True for errors after which another endpoint (or a later try) may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Unavailable(_) | Error::Timeout { .. } => true,
            Error::Etcd { code: c, .. } => *c == code::UNAVAILABLE || *c == code::DEADLINE_EXCEEDED,
            _ => false,
        }
    }

    /// True when etcd said the token is missing or no longer valid (refresh and retry).
    pub(crate) fn is_token_error(&self) -> bool {
        match self {
            Error::Etcd { code: c, message } => {
                *c == code::UNAUTHENTICATED
                    || (*c == code::INVALID_ARGUMENT && message.contains("user name is empty"))
                    || message.contains("invalid auth token")
            }
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) => write!(f, "etcd client configuration: {m}"),
            Error::Unavailable(m) => write!(f, "etcd unavailable: {m}"),
            Error::Timeout { after, maybe_applied: true } => {
                write!(f, "etcd call timed out after {after:?} (the write may have been applied)")
            }
            Error::Timeout { after, .. } => write!(f, "etcd call timed out after {after:?}"),
            Error::Etcd { code, message } => write!(f, "etcd error (code {code}): {message}"),
            Error::Auth(m) => write!(f, "etcd authentication: {m}"),
            Error::Protocol(m) => write!(f, "unexpected response from etcd: {m}"),
            Error::TooLarge { limit } => write!(f, "etcd response larger than {limit} bytes"),
        }
    }
}

impl std::error::Error for Error {}
