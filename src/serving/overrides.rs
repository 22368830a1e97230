//! Admin overrides: drain a member or a region, or force it up or down, by *name*, so that
//! an override outlives reloads (ids move when a pool file is edited; names do not).
//!
//! ```text
//! POST /members/.../drain ──► Overrides::set_override(target, Drain)
//!                                 │ name-keyed table (survives reloads)
//!                                 ▼
//!        LiveState override codes of the serving snapshot (by member id, read per query)
//! ```
//!
//! This is gslbd's one override system: the HTTP API talks to the [`Overrides`] trait, and
//! [`OverrideTable`] makes overrides effective by writing a code per member into the serving
//! state's live part, which [`super::LiveHealth`] reads before the probes' view. The table is
//! kept in the state file (JSON, replaced durably on every change), so overrides survive a
//! restart.
//!
//! The table holds every runtime change ([`ChangeSet`]): overrides, and the pool-file edits
//! (weights, members) that the reloader compiles on top of the files. On a single node a change
//! is committed here ([`OverrideTable::commit`], with its `If-Match` check and a local revision
//! counter); in a fleet the set comes from etcd ([`OverrideTable::replace`]) and the state file
//! keeps the last set seen, so a node restarted while etcd is away serves the same changes.
//! Every applied change goes to the audit log ([`AuditLog`]).
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::audit::{AuditEntry, AuditLog};
use super::changes::{ChangeKey, ChangeRecord, ChangeSet, Setting};
use super::{Serving, Shared};
use crate::pool::{Content, MemberId};
use crate::util::clock::{rfc3339, unix_now};
use crate::util::fs::write_atomic;
use crate::util::lock;

/// What an operator imposes on a member or a region.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Override {
    /// Considered up whatever the pool file or the probes say.
    ForceUp,
    /// Considered down (failed) whatever the pool file or the probes say.
    ForceDown,
    /// Taken out of rotation on purpose (maintenance): down for steering, shown as drained.
    Drain,
    /// No override: the pool file (and, later, the probes) decide.
    None,
}

impl Override {
    pub(crate) fn code(self) -> u8 {
        match self {
            Override::None => 0,
            Override::Drain => 1,
            Override::ForceDown => 2,
            Override::ForceUp => 3,
        }
    }
    pub(crate) fn from_code(c: u8) -> Override {
        match c {
            1 => Override::Drain,
            2 => Override::ForceDown,
            3 => Override::ForceUp,
            _ => Override::None,
        }
    }
    /// The value a change record stores for it (`None` for no override).
    pub fn action(self) -> Option<&'static str> {
        match self {
            Override::Drain => Some("drain"),
            Override::ForceUp => Some("force-up"),
            Override::ForceDown => Some("force-down"),
            Override::None => None,
        }
    }
    /// The API's action name → override: drain, undrain, force-up, force-down, clear.
    pub fn from_action(action: &str) -> Option<Override> {
        match action {
            "drain" => Some(Override::Drain),
            "undrain" | "clear" => Some(Override::None),
            "force-up" => Some(Override::ForceUp),
            "force-down" => Some(Override::ForceDown),
            _ => None,
        }
    }
}

/// What an override applies to, by names: zone origin (lower case, with the final dot),
/// pool, region and, for a member, its address or CNAME target as the pool file shows it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
pub struct OverrideTarget {
    pub zone: String,
    pub pool: String,
    pub region: String,
    /// `None`: the whole region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
}

/// One override in force.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct OverrideEntry {
    #[serde(flatten)]
    pub target: OverrideTarget,
    #[serde(rename = "override")]
    pub value: Override,
}

/// The control surface the admin API uses. Targets are checked against the serving snapshot
/// by the caller (unknown names are a 404 there), so implementations may trust them.
pub trait Overrides: Send + Sync {
    /// Sets (or, with [`Override::None`], clears) the override of a member or a region.
    fn set_override(&self, target: OverrideTarget, value: Override);
    /// Every override in force, in name order.
    fn list(&self) -> Vec<OverrideEntry>;
}

/// The in-process override table: name-keyed, and written through to the serving
/// snapshot's per-member codes. A member override wins over its region's.
pub struct OverrideTable {
    shared: Shared<Serving>,
    /// The changes; the lock also serialises publishing a reloaded snapshot (see [`Self::publish`]).
    table: Mutex<Table>,
    /// The state file the table is kept in, so changes survive a restart.
    state_file: Option<PathBuf>,
    audit: AuditLog,
}

#[derive(Default)]
struct Table {
    changes: ChangeSet,
    /// Pool-file edits this node could not compile, with the errors (set by the reloader).
    not_applied: BTreeMap<ChangeKey, String>,
}

