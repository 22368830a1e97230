//! gslbd.toml: the server settings and the list of zones, parsed with serde
//! (`deny_unknown_fields`) and then checked, every problem with its line.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::rr::Name;
use serde::Deserialize;
use toml::Spanned;

use super::dnssec::{DnssecSettings, RawDnssec};
use super::extras::{Chaos, CookieSettings, RawCookies, RawTls, TlsSettings, parse_chaos, parse_cookies, parse_tls};
use super::fleet::{ClusterSettings, ProbeSource, RawCluster, parse_cluster, parse_probe_source};
use crate::diag::{ConfigError, line_of};
use crate::zone::Signing;

/// The whole file; read section by section (see [`raw_config`]) so that a mistake in one
/// section does not hide those in the others.
struct RawConfig {
    server: RawServer,
    zone: Vec<RawZone>,
    geoip: Option<RawGeo>,
    admin: Option<RawAdmin>,
    log: Option<RawLog>,
    cluster: Option<RawCluster>,
    watch: Option<RawWatch>,
}

/// Reads the sections of gslbd.toml, collecting every TOML error (all syntax errors, then the
/// errors of every section and of every `[[zone]]`).
fn raw_config(path: &Path, text: &str) -> Result<RawConfig, Vec<ConfigError>> {
    use super::toml_doc;
    let doc = toml_doc::parse(path, text)?;
    let mut errors = Vec::new();
    let (mut server, mut zone, mut geoip, mut admin, mut log, mut cluster, mut watch) =
        (None, Vec::new(), None, None, None, None, None);
    for (k, v) in doc {
        match k.get_ref().as_str() {
            "server" => server = toml_doc::value::<RawServer>(&mut errors, path, text, v),
            "zone" => zone = toml_doc::array::<RawZone>(&mut errors, path, text, "zone", v),
            "geoip" => geoip = toml_doc::value::<RawGeo>(&mut errors, path, text, v),
            "admin" => admin = toml_doc::value::<RawAdmin>(&mut errors, path, text, v),
            "log" => log = toml_doc::value::<RawLog>(&mut errors, path, text, v),
            "cluster" => cluster = toml_doc::value::<RawCluster>(&mut errors, path, text, v),
            "watch" => watch = toml_doc::value::<RawWatch>(&mut errors, path, text, v),
            other => errors.push(toml_doc::at(
                path,
                text,
                k.span(),
                format!(
                    "unknown section `{other}`, expected one of `server`, `zone`, `geoip`, `admin`, `log`, `cluster`, `watch`"
                ),
            )),
        }
    }
    if server.is_none() && errors.is_empty() {
        errors.push(ConfigError::new(path, 0, "missing [server] section (listen = [...] at least)"));
    }
    match server {
        Some(server) if errors.is_empty() => Ok(RawConfig { server, zone, geoip, admin, log, cluster, watch }),
        _ => Err(errors),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    quiet_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    listen: Option<Spanned<String>>,
    token_file: Option<Spanned<PathBuf>>,
    state_file: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    query_sample: Option<Spanned<f64>>,
    level: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGeo {
    database: Option<Spanned<OneOrMany>>,
    asn_database: Option<Spanned<OneOrMany>>,
    missing_coordinates: Option<Spanned<String>>,
}

/// A path, or a list of them consulted in order.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<PathBuf> {
        match self {
            OneOrMany::One(p) => vec![p],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Spanned<Vec<Spanned<String>>>,
    nsid: Option<Spanned<String>>,
    #[serde(default)]
    tcp: RawTcp,
    #[serde(default)]
    rrl: RawRrl,
    udp_workers: Option<Spanned<usize>>,
    health_startup_wait_ms: Option<Spanned<u64>>,
    probe_source: Option<Spanned<toml::Value>>,
    cookies: Option<RawCookies>,
    tls: Option<RawTls>,
    identity: Option<Spanned<toml::Value>>,
    version: Option<Spanned<toml::Value>>,
    state_dir: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRrl {
    enabled: Option<bool>,
    responses_per_second: Option<Spanned<u32>>,
    slip: Option<Spanned<u32>>,
    window: Option<Spanned<u32>>,
    ipv4_prefix: Option<Spanned<u8>>,
    ipv6_prefix: Option<Spanned<u8>>,
    table_size: Option<Spanned<usize>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTcp {
    max_connections: Option<Spanned<usize>>,
    max_connections_per_ip: Option<Spanned<usize>>,
    idle_timeout_ms: Option<Spanned<u64>>,
    max_lifetime_ms: Option<Spanned<u64>>,
    max_queries_per_connection: Option<Spanned<usize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    origin: Spanned<String>,
    file: Spanned<PathBuf>,
    pools: Option<Spanned<PathBuf>>,
    signing: Option<Spanned<String>>,
    dnssec: Option<RawDnssec>,
}

/// Limits on TCP clients (RFC 7766 §6.2.3 asks servers to manage their resources).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpLimits {
    /// Concurrent connections, all clients together. Default 1024.
    pub max_connections: usize,
    /// Concurrent connections from one client address. Default 64.
    pub max_connections_per_ip: usize,
    /// A connection that sends nothing for this long is closed. Default 10 s.
    pub idle_timeout: Duration,
    /// No connection lives longer than this, busy or not. Default 120 s.
    pub max_lifetime: Duration,
    /// After this many queries the connection is closed once the answers are sent. Default 1000.
    pub max_queries_per_connection: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: 1024,
            max_connections_per_ip: 64,
            idle_timeout: Duration::from_secs(10),
            max_lifetime: Duration::from_secs(120),
            max_queries_per_connection: 1000,
        }
    }
}

/// Largest `responses_per_second × window` the rate limiter's packed balance can hold.
pub const MAX_RATE_TIMES_WINDOW: u64 = 1_000_000;

/// Response rate limiting for UDP (`[server.rrl]`; see `dns::rrl` and the README).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RrlSettings {
    pub enabled: bool,
    /// Identical responses per second one client network may get (also the burst allowance).
    pub responses_per_second: u32,
    /// Every `slip`-th limited reply is sent truncated (TC=1, no records); 0 = drop them all.
    pub slip: u32,
    /// Seconds of excess a bucket remembers: after a flood a client is limited for at most this long.
    pub window: u32,
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
    /// Buckets in the table (rounded up to a power of two); 8 bytes each.
    pub table_size: usize,
}

