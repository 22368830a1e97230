//! The fleet's keys in etcd, all below `[cluster] prefix`, values JSON:
//!
//! | key | lease | value |
//! |---|---|---|
//! | `P/nodes/NODE` | the node's | [`NodeInfo`]: version, config digest, start time, probe source |
//! | `P/votes/TARGET/PROBE/NODE` | the node's | [`VoteValue`]: its rise/fall state on (target, probe) |
//! | `P/changes/ZONE/POOL/REGION/MEMBER/SETTING` | none | a [`ChangeRecord`] (`MEMBER` is `-` for a region) |
//!
//! One lease per node covers its `nodes/` and `votes/` keys, so a node that dies loses them by
//! itself. Key parts are percent-escaped (`%` and `/`), so any probe name fits in one part.
use serde::{Deserialize, Serialize};

use crate::health::{HealthKey, State, Target};
use crate::serving::{ChangeKey, ChangeRecord};

/// The key builder of one fleet (its prefix) and one node.
#[derive(Clone, Debug)]
pub struct Keys {
    /// `[cluster] prefix` with a trailing '/'.
    root: String,
    node: String,
}

impl Keys {
    pub fn new(prefix: &str, node: &str) -> Keys {
        Keys { root: format!("{}/", prefix.trim_end_matches('/')), node: node.to_string() }
    }

    /// Everything of the fleet (what one watch follows).
    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// This node's membership key.
    pub fn node_key(&self) -> String {
        format!("{}nodes/{}", self.root, esc(&self.node))
    }

    /// This node's vote on `key`.
    pub fn vote_key(&self, key: &HealthKey) -> String {
        format!("{}votes/{}/{}/{}", self.root, esc(&key.target.to_string()), esc(&key.probe), esc(&self.node))
    }

    /// The key of a runtime change.
    pub fn change_key(&self, k: &ChangeKey) -> String {
        let t = &k.target;
        format!(
            "{}changes/{}/{}/{}/{}/{}",
            self.root,
            esc(&t.zone),
            esc(&t.pool),
            esc(&t.region),
            esc(t.member.as_deref().unwrap_or("-")),
            k.setting.as_str()
        )
    }

    /// What a key under the root is.
    pub fn classify(&self, key: &[u8]) -> Kind {
        let Some(rest) = std::str::from_utf8(key).ok().and_then(|k| k.strip_prefix(self.root.as_str())) else {
            return Kind::Other;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            ["nodes", node] => Kind::Node(unesc(node)),
            ["votes", target, probe, node] => match Target::parse(&unesc(target)) {
                Some(target) => Kind::Vote(HealthKey { target, probe: unesc(probe) }, unesc(node)),
                None => Kind::Other,
            },
            ["changes", ..] => Kind::Change,
            _ => Kind::Other,
        }
    }
}

/// What a key of the fleet holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Node(String),
    Vote(HealthKey, String),
    Change,
    Other,
}

/// A node's vote, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteValue {
    /// "up" or "down" (a node with no result yet does not vote).
    pub state: String,
    /// Its last probe result when it voted.
    pub detail: String,
    /// Unix milliseconds (the voter's clock, shown only) of its state change and of this write.
    pub since_ms: u64,
    pub at_ms: u64,
}

impl VoteValue {
    pub fn state(&self) -> State {
        match self.state.as_str() {
            "up" => State::Up,
            "down" => State::Down,
            _ => State::Unknown,
        }
    }
}

/// A node's membership record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub version: String,
    /// The config digest it serves (`/status` `version.digest`).
    pub digest: String,
    pub started: String,
    pub probe_source: Vec<String>,
}

/// A change record read back from etcd, its revision the key's mod_revision.
pub fn read_change(value: &[u8], mod_revision: i64) -> Option<ChangeRecord> {
    let mut r: ChangeRecord = serde_json::from_slice(value).ok()?;
    r.revision = mod_revision;
    Some(r)
}

/// Percent-escapes '%' and '/' so a name is one key part.
fn esc(s: &str) -> String {
    s.replace('%', "%25").replace('/', "%2F")
}

fn unesc(s: &str) -> String {
    s.replace("%2F", "/").replace("%2f", "/").replace("%25", "%")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serving::{OverrideTarget, Setting};

    #[test]
    fn keys_round_trip() {
        let k = Keys::new("/gslbd/prod/", "ams1");
        let hk = HealthKey { target: Target::parse("2001:db8::1").unwrap(), probe: "a/b%c".into() };
        let vk = k.vote_key(&hk);
        assert_eq!(vk, "/gslbd/prod/votes/2001:db8::1/a%2Fb%25c/ams1");
        assert_eq!(k.classify(vk.as_bytes()), Kind::Vote(hk, "ams1".into()));
        assert_eq!(k.classify(k.node_key().as_bytes()), Kind::Node("ams1".into()));
        let ck = ChangeKey {
            target: OverrideTarget { zone: "x.".into(), pool: "web".into(), region: "eu".into(), member: None },
            setting: Setting::Weight,
        };
        assert_eq!(k.change_key(&ck), "/gslbd/prod/changes/x./web/eu/-/weight");
        assert_eq!(k.classify(k.change_key(&ck).as_bytes()), Kind::Change);
        assert_eq!(k.classify(b"/gslbd/other/x"), Kind::Other);
        assert_eq!(k.classify(b"/gslbd/prodx/votes/a/b/c"), Kind::Other);
    }
}
