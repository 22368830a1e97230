//! Compiling the config with the runtime changes on top of the files, as every (re)load does,
//! and checking a proposed change the same way before it is taken.
//!
//! ```text
//! files + all edits ─load_after_with─► ok, no edited zone with errors: the snapshot
//!                    └ errors, or an edited zone with errors ─► files alone fail as a whole: the
//!                      files' errors (the reload fails as usual)
//!                              └ files alone load: add the edits one by one, oldest first; an
//!                                edit that fails the load or changes the zones' errors (it does
//!                                not compile in its zone's pool file) is left out and reported
//! ```
//! So a change that some node cannot apply (its files differ) never blocks that node's reloads,
//! nor takes its zone out of service: it is listed as not applied there, with the compiler's
//! errors. A zone whose files have errors (without any change) is that zone's problem, as
//! without runtime changes: it keeps its version in `previous`, or is not served.
use std::collections::BTreeMap;
use std::path::Path;

use super::changes::{ChangeKey, ChangeRecord, ChangeSet, Setting};
use crate::config::{self, ConfigError, ConfigErrors, Snapshot};

/// A compiled config and the pool-file edits that were left out.
pub struct Compiled {
    pub snapshot: Snapshot,
    pub not_applied: BTreeMap<ChangeKey, String>,
}

/// Loads the config at `path` with `set`'s pool-file edits (see the module docs); a zone whose
/// files have errors keeps its version in `previous` (the serving snapshot, on a reload).
pub fn compile_changes(path: &Path, set: &ChangeSet, previous: Option<&Snapshot>) -> Result<Compiled, ConfigErrors> {
    let records = set.config_records();
    if records.is_empty() {
        return config::load_after(path, previous).map(|snapshot| Compiled { snapshot, not_applied: BTreeMap::new() });
    }
    let first = match config::load_after_with(path, previous, &ChangeSet::overlay_of(records.iter().copied())) {
        Ok(snapshot) if !records.iter().any(|r| zone_errors_of(&snapshot, &r.key.target.zone).is_some()) => {
            return Ok(Compiled { snapshot, not_applied: BTreeMap::new() });
        }
        Ok(snapshot) => ConfigErrors(zone_errors(&snapshot)),
        Err(e) => e,
    };
    let mut snapshot = config::load_after(path, previous)?;
    let files_alone = zone_errors(&snapshot);
    tracing::warn!(errors = %first, "runtime changes do not all compile; applying them one by one");
    let mut kept: Vec<&ChangeRecord> = Vec::new();
    let mut not_applied = BTreeMap::new();
    for r in records {
        kept.push(r);
        let result =
            config::load_after_with(path, previous, &ChangeSet::overlay_of(kept.iter().copied())).and_then(|s| {
                match new_errors(&files_alone, zone_errors(&s)) {
                    e if e.is_empty() => Ok(s),
                    e => Err(ConfigErrors(e)),
                }
            });
        match result {
            Ok(s) => snapshot = s,
            Err(e) => {
                kept.pop();
                tracing::error!(change = %r.key, revision = r.revision, errors = %e, "runtime change not applied on this node");
                not_applied.insert(r.key.clone(), e.to_string());
            }
        }
    }
    Ok(Compiled { snapshot, not_applied })
}

/// Checks that the config still compiles with `key` set to `value` (or cleared), on top of the
/// changes in `set` that this node applies (`not_applied` left out): the load must succeed and
/// the change's zone load without errors. An override only needs its target to exist, which
/// the caller checks against the serving snapshot.
pub fn check_change(
    path: &Path,
    set: &ChangeSet,
    not_applied: &BTreeMap<ChangeKey, String>,
    candidate: &ChangeRecord,
    clear: bool,
) -> Result<(), ConfigErrors> {
    if candidate.key.setting == Setting::Override {
        return Ok(());
    }
    let mut records: Vec<&ChangeRecord> = set
        .config_records()
        .into_iter()
        .filter(|r| r.key != candidate.key && !not_applied.contains_key(&r.key))
        .collect();
    if !clear {
        records.push(candidate);
    }
    let snapshot = config::load_with(path, &ChangeSet::overlay_of(records))?;
    // Clearing a change returns the zone to its files: broken files are no reason to refuse it.
    match zone_errors_of(&snapshot, &candidate.key.target.zone) {
        Some(errors) if !clear => Err(ConfigErrors(errors.to_vec())),
        _ => Ok(()),
    }
}

/// The errors of the zone named `zone` (as a change names it) if it did not load.
fn zone_errors_of<'a>(snapshot: &'a Snapshot, zone: &str) -> Option<&'a [ConfigError]> {
    snapshot.zones.problems().iter().find(|p| p.origin.to_string().eq_ignore_ascii_case(zone)).map(|p| &p.errors[..])
}

/// Every error of the zones that did not load.
fn zone_errors(snapshot: &Snapshot) -> Vec<ConfigError> {
    snapshot.zones.problems().iter().flat_map(|p| p.errors.iter().cloned()).collect()
}

/// The errors in `now` that `before` did not have.
fn new_errors(before: &[ConfigError], now: Vec<ConfigError>) -> Vec<ConfigError> {
    now.into_iter().filter(|e| !before.contains(e)).collect()
}
