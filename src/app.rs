//! The application: everything `gslbd serve` runs, built from a loaded config and sockets the
//! caller bound ([`Listeners`]), and run until a shutdown future resolves.
//!
//! ```text
//! App::build(config_path, snapshot, listeners)
//!     services (probes, pollers) ─► first round (bounded) ─► Reloader::start ─► Shared<Serving>
//!     [cluster]: Fleet::start (votes, changes through etcd) ─► first sync (bounded)
//!     runtime changes that edit pool files ─► one reload before serving
//! App::run(shutdown)
//!     UDP workers (one thread per SO_REUSEPORT socket) ┐
//!     TCP acceptors (one task per listen address)      ├─ answer from Shared<Serving>, report to QueryObserver
//!     DNS over TLS (hickory-server, [server.tls])      │  (certificate: the serving snapshot's)
//!     admin API, file watcher, DNSSEC re-signer        ┘
//!     shutdown resolves ─► stop accepting ─► answer what was already received ─► close TCP after
//!                          its replies ─► stop services ─► return (state is saved on every change)
//! ```
//!
//! Tests build an `App` in-process on sockets bound to port 0 and run it with a shutdown
//! future they control; `main.rs` does the same with the config's addresses and SIGTERM.
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::cluster::Fleet;
use crate::config::Snapshot;
use crate::dns::rrl::Rrl;
use crate::dns::server::{Bound, bind};
use crate::dns::tcp::{TcpCounters, spawn_tcp_workers};
use crate::dns::tls::dot_server;
use crate::dns::udp::{DnsHandler, spawn_workers};
use crate::ops::{
    AdminState, Changes, FleetMetrics, Metrics, ProbeMetrics, QueryObserver, Reloader, Services, TcpMetrics, Trigger,
    follow_changes, run_resigner, serve_admin, spawn_watcher,
};
use crate::services::{FeedbackService, HealthOptions, HealthService, RumStore, install_crypto_provider};
use crate::serving::{OverrideTable, Serving, Shared};
use crate::util::clock::unix_now;
use crate::util::rng::entropy_seed;

/// How often latency pools' preferred regions are re-evaluated (probes run at most every 100 ms).
const LATENCY_TICK: Duration = Duration::from_millis(50);
/// Client-posted RTTs are published every this many latency ticks (1 s).
const RUM_EVERY: u32 = 20;

/// How long a stopping server waits for its TCP connections and UDP workers.
const STOP_GRACE: Duration = Duration::from_millis(1500);

/// The sockets the server serves on, bound before it starts (so a caller can bind port 0 and
/// learn the ports, or bind privileged ports before dropping privileges).
pub struct Listeners {
    /// UDP (one socket per worker) and TCP, per DNS listen address.
    pub dns: Vec<Bound>,
    /// The admin API's listener, if it is enabled.
    pub admin: Option<std::net::TcpListener>,
    /// DNS over TLS listeners (`[server.tls] listen`).
    pub tls: Vec<std::net::TcpListener>,
    /// DNS over QUIC sockets (`[server.tls] quic_listen`).
    pub quic: Vec<std::net::UdpSocket>,
}

impl Listeners {
    /// Binds the config's `[server] listen` addresses (UDP with `udp_workers` sockets, and
    /// TCP) and its `[admin] listen` address.
    pub fn bind(config: &Snapshot) -> Result<Listeners, String> {
        let mut dns = Vec::new();
        for addr in &config.server.listen {
            dns.push(bind(*addr, config.server.udp_workers).map_err(|e| format!("cannot listen on {addr}: {e}"))?);
        }
        let admin = match &config.ops.admin {
            Some(a) => Some(
                std::net::TcpListener::bind(a.listen)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .map_err(|e| format!("cannot listen on {} (admin): {e}", a.listen))?,
            ),
            None => None,
        };
        let mut tls = Vec::new();
        for addr in config.server.tls.iter().flat_map(|t| &t.listen) {
            let l = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|e| format!("cannot listen on {addr} (DNS over TLS): {e}"))?;
            tls.push(l);
        }
        let mut quic = Vec::new();
        for addr in config.server.tls.iter().flat_map(|t| &t.quic_listen) {
            let s = std::net::UdpSocket::bind(addr)
                .and_then(|s| s.set_nonblocking(true).map(|()| s))
                .map_err(|e| format!("cannot listen on {addr} (DNS over QUIC): {e}"))?;
            quic.push(s);
        }
        Ok(Listeners { dns, admin, tls, quic })
    }
}

/// The running server's parts. See the module docs.
pub struct App {
    reloader: Arc<Reloader>,
    shared: Shared<Serving>,
    overrides: Arc<OverrideTable>,
    fleet: Option<Arc<Fleet>>,
    services: Services,
    metrics: Arc<Metrics>,
    rrl: Arc<Rrl>,
    tcp: Arc<TcpCounters>,
    listeners: Listeners,
}

