//! The search tree of a `.mmdb` file read as raw bytes: what the whole-file check
//! (`validate.rs`) and the ECS scope maps (`scope.rs`) walk node by node, beside maxminddb's
//! own lookups.
//!
//! ```text
//! node n = [ left record | right record ]  (24, 28 or 32 bits each, MaxMind DB spec §"Search tree")
//! record r < node_count        → node r
//! record r = node_count        → no data (the empty record)
//! record r > node_count        → data at offset r − node_count − 16 of the data section
//! ```
use std::sync::Arc;

/// The file's bytes, shared between maxminddb's reader and the scope maps (one copy in memory).
#[derive(Clone)]
pub(crate) struct SharedBytes(pub(crate) Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// The zero bytes between the tree and the data section.
pub(crate) const SEPARATOR: usize = 16;

/// What a record points at.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    Node(usize),
    Empty,
    /// Offset in the data section (as maxminddb's `LookupResult::offset`).
    Data(usize),
    /// Points into the separator: a damaged tree (the check rejects it).
    Invalid,
}

/// The search tree as raw bytes. `bytes` must hold `node_count` nodes of `record_bits`
/// (maxminddb's `Reader::from_source` checks that the tree fits the file).
#[derive(Copy, Clone)]
pub(crate) struct Tree<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) node_count: usize,
    pub(crate) record_bits: usize,
}

impl<'a> Tree<'a> {
    pub(crate) fn new(bytes: &'a [u8], node_count: usize, record_bits: u16) -> Tree<'a> {
        Tree { bytes, node_count, record_bits: usize::from(record_bits) }
    }

    /// Record `side` (0 left, 1 right) of `node`, as the spec lays out 24, 28 and 32-bit
    /// records ([`Tree::record_at`]); `node_count` (the empty record) for a node outside the
    /// bytes. Any other size (none is in the spec) is read as the node's two halves.
    #[inline]
    pub(crate) fn raw(&self, node: usize, side: usize) -> usize {
        match self.record_bits {
            24 => self.record_at::<24>(node, side),
            28 => self.record_at::<28>(node, side),
            32 => self.record_at::<32>(node, side),
            bits => {
                let size = bits / 4;
                let Some(b) = self.bytes.get(node * size..node * size + size) else { return self.node_count };
                let be = |s: &[u8]| s.iter().fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
                if side == 0 { be(&b[..size / 2]) } else { be(&b[size / 2..]) }
            }
        }
    }

    /// Record `side` (0 left, 1 right) of `node` for records of `R` bits (24, 28 or 32: `R`
    /// is a constant, so the layout is chosen at compile time, where [`Tree::raw`] matches on
    /// it per call); `node_count` (the empty record) for a node outside the bytes, as
    /// [`Tree::raw`].
    #[inline(always)]
    pub(crate) fn record_at<const R: usize>(&self, node: usize, side: usize) -> usize {
        let be = |s: &[u8]| s.iter().fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
        let bytes = |at: Option<usize>, n: usize| self.bytes.get(at?..)?.get(..n);
        let side = side & 1;
        match R {
            // The middle byte holds both records' top nibbles: the left's high, the right's low.
            28 => bytes(node.checked_mul(7), 7).map_or(self.node_count, |b| {
                let top = if side == 0 { b[3] >> 4 } else { b[3] & 0x0f };
                usize::from(top) << 24 | be(&b[side * 4..side * 4 + 3])
            }),
            24 => bytes(node.checked_mul(6), 6).map_or(self.node_count, |b| be(&b[side * 3..side * 3 + 3])),
            _ => bytes(node.checked_mul(8), 8).map_or(self.node_count, |b| be(&b[side * 4..side * 4 + 4])),
        }
    }

    /// What record `side` of `node` points at.
    #[inline]
    pub(crate) fn record(&self, node: usize, side: usize) -> Record {
        self.classify(self.raw(node, side))
    }

    pub(crate) fn classify(&self, r: usize) -> Record {
        if r < self.node_count {
            Record::Node(r)
        } else if r == self.node_count {
            Record::Empty
        } else {
            r.checked_sub(self.node_count + SEPARATOR).map_or(Record::Invalid, Record::Data)
        }
    }

    /// Where IPv4 addresses start in an IPv6 tree: the record reached by 96 left turns from
    /// the root (or earlier, when a record ends the walk), and how many bits were walked. As
    /// maxminddb's reader does it, so both see the same IPv4 subtree.
    pub(crate) fn ipv4_start(&self) -> (usize, u8) {
        let mut n = 0usize;
        for depth in 0..96u8 {
            if n >= self.node_count {
                return (n, depth);
            }
            n = self.raw(n, 0);
        }
        (n, 96)
    }
}

/// How many leading bits of an IPv4 address the jump table resolves ([`V4Jump`]).
pub(crate) const V4_JUMP_BITS: u8 = 16;

/// Where the walk of each /16 of IPv4 stands after its first 16 bits, found once at load, so
/// that a query starts there (a walk costs one step per bit). Built over the same tree as
/// the scope maps' own tables ([`v4_first_marked`]), which say what the skipped nodes held.
/// 320 KiB per database (65,536 × 5 bytes); it saves 16 of the up to 32 steps of an IPv4 walk.
pub(crate) struct V4Jump {
    /// The node reached after 16 bits, or the record that ended the walk earlier.
    to: Box<[u32]>,
    /// The depth of `to` (16, or less where a record ended the walk).
    depth: Box<[u8]>,
}

impl V4Jump {
    /// The table of the IPv4 subtree starting at `start`; `None` when a record points past
    /// 32 bits (no such database: records are at most 32 bits wide).
    pub(crate) fn new(tree: &Tree<'_>, start: usize) -> Option<V4Jump> {
        let n = 1usize << V4_JUMP_BITS;
        let mut to = vec![0u32; n];
        let mut depth = vec![0u8; n];
        let mut ok = true;
        top_paths(tree, start, &|_| false, &mut |lo, hi, cur, d, _| {
            ok &= u32::try_from(cur).is_ok();
            to[lo..hi].fill(cur as u32);
            depth[lo..hi].fill(d);
        });
        ok.then(|| V4Jump { to: to.into_boxed_slice(), depth: depth.into_boxed_slice() })
    }

