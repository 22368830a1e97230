//! ECS scopes as wide as the answer allows: for one way of answering (a pool's regions and
//! maps, given by the caller as a function of the client's location), which subtrees of the
//! GeoIP search tree give every address in them the same answer.
//!
//! ```text
//! at load:   every distinct record ──f(location)──► answer class (interned)
//!            post-order walk of the tree: node uniform ⇔ both children have the same class
//!            ──► one bit per node (ScopeMap.uniform)
//! per query: walk the client's address from the root; the depth of the first uniform node
//!            (or record) on the way is the widest prefix around the address with one answer
//! ```
//!
//! This is the merged tree gdnsd builds (neighbouring networks with the same datacenter list
//! merge), kept as one bit per node of the database's own tree. The prefix may be longer than
//! the client's source prefix: then the source block itself holds two answers, and the scope
//! says so (RFC 7871 §7.2.1).
//!
//! Invariants: a uniform node never covers two classes (every record below it was classed);
//! a record the classing did not see (a damaged or unvalidated tree), a node reached twice
//! other than the IPv4 subtree, or a path longer than the address, is mixed, which only makes
//! the scope narrower. Cost: one walk over the tree per map at load (no heap beyond the bit
//! sets), one bit per node kept; per query no allocation, at most one bit test per level.
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

use super::records::Records;
use super::tree::{Record, SharedBytes, Tree, V4Jump, v4_first_marked, v4_index};
use super::types::Location;

/// The class of a subtree holding more than one.
const MIXED: u32 = u32::MAX;

/// The uniform subtrees of one database for one way of answering. `Send + Sync`, immutable.
pub struct ScopeMap {
    bytes: SharedBytes,
    node_count: usize,
    record_bits: u16,
    ipv6_tree: bool,
    /// Where IPv4 lookups start (a node, or a record when one covers all of IPv4).
    v4_start: usize,
    /// One bit per node: every address below it gets the same class.
    uniform: Box<[u64]>,
    /// Per /16 of IPv4: the first uniform depth above where [`V4Jump`] starts a walk
    /// (`u8::MAX`: none), so a walk that jumps still finds the widest block.
    v4_first: Box<[u8]>,
    /// Distinct answer classes seen (for the load report and tests).
    classes: usize,
}

impl std::fmt::Debug for ScopeMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScopeMap({} nodes, {} classes)", self.node_count, self.classes)
    }
}

impl ScopeMap {
    /// Builds the map: `class` says what a client with this location (`None`: the database
    /// has no record for it) is answered; equal values mean the same answer whatever the
    /// health of the regions.
    pub(crate) fn build<K: Eq + Hash>(
        bytes: &SharedBytes,
        node_count: usize,
        record_bits: u16,
        ipv6_tree: bool,
        records: &Records,
        mut class: impl FnMut(Option<&Location>) -> K,
    ) -> ScopeMap {
        let mut ids: HashMap<K, u32> = HashMap::new();
        let mut intern = |k: K| {
            let n = ids.len() as u32;
            *ids.entry(k).or_insert(n)
        };
        // Each record's class, by its slot in the table (slots without a record stay mixed).
        let mut vals = vec![MIXED; records.capacity()];
        for (i, l) in records.each() {
            vals[i] = intern(class(l.as_ref()));
        }
        let none_val = intern(class(None));
        let tree = Tree::new(bytes.as_ref(), node_count, record_bits);
        let v4_start = if ipv6_tree { tree.ipv4_start().0 } else { 0 };
        let mut walk = Walk {
            tree,
            records,
            vals: &vals,
            none_val,
            bits: if ipv6_tree { 128 } else { 32 },
            uniform: vec![0u64; node_count.div_ceil(64)],
            seen: vec![0u64; node_count.div_ceil(64)],
            v4_root: (ipv6_tree && v4_start < node_count).then_some(v4_start),
            v4_val: None,
            last: (usize::MAX, MIXED),
        };
        walk.value(Record::Node(0), 0);
        let uniform = walk.uniform.into_boxed_slice();
        let mut map = ScopeMap {
            bytes: bytes.clone(),
            node_count,
            record_bits,
            ipv6_tree,
            v4_start,
            uniform,
            v4_first: Box::default(),
            classes: ids.len(),
        };
        map.v4_first = v4_first_marked(&tree, v4_start, &|n| map.is_uniform(n));
        map
    }

