//! Configuration: gslbd.toml and the zone and pool files it names, compiled into one
//! validated, immutable [`Snapshot`]. Every problem is reported with its file and line,
//! and all of them are collected before the load fails.
//!
//! ```text
//! gslbd.toml ─parse_config─► ConfigFile ─build─┬─ zone files ─zone::load_zone─► Zone
//!                                              ├─ pool files ─load_pools─► Pools ─link_pools─► Zone with pooled nodes
//!                                              ├─ GeoIP database ─GeoDb::open
//!                                              ├─ cookie secret, TLS certificate and key
//!                                              └─ admin token file
//!                                                    ▼
//!                                  Snapshot { server, zones: ZoneSet, geo, ops, admin_token }
//! ```
//!
//! A reload builds a new snapshot beside the one serving and swaps it in; a snapshot
//! that fails to build is never seen by the query path. Nothing in a snapshot changes after
//! it is built: the live state (health, load, overrides, counters) lives beside it, in the
//! serving state.
mod certs;
mod extras;
mod file;
mod link;
mod pools;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::diag::{ConfigError, ConfigErrors, line_of};
pub use file::{
    AdminSettings, ConfigFile, DEFAULT_ADMIN_LISTEN, GeoEntry, LogSettings, MAX_RATE_TIMES_WINDOW, OpsSettings,
    RrlSettings, ServerSettings, TcpLimits, ZoneEntry, parse_config,
};

pub use certs::load_certified_key;
pub use extras::{Chaos, CookieSettings, TlsSettings};
pub use link::link_pools;
pub use pools::load_pools;

use crate::cookie::{Policy, SecretFile, Secrets, read_secret_file};
use crate::geo::GeoDb;
use crate::zone::{Chaos as ChaosRecords, ZoneSet, load_zone};

/// Everything the query path reads, built once per (re)load and never mutated.
pub struct Snapshot {
    pub config_path: PathBuf,
    pub server: ServerSettings,
    pub zones: ZoneSet,
    /// The GeoIP database, if configured.
    pub geo: Option<GeoDb>,
    /// `[admin]` and `[log]`.
    pub ops: OpsSettings,
    /// The admin bearer token, read from `admin.token_file` at this load.
    pub admin_token: Option<AdminToken>,
    /// DNS cookies, with the secret read at this load (`[server.cookies]`).
    pub cookies: Option<Cookies>,
    /// The DNS over TLS certificate read at this load (`[server.tls]`).
    pub tls_key: Option<Arc<rustls::sign::CertifiedKey>>,
    /// The CHAOS TXT answers (`identity`, `version`).
    pub chaos: ChaosRecords,
}

/// DNS cookies in force: the secrets (carried across reloads for rotation overlap, see
/// [`Snapshot::carry_cookie_secrets`]) and the UDP policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookies {
    pub file: SecretFile,
    pub secrets: Secrets,
    pub policy: Policy,
}

impl Snapshot {
    /// After a reload: a current secret that the new file dropped stays accepted for an hour
    /// (RFC 9018 §5), counted from `now` (UNIX seconds).
    pub fn carry_cookie_secrets(&mut self, old: &Snapshot, now: u32) {
        if let (Some(new), Some(old)) = (self.cookies.as_mut(), old.cookies.as_ref()) {
            new.secrets = old.secrets.reload(new.file, now);
        }
    }
}

/// A bearer token; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(pub String);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("config_path", &self.config_path)
            .field("zones", &self.zones.zones().len())
            .field("geo", &self.geo.as_ref().map(|g| g.description()))
            .finish()
    }
}

/// Reads gslbd.toml at `path` and every file it names, and builds a snapshot.
pub fn load(path: &Path) -> Result<Snapshot, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigErrors(vec![ConfigError::new(path, 0, format!("cannot read config: {e}"))]))?;
    let file = parse_config(path, &text).map_err(ConfigErrors)?;
    build(file)
}

