//! `gslbd serve` as a child process: the config and its files in a temp dir, started on port 0,
//! ready once it prints one `gslbd listening on ADDR` line per listen address (and the admin
//! API's line when the config has `[admin]`). Killed on Drop.
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::launch::START_TIMEOUT;
use super::process::{Proc, TempDir, copy_tree};

/// A running `gslbd serve` in its own temp dir. Killed on Drop.
pub struct GslbdServer {
    // Field order matters: the process dies before its directory is removed.
    proc: Proc,
    addrs: Vec<SocketAddr>,
    /// The admin API's address, when the config has an `[admin]` section.
    admin: Option<SocketAddr>,
    dir: TempDir,
}

impl GslbdServer {
    /// Writes `config_toml` as `gslbd.toml` plus `files` (path relative to the config, text)
    /// into a fresh temp dir, starts `gslbd serve --config`, and waits for one
    /// `gslbd listening on ADDR` line per `server.listen` entry.
    pub fn start(config_toml: &str, files: &[(&str, &str)]) -> GslbdServer {
        let dir = TempDir::new("gslbd-test");
        for (rel, text) in files {
            dir.write(rel, text);
        }
        Self::serve(dir, config_toml, listen_count(config_toml))
    }

    /// The repository's own `gslbd.toml` and the files it names, copied into a temp dir,
    /// with `server.listen` rewritten to `["127.0.0.1:0"]`.
    pub fn start_default() -> GslbdServer {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("gslbd.toml")).expect("read gslbd.toml");
        let mut table: toml::Table = text.parse().expect("gslbd.toml is TOML");
        let dir = TempDir::new("gslbd-default");
        // Copy every relative path the config names (zone files, pools, geo data), and
        // the whole zones/ directory for files that sit "beside" a zone by convention.
        let mut paths = vec!["zones".to_string()];
        collect_strings(&toml::Value::Table(table.clone()), &mut paths);
        for p in paths {
            let src = root.join(&p);
            if !p.is_empty() && Path::new(&p).is_relative() && src.exists() && !p.contains("..") {
                copy_tree(&src, &dir.path().join(&p));
            }
        }
        let server = table.entry("server").or_insert_with(|| toml::Value::Table(toml::Table::new()));
        server
            .as_table_mut()
            .expect("[server] is a table")
            .insert("listen".into(), toml::Value::Array(vec!["127.0.0.1:0".into()]));
        // The admin API too picks a free port, so tests can run side by side.
        if let Some(admin) = table.get_mut("admin").and_then(|a| a.as_table_mut()) {
            admin.insert("listen".into(), "127.0.0.1:0".into());
        }
        Self::serve(dir, &toml::to_string(&table).unwrap(), 1)
    }

    /// Writes `config_toml` as `dir/gslbd.toml`, runs `gslbd serve --config` in `dir`, and
    /// waits for its `listens` listen lines.
    fn serve(dir: TempDir, config_toml: &str, listens: usize) -> GslbdServer {
        let conf = dir.write("gslbd.toml", config_toml);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gslbd"));
        cmd.arg("serve").arg("--config").arg(&conf).current_dir(dir.path());
        let mut proc = Proc::spawn(cmd);
        let (addrs, admin) = wait_listening_admin(&mut proc, listens, "gslbd");
        GslbdServer { proc, addrs, admin, dir }
    }

    /// The admin API's address; panics when the config has no `[admin]` section.
    pub fn admin(&self) -> SocketAddr {
        self.admin.expect("the config has an [admin] section")
    }

    /// The server's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.proc.id()
    }

    /// Sends SIGHUP (a reload) to the server.
    pub fn sighup(&self) {
        self.signal("-HUP");
    }

    /// Sends SIGTERM (a graceful stop) to the server.
    pub fn sigterm(&self) {
        self.signal("-TERM");
    }

    fn signal(&self, flag: &str) {
        let ok = Command::new("kill").arg(flag).arg(self.pid().to_string()).status().is_ok_and(|s| s.success());
        assert!(ok, "kill {flag} {} failed", self.pid());
    }

    /// Waits up to `within` for the server to exit; its exit status, or `None` if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        self.proc.wait_exit(within)
    }

    /// The first listen address (UDP and TCP share it).
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }
}

/// Waits (bounded by [`START_TIMEOUT`]) for `count` lines `gslbd listening on ADDR`.
/// Panics with the child's stderr when it exits or stays silent.
pub fn wait_listening(proc: &mut Proc, count: usize, what: &str) -> Vec<SocketAddr> {
    wait_listening_admin(proc, count, what).0
}

/// [`wait_listening`], also returning the `gslbd admin listening on ADDR` line's address
/// (printed before the DNS lines when the config has an `[admin]` section).
pub fn wait_listening_admin(proc: &mut Proc, count: usize, what: &str) -> (Vec<SocketAddr>, Option<SocketAddr>) {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut addrs = Vec::new();
    let mut admin = None;
    while addrs.len() < count {
        match proc.next_line(deadline) {
            Some(line) => {
                if let Some(rest) = line.trim().strip_prefix("gslbd admin listening on ") {
                    admin = rest.trim().parse().ok();
                } else if let Some(rest) = line.trim().strip_prefix("gslbd listening on ") {
                    let a: SocketAddr =
                        rest.trim().parse().unwrap_or_else(|e| panic!("{what}: bad address in {line:?}: {e}"));
                    addrs.push(a);
                }
            }
            None => {
                let status = proc.exited();
                // Give the stderr reader a moment to catch the last words (bounded).
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "{what} did not print {count} 'gslbd listening on' lines within {START_TIMEOUT:?} \
                     (got {addrs:?}, exit status {status:?}); stderr:\n{}",
                    proc.stderr()
                );
            }
        }
    }
    (addrs, admin)
}

/// Number of entries in `server.listen` (1 if absent or unparsable: the server's default
/// is then whatever it is, and the test will say what it printed).
fn listen_count(config_toml: &str) -> usize {
    config_toml
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("server")?.get("listen")?.as_array().map(|a| a.len()))
        .unwrap_or(1)
        .max(1)
}

fn collect_strings(v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::String(s) => out.push(s.clone()),
        toml::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        toml::Value::Table(t) => t.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// `GET /status` of the server's admin API, which must answer 200 with JSON.
pub fn admin_status(s: &GslbdServer) -> serde_json::Value {
    let (code, body) = super::http_client::http(s.admin(), "GET", "/status", None);
    assert_eq!(code, 200, "{body}");
    super::http_client::json(&body)
}

/// Runs `gslbd ctl ARGS` against the server's admin API with its token file: exit code,
/// stdout, stderr.
pub fn ctl(s: &GslbdServer, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gslbd"))
        .arg("ctl")
        .arg("--url")
        .arg(format!("http://{}", s.admin()))
        .arg("--token-file")
        .arg(s.dir().join("admin.token"))
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}
