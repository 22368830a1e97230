//! Runtime changes: what an operator changed through the API, by name, with who, when and why.
//! A drain or a forced state is an override (applied as a per-member code, no recompile); a
//! member weight, an added or removed member and a region weight are pool-file edits (compiled
//! on top of the files, [`crate::config::Overlay`]). One key per setting, so the set of records
//! is the whole state, and each record carries the revision it was written at (`If-Match`).
//!
//! ```text
//! ChangeSet { records: ChangeKey → ChangeRecord { value, who, when, why, node, revision }, revision }
//!   ├─ overrides() ─► OverrideTable codes (drain, force-up, force-down)
//!   └─ overlay()   ─► config::load_with (weights, members, region weights, in revision order)
//! ```
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::overrides::{Override, OverrideTarget};
use crate::config::{Edit, Overlay, PoolEdit};

/// What a change sets.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Setting {
    /// Drain, force-up or force-down of a member or a whole region.
    Override,
    /// The weight of a member, or of a region.
    Weight,
    /// A member added (with its weight and probe) or removed.
    Member,
}

impl Setting {
    pub fn as_str(self) -> &'static str {
        match self {
            Setting::Override => "override",
            Setting::Weight => "weight",
            Setting::Member => "member",
        }
    }
}

/// Where a change applies and what it sets. For [`Setting::Member`] the member is required.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChangeKey {
    #[serde(flatten)]
    pub target: OverrideTarget,
    pub setting: Setting,
}

impl fmt::Display for ChangeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.target;
        write!(f, "{}/{}/{}", t.zone, t.pool, t.region)?;
        if let Some(m) = &t.member {
            write!(f, "/members/{m}")?;
        }
        if self.setting != Setting::Member {
            write!(f, "/{}", self.setting.as_str())?;
        }
        Ok(())
    }
}

/// A member as a change adds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
}

/// A change's value, read for its setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeValue {
    Override(Override),
    Weight(i64),
    AddMember(MemberSpec),
    RemoveMember,
}

impl ChangeValue {
    /// Reads `v` as a value of `setting`; the error names what is expected.
    pub fn parse(setting: Setting, v: &serde_json::Value) -> Result<ChangeValue, String> {
        match setting {
            Setting::Override => match v.as_str() {
                Some("drain") => Ok(ChangeValue::Override(Override::Drain)),
                Some("force-up") => Ok(ChangeValue::Override(Override::ForceUp)),
                Some("force-down") => Ok(ChangeValue::Override(Override::ForceDown)),
                _ => Err(format!("an override is \"drain\", \"force-up\" or \"force-down\", got {v}")),
            },
            Setting::Weight => match v.as_i64() {
                Some(w) => Ok(ChangeValue::Weight(w)),
                None => Err(format!("a weight is an integer, got {v}")),
            },
            Setting::Member => match v {
                serde_json::Value::String(s) if s == "removed" => Ok(ChangeValue::RemoveMember),
                serde_json::Value::Object(_) => serde_json::from_value::<MemberSpec>(v.clone())
                    .map(ChangeValue::AddMember)
                    .map_err(|e| format!("a member is {{\"weight\": N, \"probe\": \"NAME\"}} (both optional): {e}")),
                _ => Err(format!(
                    "a member is {{\"weight\": N, \"probe\": \"NAME\"}} to add it, or \"removed\", got {v}"
                )),
            },
        }
    }
}

/// One change in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    #[serde(flatten)]
    pub key: ChangeKey,
    pub value: serde_json::Value,
    /// Who made it (the API caller's `who`), when (Unix seconds and RFC 3339) and why.
    pub who: String,
    pub when_unix: u64,
    pub when: String,
    pub why: String,
    /// The node that took the change ("local" without a fleet).
    pub node: String,
    /// The store's revision of this record: etcd's mod_revision, or the state file's counter.
    #[serde(default)]
    pub revision: i64,
}

/// Every change in force, and the store revision it reflects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    pub records: BTreeMap<ChangeKey, ChangeRecord>,
    pub revision: i64,
}

impl ChangeSet {
    /// The overrides in force, by target.
    pub fn overrides(&self) -> BTreeMap<OverrideTarget, Override> {
        let mut out = BTreeMap::new();
        for r in self.records.values() {
            if let Ok(ChangeValue::Override(o)) = ChangeValue::parse(r.key.setting, &r.value) {
                out.insert(r.key.target.clone(), o);
            }
        }
        out
    }

    /// The records that edit the pool files, in the order they are applied: members added or
    /// removed first (a weight may name an added member), then weights, each oldest first.
    pub fn config_records(&self) -> Vec<&ChangeRecord> {
        let mut v: Vec<&ChangeRecord> = self.records.values().filter(|r| r.key.setting != Setting::Override).collect();
        v.sort_by_key(|r| (r.key.setting != Setting::Member, r.revision, r.key.clone()));
        v
    }

