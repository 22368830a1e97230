//! Admin overrides: drain a member or a region, or force it up or down, by *name*, so that
//! an override outlives reloads (ids move when a pool file is edited; names do not).
//!
//! ```text
//! POST /members/.../drain ─┐ (one node)                      (a fleet: etcd, then replace())
//! PUT /changes/.../override ┴► commit(key, value, who/why) ──► ChangeSet: name-keyed records
//!                                 │ state file + audit file     (survive reloads and restarts)
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
//!
//! A change keeps one who/when/why ([`ChangeRecord`]); the drain/force API's view of an
//! override ([`OverrideEntry`]) shows the same fields under its own names (`by`, `at`,
//! `reason`), and marks an override whose target left the config as orphaned. A state file
//! that cannot be read is an error at start: starting without it would undo every change.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::audit::{AuditEntry, AuditLog};
use super::changes::{ChangeKey, ChangeRecord, ChangeSet, ChangeValue, Setting};
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

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.action().unwrap_or("none"))
    }
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

/// One override in force as the drain/force API shows it: the override record's who, when
/// and why ([`ChangeRecord`]) under this API's names, and whether its target is still served.
/// Also the entry of the first state-file format (a list of these; the fields after `value`
/// default, for files written before they were kept).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct OverrideEntry {
    #[serde(flatten)]
    pub target: OverrideTarget,
    #[serde(rename = "override")]
    pub value: Override,
    /// When it was set (Unix seconds; the record's `when_unix`).
    #[serde(default)]
    pub at_unix: u64,
    /// The same instant in RFC 3339 (UTC; the record's `when`).
    #[serde(default)]
    pub at: String,
    /// The reason the caller gave, if any (the record's `why`).
    #[serde(default)]
    pub reason: Option<String>,
    /// Who set it (the record's `who`): the name the caller gave (`?by=`, `gslbd ctl` sends
    /// user@host), else the client's address.
    #[serde(default)]
    pub by: String,
    /// The target is no longer in the serving config (its member, region, pool or zone was
    /// removed from the files): the override does nothing; clear it with `undrain`/`clear`
    /// on the same path or `POST /overrides/clear-orphaned`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub orphaned: bool,
}

impl OverrideEntry {
    /// The view of an override record.
    fn of(r: &ChangeRecord, value: Override, orphaned: bool) -> OverrideEntry {
        OverrideEntry {
            target: r.key.target.clone(),
            value,
            at_unix: r.when_unix,
            at: r.when.clone(),
            reason: (!r.why.is_empty()).then(|| r.why.clone()),
            by: r.who.clone(),
            orphaned,
        }
    }
}

/// Who sets an override and why, as the drain/force API takes it (kept in the change record
/// as its `who` and `why`, see [`ChangeMeta`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OverrideNote {
    pub reason: Option<String>,
    pub by: String,
}

impl From<OverrideNote> for ChangeMeta {
    fn from(n: OverrideNote) -> ChangeMeta {
        let who = if n.by.is_empty() { "api".to_string() } else { n.by };
        ChangeMeta { who, why: n.reason.unwrap_or_default(), node: "local".into() }
    }
}

/// The control surface the admin API uses on one node (a fleet writes to etcd instead, see
/// `ops::changes`). Targets are checked against the serving snapshot by the caller (unknown
/// names are a 404 there, except that an orphaned override may be cleared by its names), so
/// implementations may trust them.
pub trait Overrides: Send + Sync {
    /// Sets (or, with [`Override::None`], clears) the override of a member or a region. It
    /// takes effect at once; `Err` says why it could not be saved to the state file (it then
    /// holds only until the server stops).
    fn set_override(&self, target: OverrideTarget, value: Override, note: OverrideNote) -> Result<(), String>;
    /// Every override in force, in name order, orphaned ones marked.
    fn list(&self) -> Vec<OverrideEntry>;
    /// Removes every orphaned override; returns them (and whether saving failed).
    fn clear_orphaned(&self) -> (Vec<OverrideEntry>, Result<(), String>);
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

/// A change committed on this node: in force at once, at `revision`; `saved` says why the
/// state file could not be written, if it could not (the change then holds only until the
/// server stops).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    pub revision: i64,
    pub saved: Result<(), String>,
}

