//! A zone's keys in its key directory, what each key does at a given time, and the changes the
//! key manager makes to them: the first keys at first start, the ZSK rollover by
//! pre-publication on schedule (RFC 6781 §4.1.1.1, RFC 7583 §3.2), the KSK rollover by command
//! (double-KSK, RFC 6781 §4.1.2), and the import of BIND key files.
//!
//! A key's state is its BIND timing (Publish, Activate, Inactive, Delete) read against the
//! clock, so every node of a fleet that has the same key files does the same thing at the
//! same time, whichever of them made the change:
//!
//! ```text
//!  Future ──Publish──► Published ──Activate──► Active ──Inactive──► Retired ──Delete──► Removed
//!              (in DNSKEY, not signing)   (signing)       (in DNSKEY, not signing)
//! ```
//! A timing field that is not set imposes nothing (a key without Publish is published).
//!
//! ZSK rollover: when the signing ZSK is `lifetime` old less the pre-publication time
//! (DNSKEY TTL + propagation delay), a successor is generated, published now and activated
//! when the pre-publication time has passed (not before the old key's lifetime ends); the old
//! key's Inactive is that moment, and its Delete is later by the largest TTL of the signed
//! data plus the propagation delay, when no cache holds a signature of it any more.
use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{Error, Result};
use super::key::Algorithm;
use super::keyfile::{file_stem, load_zone_keys, read_key_files, rewrite_key_files, write_key_files};
use super::name;
use super::zonekey::{Timing, ZoneKey};

/// What a key is doing at one moment (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Future,
    Published,
    Active,
    Retired,
    Removed,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Future => "future",
            KeyState::Published => "published",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Removed => "removed",
        }
    }
    /// In the DNSKEY RRset.
    pub fn is_published(self) -> bool {
        matches!(self, KeyState::Published | KeyState::Active | KeyState::Retired)
    }
}

/// The state of `key` at `now` (seconds since the epoch).
pub fn state(key: &ZoneKey, now: u64) -> KeyState {
    let t = &key.timing;
    if t.delete.is_some_and(|d| d <= now) {
        KeyState::Removed
    } else if t.publish.is_some_and(|p| p > now) {
        KeyState::Future
    } else if t.inactive.is_some_and(|i| i <= now) {
        KeyState::Retired
    } else if t.activate.is_some_and(|a| a > now) {
        KeyState::Published
    } else {
        KeyState::Active
    }
}

/// The keys of one zone, as found in its key directory.
#[derive(Debug)]
pub struct KeySet {
    /// The zone apex, lowercase wire form.
    pub zone: Vec<u8>,
    pub dir: PathBuf,
    /// By key tag.
    pub keys: Vec<ZoneKey>,
}

/// When a timing field was set, or 0.
fn at(t: Option<u64>) -> u64 {
    t.unwrap_or(0)
}

impl KeySet {
    /// Every key in the DNSKEY RRset at `now`.
    pub fn published(&self, now: u64) -> impl Iterator<Item = &ZoneKey> {
        self.keys.iter().filter(move |k| state(k, now).is_published())
    }

    /// The key that signs the zone's data at `now`: the most recently activated active ZSK,
    /// or, for a zone with a combined signing key only, the most recent active KSK.
    pub fn signing_zsk(&self, now: u64) -> Option<&ZoneKey> {
        let newest = |ksk: bool| {
            self.keys
                .iter()
                .filter(|k| k.is_ksk() == ksk && state(k, now) == KeyState::Active)
                .max_by_key(|k| (at(k.timing.activate), at(k.timing.created)))
        };
        newest(false).or_else(|| newest(true))
    }

    /// The keys that sign the DNSKEY, CDS and CDNSKEY RRsets at `now`: every active KSK (both
    /// during a KSK rollover, so that either DS at the parent validates).
    pub fn signing_ksks(&self, now: u64) -> Vec<&ZoneKey> {
        self.keys.iter().filter(|k| k.is_ksk() && state(k, now) == KeyState::Active).collect()
    }

