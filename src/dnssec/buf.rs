//! Small buffers on the stack that spill to the heap only when they outgrow it: what the
//! query path builds names, NSEC RDATA, type lists and cache keys in, so that an answer made
//! from cached signatures allocates nothing.

/// Up to `N` values inline; more move to a `Vec` (rare: a huge type bitmap, a key of 33+
/// IPv6 addresses). `Vec::new()` itself does not allocate.
#[derive(Clone)]
pub struct StackVec<T: Copy + Default, const N: usize> {
    inline: [T; N],
    len: usize,
    heap: Vec<T>,
}

impl<T: Copy + Default, const N: usize> Default for StackVec<T, N> {
    fn default() -> Self {
        StackVec { inline: [T::default(); N], len: 0, heap: Vec::new() }
    }
}

impl<T: Copy + Default, const N: usize> StackVec<T, N> {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(&mut self, v: T) {
        if self.heap.is_empty() && self.len < N {
            self.inline[self.len] = v;
            self.len += 1;
            return;
        }
        if self.heap.is_empty() {
            self.heap.reserve(N * 2);
            self.heap.extend_from_slice(&self.inline[..self.len]);
        }
        self.heap.push(v);
    }
    pub fn extend_from_slice(&mut self, s: &[T]) {
        if self.heap.is_empty() && self.len + s.len() <= N {
            self.inline[self.len..self.len + s.len()].copy_from_slice(s);
            self.len += s.len();
        } else {
            for v in s {
                self.push(*v);
            }
        }
    }
    pub fn as_slice(&self) -> &[T] {
        if self.heap.is_empty() { &self.inline[..self.len] } else { &self.heap }
    }
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        if self.heap.is_empty() { &mut self.inline[..self.len] } else { &mut self.heap }
    }
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn clear(&mut self) {
        self.len = 0;
        self.heap.clear();
    }
    /// Keeps the first `n` values.
    pub fn truncate(&mut self, n: usize) {
        if self.heap.is_empty() {
            self.len = self.len.min(n);
        } else {
            self.heap.truncate(n);
        }
    }
}

/// Octets on the stack: names, RDATA, keys.
pub type Bytes<const N: usize> = StackVec<u8, N>;

impl<const N: usize> std::fmt::Debug for StackVec<u8, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02x?}", self.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_to_the_heap_and_keeps_order() {
        let mut b: Bytes<4> = Bytes::new();
        b.extend_from_slice(&[1, 2, 3]);
        assert_eq!(b.as_slice(), &[1, 2, 3]);
        b.extend_from_slice(&[4, 5]);
        assert_eq!(b.as_slice(), &[1, 2, 3, 4, 5]);
        b.truncate(2);
        assert_eq!(b.as_slice(), &[1, 2]);
        b.clear();
        assert!(b.is_empty());
        b.push(9);
        assert_eq!(b.as_slice(), &[9]);
    }
}
