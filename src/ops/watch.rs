//! Reload when a file of the config changes: gslbd.toml, the zone files (and the files they
//! `$INCLUDE`), the pool files, the GeoIP and ASN databases, the cookie secret, the DNS over
//! TLS certificate and key, and the DNSSEC key files in the key directories of online-signed
//! zones (a key made, imported or rolled by `gslbd dnssec`, or copied in from the node of a
//! fleet that manages the keys).
//!
//! ```text
//! inotify (notify) ─► event on a wanted file? ─► quiet timer restarts ─┐
//!                                                                      ▼  no event for `[watch] quiet_ms`
//!                                                       Reloader::reload(Trigger::Watch)
//! ```
//!
//! The watch is on each file's *directory* (not the file): an update by atomic rename
//! (`write tmp; mv tmp db.mmdb`) replaces the inode, which a watch on the old file would
//! never report. Events are filtered to the config's own file names.
//!
//! The quiet period (default 1 s, as gdnsd's quiesce) is the net under operators who write
//! files in place: every event on any wanted file restarts it, so the reload reads the files
//! only once *all* of them have been left alone that long. A file written in two parts 300 ms
//! apart is read after the second part, never between them. Renaming a complete file into
//! place is still the right way to write: a writer that pauses longer than the quiet period
//! gets its half file read, and then only the reload's own checks (zone syntax, the SOA serial
//! rule, GeoIP validation) stand between it and the query path.
//!
//! A change seen while a reload runs is acted on after it (one more quiet period). After every
//! successful reload the set of files (and so of directories) is refreshed.
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use tokio::time::{Instant, sleep_until};

use super::reload::{Reloader, Trigger};
use crate::util::lock;

/// Starts watching the serving config's files; changes trigger [`Reloader::reload`] once the
/// files have been quiet for the config's `[watch] quiet_ms`. Returns an error when the
/// platform's watcher cannot start (the server runs on without it).
pub fn spawn_watcher(reloader: Arc<Reloader>) -> Result<(), String> {
    let wanted: Arc<Mutex<HashSet<PathBuf>>> = Arc::default();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let filter = wanted.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<Event>| {
        let Ok(event) = res else { return };
        if !relevant(&event.kind) {
            return;
        }
        let hit = event.paths.iter().any(|p| {
            let wanted = lock(&filter);
            wanted.contains(&absolute(p)) || is_key_file(p, &wanted)
        });
        if hit {
            // A full channel holds a signal the task has not taken yet; it reads the clock when
            // it takes it, which is after this event, so no event is lost to the quiet timer.
            let _ = tx.try_send(());
        }
    })
    .map_err(|e| format!("cannot start the file watcher: {e}"))?;

    let mut files = reloader.files();
    let mut dirs: HashSet<PathBuf> = HashSet::new();
    let mut rewatch = move |watcher: &mut notify::RecommendedWatcher, list: &[PathBuf]| {
        let abs: HashSet<PathBuf> = list.iter().map(|p| absolute(p)).collect();
        // A directory in the list (a key directory) is watched itself; a file, through its directory.
        let new_dirs: HashSet<PathBuf> = abs
            .iter()
            .filter_map(|p| if p.is_dir() { Some(p.clone()) } else { p.parent().map(Path::to_path_buf) })
            .collect();
        for d in dirs.difference(&new_dirs) {
            let _ = watcher.unwatch(d);
        }
        for d in new_dirs.difference(&dirs) {
            if let Err(e) = watcher.watch(d, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %d.display(), error = %e, "cannot watch directory");
            }
        }
        dirs = new_dirs;
        *lock(&wanted) = abs;
    };
    let first = files.borrow_and_update().clone();
    rewatch(&mut watcher, &first);
    tokio::spawn(async move {
        // When the files have been quiet long enough: set by every event, cleared by the reload.
        let mut due: Option<Instant> = None;
        loop {
            tokio::select! {
                got = rx.recv() => {
                    if got.is_none() {
                        break;
                    }
                    due = Some(Instant::now() + reloader.quiet_period());
                }
                _ = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    due = None;
                    let report = reloader.reload(Trigger::Watch).await;
                    if !report.ok {
                        tracing::warn!(errors = report.errors.len(), "a watched file changed but the new config has errors");
                    }
                }
                changed = files.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let list = files.borrow_and_update().clone();
                    rewatch(&mut watcher, &list);
                }
            }
        }
    });
    Ok(())
}

/// Changes that may alter a file's content or which file a name points at.
fn relevant(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// A BIND key file (`K*.key`, `K*.private`) in a watched key directory.
fn is_key_file(p: &Path, wanted: &HashSet<PathBuf>) -> bool {
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.starts_with('K')
        && (name.ends_with(".key") || name.ends_with(".private"))
        && p.parent().is_some_and(|d| wanted.contains(&absolute(d)))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
