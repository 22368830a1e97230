//! Configuration: gslbd.toml and the zone and pool files it names, compiled into one
//! validated, immutable [`Snapshot`]. Every problem is reported with its file and line,
//! and all of them are collected before the load fails.
//!
//! ```text
//! gslbd.toml ─parse_config─► ConfigFile ─build─┬─ zone files ─zone::load_zone─► Zone
//!                                              ├─ pool files ─load_pools─► Pools ─link_pools─► Zone with pooled nodes
//!                                              ├─ GeoIP database ─GeoDb::open
//!                                              └─ admin token file
//!                                                    ▼
//!                                  Snapshot { server, zones: ZoneSet, geo, ops, admin_token }
//! ```
//!
//! A reload builds a new snapshot beside the one serving and swaps it in; a snapshot
//! that fails to build is never seen by the query path. Nothing in a snapshot changes after
//! it is built: the live state (health, load, overrides, counters) lives beside it, in the
//! serving state.
mod file;
mod link;
mod pools;
mod serial;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::diag::{ConfigError, ConfigErrors, line_of};
pub use file::{
    AdminSettings, ConfigFile, DEFAULT_ADMIN_LISTEN, GeoEntry, LogSettings, MAX_RATE_TIMES_WINDOW, OpsSettings,
    RrlSettings, ServerSettings, TcpLimits, WatchSettings, ZoneEntry, parse_config,
};

pub use link::link_pools;
pub use pools::load_pools;
pub use serial::check_serials;

use crate::geo::GeoDb;
use crate::zone::{ZoneSet, load_zone};

/// Everything the query path reads, built once per (re)load and never mutated.
pub struct Snapshot {
    pub config_path: PathBuf,
    pub server: ServerSettings,
    pub zones: ZoneSet,
    /// The GeoIP database, if configured (shared with the snapshot before it when a reload
    /// found the same file).
    pub geo: Option<Arc<GeoDb>>,
    /// `[admin]` and `[log]`.
    pub ops: OpsSettings,
    /// The admin bearer token, read from `admin.token_file` at this load.
    pub admin_token: Option<AdminToken>,
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
    reload(path, None)
}

/// [`load`] beside the snapshot serving now: a GeoIP file with the same bytes as the serving
/// database is not read into memory a second time (see `GeoDb::reopen`).
pub fn reload(path: &Path, serving: Option<&Snapshot>) -> Result<Snapshot, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigErrors(vec![ConfigError::new(path, 0, format!("cannot read config: {e}"))]))?;
    let file = parse_config(path, &text).map_err(ConfigErrors)?;
    build_beside(file, serving)
}

/// Builds a snapshot from a parsed config file, loading its zones.
pub fn build(file: ConfigFile) -> Result<Snapshot, ConfigErrors> {
    build_beside(file, None)
}

fn build_beside(file: ConfigFile, serving: Option<&Snapshot>) -> Result<Snapshot, ConfigErrors> {
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
    let geo = match &file.geoip {
        Some(g) => match GeoDb::reopen(&g.database, serving.and_then(|s| s.geo.as_ref())) {
            Ok(db) => Some(db),
            Err(e) => {
                errors.push(ConfigError::new(&file.path, g.line, format!("geoip.database: {e}")));
                None
            }
        },
        None => None,
    };
    let admin_token = read_admin_token(&file, &mut errors);
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(Snapshot {
        config_path: file.path,
        server: file.server,
        zones: ZoneSet::new(zones),
        geo,
        ops: file.ops,
        admin_token,
    })
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