    /// The KSK the parent should have a DS for (CDS and CDNSKEY, RFC 7344): the newest active.
    pub fn cds_key(&self, now: u64) -> Option<&ZoneKey> {
        self.signing_ksks(now).into_iter().max_by_key(|k| (at(k.timing.activate), at(k.timing.created)))
    }

    /// The next moment after `now` at which a key changes state.
    pub fn next_change(&self, now: u64) -> Option<u64> {
        let t = |k: &ZoneKey| [k.timing.publish, k.timing.activate, k.timing.inactive, k.timing.delete];
        self.keys.iter().flat_map(t).flatten().filter(|&x| x > now).min()
    }

    /// The file stem (`K<zone>+<alg>+<tag>`) of a key, as it is in the key directory.
    pub fn path_of(&self, key: &ZoneKey) -> PathBuf {
        self.dir.join(file_stem(key))
    }
}

/// Reads the keys of `zone` (wire form) in `dir`. With `create`, the directory is made
/// (mode 0700) if missing, and a zone without keys gets a new KSK and ZSK of `algorithm`,
/// written with mode 0600; without it a missing directory is an empty key set. Keys of
/// another algorithm than `algorithm` are refused (no algorithm rollover here).
pub fn load_or_create(
    zone: &[u8],
    dir: &Path,
    algorithm: Algorithm,
    now: u64,
    create: bool,
) -> std::result::Result<KeySet, Vec<Error>> {
    let zone = name::to_lowercase(zone);
    let set = |keys| KeySet { zone: zone.clone(), dir: dir.to_path_buf(), keys };
    if !dir.is_dir() {
        if !create {
            return Ok(set(Vec::new()));
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|err| vec![Error::Io { path: dir.to_path_buf(), err }])?;
    }
    let mut keys = load_zone_keys(dir, &zone)?;
    if keys.is_empty() && create {
        let _lock = DirLock::take(dir, &zone).map_err(|e| vec![e])?;
        // Another process may have made them while this one waited.
        keys = load_zone_keys(dir, &zone)?;
        if keys.is_empty() {
            for key in [ZoneKey::generate_ksk(&zone, algorithm, now), ZoneKey::generate_zsk(&zone, algorithm, now)] {
                let key = key.map_err(|e| vec![e])?;
                write_key_files(dir, &key).map_err(|e| vec![e])?;
                keys.push(key);
            }
            keys.sort_by_key(ZoneKey::key_tag);
        }
    }
    let wrong: Vec<Error> = keys
        .iter()
        .filter(|k| k.algorithm() != algorithm)
        .map(|k| Error::KeyFile {
            path: dir.join(format!("{}.key", file_stem(k))),
            why: format!(
                "algorithm {} ({}), but the zone is signed with {} ({}); remove the key or change `algorithm`",
                k.algorithm().number(),
                k.algorithm().mnemonic(),
                algorithm.number(),
                algorithm.mnemonic()
            ),
        })
        .collect();
    if !wrong.is_empty() {
        return Err(wrong);
    }
    Ok(set(keys))
}

/// Schedule of the ZSK rollover (see the module docs), in seconds.
#[derive(Clone, Copy, Debug)]
pub struct ZskSchedule {
    /// How long a ZSK signs.
    pub lifetime: u64,
    /// DNSKEY TTL + propagation delay: how long a new key is published before it signs.
    pub prepublish: u64,
    /// Largest TTL of the signed data + propagation delay: how long a retired key stays.
    pub retire: u64,
}

impl KeySet {
    /// When the next ZSK rollover must start (generate and publish the successor): `None`
    /// when one is under way, or the zone has no ZSK of its own.
    pub fn zsk_rollover_at(&self, now: u64, s: &ZskSchedule) -> Option<u64> {
        let cur = self.signing_zsk(now).filter(|k| !k.is_ksk())?;
        if cur.timing.inactive.is_some() {
            return None;
        }
        let start = cur.timing.activate.or(cur.timing.created).unwrap_or(now);
        Some(start.saturating_add(s.lifetime).saturating_sub(s.prepublish))
    }

