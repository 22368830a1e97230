//! The keyed-task registry the probers and the feed pollers share: one Tokio task per key
//! (a (target, probe) pair, a feed source), publishing into the key's shared entry, reconciled
//! against the configuration on every (re)load.
//!
//! ```text
//! reconcile(wanted: key → job) ──► HashMap<K, Running { entry: Arc<E>, job: Arc<J>, task }>
//!                                    kept key, same job:  task and entry untouched
//!                                    kept key, new job:   task restarted, entry kept
//!                                    new key:             fresh entry + task
//!                                    gone key:            task aborted, entry dropped
//! ```
//!
//! Entries are keyed by what is probed or polled, never by snapshot ids, so a reload that keeps
//! a key keeps its state. A view built before the first reconcile gets a task-less entry
//! ([`Registry::entry`]) that the next reconcile adopts. Tasks end when their key leaves the
//! configuration, at [`Registry::shutdown`], or when the registry is dropped.
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::util::lock;

/// What one reconcile did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateReport {
    pub started: usize,
    pub kept: usize,
    /// Kept keys whose job changed: task restarted, state kept.
    pub restarted: usize,
    pub stopped: usize,
    /// One key wanted with two different jobs (two pool files that define the same probe
    /// or feed differently): the first one is used.
    pub conflicts: Vec<String>,
}

struct Running<E, J> {
    entry: Arc<E>,
    job: Arc<J>,
    task: Option<JoinHandle<()>>,
}

/// Tasks and entries by key. See the module docs.
pub struct Registry<K, E, J> {
    runtime: tokio::runtime::Handle,
    map: Mutex<HashMap<K, Running<E, J>>>,
    /// Notified by the tasks after every result, for [`Registry::wait_until`].
    round: Arc<Notify>,
}

impl<K, E, J> Drop for Registry<K, E, J> {
    fn drop(&mut self) {
        let map = self.map.get_mut().unwrap_or_else(|p| p.into_inner());
        for r in map.values_mut() {
            if let Some(t) = r.task.take() {
                t.abort();
            }
        }
    }
}

impl<K: Eq + Hash + Clone, E: Default, J> Registry<K, E, J> {
    /// A registry whose tasks run on `runtime`.
    pub fn new(runtime: tokio::runtime::Handle) -> Registry<K, E, J> {
        Registry { runtime, map: Mutex::new(HashMap::new()), round: Arc::new(Notify::new()) }
    }

    /// What the tasks notify after each result.
    pub fn round(&self) -> Arc<Notify> {
        Arc::clone(&self.round)
    }

    /// Makes the running tasks match `wanted`: see the module docs. `same` says whether a
    /// kept key's job is unchanged; `spawn` makes the task of a key.
    pub fn reconcile<F>(
        &self,
        wanted: HashMap<K, Arc<J>>,
        same: impl Fn(&J, &J) -> bool,
        spawn: impl Fn(&K, &Arc<J>, &Arc<E>) -> F,
    ) -> UpdateReport
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut report = UpdateReport::default();
        let mut map = lock(&self.map);
        map.retain(|k, r| {
            if wanted.contains_key(k) {
                return true;
            }
            if let Some(t) = r.task.take() {
                t.abort();
                report.stopped += 1;
            }
            false
        });
        for (key, job) in wanted {
            let r = map.entry(key.clone()).or_insert_with(|| Running {
                entry: Arc::new(E::default()),
                job: Arc::clone(&job),
                task: None,
            });
            match r.task.take() {
                Some(t) if same(&r.job, &job) => {
                    r.task = Some(t);
                    report.kept += 1;
                    continue;
                }
                Some(t) => {
                    t.abort();
                    report.restarted += 1;
                }
                None => report.started += 1,
            }
            r.job = job;
            r.task = Some(self.runtime.spawn(spawn(&key, &r.job, &r.entry)));
        }
        report
    }

    /// The entry of `key`; created without a task when the key is not registered yet (a view
    /// built before the reconcile that starts it).
    pub fn entry(&self, key: &K, job: impl FnOnce() -> Arc<J>) -> Arc<E> {
        let mut map = lock(&self.map);
        let r =
            map.entry(key.clone()).or_insert_with(|| Running { entry: Arc::new(E::default()), job: job(), task: None });
        Arc::clone(&r.entry)
    }

    /// How many tasks run.
    pub fn tasks(&self) -> usize {
        lock(&self.map).values().filter(|r| r.task.is_some()).count()
    }

    /// Whether `done` holds for the entry of every key that has a task.
    pub fn all_running(&self, done: impl Fn(&E) -> bool) -> bool {
        lock(&self.map).values().filter(|r| r.task.is_some()).all(|r| done(&r.entry))
    }

    /// Calls `f` with every key and its entry (status pages; holds the registry's lock).
    pub fn for_each(&self, mut f: impl FnMut(&K, &E)) {
        for (k, r) in lock(&self.map).iter() {
            f(k, &r.entry);
        }
    }

    /// Every key that has a task (what the configuration wants now), with its entry and job.
    pub fn running(&self) -> Vec<(K, Arc<E>, Arc<J>)> {
        let map = lock(&self.map);
        map.iter().filter(|(_, r)| r.task.is_some()).map(|(k, r)| (k.clone(), r.entry.clone(), r.job.clone())).collect()
    }

    /// Stops every task; entries keep answering their last state.
    pub fn shutdown(&self) {
        for r in lock(&self.map).values_mut() {
            if let Some(t) = r.task.take() {
                t.abort();
            }
        }
    }

    /// Waits until `done(entry)` holds for every key with a task, re-checking after each
    /// result, for at most `max`. True when it held.
    pub async fn wait_until(&self, max: Duration, done: impl Fn(&E) -> bool) -> bool {
        let deadline = Instant::now() + max;
        // Bounded by the deadline: each pass either returns or waits for a notification.
        loop {
            let notified = self.round.notified();
            if self.all_running(&done) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.all_running(&done);
            }
        }
    }
}
