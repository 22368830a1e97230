//! Reloading: SIGHUP, `POST /reload` and the file watcher all call [`Reloader::reload`].
//!
//! ```text
//! trigger ──► (one at a time) compile_changes (files + runtime changes) on a blocking thread ──► Err: keep serving the old
//!              config::apply_serials (serial policy; IXFR journal)        snapshot; log, count and
//!                                      │ Ok (a zone with errors: its          keep every file:line error
//!                                      │ previous version, or SERVFAIL)
//!                                      ▼
//!       LiveState::build (counters carried by name, version + digest)
//!                                      ▼
//!       OverrideTable::publish (overrides applied, ArcSwap::store under the table lock)
//! ```
//! Queries in flight keep the snapshot they loaded; the next query sees the new one. Nothing is
//! paused or dropped during a reload. Health state lives outside the snapshot, keyed by
//! (address, probe), so a reload does not touch it.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::metrics::Metrics;
use crate::config::{self, ConfigErrors, Snapshot, parse_config};
use crate::feedback::PoolsLoad;
use crate::health::PoolsHealth;
use crate::pool::Pools;
use crate::services::{FeedbackService, HealthService, RumStore};
use crate::serving::{ChangeSet, ConfigVersion, Live, OverrideTable, Serving, Shared, compile_changes};
use crate::util::clock::{rfc3339, unix_now};
use crate::util::lock;

/// The running services that follow the config: reconciled on every (re)load, and asked for
/// their views of each new snapshot. Either may be absent (tools that run no probes).
#[derive(Clone, Default)]
pub struct Services {
    pub health: Option<HealthService>,
    pub feedback: Option<FeedbackService>,
    /// RTTs posted by clients (`POST /rtt`), read by latency pools with client samples on.
    pub rum: Option<Arc<RumStore>>,
    /// NOTIFY wake-ups for the secondary zones (the transfer services).
    pub signals: Option<Arc<crate::serving::ZoneSignals>>,
}

impl Services {
    /// Starts, keeps or stops probe and poller tasks for `snap`'s members and fed regions, and
    /// returns the services' views of them (empty without the service).
    pub fn attach(&self, snap: &Snapshot) -> (Vec<PoolsHealth>, Vec<PoolsLoad>) {
        let all: Vec<&Pools> = snap.zones.zones().iter().map(|z| &z.pools).collect();
        let probes = match &self.health {
            Some(h) => {
                for c in h.update(&all).conflicts {
                    tracing::warn!(conflict = %c, "a probe name is defined differently in two pool files; the first definition is used");
                }
                all.iter().map(|p| h.view(p)).collect()
            }
            None => Vec::new(),
        };
        let loads = match &self.feedback {
            Some(f) => {
                for c in f.update(&all).conflicts {
                    tracing::warn!(conflict = %c, "a feed is polled with different timings in two pool files; the first is used");
                }
                all.iter().map(|p| f.view(p)).collect()
            }
            None => Vec::new(),
        };
        (probes, loads)
    }

    /// The serving state of `config`: the services reconciled with it and their views, counters
    /// carried over from `old` by name. The override table still has to write its codes.
    pub fn serve(&self, config: Snapshot, old: Option<&Serving>, version: ConfigVersion) -> Serving {
        let (probes, loads) = self.attach(&config);
        let mut live = Live::build(&config, old, version, probes, loads);
        live.rum = self.rum.clone();
        live.signals = self.signals.clone();
        Serving { config, live }
    }

    /// Stops every task of both services.
    pub fn shutdown(&self) {
        if let Some(h) = &self.health {
            h.shutdown();
        }
        if let Some(f) = &self.feedback {
            f.shutdown();
        }
    }
}

/// What asked for a reload.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    Start,
    Signal,
    Api,
    Watch,
    /// A runtime change (a weight or a member) was made here or arrived from the fleet.
    Change,
    /// Online-signed zones' signatures or keys were due (ops::resign).
    Resign,
    /// A secondary zone's new copy was transferred from its primary (xfr::secondary).
    Transfer,
}

