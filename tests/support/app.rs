//! gslbd's `App` in this process, on 127.0.0.1:0: the same UDP workers, TCP acceptors and
//! serving state that `gslbd serve` runs, with the test holding the handles it needs (the rate
//! limiter, the TCP connection counters) and the shutdown.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gslbd::app::{App, Listeners};
use gslbd::config::{self, Snapshot};
use gslbd::dns::rrl::Rrl;
use gslbd::dns::tcp::TcpCounters;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running in-process server. Stopped (gracefully) on Drop.
pub struct InProcess {
    pub addr: SocketAddr,
    pub rrl: Arc<Rrl>,
    pub counters: Arc<TcpCounters>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), String>>>,
}

/// The repository's default config (gslbd.toml), serving on one 127.0.0.1:0 address with
/// `udp_workers` workers and no admin API, after `edit`.
pub async fn start(udp_workers: usize, edit: impl FnOnce(&mut Snapshot)) -> InProcess {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("gslbd.toml");
    let mut snap = config::load(&path).expect("the default config loads");
    snap.server.listen = vec!["127.0.0.1:0".parse().unwrap()];
    snap.server.udp_workers = udp_workers;
    snap.ops.admin = None;
    edit(&mut snap);
    let listeners = Listeners::bind(&snap).expect("bind 127.0.0.1:0");
    let app = App::build(path, snap, listeners).await.expect("app builds");
    let addr = app.dns_addrs()[0];
    let (rrl, counters) = (app.rrl(), app.tcp_connections());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    InProcess { addr, rrl, counters, stop: Some(tx), task: Some(task) }
}

impl InProcess {
    /// Stops the server and waits until it has (within its 1.5 s grace period).
    pub async fn stop(mut self) -> Result<(), String> {
        let _ = self.stop.take().map(|s| s.send(()));
        match self.task.take() {
            Some(t) => t.await.map_err(|e| e.to_string())?,
            None => Ok(()),
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
    }
}
