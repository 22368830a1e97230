//! The one error type of the crate. Errors carry what was wrong and, for files, which file.
use std::fmt;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Error {
    /// A domain name in wire form is malformed (compression pointer, label over 63, over 255 octets, no root).
    BadName(&'static str),
    /// A name in presentation form could not be parsed.
    BadNameText(String),
    /// RDATA of the given type is malformed (e.g. truncated, or a name inside it is compressed).
    BadRdata {
        rtype: u16,
        why: &'static str,
    },
    /// An RRset given to the signer is not one RRset (mixed TTLs, empty) or too large.
    BadRrset(&'static str),
    /// The algorithm number is not one we sign with (13 and 15 only).
    UnsupportedAlgorithm(u8),
    /// ring refused a key (private and public key do not match, or bad encoding).
    BadKey(String),
    /// ring failed to sign or to generate a key (the system random source failed).
    Crypto,
    /// A key file is malformed; the path and the problem.
    KeyFile {
        path: PathBuf,
        why: String,
    },
    /// A private key file is readable or writable by others than its owner.
    Permissions {
        path: PathBuf,
        mode: u32,
    },
    Io {
        path: PathBuf,
        err: std::io::Error,
    },
    /// The zone given to the zone signer is not a zone (no SOA at the apex, data outside the apex...).
    BadZone(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadName(why) => write!(f, "malformed domain name: {why}"),
            Error::BadNameText(t) => write!(f, "cannot parse domain name {t:?}"),
            Error::BadRdata { rtype, why } => write!(f, "malformed RDATA of type {rtype}: {why}"),
            Error::BadRrset(why) => write!(f, "not a valid RRset: {why}"),
            Error::UnsupportedAlgorithm(a) => write!(f, "DNSSEC algorithm {a} is not supported (use 13 or 15)"),
            Error::BadKey(why) => write!(f, "bad key: {why}"),
            Error::Crypto => write!(f, "the crypto library failed (random source?)"),
            Error::KeyFile { path, why } => write!(f, "{}: {why}", path.display()),
            Error::Permissions { path, mode } => write!(
                f,
                "{}: private key file has mode {mode:04o}; it must not be accessible to others (chmod 600)",
                path.display()
            ),
            Error::Io { path, err } => write!(f, "{}: {err}", path.display()),
            Error::BadZone(why) => write!(f, "bad zone: {why}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The file the error is about (key files), and the problem without it.
    pub fn split(&self) -> (Option<&std::path::Path>, String) {
        match self {
            Error::KeyFile { path, why } => (Some(path), why.clone()),
            Error::Permissions { path, mode } => (
                Some(path),
                format!("private key file has mode {mode:04o}; it must not be accessible to others (chmod 600)"),
            ),
            Error::Io { path, err } => (Some(path), err.to_string()),
            other => (None, other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
