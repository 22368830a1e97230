//! Configuration: gslbd.toml and the zone and pool files it names, compiled into one
//! validated, immutable [`Snapshot`]. Every problem is reported with its file and line,
//! and all of them are collected.
//!
//! Problems of one zone (its zone file or its pool file) stay with that zone: the snapshot is
//! built without it, the zone is answered with SERVFAIL, and [`ZoneSet::problems`] lists its
//! errors; when a previous snapshot served the zone, its previous version is kept instead
//! (as Knot keeps a zone whose reload fails). Problems of the config as a whole (gslbd.toml
//! itself, the GeoIP and ASN databases, the admin token, the cookie secret, the DNS over TLS
//! certificate and key, the files `[cluster]` names, a runtime change for a zone without a
//! pool file, a probe name defined differently in two pool files), or no zone loaded at all,
//! fail the load.
//!
//! ```text
//! gslbd.toml ─parse_config─► ConfigFile ─build─┬─ zone files ─zone::load_zone─► Zone
//!                                              ├─ pool files ─load_pools─► Pools ─link_pools─► Zone with pooled nodes
//!                                              ├─ GeoIP and ASN databases ─GeoDb::open, chain ─► ECS scope maps
//!                                              ├─ cookie secret, TLS certificate and key
//!                                              └─ admin token file
//!                                                    ▼
//!                                  Snapshot { server, zones: ZoneSet, geo, ops, admin_token }
//! ```
//!
//! A reload builds a new snapshot beside the one serving and swaps it in; a snapshot
//! that fails to build is never seen by the query path. Nothing in a snapshot changes after
//! it is built: the live state (health, load, overrides, counters) lives beside it, in the
//! serving state.
mod certs;
mod dnssec;
mod edit;
mod extras;
mod file;
mod fleet;
mod geo_scopes;
mod link;
mod pools;
mod reuse;
mod serial;
mod toml_doc;
mod transfer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::diag::{ConfigError, ConfigErrors, line_of};
pub use file::{
    AdminSettings, ConfigFile, DEFAULT_ADMIN_LISTEN, DEFAULT_LOG_LEVEL, GeoEntry, LogFormat, LogSettings,
    MAX_RATE_TIMES_WINDOW, OpsSettings, RrlSettings, ServerSettings, TcpLimits, WatchSettings, ZoneEntry, parse_config,
};

pub use certs::load_certified_key;
pub use dnssec::{DnssecSettings, KeyAccess, zone_keys};
pub use edit::{Edit, Overlay, PoolEdit};
pub use extras::{Chaos, CookieSettings, TlsSettings};
pub use fleet::{ClusterConfig, ClusterFiles, ClusterSettings, ProbeSource};
pub use geo_scopes::GeoScopes;
pub use link::link_pools;
pub use pools::{load_pools, load_pools_with};
pub use serial::{apply_serials, check_serials};
pub use transfer::{AllowRule, DEFAULT_JOURNAL, SerialPolicy, TransferSettings, ZoneTransfer};

use crate::cookie::{Policy, SecretFile, Secrets, read_secret_file};
use crate::geo::GeoDb;
use crate::zone::{Chaos as ChaosRecords, Zone, ZoneProblem, ZoneSet, load_zone_with};

/// Everything the query path reads, built once per (re)load and never mutated.
pub struct Snapshot {
    pub config_path: PathBuf,
    pub server: ServerSettings,
    pub zones: ZoneSet,
    /// The GeoIP and ASN databases, if configured (each shared with the snapshot before it when
    /// a reload found the same file; the same `Arc` when every file is unchanged).
    pub geo: Option<Arc<GeoDb>>,
    /// The ECS scope maps of the pools over `geo` (the blocks of one answer; see `geo_scopes.rs`).
    pub geo_scopes: GeoScopes,
    /// `[admin]`, `[log]` and `[watch]`.
    pub ops: OpsSettings,
    /// The admin bearer token, read from `admin.token_file` at this load.
    pub admin_token: Option<AdminToken>,
    /// `[cluster]` with its files read; `None` for a single node.
    pub cluster: Option<ClusterConfig>,
    /// `admin.token_file` names a file that does not exist yet (`gslbd serve` creates it with
    /// a random token at start; until then changes through the API are refused).
    pub admin_token_missing: Option<PathBuf>,
    /// DNS cookies, with the secret read at this load (`[server.cookies]`).
    pub cookies: Option<Cookies>,
    /// The DNS over TLS certificate read at this load (`[server.tls]`).
    pub tls_key: Option<Arc<rustls::sign::CertifiedKey>>,
    /// The CHAOS TXT answers (`identity`, `version`).
    pub chaos: ChaosRecords,
    /// Zone transfers: the TSIG keys, the journal bound, and each zone's settings.
    pub transfer: Transfers,
    /// What each zone was built from, so that a reload keeps the zones whose files did not
    /// change (`reuse.rs`).
    pub inputs: reuse::Inputs,
}

