//! `[zone.dnssec]`: online signing of a zone by gslbd, its keys and policy, and what a load does
//! with them: read (or, the first time, make) the zone's keys, start a ZSK rollover that is
//! due, and sign the zone, keeping the signatures of the previous version that still serve.
//!
//! ```toml
//! [[zone]]
//! origin = "gslb.example.com."
//! file = "zones/gslb.example.com.zone"
//! [zone.dnssec]                 # or `signing = "online"` with every default
//! algorithm = "ecdsap256sha256" # 13 (default) or "ed25519" (15)
//! key_dir = "state/keys"        # default: <server.state_dir>/keys
//! signature_validity = "14d"    # RRSIG lifetime
//! refresh = "7d"                # re-sign when less than this is left
//! zsk_lifetime = "30d"          # ZSK rollover by pre-publication; "0" = never
//! propagation_delay = "1h"      # added to the DNSKEY TTL before a new key signs
//! manage_keys = true            # false on fleet nodes that receive the key files
//! answer_cache = 100000         # pooled answer sets whose RRSIGs are kept
//! denial_cache = 100000         # NSEC records of negative answers kept
//! presign_limit = 10000         # answer sets signed at load
//! ```
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::diag::ConfigError;
use crate::dnssec::{Algorithm, KeySet, ZskSchedule, keys};
use crate::zone::{Signer, SignerParams, Zone};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDnssec {
    enabled: Option<bool>,
    algorithm: Option<Spanned<toml::Value>>,
    key_dir: Option<PathBuf>,
    signature_validity: Option<Spanned<toml::Value>>,
    refresh: Option<Spanned<toml::Value>>,
    zsk_lifetime: Option<Spanned<toml::Value>>,
    propagation_delay: Option<Spanned<toml::Value>>,
    manage_keys: Option<bool>,
    answer_cache: Option<Spanned<usize>>,
    denial_cache: Option<Spanned<usize>>,
    presign_limit: Option<usize>,
}

/// An online-signed zone's DNSSEC settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnssecSettings {
    pub algorithm: Algorithm,
    pub key_dir: PathBuf,
    pub params: SignerParams,
    /// Seconds a ZSK signs before it is rolled (0: never).
    pub zsk_lifetime: u64,
    pub propagation_delay: u64,
    /// Make the first keys and roll the ZSK on schedule (the key-managing node of a fleet).
    pub manage_keys: bool,
    /// The config file and line of the zone entry (for errors about keys).
    pub config: PathBuf,
    pub line: usize,
}

impl DnssecSettings {
    /// The ZSK rollover schedule for a zone whose DNSKEY TTL is `dnskey_ttl` and whose largest
    /// signed TTL is `max_ttl`.
    pub fn schedule(&self, dnskey_ttl: u32, max_ttl: u32) -> ZskSchedule {
        ZskSchedule {
            lifetime: self.zsk_lifetime,
            prepublish: u64::from(dnskey_ttl) + self.propagation_delay,
            retire: u64::from(max_ttl) + self.propagation_delay,
        }
    }
}

/// A duration: seconds, or a number with the unit s, m, h, d or w ("14d").
fn duration(v: &toml::Value) -> Option<u64> {
    match v {
        toml::Value::Integer(i) => u64::try_from(*i).ok(),
        toml::Value::String(s) => {
            let s = s.trim();
            let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
            let n: u64 = num.parse().ok()?;
            let mul = match unit {
                "" | "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86_400,
                "w" => 604_800,
                _ => return None,
            };
            n.checked_mul(mul)
        }
        _ => None,
    }
}

