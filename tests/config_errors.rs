//! Every broken setup in tests/fixtures/bad-config makes `gslbd check` exit non-zero and
//! print each expected `file:line: problem`, in order (see that folder's README).
use std::path::Path;
use std::process::Command;

#[test]
fn every_bad_config_reports_its_errors_with_file_and_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad-config");
    let mut cases = 0;
    let mut failures = Vec::new();
    let mut dirs: Vec<_> =
        std::fs::read_dir(&root).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    for dir in dirs {
        cases += 1;
        let out = Command::new(env!("CARGO_BIN_EXE_gslbd"))
            .arg("check")
            .arg("--config")
            .arg(dir.join("gslbd.toml"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).replace(&format!("{}/", dir.display()), "");
        let stderr = stderr.replace(&format!("{}//", dir.display()), "");
        if out.status.success() {
            failures.push(format!("{}: check exited 0", dir.display()));
        }
        let expect = std::fs::read_to_string(dir.join("expect")).unwrap();
        let mut from = 0;
        for want in expect.lines().filter(|l| !l.trim().is_empty()) {
            match stderr[from..].find(want) {
                Some(at) => from += at + want.len(),
                None => {
                    failures.push(format!("{}: missing or out of order: {want}\n--- got:\n{stderr}", dir.display()))
                }
            }
        }
    }
    assert!(cases >= 7, "expected at least 7 cases, found {cases}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_default_setup_checks_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_gslbd")).current_dir(root).arg("check").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("gslbd.toml: ok: 1 zone(s)"));
}