impl OverrideTable {
    /// A table read from `state_file` (a missing file is an empty table), applied to the
    /// serving snapshot. A state file that cannot be read or parsed is an error: starting
    /// without it would silently undo every drain and change in it. The audit log is the
    /// state file's name with `.audit`.
    pub fn new(shared: Shared<Serving>, state_file: Option<PathBuf>) -> Result<Arc<OverrideTable>, String> {
        let mut changes = ChangeSet::default();
        if let Some(path) = &state_file {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    changes = read_state(&text).map_err(|e| {
                        format!(
                            "{}: the state file (admin overrides) is damaged: {e}; fix or remove it (removing it clears every drain, force and runtime change)",
                            path.display()
                        )
                    })?;
                    if !changes.records.is_empty() {
                        let n = changes.records.len();
                        tracing::info!(file = %path.display(), changes = n, "runtime changes restored");
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: cannot read the state file (admin overrides): {e}", path.display())),
            }
        }
        apply(&changes.overrides(), &shared.load());
        let audit = AuditLog::new(state_file.as_ref().map(|p| p.with_extension("audit")));
        let table = Mutex::new(Table { changes, ..Table::default() });
        Ok(Arc::new(OverrideTable { shared, table, state_file, audit }))
    }

    /// Writes the table to the state file, durably (temp file, fsync, rename, fsync the
    /// directory); an error says why not (and is logged).
    fn save(&self, changes: &ChangeSet) -> Result<(), String> {
        let Some(path) = &self.state_file else { return Ok(()) };
        let state = StateFile { revision: changes.revision, changes: changes.records.values().cloned().collect() };
        let result = serde_json::to_vec_pretty(&state)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_atomic(path, &bytes));
        result.map_err(|e| {
            tracing::error!(file = %path.display(), error = %e, "cannot write the state file; the change holds until the server stops");
            format!("cannot write the state file {}: {e}", path.display())
        })
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
    /// local revision. Returns the revision written (and whether it was saved), or [`Stale`].
    pub fn commit(
        &self,
        key: ChangeKey,
        value: Option<serde_json::Value>,
        meta: ChangeMeta,
        if_match: Option<i64>,
    ) -> Result<Committed, Stale> {
        let mut table = lock(&self.table);
        let current = table.changes.records.get(&key).cloned().map(Box::new);
        if let Some(want) = if_match
            && want != current.as_ref().map_or(0, |r| r.revision)
        {
            return Err(Stale { current });
        }
        Ok(self.write(&mut table, vec![(key, value)], meta))
    }

    /// Clears every orphaned override on this node (one revision); returns them, as they were.
    pub fn clear_orphaned_by(&self, meta: ChangeMeta) -> (Vec<OverrideEntry>, Result<(), String>) {
        let mut table = lock(&self.table);
        let removed = orphans(&table.changes, &self.shared.load());
        if removed.is_empty() {
            return (removed, Ok(()));
        }
        let clears = removed.iter().map(|e| (ChangeKey { target: e.target.clone(), setting: Setting::Override }, None));
        let done = self.write(&mut table, clears.collect(), meta);
        (removed, done.saved)
    }

    /// Every override whose target is no longer served (for a fleet, which clears them in etcd).
    pub fn orphaned(&self) -> Vec<(OverrideEntry, i64)> {
        let table = lock(&self.table);
        let serving = self.shared.load();
        let records = &table.changes.records;
        orphans(&table.changes, &serving)
            .into_iter()
            .map(|e| {
                let key = ChangeKey { target: e.target.clone(), setting: Setting::Override };
                let revision = records.get(&key).map_or(0, |r| r.revision);
                (e, revision)
            })
            .collect()
    }

    /// Writes `writes` (set or clear) at the next local revision: saved, then in force.
    fn write(
        &self,
        table: &mut Table,
        writes: Vec<(ChangeKey, Option<serde_json::Value>)>,
        meta: ChangeMeta,
    ) -> Committed {
        let mut next = table.changes.clone();
        next.revision += 1;
        let revision = next.revision;
        for (key, value) in writes {
            match value {
                Some(v) => {
                    next.records.insert(key.clone(), meta.record(key, v, revision));
                }
                None => {
                    next.records.remove(&key);
                }
            }
        }
        let saved = self.save(&next);
        self.install(table, next, Some(meta));
        Committed { revision, saved }
    }

