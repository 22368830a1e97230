//! Key files in BIND's format: `K<zone>+<alg>+<tag>.key` (the DNSKEY record in presentation form)
//! and `.private` (`Private-key-format: v1.3`, the raw private key in base64, timing metadata).
//! dnssec-keygen writes them, dnssec-signzone and Knot's `keymgr import-bind` read them, and so do we.
//!
//! Both files are created with mode 0600. A new key never overwrites a file; a key's timing
//! (publish, activate, inactive, delete: what a rollover changes) is rewritten atomically with
//! the same mode ([`rewrite_key_files`]). A `.private` file that others may read (or write) is
//! refused: a private key readable by every local user is a config error. Group access is
//! allowed, so that a `gslbd` group may share the keys.
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::error::{Error, Result};
use super::key::{Algorithm, KeyPair, parse_dnskey};
use super::name;
use super::text::{base64, format_time, from_base64, parse_time};
use super::zonekey::{Timing, ZoneKey};

/// The zone name as it appears in key file names: presentation form, lowercase, with `/` escaped.
fn zone_for_file(zone: &[u8]) -> String {
    name::to_text(&name::to_lowercase(zone)).replace('/', "\\047")
}

/// `K<zone>+<alg>+<tag>`, as BIND names it (e.g. `Kexample.com.+013+12345`).
pub fn file_stem(key: &ZoneKey) -> String {
    format!("K{}+{:03}+{:05}", zone_for_file(key.zone()), key.algorithm().number(), key.key_tag())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |err| Error::Io { path: path.to_path_buf(), err }
}

fn write_new_0600(path: &Path, text: &str) -> Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn timing_lines(t: &Timing, out: &mut String, prefix: &str) {
    for (label, v) in [
        ("Created", t.created),
        ("Publish", t.publish),
        ("Activate", t.activate),
        ("Inactive", t.inactive),
        ("Delete", t.delete),
    ] {
        if let Some(v) = v {
            out.push_str(&format!("{prefix}{label}: {}\n", format_time(v)));
        }
    }
}

/// The text of the `.key` and `.private` files of `key`.
fn key_file_texts(key: &ZoneKey) -> Result<(String, String)> {
    let alg = key.algorithm();
    let mut private = format!(
        "Private-key-format: v1.3\nAlgorithm: {} ({})\nPrivateKey: {}\n",
        alg.number(),
        alg.mnemonic(),
        base64(key.pair().private_key())
    );
    timing_lines(&key.timing, &mut private, "");

    let role = if key.is_ksk() { "key-signing" } else { "zone-signing" };
    let zone = name::to_text(key.zone());
    let mut public = format!("; This is a {role} key, keyid {}, for {zone}\n", key.key_tag());
    timing_lines(&key.timing, &mut public, "; ");
    let (flags, proto, algn, pk) = parse_dnskey(key.dnskey())?;
    public.push_str(&format!("{zone} IN DNSKEY {flags} {proto} {algn} {}\n", base64(pk)));
    Ok((public, private))
}

fn paths(dir: &Path, key: &ZoneKey) -> (PathBuf, PathBuf) {
    let stem = file_stem(key);
    (dir.join(format!("{stem}.key")), dir.join(format!("{stem}.private")))
}

/// Writes `<dir>/K<zone>+<alg>+<tag>.key` and `.private` (mode 0600, refusing to overwrite) and
/// returns their paths.
pub fn write_key_files(dir: &Path, key: &ZoneKey) -> Result<(PathBuf, PathBuf)> {
    let (key_path, private_path) = paths(dir, key);
    let (public, private) = key_file_texts(key)?;
    write_new_0600(&private_path, &private)?;
    write_new_0600(&key_path, &public)?;
    Ok((key_path, private_path))
}

/// Replaces the key files of `key` (its timing changed), each atomically, mode 0600.
pub fn rewrite_key_files(dir: &Path, key: &ZoneKey) -> Result<()> {
    let (key_path, private_path) = paths(dir, key);
    let (public, private) = key_file_texts(key)?;
    crate::util::fs::write_atomic_private(&private_path, private.as_bytes()).map_err(io(&private_path))?;
    crate::util::fs::write_atomic_private(&key_path, public.as_bytes()).map_err(io(&key_path))
}

/// Refuses a private key file that "others" (not owner, not group) may read, write or execute.
pub fn check_private_permissions(path: &Path) -> Result<()> {
    let mode = fs::metadata(path).map_err(io(path))?.permissions().mode() & 0o7777;
    if mode & 0o007 != 0 {
        return Err(Error::Permissions { path: path.to_path_buf(), mode });
    }
    Ok(())
}

/// The `.key` and `.private` paths for any of `Kx.key`, `Kx.private` or the stem `Kx`.
fn both_paths(path: &Path) -> (PathBuf, PathBuf) {
    let s = path.to_string_lossy();
    let stem = s.strip_suffix(".key").or_else(|| s.strip_suffix(".private")).unwrap_or(&s);
    (PathBuf::from(format!("{stem}.key")), PathBuf::from(format!("{stem}.private")))
}