    /// Where the walk of `addr` stands after its first bits: (node or record, depth).
    #[inline]
    pub(crate) fn start(&self, addr: u32) -> (usize, u8) {
        let i = v4_index(addr);
        (self.to.get(i).map_or(usize::MAX, |&t| t as usize), self.depth.get(i).copied().unwrap_or(0))
    }
}

/// The entry of `addr` in the tables of [`V4Jump`] and [`v4_first_marked`].
#[inline]
pub(crate) fn v4_index(addr: u32) -> usize {
    (addr >> (32 - u32::from(V4_JUMP_BITS))) as usize
}

/// For every /16 of IPv4 (walked from `start`): the first depth, before where [`V4Jump`]
/// stops, whose node `mark` holds for (`u8::MAX` when none).
pub(crate) fn v4_first_marked(tree: &Tree<'_>, start: usize, mark: &dyn Fn(usize) -> bool) -> Box<[u8]> {
    let mut first = vec![u8::MAX; 1 << V4_JUMP_BITS];
    top_paths(tree, start, mark, &mut |lo, hi, _, _, f| first[lo..hi].fill(f));
    first.into_boxed_slice()
}

/// Walks every path of the first [`V4_JUMP_BITS`] levels below `start`, and calls
/// `f(lo, hi, cur, depth, first)` for the /16s `lo..hi` that end at `cur` (a node at depth 16,
/// or a record at `depth`), `first` being the first depth on the way whose node `mark` holds.
fn top_paths(
    tree: &Tree<'_>,
    start: usize,
    mark: &dyn Fn(usize) -> bool,
    f: &mut dyn FnMut(usize, usize, usize, u8, u8),
) {
    // (node, depth, path bits, first marked depth); at most V4_JUMP_BITS + 1 entries deep.
    let mut stack = vec![(start, 0u8, 0usize, u8::MAX)];
    while let Some((cur, depth, path, first)) = stack.pop() {
        if cur >= tree.node_count || depth == V4_JUMP_BITS {
            let shift = V4_JUMP_BITS - depth;
            f(path << shift, (path + 1) << shift, cur, depth, first);
            continue;
        }
        let first = if first == u8::MAX && mark(cur) { depth } else { first };
        for side in [1, 0] {
            stack.push((tree.raw(cur, side), depth + 1, path * 2 + side, first));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_record_size_reads_as_the_spec_lays_it_out() {
        // MaxMind DB spec, "Search tree": 28-bit records keep their top nibbles in the middle
        // byte (left: high nibble, right: low nibble). Values past 2^24 show that nibble.
        let bytes: Vec<u8> = vec![
            0x12, 0x34, 0x56, 0xAB, 0x78, 0x9A, 0xBC, // node 0 at 28 bits
            0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10, 0x01,
        ];
        let t28 = Tree::new(&bytes, usize::MAX >> 8, 28);
        let t24 = Tree::new(&bytes, usize::MAX >> 8, 24);
        let t32 = Tree::new(&bytes, usize::MAX >> 8, 32);
        let both = |t: &Tree<'_>, n: usize| match t.record_bits {
            24 => [t.record_at::<24>(n, 0), t.record_at::<24>(n, 1)],
            28 => [t.record_at::<28>(n, 0), t.record_at::<28>(n, 1)],
            _ => [t.record_at::<32>(n, 0), t.record_at::<32>(n, 1)],
        };
        assert_eq!(both(&t28, 0), [0x0A12_3456, 0x0B78_9ABC]);
        assert_eq!(both(&t24, 0), [0x12_3456, 0xAB_789A]);
        assert_eq!(both(&t24, 1), [0xBC_FEDC, 0xBA_9876]);
        assert_eq!(both(&t32, 0), [0x1234_56AB, 0x789A_BCFE]);
        assert_eq!(both(&t32, 1), [0xDCBA_9876, 0x5432_1001]);
        // Every node of these bytes, and one past them (the empty record), in both readers.
        for t in [t24, t28, t32] {
            for n in 0..3 {
                assert_eq!(both(&t, n), [t.raw(n, 0), t.raw(n, 1)], "{} bits, node {n}", t.record_bits);
            }
            assert_eq!(both(&t, 2), [t.node_count; 2]);
        }
    }
}
