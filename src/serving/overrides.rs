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
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;

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
        f.write_str(match self {
            Override::ForceUp => "force-up",
            Override::ForceDown => "force-down",
            Override::Drain => "drain",
            Override::None => "none",
        })
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

/// One override in force, with who set it, when and why.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct OverrideEntry {
    #[serde(flatten)]
    pub target: OverrideTarget,
    #[serde(rename = "override")]
    pub value: Override,
    /// When it was set (Unix seconds; 0 in state files written before this was kept).
    #[serde(default)]
    pub at_unix: u64,
    /// The same instant in RFC 3339 (UTC).
    #[serde(default)]
    pub at: String,
    /// The reason the caller gave, if any.
    #[serde(default)]
    pub reason: Option<String>,
    /// Who set it: the name the caller gave (`?by=`, `gslbd ctl` sends user@host), else
    /// the client's address.
    #[serde(default)]
    pub by: String,
    /// The target is no longer in the serving config (its member, region, pool or zone was
    /// removed from the files): the override does nothing; clear it with `undrain`/`clear`
    /// on the same path or `POST /overrides/clear-orphaned`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub orphaned: bool,
}

/// Who sets an override and why (kept with it, shown in `/status` and the state file).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OverrideNote {
    pub reason: Option<String>,
    pub by: String,
}

/// The control surface the admin API uses. Targets are checked against the serving snapshot
/// by the caller (unknown names are a 404 there, except that an orphaned override may be
/// cleared by its names), so implementations may trust them.
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
    /// The table; its lock also serialises publishing a reloaded snapshot (see [`Self::publish`]).
    table: Mutex<BTreeMap<OverrideTarget, OverrideEntry>>,
    /// The state file the table is kept in, so overrides survive a restart.
    state_file: Option<PathBuf>,
}

impl OverrideTable {
    /// A table read from `state_file` (a missing file is an empty table), applied to the
    /// serving snapshot. A state file that cannot be read or parsed is an error: starting
    /// without it would silently undo every drain in it.
    pub fn new(shared: Shared<Serving>, state_file: Option<PathBuf>) -> Result<Arc<OverrideTable>, String> {
        let mut table = BTreeMap::new();
        if let Some(path) = &state_file {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    let entries = serde_json::from_str::<Vec<OverrideEntry>>(&text).map_err(|e| {
                        format!(
                            "{}: the state file (admin overrides) is damaged: {e}; fix or remove it (removing it clears every drain and force)",
                            path.display()
                        )
                    })?;
                    for mut e in entries {
                        e.orphaned = false;
                        table.insert(e.target.clone(), e);
                    }
                    if !table.is_empty() {
                        tracing::info!(file = %path.display(), overrides = table.len(), "admin overrides restored");
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: cannot read the state file (admin overrides): {e}", path.display())),
            }
        }
        apply(&table, &shared.load());
        Ok(Arc::new(OverrideTable { shared, table: Mutex::new(table), state_file }))
    }

    /// Writes the table to the state file, durably (temp file, fsync, rename, fsync the directory).
    fn save(&self, table: &BTreeMap<OverrideTarget, OverrideEntry>) -> Result<(), String> {
        let Some(path) = &self.state_file else { return Ok(()) };
        let entries: Vec<&OverrideEntry> = table.values().collect();
        let result = serde_json::to_vec_pretty(&entries)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_atomic(path, &bytes));
        result.map_err(|e| {
            let msg = format!("cannot write the state file {}: {e}", path.display());
            tracing::error!(file = %path.display(), error = %e, "cannot write the state file; the change holds until the server stops");
            msg
        })
    }

    /// Writes the table's overrides into `serving`'s live state and publishes it, under the
    /// table's lock, so that an override set during a reload is never lost.
    pub fn publish(&self, serving: Serving) {
        let table = lock(&self.table);
        apply(&table, &serving);
        self.shared.store(Arc::new(serving));
    }
}

impl Overrides for OverrideTable {
    fn set_override(&self, target: OverrideTarget, value: Override, note: OverrideNote) -> Result<(), String> {
        let mut table = lock(&self.table);
        if value == Override::None {
            table.remove(&target);
        } else {
            let now = unix_now();
            let entry = OverrideEntry {
                target: target.clone(),
                value,
                at_unix: now,
                at: rfc3339(now),
                reason: note.reason,
                by: note.by,
                orphaned: false,
            };
            table.insert(target, entry);
        }
        apply(&table, &self.shared.load());
        self.save(&table)
    }

    fn list(&self) -> Vec<OverrideEntry> {
        let table = lock(&self.table);
        let serving = self.shared.load();
        table.values().map(|e| OverrideEntry { orphaned: !exists(&serving, &e.target), ..e.clone() }).collect()
    }

    fn clear_orphaned(&self) -> (Vec<OverrideEntry>, Result<(), String>) {
        let mut table = lock(&self.table);
        let serving = self.shared.load();
        let gone: Vec<OverrideTarget> = table.keys().filter(|t| !exists(&serving, t)).cloned().collect();
        let removed: Vec<OverrideEntry> =
            gone.iter().filter_map(|t| table.remove(t)).map(|e| OverrideEntry { orphaned: true, ..e }).collect();
        let saved = if removed.is_empty() { Ok(()) } else { self.save(&table) };
        (removed, saved)
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
fn apply(table: &BTreeMap<OverrideTarget, OverrideEntry>, serving: &Serving) {
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
                let region_value = table.get(&key).map_or(Override::None, |e| e.value);
                for (id, name) in member_names(region) {
                    key.member = Some(name);
                    let value = match table.get(&key) {
                        Some(e) => e.value,
                        None => region_value,
                    };
                    serving.live.set_override(zi, id, value);
                }
            }
        }
    }
}
