//! Zone transfers in the config: the TSIG key file (`[transfer] keys`), and per `[[zone]]` who
//! may transfer it (`allow_transfer`), whom to NOTIFY (`notify`), the serial policy (`serial`),
//! and, for a secondary zone, its primaries (`primary`, `primary_key`).
//!
//! ```toml
//! [transfer]
//! keys = "tsig.key"            # BIND `key "name" { … };` or TOML (`.toml`); mode 0600
//! journal = 20                 # versions of each zone kept for IXFR (0 = AXFR only)
//!
//! [[zone]]
//! origin = "gslb.example.com."
//! file = "gslb.example.com.zone"
//! allow_transfer = [{ networks = ["192.0.2.0/24"], key = "xfr" }]
//! notify = ["192.0.2.53:53"]
//! serial = "keep"              # or "unixtime", "increment"
//! ```
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hickory_proto::rr::Name;
use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use crate::diag::{ConfigError, line_of};
use crate::tsig::KeyRing;

/// `[transfer]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTransfer {
    keys: Option<Spanned<PathBuf>>,
    journal: Option<Spanned<usize>>,
    max_in_bytes: Option<Spanned<u64>>,
    max_in_seconds: Option<Spanned<u64>>,
}

/// One `allow_transfer` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAllow {
    networks: Option<Vec<String>>,
    key: Option<String>,
}

/// The transfer keys of one `[[zone]]`.
#[derive(Deserialize, Default)]
pub(super) struct RawZoneTransfer {
    pub(super) allow_transfer: Option<Spanned<Vec<RawAllow>>>,
    pub(super) notify: Option<Spanned<Vec<String>>>,
    pub(super) notify_key: Option<Spanned<String>>,
    pub(super) serial: Option<Spanned<String>>,
    pub(super) primary: Option<Spanned<Vec<String>>>,
    pub(super) primary_key: Option<Spanned<String>>,
}

/// How a zone's SOA serial is chosen when its data changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SerialPolicy {
    /// The file's serial; changed data under the same serial fails the reload.
    #[default]
    Keep,
    /// gslbd sets the serial to the UNIX time of the load (or one more than the serial
    /// served, when that is higher) whenever the data changed.
    UnixTime,
    /// gslbd adds one to the serial served whenever the data changed.
    Increment,
}

/// Who may transfer a zone: a client matches a rule when its address is in one of the rule's
/// networks (any address when none are given) and its request is signed with the rule's key
/// (unsigned is fine when the rule names none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowRule {
    pub networks: Vec<IpNet>,
    pub key: Option<Name>,
}

impl AllowRule {
    pub fn allows(&self, addr: std::net::IpAddr, key: Option<&Name>) -> bool {
        let net_ok = self.networks.is_empty() || self.networks.iter().any(|n| n.contains(&addr));
        let key_ok = match &self.key {
            None => true,
            Some(k) => key.is_some_and(|used| used == k),
        };
        net_ok && key_ok
    }
}

/// The transfer settings of one zone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneTransfer {
    pub allow: Vec<AllowRule>,
    pub notify: Vec<SocketAddr>,
    pub notify_key: Option<Name>,
    pub serial: SerialPolicy,
    /// Primaries of a secondary zone (empty for a zone served from its file).
    pub primary: Vec<SocketAddr>,
    pub primary_key: Option<Name>,
    /// The zone's file: for a secondary, where the transferred copy is kept.
    pub file: PathBuf,
}

impl ZoneTransfer {
    /// Whether the zone is loaded from primaries (the secondary role).
    pub fn is_secondary(&self) -> bool {
        !self.primary.is_empty()
    }
    /// Whether `addr` with `key` (the verified TSIG key, if any) may transfer the zone.
    pub fn allows(&self, addr: std::net::IpAddr, key: Option<&Name>) -> bool {
        self.allow.iter().any(|r| r.allows(addr, key))
    }
}

/// `[transfer]` compiled: the key file's path (read when the snapshot is built) and the journal bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferSettings {
    pub keys_file: Option<PathBuf>,
    pub keys_line: usize,
    /// Versions of each zone kept for IXFR.
    pub journal: usize,
    /// Bounds on one transfer in (secondary role): octets, and seconds from connect to the end.
    pub max_in_bytes: usize,
    pub max_in_seconds: u64,
}

