//! gslbd.toml: the server settings and the list of zones, parsed with serde
//! (`deny_unknown_fields`) and then checked, every problem with its line.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::rr::Name;
use serde::Deserialize;
use toml::Spanned;

use super::dnssec::{DnssecSettings, RawDnssec};
use crate::diag::{ConfigError, line_of};
use crate::zone::Signing;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    server: RawServer,
    #[serde(default)]
    zone: Vec<RawZone>,
    geoip: Option<RawGeo>,
    admin: Option<RawAdmin>,
    log: Option<RawLog>,
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGeo {
    database: Spanned<PathBuf>,
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

/// The GeoIP database to open, and the line that names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeoEntry {
    pub database: PathBuf,
    pub line: usize,
}

/// `[admin]`: the HTTP API (status, explain, drain/force, reload, metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminSettings {
    /// Default 127.0.0.1:8053. Not on loopback only with a `token_file`.
    pub listen: SocketAddr,
    /// The bearer token that mutating calls must present; read at every (re)load.
    pub token_file: Option<PathBuf>,
    /// Where drain/force overrides are kept so they survive a restart (default `gslbd.state`
    /// beside gslbd.toml); rewritten atomically on every change.
    pub state_file: PathBuf,
    /// The line of `token_file`, for errors reading it.
    pub token_line: usize,
}

/// `[log]`: what is logged besides errors and reloads.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LogSettings {
    /// The fraction of queries logged at info (client, qname, qtype, rcode, region); 0 = none.
    pub query_sample: f64,
}

/// The operations sections of gslbd.toml: `[admin]` and `[log]`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct OpsSettings {
    /// `None` without an `[admin]` section: no admin listener.
    pub admin: Option<AdminSettings>,
    pub log: LogSettings,
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
}

/// Parses gslbd.toml `text` read from `path`.
pub fn parse_config(path: &Path, text: &str) -> Result<ConfigFile, Vec<ConfigError>> {
    let raw: RawConfig = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
            return Err(vec![ConfigError::new(path, line, e.message().trim().to_string())]);
        }
    };
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
    let ops = parse_ops(path, text, raw.admin, raw.log, &base, &mut errors);
    let geoip = raw.geoip.map(|g| GeoEntry { line: at(g.database.span()), database: base.join(g.database.get_ref()) });
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ConfigFile {
        path: path.to_path_buf(),
        server: ServerSettings { listen, nsid, tcp, rrl, udp_workers, health_startup_wait, state_dir },
        zones,
        geoip,
        ops,
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
        let state_file = base
            .join(a.state_file.as_ref().map(|p| p.get_ref().clone()).unwrap_or_else(|| PathBuf::from("gslbd.state")));
        Some(AdminSettings { listen, token_file: a.token_file.map(|t| base.join(t.get_ref())), state_file, token_line })
    });
    let mut query_sample = 0.0;
    if let Some(q) = log.and_then(|l| l.query_sample) {
        if (0.0..=1.0).contains(q.get_ref()) {
            query_sample = *q.get_ref();
        } else {
            errors.push(ConfigError::new(path, at(q.span()), "log.query_sample: must be from 0 to 1"));
        }
    }
    OpsSettings { admin, log: LogSettings { query_sample } }
}
