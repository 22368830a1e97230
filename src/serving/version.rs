//! The serving config's identity: which load it is and what it was made of.

/// The config's identity: which load this is and what it was made of.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ConfigVersion {
    /// 1 for the load at start-up, +1 for every successful reload.
    pub generation: u64,
    /// When this snapshot was loaded (seconds since the Unix epoch).
    pub loaded_at_unix: u64,
    /// The same instant in RFC 3339 (UTC).
    pub loaded_at: String,
    /// `sha256:<hex>` over the config, zone, pool and GeoIP files' bytes.
    pub digest: String,
    /// `<generation>@<loaded_at>`: one string that changes with every reload.
    pub version: String,
}