/// The default number of versions kept per zone for IXFR.
pub const DEFAULT_JOURNAL: usize = 20;
/// The most versions kept per zone.
pub const MAX_JOURNAL: usize = 1000;

impl Default for TransferSettings {
    fn default() -> Self {
        TransferSettings {
            keys_file: None,
            keys_line: 0,
            journal: DEFAULT_JOURNAL,
            max_in_bytes: 256 << 20,
            max_in_seconds: 120,
        }
    }
}

pub(super) fn parse_settings(
    path: &Path,
    text: &str,
    base: &Path,
    raw: Option<RawTransfer>,
    errors: &mut Vec<ConfigError>,
) -> TransferSettings {
    let mut s = TransferSettings::default();
    let Some(raw) = raw else { return s };
    if let Some(k) = raw.keys {
        s.keys_line = line_of(text, k.span().start);
        s.keys_file = Some(base.join(k.get_ref()));
    }
    if let Some(j) = raw.journal {
        if *j.get_ref() > MAX_JOURNAL {
            errors.push(ConfigError::new(
                path,
                line_of(text, j.span().start),
                format!("transfer.journal: must be 0 to {MAX_JOURNAL}"),
            ));
        } else {
            s.journal = j.into_inner();
        }
    }
    let mut bounded = |v: Option<Spanned<u64>>, name: &str, lo: u64, hi: u64, slot: &mut u64| {
        let Some(v) = v else { return };
        if (lo..=hi).contains(v.get_ref()) {
            *slot = v.into_inner();
        } else {
            errors.push(ConfigError::new(
                path,
                line_of(text, v.span().start),
                format!("transfer.{name}: must be {lo} to {hi}"),
            ));
        }
    };
    let mut bytes = s.max_in_bytes as u64;
    bounded(raw.max_in_bytes, "max_in_bytes", 4096, 1 << 34, &mut bytes);
    s.max_in_bytes = bytes as usize;
    bounded(raw.max_in_seconds, "max_in_seconds", 1, 3600, &mut s.max_in_seconds);
    s
}

/// The transfer keys of a `[[zone]]`; key names are checked against the key file later, when
/// it is read ([`check_keys`]).
pub(super) fn parse_zone(
    path: &Path,
    text: &str,
    origin: &Name,
    raw: RawZoneTransfer,
    errors: &mut Vec<ConfigError>,
) -> ZoneTransfer {
    let at = |s: std::ops::Range<usize>| line_of(text, s.start);
    let mut t = ZoneTransfer::default();
    let key_name = |k: &Spanned<String>, errors: &mut Vec<ConfigError>| match crate::tsig::key_name(k.get_ref()) {
        Ok(n) => Some(n),
        Err(e) => {
            errors.push(ConfigError::new(
                path,
                at(k.span()),
                format!("zone {origin}: key name '{}': {e}", k.get_ref()),
            ));
            None
        }
    };
    if let Some(list) = raw.allow_transfer {
        let line = at(list.span());
        for a in list.into_inner() {
            let mut networks = Vec::new();
            let given = a.networks.as_ref().is_some_and(|n| !n.is_empty());
            for n in a.networks.unwrap_or_default() {
                match n.parse::<IpNet>().or_else(|_| n.parse::<std::net::IpAddr>().map(IpNet::from)) {
                    Ok(net) => networks.push(net.trunc()),
                    Err(_) => errors.push(ConfigError::new(
                        path,
                        line,
                        format!("zone {origin}: allow_transfer: '{n}' is not an address or network (192.0.2.0/24, 2001:db8::/32)"),
                    )),
                }
            }
            let key = match a.key.as_deref().map(crate::tsig::key_name) {
                None => None,
                Some(Ok(k)) => Some(k),
                Some(Err(e)) => {
                    errors.push(ConfigError::new(path, line, format!("zone {origin}: allow_transfer key: {e}")));
                    None
                }
            };
            if !given && key.is_none() {
                errors.push(ConfigError::new(
                    path,
                    line,
                    format!("zone {origin}: an allow_transfer entry needs networks, a key or both (an empty one would allow anybody)"),
                ));
                continue;
            }
            t.allow.push(AllowRule { networks, key });
        }
    }
    let addrs = |list: Option<Spanned<Vec<String>>>, what: &str, errors: &mut Vec<ConfigError>| -> Vec<SocketAddr> {
        let Some(list) = list else { return Vec::new() };
        let line = at(list.span());
        let mut out = Vec::new();
        for a in list.into_inner() {
            match a.parse::<SocketAddr>().or_else(|_| a.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 53))) {
                Ok(s) => out.push(s),
                Err(_) => errors.push(ConfigError::new(
                    path,
                    line,
                    format!(
                        "zone {origin}: {what}: '{a}' is not an address or address:port ([2001:db8::1]:53 for IPv6)"
                    ),
                )),
            }
        }
        out
    };
    t.notify = addrs(raw.notify, "notify", errors);
    t.primary = addrs(raw.primary, "primary", errors);
    t.notify_key = raw.notify_key.as_ref().and_then(|k| key_name(k, errors));
    t.primary_key = raw.primary_key.as_ref().and_then(|k| key_name(k, errors));
    if let Some(s) = &raw.serial {
        t.serial = match s.get_ref().as_str() {
            "keep" => SerialPolicy::Keep,
            "unixtime" => SerialPolicy::UnixTime,
            "increment" => SerialPolicy::Increment,
            other => {
                errors.push(ConfigError::new(
                    path,
                    at(s.span()),
                    format!("zone {origin}: serial = \"{other}\": expected \"keep\", \"unixtime\" or \"increment\""),
                ));
                SerialPolicy::Keep
            }
        };
        if t.is_secondary() && t.serial != SerialPolicy::Keep {
            errors.push(ConfigError::new(
                path,
                at(s.span()),
                format!("zone {origin}: a secondary zone serves its primary's serial; serial must be \"keep\""),
            ));
        }
    }
    t
}

