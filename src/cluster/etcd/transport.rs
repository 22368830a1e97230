//! HTTP exchanges with etcd's gateway: endpoint failover, deadlines, bounded bodies and the
//! auth token.
//!
//! ```text
//! call(path, json, retry) ──► deadline = now + timeout (outer tokio timeout: never hangs)
//!   rounds until the deadline (3 rounds when every endpoint refuses connections): for each
//!   endpoint, starting at the one that last worked
//!     token() ─► (authenticate once, shared by all callers) ─► POST base+path, ≤ attempt_timeout
//!       connection failed (not sent)        → next endpoint
//!       "no leader"/"too many requests"     → next endpoint (etcd did not take the request)
//!       timeout / reset after sending       → next endpoint if the call is idempotent, else error
//!       "invalid auth token"                → re-authenticate, same endpoint, once
//!       any other etcd error, bad JSON      → returned as is
//!   backoff 50 ms·2^round (≤ 500 ms) between rounds
//! ```

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::Error;
use super::config::{ClientConfig, Credentials};
use super::error::code;
use super::wire::{self, AuthBody};

/// Whether a call may be sent again after etcd might have applied it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Retry {
    /// Reads, and writes whose repetition is harmless (put of the same value, delete, keepalive).
    Idempotent,
    /// Conditional writes: re-sent only when the first copy surely did not reach etcd.
    OnlyIfNotSent,
}

/// How one exchange with one endpoint ended, when it did not produce an HTTP answer.
enum Failure {
    /// The request never reached etcd (connect refused, connect timeout, DNS).
    NotSent(String),
    /// The request may have reached etcd (timeout or reset while waiting for the answer).
    MaybeSent(String),
    /// The answer is unusable no matter which endpoint we ask (too large).
    Fatal(Error),
}

#[derive(Clone)]
enum Token {
    /// Not fetched yet, or invalidated.
    Unknown,
    /// etcd said auth is not enabled: send no header.
    NotNeeded,
    Valid(String),
}

struct Auth {
    creds: Credentials,
    /// The token and its generation (bumped on each invalidation, so concurrent callers that
    /// saw the same bad token re-authenticate once).
    token: Mutex<(Token, u64)>,
    /// Serialises authentications.
    refresh: tokio::sync::Mutex<()>,
}

pub(crate) struct Transport {
    http: reqwest::Client,
    /// Endpoint URLs without a trailing slash; paths start with `/v3/`.
    bases: Vec<String>,
    /// Index of the endpoint that answered last.
    current: AtomicUsize,
    pub(crate) cfg: ClientConfig,
    auth: Option<Auth>,
}

/// The header that makes etcd refuse, instead of queue, requests on a member without a leader
/// (`rpctypes.MetadataRequireLeaderKey`; the gateway forwards `Grpc-Metadata-*` as gRPC
/// metadata). For streams it also makes etcd cancel a watch when its member loses the leader.
const REQUIRE_LEADER: (&str, &str) = ("grpc-metadata-hasleader", "true");

