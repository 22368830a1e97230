//! The server secret: read from a file, rotated with overlap.
//!
//! File format (either):
//! - exactly 16 raw bytes: the secret;
//! - text: one secret per line as 32 hex digits, `#` comments and blank lines ignored. The
//!   first secret makes new cookies; an optional second one is only accepted when verifying.
//!
//! The file must not be readable or writable by other users (mode `o-rw`): anyone who reads
//! the secret can mint cookies for any address and so bypass rate limiting.
//!
//! Rotation, RFC 9018 §5: cookies live at most an hour, so a secret that was current must
//! still be accepted for an hour after it stops making cookies. [`Secrets::reload`] does that
//! by itself on a single node (the old current secret is kept, accepted only, for one hour).
//! An anycast set, whose nodes must all accept a secret before any of them hands it out,
//! rolls in three file edits a few minutes apart: `OLD\nNEW` (NEW accepted everywhere), then
//! `NEW\nOLD` (NEW makes cookies), then `NEW` after an hour.
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::server_cookie::MAX_AGE;

pub const SECRET_LEN: usize = 16;

/// A 128-bit SipHash key. Its `Debug` does not print it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secret([u8; SECRET_LEN]);

impl Secret {
    pub const fn from_bytes(bytes: [u8; SECRET_LEN]) -> Secret {
        Secret(bytes)
    }

    /// 32 hex digits, either case.
    pub fn from_hex(s: &str) -> Result<Secret, String> {
        let s = s.trim();
        if s.len() != 2 * SECRET_LEN || !s.is_ascii() {
            return Err(format!("a secret is 32 hex digits (16 bytes); this is {} characters", s.chars().count()));
        }
        let mut out = [0u8; SECRET_LEN];
        for (i, pair) in s.as_bytes().chunks(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16).ok_or_else(|| format!("{:?} is not a hex digit", c as char));
            out[i] = (digit(pair[0])? << 4 | digit(pair[1])?) as u8;
        }
        Ok(Secret(out))
    }

    pub fn bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What a secret file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecretFile {
    /// Makes new cookies (and verifies).
    pub current: Secret,
    /// Only verifies: the next secret of a roll-over in progress, or the previous one.
    pub also_accepted: Option<Secret>,
}

/// A secret file that cannot be used, with where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretFileError {
    pub path: PathBuf,
    /// 1-based line of a text file, when the problem is on one line.
    pub line: Option<usize>,
    pub problem: String,
}

impl fmt::Display for SecretFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.path.display(), l, self.problem),
            None => write!(f, "{}: {}", self.path.display(), self.problem),
        }
    }
}

impl std::error::Error for SecretFileError {}