impl Default for RrlSettings {
    fn default() -> Self {
        RrlSettings {
            // Off by default, as in Knot: see README "Response rate limiting" for why.
            enabled: false,
            responses_per_second: 20,
            slip: 2,
            window: 15,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            table_size: 65536,
        }
    }
}

/// Settings that are read at start-up (sockets) and those that may change on reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    pub listen: Vec<SocketAddr>,
    pub nsid: Option<Vec<u8>>,
    pub tcp: TcpLimits,
    /// Read once at start-up (the table is sized then); a reload does not change it.
    pub rrl: RrlSettings,
    /// UDP sockets (SO_REUSEPORT) per listen address; default: the number of CPUs.
    pub udp_workers: usize,
    /// At start, answers wait this long at most for the first probe round, so no pool answers
    /// "all down" for want of a probe. Default 3 s; members still unknown then use `health_assume`.
    pub health_startup_wait: Duration,
    /// The addresses probes are sent from (`probe_source`); read at start-up.
    pub probe_source: ProbeSource,
    /// `[server.cookies]`: DNS cookies; `None`: the COOKIE option is ignored.
    pub cookies: Option<CookieSettings>,
    /// `[server.tls]`: DNS over TLS listeners and certificate.
    pub tls: Option<TlsSettings>,
    /// `identity` and `version`: the CHAOS TXT answers.
    pub chaos: Chaos,
    /// `state_dir`: what gslbd makes and keeps (DNSSEC keys); default `state` beside gslbd.toml.
    pub state_dir: PathBuf,
}

/// A zone entry of the config, paths resolved against the config file's folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneEntry {
    pub origin: Name,
    pub file: PathBuf,
    pub pools: Option<PathBuf>,
    /// `signing`: how the zone's DNSSEC records come to be (default: it is unsigned).
    pub signing: Signing,
    /// `[zone.dnssec]`: keys and policy of a zone signed online (`Some` exactly when `signing`
    /// is `Online`).
    pub dnssec: Option<DnssecSettings>,
    /// The line of this entry's `origin`, for errors about the zone as a whole.
    pub line: usize,
}

