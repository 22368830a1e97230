//! Reloading: SIGHUP, `POST /reload` and the file watcher all call [`Reloader::reload`].
//!
//! ```text
//! trigger ──► (one at a time) config::load_after on a blocking thread ──► Err: keep serving the old
//!                                      │ Ok (a zone with errors: its          snapshot; log, count and
//!                                      │ previous version, or SERVFAIL)       keep every file:line error
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
use crate::services::{FeedbackService, HealthService};
use crate::serving::{ConfigVersion, Live, OverrideTable, Serving, Shared};
use crate::util::clock::{rfc3339, unix_now};
use crate::util::lock;

/// The running services that follow the config: reconciled on every (re)load, and asked for
/// their views of each new snapshot. Either may be absent (tools that run no probes).
#[derive(Clone, Default)]
pub struct Services {
    pub health: Option<HealthService>,
    pub feedback: Option<FeedbackService>,
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
        let live = Live::build(&config, old, version, probes, loads);
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
    /// Online-signed zones' signatures or keys were due (ops::resign).
    Resign,
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
    /// The generation serving after this attempt (unchanged when it failed).
    pub generation: u64,
    /// Every problem found (empty when ok).
    pub errors: Vec<ErrorReport>,
}

/// Loads and swaps snapshots; remembers the outcome of the last attempt.
pub struct Reloader {
    path: PathBuf,
    shared: Shared<Serving>,
    overrides: Arc<OverrideTable>,
    services: Services,
    metrics: Arc<Metrics>,
    /// One reload at a time: a second trigger waits and then loads the files as they are then.
    serial: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    last: Mutex<ReloadReport>,
    /// The files of the serving config, for the watcher (updated after every successful load).
    files: tokio::sync::watch::Sender<Vec<PathBuf>>,
}

impl Reloader {
    /// Publishes `first` (the config loaded at start-up) as generation 1, with the services'
    /// views and the override table's state file (`[admin] state_file`): returns the reloader,
    /// the shared serving state the transports read, and the override table.
    pub fn start(
        path: PathBuf,
        first: Snapshot,
        services: Services,
        metrics: Arc<Metrics>,
    ) -> (Arc<Reloader>, Shared<Serving>, Arc<OverrideTable>) {
        let now = unix_now();
        let files = with_includes(config_files(&path), &first);
        let state_file = first.ops.admin.as_ref().map(|a| a.state_file.clone());
        let errors = zone_errors(&first);
        log_warnings(&first);
        log_zone_errors(Trigger::Start, &errors);
        metrics.last_reload_ok.store(u64::from(errors.is_empty()), Ordering::Relaxed);
        metrics.last_reload_errors.store(errors.len() as u64, Ordering::Relaxed);
        let serving = services.serve(first, None, version_of(1, now, &files));
        metrics.last_success_unix.store(now, Ordering::Relaxed);
        let shared: Shared<Serving> = Arc::new(arc_swap::ArcSwap::from_pointee(serving));
        let overrides = OverrideTable::new(shared.clone(), state_file);
        let report = ReloadReport {
            ok: errors.is_empty(),
            published: true,
            trigger: Trigger::Start,
            at_unix: now,
            at: rfc3339(now),
            generation: 1,
            errors: reports(errors),
        };
        let reloader = Arc::new(Reloader {
            path,
            shared: shared.clone(),
            overrides: overrides.clone(),
            services,
            metrics,
            serial: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(1),
            last: Mutex::new(report),
            files: tokio::sync::watch::channel(files).0,
        });
        (reloader, shared, overrides)
    }

    pub fn config_path(&self) -> &Path {
        &self.path
    }

    /// The last attempt's report.
    pub fn last(&self) -> ReloadReport {
        lock(&self.last).clone()
    }

    /// The files of the serving config; changes after each successful reload.
    pub fn files(&self) -> tokio::sync::watch::Receiver<Vec<PathBuf>> {
        self.files.subscribe()
    }