/// Reads the key file and checks that every key a zone names is in it. `zones` holds each
/// zone's origin, the line of its `[[zone]]` and its settings.
pub(super) fn read_keys(
    config: &Path,
    settings: &TransferSettings,
    zones: &[(&Name, usize, &ZoneTransfer)],
    errors: &mut Vec<ConfigError>,
) -> KeyRing {
    let ring = match &settings.keys_file {
        Some(p) => crate::tsig::keyfile::read(p).unwrap_or_else(|e| {
            errors.extend(e);
            KeyRing::default()
        }),
        None => KeyRing::default(),
    };
    let read_ok = settings.keys_file.is_none() || !ring.is_empty();
    for (origin, line, t) in zones {
        let named =
            t.allow.iter().filter_map(|r| r.key.as_ref()).chain(t.notify_key.iter()).chain(t.primary_key.iter());
        for k in named {
            if read_ok && ring.get(k).is_none() {
                let why = if settings.keys_file.is_none() {
                    "no [transfer] keys file is configured"
                } else {
                    "the key file does not define it"
                };
                errors.push(ConfigError::new(config, *line, format!("zone {origin}: TSIG key {k} is unknown: {why}")));
            }
        }
    }
    ring
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn every_transfer_key_error_has_its_line() {
        let text = "[server]\nlisten = [\"127.0.0.1:53\"]\n\n[transfer]\njournal = 5000\nmax_in_seconds = 0\n\n\
                    [[zone]]\norigin = \"a.test.\"\nfile = \"a.zone\"\n\
                    allow_transfer = [{ networks = [\"not-a-net\"] }, {}]\nnotify = [\"x\"]\nserial = \"sometimes\"\n\n\
                    [[zone]]\norigin = \"b.test.\"\nprimary = [\"192.0.2.1\"]\nserial = \"unixtime\"\n";
        let errs = crate::config::parse_config(Path::new("g.toml"), text).unwrap_err();
        let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.message.as_str())).collect();
        let has = |line: usize, part: &str| got.iter().any(|(l, m)| *l == line && m.contains(part));
        assert!(has(11, "'not-a-net' is not an address or network"), "{got:?}");
        assert!(has(11, "needs networks, a key or both"), "{got:?}");
        assert!(has(12, "notify: 'x'"), "{got:?}");
        assert!(has(13, "serial = \"sometimes\""), "{got:?}");
        assert!(has(18, "a secondary zone serves its primary's serial"), "{got:?}");
        assert!(has(5, "transfer.journal"), "{got:?}");
        assert!(has(6, "transfer.max_in_seconds"), "{got:?}");
        assert_eq!(got.len(), 7, "one error each: {got:?}");
    }
}
