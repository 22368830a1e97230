//! `gslbd dnssec …`: the key commands of an online-signed zone, run beside (or without) the
//! server on the same key directory. A running server sees their changes at its next reload,
//! which the file watcher starts when a key file appears or changes.
//!
//! | command | what |
//! |---|---|
//! | `ds ZONE` | the DS records the parent publishes (one per active KSK, SHA-256) |
//! | `keys [ZONE]` | every key: tag, role, algorithm, state, timing, file |
//! | `ksk-roll ZONE` | starts a KSK rollover: a new KSK signs beside the old; CDS/CDNSKEY name it |
//! | `ksk-retire ZONE TAG` | ends it: the old KSK leaves the DNSKEY RRset (once the parent's DS is the new one) |
//! | `zsk-roll ZONE` | starts a ZSK rollover now instead of on schedule |
//! | `import ZONE FILE…` | copies BIND `K*.key`/`.private` files into the key directory (0600) |
use std::fmt::Write;
use std::path::{Path, PathBuf};

use hickory_proto::rr::Name;

use crate::config::{DnssecSettings, KeyAccess, ZoneEntry, parse_config, zone_keys};
use crate::dnssec::keys::{self, KeyState, state};
use crate::dnssec::text::{format_time, record_to_text};
use crate::dnssec::{KeySet, ZoneKey};
use crate::util::clock::unix_now;
use crate::zone::name_wire;

/// The signed zones of the config at `path`, with their settings (`zone`: only that one).
fn signed_zones(path: &Path, zone: Option<&str>) -> Result<Vec<(ZoneEntry, DnssecSettings)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read config: {e}", path.display()))?;
    let file = parse_config(path, &text)
        .map_err(|errs| errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))?;
    let want = match zone {
        Some(z) => {
            let mut n = Name::from_ascii(z).map_err(|_| format!("'{z}' is not a domain name"))?;
            n.set_fqdn(true);
            Some(n)
        }
        None => None,
    };
    let found: Vec<(ZoneEntry, DnssecSettings)> = file
        .zones
        .into_iter()
        .filter(|z| want.as_ref().is_none_or(|w| *w == z.origin))
        .filter_map(|z| z.dnssec.clone().map(|d| (z, d)))
        .collect();
    if found.is_empty() {
        return Err(match want {
            Some(w) => {
                format!("{}: zone {w} is not signed online (no [zone.dnssec], signing = \"online\")", path.display())
            }
            None => format!("{}: no zone is signed online", path.display()),
        });
    }
    Ok(found)
}

