//! Configuration: gslbd.toml and the zone and pool files it names, compiled into one
//! validated, immutable [`Snapshot`]. Every problem is reported with its file and line,
//! and all of them are collected.
//!
//! Problems of one zone (its zone file or its pool file) stay with that zone: the snapshot is
//! built without it, the zone is answered with SERVFAIL, and [`ZoneSet::problems`] lists its
//! errors; when a previous snapshot served the zone, its previous version is kept instead
//! (as Knot keeps a zone whose reload fails). Problems of the config as a whole (gslbd.toml
//! itself, the GeoIP database, the admin token), or no zone loaded at all, fail the load.
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
mod dnssec;
mod file;
mod link;
mod pools;

use std::path::{Path, PathBuf};

pub use crate::diag::{ConfigError, ConfigErrors, line_of};
pub use file::{
    AdminSettings, ConfigFile, DEFAULT_ADMIN_LISTEN, GeoEntry, LogSettings, MAX_RATE_TIMES_WINDOW, OpsSettings,
    RrlSettings, ServerSettings, TcpLimits, ZoneEntry, parse_config,
};

pub use dnssec::{DnssecSettings, KeyAccess, zone_keys};
pub use link::link_pools;
pub use pools::load_pools;

use std::sync::Arc;

use crate::geo::GeoDb;
use crate::zone::{Zone, ZoneProblem, ZoneSet, load_zone_with};

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

/// Reads gslbd.toml at `path` and every file it names, and builds a snapshot. Zones signed
/// online get their keys (made the first time) and signatures.
pub fn load(path: &Path) -> Result<Snapshot, ConfigErrors> {
    load_after(path, None)
}

/// [`load`] as a reload: a zone whose files now have errors keeps its version in `previous`,
/// and an online-signed zone keeps the signatures of its previous version that still serve.
pub fn load_after(path: &Path, previous: Option<&Snapshot>) -> Result<Snapshot, ConfigErrors> {
    load_with(path, previous, KeyAccess::Manage)
}

/// [`load_after`] with the key directories treated as `keys` says (`gslbd check` reads them only).
pub fn load_with(path: &Path, previous: Option<&Snapshot>, keys: KeyAccess) -> Result<Snapshot, ConfigErrors> {
    load_at(path, previous, keys, crate::util::clock::unix_now())
}

/// [`load_with`] as if the clock said `now` (Unix seconds): what signatures are made or kept
/// and which keys sign depend on it (tests move it forward).
pub fn load_at(path: &Path, previous: Option<&Snapshot>, keys: KeyAccess, now: u64) -> Result<Snapshot, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigErrors(vec![ConfigError::new(path, 0, format!("cannot read config: {e}"))]))?;
    let file = parse_config(path, &text).map_err(ConfigErrors)?;
    build_with(file, previous, keys, now)
}

/// Builds a snapshot from a parsed config file, loading its zones.
pub fn build(file: ConfigFile) -> Result<Snapshot, ConfigErrors> {
    build_after(file, None)
}

/// [`build`], keeping from `previous` each zone that now fails to load.
pub fn build_after(file: ConfigFile, previous: Option<&Snapshot>) -> Result<Snapshot, ConfigErrors> {
    build_with(file, previous, KeyAccess::Manage, crate::util::clock::unix_now())
}

fn build_with(
    file: ConfigFile,
    previous: Option<&Snapshot>,
    keys: KeyAccess,
    now: u64,
) -> Result<Snapshot, ConfigErrors> {
    let mut zones = Vec::new();
    let mut problems = Vec::new();
    for z in &file.zones {
        let before = previous.and_then(|p| p.zones.get(&z.origin));
        match load_entry(z, before.map(|a| &**a), now, keys) {
            Ok(zone) => zones.push(Arc::new(zone)),
            Err(errors) => {
                // The previous version keeps serving, signed again if its signatures are due.
                let kept = before.map(|k| resign_kept(k, z, now, keys));
                problems.push(ZoneProblem { origin: z.origin.clone(), errors, serving_previous: kept.is_some() });
                zones.extend(kept);
            }
        }
    }
    let mut errors = Vec::new();
    let geo = match &file.geoip {
        Some(g) => match GeoDb::open(&g.database) {
            Ok(db) => Some(db),
            Err(e) => {
                errors.push(ConfigError::new(&file.path, g.line, format!("geoip.database: {e}")));
                None
            }
        },
        None => None,
    };
    let admin_token = read_admin_token(&file, &mut errors);
    if !errors.is_empty() || zones.is_empty() {
        // Every zone error is reported too, so one run shows everything to fix.
        errors.extend(problems.into_iter().flat_map(|p| p.errors));
        return Err(ConfigErrors(errors));
    }
    Ok(Snapshot {
        config_path: file.path,
        server: file.server,
        zones: ZoneSet::with_problems(zones, problems),
        geo,
        ops: file.ops,
        admin_token,
    })
}

/// One zone entry: its zone file, then its pool file linked in, then, signed online, its
/// keys and signatures. Any error fails the zone.
fn load_entry(z: &ZoneEntry, previous: Option<&Zone>, now: u64, keys: KeyAccess) -> Result<Zone, Vec<ConfigError>> {
    let mut zone = load_zone_with(&z.origin, &z.file, z.signing)?;
    if let Some(pool_path) = &z.pools {
        let text = std::fs::read_to_string(pool_path)
            .map_err(|e| vec![ConfigError::new(pool_path, 0, format!("cannot read pool file: {e}"))])?;
        let pools = load_pools(pool_path, &text, &z.origin)?;
        link_pools(&mut zone, pools, pool_path, &text)?;
    }
    if let Some(settings) = &z.dnssec {
        dnssec::sign(&mut zone, settings, previous, now, keys)?;
    }
    Ok(zone)
}

/// A zone kept from the previous snapshot because its files now have errors: as it was, or,
/// signed online and due (a signature to refresh, a key changing state), signed again from
/// itself so that its signatures never run out while the files are being fixed.
fn resign_kept(kept: &Arc<Zone>, z: &ZoneEntry, now: u64, keys: KeyAccess) -> Arc<Zone> {
    let (Some(settings), KeyAccess::Manage) = (&z.dnssec, keys) else { return kept.clone() };
    if kept.signer.as_deref().and_then(|s| s.next_due()).is_none_or(|due| due > now) {
        return kept.clone();
    }
    let mut copy = (**kept).clone();
    match dnssec::sign(&mut copy, settings, Some(kept), now, keys) {
        Ok(()) => Arc::new(copy),
        Err(errors) => {
            for e in errors {
                tracing::error!(file = %e.file.display(), line = e.line, error = %e.message, "cannot sign the kept version of a zone again");
            }
            kept.clone()
        }
    }
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