    /// Starts a ZSK rollover now if it is due (or `force`): generates the successor (published
    /// now, active after the pre-publication time) and retires the signing ZSK then. Writes
    /// the key files; returns the new key's tag.
    pub fn roll_zsk(&mut self, now: u64, s: &ZskSchedule, force: bool) -> Result<Option<u16>> {
        let Some(due) = self.zsk_rollover_at(now, s) else { return Ok(None) };
        if due > now && !force {
            return Ok(None);
        }
        let Some(cur) = self.signing_zsk(now).map(ZoneKey::key_tag) else { return Ok(None) };
        let roll_at = if force { now } else { due.saturating_add(s.prepublish) };
        let activate = now.saturating_add(s.prepublish).max(roll_at);
        let mut succ = ZoneKey::generate_zsk(&self.zone, self.algorithm(cur)?, now)?;
        succ.timing = Timing { created: Some(now), publish: Some(now), activate: Some(activate), ..Timing::default() };
        write_key_files(&self.dir, &succ)?;
        let tag = succ.key_tag();
        self.keys.push(succ);
        if let Some(old) = self.keys.iter_mut().find(|k| k.key_tag() == cur && !k.is_ksk()) {
            old.timing.inactive = Some(activate);
            old.timing.delete = Some(activate.saturating_add(s.retire));
            rewrite_key_files(&self.dir, old)?;
        }
        self.keys.sort_by_key(ZoneKey::key_tag);
        Ok(Some(tag))
    }

    fn algorithm(&self, tag: u16) -> Result<Algorithm> {
        self.keys
            .iter()
            .find(|k| k.key_tag() == tag)
            .map(ZoneKey::algorithm)
            .ok_or(Error::BadZone(format!("no key with tag {tag}")))
    }

    /// Starts a KSK rollover: a new KSK, published and active now, beside the current ones;
    /// the DNSKEY RRset is signed by both and CDS/CDNSKEY name the new one. Returns its tag.
    pub fn roll_ksk(&mut self, now: u64, algorithm: Algorithm) -> Result<u16> {
        let ksk = ZoneKey::generate_ksk(&self.zone, algorithm, now)?;
        write_key_files(&self.dir, &ksk)?;
        let tag = ksk.key_tag();
        self.keys.push(ksk);
        self.keys.sort_by_key(ZoneKey::key_tag);
        Ok(tag)
    }

    /// Ends a KSK rollover: the KSK `tag` stops signing and leaves the DNSKEY RRset now. Refused
    /// when it is the last active KSK.
    pub fn retire_ksk(&mut self, now: u64, tag: u16) -> Result<()> {
        let others = self.signing_ksks(now).iter().filter(|k| k.key_tag() != tag).count();
        let dir = self.dir.clone();
        let Some(key) = self.keys.iter_mut().find(|k| k.key_tag() == tag && k.is_ksk()) else {
            return Err(Error::BadZone(format!("no KSK with tag {tag} in {}", dir.display())));
        };
        if others == 0 {
            return Err(Error::BadZone(format!("KSK {tag} is the only active KSK; start a rollover first (ksk-roll)")));
        }
        key.timing.inactive = Some(now);
        key.timing.delete = Some(now);
        rewrite_key_files(&dir, key)
    }
}

/// Copies BIND key files (`.key` with its `.private`) of `zone` into `dir`, mode 0600. Each
/// must belong to the zone, have an algorithm gslbd signs with and a private key file others
/// cannot read. Returns the keys imported.
pub fn import(zone: &[u8], dir: &Path, files: &[PathBuf]) -> Result<Vec<ZoneKey>> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|err| Error::Io { path: dir.into(), err })?;
    let mut out = Vec::new();
    for f in files {
        let key = read_key_files(f)?;
        if !name::eq_ignore_case(key.zone(), zone) {
            return Err(Error::KeyFile { path: f.clone(), why: "the DNSKEY owner is not the zone".into() });
        }
        write_key_files(dir, &key)?;
        out.push(key);
    }
    Ok(out)
}