/// Reads `[zone.dnssec]`; `state_dir` is where keys go by default; `at` turns a span into a line.
pub(super) fn parse(
    raw: RawDnssec,
    config: &Path,
    line: usize,
    base: &Path,
    state_dir: &Path,
    at: &dyn Fn(std::ops::Range<usize>) -> usize,
    errors: &mut Vec<ConfigError>,
) -> DnssecSettings {
    let mut err = |span: std::ops::Range<usize>, m: String| errors.push(ConfigError::new(config, at(span), m));
    let algorithm = match &raw.algorithm {
        None => Algorithm::EcdsaP256Sha256,
        Some(a) => match a.get_ref() {
            toml::Value::Integer(13) => Algorithm::EcdsaP256Sha256,
            toml::Value::Integer(15) => Algorithm::Ed25519,
            toml::Value::String(s) if s.eq_ignore_ascii_case("ecdsap256sha256") => Algorithm::EcdsaP256Sha256,
            toml::Value::String(s) if s.eq_ignore_ascii_case("ed25519") => Algorithm::Ed25519,
            other => {
                err(
                    a.span(),
                    format!("dnssec.algorithm = {other}: expected \"ecdsap256sha256\" (13) or \"ed25519\" (15)"),
                );
                Algorithm::EcdsaP256Sha256
            }
        },
    };
    let mut dur = |v: &Option<Spanned<toml::Value>>, name: &str, default: u64, min: u64, max: u64| match v {
        None => default,
        Some(v) => match duration(v.get_ref()).filter(|d| (*d == 0 && min == 0) || (min.max(1)..=max).contains(d)) {
            Some(d) => d,
            None => {
                err(
                    v.span(),
                    format!(
                        "dnssec.{name} = {}: expected a duration from {min} s to {max} s (a number of seconds, or with a unit s, m, h, d, w: \"14d\")",
                        v.get_ref()
                    ),
                );
                default
            }
        },
    };
    const DAY: u64 = 86_400;
    let validity = dur(&raw.signature_validity, "signature_validity", 14 * DAY, 60, 365 * DAY);
    let refresh = dur(&raw.refresh, "refresh", 7 * DAY, 30, 365 * DAY);
    let zsk_lifetime = dur(&raw.zsk_lifetime, "zsk_lifetime", 30 * DAY, 0, 3650 * DAY);
    let propagation_delay = dur(&raw.propagation_delay, "propagation_delay", 3600, 0, 7 * DAY);
    if refresh >= validity
        && let Some(r) = raw.refresh.as_ref().or(raw.signature_validity.as_ref())
    {
        err(r.span(), format!("dnssec.refresh ({refresh} s) must be less than signature_validity ({validity} s)"));
    }
    let mut size = |v: &Option<Spanned<usize>>, name: &str| match v {
        None => 100_000,
        Some(v) if (16..=10_000_000).contains(v.get_ref()) => *v.get_ref(),
        Some(v) => {
            err(v.span(), format!("dnssec.{name}: must be 16 to 10000000 entries"));
            100_000
        }
    };
    let answer_cache = size(&raw.answer_cache, "answer_cache");
    let denial_cache = size(&raw.denial_cache, "denial_cache");
    DnssecSettings {
        algorithm,
        key_dir: raw.key_dir.map(|d| base.join(d)).unwrap_or_else(|| state_dir.join("keys")),
        params: SignerParams {
            validity: validity as u32,
            refresh: refresh as u32,
            answer_cache,
            denial_cache,
            presign_limit: raw.presign_limit.unwrap_or(10_000),
        },
        zsk_lifetime,
        propagation_delay,
        manage_keys: raw.manage_keys.unwrap_or(true),
        config: config.to_path_buf(),
        line,
    }
}

/// Whether `[zone.dnssec]` turns signing on (`enabled` defaults to true when the table is there).
pub(super) fn enabled(raw: &Option<RawDnssec>) -> Option<bool> {
    raw.as_ref().map(|r| r.enabled.unwrap_or(true))
}

/// How a load treats the key directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAccess {
    /// Make missing keys (with `manage_keys`), start ZSK rollovers that are due, sign.
    Manage,
    /// Read the keys only, and do not sign (`gslbd check`).
    ReadOnly,
}

fn key_errors(s: &DnssecSettings, errs: Vec<crate::dnssec::Error>) -> Vec<ConfigError> {
    errs.into_iter()
        .map(|e| match e.split() {
            (Some(path), why) => ConfigError::new(path, 0, why),
            (None, why) => ConfigError::new(&s.config, s.line, format!("dnssec: {why}")),
        })
        .collect()
}

/// The zone's keys at `now`: read, made the first time (with `manage_keys`), and a due ZSK
/// rollover started.
pub fn zone_keys(
    s: &DnssecSettings,
    apex: &[u8],
    now: u64,
    access: KeyAccess,
    schedule: Option<ZskSchedule>,
) -> Result<KeySet, Vec<ConfigError>> {
    let create = access == KeyAccess::Manage && s.manage_keys;
    let mut set = keys::load_or_create(apex, &s.key_dir, s.algorithm, now, create).map_err(|e| key_errors(s, e))?;
    if set.keys.is_empty() && access == KeyAccess::Manage {
        return Err(vec![ConfigError::new(
            &s.config,
            s.line,
            format!(
                "dnssec: no keys for this zone in {} and manage_keys = false: copy the key files from the node that manages them",
                s.key_dir.display()
            ),
        )]);
    }
    if let (true, Some(sched)) = (create && s.zsk_lifetime > 0, schedule) {
        match set.roll_zsk(now, &sched, false) {
            Ok(Some(tag)) => {
                tracing::info!(zone = %crate::dnssec::name::to_text(apex), new_zsk = tag, "ZSK rollover started")
            }
            Ok(None) => {}
            Err(e) => return Err(key_errors(s, vec![e])),
        }
    }
    Ok(set)
}

/// Signs `zone` (loaded and linked) as `s` says, keeping what `previous` (its serving version)
/// signed that still serves. With [`KeyAccess::ReadOnly`] the keys are read and the zone is
/// left unsigned, with a signer that reports them.
pub fn sign(
    zone: &mut Zone,
    s: &DnssecSettings,
    previous: Option<&Zone>,
    now: u64,
    access: KeyAccess,
) -> Result<(), Vec<ConfigError>> {
    let apex = crate::zone::name_wire(&zone.origin);
    let dnskey_ttl = zone.soa().map_or(3600, |(_, soa)| soa.ttl);
    let prev_signer = previous.and_then(|p| p.signer.as_deref());
    let max_ttl = crate::zone::online::sign::max_ttl(zone);
    let schedule = s.schedule(dnskey_ttl, max_ttl);
    let keys = zone_keys(s, &apex, now, access, Some(schedule))?;
    let mut signer = Signer::new(&apex, keys, s.params, now, prev_signer);
    signer.schedule = (s.manage_keys && s.zsk_lifetime > 0).then_some(schedule);
    if access == KeyAccess::ReadOnly {
        zone.signer = Some(std::sync::Arc::new(signer));
        return Ok(());
    }
    crate::zone::online::sign::sign_zone(zone, signer, previous)
}
