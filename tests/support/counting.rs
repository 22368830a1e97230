//! A global allocator that counts the allocations of the threads that ask it to (for the
//! zero-allocation tests). A test binary declares it: `#[global_allocator] static A:
//! Counting = Counting;` and brackets what it measures with [`start`] and [`stop`].
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Counting;

thread_local!(static COUNTING: Cell<bool> = const { Cell::new(false) });
static COUNT: AtomicU64 = AtomicU64::new(0);

fn note() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: each call goes to the system allocator unchanged; `note` touches only a
// const-initialised thread-local and an atomic, and allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Counts this thread's allocations from now on, from zero.
pub fn start() {
    COUNT.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
}

/// Stops counting; returns how many allocations this thread made since [`start`].
pub fn stop() -> u64 {
    COUNTING.with(|c| c.set(false));
    COUNT.load(Ordering::Relaxed)
}