    /// Loads the config beside the serving one and swaps it in, or keeps the old one and
    /// reports every error. Returns the report (also kept for `/status`).
    pub async fn reload(&self, trigger: Trigger) -> ReloadReport {
        let _one = self.serial.lock().await;
        let path = self.path.clone();
        let old = self.shared.load_full();
        let loaded = tokio::task::spawn_blocking(move || {
            let snap = config::load_after(&path, Some(&old.config))?;
            let files = with_includes(config_files(&path), &snap);
            let digest = digest(&files);
            Ok::<_, ConfigErrors>((snap, files, digest))
        })
        .await;
        let now = unix_now();
        let metrics = &self.metrics;
        metrics.last_reload_unix.store(now, Ordering::Relaxed);
        let report = match loaded {
            Ok(Ok((snap, files, digest))) => {
                let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
                let version = ConfigVersion {
                    generation,
                    loaded_at_unix: now,
                    loaded_at: rfc3339(now),
                    digest,
                    version: format!("{generation}@{}", rfc3339(now)),
                };
                let errors = zone_errors(&snap);
                log_warnings(&snap);
                let serving = self.services.serve(snap, Some(&self.shared.load()), version);
                self.overrides.publish(serving);
                self.files.send_replace(files);
                let ok = errors.is_empty();
                let counter = if ok { &metrics.reloads_ok } else { &metrics.reloads_partial };
                counter.fetch_add(1, Ordering::Relaxed);
                metrics.last_success_unix.store(now, Ordering::Relaxed);
                metrics.last_reload_ok.store(u64::from(ok), Ordering::Relaxed);
                metrics.last_reload_errors.store(errors.len() as u64, Ordering::Relaxed);
                log_zone_errors(trigger, &errors);
                tracing::info!(?trigger, generation, zone_errors = errors.len(), "config reloaded");
                ReloadReport {
                    ok,
                    published: true,
                    trigger,
                    at_unix: now,
                    at: rfc3339(now),
                    generation,
                    errors: reports(errors),
                }
            }
            Ok(Err(errors)) => {
                for e in &errors.0 {
                    tracing::error!(?trigger, file = %e.file.display(), line = e.line, error = %e.message, "reload failed; the old config keeps serving");
                }
                self.failed(trigger, now, errors)
            }
            Err(join) => {
                let errors = ConfigErrors(vec![config::ConfigError::new(
                    &self.path,
                    0,
                    format!("the reload task failed: {join}"),
                )]);
                tracing::error!(?trigger, error = %join, "reload task failed; the old config keeps serving");
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
        tracing::error!(?trigger, file = %e.file.display(), line = e.line, error = %e.message, "zone not loaded; it keeps its previous version if it had one, else it is answered with SERVFAIL");
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

fn version_of(generation: u64, now: u64, files: &[PathBuf]) -> ConfigVersion {
    ConfigVersion {
        generation,
        loaded_at_unix: now,
        loaded_at: rfc3339(now),
        digest: digest(files),
        version: format!("{generation}@{}", rfc3339(now)),
    }
}

/// The files a config is made of: itself, its zone and pool files and its GeoIP database
/// (not the token file: a digest of a secret has no place on a status page).
pub fn config_files(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    let Ok(text) = std::fs::read_to_string(path) else { return files };
    let Ok(file) = parse_config(path, &text) else { return files };
    for z in &file.zones {
        files.push(z.file.clone());
        files.extend(z.pools.clone());
    }
    files.extend(file.geoip.map(|g| g.database));
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

/// `sha256:<hex>` over each file's name, length and bytes, in config order. A file that
/// cannot be read contributes its name and a marker, so the digest still changes. Directories
/// (key directories) are left out.
pub fn digest(files: &[PathBuf]) -> String {
    let mut h = Sha256::new();
    for f in files.iter().filter(|f| !f.is_dir()) {
        h.update(f.display().to_string().as_bytes());
        h.update([0]);
        match std::fs::read(f) {
            Ok(bytes) => {
                h.update((bytes.len() as u64).to_be_bytes());
                h.update(&bytes);
            }
            Err(_) => h.update(b"unreadable"),
        }
    }
    let mut out = String::from("sha256:");
    for b in h.finalize() {
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