impl Transport {
    pub(crate) fn new(cfg: ClientConfig) -> Result<Transport, Error> {
        let urls = cfg.validate()?;
        // reqwest is built without a crypto provider; ring is the process default.
        crate::services::install_crypto_provider();
        let mut b = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(cfg.connect_timeout)
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("gslbd/", env!("CARGO_PKG_VERSION"), " etcd"));
        if let Some(tls) = &cfg.tls {
            let cas = reqwest::Certificate::from_pem_bundle(&tls.ca_pem)
                .map_err(|e| Error::Config(format!("tls ca: {e}")))?;
            if cas.is_empty() {
                return Err(Error::Config("tls ca: no certificate in the PEM".into()));
            }
            b = b.tls_certs_only(cas);
            if let (Some(cert), Some(key)) = (&tls.cert_pem, &tls.key_pem) {
                let mut pem = cert.clone();
                pem.push(b'\n');
                pem.extend_from_slice(key);
                let id = reqwest::Identity::from_pem(&pem).map_err(|e| Error::Config(format!("tls cert/key: {e}")))?;
                b = b.identity(id);
            }
        }
        let http = b.build().map_err(|e| Error::Config(format!("http client: {e}")))?;
        let bases = urls.iter().map(|u| u.as_str().trim_end_matches('/').to_string()).collect();
        let auth = cfg.credentials.clone().map(|creds| Auth {
            creds,
            token: Mutex::new((Token::Unknown, 0)),
            refresh: tokio::sync::Mutex::new(()),
        });
        Ok(Transport { http, bases, current: AtomicUsize::new(0), cfg, auth })
    }

    pub(crate) fn endpoint(&self, idx: usize) -> &str {
        self.bases.get(idx).map(String::as_str).unwrap_or("?")
    }

    pub(crate) fn endpoint_count(&self) -> usize {
        self.bases.len()
    }

    pub(crate) fn current(&self) -> usize {
        self.current.load(Ordering::Relaxed) % self.bases.len().max(1)
    }

    /// One unary call with failover, retries and the deadline `cfg.timeout`.
    pub(crate) async fn call<T, P>(
        &self,
        path: &str,
        body: &serde_json::Value,
        retry: Retry,
        parse: P,
    ) -> Result<T, Error>
    where
        P: Fn(u16, &[u8]) -> Result<T, Error>,
    {
        let deadline = Instant::now() + self.cfg.timeout;
        let sent = AtomicBool::new(false);
        let body = serde_json::to_vec(body).map_err(|e| Error::Protocol(format!("encoding request: {e}")))?;
        match tokio::time::timeout_at(deadline, self.call_inner(path, &body, retry, &parse, deadline, &sent)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout { after: self.cfg.timeout, maybe_applied: sent.load(Ordering::Relaxed) }),
        }
    }

    async fn call_inner<T, P>(
        &self,
        path: &str,
        body: &[u8],
        retry: Retry,
        parse: &P,
        deadline: Instant,
        sent: &AtomicBool,
    ) -> Result<T, Error>
    where
        P: Fn(u16, &[u8]) -> Result<T, Error>,
    {
        let n = self.bases.len();
        let mut last = String::from("no attempt");
        let mut round = 0u32;
        loop {
            if round > 0 {
                let pause = Duration::from_millis(50 << round.min(4)).min(Duration::from_millis(500));
                tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
            }
            // Every endpoint refused the connection: no etcd process at all, give up early
            // (after 3 rounds) instead of spinning until the deadline.
            let mut all_refused = true;
            let start = self.current();
            for i in 0..n {
                let idx = (start + i) % n;
                let mut reauthed = false;
                loop {
                    let (token, generation) = self.token(deadline).await?;
                    match self.exchange(idx, path, body, token.as_deref(), deadline).await {
                        Err(Failure::Fatal(e)) => return Err(e),
                        Err(Failure::NotSent(m)) => last = format!("{}: {m}", self.endpoint(idx)),
                        Err(Failure::MaybeSent(m)) => {
                            all_refused = false;
                            sent.store(true, Ordering::Relaxed);
                            last = format!("{}: {m}", self.endpoint(idx));
                            if retry == Retry::OnlyIfNotSent {
                                return Err(Error::Unavailable(format!("{last} (the write may have been applied)")));
                            }
                        }
                        Ok((status, bytes)) => match parse(status, &bytes) {
                            Ok(v) => {
                                self.current.store(idx, Ordering::Relaxed);
                                return Ok(v);
                            }
                            Err(e) if e.is_token_error() && self.auth.is_some() && !reauthed => {
                                reauthed = true;
                                self.invalidate(generation);
                                continue;
                            }
                            Err(e) if not_taken(&e) => {
                                all_refused = false;
                                last = format!("{}: {e}", self.endpoint(idx));
                            }
                            Err(e) if e.is_retryable() && retry == Retry::Idempotent => {
                                all_refused = false;
                                sent.store(true, Ordering::Relaxed);
                                last = format!("{}: {e}", self.endpoint(idx));
                            }
                            Err(e) => return Err(e),
                        },
                    }
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(Error::Timeout {
                        after: self.cfg.timeout,
                        maybe_applied: sent.load(Ordering::Relaxed),
                    });
                }
            }
            round += 1;
            if all_refused && round >= 3 {
                return Err(Error::Unavailable(last));
            }
        }
    }

    /// One POST to one endpoint; the answer's status and (bounded) body.
    async fn exchange(
        &self,
        idx: usize,
        path: &str,
        body: &[u8],
        token: Option<&str>,
        deadline: Instant,
    ) -> Result<(u16, Vec<u8>), Failure> {
        let limit = self.cfg.attempt_timeout.min(deadline.saturating_duration_since(Instant::now()));
        let url = format!("{}{path}", self.endpoint(idx));
        let mut req = self
            .http
            .post(url)
            .timeout(limit)
            .header("content-type", "application/json")
            .header(REQUIRE_LEADER.0, REQUIRE_LEADER.1)
            .body(body.to_vec());
        if let Some(t) = token {
            req = req.header("authorization", t);
        }
        let resp = req.send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        let bytes = read_bounded(resp, self.cfg.max_response_bytes).await?;
        Ok((status, bytes))
    }

    /// Opens a streaming POST (watch) on the first endpoint that takes it, starting at
    /// `prefer`. Waits at most `attempt_timeout` per endpoint for the answer's head.
    pub(crate) async fn open_stream(
        &self,
        prefer: usize,
        path: &str,
        body: &[u8],
    ) -> Result<(usize, reqwest::Response), Error> {
        let n = self.bases.len();
        let mut last = Error::Unavailable("no endpoint".into());
        for i in 0..n {
            let idx = (prefer + i) % n;
            let deadline = Instant::now() + self.cfg.attempt_timeout;
            for _try in 0..2 {
                let (token, generation) = self.token(deadline).await?;
                let mut req = self
                    .http
                    .post(format!("{}{path}", self.endpoint(idx)))
                    .header("content-type", "application/json")
                    .header(REQUIRE_LEADER.0, REQUIRE_LEADER.1)
                    .body(body.to_vec());
                if let Some(t) = token.as_deref() {
                    req = req.header("authorization", t);
                }
                let resp = match tokio::time::timeout_at(deadline, req.send()).await {
                    Err(_) => {
                        last =
                            Error::Unavailable(format!("{}: no answer within the attempt timeout", self.endpoint(idx)));
                        break;
                    }
                    Ok(Err(e)) => {
                        last = Error::Unavailable(format!("{}: {}", self.endpoint(idx), describe(&e)));
                        break;
                    }
                    Ok(Ok(r)) => r,
                };
                let status = resp.status().as_u16();
                if status == 200 {
                    return Ok((idx, resp));
                }
                let body =
                    match tokio::time::timeout_at(deadline, read_bounded(resp, self.cfg.max_response_bytes)).await {
                        Ok(Ok(b)) => b,
                        Ok(Err(Failure::Fatal(e))) => return Err(e),
                        Ok(Err(Failure::NotSent(m) | Failure::MaybeSent(m))) => m.into_bytes(),
                        Err(_) => Vec::new(),
                    };
                match wire::parse_unary::<serde_json::Value>(status, &body) {
                    Err(e) if e.is_token_error() && self.auth.is_some() => {
                        self.invalidate(generation);
                        last = e;
                    }
                    Err(e) => {
                        last = e;
                        break;
                    }
                    Ok(_) => {
                        last = Error::Protocol(format!("HTTP {status} on a stream"));
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    /// A cheap call to one endpoint (maintenance status), to tell a silent watch from a dead one.
    pub(crate) async fn probe(&self, idx: usize) -> Result<(), Error> {
        let deadline = Instant::now() + self.cfg.attempt_timeout;
        let (token, _) = self.token(deadline).await?;
        let fut = self.exchange(idx, "/v3/maintenance/status", b"{}", token.as_deref(), deadline);
        match tokio::time::timeout_at(deadline, fut).await {
            Ok(Ok((status, body))) => wire::parse_unary::<wire::StatusBody>(status, &body).map(|_| ()),
            Ok(Err(Failure::Fatal(e))) => Err(e),
            Ok(Err(Failure::NotSent(m) | Failure::MaybeSent(m))) => Err(Error::Unavailable(m)),
            Err(_) => Err(Error::Unavailable("status probe timed out".into())),
        }
    }

    // ---- auth -----------------------------------------------------------------------------

    /// The token to send (None: no auth) and its generation.
    pub(crate) async fn token(&self, deadline: Instant) -> Result<(Option<String>, u64), Error> {
        let Some(auth) = &self.auth else { return Ok((None, 0)) };
        if let Some(t) = Self::known(auth) {
            return Ok(t);
        }
        let _guard = auth.refresh.lock().await;
        if let Some(t) = Self::known(auth) {
            return Ok(t);
        }
        let fresh = self.authenticate(auth, deadline).await?;
        let mut g = auth.token.lock().map_err(|_| Error::Auth("token lock poisoned".into()))?;
        g.0 = fresh;
        Ok((Self::as_header(&g.0), g.1))
    }

    fn known(auth: &Auth) -> Option<(Option<String>, u64)> {
        let g = auth.token.lock().ok()?;
        match &g.0 {
            Token::Unknown => None,
            t => Some((Self::as_header(t), g.1)),
        }
    }

    fn as_header(t: &Token) -> Option<String> {
        match t {
            Token::Valid(s) => Some(s.clone()),
            _ => None,
        }
    }

    pub(crate) fn invalidate(&self, generation: u64) {
        if let Some(auth) = &self.auth
            && let Ok(mut g) = auth.token.lock()
            && g.1 == generation
        {
            g.0 = Token::Unknown;
            g.1 += 1;
            tracing::debug!("etcd auth token invalidated; re-authenticating on next call");
        }
    }

    /// Drops whatever token is held now (a watch saw it refused).
    pub(crate) fn invalidate_current(&self) {
        let generation = self.auth.as_ref().and_then(|a| a.token.lock().ok().map(|g| g.1));
        if let Some(g) = generation {
            self.invalidate(g);
        }
    }

    async fn authenticate(&self, auth: &Auth, deadline: Instant) -> Result<Token, Error> {
        let body = serde_json::json!({"name": auth.creds.user, "password": auth.creds.password});
        let body = serde_json::to_vec(&body).map_err(|e| Error::Protocol(e.to_string()))?;
        let n = self.bases.len();
        let start = self.current();
        let mut last = String::from("no attempt");
        for i in 0..n {
            let idx = (start + i) % n;
            let answer =
                tokio::time::timeout_at(deadline, self.exchange(idx, "/v3/auth/authenticate", &body, None, deadline))
                    .await;
            match answer {
                Err(_) => break,
                Ok(Err(Failure::Fatal(e))) => return Err(e),
                Ok(Err(Failure::NotSent(m) | Failure::MaybeSent(m))) => last = m,
                Ok(Ok((status, bytes))) => match wire::parse_unary::<AuthBody>(status, &bytes) {
                    Ok(b) if b.token.is_empty() => return Err(Error::Auth("etcd returned an empty token".into())),
                    Ok(b) => return Ok(Token::Valid(b.token)),
                    Err(Error::Etcd { message, .. }) if message.contains("authentication is not enabled") => {
                        return Ok(Token::NotNeeded);
                    }
                    Err(e) if not_taken(&e) || e.is_retryable() => last = e.to_string(),
                    Err(Error::Etcd { message, .. }) => return Err(Error::Auth(message)),
                    Err(e) => return Err(e),
                },
            }
        }
        Err(Error::Unavailable(format!("authenticate: {last}")))
    }
}

/// etcd errors that say the request was refused before it was proposed: safe to send elsewhere.
fn not_taken(e: &Error) -> bool {
    matches!(e, Error::Etcd { code: c, message } if *c == code::UNAVAILABLE
        && (message.contains("no leader") || message.contains("too many requests") || message.contains("not capable")))
}

fn classify(e: reqwest::Error) -> Failure {
    // A TLS failure (bad server certificate, or the member refusing ours with an alert) ends
    // the connection before etcd reads any request: nothing was applied.
    if e.is_connect() || e.is_builder() || tls_failure(&e) {
        Failure::NotSent(describe(&e))
    } else {
        Failure::MaybeSent(describe(&e))
    }
}

/// True when a rustls error is somewhere in the chain (io::Error hides its inner error from
/// `source()`, hence the `get_ref` look).
fn tls_failure(e: &reqwest::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if c.is::<rustls::Error>() {
            return true;
        }
        if let Some(inner) = c.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref())
            && inner.is::<rustls::Error>()
        {
            return true;
        }
        cur = c.source();
    }
    false
}

/// reqwest's error with its causes ("error sending request: connection refused").
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// Reads a body, failing as soon as it grows past `limit` (no unbounded allocation).
async fn read_bounded(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, Failure> {
    if resp.content_length().is_some_and(|l| l > limit as u64) {
        return Err(Failure::Fatal(Error::TooLarge { limit }));
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| Failure::MaybeSent(describe(&e)))? {
        if out.len() + chunk.len() > limit {
            return Err(Failure::Fatal(Error::TooLarge { limit }));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
