//! The owner-name map of a zone: owner (as the zone file wrote it) → [`Node`], hashed and
//! compared as the lower-cased wire-form name ([`super::key`]). Each owner's lower-cased wire
//! form is kept once, at build, in one buffer beside the table, so a lookup by a query name's
//! suffix hashes plain bytes eight at a time and compares with one `memcmp`; nothing is
//! built per lookup. (Comparing against the stored hickory `Name` label by label, lower-casing
//! as it went, was some 500 instructions per pooled query; the kept form costs the owner's
//! octets plus 16 per node: 24 MB for a million names like `www42.example.com.`.)
//!
//! The hash table holds 16-octet slots (where the key lies in the buffer, and the entry's
//! index); the owners' names and nodes lie in a vector of their own, in the order they were
//! added. A table of whole entries (about 136 octets each) is sized to a power of two of
//! buckets, so a million owners took 285 MB of buckets, most of it written once at load
//! (`perf`: the kernel's page clearing was 7 % of loading a million-record zone); the slots
//! take 32 MB and the entries exactly what they hold.
use std::ops::Range;

use hashbrown::HashTable;
use hickory_proto::rr::Name;

use super::hash::NameHash;
use super::key::WireKey;
use super::tree::Node;

/// Where one owner's lower-cased wire form lies in [`NodeMap::wires`], and its entry.
#[derive(Clone, Copy)]
struct Slot {
    at: usize,
    len: u8,
    entry: u32,
}

impl Slot {
    fn range(self) -> Range<usize> {
        self.at..self.at + usize::from(self.len)
    }
}

/// See the module doc.
#[derive(Clone)]
pub struct NodeMap {
    table: HashTable<Slot>,
    /// Each owner's name and node, in the order they were added (never removed: owners are
    /// only added).
    entries: Vec<(Name, Node)>,
    /// Every owner's lower-cased wire form, one after another.
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
        NodeMap {
            table: HashTable::with_capacity(owners),
            entries: Vec::with_capacity(owners),
            wires: Vec::new(),
            hash: NameHash::new(),
        }
    }

    /// The index of the entry whose owner is the lower-cased wire-form name `wire`.
    fn find(&self, wire: &[u8]) -> Option<usize> {
        Self::index_of(&self.table, &self.wires, self.hash.wire(wire), wire)
    }

    /// [`NodeMap::find`] on the fields, with `wire`'s hash `h` computed by the caller.
    fn index_of(table: &HashTable<Slot>, wires: &[u8], h: u64, wire: &[u8]) -> Option<usize> {
        table.find(h, |s| wires.get(s.range()) == Some(wire)).map(|s| s.entry as usize)
    }

    /// Adds `name`, whose lower-cased wire form is `wire` (hash `h`) and which is not in the
    /// map yet, with an empty node; returns its index. On the fields, so that a caller can
    /// hold the table's borrow.
    fn push(
        table: &mut HashTable<Slot>,
        entries: &mut Vec<(Name, Node)>,
        wires: &mut Vec<u8>,
        hash: &NameHash,
        h: u64,
        wire: &[u8],
        name: Name,
    ) -> usize {
        let slot = Slot { at: wires.len(), len: wire.len() as u8, entry: entries.len() as u32 };
        // A wire-form name is at most 255 octets (WireKey holds no more).
        wires.extend_from_slice(wire);
        entries.push((name, Node::default()));
        let wires = &*wires;
        table.insert_unique(h, slot, |s| hash.wire(&wires[s.range()]));
        entries.len() - 1
    }

    /// The entry whose owner is the lower-cased wire-form name `wire`.
    pub fn get_wire(&self, wire: &[u8]) -> Option<(&Name, &Node)> {
        self.find(wire).and_then(|i| self.entries.get(i)).map(|(n, node)| (n, node))
    }

    pub fn get_key_value(&self, name: &Name) -> Option<(&Name, &Node)> {
        self.get_wire(WireKey::new(name).wire())
    }

    pub fn get(&self, name: &Name) -> Option<&Node> {
        self.get_key_value(name).map(|(_, n)| n)
    }

    pub fn get_mut(&mut self, name: &Name) -> Option<&mut Node> {
        let i = self.find(WireKey::new(name).wire())?;
        self.entries.get_mut(i).map(|(_, n)| n)
    }

    /// The node of `name`, added (empty) when missing.
    pub fn get_or_default(&mut self, name: &Name) -> &mut Node {
        self.with_ancestors(name, usize::MAX)
    }

    /// The node of `owner`, added (empty) when missing with the empty non-terminals between it
    /// and the first ancestor that exists or has `stop` labels (the apex's count). One key and
    /// one hash of the owner; one probe of the table when no ancestor can be missing (a zone
    /// of a million names is built with this once per RRset; a probe to look, one to add and
    /// one to return the node were a fifth of its load).
    pub fn with_ancestors(&mut self, owner: &Name, stop: usize) -> &mut Node {
        self.with_ancestors_keyed(&WireKey::new(owner), owner, stop)
    }

    /// [`NodeMap::with_ancestors`] with the owner's key made by the caller (a zone build has
    /// each owner's wire form already: [`WireKey::from_wire`] is a copy, where
    /// [`WireKey::new`] walks the `Name`'s labels). `key` must be `owner`'s.
    pub fn with_ancestors_keyed(&mut self, key: &WireKey, owner: &Name, stop: usize) -> &mut Node {
        let wire = key.wire();
        let h = self.hash.wire(wire);
        let i = {
            let Self { table, entries, wires, hash } = self;
            match Self::index_of(table, wires, h, wire) {
                Some(i) => i,
                None => {
                    // Ancestors first, so the owner's own slot is the last one added.
                    let mut n = key.labels().saturating_sub(1);
                    while n > stop {
                        let up = key.suffix(n);
                        let hu = hash.wire(up);
                        if Self::index_of(table, wires, hu, up).is_some() {
                            break;
                        }
                        Self::push(table, entries, wires, hash, hu, up, super::tree::ancestor(owner, n));
                        n -= 1;
                    }
                    Self::push(table, entries, wires, hash, h, wire, owner.clone())
                }
            }
        };
        &mut self.entries.get_mut(i).expect("every slot's entry is in the entries").1
    }

    /// Adds `node` at `name` (in place of one there).
    pub fn insert(&mut self, name: Name, node: Node) {
        *self.get_or_default(&name) = node;
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Name, &Node)> {
        self.entries.iter().map(|(n, node)| (n, node))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Name, &mut Node)> {
        self.entries.iter_mut().map(|(n, node)| (&*n, node))
    }

    pub fn values(&self) -> impl Iterator<Item = &Node> {
        self.entries.iter().map(|(_, node)| node)
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