/// What the transfer code reads from a snapshot.
#[derive(Clone, Debug, Default)]
pub struct Transfers {
    pub settings: TransferSettings,
    pub keys: crate::tsig::KeyRing,
    /// Each configured zone's settings, by origin.
    pub zones: Vec<(hickory_proto::rr::Name, ZoneTransfer)>,
}

impl Transfers {
    /// The settings of the zone `origin`.
    pub fn zone(&self, origin: &hickory_proto::rr::Name) -> Option<&ZoneTransfer> {
        self.zones.iter().find(|(o, _)| o == origin).map(|(_, t)| t)
    }
}

/// DNS cookies in force: the secrets (carried across reloads for rotation overlap, see
/// [`Snapshot::carry_cookie_secrets`]) and the UDP policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookies {
    pub file: SecretFile,
    pub secrets: Secrets,
    pub policy: Policy,
}

impl Snapshot {
    /// After a reload: a current secret that the new file dropped stays accepted for an hour
    /// (RFC 9018 §5), counted from `now` (UNIX seconds).
    pub fn carry_cookie_secrets(&mut self, old: &Snapshot, now: u32) {
        if let (Some(new), Some(old)) = (self.cookies.as_mut(), old.cookies.as_ref()) {
            new.secrets = old.secrets.reload(new.file, now);
        }
    }
}

/// A bearer token; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(pub String);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("config_path", &self.config_path)
            .field("zones", &self.zones.zones().len())
            .field("geo", &self.geo.as_ref().map(|g| g.description()))
            .finish()
    }
}

/// Reads gslbd.toml at `path` and every file it names, and builds a snapshot. Zones signed
/// online get their keys (made the first time) and signatures.
pub fn load(path: &Path) -> Result<Snapshot, ConfigErrors> {
    load_after(path, None)
}

/// [`load`] as a reload beside `previous` (the serving snapshot): a zone whose files now have
/// errors keeps its version in `previous`, an online-signed zone keeps the signatures of its
/// previous version that still serve, and a GeoIP or ASN database file with the very bytes of
/// one `previous` serves is shared, not read into memory a second time (`GeoDb::reopen`).
pub fn load_after(path: &Path, previous: Option<&Snapshot>) -> Result<Snapshot, ConfigErrors> {
    load_after_with(path, previous, &Overlay::default())
}

/// [`load`] with runtime changes applied on top of the pool files.
pub fn load_with(path: &Path, overlay: &Overlay) -> Result<Snapshot, ConfigErrors> {
    load_after_with(path, None, overlay)
}

/// [`load_after`] with runtime changes applied on top of the pool files.
pub fn load_after_with(path: &Path, previous: Option<&Snapshot>, overlay: &Overlay) -> Result<Snapshot, ConfigErrors> {
    load_full(path, previous, overlay, KeyAccess::Manage, crate::util::clock::unix_now())
}

/// [`load_after`] with the key directories treated as `keys` says (`gslbd check` reads them only).
pub fn load_keys(path: &Path, previous: Option<&Snapshot>, keys: KeyAccess) -> Result<Snapshot, ConfigErrors> {
    load_full(path, previous, &Overlay::default(), keys, crate::util::clock::unix_now())
}

/// [`load_keys`] as if the clock said `now` (Unix seconds): what signatures are made or kept
/// and which keys sign depend on it (tests move it forward).
pub fn load_at(path: &Path, previous: Option<&Snapshot>, keys: KeyAccess, now: u64) -> Result<Snapshot, ConfigErrors> {
    load_full(path, previous, &Overlay::default(), keys, now)
}

fn load_full(
    path: &Path,
    previous: Option<&Snapshot>,
    overlay: &Overlay,
    keys: KeyAccess,
    now: u64,
) -> Result<Snapshot, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigErrors(vec![ConfigError::new(path, 0, format!("cannot read config: {e}"))]))?;
    let file = parse_config(path, &text).map_err(ConfigErrors)?;
    build_full(file, previous, overlay, keys, now)
}

