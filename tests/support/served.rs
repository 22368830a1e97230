//! gslbd's `App` in this process on a config file of the test's own (the repository's zone,
//! pools and GeoIP data by absolute path, plus whatever `[server]` keys the test adds), on a
//! runtime of its own, so a synchronous test can run dig, kdig or Unbound against it and
//! reload it by rewriting files. Also: certificates for DNS over TLS (rcgen) and bounded kdig.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use gslbd::app::{App, Listeners};
use gslbd::config;
use gslbd::ops::{ReloadReport, Reloader, Trigger};
use gslbd::serving::{Serving, Shared};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use tokio::sync::oneshot;

use super::TempDir;

/// The repository root (zones/, geoip/).
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A gslbd.toml serving the repository's zone on 127.0.0.1:0 with `server_extra` added
/// to `[server]` and `tail` appended (more tables).
pub fn config_text(server_extra: &str, tail: &str) -> String {
    let r = repo().display();
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nudp_workers = 1\n{server_extra}\n\
         [geoip]\ndatabase = \"{r}/geoip/default-country.mmdb\"\n\
         [[zone]]\norigin = \"gslb.example.com.\"\nfile = \"{r}/zones/gslb.example.com.zone\"\n\
         pools = \"{r}/zones/gslb.example.com.pools.toml\"\n{tail}\n"
    )
}

/// A running in-process server. Stopped on Drop.
pub struct Served {
    pub udp: SocketAddr,
    pub tls: Vec<SocketAddr>,
    pub quic: Vec<SocketAddr>,
    pub reloader: Arc<Reloader>,
    pub shared: Shared<Serving>,
    pub config: PathBuf,
    /// The admin API, when the config has `[admin]`.
    pub admin: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Served {
    /// Writes `config_text` to `dir/gslbd.toml` and serves it.
    pub fn start(dir: &TempDir, config_text: &str) -> Served {
        let path = dir.write("gslbd.toml", config_text);
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let snap = config::load(&path).unwrap_or_else(|e| panic!("config loads: {e}"));
        let (stop, rx) = oneshot::channel::<()>();
        let (udp, tls, quic, reloader, shared, admin) = runtime.block_on(async {
            let listeners = Listeners::bind(&snap).expect("bind");
            let app = App::build(path.clone(), snap, listeners).await.expect("app builds");
            let (udp, tls, reloader, shared) = (app.dns_addrs()[0], app.tls_addrs(), app.reloader(), app.shared());
            let admin = app.admin_addr();
            let quic = app.quic_addrs();
            tokio::spawn(app.run(async move {
                let _ = rx.await;
            }));
            (udp, tls, quic, reloader, shared, admin)
        });
        Served { udp, tls, quic, reloader, shared, config: path, admin, stop: Some(stop), runtime: Some(runtime) }
    }

    /// Reloads the config as `POST /reload` does.
    pub fn reload(&self) -> ReloadReport {
        let r = self.reloader.clone();
        self.runtime.as_ref().unwrap().block_on(async move { r.reload(Trigger::Api).await })
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// Writes `text` to `path` with mode 0600 by an atomic rename, as a deploy tool would.
pub fn write_private(path: &Path, text: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A private CA (rcgen) that issues leaf certificates for `dot.test` and 127.0.0.1.
pub struct Ca {
    pub pem: PathBuf,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

pub const TLS_HOST: &str = "dot.test";

impl Ca {
    pub fn new(dir: &TempDir, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("gslbd test CA {name}"));
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pem = dir.write(&format!("{name}.pem"), &issuer.pem());
        Ca { pem, issuer }
    }

    /// Issues a leaf with a new key and writes it to `cert` and `key` (atomically, 0600).
    pub fn issue_to(&self, cert: &Path, key: &Path) {
        let kp = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![TLS_HOST.to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, TLS_HOST);
        let c = params.signed_by(&kp, &self.issuer).unwrap();
        write_private(cert, c.pem().as_bytes());
        write_private(key, kp.serialize_pem().as_bytes());
    }
}

/// Whether `tool` runs (kdig, dig, unbound, mmdblookup); prints the SKIP line when not.
pub fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("-h").output().is_ok();
    if !ok {
        println!("SKIP: {tool} not installed (.ci/run installs it)");
    }
    ok
}

/// kdig against `addr`, bounded (3 s, no retry): (exit status ok and NOERROR, stdout+stderr).
pub fn kdig(addr: SocketAddr, args: &[&str]) -> (bool, String) {
    let out = Command::new("kdig")
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string(), "+timeout=3", "+retry=0", "+norec"])
        .args(args)
        .output()
        .expect("run kdig");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success() && text.contains("status: NOERROR"), text)
}

/// The answer section of a dig or kdig output, whitespace-normalised, sorted.
pub fn answer_lines(output: &str) -> Vec<String> {
    let mut lines = output.lines().skip_while(|l| !l.starts_with(";; ANSWER SECTION:")).skip(1);
    let mut out = Vec::new();
    for l in lines.by_ref() {
        if l.trim().is_empty() || l.starts_with(";;") {
            break;
        }
        out.push(l.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    out.sort();
    out
}

/// The hex of the COOKIE option in a dig or kdig output ("; COOKIE: …" / ";; COOKIE: …").
pub fn cookie_in(output: &str) -> Option<String> {
    let line = output.lines().find(|l| l.trim_start_matches(';').trim_start().starts_with("COOKIE:"))?;
    let hex = line.split("COOKIE:").nth(1)?.split_whitespace().next()?;
    Some(hex.to_ascii_lowercase())
}

/// `explain` of `name` A for the serving config (what `GET /explain` prints).
pub fn explain_of(s: &Served, name: &str) -> String {
    gslbd::dns::explain::explain(
        &**s.shared.load(),
        &hickory_proto::rr::Name::from_ascii(name).unwrap(),
        hickory_proto::rr::RecordType::A,
        "192.0.2.0/24".parse().unwrap(),
        &mut gslbd::util::rng::SplitMix64::new(1),
    )
}

/// `POST path` with a JSON body to the admin API (bounded): (status, body).
pub fn post_json(admin: SocketAddr, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&admin, Duration::from_secs(3)).expect("admin connect");
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {admin}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}