/// One process at a time makes a zone's first keys: a lock file made with `create_new`
/// beside them. One older than a minute is left by a crash and taken over.
struct DirLock(PathBuf);

impl DirLock {
    fn take(dir: &Path, zone: &[u8]) -> Result<DirLock> {
        let path = dir.join(format!(".K{}lock", name::to_text(zone)));
        for _ in 0..500 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(DirLock(path)),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let stale = fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|m| m.elapsed().ok())
                        .is_some_and(|age| age > Duration::from_secs(60));
                    if stale {
                        let _ = fs::remove_file(&path);
                    } else {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                Err(err) => return Err(Error::Io { path, err }),
            }
        }
        Err(Error::KeyFile { path, why: "another process holds this lock for more than 10 s".into() })
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gslbd-keys-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn first_keys_are_made_once_and_reused() {
        let d = dir("first");
        let zone = name::from_text("Example.", None).unwrap();
        let a = load_or_create(&zone, &d, Algorithm::EcdsaP256Sha256, 1000, true).unwrap();
        assert_eq!(a.keys.len(), 2);
        let b = load_or_create(&zone, &d, Algorithm::EcdsaP256Sha256, 2000, true).unwrap();
        let tags = |s: &KeySet| s.keys.iter().map(ZoneKey::key_tag).collect::<Vec<_>>();
        assert_eq!(tags(&a), tags(&b));
        assert!(load_or_create(&zone, &d, Algorithm::Ed25519, 2000, true).is_err(), "algorithm mismatch");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn zsk_rollover_prepublishes_then_switches_then_removes() {
        let d = dir("zsk");
        let zone = name::from_text("example.", None).unwrap();
        let mut set = load_or_create(&zone, &d, Algorithm::EcdsaP256Sha256, 1000, true).unwrap();
        let s = ZskSchedule { lifetime: 100, prepublish: 10, retire: 20 };
        let old = set.signing_zsk(1000).unwrap().key_tag();
        assert_eq!(set.zsk_rollover_at(1000, &s), Some(1090));
        assert_eq!(set.roll_zsk(1050, &s, false).unwrap(), None, "not due");
        let new = set.roll_zsk(1090, &s, false).unwrap().expect("rolled");
        assert_eq!(set.published(1095).count(), 3, "KSK, old and new ZSK");
        assert_eq!(set.signing_zsk(1095).unwrap().key_tag(), old, "the new key is only published");
        assert_eq!(set.signing_zsk(1100).unwrap().key_tag(), new, "then it signs");
        assert_eq!(set.published(1119).count(), 3);
        assert_eq!(set.published(1120).count(), 2, "the old key is gone");
        assert_eq!(set.zsk_rollover_at(1120, &s), Some(1190));
        // The files say the same.
        let again = load_or_create(&zone, &d, Algorithm::EcdsaP256Sha256, 1200, false).unwrap();
        assert_eq!(again.signing_zsk(1100).unwrap().key_tag(), new);
        assert_eq!(again.published(1120).count(), 2);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn ksk_rollover_by_command() {
        let d = dir("ksk");
        let zone = name::from_text("example.", None).unwrap();
        let mut set = load_or_create(&zone, &d, Algorithm::EcdsaP256Sha256, 1000, true).unwrap();
        let old = set.cds_key(1000).unwrap().key_tag();
        assert!(set.retire_ksk(1000, old).is_err(), "the only KSK");
        let new = set.roll_ksk(1010, Algorithm::EcdsaP256Sha256).unwrap();
        assert_eq!(set.signing_ksks(1010).len(), 2);
        assert_eq!(set.cds_key(1010).unwrap().key_tag(), new);
        set.retire_ksk(1020, old).unwrap();
        assert_eq!(set.signing_ksks(1020).len(), 1);
        assert_eq!(set.published(1020).filter(|k| k.is_ksk()).count(), 1);
        let _ = fs::remove_dir_all(&d);
    }
}
