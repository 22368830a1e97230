//! The counting allocator for tests that assert "allocates nothing" (`decide` in
//! tests/steer_props.rs and tests/steer_load.rs): it forwards every call to the system allocator
//! and counts, per thread, each allocation (alloc, alloc_zeroed, realloc), so tests running in
//! parallel in one binary do not see each other's.
//!
//! A test binary opts in with
//! ```ignore
//! #[global_allocator]
//! static ALLOC: support::CountingAlloc = support::CountingAlloc;
//! ```
//! and measures with [`count_allocations`]. Binaries that do not install it count nothing.
//!
//! A thread the test does not run itself (a server's worker) is counted from outside:
//! the worker calls [`track_this_thread`] first, and the test reads [`tracked_allocations`].
//!
//! tests/zero_alloc.rs (0 allocations per query on the UDP path) keeps its own allocator, which
//! counts only on the worker thread it marks: that file is the issue-12 oracle for "behaviour
//! unchanged" and stays byte-for-byte as it was, so it does not use this module.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static TRACKED: Cell<bool> = const { Cell::new(false) };
    static NET_BYTES: Cell<i64> = const { Cell::new(0) };
}

/// Allocations made by the threads that called [`track_this_thread`], all together.
static TRACKED_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// Counts this thread's heap allocations; see the module doc.
pub struct CountingAlloc;

/// Heap bytes allocated less bytes freed, on this thread.
fn add_bytes(delta: i64) {
    let _ = NET_BYTES.try_with(|c| c.set(c.get() + delta));
}

fn count() {
    // `try_with`: a thread being torn down still allocates; it is simply not counted.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
    if TRACKED.try_with(Cell::get).unwrap_or(false) {
        TRACKED_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
// const-initialised thread-local Cells without destructors and an atomic, none of which allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        add_bytes(l.size() as i64);
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        count();
        add_bytes(l.size() as i64);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        count();
        add_bytes(new as i64 - l.size() as i64);
        // SAFETY: `p` and `l` come from this allocator, which is the system allocator.
        unsafe { System.realloc(p, l, new) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        add_bytes(-(l.size() as i64));
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(p, l) }
    }
}

/// Heap allocations this thread has made so far (0 forever unless [`CountingAlloc`] is the
/// binary's global allocator).
pub fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// Runs `f`; its result and how many heap allocations this thread made meanwhile.
pub fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = allocations();
    let r = f();
    (r, allocations() - before)
}

/// Counts this thread's allocations in [`tracked_allocations`] from now on (a server worker
/// that the test observes from another thread).
pub fn track_this_thread() {
    TRACKED.with(|t| t.set(true));
}

/// Allocations made so far by every thread that called [`track_this_thread`].
pub fn tracked_allocations() -> u64 {
    TRACKED_ALLOCATIONS.load(Ordering::SeqCst)
}

/// Heap bytes this thread has allocated and not freed so far (see [`allocations`]).
pub fn net_bytes() -> i64 {
    NET_BYTES.with(Cell::get)
}