fn keyset(z: &ZoneEntry, s: &DnssecSettings, access: KeyAccess) -> Result<KeySet, String> {
    zone_keys(s, &name_wire(&z.origin), unix_now(), access, None)
        .map_err(|errs| errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
}

fn one(path: &Path, zone: &str) -> Result<(ZoneEntry, DnssecSettings), String> {
    signed_zones(path, Some(zone))?.into_iter().next().ok_or_else(|| format!("no zone {zone}"))
}

/// `ds ZONE`: the DS of every active KSK, as zone file lines (the keys are made if the zone
/// has none yet, as the first start would).
pub fn ds(path: &Path, zone: &str) -> Result<String, String> {
    let (z, s) = one(path, zone)?;
    let set = keyset(&z, &s, KeyAccess::Manage)?;
    let now = unix_now();
    let mut out = String::new();
    for k in set.signing_ksks(now) {
        let ds = k.ds().map_err(|e| e.to_string())?;
        let line = record_to_text(&set.zone, 3600, 43, &ds).map_err(|e| e.to_string())?;
        let _ = writeln!(out, "{line}");
    }
    Ok(out)
}

/// One key in a line: tag, role, algorithm, state, timing, file.
pub fn describe(set: &KeySet, k: &ZoneKey, now: u64) -> String {
    let role = if k.is_ksk() { "KSK" } else { "ZSK" };
    let mut line = format!("{:>5} {role} {} {}", k.key_tag(), k.algorithm().mnemonic(), state(k, now).as_str());
    let t = &k.timing;
    for (label, v) in [("publish", t.publish), ("activate", t.activate), ("inactive", t.inactive), ("delete", t.delete)]
    {
        if let Some(v) = v {
            let _ = write!(line, " {label}={}", format_time(v));
        }
    }
    let _ = write!(line, " {}.key", set.path_of(k).display());
    line
}

/// `keys [ZONE]`.
pub fn list(path: &Path, zone: Option<&str>) -> Result<String, String> {
    let now = unix_now();
    let mut out = String::new();
    for (z, s) in signed_zones(path, zone)? {
        let set = keyset(&z, &s, KeyAccess::ReadOnly)?;
        let _ = writeln!(out, "{} ({}, keys in {}):", z.origin, s.algorithm.mnemonic(), s.key_dir.display());
        if set.keys.is_empty() {
            let _ = writeln!(out, "  no keys yet: they are made at first start");
        }
        for k in &set.keys {
            let _ = writeln!(out, "  {}", describe(&set, k, now));
        }
    }
    Ok(out)
}

/// `ksk-roll ZONE`.
pub fn ksk_roll(path: &Path, zone: &str) -> Result<String, String> {
    let (z, s) = one(path, zone)?;
    let mut set = keyset(&z, &s, KeyAccess::Manage)?;
    let tag = set.roll_ksk(unix_now(), s.algorithm).map_err(|e| e.to_string())?;
    let new = set.keys.iter().find(|k| k.key_tag() == tag).ok_or("the new key is missing")?;
    let ds = record_to_text(&set.zone, 3600, 43, &new.ds().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    Ok(format!(
        "{}: new KSK {tag}; the DNSKEY RRset is signed by both KSKs, and CDS/CDNSKEY now name the new one.\n\
         Give the parent this DS (or let it take the CDS), wait for the old DS's TTL, then run\n  \
         gslbd dnssec ksk-retire {} <old tag>\n{ds}\n",
        z.origin, z.origin
    ))
}

/// `ksk-retire ZONE TAG`.
pub fn ksk_retire(path: &Path, zone: &str, tag: u16) -> Result<String, String> {
    let (z, s) = one(path, zone)?;
    let mut set = keyset(&z, &s, KeyAccess::Manage)?;
    set.retire_ksk(unix_now(), tag).map_err(|e| e.to_string())?;
    Ok(format!("{}: KSK {tag} retired; it leaves the DNSKEY RRset at the next reload\n", z.origin))
}

/// `zsk-roll ZONE`.
pub fn zsk_roll(path: &Path, zone: &str) -> Result<String, String> {
    let (z, s) = one(path, zone)?;
    let mut set = keyset(&z, &s, KeyAccess::Manage)?;
    let schedule = s.schedule(3600, 86_400);
    match set.roll_zsk(unix_now(), &schedule, true).map_err(|e| e.to_string())? {
        Some(tag) => Ok(format!(
            "{}: new ZSK {tag}, published now, signing in {} s; the old one is retired then\n",
            z.origin, schedule.prepublish
        )),
        None => Err(format!("{}: a ZSK rollover is already under way (or the zone has no ZSK)", z.origin)),
    }
}

/// `import ZONE FILE…`.
pub fn import(path: &Path, zone: &str, files: &[PathBuf]) -> Result<String, String> {
    let (z, s) = one(path, zone)?;
    let imported = keys::import(&name_wire(&z.origin), &s.key_dir, files).map_err(|e| e.to_string())?;
    let now = unix_now();
    let mut out = String::new();
    for k in &imported {
        if k.algorithm() != s.algorithm {
            let _ = writeln!(
                out,
                "warning: key {} has algorithm {}, the zone {}: the next load refuses it",
                k.key_tag(),
                k.algorithm().mnemonic(),
                s.algorithm.mnemonic()
            );
        }
        let st = if state(k, now) == KeyState::Active { "active" } else { state(k, now).as_str() };
        let _ = writeln!(out, "imported {} {} ({st})", k.key_tag(), if k.is_ksk() { "KSK" } else { "ZSK" });
    }
    Ok(out)
}
