//! Small utilities every layer may use: randomness passed in as a value ([`rng`]), the one
//! place that reads the wall clock ([`clock`]), durable file replacement ([`fs`]), and
//! returning freed heap memory to the system after a load ([`heap`]).
pub mod build;
pub mod clock;
pub mod fs;
// glibc's malloc_trim, the one foreign call: documented with its SAFETY note in the module.
#[allow(unsafe_code)]
pub mod heap;
pub mod rng;

/// Locks `m`, ignoring poisoning: nothing holding our locks panics, and a status page or a
/// prober should keep working rather than stop if something ever did.
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