    /// The widest prefix around `ip` (in its own family) inside which every address gets the
    /// class of `ip`; `None` for an IPv4-mapped IPv6 address, or an IPv6 one in an IPv4 tree.
    pub fn prefix(&self, ip: IpAddr) -> Option<u8> {
        let tree = Tree::new(self.bytes.as_ref(), self.node_count, self.record_bits);
        walk(&tree, self.ipv6_tree, self.v4_start, None, ip, [Some(self), None]).map(|w| w.wide[0])
    }

    fn is_uniform(&self, node: usize) -> bool {
        bit(&self.uniform, node)
    }

    /// Whether the map was built over these bytes.
    pub(crate) fn is_of(&self, bytes: &SharedBytes) -> bool {
        std::sync::Arc::ptr_eq(&self.bytes.0, &bytes.0)
    }

    /// Distinct answer classes the database's records fall into.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Heap bytes held (the bit set and the IPv4 table; the file's bytes are shared with the database).
    pub fn heap_bytes(&self) -> usize {
        self.uniform.len() * 8 + self.v4_first.len()
    }
}

/// Where one address's walk down the tree ended.
pub(crate) struct Walked {
    /// The record the address is in.
    pub(crate) record: Record,
    /// Its depth: the prefix of the database network holding the address, in its family.
    pub(crate) depth: u8,
    /// For each map, the depth of the first uniform node on the way (`depth` when none was).
    pub(crate) wide: [u8; 2],
}

/// Walks `ip` from the root (IPv4 from `v4_start` in an IPv6 tree), testing each node on the
/// way against `maps`: one walk gives the record, the database network and the scope blocks.
/// `None` for an IPv4-mapped IPv6 address, an IPv6 address in an IPv4 tree, or a path longer
/// than the address (a damaged tree; the caller falls back to maxminddb's lookup).
pub(crate) fn walk(
    tree: &Tree<'_>,
    ipv6_tree: bool,
    v4_start: usize,
    jump: Option<&V4Jump>,
    ip: IpAddr,
    maps: [Option<&ScopeMap>; 2],
) -> Option<Walked> {
    let (mut cur, bits, key) = match ip {
        IpAddr::V4(a) => (if ipv6_tree { v4_start } else { 0 }, 32u8, u128::from(u32::from(a)) << 96),
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some() || !ipv6_tree => return None,
        IpAddr::V6(a) => (0, 128u8, u128::from(a)),
    };
    let mut wide = [u8::MAX; 2];
    let mut from = 0;
    if let (IpAddr::V4(a), Some(jump)) = (ip, jump) {
        // The first 16 bits from the table; each map's own table says whether a node skipped
        // on the way was uniform (both were built over this tree from the same start).
        let a = u32::from(a);
        (cur, from) = jump.start(a);
        for (w, m) in wide.iter_mut().zip(maps) {
            if let Some(&first) = m.and_then(|m| m.v4_first.get(v4_index(a))) {
                *w = first;
            }
        }
    }
    // The maps' bit sets (empty for an absent map), and the loop specialized by record size,
    // so the size is matched once per walk rather than at each step (a loop through
    // `Tree::raw`, with that match and two zipped map tests per step, was ~55 instructions a
    // step in callgrind against ~25 now; an IPv4 walk in the bench's database takes ~9 steps
    // below the jump table).
    let sets = maps.map(|m| m.map_or(&[][..], |m| &m.uniform[..]));
    let at = Descent { from, bits, key, sets, wide };
    match tree.record_bits {
        24 => at.descend(tree, cur, |n, side| tree.record_at::<24>(n, side)),
        28 => at.descend(tree, cur, |n, side| tree.record_at::<28>(n, side)),
        32 => at.descend(tree, cur, |n, side| tree.record_at::<32>(n, side)),
        _ => at.descend(tree, cur, |n, side| tree.raw(n, side)),
    }
}