/// Builds a snapshot from a parsed config file, loading its zones.
pub fn build(file: ConfigFile) -> Result<Snapshot, ConfigErrors> {
    let mut errors = Vec::new();
    let mut zones = Vec::new();
    for z in &file.zones {
        let mut zone = match load_zone(&z.origin, &z.file) {
            Ok(zone) => zone,
            Err(e) => {
                errors.extend(e);
                continue;
            }
        };
        if let Some(pool_path) = &z.pools {
            let text = match std::fs::read_to_string(pool_path) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(ConfigError::new(pool_path, 0, format!("cannot read pool file: {e}")));
                    continue;
                }
            };
            match load_pools(pool_path, &text, &z.origin) {
                Ok(pools) => {
                    if let Err(e) = link_pools(&mut zone, pools, pool_path, &text) {
                        errors.extend(e);
                    }
                }
                Err(e) => errors.extend(e),
            }
        }
        zones.push(zone);
    }
    let geo = file.geoip.as_ref().and_then(|g| open_geo(&file.path, g, &mut errors));
    let admin_token = read_admin_token(&file, &mut errors);
    let cookies = file.server.cookies.as_ref().and_then(|c| match read_secret_file(&c.secret_file) {
        Ok(f) => Some(Cookies { file: f, secrets: Secrets::new(f), policy: Policy { require_on_udp: c.require } }),
        Err(e) => {
            match e.line {
                Some(l) => errors.push(ConfigError::new(&e.path, l, format!("cookie secret: {}", e.problem))),
                None => errors.push(ConfigError::new(&file.path, c.line, format!("cookies.secret_file: {e}"))),
            }
            None
        }
    });
    let tls_key = file.server.tls.as_ref().and_then(|t| match load_certified_key(&t.certificate, &t.key) {
        Ok(k) => Some(k),
        Err(e) => {
            errors.push(ConfigError::new(&file.path, t.line, format!("tls: {e}")));
            None
        }
    });
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let chaos = ChaosRecords::new(file.server.chaos.identity.as_deref(), file.server.chaos.version.as_deref());
    Ok(Snapshot {
        config_path: file.path,
        server: file.server,
        zones: ZoneSet::new(zones),
        geo,
        ops: file.ops,
        admin_token,
        cookies,
        tls_key,
        chaos,
    })
}

/// The location databases chained in order, with the ASN databases after them.
fn open_geo(config: &Path, g: &GeoEntry, errors: &mut Vec<ConfigError>) -> Option<GeoDb> {
    let before = errors.len();
    let mut dbs = Vec::new();
    for p in &g.databases {
        match GeoDb::open(p) {
            Ok(db) => dbs.push(db),
            Err(e) => errors.push(ConfigError::new(config, g.line, format!("geoip.database: {e}"))),
        }
    }
    let mut geo = GeoDb::chain(dbs);
    for p in &g.asn_databases {
        if let Err(e) = geo.add_asn_file(p) {
            errors.push(ConfigError::new(config, g.asn_line, format!("geoip.asn_database: {e}")));
        }
    }
    (errors.len() == before).then_some(geo)
}

fn read_admin_token(file: &ConfigFile, errors: &mut Vec<ConfigError>) -> Option<AdminToken> {
    let admin = file.ops.admin.as_ref()?;
    let path = admin.token_file.as_ref()?;
    match std::fs::read_to_string(path) {
        Ok(t) if !t.trim().is_empty() => Some(AdminToken(t.trim().to_string())),
        Ok(_) => {
            errors.push(ConfigError::new(
                &file.path,
                admin.token_line,
                format!("admin.token_file: {} is empty", path.display()),
            ));
            None
        }
        Err(e) => {
            errors.push(ConfigError::new(
                &file.path,
                admin.token_line,
                format!("admin.token_file: cannot read {}: {e}", path.display()),
            ));
            None
        }
    }
}
