//! Configuration: gslbd.toml and the zone and pool files it names, compiled into one
//! validated, immutable [`Snapshot`]. Every problem is reported with its file and line,
//! and all of them are collected before the load fails.
//!
//! A reload builds a new snapshot beside the one serving and swaps it in; a snapshot
//! that fails to build is never seen by the query path.
mod error;
mod file;

use std::path::{Path, PathBuf};

pub use error::{line_of, ConfigError, ConfigErrors};
pub use file::{parse_config, ConfigFile, RrlSettings, ServerSettings, TcpLimits, ZoneEntry};

use crate::zone::{load_zone, ZoneSet};

/// Everything the query path reads, built once per (re)load and never mutated.
#[derive(Debug)]
pub struct Snapshot {
    pub config_path: PathBuf,
    pub server: ServerSettings,
    pub zones: ZoneSet,
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
        match load_zone(&z.origin, &z.file) {
            Ok(zone) => zones.push(zone),
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(Snapshot { config_path: file.path, server: file.server, zones: ZoneSet::new(zones) })
}
