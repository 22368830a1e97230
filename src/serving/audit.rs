//! The audit log of runtime changes: every change applied on this node (set or cleared, old and
//! new value, who, when, why, the node that took it and its revision), appended as one JSON
//! line to the audit file beside the state file, and the latest kept in memory for `/status`.
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;

use super::changes::ChangeKey;
use crate::util::lock;

/// How many entries `/status` shows.
pub const AUDIT_KEPT: usize = 100;

/// One applied change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// The store revision of the change.
    pub revision: i64,
    #[serde(flatten)]
    pub key: ChangeKey,
    /// "set" or "clear".
    pub op: &'static str,
    pub old: Option<serde_json::Value>,
    pub new: Option<serde_json::Value>,
    pub who: String,
    pub when: String,
    pub why: String,
    pub node: String,
}

/// The audit file and the in-memory tail.
pub struct AuditLog {
    file: Option<PathBuf>,
    recent: Mutex<VecDeque<AuditEntry>>,
}

impl AuditLog {
    pub fn new(file: Option<PathBuf>) -> AuditLog {
        AuditLog { file, recent: Mutex::new(VecDeque::with_capacity(AUDIT_KEPT)) }
    }

    /// Logs, appends to the file (a failure is logged, never fatal) and keeps the entry.
    pub fn record(&self, e: AuditEntry) {
        tracing::info!(revision = e.revision, change = %e.key, op = e.op, old = ?e.old, new = ?e.new,
            who = %e.who, why = %e.why, node = %e.node, "runtime change applied");
        if let Some(path) = &self.file {
            let line = serde_json::to_string(&e).unwrap_or_default();
            let appended = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| writeln!(f, "{line}"));
            if let Err(err) = appended {
                tracing::error!(file = %path.display(), error = %err, "cannot append to the audit file");
            }
        }
        let mut recent = lock(&self.recent);
        if recent.len() == AUDIT_KEPT {
            recent.pop_front();
        }
        recent.push_back(e);
    }

    /// The latest entries, newest last.
    pub fn recent(&self) -> Vec<AuditEntry> {
        lock(&self.recent).iter().cloned().collect()
    }
}
