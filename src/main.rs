//! gslbd's command line. `serve` loads the config into a snapshot, binds every listen
//! address (UDP and TCP) and the admin API, and runs until SIGINT/SIGTERM; SIGHUP, `POST /reload`
//! and a change to a watched file reload.
//! `check` validates the config and every file it names, printing all errors.
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use gslbd::admin::{AdminState, Reloader, Trigger, serve_admin, spawn_watcher};
use gslbd::config;
use gslbd::dns::rrl::Rrl;
use gslbd::dns::server::{TcpCounters, bind_std, entropy_seed, serve_tcp};
use gslbd::dns::udp::{DnsHandler, spawn_workers};
use gslbd::health::{HealthOptions, HealthService};

#[derive(Parser)]
#[command(name = "gslbd", version, about = "Authoritative GSLB DNS server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the zones in the config.
    Serve {
        /// The config file.
        #[arg(long, default_value = "gslbd.toml")]
        config: PathBuf,
    },
    /// Validate the config and every zone and pool file; print every error; exit 1 if any.
    Check {
        #[arg(long, default_value = "gslbd.toml")]
        config: PathBuf,
    },
    /// Show what the server would answer to NAME TYPE for a client, and why.
    Explain {
        #[arg(long, default_value = "gslbd.toml")]
        config: PathBuf,
        /// The query name, e.g. www.gslb.example.com
        name: String,
        /// The query type, e.g. A or AAAA
        #[arg(value_name = "TYPE")]
        qtype: String,
        /// The client: an ECS subnet (81.2.69.0/24) or a resolver address (192.0.2.7).
        #[arg(long)]
        client: String,
    },
    /// Build a GeoIP .mmdb from a CSV of `network,country,latitude,longitude` lines
    /// (for steering private networks); print every bad line; exit 1 if any.
    MmdbBuild {
        /// The CSV file.
        csv: PathBuf,
        /// Where to write the database.
        #[arg(long, short)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(config),
        Command::Serve { config } => serve(config),
        Command::Explain { config, name, qtype, client } => explain(config, &name, &qtype, &client),
        Command::MmdbBuild { csv, out } => mmdb_build(csv, out),
    }
}

fn explain(path: PathBuf, name: &str, qtype: &str, client: &str) -> ExitCode {
    let (qname, qtype, client) = match gslbd::dns::explain::parse_args(name, qtype, client) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{}", e.replace("client '", "--client '"));
            return ExitCode::FAILURE;
        }
    };
    let mut snap = match config::load(&path) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    // Probe the members once (bounded by health_startup_wait_ms), so the explanation shows
    // their live state, last result and time since the last change. Each load feed is polled
    // once too (same bound): its load, backends and freshness are live, and its shed fraction
    // is the controller's first step from 0 (what a server just started would use).
    if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
        let wait = snap.server.health_startup_wait;
        rt.block_on(async {
            gslbd::health::install_crypto_provider();
            if let Ok(h) = HealthService::start(HealthOptions { state_file: None, seed: entropy_seed() }) {
                gslbd::admin::attach_probes(Some(&h), &mut snap);
                if h.tasks() > 0 {
                    h.wait_first_round(wait).await;
                }
                h.shutdown();
            }
            if let Ok(f) = gslbd::feedback::FeedbackService::start() {
                gslbd::admin::attach_feedback(Some(&f), &mut snap);
                if f.tasks() > 0 {
                    f.wait_first_round(wait).await;
                }
                f.shutdown();
            }
        });
    }
    let mut rng = gslbd::steer::SplitMix64::new(gslbd::dns::server::entropy_seed());
    print!("{}", gslbd::dns::explain::explain(&snap, &qname, qtype, client, &mut rng));
    ExitCode::SUCCESS
}

fn mmdb_build(csv: PathBuf, out: PathBuf) -> ExitCode {
    let text = match std::fs::read_to_string(&csv) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: cannot read: {e}", csv.display());
            return ExitCode::FAILURE;
        }
    };
    match gslbd::geo::csv_to_mmdb(&text, &csv.display().to_string()) {
        Ok(bytes) => match std::fs::write(&out, &bytes) {
            Ok(()) => {
                println!("{}: {} bytes", out.display(), bytes.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: cannot write: {e}", out.display());
                ExitCode::FAILURE
            }
        },
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} error(s)", errors.len());
            ExitCode::FAILURE
        }
    }
}

