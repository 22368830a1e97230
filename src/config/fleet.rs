//! The per-node settings of a fleet: `[cluster]` (the etcd endpoints, this node's name, the key
//! prefix, credentials and TLS files, how votes are combined) and `[server] probe_source` (the
//! address this node probes from). Without `[cluster]` a node needs no etcd.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::diag::{ConfigError, line_of};
use crate::pool::Decide;

/// `[cluster]` as serde reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    endpoints: Spanned<Vec<Spanned<String>>>,
    node: Spanned<String>,
    prefix: Option<Spanned<String>>,
    user: Option<Spanned<String>>,
    password_file: Option<Spanned<PathBuf>>,
    ca_file: Option<Spanned<PathBuf>>,
    cert_file: Option<Spanned<PathBuf>>,
    key_file: Option<Spanned<PathBuf>>,
    lease_ttl: Option<Spanned<i64>>,
    timeout_ms: Option<Spanned<i64>>,
    fallback_after_ms: Option<Spanned<i64>>,
    decide: Option<Spanned<String>>,
    min_voters: Option<Spanned<i64>>,
}

/// `[cluster]`, checked. Read at start-up: a reload does not reconnect to etcd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSettings {
    /// etcd client URLs (`http://` or `https://`), tried in order.
    pub endpoints: Vec<String>,
    /// This node's name: unique in the fleet, `[A-Za-z0-9._-]{1,63}`; part of every key it writes.
    pub node: String,
    /// Every key is below it; starts with '/', no trailing '/'. Default `/gslbd`.
    pub prefix: String,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    /// PEM: the CA of the etcd members (required for https), and a client certificate and key.
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// The lease this node's votes and membership hang on: they vanish this long (plus up to
    /// 0.5 s) after the node stops renewing it. Whole seconds, 2..=3600, default 10.
    pub lease_ttl: Duration,
    /// Bound on one etcd call, all endpoints and retries included; default 5 s.
    pub timeout: Duration,
    /// How long etcd may be out of reach before the node decides alone; default 3 s (a watch
    /// that moves to another etcd member within it is not an outage).
    pub fallback_after: Duration,
    /// How votes are combined when a probe does not say; default quorum.
    pub decide: Decide,
    /// Fresh voters (this node included) needed to decide together; default 2.
    pub min_voters: u32,
    /// The line of `[cluster]`'s `node`, for errors about the section as a whole.
    pub line: usize,
}

/// The secrets and certificates `[cluster]` names, read at each load.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ClusterFiles {
    pub password: Option<String>,
    pub ca_pem: Option<Vec<u8>>,
    pub cert_pem: Option<Vec<u8>>,
    pub key_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for ClusterFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither the password nor the key reaches a log line.
        f.debug_struct("ClusterFiles")
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field("cert_pem", &self.cert_pem.as_ref().map(Vec::len))
            .field("key_pem", &self.key_pem.as_ref().map(|_| "…"))
            .finish()
    }
}

/// `[cluster]` with its files read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    pub settings: ClusterSettings,
    pub files: ClusterFiles,
}

/// Where probes come from: `[server] probe_source`, at most one address per family. A target
/// of the other family is probed from whatever address the system picks.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProbeSource {
    pub v4: Option<Ipv4Addr>,
    pub v6: Option<Ipv6Addr>,
}

impl ProbeSource {
    /// The source for a target address (None: the system picks).
    pub fn for_target(&self, target: IpAddr) -> Option<IpAddr> {
        match target {
            IpAddr::V4(_) => self.v4.map(IpAddr::V4),
            IpAddr::V6(_) => self.v6.map(IpAddr::V6),
        }
    }
}

