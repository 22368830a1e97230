//! Giving freed heap memory back to the operating system after a (re)load.
//!
//! glibc's allocator keeps what a program frees for its next allocations: after a load, the
//! parse trees and a replaced snapshot (a gigabyte with a million records) stay counted in
//! the process's RSS, though nothing uses them. `malloc_trim(0)` returns every whole free page
//! of every arena to the kernel (`madvise(MADV_DONTNEED)`); the memory stays mapped and is
//! handed out again when needed. Elsewhere (musl, other systems) this does nothing.

/// Returns the free pages of the heap to the operating system (glibc's `malloc_trim(0)`).
/// Takes milliseconds to tens of milliseconds on a heap of gigabytes: call it off the query
/// path (the UDP path does not allocate, so it does not wait on the arenas' locks).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer from us; it walks glibc's own arenas, each under its
    // lock, and may be called from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