fn check(path: PathBuf) -> ExitCode {
    match config::load(&path) {
        Ok(snap) => {
            let records: usize = snap.zones.zones().iter().map(|z| z.record_count()).sum();
            let pooled: usize = snap.zones.zones().iter().map(|z| z.pools.names().count()).sum();
            let geo = snap.geo.as_ref().map(|g| g.description()).unwrap_or_else(|| "no GeoIP database".into());
            println!(
                "{}: ok: {} zone(s), {} record(s), {} pooled name(s); {geo}",
                path.display(),
                snap.zones.zones().len(),
                records,
                pooled
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            eprintln!("{} error(s)", errors.0.len());
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    // hickory logs per request at info; keep it at warn so logging never sits on the query path.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hickory_proto=warn"));
    // Colours only on a terminal: journald and log files get plain key=value text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
}

fn serve(path: PathBuf) -> ExitCode {
    init_logging();
    let snapshot = match config::load(&path) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listen = snapshot.server.listen.clone();
        let workers = snapshot.server.udp_workers;
        // One rate-limit table for every UDP socket: sized once, kept across reloads.
        let rrl = Arc::new(Rrl::new(&snapshot.server.rrl));
        let admin = snapshot.ops.admin.clone();
        // Probes: one task per (target, probe) named in the pool files; results feed every snapshot.
        let startup_wait = snapshot.server.health_startup_wait;
        gslbd::health::install_crypto_provider();
        let health = match HealthService::start(HealthOptions { state_file: None, seed: entropy_seed() }) {
            Ok(h) => Some(h),
            Err(e) => {
                eprintln!("cannot start health probes: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Load feedback: one poller per distinct feed named in the pool files.
        let feedback = match gslbd::feedback::FeedbackService::start() {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("cannot start load feedback: {e}");
                return ExitCode::FAILURE;
            }
        };
        let (reloader, shared, overrides) =
            Reloader::start_with_feedback(path, snapshot, health.clone(), feedback.clone());
        if let Some(f) = &feedback
            && f.tasks() > 0
            && !f.wait_first_round(startup_wait).await
        {
            tracing::warn!(
                ?startup_wait,
                "not every load feed answered its first poll; those regions count as unfed (stale) until they do"
            );
        }
        if let Some(h) = &health {
            shared.load().live.metrics.add_source(Arc::new(gslbd::admin::ProbeMetrics(h.clone())));
            // Never answer "all down" for want of a first probe: wait for one round, bounded.
            if h.tasks() > 0 && !h.wait_first_round(startup_wait).await {
                tracing::warn!(
                    ?startup_wait,
                    "not every probe finished its first round; unknown members use health_assume"
                );
            }
        }
        let counters = Arc::new(TcpCounters::default());
        let mut bound = Vec::new();
        for addr in &listen {
            match bind_std(*addr, workers) {
                Ok(b) => bound.push(b),
                Err(e) => {
                    eprintln!("cannot listen on {addr}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        // The admin API is bound before the DNS lines are printed, so a script that has read
        // them can also rely on the admin line that came first.
        if let Some(admin) = admin {
            let listener = match tokio::net::TcpListener::bind(admin.listen).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("cannot listen on {} (admin): {e}", admin.listen);
                    return ExitCode::FAILURE;
                }
            };
            let addr = listener.local_addr().unwrap_or(admin.listen);
            let state = AdminState { shared: shared.clone(), reloader: reloader.clone(), overrides: overrides.clone() };
            tokio::spawn(serve_admin(listener, state));
            tracing::info!(%addr, "admin API");
            println!("gslbd admin listening on {addr}");
        }
        if let Err(e) = spawn_watcher(reloader.clone()) {
            tracing::warn!(error = %e, "files are not watched; reload with SIGHUP or POST /reload");
        }
        for b in bound {
            // UDP: the fast path, one thread per SO_REUSEPORT socket (recvmmsg/sendmmsg).
            let (s, r) = (shared.clone(), rrl.clone());
            if let Err(e) = spawn_workers(b.udp, move || DnsHandler::new(s.clone(), r.clone())) {
                eprintln!("cannot start UDP workers on {}: {e}", b.addr);
                return ExitCode::FAILURE;
            }
            let tcp = match tokio::net::TcpListener::from_std(b.tcp) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("cannot listen on {} (TCP): {e}", b.addr);
                    return ExitCode::FAILURE;
                }
            };
            tokio::spawn(serve_tcp(tcp, shared.clone(), counters.clone()));
            tracing::info!(addr = %b.addr, "serving UDP and TCP");
            // Tests and scripts wait for this line to know the port.
            println!("gslbd listening on {}", b.addr);
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        run_until_stopped(reloader).await;
        ExitCode::SUCCESS
    })
}

/// Waits for SIGINT or SIGTERM; on SIGHUP, reloads the config and swaps the snapshot in,
/// keeping the old one if the new config has errors.
async fn run_until_stopped(reloader: Arc<Reloader>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) =
        (signal(SignalKind::hangup()), signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                // Run beside the signal loop, so SIGTERM is never held up by a slow load.
                let r = reloader.clone();
                tokio::spawn(async move { r.reload(Trigger::Signal).await });
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("stopping");
}