/// The GeoIP databases to open, and the lines that name them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeoEntry {
    /// Location databases, consulted in order: the first with a record for an address answers.
    pub databases: Vec<PathBuf>,
    pub line: usize,
    /// `missing_coordinates`: where a record with a country but no coordinates is placed:
    /// `"centroid"` (default: the country's centre) or `"default-region"` (no coordinates:
    /// a `nearest` pool sends the client to its `default_region`).
    pub centroid: bool,
    /// ASN databases, consulted in order (`asn_database`).
    pub asn_databases: Vec<PathBuf>,
    pub asn_line: usize,
}

/// `[admin]`: the HTTP API (status, explain, drain/force, reload, metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminSettings {
    /// Default 127.0.0.1:8053. Not on loopback only with a `token_file`.
    pub listen: SocketAddr,
    /// The bearer token that mutating calls must present; read at every (re)load.
    pub token_file: Option<PathBuf>,
    /// Where drain/force overrides are kept so they survive a restart: default
    /// `$STATE_DIRECTORY/gslbd.state` under systemd's `StateDirectory=`, else `gslbd.state`
    /// beside gslbd.toml; rewritten atomically on every change.
    pub state_file: PathBuf,
    /// The line of `token_file`, for errors reading it.
    pub token_line: usize,
}

/// `[log] format`: how log lines are written to stderr.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `key=value` text, one event per line (journald adds its own timestamp).
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `fields`).
    Json,
}

/// The default log filter: info, with hickory's per-request logging kept at warn.
pub const DEFAULT_LOG_LEVEL: &str = "info,hickory_proto=warn,hickory_server=warn";

/// `[log]`: what is logged besides errors and reloads.
#[derive(Clone, Debug, PartialEq)]
pub struct LogSettings {
    /// The fraction of queries logged at info (resolver, client subnet, qname, qtype, rcode,
    /// region, answer); 0 = none.
    pub query_sample: f64,
    /// A `tracing` filter (`info`, `debug`, `info,gslbd::health=debug`); `RUST_LOG` wins.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings { query_sample: 0.0, level: DEFAULT_LOG_LEVEL.into(), format: LogFormat::Text }
    }
}

/// `[watch]`: reloading when a file of the config changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchSettings {
    /// A change is acted on once every changed file has been quiet (no write, no rename) this
    /// long, so a file written in several steps is read whole. Default 1 s (gdnsd's quiesce).
    pub quiet: Duration,
}

/// The longest `[watch] quiet_ms` accepted.
pub const MAX_WATCH_QUIET_MS: u64 = 60_000;

impl Default for WatchSettings {
    fn default() -> Self {
        WatchSettings { quiet: Duration::from_secs(1) }
    }
}

/// The operations sections of gslbd.toml: `[admin]`, `[log]` and `[watch]`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct OpsSettings {
    /// `None` without an `[admin]` section: no admin listener.
    pub admin: Option<AdminSettings>,
    pub log: LogSettings,
    pub watch: WatchSettings,
}

/// The parsed gslbd.toml.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub server: ServerSettings,
    pub zones: Vec<ZoneEntry>,
    /// Without it every client is "no location" and nearest pools answer from their default region.
    pub geoip: Option<GeoEntry>,
    pub ops: OpsSettings,
    /// `[cluster]`: `None` for a single node (no etcd).
    pub cluster: Option<ClusterSettings>,
}