    /// Replaces every change with `set` (a fleet's view of etcd), logging what changed. The
    /// state file is a cache here (etcd keeps the set): failing to write it is only logged.
    pub fn replace(&self, set: ChangeSet) {
        let mut table = lock(&self.table);
        if table.changes == set {
            return;
        }
        let _ = self.save(&set);
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

/// Reads a state file: the current format, or the first one (a list of overrides, with or
/// without who/when/why). The error is the one of the format the text looks like.
fn read_state(text: &str) -> Result<ChangeSet, serde_json::Error> {
    if !text.trim_start().starts_with('[') {
        let state = serde_json::from_str::<StateFile>(text)?;
        let mut set = ChangeSet { revision: state.revision, ..ChangeSet::default() };
        for r in state.changes {
            set.records.insert(r.key.clone(), r);
        }
        return Ok(set);
    }
    let old: Vec<OverrideEntry> = serde_json::from_str(text)?;
    let mut set = ChangeSet::default();
    for e in old {
        let Some(action) = e.value.action() else { continue };
        set.revision += 1;
        let key = ChangeKey { target: e.target, setting: Setting::Override };
        let who = if e.by.is_empty() { "state file".to_string() } else { e.by };
        let meta = ChangeMeta { who, why: e.reason.unwrap_or_default(), node: "local".into() };
        let mut record = meta.record(key.clone(), serde_json::Value::from(action), set.revision);
        if e.at_unix != 0 {
            (record.when_unix, record.when) = (e.at_unix, rfc3339(e.at_unix));
        }
        set.records.insert(key, record);
    }
    Ok(set)
}

/// The override records of `changes` as the API shows them, orphaned ones marked.
fn entries(changes: &ChangeSet, serving: &Serving) -> Vec<OverrideEntry> {
    changes
        .records
        .values()
        .filter(|r| r.key.setting == Setting::Override)
        .filter_map(|r| match ChangeValue::parse(r.key.setting, &r.value) {
            Ok(ChangeValue::Override(o)) => Some(OverrideEntry::of(r, o, !exists(serving, &r.key.target))),
            _ => None,
        })
        .collect()
}

/// The overrides of `changes` whose target is not served.
fn orphans(changes: &ChangeSet, serving: &Serving) -> Vec<OverrideEntry> {
    entries(changes, serving).into_iter().filter(|e| e.orphaned).collect()
}

impl Overrides for OverrideTable {
    fn set_override(&self, target: OverrideTarget, value: Override, note: OverrideNote) -> Result<(), String> {
        let key = ChangeKey { target, setting: Setting::Override };
        // No If-Match: this cannot be stale.
        match self.commit(key, value.action().map(serde_json::Value::from), note.into(), None) {
            Ok(done) => done.saved,
            Err(_) => Ok(()),
        }
    }

    fn list(&self) -> Vec<OverrideEntry> {
        let table = lock(&self.table);
        entries(&table.changes, &self.shared.load())
    }

    fn clear_orphaned(&self) -> (Vec<OverrideEntry>, Result<(), String>) {
        self.clear_orphaned_by(OverrideNote::default().into())
    }
}

/// Whether `t` names a region or member of the serving config.
fn exists(serving: &Serving, t: &OverrideTarget) -> bool {
    let Some(zone) = serving.config.zones.zones().iter().find(|z| z.origin.to_string().to_ascii_lowercase() == t.zone)
    else {
        return false;
    };
    let Some(region) = zone
        .pools
        .pool_id(&t.pool)
        .and_then(|p| zone.pools.pool(p))
        .and_then(|p| p.regions.iter().find(|r| r.name == t.region))
    else {
        return false;
    };
    match &t.member {
        None => true,
        Some(m) => member_names(region).iter().any(|(_, n)| n == m),
    }
}

/// The members of a region by the names overrides use (address, CNAME target, glue addresses).
fn member_names(region: &crate::pool::Region) -> Vec<(MemberId, String)> {
    match &region.content {
        Content::Members(ms) => ms.iter().map(|m| (m.id, m.address.to_string())).collect(),
        Content::Cname { id, target, delegation } => std::iter::once((*id, target.to_string()))
            .chain(delegation.iter().flat_map(|d| d.glue.iter().map(|(g, a)| (*g, a.to_string()))))
            .collect(),
    }
}

/// Recomputes every member's code in `serving` from the table.
fn apply(table: &BTreeMap<OverrideTarget, Override>, serving: &Serving) {
    if table.is_empty() {
        // Nothing overridden: every member is as the files say, set without naming each one
        // (the keys of 100,000 pools' members took a tenth of a second at start).
        serving.live.clear_overrides();
        return;
    }
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
                for (id, name) in member_names(region) {
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
