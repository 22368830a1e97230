//! Reloading: SIGHUP, `POST /reload` and the file watcher all call [`Reloader::reload`].
//!
//! ```text
//! trigger ──► (one at a time) config::load on a blocking thread ──► Err: keep serving the old
//!              config::check_serials (changed data needs a new serial)   snapshot; log, count and
//!                                      │ Ok                              keep every file:line error
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
    pub ok: bool,
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
    /// Reload requests so far (each takes the next number), and the highest request number a
    /// finished reload covered: one that started after the request was made (see `reload`).
    requested: AtomicU64,
    covered: AtomicU64,
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
        let files = config_files(&path);
        let state_file = first.ops.admin.as_ref().map(|a| a.state_file.clone());
        let serving = services.serve(first, None, version_of(1, now, &files));
        metrics.last_success_unix.store(now, Ordering::Relaxed);
        let shared: Shared<Serving> = Arc::new(arc_swap::ArcSwap::from_pointee(serving));
        let overrides = OverrideTable::new(shared.clone(), state_file);
        let report = ReloadReport {
            ok: true,
            trigger: Trigger::Start,
            at_unix: now,
            at: rfc3339(now),
            generation: 1,
            errors: Vec::new(),
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
        let serving = self.shared.load_full();
        let loaded = tokio::task::spawn_blocking(move || {
            let snap = config::reload(&path, Some(&serving.config))?;
            let serial_errors = config::check_serials(&serving.config.zones, &snap.zones);
            if !serial_errors.is_empty() {
                return Err(ConfigErrors(serial_errors));
            }
            let files = config_files(&path);
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
                let serving = self.services.serve(snap, Some(&self.shared.load()), version);
                self.overrides.publish(serving);
                self.files.send_replace(files);
                metrics.reloads_ok.fetch_add(1, Ordering::Relaxed);
                metrics.last_success_unix.store(now, Ordering::Relaxed);
                metrics.last_reload_ok.store(1, Ordering::Relaxed);
                metrics.last_reload_errors.store(0, Ordering::Relaxed);
                tracing::info!(?trigger, generation, "config reloaded");
                ReloadReport { ok: true, trigger, at_unix: now, at: rfc3339(now), generation, errors: Vec::new() }
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
            trigger,
            at_unix: now,
            at: rfc3339(now),
            generation: self.generation.load(Ordering::Relaxed),
            errors: errors
                .0
                .into_iter()
                .map(|e| ErrorReport { file: e.file.display().to_string(), line: e.line, message: e.message })
                .collect(),
        }
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

/// `sha256:<hex>` over each file's name, length and bytes, in config order. A file that
/// cannot be read contributes its name and a marker, so the digest still changes.
pub fn digest(files: &[PathBuf]) -> String {
    let mut h = Sha256::new();
    for f in files {
        h.update(f.display().to_string().as_bytes());
        h.update([0]);
        // Streamed, so a large GeoIP database is not held in memory a second time.
        let streamed = std::fs::File::open(f).and_then(|mut file| {
            let len = file.metadata()?.len();
            let mut part = h.clone();
            part.update(len.to_be_bytes());
            std::io::copy(&mut file, &mut part)?;
            Ok(part)
        });
        match streamed {
            Ok(part) => h = part,
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