/// A part of an etcd key: no '/', and printable.
fn key_part_ok(s: &str) -> bool {
    (1..=63).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Checks `[cluster]`; paths are relative to the config's folder.
pub(super) fn parse_cluster(
    path: &Path,
    text: &str,
    raw: RawCluster,
    base: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<ClusterSettings> {
    let before = errors.len();
    let at = |s: std::ops::Range<usize>| line_of(text, s.start);
    let mut err = |span: std::ops::Range<usize>, m: String| errors.push(ConfigError::new(path, at(span), m));
    let line = at(raw.node.span());
    let node = raw.node.get_ref().clone();
    if !key_part_ok(&node) {
        err(raw.node.span(), format!("cluster.node: '{node}' must be 1 to 63 of A-Z a-z 0-9 . _ -"));
    }
    let mut endpoints = Vec::new();
    for e in raw.endpoints.get_ref() {
        let url = e.get_ref();
        let ok = (url.starts_with("http://") || url.starts_with("https://"))
            && url.len() > "https://".len()
            && !url.contains(['?', '#', ' ']);
        if !ok {
            err(e.span(), format!("cluster.endpoints: '{url}' is not an http:// or https:// URL"));
        } else if url.starts_with("https://") && raw.ca_file.is_none() {
            err(e.span(), format!("cluster.endpoints: '{url}' is https; set cluster.ca_file (the etcd members' CA)"));
        }
        endpoints.push(url.clone());
    }
    if raw.endpoints.get_ref().is_empty() {
        err(raw.endpoints.span(), "cluster.endpoints: at least one etcd endpoint is needed".into());
    }
    let prefix = match &raw.prefix {
        None => "/gslbd".to_string(),
        Some(p) => {
            let v = p.get_ref();
            let parts_ok = v.strip_prefix('/').is_some_and(|rest| rest.split('/').all(key_part_ok));
            if !parts_ok {
                err(
                    p.span(),
                    format!(
                        "cluster.prefix: '{v}' must start with '/', have no trailing '/', and parts of A-Z a-z 0-9 . _ -"
                    ),
                );
            }
            v.clone()
        }
    };
    if raw.user.is_some() != raw.password_file.is_some() {
        let span = raw.user.as_ref().map(|u| u.span()).or(raw.password_file.as_ref().map(|p| p.span()));
        err(span.unwrap_or(raw.node.span()), "cluster: user and password_file go together".into());
    }
    if raw.cert_file.is_some() != raw.key_file.is_some() {
        let span = raw.cert_file.as_ref().map(|u| u.span()).or(raw.key_file.as_ref().map(|p| p.span()));
        err(span.unwrap_or(raw.node.span()), "cluster: cert_file and key_file go together".into());
    }
    let mut int = |v: &Option<Spanned<i64>>, key: &str, lo: i64, hi: i64, default: i64| match v {
        None => default,
        Some(x) if (lo..=hi).contains(x.get_ref()) => *x.get_ref(),
        Some(x) => {
            err(x.span(), format!("cluster.{key}: must be {lo} to {hi}, got {}", x.get_ref()));
            default
        }
    };
    let lease_ttl = int(&raw.lease_ttl, "lease_ttl", 2, 3600, 10);
    let timeout = int(&raw.timeout_ms, "timeout_ms", 100, 60_000, 5_000);
    let fallback_after = int(&raw.fallback_after_ms, "fallback_after_ms", 0, 60_000, 3_000);
    let min_voters = int(&raw.min_voters, "min_voters", 1, 100, 2);
    let decide = match &raw.decide {
        None => Decide::Quorum,
        Some(d) => Decide::parse(d.get_ref()).unwrap_or_else(|| {
            errors.push(ConfigError::new(
                path,
                at(d.span()),
                format!("cluster.decide: must be \"local\", \"quorum\", \"any\" or \"all\", got \"{}\"", d.get_ref()),
            ));
            Decide::Quorum
        }),
    };
    if errors.len() > before {
        return None;
    }
    let file = |p: &Option<Spanned<PathBuf>>| p.as_ref().map(|p| base.join(p.get_ref()));
    Some(ClusterSettings {
        endpoints,
        node,
        prefix,
        user: raw.user.map(Spanned::into_inner),
        password_file: file(&raw.password_file),
        ca_file: file(&raw.ca_file),
        cert_file: file(&raw.cert_file),
        key_file: file(&raw.key_file),
        lease_ttl: Duration::from_secs(lease_ttl as u64),
        timeout: Duration::from_millis(timeout as u64),
        fallback_after: Duration::from_millis(fallback_after as u64),
        decide,
        min_voters: min_voters as u32,
        line,
    })
}

/// Reads the password, CA, certificate and key files `[cluster]` names.
pub(super) fn read_cluster_files(config: &Path, s: &ClusterSettings, errors: &mut Vec<ConfigError>) -> ClusterFiles {
    let mut read = |what: &str, p: &Option<PathBuf>| -> Option<Vec<u8>> {
        let p = p.as_ref()?;
        match std::fs::read(p) {
            Ok(b) if !b.iter().all(u8::is_ascii_whitespace) => Some(b),
            Ok(_) => {
                errors.push(ConfigError::new(config, s.line, format!("cluster.{what}: {} is empty", p.display())));
                None
            }
            Err(e) => {
                errors.push(ConfigError::new(
                    config,
                    s.line,
                    format!("cluster.{what}: cannot read {}: {e}", p.display()),
                ));
                None
            }
        }
    };
    let password = read("password_file", &s.password_file).map(|b| String::from_utf8_lossy(&b).trim().to_string());
    ClusterFiles {
        password,
        ca_pem: read("ca_file", &s.ca_file),
        cert_pem: read("cert_file", &s.cert_file),
        key_pem: read("key_file", &s.key_file),
    }
}

/// `probe_source = "192.0.2.53"` or `["192.0.2.53", "2001:db8::53"]`: one address per family,
/// each an address of this host (checked by binding it).
pub(super) fn parse_probe_source(
    path: &Path,
    text: &str,
    v: Option<Spanned<toml::Value>>,
    errors: &mut Vec<ConfigError>,
) -> ProbeSource {
    let mut out = ProbeSource::default();
    let Some(v) = v else { return out };
    let line = line_of(text, v.span().start);
    let items: Vec<&toml::Value> = match v.get_ref() {
        toml::Value::Array(a) => a.iter().collect(),
        one => vec![one],
    };
    for item in items {
        let parsed = item.as_str().and_then(|s| s.parse::<IpAddr>().ok());
        // A source that is not an address of this host would fail every probe: refuse it here.
        if let Some(a) = parsed
            && let Err(e) = std::net::UdpSocket::bind((a, 0))
        {
            errors.push(ConfigError::new(path, line, format!("probe_source: {a} is not usable on this host: {e}")));
            continue;
        }
        match parsed {
            Some(IpAddr::V4(a)) if out.v4.is_none() => out.v4 = Some(a),
            Some(IpAddr::V6(a)) if out.v6.is_none() => out.v6 = Some(a),
            Some(a) => errors.push(ConfigError::new(
                path,
                line,
                format!("probe_source: {a} is a second address of its family (one IPv4 and one IPv6 at most)"),
            )),
            None => errors.push(ConfigError::new(path, line, format!("probe_source: {item} is not an IP address"))),
        }
    }
    out
}