/// Reads and checks a secret file (see the module docs for the format).
pub fn read_secret_file(path: &Path) -> Result<SecretFile, SecretFileError> {
    let err = |line, problem: String| SecretFileError { path: path.to_path_buf(), line, problem };
    let meta = std::fs::metadata(path).map_err(|e| err(None, format!("cannot read: {e}")))?;
    let mode = meta.permissions().mode();
    if mode & 0o006 != 0 {
        return Err(err(
            None,
            format!(
                "other users can access it (mode {:04o}); the cookie secret must be private: chmod o-rw",
                mode & 0o7777
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| err(None, format!("cannot read: {e}")))?;
    parse_secret_file(&bytes).map_err(|(line, problem)| err(line, problem))
}

/// Parses a secret file's contents; the error names the line (for text files) and the problem.
pub fn parse_secret_file(bytes: &[u8]) -> Result<SecretFile, (Option<usize>, String)> {
    // Exactly 16 bytes is the raw form: a text secret is at least 32 characters.
    if let Ok(raw) = <[u8; SECRET_LEN]>::try_from(bytes) {
        if raw == [0; SECRET_LEN] {
            return Err((None, "an all-zero secret (a placeholder?)".into()));
        }
        return Ok(SecretFile { current: Secret(raw), also_accepted: None });
    }
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| t.chars().all(|c| c.is_ascii_graphic() || c.is_ascii_whitespace()))
        .ok_or_else(|| {
            (None, format!("{} bytes of binary data; a raw secret file is exactly 16 bytes", bytes.len()))
        })?;
    let mut secrets: Vec<(usize, Secret)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let content = line.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        if secrets.len() == 2 {
            return Err((Some(line_no), "a third secret; the file holds the current one and at most one other".into()));
        }
        let s = Secret::from_hex(content).map_err(|p| (Some(line_no), p))?;
        if s.0 == [0; SECRET_LEN] {
            return Err((Some(line_no), "an all-zero secret (a placeholder?)".into()));
        }
        if secrets.first().is_some_and(|(_, first)| *first == s) {
            return Err((Some(line_no), "the same secret twice".into()));
        }
        secrets.push((line_no, s));
    }
    match secrets.as_slice() {
        [] => Err((None, "no secret in the file".into())),
        [(_, a)] => Ok(SecretFile { current: *a, also_accepted: None }),
        [(_, a), (_, b), ..] => Ok(SecretFile { current: *a, also_accepted: Some(*b) }),
    }
}

/// The secrets in service: the current one and, during a roll-over, one more that is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Secrets {
    current: Secret,
    other: Option<Other>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Other {
    secret: Secret,
    /// Accepted until this UNIX time (serial arithmetic); `None` while the file lists it.
    until: Option<u32>,
}

impl Secrets {
    pub fn new(file: SecretFile) -> Secrets {
        Secrets { current: file.current, other: file.also_accepted.map(|secret| Other { secret, until: None }) }
    }

    /// The secrets after the file was read again at `now`. A current secret that the new file
    /// drops stays accepted for an hour (the longest a cookie it made can still be valid).
    pub fn reload(&self, file: SecretFile, now: u32) -> Secrets {
        let mut next = Secrets::new(file);
        if next.other.is_none() {
            if file.current != self.current {
                next.other = Some(Other { secret: self.current, until: Some(now.wrapping_add(MAX_AGE)) });
            } else if let Some(o) = self.other {
                // The same current secret, the other line gone: keep an expiring previous one
                // until it lapses; a secret the file dropped goes at once otherwise.
                if o.until.is_some() {
                    next.other = Some(o);
                }
            }
        }
        next
    }

    pub fn current(&self) -> &Secret {
        &self.current
    }

    /// The other secret accepted at `now`, if any.
    pub fn other_at(&self, now: u32) -> Option<&Secret> {
        let o = self.other.as_ref()?;
        match o.until {
            Some(until) if (now.wrapping_sub(until) as i32) > 0 => None,
            _ => Some(&o.secret),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "e5e973e5a6b2a43f48e7dc849e37bfcf";
    const B: &str = "445536bcd2513298075a5d379663c962";

    fn s(h: &str) -> Secret {
        Secret::from_hex(h).unwrap()
    }

    #[test]
    fn text_and_raw_forms() {
        let f = parse_secret_file(format!("# cookie secret\n{A}\n").as_bytes()).unwrap();
        assert_eq!(f, SecretFile { current: s(A), also_accepted: None });
        let f = parse_secret_file(format!("{}\n\n{B}  # next\n", A.to_uppercase()).as_bytes()).unwrap();
        assert_eq!(f, SecretFile { current: s(A), also_accepted: Some(s(B)) });
        let raw = [0xe5u8, 0xe9, 0x73, 0xe5, 0xa6, 0xb2, 0xa4, 0x3f, 0x48, 0xe7, 0xdc, 0x84, 0x9e, 0x37, 0xbf, 0xcf];
        assert_eq!(parse_secret_file(&raw).unwrap().current, s(A));
        // 16 printable bytes are read as raw too: they cannot be a 32-digit hex secret.
        assert_eq!(parse_secret_file(b"0123456789abcdef").unwrap().current, Secret(*b"0123456789abcdef"));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse_secret_file(b"# x\nzz\n").unwrap_err().0, Some(2));
        assert!(parse_secret_file(b"# x\n0123\n").unwrap_err().1.contains("32 hex digits"));
        let e = parse_secret_file(format!("{A}\n{B}\n{A}\n").as_bytes()).unwrap_err();
        assert_eq!(e.0, Some(3));
        assert_eq!(parse_secret_file(format!("{A}\n{A}\n").as_bytes()).unwrap_err().0, Some(2));
        assert!(parse_secret_file(&[0u8; 16]).is_err());
        assert!(parse_secret_file(&[0xffu8; 17]).is_err());
        assert!(parse_secret_file(b"\n# only a comment\n").is_err());
        assert!(format!("{:?}", s(A)).contains(".."), "Debug must not print the secret");
    }

    #[test]
    fn rotation_keeps_the_old_secret_for_an_hour() {
        let now = 1_000_000;
        let one = Secrets::new(SecretFile { current: s(A), also_accepted: None });
        let two = one.reload(SecretFile { current: s(B), also_accepted: None }, now);
        assert_eq!(two.current(), &s(B));
        assert_eq!(two.other_at(now + 3600), Some(&s(A)));
        assert_eq!(two.other_at(now + 3601), None);
        // Reading the same file again does not extend the old secret's hour.
        let three = two.reload(SecretFile { current: s(B), also_accepted: None }, now + 1000);
        assert_eq!(three.other_at(now + 3601), None);
        // A file that lists the other secret keeps it for as long as it lists it.
        let listed = one.reload(SecretFile { current: s(B), also_accepted: Some(s(A)) }, now);
        assert_eq!(listed.other_at(now + 100_000), Some(&s(A)));
        // ... and dropping it from the file ends it at once.
        let dropped = listed.reload(SecretFile { current: s(B), also_accepted: None }, now + 100_000);
        assert_eq!(dropped.other_at(now + 100_000), None);
    }
}
