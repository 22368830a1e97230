//! A WebDriver client for headless Chromium through ChromeDriver (Debian `chromium` and
//! `chromium-driver`), over plain HTTP/1.1 on loopback: enough to open a page, run a script
//! in it, resize the window and take a screenshot. Chromium runs without network access
//! beyond loopback: every background service that would reach out is switched off.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{Proc, TempDir, free_port};

/// Where the browser and its driver are, if installed (`GSLBD_TEST_CHROMIUM=` empty skips).
pub fn chromium() -> Option<(PathBuf, PathBuf)> {
    if std::env::var_os("GSLBD_TEST_CHROMIUM").is_some_and(|v| v.is_empty()) {
        return None;
    }
    let browser = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().map(PathBuf::from).find(|p| p.exists())?;
    let driver =
        ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].iter().map(PathBuf::from).find(|p| p.exists())?;
    Some((browser, driver))
}

/// One browser session; the driver (and so the browser) is killed on Drop.
pub struct Browser {
    // Field order: the driver process dies before its profile dir is removed.
    driver: Proc,
    addr: SocketAddr,
    session: String,
    _profile: TempDir,
}

/// The flags that keep Chromium off the network and quiet, as the machine notes list them.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-default-browser-check",
    "--hide-scrollbars",
];

impl Browser {
    /// Starts ChromeDriver on a free loopback port and a headless Chromium session with a
    /// window of `width` × `height`.
    pub fn start(browser: &Path, driver: &Path, width: u32, height: u32) -> Browser {
        let port = free_port();
        let mut cmd = Command::new(driver);
        cmd.arg(format!("--port={port}")).arg("--allowed-ips=127.0.0.1");
        let mut driver_proc = Proc::spawn(cmd);
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while request(addr, "GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer on {addr}: {}", driver_proc.stderr());
            assert!(driver_proc.exited().is_none(), "chromedriver exited: {}", driver_proc.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = TempDir::new("gslbd-chromium");
        let mut args: Vec<String> = FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push(format!("--window-size={width},{height}"));
        let caps = serde_json::json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": { "binary": browser.to_string_lossy(), "args": args }
            }}
        });
        let reply = request(addr, "POST", "/session", Some(&caps)).expect("new session");
        let session = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {reply}\n{}", driver_proc.stderr()))
            .to_string();
        Browser { driver: driver_proc, addr, session, _profile: profile }
    }

    fn call(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> serde_json::Value {
        let path = format!("/session/{}{path}", self.session);
        let reply = request(self.addr, method, &path, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(reply["value"].get("error").is_none(), "{method} {path}: {reply}");
        reply["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(&serde_json::json!({ "url": url })));
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub fn eval(&self, script: &str) -> serde_json::Value {
        self.call("POST", "/execute/sync", Some(&serde_json::json!({ "script": script, "args": [] })))
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.call("POST", "/window/rect", Some(&serde_json::json!({ "width": width, "height": height })));
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let b64 = self.call("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap_or_default()).expect("base64 PNG")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = request(self.addr, "DELETE", &format!("/session/{}", self.session), None);
        let _ = self.driver.exited();
    }
}

/// One HTTP/1.1 request with a JSON body, bounded by 60 s. ChromeDriver keeps connections
/// open whatever `Connection` says, so the reply is read by its `Content-Length`.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<serde_json::Value, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let (head_len, length) = loop {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the header ended".into());
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
                .ok_or_else(|| format!("no content-length in {head}"))?;
            break (end + 4, length);
        }
    };
    while raw.len() < head_len + length {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let rest = String::from_utf8_lossy(&raw[head_len..(head_len + length).min(raw.len())]).into_owned();
    serde_json::from_str(&rest).map_err(|e| format!("{e}: {rest}"))
}
