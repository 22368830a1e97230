//! The `[server]` keys of issue 19, parsed and checked with their lines: DNS cookies
//! (`[server.cookies]`), DNS over TLS (`[server.tls]`) and the CHAOS identity (`identity`,
//! `version`). Their files (the cookie secret, the certificate and key) are read by
//! [`super::build`], at every (re)load, so a change takes effect with the config.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::diag::{ConfigError, line_of};

/// `[server.cookies]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCookies {
    secret_file: Spanned<PathBuf>,
    require: Option<bool>,
}

/// `[server.tls]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    listen: Spanned<Vec<Spanned<String>>>,
    quic_listen: Option<Spanned<Vec<Spanned<String>>>>,
    certificate: Spanned<PathBuf>,
    key: Spanned<PathBuf>,
    timeout_ms: Option<Spanned<u64>>,
}

/// DNS cookies (RFC 7873, RFC 9018 server cookies): where the secret is and how strict UDP is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieSettings {
    /// The secret file (16 raw bytes, or 32 hex digits per line: current, then one more
    /// accepted); read at every (re)load; must not be readable by other users.
    pub secret_file: PathBuf,
    /// Answer BADCOOKIE to UDP queries with a client cookie but no valid server cookie
    /// (Knot's mod-cookies behaviour). Default false: they are answered (and rate limited).
    pub require: bool,
    /// The line of `secret_file`, for errors reading it.
    pub line: usize,
}

/// DNS over TLS (RFC 7858): listen addresses (bound at start) and the certificate files
/// (read at every reload, so a renewed certificate is served without a restart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    pub listen: Vec<SocketAddr>,
    /// DNS over QUIC (RFC 9250) UDP addresses, with the same certificate (`quic_listen`).
    pub quic_listen: Vec<SocketAddr>,
    /// PEM chain, leaf first.
    pub certificate: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the leaf.
    pub key: PathBuf,
    /// Bound on a TLS handshake; hickory-server also closes a connection idle this long.
    pub timeout: Duration,
    /// The line of `certificate`, for errors reading the files.
    pub line: usize,
}

/// What CHAOS-class TXT queries get (RFC 4892): each `None` is REFUSED, as Knot and NSD do
/// with an empty `identity`/`version`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chaos {
    /// `id.server.` and `hostname.bind.`.
    pub identity: Option<String>,
    /// `version.bind.` and `version.server.`.
    pub version: Option<String>,
}

pub(super) fn parse_cookies(
    path: &Path,
    text: &str,
    base: &Path,
    raw: Option<RawCookies>,
    errors: &mut Vec<ConfigError>,
) -> Option<CookieSettings> {
    let raw = raw?;
    let line = line_of(text, raw.secret_file.span().start);
    if raw.secret_file.get_ref().as_os_str().is_empty() {
        errors.push(ConfigError::new(path, line, "cookies.secret_file: a path is needed"));
        return None;
    }
    Some(CookieSettings {
        secret_file: base.join(raw.secret_file.get_ref()),
        require: raw.require.unwrap_or(false),
        line,
    })
}

pub(super) fn parse_tls(
    path: &Path,
    text: &str,
    base: &Path,
    raw: Option<RawTls>,
    errors: &mut Vec<ConfigError>,
) -> Option<TlsSettings> {
    let raw = raw?;
    let at = |s: std::ops::Range<usize>| line_of(text, s.start);
    let mut addrs = |list: &[Spanned<String>], key: &str| {
        let mut out = Vec::new();
        for l in list {
            match l.get_ref().parse::<SocketAddr>() {
                Ok(a) => out.push(a),
                Err(_) => errors.push(ConfigError::new(
                    path,
                    at(l.span()),
                    format!("tls.{key}: '{}' is not an address:port (DNS over TLS and QUIC use port 853)", l.get_ref()),
                )),
            }
        }
        out
    };
    let listen = addrs(raw.listen.get_ref(), "listen");
    let quic_listen = raw.quic_listen.as_ref().map(|q| addrs(q.get_ref(), "quic_listen")).unwrap_or_default();
    if raw.listen.get_ref().is_empty() {
        errors.push(ConfigError::new(path, at(raw.listen.span()), "tls.listen: at least one address is needed"));
    }
    let mut timeout = Duration::from_secs(10);
    if let Some(t) = &raw.timeout_ms {
        if (100..=300_000).contains(t.get_ref()) {
            timeout = Duration::from_millis(*t.get_ref());
        } else {
            errors.push(ConfigError::new(path, at(t.span()), "tls.timeout_ms: must be 100 to 300000 ms"));
        }
    }
    Some(TlsSettings {
        listen,
        quic_listen,
        line: at(raw.certificate.span()),
        certificate: base.join(raw.certificate.get_ref()),
        key: base.join(raw.key.get_ref()),
        timeout,
    })
}

/// `identity` / `version`: a string (answered as it is), `true` (the host name; "gslbd
/// VERSION"), or `false` / absent (REFUSED).
pub(super) fn parse_chaos(
    path: &Path,
    text: &str,
    identity: Option<Spanned<toml::Value>>,
    version: Option<Spanned<toml::Value>>,
    errors: &mut Vec<ConfigError>,
) -> Chaos {
    let mut one = |v: Option<Spanned<toml::Value>>, key: &str, default: &dyn Fn() -> String| -> Option<String> {
        let v = v?;
        let line = line_of(text, v.span().start);
        match v.into_inner() {
            toml::Value::Boolean(false) => None,
            toml::Value::Boolean(true) => Some(default()),
            toml::Value::String(s) if !s.is_empty() && s.len() <= 255 && !s.chars().any(char::is_control) => Some(s),
            toml::Value::String(_) => {
                errors.push(ConfigError::new(
                    path,
                    line,
                    format!("{key}: must be 1 to 255 bytes of text (one TXT string)"),
                ));
                None
            }
            other => {
                errors.push(ConfigError::new(
                    path,
                    line,
                    format!("{key}: must be a string, true (the default text) or false (REFUSED), got {other}"),
                ));
                None
            }
        }
    };
    Chaos {
        identity: one(identity, "identity", &host_name),
        version: one(version, "version", &|| concat!("gslbd ", env!("CARGO_PKG_VERSION")).to_string()),
    }
}

/// The host name, as gethostname(3) gives it (Knot's and NSD's default identity).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .unwrap_or_else(|| "localhost".to_string())
}