/// The DNSKEY record of a `.key` file: (owner wire, flags, algorithm, public key).
fn parse_key_file(path: &Path, text: &str) -> Result<(Vec<u8>, u16, u8, Vec<u8>)> {
    let bad = |why: &str| Error::KeyFile { path: path.to_path_buf(), why: why.to_string() };
    let mut joined = String::new();
    for line in text.lines() {
        let line = line.split(';').next().unwrap_or("");
        joined.push_str(line);
        joined.push(' ');
    }
    let tokens: Vec<&str> = joined.split_whitespace().filter(|t| *t != "(" && *t != ")").collect();
    let at = tokens.iter().position(|t| t.eq_ignore_ascii_case("DNSKEY")).ok_or_else(|| bad("no DNSKEY record"))?;
    if tokens.iter().filter(|t| t.eq_ignore_ascii_case("DNSKEY")).count() != 1 || at == 0 {
        return Err(bad("expected exactly one DNSKEY record with an owner name"));
    }
    let owner = name::from_text(tokens[0], None).map_err(|_| bad("the owner name must be absolute"))?;
    let num = |i: usize| tokens.get(at + i).and_then(|t| t.parse::<u32>().ok());
    let flags = num(1).and_then(|v| u16::try_from(v).ok()).ok_or_else(|| bad("bad DNSKEY flags"))?;
    if num(2) != Some(3) {
        return Err(bad("DNSKEY protocol must be 3"));
    }
    let alg = num(3).and_then(|v| u8::try_from(v).ok()).ok_or_else(|| bad("bad DNSKEY algorithm"))?;
    let key = from_base64(&tokens[at + 4..].join("")).ok_or_else(|| bad("bad base64 in the DNSKEY public key"))?;
    Ok((owner, flags, alg, key))
}

/// Reads a key pair from BIND key files; `path` is the `.key`, the `.private` or their common stem.
pub fn read_key_files(path: &Path) -> Result<ZoneKey> {
    let (key_path, private_path) = both_paths(path);
    let key_text = fs::read_to_string(&key_path).map_err(io(&key_path))?;
    let (owner, flags, alg_num, public) = parse_key_file(&key_path, &key_text)?;

    check_private_permissions(&private_path)?;
    let text = fs::read_to_string(&private_path).map_err(io(&private_path))?;
    let bad = |why: String| Error::KeyFile { path: private_path.clone(), why };
    let mut format = None;
    let mut alg = None;
    let mut private = None;
    let mut timing = Timing::default();
    for (i, line) in text.lines().enumerate() {
        let Some((k, v)) = line.split_once(':') else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(bad(format!("line {}: expected `Field: value`", i + 1)));
        };
        let v = v.trim();
        let time = || parse_time(v).ok_or_else(|| bad(format!("line {}: bad time {v:?}", i + 1)));
        match k.trim() {
            "Private-key-format" => format = Some(v.to_string()),
            "Algorithm" => alg = v.split_whitespace().next().and_then(|n| n.parse::<u8>().ok()),
            "PrivateKey" => private = from_base64(v),
            "Created" => timing.created = Some(time()?),
            "Publish" => timing.publish = Some(time()?),
            "Activate" => timing.activate = Some(time()?),
            "Inactive" => timing.inactive = Some(time()?),
            "Delete" => timing.delete = Some(time()?),
            _ => {} // SyncPublish, Revoke, ...: not used here
        }
    }
    if !format.as_deref().is_some_and(|f| f.starts_with("v1.")) {
        return Err(bad("missing or unknown Private-key-format (want v1.x)".into()));
    }
    let alg = alg.ok_or_else(|| bad("missing Algorithm".into()))?;
    if alg != alg_num {
        return Err(bad(format!("algorithm {alg} differs from the .key file's {alg_num}")));
    }
    let algorithm = Algorithm::from_number(alg)?;
    let private = private.ok_or_else(|| bad("missing or bad PrivateKey".into()))?;
    let pair = KeyPair::from_raw(algorithm, &private, &public).map_err(|e| bad(e.to_string()))?;
    ZoneKey::new(&owner, flags, pair, timing)
}

/// All keys of `zone` in `dir` (files `K<zone>+*.key` with their `.private`), by key tag;
/// every key file that cannot be used is reported.
pub fn load_zone_keys(dir: &Path, zone: &[u8]) -> std::result::Result<Vec<ZoneKey>, Vec<Error>> {
    let prefix = format!("k{}+", zone_for_file(zone)); // compared with the lowercased file name
    let mut keys = Vec::new();
    let mut errors = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| vec![io(dir)(e)])?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            file.to_ascii_lowercase().starts_with(&prefix) && file.ends_with(".key")
        })
        .map(|e| e.path())
        .collect();
    paths.sort();
    for path in paths {
        match read_key_files(&path) {
            Ok(key) if !name::eq_ignore_case(key.zone(), zone) => {
                errors.push(Error::KeyFile { path, why: "the DNSKEY owner is not the zone".into() })
            }
            Ok(key) => keys.push(key),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    keys.sort_by_key(ZoneKey::key_tag);
    Ok(keys)
}
