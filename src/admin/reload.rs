//! Reloading: SIGHUP, `POST /reload` and the file watcher all call [`Reloader::reload`].
//!
//! ```text
//! trigger ──► (one at a time) config::load on a blocking thread ──► Err: keep serving the old
//!                                      │ Ok                              snapshot; log, count and
//!                                      ▼                                 keep every file:line error
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

use super::live::{ConfigVersion, LiveState};
use super::overrides::OverrideTable;
use crate::config::{self, ConfigErrors, Snapshot, parse_config};
use crate::dns::server::SharedSnapshot;
use crate::feedback::FeedbackService;
use crate::health::HealthService;

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
    shared: SharedSnapshot,
    overrides: Arc<OverrideTable>,
    /// The probes (absent when the server runs none).
    health: Option<HealthService>,
    /// The load feedback pollers (absent when the server runs none).
    feedback: Option<FeedbackService>,
    /// One reload at a time: a second trigger waits and then loads the files as they are then.
    serial: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    last: Mutex<ReloadReport>,
    /// The files of the serving config, for the watcher (updated after every successful load).
    files: tokio::sync::watch::Sender<Vec<PathBuf>>,
}

impl Reloader {
    /// Publishes `first` (the config loaded at start-up) as generation 1: returns the reloader,
    /// the shared snapshot the transports read, and the override table.
    /// With `health`, every published snapshot gets the probes' view of its members, and the
    /// probe tasks follow the config (kept pairs keep their state across reloads).
    pub fn start(
        path: PathBuf,
        first: Snapshot,
        health: Option<HealthService>,
    ) -> (Arc<Reloader>, SharedSnapshot, Arc<OverrideTable>) {
        Reloader::start_with_feedback(path, first, health, None)
    }

    /// [`Reloader::start`] with the load feedback pollers: every published snapshot gets their
    /// view, and the pollers follow the config (kept feeds keep their samples and shed state).
    pub fn start_with_feedback(
        path: PathBuf,
        mut first: Snapshot,
        health: Option<HealthService>,
        feedback: Option<FeedbackService>,
    ) -> (Arc<Reloader>, SharedSnapshot, Arc<OverrideTable>) {
        let now = unix_now();
        let files = config_files(&path);
        // `first.live` is still empty, so nothing is carried: every counter starts at 0.
        let live = LiveState::build(&first, &first, version_of(1, now, &files));
        first.live = live;
        attach_probes(health.as_ref(), &mut first);
        attach_feedback(feedback.as_ref(), &mut first);
        first.live.metrics.last_success_unix.store(now, Ordering::Relaxed);
        let shared: SharedSnapshot = Arc::new(arc_swap::ArcSwap::from_pointee(first));
        let state_file = shared.load().ops.admin.as_ref().map(|a| a.state_file.clone());
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
            health,
            feedback,
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
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
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
        let loaded = tokio::task::spawn_blocking(move || {
            let snap = config::load(&path)?;
            let files = config_files(&path);
            let digest = digest(&files);
            Ok::<_, ConfigErrors>((snap, files, digest))
        })
        .await;
        let now = unix_now();
        let metrics = self.shared.load().live.metrics.clone();
        metrics.last_reload_unix.store(now, Ordering::Relaxed);
        let report = match loaded {
            Ok(Ok((mut snap, files, digest))) => {
                let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
                let version = ConfigVersion {
                    generation,
                    loaded_at_unix: now,
                    loaded_at: rfc3339(now),
                    digest,
                    version: format!("{generation}@{}", rfc3339(now)),
                };
                snap.live = LiveState::build(&snap, &self.shared.load(), version);
                attach_probes(self.health.as_ref(), &mut snap);
                attach_feedback(self.feedback.as_ref(), &mut snap);
                self.overrides.publish(snap);
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
                self.failed(&metrics, trigger, now, errors)
            }
            Err(join) => {
                let errors = ConfigErrors(vec![config::ConfigError::new(
                    &self.path,
                    0,
                    format!("the reload task failed: {join}"),
                )]);
                tracing::error!(?trigger, error = %join, "reload task failed; the old config keeps serving");
                self.failed(&metrics, trigger, now, errors)
            }
        };
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = report.clone();
        report
    }

    fn failed(&self, metrics: &super::Metrics, trigger: Trigger, now: u64, errors: ConfigErrors) -> ReloadReport {
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

/// Starts, keeps or stops probe tasks for the snapshot's members and gives the snapshot the
/// probes' view of them.
pub fn attach_probes(health: Option<&HealthService>, snap: &mut Snapshot) {
    let Some(health) = health else { return };
    let all: Vec<&crate::steer::Pools> = snap.zones.zones().iter().map(|z| &z.pools).collect();
    let report = health.update(&all);
    for c in &report.conflicts {
        tracing::warn!(conflict = ?c, "a probe name is defined differently in two pool files; the first definition is used");
    }
    snap.live.probes = snap.zones.zones().iter().map(|z| health.view(&z.pools)).collect();
}

/// Starts, keeps or stops the feedback pollers for the snapshot's fed regions and gives the
/// snapshot their view (samples and shed fractions survive: they are keyed by the source).
pub fn attach_feedback(feedback: Option<&FeedbackService>, snap: &mut Snapshot) {
    let Some(feedback) = feedback else { return };
    let all: Vec<&crate::steer::Pools> = snap.zones.zones().iter().map(|z| &z.pools).collect();
    let report = feedback.update(&all);
    for c in &report.conflicts {
        tracing::warn!(conflict = %c, "a feed is polled with different timings in two pool files; the first is used");
    }
    snap.live.loads = snap.zones.zones().iter().map(|z| feedback.view(&z.pools)).collect();
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

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Unix seconds as RFC 3339 UTC (`2026-11-21T20:17:00Z`).
pub fn rfc3339(unix: u64) -> String {
    let secs = unix % 86_400;
    format!("{}T{:02}:{:02}:{:02}Z", crate::geo::utc_date(unix), secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

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