impl App {
    /// Starts the probes and load pollers of `config`, waits for their first round (at most
    /// `health_startup_wait`), and publishes the first serving state. Runs inside a Tokio
    /// runtime.
    pub async fn build(config_path: PathBuf, config: Snapshot, listeners: Listeners) -> Result<App, String> {
        install_crypto_provider();
        let health = HealthService::start(HealthOptions { seed: entropy_seed(), source: config.server.probe_source })
            .map_err(|e| format!("cannot start health probes: {e}"))?;
        let feedback = FeedbackService::start().map_err(|e| format!("cannot start load feedback: {e}"))?;
        let rum = RumStore::new();
        let services = Services {
            health: Some(health.clone()),
            feedback: Some(feedback.clone()),
            rum: Some(rum.clone()),
            signals: Some(crate::serving::ZoneSignals::new()),
        };
        let metrics = Arc::new(Metrics::default());
        metrics.add_source(Arc::new(ProbeMetrics(health.clone())));
        let startup_wait = config.server.health_startup_wait;
        let (cluster, source) = (config.cluster.clone(), config.server.probe_source);
        let (reloader, shared, overrides) = Reloader::start(config_path, config, services.clone(), metrics.clone())?;
        let fleet = match &cluster {
            Some(c) => Some(
                Fleet::start(c, source, health.clone(), shared.clone(), overrides.clone())
                    .map_err(|e| format!("[cluster]: {e}"))?,
            ),
            None => None,
        };
        if let Some(f) = &fleet {
            metrics.add_source(Arc::new(FleetMetrics(f.clone())));
            if !f.wait_synced(startup_wait).await {
                tracing::warn!(
                    ?startup_wait,
                    "etcd did not answer at start; serving the changes last seen (state file)"
                );
            }
        }
        // Weights and members changed at run time (state file, or the fleet's etcd) apply at once.
        if !overrides.changes().config_records().is_empty() {
            reloader.reload(Trigger::Start).await;
        }
        // Never answer "all down" for want of a first probe: wait for one round, bounded.
        if feedback.tasks() > 0 && !feedback.wait_first_round(startup_wait).await {
            tracing::warn!(
                startup_wait_ms = startup_wait.as_millis() as u64,
                "not every load feed answered its first poll within {} ms; those regions count as unfed (stale) until they do",
                startup_wait.as_millis()
            );
        }
        if health.tasks() > 0 && !health.wait_first_round(startup_wait).await {
            tracing::warn!(
                startup_wait_ms = startup_wait.as_millis() as u64,
                "not every probe finished its first round within {} ms; unknown members use health_assume",
                startup_wait.as_millis()
            );
        }
        // One rate-limit table for every UDP socket: sized once, kept across reloads.
        let rrl = Arc::new(Rrl::new(&shared.load().config.server.rrl));
        let tcp = Arc::new(TcpCounters::default());
        metrics.add_source(Arc::new(TcpMetrics(tcp.clone())));
        Ok(App { reloader, shared, overrides, fleet, services, metrics, rrl, tcp, listeners })
    }

