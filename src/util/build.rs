//! What this binary is: the crate version and the git commit it was built from (set by
//! `build.rs`; `unknown` when built outside a git checkout without `GSLBD_COMMIT`).

/// The crate version (Cargo.toml).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit, abbreviated to 12 hex digits, or what `GSLBD_COMMIT` said at build time.
pub const COMMIT: &str = env!("GSLBD_COMMIT");

/// "0.1.0 (commit 0123456789ab)": for `--version`, the start-up log and the status page.
pub fn version_line() -> String {
    format!("{VERSION} (commit {COMMIT})")
}
