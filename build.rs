//! Records the git commit the binary is built from as `GSLBD_COMMIT` (shown by `--version`,
//! the start-up log, `/status` and `gslbd_build_info`). `GSLBD_COMMIT` in the environment
//! wins (a container or package build without the .git folder); without either, "unknown".
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=GSLBD_COMMIT");
    if let Some(c) = std::env::var("GSLBD_COMMIT").ok().filter(|c| !c.is_empty()) {
        println!("cargo:rustc-env=GSLBD_COMMIT={c}");
        return;
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // Rebuild when HEAD moves: HEAD itself, the branch it points at, and packed refs.
    for p in [Some("HEAD".to_string()), git(&["symbolic-ref", "-q", "HEAD"]), Some("packed-refs".into())]
        .into_iter()
        .flatten()
    {
        if let Some(path) = git(&["rev-parse", "--git-path", &p]).filter(|p| std::path::Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rustc-env=GSLBD_COMMIT={commit}");
}
