//! Compiling the config with the runtime changes on top of the files, as every (re)load does,
//! and checking a proposed change the same way before it is taken.
//!
//! ```text
//! files + all edits ─load_with─► ok: the snapshot
//!                    └ errors ─► files alone fail: the files' errors (the reload fails as usual)
//!                              └ files alone load: add the edits one by one, oldest first; an
//!                                edit that does not compile is left out and reported
//! ```
//! So a change that some node cannot apply (its files differ) never blocks that node's reloads:
//! it is listed as not applied there, with the compiler's errors.
use std::collections::BTreeMap;
use std::path::Path;

use super::changes::{ChangeKey, ChangeRecord, ChangeSet, Setting};
use crate::config::{self, ConfigErrors, Snapshot};

/// A compiled config and the pool-file edits that were left out.
pub struct Compiled {
    pub snapshot: Snapshot,
    pub not_applied: BTreeMap<ChangeKey, String>,
}

/// Loads the config at `path` with `set`'s pool-file edits (see the module docs).
pub fn compile_changes(path: &Path, set: &ChangeSet) -> Result<Compiled, ConfigErrors> {
    let records = set.config_records();
    let all = config::load_with(path, &ChangeSet::overlay_of(records.iter().copied()));
    let first = match all {
        Ok(snapshot) => return Ok(Compiled { snapshot, not_applied: BTreeMap::new() }),
        Err(e) if records.is_empty() => return Err(e),
        Err(e) => e,
    };
    let mut snapshot = config::load(path)?;
    tracing::warn!(errors = %first, "runtime changes do not all compile; applying them one by one");
    let mut kept: Vec<&ChangeRecord> = Vec::new();
    let mut not_applied = BTreeMap::new();
    for r in records {
        kept.push(r);
        match config::load_with(path, &ChangeSet::overlay_of(kept.iter().copied())) {
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
/// changes in `set` that this node applies (`not_applied` left out). An override only needs
/// its target to exist, which the caller checks against the serving snapshot.
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
    config::load_with(path, &ChangeSet::overlay_of(records)).map(|_| ())
}
