//! A global allocator that counts the allocations of the threads that ask it to (for the
//! zero-allocation tests). A test binary declares it: `#[global_allocator] static A:
//! Counting = Counting;` and brackets what it measures with [`start`] and [`stop`].
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

pub struct Counting;

thread_local!(static COUNTING: Cell<bool> = const { Cell::new(false) });
static COUNT: AtomicU64 = AtomicU64::new(0);
/// Bytes allocated less bytes freed by the counting threads.
static NET: AtomicI64 = AtomicI64::new(0);

fn counting() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

fn note() {
    if counting() {
        COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

fn bytes(delta: i64) {
    if counting() {
        NET.fetch_add(delta, Ordering::Relaxed);
    }
}

// SAFETY: each call goes to the system allocator unchanged; `note` touches only a
// const-initialised thread-local and an atomic, and allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        bytes(layout.size() as i64);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        bytes(layout.size() as i64);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        note();
        bytes(size as i64 - layout.size() as i64);
        unsafe { System.realloc(ptr, layout, size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        bytes(-(layout.size() as i64));
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Counts this thread's allocations (and bytes) from now on, from zero.
pub fn start() {
    COUNT.store(0, Ordering::Relaxed);
    NET.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
}

/// Stops counting; returns how many allocations this thread made since [`start`].
pub fn stop() -> u64 {
    COUNTING.with(|c| c.set(false));
    COUNT.load(Ordering::Relaxed)
}

/// Heap bytes this thread allocated and did not free between [`start`] and [`stop`].
pub fn net_bytes() -> i64 {
    NET.load(Ordering::Relaxed)
}