/// Builds a snapshot from a parsed config file, loading its zones.
pub fn build(file: ConfigFile) -> Result<Snapshot, ConfigErrors> {
    build_after(file, None)
}

/// [`build`], keeping from `previous` each zone that now fails to load.
pub fn build_after(file: ConfigFile, previous: Option<&Snapshot>) -> Result<Snapshot, ConfigErrors> {
    build_after_with(file, previous, &Overlay::default())
}

/// [`build_after`] with runtime changes applied on top of the pool files. A runtime change
/// that names a zone served without a pool file fails the load (the change cannot apply);
/// one that does not compile in its zone's pool file is that zone's error (see
/// `serving::compile`, which leaves such a change out instead).
pub fn build_after_with(
    file: ConfigFile,
    previous: Option<&Snapshot>,
    overlay: &Overlay,
) -> Result<Snapshot, ConfigErrors> {
    build_full(file, previous, overlay, KeyAccess::Manage, crate::util::clock::unix_now())
}

fn build_full(
    file: ConfigFile,
    previous: Option<&Snapshot>,
    overlay: &Overlay,
    keys: KeyAccess,
    now: u64,
) -> Result<Snapshot, ConfigErrors> {
    let mut errors = Vec::new();
    for e in &overlay.edits {
        let pooled = file.zones.iter().any(|z| z.pools.is_some() && z.origin.to_string().eq_ignore_ascii_case(&e.zone));
        if !pooled {
            errors.push(ConfigError::new(
                &file.path,
                0,
                format!("runtime change {e}: zone {} is not served with a pool file", e.zone),
            ));
        }
    }
    let mut zones = Vec::new();
    let mut problems = Vec::new();
    let mut probe_defs = Vec::new();
    let mut awaiting_transfer = 0;
    let mut inputs = reuse::Inputs::default();
    // The GeoIP and ASN databases are read and validated on a second core while the zones load.
    let (geo, geo_errors) = std::thread::scope(|s| {
        let geo = s.spawn(|| {
            let mut errors = Vec::new();
            let geo = file.geoip.as_ref().and_then(|g| open_geo(&file.path, g, previous, &mut errors));
            (geo, errors)
        });
        for z in &file.zones {
            let origin = z.origin.to_string();
            let edits: Vec<&PoolEdit> = overlay.edits.iter().filter(|e| e.zone.eq_ignore_ascii_case(&origin)).collect();
            let before = previous.and_then(|p| p.zones.get(&z.origin));
            let before_inputs = previous.and_then(|p| p.inputs.get(&z.origin));
            if let (Some(kept), Some(was)) = (before, before_inputs)
                && reuse::unchanged(was, z, &edits)
            {
                // Nothing it is built from changed: the serving zone serves on, shared.
                if let Some(pool_path) = &z.pools {
                    probe_defs.push((pool_path.clone(), kept.pools.probe_defs().to_vec()));
                }
                inputs.0.push((z.origin.clone(), was.clone()));
                zones.push(kept.clone());
                continue;
            }
            let read_before = reuse::before_load(z, &edits, before_inputs);
            let zone = match load_entry(z, &edits, before.map(|a| &**a), now, keys) {
                Ok(zone) => {
                    if let Some(i) = read_before.and_then(|i| i.complete(&zone.files, z.pools.as_ref())) {
                        inputs.0.push((z.origin.clone(), i));
                    }
                    Arc::new(zone)
                }
                // A secondary zone not transferred yet: answered with SERVFAIL until its first
                // transfer (the secondary task writes the file and reloads); not a load failure.
                Err(_) if z.transfer.is_secondary() && !z.file.exists() && before.is_none() => {
                    awaiting_transfer += 1;
                    let msg = format!("zone {}: not transferred from its primaries yet", z.origin);
                    problems.push(ZoneProblem {
                        origin: z.origin.clone(),
                        errors: vec![ConfigError::new(&z.file, 0, msg)],
                        serving_previous: false,
                    });
                    continue;
                }
                Err(errors) => {
                    // The previous version keeps serving, signed again if its signatures are due.
                    let kept = before.map(|k| resign_kept(k, z, now, keys));
                    problems.push(ZoneProblem { origin: z.origin.clone(), errors, serving_previous: kept.is_some() });
                    let Some(kept) = kept else { continue };
                    // (An online-signed zone has no inputs: it is always rebuilt.)
                    if let Some(was) = before_inputs {
                        inputs.0.push((z.origin.clone(), was.clone()));
                    }
                    kept
                }
            };
            if let Some(pool_path) = &z.pools {
                probe_defs.push((pool_path.clone(), zone.pools.probe_defs().to_vec()));
            }
            zones.push(zone);
        }
        geo.join().expect("the GeoIP thread does not panic")
    });
    errors.extend(geo_errors);
    let admin_token = read_admin_token(&file, &mut errors);
    let cluster = file
        .cluster
        .as_ref()
        .map(|s| ClusterConfig { settings: s.clone(), files: fleet::read_cluster_files(&file.path, s, &mut errors) });
    let admin_token_missing = match (&admin_token, file.ops.admin.as_ref().and_then(|a| a.token_file.as_ref())) {
        (None, Some(p)) if !p.exists() => Some(p.clone()),
        _ => None,
    };
    let cookies = file.server.cookies.as_ref().and_then(|c| match read_secret_file(&c.secret_file) {
        Ok(f) => Some(Cookies { file: f, secrets: Secrets::new(f), policy: Policy { require_on_udp: c.require } }),
        Err(e) => {
            match e.line {
                Some(l) => errors.push(ConfigError::new(&e.path, l, format!("cookie secret: {}", e.problem))),
                None => errors.push(ConfigError::new(&file.path, c.line, format!("cookies.secret_file: {e}"))),
            }
            None
        }
    });
    let tls_key = file.server.tls.as_ref().and_then(|t| match load_certified_key(&t.certificate, &t.key) {
        Ok(k) => Some(k),
        Err(e) => {
            errors.push(ConfigError::new(&file.path, t.line, format!("tls: {e}")));
            None
        }
    });
    check_probe_names(&probe_defs, &mut errors);
    let named: Vec<_> = file.zones.iter().map(|z| (&z.origin, z.line, &z.transfer)).collect();
    let keys = transfer::read_keys(&file.path, &file.transfer, &named, &mut errors);
    let transfer = Transfers {
        settings: file.transfer.clone(),
        keys,
        zones: file.zones.iter().map(|z| (z.origin.clone(), z.transfer.clone())).collect(),
    };
    if !errors.is_empty() || (zones.is_empty() && awaiting_transfer == 0) {
        // Every zone error is reported too, so one run shows everything to fix.
        errors.extend(problems.into_iter().flat_map(|p| p.errors));
        return Err(ConfigErrors(errors));
    }
    let chaos = ChaosRecords::new(file.server.chaos.identity.as_deref(), file.server.chaos.version.as_deref());
    let geo_scopes = GeoScopes::build(geo.as_deref(), &zones, previous.map(|p| &p.geo_scopes));
    Ok(Snapshot {
        config_path: file.path,
        server: file.server,
        zones: ZoneSet::with_problems(zones, problems),
        geo,
        geo_scopes,
        ops: file.ops,
        admin_token,
        cluster,
        admin_token_missing,
        cookies,
        tls_key,
        chaos,
        transfer,
        inputs,
    })
}