/// The state file: every change, and the revision counter of a single node.
#[derive(Serialize, serde::Deserialize)]
struct StateFile {
    revision: i64,
    changes: Vec<ChangeRecord>,
}

/// Why a commit did not happen: `If-Match` named another revision. `current` is the record as
/// it is (None: no such change).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stale {
    pub current: Option<Box<ChangeRecord>>,
}

impl OverrideTable {
    /// A table read from `state_file` (a missing file is an empty table; an unreadable one is
    /// logged and treated as empty, so a damaged file never stops the server), applied to the
    /// serving snapshot. The audit log is the state file's name with `.audit`.
    pub fn new(shared: Shared<Serving>, state_file: Option<PathBuf>) -> Arc<OverrideTable> {
        let mut changes = ChangeSet::default();
        if let Some(path) = &state_file {
            match std::fs::read_to_string(path) {
                Ok(text) => match read_state(&text) {
                    Ok(set) => {
                        changes = set;
                        let n = changes.records.len();
                        tracing::info!(file = %path.display(), changes = n, "runtime changes restored");
                    }
                    Err(e) => {
                        tracing::error!(file = %path.display(), error = %e, "state file unreadable; starting without overrides")
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "cannot read the state file; starting without overrides")
                }
            }
        }
        apply(&changes.overrides(), &shared.load());
        let audit = AuditLog::new(state_file.as_ref().map(|p| p.with_extension("audit")));
        Arc::new(OverrideTable { shared, table: Mutex::new(Table { changes, ..Table::default() }), state_file, audit })
    }

    /// Writes the table to the state file, durably (temp file, fsync, rename, fsync the directory).
    fn save(&self, changes: &ChangeSet) {
        let Some(path) = &self.state_file else { return };
        let state = StateFile { revision: changes.revision, changes: changes.records.values().cloned().collect() };
        let result = serde_json::to_vec_pretty(&state)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_atomic(path, &bytes));
        if let Err(e) = result {
            tracing::error!(file = %path.display(), error = %e, "cannot write the state file; the change holds until restart");
        }
    }

    /// Writes the table's overrides into `serving`'s live state and publishes it, under the
    /// table's lock, so that an override set during a reload is never lost.
    pub fn publish(&self, serving: Serving) {
        let table = lock(&self.table);
        apply(&table.changes.overrides(), &serving);
        self.shared.store(Arc::new(serving));
    }

    /// Every change in force.
    pub fn changes(&self) -> ChangeSet {
        lock(&self.table).changes.clone()
    }

    /// The pool-file edits this node could not apply, with why.
    pub fn not_applied(&self) -> BTreeMap<ChangeKey, String> {
        lock(&self.table).not_applied.clone()
    }

    /// Records which pool-file edits the last compile left out (the reloader calls this).
    pub fn set_not_applied(&self, failed: BTreeMap<ChangeKey, String>) {
        lock(&self.table).not_applied = failed;
    }

    /// The latest applied changes, newest last.
    pub fn audit(&self) -> Vec<AuditEntry> {
        self.audit.recent()
    }

    /// Sets (`value: Some`) or clears one change on this node, if `if_match` (when given) is
    /// the change's revision (0: the change must not exist). The new record gets the next
    /// local revision. Returns the revision written, or [`Stale`].
    pub fn commit(
        &self,
        key: ChangeKey,
        value: Option<serde_json::Value>,
        meta: ChangeMeta,
        if_match: Option<i64>,
    ) -> Result<i64, Stale> {
        let mut table = lock(&self.table);
        let current = table.changes.records.get(&key).cloned().map(Box::new);
        if let Some(want) = if_match
            && want != current.as_ref().map_or(0, |r| r.revision)
        {
            return Err(Stale { current });
        }
        let mut next = table.changes.clone();
        next.revision += 1;
        let revision = next.revision;
        match value {
            Some(v) => {
                next.records.insert(key.clone(), meta.record(key, v, revision));
            }
            None => {
                next.records.remove(&key);
            }
        }
        self.save(&next);
        self.install(&mut table, next, Some(meta));
        Ok(revision)
    }

    /// Replaces every change with `set` (a fleet's view of etcd), logging what changed.
    pub fn replace(&self, set: ChangeSet) {
        let mut table = lock(&self.table);
        if table.changes == set {
            return;
        }
        self.save(&set);
        self.install(&mut table, set, None);
    }

    /// Installs `next`: audit entries for what differs from the table, the override codes.
    /// `meta` names who cleared a change here (a fleet's clear is an etcd delete, with no record).
    fn install(&self, table: &mut Table, next: ChangeSet, meta: Option<ChangeMeta>) {
        let old = std::mem::replace(&mut table.changes, next);
        for (k, r) in &table.changes.records {
            if old.records.get(k).is_none_or(|o| o.revision != r.revision || o.value != r.value) {
                self.audit.record(AuditEntry {
                    revision: r.revision,
                    key: k.clone(),
                    op: "set",
                    old: old.records.get(k).map(|o| o.value.clone()),
                    new: Some(r.value.clone()),
                    who: r.who.clone(),
                    when: r.when.clone(),
                    why: r.why.clone(),
                    node: r.node.clone(),
                });
            }
        }
        for (k, o) in &old.records {
            if !table.changes.records.contains_key(k) {
                let m = meta.clone().unwrap_or_default();
                self.audit.record(AuditEntry {
                    revision: table.changes.revision,
                    key: k.clone(),
                    op: "clear",
                    old: Some(o.value.clone()),
                    new: None,
                    who: m.who,
                    when: rfc3339(unix_now()),
                    why: m.why,
                    node: m.node,
                });
            }
        }
        apply(&table.changes.overrides(), &self.shared.load());
    }
}

