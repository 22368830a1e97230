//! Configuration: gslbd.toml and the zone and pool files it names, compiled into one
//! validated, immutable snapshot. Every problem is reported with its file and line.
mod error;
pub use error::{line_of, ConfigError, ConfigErrors};