impl Trigger {
    /// The name used in logs and JSON: start, signal, api, watch, change, resign, transfer.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Start => "start",
            Trigger::Signal => "signal",
            Trigger::Api => "api",
            Trigger::Watch => "watch",
            Trigger::Change => "change",
            Trigger::Resign => "resign",
            Trigger::Transfer => "transfer",
        }
    }
}

/// One config error, as the API shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ErrorReport {
    pub file: String,
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: usize,
    pub message: String,
}

/// The result of the last reload attempt.
#[derive(Clone, Debug, Serialize)]
pub struct ReloadReport {
    /// No error anywhere: every zone loaded.
    pub ok: bool,
    /// A new snapshot was swapped in. True with errors when only zones had them: each such
    /// zone keeps its previous version (or, never loaded, is answered with SERVFAIL).
    pub published: bool,
    pub trigger: Trigger,
    pub at_unix: u64,
    pub at: String,
    /// The generation serving after this attempt (unchanged when it failed, or when no file
    /// changed: a reload of the same files is not a new generation).
    pub generation: u64,
    /// Whether any file of the config, or the runtime changes compiled into it (weights,
    /// members), changed since the serving generation was loaded. Files that only zones with
    /// errors read do not count: those zones keep their previous version (or are not served).
    pub changed: bool,
    /// The files that changed (added, removed or edited), as the config names them (the files
    /// of zones with errors left out, as for `changed`).
    pub changed_files: Vec<String>,
    /// Settings that changed in the files but only take effect at a restart (listen
    /// addresses, UDP workers, the admin listener, RRL, log settings, the probe source,
    /// `[cluster]` and the DNS over TLS/QUIC listeners); empty when none.
    pub restart_needed: Vec<String>,
    /// Every problem found (empty when ok).
    pub errors: Vec<ErrorReport>,
}

/// The settings bound or sized at start-up: a reload that changes them reports "restart needed".
#[derive(Clone, Debug, PartialEq)]
struct StartOnly {
    listen: Vec<std::net::SocketAddr>,
    udp_workers: usize,
    admin: Option<std::net::SocketAddr>,
    rrl: crate::config::RrlSettings,
    log_level: String,
    log_format: crate::config::LogFormat,
    probe_source: crate::config::ProbeSource,
    /// `[cluster]` with its files (credentials, certificates) read.
    cluster: Option<crate::config::ClusterConfig>,
    /// `[server.tls]` listen and quic_listen addresses and the timeout the listeners were
    /// built with (the certificate and key are read at every reload).
    tls: (Vec<std::net::SocketAddr>, Vec<std::net::SocketAddr>, Option<std::time::Duration>),
}

impl StartOnly {
    fn of(s: &Snapshot) -> StartOnly {
        StartOnly {
            listen: s.server.listen.clone(),
            udp_workers: s.server.udp_workers,
            admin: s.ops.admin.as_ref().map(|a| a.listen),
            rrl: s.server.rrl.clone(),
            log_level: s.ops.log.level.clone(),
            log_format: s.ops.log.format,
            probe_source: s.server.probe_source,
            cluster: s.cluster.clone(),
            tls: match &s.server.tls {
                Some(t) => (t.listen.clone(), t.quic_listen.clone(), Some(t.timeout)),
                None => (Vec::new(), Vec::new(), None),
            },
        }
    }

    /// What differs between the running settings (`self`) and `new`, one line per setting.
    fn diff(&self, new: &StartOnly) -> Vec<String> {
        let mut out = Vec::new();
        let list = |l: &[std::net::SocketAddr]| l.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ");
        if self.listen != new.listen {
            out.push(format!(
                "server.listen changed from [{}] to [{}]: restart gslbd to listen there",
                list(&self.listen),
                list(&new.listen)
            ));
        }
        if self.udp_workers != new.udp_workers {
            out.push(format!(
                "server.udp_workers changed from {} to {}: restart gslbd to apply",
                self.udp_workers, new.udp_workers
            ));
        }
        if self.admin != new.admin {
            let show = |a: Option<std::net::SocketAddr>| a.map_or("none".to_string(), |a| a.to_string());
            out.push(format!(
                "admin.listen changed from {} to {}: restart gslbd to apply",
                show(self.admin),
                show(new.admin)
            ));
        }
        if self.rrl != new.rrl {
            out.push("server.rrl changed: the rate limiter is sized at start; restart gslbd to apply".into());
        }
        if self.log_level != new.log_level || self.log_format != new.log_format {
            out.push("log.level or log.format changed: restart gslbd to apply".into());
        }
        if self.probe_source != new.probe_source {
            out.push("server.probe_source changed: probes keep their source until a restart".into());
        }
        if self.tls != new.tls {
            out.push(format!(
                "[server.tls] listen, quic_listen or timeout_ms changed (now listening on [{}], QUIC [{}]): restart gslbd to apply",
                list(&self.tls.0),
                list(&self.tls.1)
            ));
        }
        if self.cluster != new.cluster {
            out.push(
                "[cluster] changed (or a file it names): the fleet connects at start; restart gslbd to apply".into(),
            );
        }
        out
    }
}