/// One zone entry: its zone file, then its pool file (with this zone's runtime changes)
/// linked in, then, signed online, its keys and signatures. Any error fails the zone.
fn load_entry(
    z: &ZoneEntry,
    edits: &[&PoolEdit],
    previous: Option<&Zone>,
    now: u64,
    keys: KeyAccess,
) -> Result<Zone, Vec<ConfigError>> {
    // The zone file and the pool file are read and compiled side by side (two cores).
    let (zone, pools) = std::thread::scope(|s| {
        let pools = z.pools.as_ref().map(|p| s.spawn(move || read_pools(p, &z.origin, edits)));
        let zone = load_zone_with(&z.origin, &z.file, z.signing);
        (zone, pools.map(|h| h.join().expect("the pool thread does not panic")))
    });
    let mut zone = zone?;
    if let (Some(pool_path), Some(pools)) = (&z.pools, pools) {
        let (text, pools) = pools?;
        if z.transfer.is_secondary() {
            link::yield_to_pools(&mut zone, &pools, pool_path);
        }
        link_pools(&mut zone, pools, pool_path, &text)?;
    }
    if let Some(settings) = &z.dnssec {
        dnssec::sign(&mut zone, settings, previous, now, keys)?;
    }
    Ok(zone)
}

/// Reads and compiles one pool file; its text is kept for the links' error lines.
fn read_pools(
    path: &Path,
    origin: &hickory_proto::rr::Name,
    edits: &[&PoolEdit],
) -> Result<(String, crate::pool::Pools), Vec<ConfigError>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![ConfigError::new(path, 0, format!("cannot read pool file: {e}"))])?;
    let pools = load_pools_with(path, &text, origin, edits)?;
    Ok((text, pools))
}