    /// The pool-file edits of `records` (a record whose value does not read is left out).
    pub fn overlay_of<'a>(records: impl IntoIterator<Item = &'a ChangeRecord>) -> Overlay {
        Overlay { edits: records.into_iter().filter_map(edit_of).collect() }
    }

    /// Every pool-file edit in force.
    pub fn overlay(&self) -> Overlay {
        ChangeSet::overlay_of(self.config_records())
    }

    /// Whether `other` edits the pool files differently (then the config must be recompiled).
    pub fn same_config(&self, other: &ChangeSet) -> bool {
        let strip = |s: &ChangeSet| -> Vec<(ChangeKey, serde_json::Value)> {
            s.config_records().into_iter().map(|r| (r.key.clone(), r.value.clone())).collect()
        };
        strip(self) == strip(other)
    }
}

/// The pool-file edit a record makes (None for an override or an unreadable value).
pub fn edit_of(r: &ChangeRecord) -> Option<PoolEdit> {
    let t = &r.key.target;
    let what = match (ChangeValue::parse(r.key.setting, &r.value).ok()?, &t.member) {
        (ChangeValue::Weight(w), None) => Edit::RegionWeight(w),
        (ChangeValue::Weight(w), Some(m)) => Edit::MemberWeight { member: m.clone(), weight: w },
        (ChangeValue::AddMember(spec), Some(m)) => {
            Edit::AddMember { address: m.clone(), weight: spec.weight, probe: spec.probe }
        }
        (ChangeValue::RemoveMember, Some(m)) => Edit::RemoveMember { member: m.clone() },
        _ => return None,
    };
    Some(PoolEdit { zone: t.zone.clone(), pool: t.pool.clone(), region: t.region.clone(), what })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(member: Option<&str>, setting: Setting, value: serde_json::Value, revision: i64) -> ChangeRecord {
        ChangeRecord {
            key: ChangeKey {
                target: OverrideTarget {
                    zone: "gslb.test.".into(),
                    pool: "web".into(),
                    region: "eu".into(),
                    member: member.map(String::from),
                },
                setting,
            },
            value,
            who: "t".into(),
            when_unix: 0,
            when: String::new(),
            why: String::new(),
            node: "local".into(),
            revision,
        }
    }

    #[test]
    fn values_read_per_setting() {
        use serde_json::json as j;
        assert_eq!(ChangeValue::parse(Setting::Weight, &j!(3)), Ok(ChangeValue::Weight(3)));
        assert!(ChangeValue::parse(Setting::Weight, &j!("3")).is_err());
        assert_eq!(ChangeValue::parse(Setting::Override, &j!("drain")), Ok(ChangeValue::Override(Override::Drain)));
        assert!(ChangeValue::parse(Setting::Override, &j!("none")).is_err());
        assert_eq!(ChangeValue::parse(Setting::Member, &j!("removed")), Ok(ChangeValue::RemoveMember));
        let add = ChangeValue::parse(Setting::Member, &j!({"weight": 2})).unwrap();
        assert_eq!(add, ChangeValue::AddMember(MemberSpec { weight: Some(2), probe: None }));
        assert!(ChangeValue::parse(Setting::Member, &j!({"wieght": 2})).is_err());
    }

    #[test]
    fn overlay_in_revision_order_and_overrides_apart() {
        let mut set = ChangeSet::default();
        for r in [
            rec(Some("192.0.2.1"), Setting::Weight, serde_json::json!(5), 9),
            rec(None, Setting::Weight, serde_json::json!(2), 4),
            rec(Some("192.0.2.2"), Setting::Override, serde_json::json!("drain"), 7),
        ] {
            set.records.insert(r.key.clone(), r);
        }
        let added = rec(Some("192.0.2.7"), Setting::Member, serde_json::json!({"weight": 2}), 12);
        set.records.insert(added.key.clone(), added);
        let o = set.overlay();
        assert_eq!(o.edits.len(), 3);
        assert!(matches!(&o.edits[0].what, Edit::AddMember { address, .. } if address == "192.0.2.7"), "members first");
        let o = Overlay { edits: o.edits[1..].to_vec() };
        assert_eq!(o.edits[0].what, Edit::RegionWeight(2));
        assert_eq!(o.edits[1].what, Edit::MemberWeight { member: "192.0.2.1".into(), weight: 5 });
        assert_eq!(set.overrides().len(), 1);
        let mut other = set.clone();
        other.records.retain(|k, _| k.setting != Setting::Override);
        assert!(set.same_config(&other), "overrides do not touch the config");
    }
}
