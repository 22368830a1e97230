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
    /// records; `node_count` (the empty record) for a node outside the bytes.
    #[inline]
    pub(crate) fn raw(&self, node: usize, side: usize) -> usize {
        let size = self.record_bits / 4;
        let Some(b) = self.bytes.get(node * size..node * size + size) else { return self.node_count };
        let be = |s: &[u8]| s.iter().fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
        match (self.record_bits, side) {
            (28, 0) => (usize::from(b[3] >> 4) << 24) | be(&b[..3]),
            (28, _) => (usize::from(b[3] & 0x0f) << 24) | be(&b[4..7]),
            (_, 0) => be(&b[..size / 2]),
            (_, _) => be(&b[size / 2..]),
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