/// Who makes a change, why, and on which node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeMeta {
    pub who: String,
    pub why: String,
    pub node: String,
}

impl ChangeMeta {
    /// The record of a change made now.
    pub fn record(&self, key: ChangeKey, value: serde_json::Value, revision: i64) -> ChangeRecord {
        let now = unix_now();
        ChangeRecord {
            key,
            value,
            who: self.who.clone(),
            when_unix: now,
            when: rfc3339(now),
            why: self.why.clone(),
            node: self.node.clone(),
            revision,
        }
    }
}

/// Reads a state file: the current format, or the first one (a list of overrides).
fn read_state(text: &str) -> Result<ChangeSet, serde_json::Error> {
    if let Ok(state) = serde_json::from_str::<StateFile>(text) {
        let mut set = ChangeSet { revision: state.revision, ..ChangeSet::default() };
        for r in state.changes {
            set.records.insert(r.key.clone(), r);
        }
        return Ok(set);
    }
    let old: Vec<OverrideEntry> = serde_json::from_str(text)?;
    let mut set = ChangeSet::default();
    let meta = ChangeMeta { who: "state file".into(), why: String::new(), node: "local".into() };
    for e in old {
        let Some(action) = e.value.action() else { continue };
        set.revision += 1;
        let key = ChangeKey { target: e.target, setting: Setting::Override };
        set.records.insert(key.clone(), meta.record(key, serde_json::Value::from(action), set.revision));
    }
    Ok(set)
}

impl Overrides for OverrideTable {
    fn set_override(&self, target: OverrideTarget, value: Override) {
        let key = ChangeKey { target, setting: Setting::Override };
        let meta = ChangeMeta { who: "api".into(), why: String::new(), node: "local".into() };
        // No If-Match: this cannot be stale.
        let _ = self.commit(key, value.action().map(serde_json::Value::from), meta, None);
    }

    fn list(&self) -> Vec<OverrideEntry> {
        let table = lock(&self.table);
        table.changes.overrides().into_iter().map(|(target, value)| OverrideEntry { target, value }).collect()
    }
}

/// Recomputes every member's code in `serving` from the table.
fn apply(table: &BTreeMap<OverrideTarget, Override>, serving: &Serving) {
    for (zi, zone) in serving.config.zones.zones().iter().enumerate() {
        let origin = zone.origin.to_string().to_ascii_lowercase();
        for (_, pool) in zone.pools.pools() {
            for region in &pool.regions {
                let mut key = OverrideTarget {
                    zone: origin.clone(),
                    pool: pool.name.clone(),
                    region: region.name.clone(),
                    member: None,
                };
                let region_value = table.get(&key).copied().unwrap_or(Override::None);
                let members: Vec<(MemberId, String)> = match &region.content {
                    Content::Members(ms) => ms.iter().map(|m| (m.id, m.address.to_string())).collect(),
                    Content::Cname { id, target, delegation } => std::iter::once((*id, target.to_string()))
                        .chain(delegation.iter().flat_map(|d| d.glue.iter().map(|(g, a)| (*g, a.to_string()))))
                        .collect(),
                };
                for (id, name) in members {
                    key.member = Some(name);
                    let value = match table.get(&key) {
                        Some(v) => *v,
                        None => region_value,
                    };
                    serving.live.set_override(zi, id, value);
                }
            }
        }
    }
}
