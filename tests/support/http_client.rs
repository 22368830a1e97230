//! The tests' HTTP client: one HTTP/1.1 request on a fresh loopback connection
//! (`Connection: close`, bounded by [`QUERY_TIMEOUT`] and 1 MiB), the status code and the body
//! (de-chunked: HAProxy's stats applet answers chunked). For gslbd's admin API, the
//! [`super::http_stub::HttpStub`], nginx and HAProxy alike.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use super::transport::{QUERY_TIMEOUT, assert_loopback};

/// One request to the admin API (`token` as a bearer token); panics when it fails.
pub fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    try_http(addr, method, path, token).unwrap_or_else(|e| panic!("{method} http://{addr}{path}: {e}"))
}

/// One GET; `None` when nothing answers in time (a server still starting, or stopped).
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    try_http(addr, "GET", path, None).ok()
}

/// One request; the status code and the body, or what went wrong.
pub fn try_http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> Result<(u16, String), String> {
    assert_loopback(addr);
    let mut s = TcpStream::connect_timeout(&addr, QUERY_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(QUERY_TIMEOUT)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(QUERY_TIMEOUT)).map_err(|e| e.to_string())?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    // Bounded: the peer closes (Connection: close), the read timeout fires, or 1 MiB.
    s.take(1 << 20).read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("no HTTP header end in {text:?}"))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
    Ok((code, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// `body` parsed as JSON; a panic that shows the body when it is not.
pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}