/// What [`Reloader::start`] returns: the reloader, the shared serving state the transports
/// read, and the override table.
pub type Started = (Arc<Reloader>, Shared<Serving>, Arc<OverrideTable>);

/// Loads and swaps snapshots; remembers the outcome of the last attempt.
pub struct Reloader {
    path: PathBuf,
    shared: Shared<Serving>,
    overrides: Arc<OverrideTable>,
    services: Services,
    metrics: Arc<Metrics>,
    /// One reload at a time: a second trigger waits and then loads the files as they are then.
    serial: tokio::sync::Mutex<()>,
    /// Reload requests so far (each takes the next number), and the highest request number a
    /// finished reload covered: one that started after the request was made (see `reload`).
    requested: AtomicU64,
    covered: AtomicU64,
    generation: AtomicU64,
    last: Mutex<ReloadReport>,
    /// The files of the serving config, for the watcher (updated after every successful load).
    files: tokio::sync::watch::Sender<Vec<PathBuf>>,
    /// Each file's own digest at the serving generation, to name the files a reload changed (a
    /// file only zones with errors read keeps the digest of the version those zones serve).
    file_digests: Mutex<Vec<(PathBuf, String)>>,
    /// The settings the running server was started with.
    start_only: StartOnly,
    /// The runtime changes compiled into the serving generation (none at start: the first
    /// snapshot is the files'; the app reloads at once when there are some).
    compiled_changes: Mutex<ChangeSet>,
}

impl Reloader {
    /// Publishes `first` (the config loaded at start-up) as generation 1, with the services'
    /// views and the override table's state file (`[admin] state_file`): returns the reloader,
    /// the shared serving state the transports read, and the override table.
    pub fn start(
        path: PathBuf,
        mut first: Snapshot,
        services: Services,
        metrics: Arc<Metrics>,
    ) -> Result<Started, String> {
        let now = unix_now();
        config::apply_serials(None, &mut first.zones, &first.transfer, now);
        let (files, total, per_file) = files_of(&path, &first);
        let state_file = first.ops.admin.as_ref().map(|a| a.state_file.clone());
        let start_only = StartOnly::of(&first);
        let errors = zone_errors(&first);
        log_warnings(&first);
        log_zone_errors(Trigger::Start, &errors);
        metrics.last_reload_ok.store(u64::from(errors.is_empty()), Ordering::Relaxed);
        metrics.last_reload_errors.store(errors.len() as u64, Ordering::Relaxed);
        let serving = services.serve(first, None, version_of(1, now, total));
        metrics.last_success_unix.store(now, Ordering::Relaxed);
        let shared: Shared<Serving> = Arc::new(arc_swap::ArcSwap::from_pointee(serving));
        let overrides = OverrideTable::new(shared.clone(), state_file)?;
        let report = ReloadReport {
            ok: errors.is_empty(),
            published: true,
            trigger: Trigger::Start,
            at_unix: now,
            at: rfc3339(now),
            generation: 1,
            changed: true,
            changed_files: Vec::new(),
            restart_needed: Vec::new(),
            errors: reports(errors),
        };
        let reloader = Arc::new(Reloader {
            path,
            shared: shared.clone(),
            overrides: overrides.clone(),
            services,
            metrics,
            serial: tokio::sync::Mutex::new(()),
            requested: AtomicU64::new(0),
            covered: AtomicU64::new(0),
            generation: AtomicU64::new(1),
            last: Mutex::new(report),
            files: tokio::sync::watch::channel(files).0,
            file_digests: Mutex::new(per_file),
            start_only,
            compiled_changes: Mutex::new(ChangeSet::default()),
        });
        Ok((reloader, shared, overrides))
    }

