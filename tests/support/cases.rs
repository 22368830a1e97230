//! Tests as data files: every `*.toml` of a directory is one case, run in name order; all
//! failures are reported together, each under its file name.
use std::path::{Path, PathBuf};

/// Runs `run` on every `*.toml` in `dir` (relative to the repository); panics listing each
/// case that failed, or when there are fewer than `min` cases (a directory gone missing).
pub fn run_toml_cases(dir: &str, min: usize, run: impl Fn(&Path) -> Result<(), String>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= min, "only {} cases in {}", files.len(), dir.display());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let name = f.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            run(f).err().map(|e| format!("{name}: {e}"))
        })
        .collect();
    println!("{}: {} cases, {} failed", dir.display(), files.len(), failures.len());
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