    /// The DNS addresses served (UDP and TCP on each).
    pub fn dns_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.dns.iter().map(|b| b.addr).collect()
    }

    /// The DNS over TLS addresses served.
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.tls.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// The DNS over QUIC addresses served.
    pub fn quic_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.quic.iter().filter_map(|s| s.local_addr().ok()).collect()
    }

    /// The admin API's address, if enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.listeners.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// What reloads the config (SIGHUP, the API and the watcher call it).
    pub fn reloader(&self) -> Arc<Reloader> {
        self.reloader.clone()
    }

    /// The serving state (for in-process callers: tests, tools).
    pub fn shared(&self) -> Shared<Serving> {
        self.shared.clone()
    }

    /// The process-wide query counters.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The response rate limiter every UDP worker shares.
    pub fn rrl(&self) -> Arc<Rrl> {
        self.rrl.clone()
    }

    /// The open TCP connections, in total and per client address.
    pub fn tcp_connections(&self) -> Arc<TcpCounters> {
        self.tcp.clone()
    }

    /// Serves until `shutdown` resolves, then stops gracefully: stops accepting, answers every
    /// query already received (UDP datagrams the kernel has queued, TCP queries already read),
    /// closes TCP connections after their replies, and stops the services. Returns within
    /// about 1.5 s of the shutdown.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), String> {
        let App { reloader, shared, overrides, fleet, services, metrics, rrl, tcp: counters, listeners } = self;
        let follow = fleet.as_ref().map(|f| tokio::spawn(follow_changes(f.clone(), reloader.clone())));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(admin) = listeners.admin {
            let listener = tokio::net::TcpListener::from_std(admin).map_err(|e| format!("admin listener: {e}"))?;
            let changes = Changes { table: overrides.clone(), fleet: fleet.clone() };
            let state = AdminState {
                shared: shared.clone(),
                reloader: reloader.clone(),
                overrides,
                metrics: metrics.clone(),
                changes,
            };
            let mut stop = stop_rx.clone();
            tasks.spawn(serve_admin(listener, state, async move {
                let _ = stop.wait_for(|s| *s).await;
            }));
        }
        // The latency tracker: latency pools' preferred regions, moved with hysteresis as the
        // probes' RTT estimates change (the query path only reads the result).
        {
            let (shared, mut stop) = (shared.clone(), stop_rx.clone());
            tasks.spawn(async move {
                let mut tick = tokio::time::interval(LATENCY_TICK);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut n: u32 = 0;
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            let serving = shared.load();
                            serving.live.track_latency(&serving.config);
                            // Client-posted RTTs: expired ones dropped, the rest published
                            // with this snapshot's ids, every RUM_EVERY ticks.
                            n = n.wrapping_add(1);
                            if n.is_multiple_of(RUM_EVERY) && let Some(rum) = &serving.live.rum {
                                rum.publish(&serving.config, serving.live.version.generation, unix_now());
                            }
                        }
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
            });
        }
        // NOTIFY to secondaries on serial changes; the secondary zones' refresh tasks.
        crate::xfr::spawn(&mut tasks, shared.clone(), reloader.clone(), metrics.transfers.clone(), stop_rx.clone());
        tasks.spawn(run_resigner(reloader.clone(), shared.clone(), stop_rx.clone()));
        if let Err(e) = spawn_watcher(reloader.clone()) {
            tracing::warn!(error = %e, "files are not watched; reload with SIGHUP or POST /reload");
        }
        let observer = QueryObserver::new(metrics.clone());
        let mut workers = Vec::new();
        for b in listeners.dns {
            let (s, r, o) = (shared.clone(), rrl.clone(), observer.clone());
            let w = spawn_workers(b.udp, move || DnsHandler::with_observer(s.clone(), r.clone(), o.clone()))
                .map_err(|e| format!("cannot start UDP workers on {}: {e}", b.addr))?;
            workers.push(w);
            let tcp = spawn_tcp_workers(b.tcp, shared.clone(), counters.clone(), observer.clone(), stop_rx.clone())
                .map_err(|e| format!("cannot start TCP workers on {}: {e}", b.addr))?;
            tasks.spawn(tcp);
        }

        let dot = if listeners.tls.is_empty() && listeners.quic.is_empty() {
            None
        } else {
            let timeout = shared.load().config.server.tls.as_ref().map_or(Duration::from_secs(10), |t| t.timeout);
            let mut ls = Vec::new();
            for l in listeners.tls {
                let addr = l.local_addr().map_err(|e| format!("DNS over TLS listener: {e}"))?;
                ls.push(tokio::net::TcpListener::from_std(l).map_err(|e| format!("TLS listener {addr}: {e}"))?);
            }
            let mut qs = Vec::new();
            for s in listeners.quic {
                let addr = s.local_addr().map_err(|e| format!("DNS over QUIC socket: {e}"))?;
                qs.push(tokio::net::UdpSocket::from_std(s).map_err(|e| format!("QUIC socket {addr}: {e}"))?);
            }
            let mut server = dot_server(ls, qs, shared.clone(), observer.clone(), timeout)
                .map_err(|e| format!("cannot start DNS over TLS/QUIC: {e}"))?;
            let token = server.shutdown_token().clone();
            tasks.spawn(async move {
                if let Err(e) = server.block_until_done().await {
                    tracing::warn!(error = %e, "DNS over TLS listener stopped");
                }
            });
            Some(token)
        };

        shutdown.await;
        tracing::info!("stopping: no new connections; answering what was received");
        if let Some(token) = dot {
            token.cancel();
        }
        let _ = stop_tx.send(true);
        for w in &workers {
            w.stop();
        }
        let joined = tokio::task::spawn_blocking(move || workers.into_iter().for_each(|w| w.join()));
        let stopped = async {
            while tasks.join_next().await.is_some() {}
            let _ = joined.await;
        };
        if tokio::time::timeout(STOP_GRACE, stopped).await.is_err() {
            tracing::warn!(open = counters.open(), "closing the TCP connections still open after the grace period");
        }
        services.shutdown();
        if let Some(f) = follow {
            f.abort();
        }
        if let Some(f) = &fleet {
            f.shutdown().await;
        }
        let (udp, tcp) = (metrics.totals(crate::dns::Transport::Udp), metrics.totals(crate::dns::Transport::Tcp));
        tracing::info!(udp_replied = udp.0, udp_dropped = udp.1, tcp_replied = tcp.0, tcp_dropped = tcp.1, "stopped");
        Ok(())
    }
}
