//! Reload when a file of the config changes: gslbd.toml, the zone files (and the files they
//! `$INCLUDE`), the pool files, the GeoIP database, and the DNSSEC key files in the key
//! directories of online-signed zones (a key made, imported or rolled by `gslbd dnssec`, or
//! copied in from the node of a fleet that manages the keys).
//!
//! The watch is on each file's *directory* (not the file): an update by atomic rename
//! (`write tmp; mv tmp db.mmdb`) replaces the inode, which a watch on the old file would
//! never report. Events are debounced (an editor's write-truncate-write, or a copy in
//! several chunks, makes one reload) and filtered to the config's own file names. After every
//! successful reload the set of files (and so of directories) is refreshed.
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

use super::reload::{Reloader, Trigger};

/// How long the files must be quiet before a change is acted on.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// Starts watching the serving config's files; changes trigger [`Reloader::reload`].
/// Returns an error when the platform's watcher cannot start (the server runs on without it).
pub fn spawn_watcher(reloader: Arc<Reloader>) -> Result<(), String> {
    let wanted: Arc<Mutex<HashSet<PathBuf>>> = Arc::default();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let filter = wanted.clone();
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |res: DebounceEventResult| {
        let Ok(events) = res else { return };
        let wanted = filter.lock().unwrap_or_else(|p| p.into_inner());
        let hit = events.iter().any(|e| {
            relevant(&e.kind) && e.paths.iter().any(|p| wanted.contains(&absolute(p)) || is_key_file(p, &wanted))
        });
        if hit {
            // A full channel already holds a pending reload, which will read the new files.
            let _ = tx.try_send(());
        }
    })
    .map_err(|e| format!("cannot start the file watcher: {e}"))?;

    let mut files = reloader.files();
    let mut dirs: HashSet<PathBuf> = HashSet::new();
    let mut rewatch = move |debouncer: &mut notify_debouncer_full::Debouncer<_, _>, list: &[PathBuf]| {
        let abs: HashSet<PathBuf> = list.iter().map(|p| absolute(p)).collect();
        // A directory in the list (a key directory) is watched itself; a file, through its directory.
        let new_dirs: HashSet<PathBuf> = abs
            .iter()
            .filter_map(|p| if p.is_dir() { Some(p.clone()) } else { p.parent().map(Path::to_path_buf) })
            .collect();
        for d in dirs.difference(&new_dirs) {
            let _ = notify_debouncer_full::Debouncer::unwatch(debouncer, d);
        }
        for d in new_dirs.difference(&dirs) {
            if let Err(e) = notify_debouncer_full::Debouncer::watch(debouncer, d, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %d.display(), error = %e, "cannot watch directory");
            }
        }
        dirs = new_dirs;
        *wanted.lock().unwrap_or_else(|p| p.into_inner()) = abs;
    };
    let first = files.borrow_and_update().clone();
    rewatch(&mut debouncer, &first);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                got = rx.recv() => {
                    if got.is_none() {
                        break;
                    }
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
                    rewatch(&mut debouncer, &list);
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