    /// The services the config is reconciled with (the status page reads their state).
    pub fn services(&self) -> &Services {
        &self.services
    }

    pub fn config_path(&self) -> &Path {
        &self.path
    }

    /// The last attempt's report.
    pub fn last(&self) -> ReloadReport {
        lock(&self.last).clone()
    }

    /// How long watched files must be quiet before a change is reloaded (`[watch] quiet_ms`
    /// of the serving config).
    pub fn quiet_period(&self) -> std::time::Duration {
        self.shared.load().config.ops.watch.quiet
    }

    /// The files of the serving config; changes after each successful reload.
    pub fn files(&self) -> tokio::sync::watch::Receiver<Vec<PathBuf>> {
        self.files.subscribe()
    }

    /// Loads the config beside the serving one and swaps it in, or keeps the old one and
    /// reports every error. Returns the report (also kept for `/status`).
    ///
    /// Concurrent requests coalesce: a request that waited while another reload ran is answered
    /// by the next reload to start, which reads the files after every waiting request was made;
    /// all of them get that one's report. A hundred concurrent `POST /reload` make at most two
    /// reloads (the one already running, and one for all that came in during it).
    pub async fn reload(&self, trigger: Trigger) -> ReloadReport {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let _one = self.serial.lock().await;
        if self.covered.load(Ordering::SeqCst) >= ticket {
            return self.last();
        }
        // Every request numbered up to here was made before this reload reads any file.
        let covers = self.requested.load(Ordering::SeqCst);
        let report = self.reload_now(trigger).await;
        self.covered.store(covers, Ordering::SeqCst);
        report
    }