/// Parses gslbd.toml `text` read from `path`.
pub fn parse_config(path: &Path, text: &str) -> Result<ConfigFile, Vec<ConfigError>> {
    let raw = raw_config(path, text)?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut errors = Vec::new();
    let at = |s: std::ops::Range<usize>| line_of(text, s.start);

    let mut listen = Vec::new();
    for l in raw.server.listen.get_ref() {
        match l.get_ref().parse::<SocketAddr>() {
            Ok(a) => listen.push(a),
            Err(_) => errors.push(ConfigError::new(
                path,
                at(l.span()),
                format!("listen: '{}' is not an address:port (IPv6 as [::1]:53)", l.get_ref()),
            )),
        }
    }
    if raw.server.listen.get_ref().is_empty() {
        errors.push(ConfigError::new(path, at(raw.server.listen.span()), "listen: at least one address is needed"));
    }
    let nsid = match raw.server.nsid {
        Some(n) if n.get_ref().is_empty() || n.get_ref().len() > 128 => {
            errors.push(ConfigError::new(path, at(n.span()), "nsid: must be 1 to 128 bytes"));
            None
        }
        Some(n) => Some(n.into_inner().into_bytes()),
        None => None,
    };
    let mut tcp = TcpLimits::default();
    let mut positive = |v: Option<Spanned<usize>>, name: &str, slot: &mut usize| {
        if let Some(v) = v {
            if *v.get_ref() == 0 {
                errors.push(ConfigError::new(path, at(v.span()), format!("tcp.{name}: must be at least 1")));
            } else {
                *slot = v.into_inner();
            }
        }
    };
    positive(raw.server.tcp.max_connections, "max_connections", &mut tcp.max_connections);
    positive(raw.server.tcp.max_connections_per_ip, "max_connections_per_ip", &mut tcp.max_connections_per_ip);
    positive(
        raw.server.tcp.max_queries_per_connection,
        "max_queries_per_connection",
        &mut tcp.max_queries_per_connection,
    );
    let mut udp_workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    positive(raw.server.udp_workers, "udp_workers", &mut udp_workers);
    let mut millis = |v: Option<Spanned<u64>>, name: &str, slot: &mut Duration| {
        if let Some(v) = v {
            if *v.get_ref() == 0 || *v.get_ref() > 3_600_000 {
                errors.push(ConfigError::new(path, at(v.span()), format!("tcp.{name}: must be 1 to 3600000 ms")));
            } else {
                *slot = Duration::from_millis(v.into_inner());
            }
        }
    };
    millis(raw.server.tcp.idle_timeout_ms, "idle_timeout_ms", &mut tcp.idle_timeout);
    millis(raw.server.tcp.max_lifetime_ms, "max_lifetime_ms", &mut tcp.max_lifetime);

    let mut health_startup_wait = Duration::from_secs(3);
    if let Some(w) = raw.server.health_startup_wait_ms {
        if *w.get_ref() > 60_000 {
            errors.push(ConfigError::new(path, at(w.span()), "health_startup_wait_ms: must be 0 to 60000 ms"));
        } else {
            health_startup_wait = Duration::from_millis(w.into_inner());
        }
    }
    let mut rrl = RrlSettings::default();
    let r = raw.server.rrl;
    if let Some(e) = r.enabled {
        rrl.enabled = e;
    }
    let mut within = |v: Option<Spanned<u64>>, name: &str, lo: u64, hi: u64| -> Option<u64> {
        let v = v?;
        if (lo..=hi).contains(v.get_ref()) {
            Some(v.into_inner())
        } else {
            errors.push(ConfigError::new(path, at(v.span()), format!("rrl.{name}: must be {lo} to {hi}")));
            None
        }
    };
    let widen = |v: Option<Spanned<u32>>| v.map(|s| Spanned::new(s.span(), *s.get_ref() as u64));
    let widen8 = |v: Option<Spanned<u8>>| v.map(|s| Spanned::new(s.span(), *s.get_ref() as u64));
    let rps_span = r.responses_per_second.as_ref().map(|s| s.span());
    if let Some(v) = within(widen(r.responses_per_second), "responses_per_second", 1, 100_000) {
        rrl.responses_per_second = v as u32;
    }
    if let Some(v) = within(widen(r.slip), "slip", 0, 10) {
        rrl.slip = v as u32;
    }
    if let Some(v) = within(widen(r.window), "window", 1, 60) {
        rrl.window = v as u32;
    }
    if let Some(v) = within(widen8(r.ipv4_prefix), "ipv4_prefix", 8, 32) {
        rrl.ipv4_prefix = v as u8;
    }
    if let Some(v) = within(widen8(r.ipv6_prefix), "ipv6_prefix", 16, 128) {
        rrl.ipv6_prefix = v as u8;
    }
    if let Some(v) =
        within(r.table_size.map(|s| Spanned::new(s.span(), *s.get_ref() as u64)), "table_size", 1024, 1 << 24)
    {
        rrl.table_size = v as usize;
    }
    if rrl.responses_per_second as u64 * rrl.window as u64 > MAX_RATE_TIMES_WINDOW {
        let line = rps_span.map(at).unwrap_or(0);
        errors.push(ConfigError::new(
            path,
            line,
            format!("rrl: responses_per_second × window must be at most {}", MAX_RATE_TIMES_WINDOW),
        ));
    }

    let state_dir = base.join(raw.server.state_dir.as_deref().unwrap_or(Path::new("state")));
    let mut zones: Vec<ZoneEntry> = Vec::new();
    for z in raw.zone {
        let line = at(z.origin.span());
        let origin = match Name::from_ascii(z.origin.get_ref()) {
            Ok(mut n) if !n.is_root() => {
                n.set_fqdn(true);
                n
            }
            Ok(_) => {
                errors.push(ConfigError::new(path, line, "zone origin: the root zone is not served"));
                continue;
            }
            Err(e) => {
                errors.push(ConfigError::new(path, line, format!("zone origin '{}': {e}", z.origin.get_ref())));
                continue;
            }
        };
        if let Some(dup) = zones.iter().find(|o| o.origin == origin) {
            errors.push(ConfigError::new(path, line, format!("zone {origin} is already defined on line {}", dup.line)));
            continue;
        }
        let signing_line = z.signing.as_ref().map(|s| at(s.span())).unwrap_or(line);
        let signing = match (z.signing.as_ref().map(|s| s.get_ref().as_str()), super::dnssec::enabled(&z.dnssec)) {
            (None, Some(true)) | (Some("online"), None | Some(true)) => Signing::Online,
            (None | Some("none"), None | Some(false)) => Signing::None,
            (Some("presigned"), None | Some(false)) => Signing::Presigned,
            (Some(mode @ ("none" | "presigned")), Some(true)) => {
                errors.push(ConfigError::new(
                    path,
                    signing_line,
                    format!(
                        "zone {origin}: signing = \"{mode}\" conflicts with [zone.dnssec] (which signs the zone online); \
                         use signing = \"online\", or set dnssec.enabled = false"
                    ),
                ));
                continue;
            }
            (Some("online"), Some(false)) => {
                errors.push(ConfigError::new(
                    path,
                    signing_line,
                    format!("zone {origin}: signing = \"online\" conflicts with dnssec.enabled = false"),
                ));
                continue;
            }
            (Some(other), _) => {
                errors.push(ConfigError::new(
                    path,
                    signing_line,
                    format!("zone {origin}: signing = \"{other}\": expected \"none\", \"presigned\" or \"online\""),
                ));
                continue;
            }
        };
        let dnssec = (signing == Signing::Online).then(|| {
            let raw = z.dnssec.unwrap_or_default();
            super::dnssec::parse(raw, path, line, &base, &state_dir, &at, &mut errors)
        });
        zones.push(ZoneEntry {
            origin,
            file: base.join(z.file.get_ref()),
            pools: z.pools.map(|p| base.join(p.get_ref())),
            signing,
            dnssec,
            line,
        });
    }
    if zones.is_empty() && errors.is_empty() {
        errors.push(ConfigError::new(path, 0, "no [[zone]] is configured"));
    }
    let cookies = parse_cookies(path, text, &base, raw.server.cookies, &mut errors);
    let tls = parse_tls(path, text, &base, raw.server.tls, &mut errors);
    let chaos = parse_chaos(path, text, raw.server.identity, raw.server.version, &mut errors);
    let mut ops = parse_ops(path, text, raw.admin, raw.log, &base, &mut errors);
    if let Some(q) = raw.watch.and_then(|w| w.quiet_ms) {
        if *q.get_ref() > MAX_WATCH_QUIET_MS {
            errors.push(ConfigError::new(
                path,
                at(q.span()),
                format!("watch.quiet_ms: must be 0 to {MAX_WATCH_QUIET_MS}"),
            ));
        } else {
            ops.watch.quiet = Duration::from_millis(q.into_inner());
        }
    }
    let probe_source = parse_probe_source(path, text, raw.server.probe_source, &mut errors);
    let cluster = raw.cluster.and_then(|c| parse_cluster(path, text, c, &base, &mut errors));
    let geoip = raw.geoip.map(|g| {
        let centroid = match &g.missing_coordinates {
            None => true,
            Some(m) => match m.get_ref().as_str() {
                "centroid" => true,
                "default-region" => false,
                other => {
                    errors.push(ConfigError::new(
                        path,
                        at(m.span()),
                        format!("geoip.missing_coordinates: '{other}' is not centroid or default-region"),
                    ));
                    true
                }
            },
        };
        let mut list = |v: Option<Spanned<OneOrMany>>, key: &str| -> (Vec<PathBuf>, usize) {
            let Some(v) = v else { return (Vec::new(), 0) };
            let line = at(v.span());
            let paths: Vec<PathBuf> = v.into_inner().into_vec().iter().map(|p| base.join(p)).collect();
            if paths.is_empty() {
                errors.push(ConfigError::new(path, line, format!("geoip.{key}: the list is empty")));
            }
            (paths, line)
        };
        let (databases, line) = list(g.database, "database");
        let (asn_databases, asn_line) = list(g.asn_database, "asn_database");
        if databases.is_empty() && asn_databases.is_empty() && line == 0 && asn_line == 0 {
            errors.push(ConfigError::new(path, 0, "[geoip]: give a database, an asn_database or both"));
        }
        GeoEntry { databases, line, centroid, asn_databases, asn_line }
    });
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ConfigFile {
        path: path.to_path_buf(),
        server: ServerSettings {
            listen,
            nsid,
            tcp,
            rrl,
            udp_workers,
            health_startup_wait,
            probe_source,
            cookies,
            tls,
            chaos,
            state_dir,
        },
        zones,
        geoip,
        ops,
        cluster,
    })
}

