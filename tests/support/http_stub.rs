//! The one loopback HTTP server of the tests: the health endpoints gslbd probes and the load
//! feeds it polls, with answers the test switches and a listener it stops and restarts.
//!
//! ```text
//! let mut web = HttpStub::new().route("/health", 200, "ok").start();   // 127.0.0.1:PORT
//! web.set("/health", 503, "maintenance");   // the next request gets 503
//! web.stop();                               // connections refused: the member is down
//! web.restart();                            // the same address again
//! ```
//! Each request gets one HTTP/1.1 response with `Connection: close`: the route's status and
//! body for its path (the query string aside), 404 for any other path. Request heads are kept
//! for [`HttpStub::requests`]. A connection that sends nothing (a TCP probe) gets no response.
//!
//! Invariants: loopback only; every read is bounded (8 KiB of head, 1 s); stop and Drop return
//! only once the listener is closed (its accept loop runs on its own thread, woken by stop).
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// At most this many request heads are kept.
const MAX_KEPT: usize = 10_000;

type Routes = Arc<Mutex<HashMap<String, (u16, String)>>>;

/// A loopback HTTP/1.1 server with fixed routes whose answers can change (see the module doc).
pub struct HttpStub {
    routes: Routes,
    requests: Arc<Mutex<Vec<String>>>,
    addr: SocketAddr,
    running: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Default for HttpStub {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpStub {
    /// A stub with no routes, not started.
    pub fn new() -> HttpStub {
        HttpStub {
            routes: Routes::default(),
            requests: Arc::default(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            running: None,
        }
    }

    /// Answers GETs of `path` with `status` and `body`.
    pub fn route(self, path: &str, status: u16, body: &str) -> HttpStub {
        self.set(path, status, body);
        self
    }

    /// Starts serving on a free port of 127.0.0.1.
    pub fn start(self) -> HttpStub {
        let addr = self.addr;
        self.start_on(addr)
    }

    /// Starts serving on `addr`; panics when it cannot bind.
    pub fn start_on(self, addr: SocketAddr) -> HttpStub {
        self.try_start_on(addr).unwrap_or_else(|e| panic!("HTTP stub: bind {addr}: {e}"))
    }

    /// Starts serving on `addr`, or the bind error.
    pub fn try_start_on(mut self, addr: SocketAddr) -> std::io::Result<HttpStub> {
        self.addr = addr;
        self.listen()?;
        Ok(self)
    }

    /// One stub per address of `ips`, all on one port (bounded retries while a port is taken),
    /// each with these routes (a copy each: `set` on one does not change the others).
    pub fn start_on_each(self, ips: &[&str]) -> Vec<HttpStub> {
        let ips: Vec<IpAddr> = ips.iter().map(|ip| ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"))).collect();
        let routes = self.routes.lock().unwrap().clone();
        let copy = || {
            let stub = HttpStub::new();
            *stub.routes.lock().unwrap() = routes.clone();
            stub
        };
        'attempt: for _ in 0..20 {
            let first = copy().start_on(SocketAddr::new(ips[0], 0));
            let port = first.addr.port();
            let mut all = vec![first];
            for ip in &ips[1..] {
                match copy().try_start_on(SocketAddr::new(*ip, port)) {
                    Ok(s) => all.push(s),
                    Err(_) => continue 'attempt,
                }
            }
            return all;
        }
        panic!("HTTP stub: no port free on all of {ips:?} in 20 tries");
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://ADDR/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// From now on `path` answers `status` and `body`.
    pub fn set(&self, path: &str, status: u16, body: &str) {
        self.routes.lock().unwrap().insert(path.to_string(), (status, body.to_string()));
    }

    /// From now on `path` answers `body`, with the status it had (200 for a new route).
    pub fn set_body(&self, path: &str, body: &str) {
        let status = self.routes.lock().unwrap().get(path).map_or(200, |(s, _)| *s);
        self.set(path, status, body);
    }

    /// The heads of the requests served so far (request line and headers), oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Closes the listener: connections are refused until [`HttpStub::restart`].
    pub fn stop(&mut self) {
        if let Some((stop, thread)) = self.running.take() {
            stop.store(true, Ordering::Relaxed);
            // Wakes the accept() at once (else it notices within its 100 ms timeout).
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(100));
            let _ = thread.join();
        }
    }

    /// Listens again on the address it had; panics when it cannot bind.
    pub fn restart(&mut self) {
        self.stop();
        self.listen().unwrap_or_else(|e| panic!("HTTP stub: bind {} again: {e}", self.addr));
    }

    fn listen(&mut self) -> std::io::Result<()> {
        assert!(self.addr.ip().is_loopback(), "tests only listen on loopback, not {}", self.addr);
        let listener = TcpListener::bind(self.addr)?;
        self.addr = listener.local_addr()?;
        // accept() waits at most this long, so the thread sees `stop` even if no wake-up comes.
        socket2::SockRef::from(&listener).set_read_timeout(Some(Duration::from_millis(100)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, routes, requests) = (stop.clone(), self.routes.clone(), self.requests.clone());
        let thread = std::thread::spawn(move || {
            // Ends when the test stops the stub; the listener closes with this thread.
            while !flag.load(Ordering::Relaxed) {
                if let Ok((sock, _)) = listener.accept()
                    && !flag.load(Ordering::Relaxed)
                {
                    let (routes, requests) = (routes.clone(), requests.clone());
                    std::thread::spawn(move || serve(sock, &routes, &requests));
                }
            }
        });
        self.running = Some((stop, thread));
        Ok(())
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads one request head (bounded) and writes the route's response.
fn serve(mut sock: TcpStream, routes: &Routes, requests: &Mutex<Vec<String>>) {
    let _ = sock.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = sock.set_write_timeout(Some(Duration::from_secs(1)));
    let mut buf = vec![0u8; 8192];
    let mut n = 0;
    while n < buf.len() && !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    if n == 0 {
        return;
    }
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    let target = head.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or(target);
    let (status, body) = routes.lock().unwrap().get(path).cloned().unwrap_or((404, "no such route\n".into()));
    {
        let mut kept = requests.lock().unwrap();
        if kept.len() < MAX_KEPT {
            kept.push(head);
        }
    }
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = sock.write_all(resp.as_bytes());
    let _ = sock.shutdown(std::net::Shutdown::Write);
}