/// A zone kept from the previous snapshot because its files now have errors: as it was, or,
/// signed online and due (a signature to refresh, a key changing state), signed again from
/// itself so that its signatures never run out while the files are being fixed.
fn resign_kept(kept: &Arc<Zone>, z: &ZoneEntry, now: u64, keys: KeyAccess) -> Arc<Zone> {
    let (Some(settings), KeyAccess::Manage) = (&z.dnssec, keys) else { return kept.clone() };
    if kept.signer.as_deref().and_then(|s| s.next_due()).is_none_or(|due| due > now) {
        return kept.clone();
    }
    let mut copy = (**kept).clone();
    match dnssec::sign(&mut copy, settings, Some(kept), now, keys) {
        Ok(()) => Arc::new(copy),
        Err(errors) => {
            for e in errors {
                tracing::error!(file = %e.file.display(), line = e.line, error = %e.message, "cannot sign the kept version of a zone again");
            }
            kept.clone()
        }
    }
}

/// A probe name means one check in every pool file (probes are shared by (target, probe
/// name)): the same name defined differently in two pool files is an error at the second
/// definition that names the first. It concerns two zones, so it fails the load as a whole
/// (the zones served, a previous version kept for a zone with errors included).
type ProbeDefs = Vec<(PathBuf, Vec<(Arc<crate::pool::ProbeSpec>, usize)>)>;

fn check_probe_names(defs: &ProbeDefs, errors: &mut Vec<ConfigError>) {
    use std::collections::HashMap;
    let mut seen: HashMap<&str, (&crate::pool::ProbeSpec, &Path, usize)> = HashMap::new();
    for (pool_file, list) in defs {
        for (spec, line) in list {
            match seen.get(spec.name.as_str()) {
                Some((first, f, l)) if **first != **spec => errors.push(ConfigError::new(
                    pool_file,
                    *line,
                    format!(
                        "probe {} is also defined, differently, at {}:{l}; a probe name means one check in every pool file (give one of them another name)",
                        spec.name,
                        f.display()
                    ),
                )),
                Some(_) => {}
                None => {
                    seen.insert(&spec.name, (spec, pool_file, *line));
                }
            }
        }
    }
}

/// The location databases in order, then the ASN databases, each read whole and validated, or
/// shared with `previous` when its file has the same bytes; the serving set itself when every
/// file is unchanged.
fn open_geo(
    config: &Path,
    g: &GeoEntry,
    previous: Option<&Snapshot>,
    errors: &mut Vec<ConfigError>,
) -> Option<Arc<GeoDb>> {
    let before = errors.len();
    let serving = previous.and_then(|p| p.geo.as_ref());
    let mut geo = GeoDb::empty();
    for p in &g.databases {
        if let Err(e) = geo.add_location_file(p, g.centroid, serving.map(|s| &**s)) {
            errors.push(ConfigError::new(config, g.line, format!("geoip.database: {e}")));
        }
    }
    for p in &g.asn_databases {
        if let Err(e) = geo.add_asn_file(p, serving.map(|s| &**s)) {
            errors.push(ConfigError::new(config, g.asn_line, format!("geoip.asn_database: {e}")));
        }
    }
    (errors.len() == before).then(|| geo.or_same(serving))
}

fn read_admin_token(file: &ConfigFile, errors: &mut Vec<ConfigError>) -> Option<AdminToken> {
    let admin = file.ops.admin.as_ref()?;
    let path = admin.token_file.as_ref()?;
    match std::fs::read_to_string(path) {
        Ok(t) if !t.trim().is_empty() => Some(AdminToken(t.trim().to_string())),
        Ok(_) => {
            errors.push(ConfigError::new(
                &file.path,
                admin.token_line,
                format!("admin.token_file: {} is empty", path.display()),
            ));
            None
        }
        // `gslbd serve` creates it at start (see `Snapshot::admin_token_missing`).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            errors.push(ConfigError::new(
                &file.path,
                admin.token_line,
                format!("admin.token_file: cannot read {}: {e}", path.display()),
            ));
            None
        }
    }
}
