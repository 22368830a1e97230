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
    /// The table; its lock also serialises publishing a reloaded snapshot (see [`Self::publish`]).
    table: Mutex<BTreeMap<OverrideTarget, Override>>,
    /// The state file the table is kept in, so overrides survive a restart.
    state_file: Option<PathBuf>,
}

impl OverrideTable {
    /// A table read from `state_file` (a missing file is an empty table; an unreadable one is
    /// logged and treated as empty, so a damaged file never stops the server), applied to the
    /// serving snapshot.
    pub fn new(shared: Shared<Serving>, state_file: Option<PathBuf>) -> Arc<OverrideTable> {
        let mut table = BTreeMap::new();
        if let Some(path) = &state_file {
            match std::fs::read_to_string(path) {
                Ok(text) => match serde_json::from_str::<Vec<OverrideEntry>>(&text) {
                    Ok(entries) => {
                        for e in entries {
                            table.insert(e.target, e.value);
                        }
                        tracing::info!(file = %path.display(), overrides = table.len(), "admin overrides restored");
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
        apply(&table, &shared.load());
        Arc::new(OverrideTable { shared, table: Mutex::new(table), state_file })
    }

    /// Writes the table to the state file, durably (temp file, fsync, rename, fsync the directory).
    fn save(&self, table: &BTreeMap<OverrideTarget, Override>) {
        let Some(path) = &self.state_file else { return };
        let entries: Vec<OverrideEntry> =
            table.iter().map(|(t, v)| OverrideEntry { target: t.clone(), value: *v }).collect();
        let result = serde_json::to_vec_pretty(&entries)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_atomic(path, &bytes));
        if let Err(e) = result {
            tracing::error!(file = %path.display(), error = %e, "cannot write the state file; the override holds until restart");
        }
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
    fn set_override(&self, target: OverrideTarget, value: Override) {
        let mut table = lock(&self.table);
        if value == Override::None {
            table.remove(&target);
        } else {
            table.insert(target, value);
        }
        self.save(&table);
        apply(&table, &self.shared.load());
    }

    fn list(&self) -> Vec<OverrideEntry> {
        let table = lock(&self.table);
        table.iter().map(|(t, v)| OverrideEntry { target: t.clone(), value: *v }).collect()
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
