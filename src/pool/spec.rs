//! What the pool files ask the running services to do, validated: the `[probe.NAME]`
//! definitions the probers run and the `[feedback.NAME]` feeds the pollers read. Plain data,
//! compiled by `config` and shared (`Arc`) by every member or region that names them.
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// One named probe. Identical (target, probe) pairs share one task, whatever pools use them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProbeSpec {
    /// The `[probe.NAME]` name: part of the health key, so state and overrides follow it.
    pub name: String,
    pub kind: ProbeKind,
    /// Time between the starts of two probes; each gap is shortened by a random part of
    /// `jitter`, so `interval` is an upper bound (detection within `interval × fall`).
    pub interval: Duration,
    /// 0..=interval/2.
    pub jitter: Duration,
    /// Bound on one whole probe; 1 ms..=interval.
    pub timeout: Duration,
    pub thresholds: Thresholds,
    /// In a fleet (`[cluster]`): how the nodes' votes on this probe are combined, and the fresh
    /// voters needed; `None` takes the `[cluster]` defaults. Ignored on a single node.
    pub decide: Option<Decide>,
    pub min_voters: Option<u32>,
}

/// How a fleet turns its nodes' votes on one (target, probe) into the state every node uses.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Decide {
    /// Each node uses its own probes (what a node without a fleet does).
    Local,
    /// Up when more than half of the fresh voters say up, down when more than half say down;
    /// a tie keeps the node's own observation.
    Quorum,
    /// Up when any fresh voter says up.
    Any,
    /// Up only when every fresh voter says up.
    All,
}

impl Decide {
    pub fn parse(s: &str) -> Option<Decide> {
        match s {
            "local" => Some(Decide::Local),
            "quorum" => Some(Decide::Quorum),
            "any" => Some(Decide::Any),
            "all" => Some(Decide::All),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Decide::Local => "local",
            Decide::Quorum => "quorum",
            Decide::Any => "any",
            Decide::All => "all",
        }
    }
}

impl fmt::Display for Decide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// Success = the TCP handshake completes.
    Tcp { port: u16 },
    /// Success = a response with an expected status (and body substring, when set).
    Http(HttpProbe),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HttpProbe {
    pub port: u16,
    /// Starts with '/'.
    pub path: String,
    /// Non-empty; each 100..=599.
    pub expect_status: Vec<u16>,
    pub body_contains: Option<String>,
    /// Host header; default: the target (address or name).
    pub host: Option<String>,
    pub user_agent: String,
    /// `Some` for HTTPS.
    pub tls: Option<TlsProbe>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TlsProbe {
    /// Server name sent in SNI and verified in the certificate; default: none for an address
    /// target (the certificate must then name the IP), the name for a CNAME target.
    pub sni: Option<String>,
    /// Accept any certificate (self-signed test servers). Encryption, no authentication.
    pub insecure: bool,
    /// Trust only the CA certificates in this PEM file instead of the system roots.
    pub ca_file: Option<PathBuf>,
}

/// Consecutive results needed to flip: checked at load (1..=100 each).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Thresholds {
    /// Successes in a row that bring a down target up.
    pub rise: u8,
    /// Failures in a row that take an up target down.
    pub fall: u8,
}

/// What one feed reports and how it is read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FeedKind {
    /// HAProxy's stats page as CSV (`;csv`): load = the FRONTEND row's `scur`; backends up =
    /// the BACKEND row's `act`.
    Haproxy { frontend: String, backend: Option<String> },
    /// nginx `stub_status`: load = "Active connections". Reports no backends.
    Nginx,
    /// Prometheus text exposition: load = the sum of the samples matching `metric`.
    Prometheus { metric: MetricSel, backends: Option<MetricSel> },
    /// A JSON document: load = the number at the dot path `path`.
    Json { path: String, backends_path: Option<String> },
}

impl FeedKind {
    pub fn name(&self) -> &'static str {
        match self {
            FeedKind::Haproxy { .. } => "haproxy",
            FeedKind::Nginx => "nginx",
            FeedKind::Prometheus { .. } => "prometheus",
            FeedKind::Json { .. } => "json",
        }
    }
}

/// What feed state is keyed by: the source, not the `[feedback.NAME]` name, so two pool files
/// naming the same source share one poller and one state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FeedKey {
    pub kind: FeedKind,
    pub url: String,
}

impl fmt::Display for FeedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.name(), self.url)
    }
}

/// One `[feedback.NAME]`, validated.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FeedSpec {
    /// The `[feedback.NAME]` name (shown as `source` on status pages).
    pub name: String,
    pub key: FeedKey,
    /// Time between the starts of two polls; 100 ms..=60 s.
    pub interval: Duration,
    /// Bound on one whole poll (connect, request, body); ≤ interval.
    pub timeout: Duration,
    /// A sample older than this (or none at all) is stale; ≥ interval.
    pub stale_after: Duration,
}

/// A Prometheus metric selector: `name` or `name{label="value",...}` (exact label values).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MetricSel {
    pub name: String,
    pub labels: Vec<(String, String)>,
}

impl fmt::Display for MetricSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.labels.is_empty() {
            f.write_str("{")?;
            for (i, (k, v)) in self.labels.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}
