//! Small utilities every layer may use: randomness passed in as a value ([`rng`]), the one
//! place that reads the wall clock ([`clock`]), and durable file replacement ([`fs`]).
pub mod build;
pub mod clock;
pub mod fs;
pub mod rng;

/// Locks `m`, ignoring poisoning: nothing holding our locks panics, and a status page or a
/// prober should keep working rather than stop if something ever did.
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
