//! The owner-name map of a zone: owner (as the zone file wrote it) → [`Node`], hashed and
//! compared as the lower-cased wire-form name ([`super::key`]). Each owner's lower-cased wire
//! form is kept once, at build, in one buffer beside the table, so a lookup by a query name's
//! suffix hashes plain bytes eight at a time and compares with one `memcmp`; nothing is
//! built per lookup. (Comparing against the stored hickory `Name` label by label, lower-casing
//! as it went, was some 500 instructions per pooled query; the kept form costs the owner's
//! octets plus 16 per node: 24 MB for a million names like `www42.example.com.`.)
use std::ops::Range;

use hashbrown::HashTable;
use hickory_proto::rr::Name;

use super::hash::NameHash;
use super::key::WireKey;
use super::tree::Node;

/// One owner: where its lower-cased wire form lies in [`NodeMap::wires`], its name and node.
#[derive(Clone)]
struct Entry {
    at: usize,
    len: u8,
    name: Name,
    node: Node,
}

impl Entry {
    fn range(&self) -> Range<usize> {
        self.at..self.at + usize::from(self.len)
    }
}

/// See the module doc.
#[derive(Clone)]
pub struct NodeMap {
    table: HashTable<Entry>,
    /// Every owner's lower-cased wire form, one after another (never removed: owners are only
    /// added).
    wires: Vec<u8>,
    hash: NameHash,
}

impl std::fmt::Debug for NodeMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Default for NodeMap {
    fn default() -> Self {
        NodeMap::with_capacity(0)
    }
}

impl NodeMap {
    /// A map with room for `owners` nodes, so that building a large zone does not rehash.
    pub fn with_capacity(owners: usize) -> NodeMap {
        NodeMap { table: HashTable::with_capacity(owners), wires: Vec::new(), hash: NameHash::new() }
    }

    /// The entry whose owner is the lower-cased wire-form name `wire`.
    fn find(&self, wire: &[u8]) -> Option<&Entry> {
        let wires = &self.wires;
        self.table.find(self.hash.wire(wire), |e| wires.get(e.range()) == Some(wire))
    }

    fn find_mut(&mut self, wire: &[u8]) -> Option<&mut Entry> {
        let wires = &self.wires;
        self.table.find_mut(self.hash.wire(wire), |e| wires.get(e.range()) == Some(wire))
    }

    /// Adds `name`, whose lower-cased wire form is `wire` and which is not in the map yet,
    /// with an empty node.
    fn add(&mut self, wire: &[u8], name: Name) -> &mut Entry {
        let at = self.wires.len();
        self.wires.extend_from_slice(wire);
        // A wire-form name is at most 255 octets (WireKey holds no more).
        let entry = Entry { at, len: wire.len() as u8, name, node: Node::default() };
        let (hash, wires) = (&self.hash, &self.wires);
        let h = hash.wire(wire);
        self.table.insert_unique(h, entry, |e| hash.wire(&wires[e.range()])).into_mut()
    }

    /// The entry whose owner is the lower-cased wire-form name `wire`.
    pub fn get_wire(&self, wire: &[u8]) -> Option<(&Name, &Node)> {
        self.find(wire).map(|e| (&e.name, &e.node))
    }

    pub fn get_key_value(&self, name: &Name) -> Option<(&Name, &Node)> {
        self.get_wire(WireKey::new(name).wire())
    }

    pub fn get(&self, name: &Name) -> Option<&Node> {
        self.get_key_value(name).map(|(_, n)| n)
    }

    pub fn get_mut(&mut self, name: &Name) -> Option<&mut Node> {
        self.find_mut(WireKey::new(name).wire()).map(|e| &mut e.node)
    }

    /// The node of `name`, added (empty) when missing.
    pub fn get_or_default(&mut self, name: &Name) -> &mut Node {
        let key = WireKey::new(name);
        if self.find(key.wire()).is_none() {
            self.add(key.wire(), name.clone());
        }
        &mut self.find_mut(key.wire()).expect("added above").node
    }

    /// The node of `owner`, added (empty) when missing with the empty non-terminals between it
    /// and the first ancestor that exists or has `stop` labels (the apex's count). One key and
    /// one hash of the owner, and of each ancestor looked at from the key's suffixes (a zone of
    /// a million names is built with this once per RRset).
    pub fn with_ancestors(&mut self, owner: &Name, stop: usize) -> &mut Node {
        let key = WireKey::new(owner);
        if self.find(key.wire()).is_none() {
            self.add(key.wire(), owner.clone());
            let mut n = key.labels().saturating_sub(1);
            while n > stop {
                let wire = key.suffix(n);
                if self.find(wire).is_some() {
                    break;
                }
                self.add(wire, super::tree::ancestor(owner, n));
                n -= 1;
            }
        }
        &mut self.find_mut(key.wire()).expect("added above").node
    }

    /// Adds `node` at `name` (in place of one there).
    pub fn insert(&mut self, name: Name, node: Node) {
        *self.get_or_default(&name) = node;
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Name, &Node)> {
        self.table.iter().map(|e| (&e.name, &e.node))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Name, &mut Node)> {
        self.table.iter_mut().map(|e| (&e.name, &mut e.node))
    }

    pub fn values(&self) -> impl Iterator<Item = &Node> {
        self.table.iter().map(|e| &e.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn name(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    #[test]
    fn owners_are_found_by_their_lower_cased_wire_form_and_keep_their_own_case() {
        let mut map = NodeMap::default();
        map.with_ancestors(&name("WwW.a.Gslb.Example."), 2).delegation = true;
        // The owner and the empty non-terminal between it and the apex's label count.
        assert_eq!(map.iter().count(), 2);
        let (owner, node) = map.get_wire(b"\x03www\x01a\x04gslb\x07example\x00").unwrap();
        assert!(owner.eq_case(&name("WwW.a.Gslb.Example.")) && node.delegation);
        let (between, node) = map.get_key_value(&name("A.GSLB.example.")).unwrap();
        assert!(between.eq_case(&name("a.Gslb.Example.")) && node.is_empty_nonterminal());
        for other in ["ww.a.gslb.example.", "www.a.gslb.example.com.", "gslb.example.", "."] {
            assert!(map.get(&name(other)).is_none(), "{other}");
        }
        // An existing ancestor stops the walk; a second add of the same owner finds it.
        map.with_ancestors(&name("mail.a.gslb.example."), 2);
        map.with_ancestors(&name("WWW.A.GSLB.EXAMPLE."), 2).pool = None;
        assert_eq!(map.iter().count(), 3);
        assert!(map.get(&name("www.a.gslb.example.")).unwrap().delegation);
        // Lookups stay right across the table's growth and a clone.
        for i in 0..500 {
            map.get_or_default(&name(&format!("h{i}.a.gslb.example."))).delegation = i % 2 == 0;
        }
        let copy = map.clone();
        for i in 0..500 {
            assert_eq!(copy.get(&name(&format!("H{i}.A.gslb.example."))).unwrap().delegation, i % 2 == 0);
        }
        assert_eq!(copy.iter().count(), 503);
    }
}