/// Whether bit `n` of `set` is set (false past its end).
#[inline(always)]
fn bit(set: &[u64], n: usize) -> bool {
    set.get(n / 64).is_some_and(|w| w & (1 << (n % 64)) != 0)
}

/// The rest of one [`walk`]: where it starts and what it tests on the way.
struct Descent<'m> {
    from: u8,
    bits: u8,
    key: u128,
    sets: [&'m [u64]; 2],
    wide: [u8; 2],
}

impl Descent<'_> {
    /// Walks down from node `cur` at depth `from`, `record(n, side)` reading the tree.
    #[inline(always)]
    fn descend(self, tree: &Tree<'_>, mut cur: usize, record: impl Fn(usize, usize) -> usize) -> Option<Walked> {
        let Descent { from, bits, key, sets, mut wide } = self;
        // The address as two halves: a shift of a u128 by a variable amount is a branchy
        // sequence, and an IPv4 walk only reads the upper half.
        let (hi, lo) = ((key >> 64) as u64, key as u64);
        let mut depth = from;
        loop {
            if cur >= tree.node_count {
                wide = [wide[0].min(depth), wide[1].min(depth)];
                return Some(Walked { record: tree.classify(cur), depth, wide });
            }
            if wide[0] == u8::MAX && bit(sets[0], cur) {
                wide[0] = depth;
            }
            if wide[1] == u8::MAX && bit(sets[1], cur) {
                wide[1] = depth;
            }
            if depth >= bits {
                return None;
            }
            let side = match depth {
                0..64 => hi >> (63 - depth),
                _ => lo >> (127 - depth),
            } & 1;
            cur = record(cur, side as usize);
            depth += 1;
        }
    }
}

struct Walk<'a> {
    tree: Tree<'a>,
    records: &'a Records,
    vals: &'a [u32],
    none_val: u32,
    bits: u32,
    uniform: Vec<u64>,
    seen: Vec<u64>,
    /// The IPv4 subtree of an IPv6 tree, reached through several aliases: classed once.
    v4_root: Option<usize>,
    v4_val: Option<u32>,
    /// The last record classed (neighbouring records are often the same one).
    last: (usize, u32),
}

impl Walk<'_> {
    /// The class of everything under `r`, at `depth` bits; marks uniform nodes. Recursion is
    /// bounded by the address length.
    fn value(&mut self, r: Record, depth: u32) -> u32 {
        match r {
            Record::Empty => self.none_val,
            Record::Invalid => MIXED,
            Record::Data(o) if o == self.last.0 => self.last.1,
            Record::Data(o) => {
                let v = u32::try_from(o)
                    .ok()
                    .and_then(|o| self.records.position(o))
                    .and_then(|i| self.vals.get(i).copied())
                    .unwrap_or(MIXED);
                self.last = (o, v);
                v
            }
            Record::Node(n) => {
                if Some(n) == self.v4_root
                    && let Some(v) = self.v4_val
                {
                    return v;
                }
                if depth >= self.bits || self.seen[n / 64] & (1 << (n % 64)) != 0 {
                    return MIXED;
                }
                self.seen[n / 64] |= 1 << (n % 64);
                let left = self.value(self.tree.record(n, 0), depth + 1);
                let right = self.value(self.tree.record(n, 1), depth + 1);
                let v = if left == right { left } else { MIXED };
                if v != MIXED {
                    self.uniform[n / 64] |= 1 << (n % 64);
                }
                if Some(n) == self.v4_root {
                    self.v4_val = Some(v);
                }
                v
            }
        }
    }
}