/// The default admin listener: loopback only.
pub const DEFAULT_ADMIN_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8053);

fn parse_ops(
    path: &Path,
    text: &str,
    admin: Option<RawAdmin>,
    log: Option<RawLog>,
    base: &Path,
    errors: &mut Vec<ConfigError>,
) -> OpsSettings {
    let at = |s: std::ops::Range<usize>| line_of(text, s.start);
    let admin = admin.and_then(|a| {
        let listen = match &a.listen {
            None => DEFAULT_ADMIN_LISTEN,
            Some(l) => match l.get_ref().parse::<SocketAddr>() {
                Ok(addr) => addr,
                Err(_) => {
                    errors.push(ConfigError::new(
                        path,
                        at(l.span()),
                        format!("admin.listen: '{}' is not an address:port", l.get_ref()),
                    ));
                    return None;
                }
            },
        };
        if !listen.ip().is_loopback() && a.token_file.is_none() {
            let line = a.listen.as_ref().map(|l| at(l.span())).unwrap_or(0);
            errors.push(ConfigError::new(
                path,
                line,
                format!("admin.listen: {listen} is not loopback; a token_file is required"),
            ));
            return None;
        }
        let token_line = a.token_file.as_ref().map(|t| at(t.span())).unwrap_or(0);
        let state_file = match &a.state_file {
            Some(p) => base.join(p.get_ref()),
            // systemd's StateDirectory= (the shipped unit) names a writable directory.
            None => match std::env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
                Some(dirs) => {
                    let first = dirs.to_string_lossy().split(':').next().unwrap_or_default().to_string();
                    PathBuf::from(first).join("gslbd.state")
                }
                None => base.join("gslbd.state"),
            },
        };
        Some(AdminSettings { listen, token_file: a.token_file.map(|t| base.join(t.get_ref())), state_file, token_line })
    });
    let mut settings = LogSettings::default();
    let (query_sample, level, format) = match log {
        Some(l) => (l.query_sample, l.level, l.format),
        None => (None, None, None),
    };
    if let Some(q) = query_sample {
        if (0.0..=1.0).contains(q.get_ref()) {
            settings.query_sample = *q.get_ref();
        } else {
            errors.push(ConfigError::new(path, at(q.span()), "log.query_sample: must be from 0 to 1"));
        }
    }
    if let Some(l) = level {
        match tracing_subscriber::EnvFilter::try_new(l.get_ref()) {
            Ok(_) => settings.level = l.into_inner(),
            Err(e) => errors.push(ConfigError::new(
                path,
                at(l.span()),
                format!(
                    "log.level: '{}' is not a log filter (like \"info\" or \"info,gslbd::health=debug\"): {e}",
                    l.get_ref()
                ),
            )),
        }
    }
    if let Some(f) = format {
        match f.get_ref().as_str() {
            "text" => settings.format = LogFormat::Text,
            "json" => settings.format = LogFormat::Json,
            other => {
                errors.push(ConfigError::new(path, at(f.span()), format!("log.format: '{other}' is not text or json")))
            }
        }
    }
    OpsSettings { admin, log: settings, watch: WatchSettings::default() }
}
