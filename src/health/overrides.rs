//! The state file: admin overrides (force up, force down, drain) that survive a restart.
//!
//! TOML, written whole on every change to a temporary file beside it, synced, then renamed over
//! the old one, so a crash leaves either the old or the new file, never half of one:
//!
//! ```toml
//! [[override]]
//! target = "192.0.2.1"        # an address, or a CNAME target name ("lb.example.net.")
//! probe = "web"               # the [probe.NAME] of the pool file
//! state = "drain"             # force-up | force-down | drain
//! ```
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::HealthError;
use super::state::Override;
use super::view::{HealthKey, Target};

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(rename = "override", default)]
    overrides: Vec<Row>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    target: String,
    probe: String,
    state: String,
}

/// Reads the state file; a missing file is an empty one.
pub(crate) fn load(path: &Path) -> Result<BTreeMap<HealthKey, Override>, HealthError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(HealthError::StateFile(path.to_path_buf(), e.to_string())),
    };
    let file: File =
        toml::from_str(&text).map_err(|e| HealthError::StateFile(path.to_path_buf(), e.message().to_string()))?;
    let mut out = BTreeMap::new();
    for row in file.overrides {
        let bad = |what: &str| {
            HealthError::StateFile(
                path.to_path_buf(),
                format!("{what} in override for {} probe {}", row.target, row.probe),
            )
        };
        let target = Target::parse(&row.target).ok_or_else(|| bad("bad target"))?;
        let o = Override::parse(&row.state).filter(|o| *o != Override::None).ok_or_else(|| bad("bad state"))?;
        out.insert(HealthKey { target, probe: row.probe.clone() }, o);
    }
    Ok(out)
}

/// Writes every override atomically (temp file + fsync + rename).
pub(crate) fn save(path: &Path, rows: &BTreeMap<HealthKey, Override>) -> Result<(), HealthError> {
    let file = File {
        overrides: rows
            .iter()
            .map(|(k, o)| Row { target: k.target.to_string(), probe: k.probe.clone(), state: o.as_str().to_string() })
            .collect(),
    };
    let err = |e: String| HealthError::StateFile(path.to_path_buf(), e);
    let body = toml::to_string(&file).map_err(|e| err(e.to_string()))?;
    let text = format!("# gslbd health overrides: written by gslbd, read at start.\n{body}");
    let tmp = temp_path(path);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename itself durable; not every filesystem allows syncing a directory.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e.to_string())
    })
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(|| "gslbd.state".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_file() {
        let dir = std::env::temp_dir().join(format!("gslbd-ov-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("gslbd.state");
        let _ = std::fs::remove_file(&p);
        assert!(load(&p).expect("missing is empty").is_empty());
        let mut rows = BTreeMap::new();
        rows.insert(HealthKey { target: Target::parse("192.0.2.1").expect("t"), probe: "web".into() }, Override::Drain);
        rows.insert(
            HealthKey { target: Target::parse("lb.example.net.").expect("t"), probe: "tcp".into() },
            Override::ForceUp,
        );
        save(&p, &rows).expect("save");
        assert_eq!(load(&p).expect("load"), rows);
        assert!(!temp_path(&p).exists(), "no temp file left behind");
        std::fs::write(&p, "[[override]]\ntarget = \"192.0.2.1\"\nprobe = \"web\"\nstate = \"sideways\"\n").expect("w");
        assert!(matches!(load(&p), Err(HealthError::StateFile(_, m)) if m.contains("bad state")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