    /// One reload (the caller holds `serial`).
    async fn reload_now(&self, trigger: Trigger) -> ReloadReport {
        let path = self.path.clone();
        let changes = self.overrides.changes();
        let changes_now = changes.clone();
        let old = self.shared.load_full();
        let loaded = tokio::task::spawn_blocking(move || {
            let mut compiled = compile_changes(&path, &changes, Some(&old.config))?;
            // The serial rule: a zone whose data changed under the serial it serves with fails
            // the whole reload (a half-written file looks like that), with the other zones'
            // errors reported beside it. Zones whose serial gslbd chooses get it here, and every
            // zone's IXFR journal the change.
            let snap = &mut compiled.snapshot;
            let serial_errors =
                config::apply_serials(Some(&old.config.zones), &mut snap.zones, &snap.transfer, unix_now());
            if !serial_errors.is_empty() {
                return Err(ConfigErrors(serial_errors.into_iter().chain(zone_errors(&compiled.snapshot)).collect()));
            }
            let (files, digest, per_file) = files_of(&path, &compiled.snapshot);
            let held = held_files(&path, &compiled.snapshot);
            Ok::<_, ConfigErrors>((compiled, files, digest, per_file, held))
        })
        .await;
        let now = unix_now();
        let metrics = &self.metrics;
        metrics.last_reload_unix.store(now, Ordering::Relaxed);
        let report = match loaded {
            Ok(Ok((compiled, files, digest, per_file, held))) => {
                self.overrides.set_not_applied(compiled.not_applied);
                let mut snap = compiled.snapshot;
                // RFC 9018 §5: a cookie secret the new file dropped stays accepted for an hour.
                snap.carry_cookie_secrets(&self.shared.load().config, now as u32);
                let restart_needed = self.start_only.diff(&StartOnly::of(&snap));
                let changed_files = {
                    let mut old = lock(&self.file_digests);
                    let serving = hold(&old, per_file, &held);
                    let changed = changed_files(&old, &serving);
                    *old = serving;
                    changed
                };
                let errors = zone_errors(&snap);
                log_warnings(&snap);
                let old = self.shared.load_full();
                // Runtime changes to the pool files (weights, members) make a new config as
                // much as edited files do; drains and forces do not (they are not compiled).
                let runtime_changed = !lock(&self.compiled_changes).same_config(&changes_now);
                let changed = !changed_files.is_empty() || runtime_changed;
                // The same files are the same generation: the snapshot is still rebuilt (the
                // token file, which the digest leaves out, is re-read), its version is kept. So
                // are files only zones with errors read: each such zone keeps its previous
                // version (or is not served), so nothing new serves.
                let version = if changed {
                    let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
                    version_of(generation, now, digest)
                } else {
                    old.live.version.clone()
                };
                let generation = version.generation;
                let serving = self.services.serve(snap, Some(&old), version);
                drop(old);
                self.overrides.publish(serving);
                trim_after_swap();
                *lock(&self.compiled_changes) = changes_now;
                self.files.send_replace(files);
                let ok = errors.is_empty();
                let counter = if ok { &metrics.reloads_ok } else { &metrics.reloads_partial };
                counter.fetch_add(1, Ordering::Relaxed);
                metrics.last_success_unix.store(now, Ordering::Relaxed);
                metrics.last_reload_ok.store(u64::from(ok), Ordering::Relaxed);
                metrics.last_reload_errors.store(errors.len() as u64, Ordering::Relaxed);
                log_zone_errors(trigger, &errors);
                let trig = trigger.as_str();
                if changed {
                    let files = changed_files.join(", ");
                    let what = match (files.is_empty(), runtime_changed) {
                        (true, true) => "runtime changes".to_string(),
                        (true, false) => "the config".to_string(),
                        (false, true) => format!("{files} and runtime changes"),
                        (false, false) => files.clone(),
                    };
                    tracing::info!(trigger = trig, generation, files = %files, zone_errors = errors.len(), "config reloaded: {what} changed");
                } else if errors.is_empty() {
                    tracing::info!(
                        trigger = trig,
                        generation,
                        "config reloaded: no file changed; generation {generation} keeps serving"
                    );
                } else {
                    tracing::info!(
                        trigger = trig,
                        generation,
                        zone_errors = errors.len(),
                        "config reloaded: no file changed but those of zones with errors; generation {generation} keeps serving"
                    );
                }
                for r in &restart_needed {
                    tracing::warn!(trigger = trig, "restart needed: {r}");
                }
                ReloadReport {
                    ok,
                    published: true,
                    trigger,
                    at_unix: now,
                    at: rfc3339(now),
                    generation,
                    changed,
                    changed_files,
                    restart_needed,
                    errors: reports(errors),
                }
            }
            Ok(Err(errors)) => {
                for e in &errors.0 {
                    tracing::error!(trigger = trigger.as_str(), file = %e.file.display(), line = e.line, error = %e.message, "reload failed; the old config keeps serving: {e}");
                }
                self.failed(trigger, now, errors)
            }
            Err(join) => {
                let errors = ConfigErrors(vec![config::ConfigError::new(
                    &self.path,
                    0,
                    format!("the reload task failed: {join}"),
                )]);
                tracing::error!(trigger = trigger.as_str(), error = %join, "reload task failed; the old config keeps serving");
                self.failed(trigger, now, errors)
            }
        };
        *lock(&self.last) = report.clone();
        report
    }

    fn failed(&self, trigger: Trigger, now: u64, errors: ConfigErrors) -> ReloadReport {
        let metrics = &self.metrics;
        metrics.reloads_failed.fetch_add(1, Ordering::Relaxed);
        metrics.last_reload_ok.store(0, Ordering::Relaxed);
        metrics.last_reload_errors.store(errors.0.len() as u64, Ordering::Relaxed);
        ReloadReport {
            ok: false,
            published: false,
            trigger,
            at_unix: now,
            at: rfc3339(now),
            generation: self.generation.load(Ordering::Relaxed),
            changed: false,
            changed_files: Vec::new(),
            restart_needed: Vec::new(),
            errors: reports(errors.0),
        }
    }
}

/// Every error of the zones that did not load into `snap`.
fn zone_errors(snap: &Snapshot) -> Vec<config::ConfigError> {
    snap.zones.problems().iter().flat_map(|p| p.errors.iter().cloned()).collect()
}

