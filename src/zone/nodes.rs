//! The owner-name map of a zone: owner (as the zone file wrote it) → [`Node`], hashed and
//! compared as the lower-cased wire-form name ([`super::key`]). A lookup by a query name's
//! suffix hashes plain bytes eight at a time and compares with one pass over the stored
//! owner's labels; nothing is built per lookup.
use hashbrown::HashTable;
use hickory_proto::rr::Name;

use super::hash::NameHash;
use super::key::{WireKey, name_is};
use super::tree::Node;

/// See the module doc.
#[derive(Clone)]
pub struct NodeMap {
    table: HashTable<(Name, Node)>,
    hash: NameHash,
}

impl std::fmt::Debug for NodeMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Default for NodeMap {
    fn default() -> Self {
        NodeMap { table: HashTable::new(), hash: NameHash::new() }
    }
}

impl NodeMap {
    /// A map with room for `owners` nodes, so that building a large zone does not rehash.
    pub fn with_capacity(owners: usize) -> NodeMap {
        NodeMap { table: HashTable::with_capacity(owners), hash: NameHash::new() }
    }

    fn hash_name(hash: &NameHash, name: &Name) -> u64 {
        hash.wire(WireKey::new(name).wire())
    }

    /// The entry whose owner is the lower-cased wire-form name `wire`.
    pub fn get_wire(&self, wire: &[u8]) -> Option<(&Name, &Node)> {
        let h = self.hash.wire(wire);
        self.table.find(h, |(n, _)| name_is(n, wire)).map(|(n, node)| (n, node))
    }

    pub fn get_key_value(&self, name: &Name) -> Option<(&Name, &Node)> {
        self.get_wire(WireKey::new(name).wire())
    }

    pub fn get(&self, name: &Name) -> Option<&Node> {
        self.get_key_value(name).map(|(_, n)| n)
    }

    pub fn get_mut(&mut self, name: &Name) -> Option<&mut Node> {
        let key = WireKey::new(name);
        let h = self.hash.wire(key.wire());
        self.table.find_mut(h, |(n, _)| name_is(n, key.wire())).map(|(_, node)| node)
    }

    /// The node of `name`, added (empty) when missing.
    pub fn get_or_default(&mut self, name: &Name) -> &mut Node {
        let key = WireKey::new(name);
        let h = self.hash.wire(key.wire());
        let hash = &self.hash;
        let entry = self.table.entry(h, |(n, _)| name_is(n, key.wire()), |(n, _)| Self::hash_name(hash, n));
        &mut entry.or_insert_with(|| (name.clone(), Node::default())).into_mut().1
    }

    /// The node of `owner`, added (empty) when missing with the empty non-terminals between it
    /// and the first ancestor that exists or has `stop` labels (the apex's count). One key and
    /// one hash of the owner, and of each ancestor looked at from the key's suffixes (a zone of
    /// a million names is built with this once per RRset).
    pub fn with_ancestors(&mut self, owner: &Name, stop: usize) -> &mut Node {
        let key = WireKey::new(owner);
        let h = self.hash.wire(key.wire());
        let hash = &self.hash;
        let rehash = |(n, _): &(Name, Node)| Self::hash_name(hash, n);
        if self.table.find(h, |(n, _)| name_is(n, key.wire())).is_none() {
            self.table.insert_unique(h, (owner.clone(), Node::default()), rehash);
            let mut n = key.labels().saturating_sub(1);
            while n > stop {
                let wire = key.suffix(n);
                let ha = hash.wire(wire);
                if self.table.find(ha, |(a, _)| name_is(a, wire)).is_some() {
                    break;
                }
                self.table.insert_unique(ha, (super::tree::ancestor(owner, n), Node::default()), rehash);
                n -= 1;
            }
        }
        &mut self.table.find_mut(h, |(n, _)| name_is(n, key.wire())).expect("added above").1
    }

    /// Adds `node` at `name` (in place of one there).
    pub fn insert(&mut self, name: Name, node: Node) {
        *self.get_or_default(&name) = node;
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Name, &Node)> {
        self.table.iter().map(|(n, node)| (n, node))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Name, &mut Node)> {
        self.table.iter_mut().map(|(n, node)| (&*n, node))
    }

    pub fn values(&self) -> impl Iterator<Item = &Node> {
        self.table.iter().map(|(_, node)| node)
    }
}