fn log_warnings(snap: &Snapshot) {
    for w in snap.zones.zones().iter().flat_map(|z| z.warnings.iter()) {
        tracing::warn!(file = %w.file.display(), line = w.line, warning = %w.message, "zone file");
    }
}

fn log_zone_errors(trigger: Trigger, errors: &[config::ConfigError]) {
    for e in errors {
        tracing::error!(trigger = trigger.as_str(), file = %e.file.display(), line = e.line, error = %e.message, "zone not loaded; it keeps its previous version if it had one, else it is answered with SERVFAIL");
    }
}

fn reports(errors: Vec<config::ConfigError>) -> Vec<ErrorReport> {
    errors.iter().map(ErrorReport::from).collect()
}

impl From<&config::ConfigError> for ErrorReport {
    fn from(e: &config::ConfigError) -> ErrorReport {
        ErrorReport { file: e.file.display().to_string(), line: e.line, message: e.message.clone() }
    }
}

fn version_of(generation: u64, now: u64, digest: String) -> ConfigVersion {
    ConfigVersion {
        generation,
        loaded_at_unix: now,
        loaded_at: rfc3339(now),
        digest,
        version: format!("{generation}@{}", rfc3339(now)),
    }
}

/// The files whose digest differs between two loads (added and removed ones included).
fn changed_files(old: &[(PathBuf, String)], new: &[(PathBuf, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (f, d) in new {
        match old.iter().find(|(o, _)| o == f) {
            Some((_, od)) if od == d => {}
            Some(_) => out.push(f.display().to_string()),
            None => out.push(format!("{} (added)", f.display())),
        }
    }
    for (f, _) in old {
        if !new.iter().any(|(n, _)| n == f) {
            out.push(format!("{} (removed)", f.display()));
        }
    }
    out
}

/// The files of a loaded config, for the watcher and the version: the config's files and the
/// files its zones `$INCLUDE` (what the version digest covers), then the cookie secret and the
/// DNS over TLS certificate and key. Those are watched, and each is digested on its own so
/// that a change to one is a change of the config, but they are kept out of the version digest
/// (a digest of a secret has no place on a status page). Returns the files, the version
/// digest and each file's own digest.
fn files_of(path: &Path, snap: &Snapshot) -> (Vec<PathBuf>, String, Vec<(PathBuf, String)>) {
    let mut files = with_includes(config_files(path), snap);
    let (digest, mut per_file) = digest_files(&files);
    let mut secrets: Vec<PathBuf> = snap.server.cookies.iter().map(|c| c.secret_file.clone()).collect();
    secrets.extend(snap.server.tls.iter().flat_map(|t| [t.certificate.clone(), t.key.clone()]));
    per_file.extend(digest_files(&secrets).1);
    files.extend(secrets);
    (files, digest, per_file)
}

/// Gives the memory of the replaced snapshot (and of the load's parse trees) back to the
/// system once the queries in flight have let go of it: at once, and again a second later
/// (a query holds a snapshot for one batch or one TCP frame). Without it glibc keeps it all,
/// and RSS after a reload of a million records stays at about twice what one snapshot needs.
fn trim_after_swap() {
    let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
    rt.spawn(async {
        let _ = tokio::task::spawn_blocking(crate::util::heap::trim).await;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let _ = tokio::task::spawn_blocking(crate::util::heap::trim).await;
    });
}

/// The files a config is made of: itself, its zone and pool files and its GeoIP and ASN
/// databases (not the token file, the cookie secret or the TLS key: a digest of a secret has
/// no place on a status page; see [`files_of`]).
pub fn config_files(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    let Ok(text) = std::fs::read_to_string(path) else { return files };
    let Ok(file) = parse_config(path, &text) else { return files };
    for z in &file.zones {
        files.push(z.file.clone());
        files.extend(z.pools.clone());
    }
    if let Some(g) = file.geoip {
        files.extend(g.databases);
        files.extend(g.asn_databases);
    }
    files
}

/// `files` and the files the zones of `snap` `$INCLUDE` (watched and digested like the
/// others), and the key directories of its online-signed zones (watched for new or changed
/// key files, not digested: they hold secrets).
fn with_includes(mut files: Vec<PathBuf>, snap: &Snapshot) -> Vec<PathBuf> {
    let zones = snap.zones.zones().iter();
    let keys = zones.clone().filter_map(|z| z.signer.as_ref()).map(|s| &s.keys.dir);
    for f in zones.flat_map(|z| z.files.iter().skip(1)).chain(keys) {
        if !files.contains(f) {
            files.push(f.clone());
        }
    }
    files
}

/// The files that only zones with errors in `snap` read (their zone, pool and `$INCLUDE`d
/// files): a change to them serves nothing new, since each such zone keeps its previous
/// version or is not served.
fn held_files(path: &Path, snap: &Snapshot) -> Vec<PathBuf> {
    let problems = snap.zones.problems();
    if problems.is_empty() {
        return Vec::new();
    }
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let Ok(file) = parse_config(path, &text) else { return Vec::new() };
    let failed = |z: &config::ZoneEntry| problems.iter().any(|p| p.origin == z.origin);
    let files_of = |z: &config::ZoneEntry| {
        let mut files = vec![z.file.clone()];
        files.extend(z.pools.clone());
        files.extend(snap.zones.get(&z.origin).into_iter().flat_map(|zone| zone.files.iter().cloned()));
        files
    };
    let read_by_others: Vec<PathBuf> = file.zones.iter().filter(|z| !failed(z)).flat_map(files_of).collect();
    let mut held: Vec<PathBuf> = file.zones.iter().filter(|z| failed(z)).flat_map(files_of).collect();
    held.retain(|f| !read_by_others.contains(f));
    held
}

/// `new`, with the digest the serving generation has for each file in `held` (the files of
/// zones that keep their previous version), so that only changes that serve are counted.
fn hold(serving: &[(PathBuf, String)], mut new: Vec<(PathBuf, String)>, held: &[PathBuf]) -> Vec<(PathBuf, String)> {
    for (f, d) in &mut new {
        if let Some((_, old)) = serving.iter().find(|(o, _)| o == f).filter(|_| held.contains(f)) {
            d.clone_from(old);
        }
    }
    new
}

/// `sha256:<hex>` over each file's name, length and bytes, in config order. A file that
/// cannot be read contributes its name and a marker, so the digest still changes. Directories
/// (key directories) are left out.
pub fn digest(files: &[PathBuf]) -> String {
    digest_files(files).0
}

/// [`digest`], and each file's own `sha256:<hex>` (of its bytes), reading each file once.
pub fn digest_files(files: &[PathBuf]) -> (String, Vec<(PathBuf, String)>) {
    let mut h = Sha256::new();
    let mut each = Vec::with_capacity(files.len());
    for f in files.iter().filter(|f| !f.is_dir()) {
        h.update(f.display().to_string().as_bytes());
        h.update([0]);
        // Streamed, so a large GeoIP database is not held in memory a second time.
        let streamed = std::fs::File::open(f).and_then(|mut file| {
            let len = file.metadata()?.len();
            let (mut total, mut own) = (h.clone(), Sha256::new());
            total.update(len.to_be_bytes());
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = std::io::Read::read(&mut file, &mut buf)?;
                if n == 0 {
                    break;
                }
                total.update(&buf[..n]);
                own.update(&buf[..n]);
            }
            Ok((total, own))
        });
        match streamed {
            Ok((total, own)) => {
                h = total;
                each.push((f.clone(), hex(own.finalize())));
            }
            Err(_) => {
                h.update(b"unreadable");
                each.push((f.clone(), "unreadable".into()));
            }
        }
    }
    (hex(h.finalize()), each)
}

fn hex(bytes: impl AsRef<[u8]>) -> String {
    let mut out = String::from("sha256:");
    for b in bytes.as_ref() {
        use std::fmt::Write;
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_changes_with_content() {
        let dir = std::env::temp_dir().join(format!("gslbd-digest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a");
        std::fs::write(&f, "one").unwrap();
        let a = digest(std::slice::from_ref(&f));
        std::fs::write(&f, "two").unwrap();
        let b = digest(std::slice::from_ref(&f));
        assert_ne!(a, b);
        assert!(a.starts_with("sha256:") && a.len() == 7 + 64);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
