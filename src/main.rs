//! gslbd's command line. `serve` loads the config into a snapshot, binds every listen
//! address (UDP and TCP), and runs the transports until SIGINT/SIGTERM; SIGHUP reloads.
//! `check` validates the config and every file it names, printing all errors.
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use arc_swap::ArcSwap;
use clap::{Parser, Subcommand};
use gslbd::config;
use gslbd::dns::rrl::Rrl;
use gslbd::dns::server::{bind, serve_tcp, serve_udp, SharedSnapshot, TcpCounters};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(config),
        Command::Serve { config } => serve(config),
    }
}

fn check(path: PathBuf) -> ExitCode {
    match config::load(&path) {
        Ok(snap) => {
            let records: usize = snap.zones.zones().iter().map(|z| z.record_count()).sum();
            println!("{}: ok: {} zone(s), {} record(s)", path.display(), snap.zones.zones().len(), records);
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
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
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
        let shared: SharedSnapshot = Arc::new(ArcSwap::from_pointee(snapshot));
        let counters = Arc::new(TcpCounters::default());
        let mut bound = Vec::new();
        for addr in &listen {
            match bind(*addr, workers) {
                Ok(b) => bound.push(b),
                Err(e) => {
                    eprintln!("cannot listen on {addr}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        for b in bound {
            for sock in b.udp {
                tokio::spawn(serve_udp(sock, shared.clone(), rrl.clone()));
            }
            tokio::spawn(serve_tcp(b.tcp, shared.clone(), counters.clone()));
            tracing::info!(addr = %b.addr, "serving UDP and TCP");
            // Tests and scripts wait for this line to know the port.
            println!("gslbd listening on {}", b.addr);
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        run_until_stopped(path, shared).await;
        ExitCode::SUCCESS
    })
}

/// Waits for SIGINT or SIGTERM; on SIGHUP, reloads the config and swaps the snapshot in,
/// keeping the old one if the new config has errors.
async fn run_until_stopped(path: PathBuf, shared: SharedSnapshot) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) =
        (signal(SignalKind::hangup()), signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                let p = path.clone();
                match tokio::task::spawn_blocking(move || config::load(&p)).await {
                    Ok(Ok(new)) => {
                        shared.store(Arc::new(new));
                        tracing::info!("reloaded");
                    }
                    Ok(Err(errors)) => tracing::error!(errors = %errors, "reload failed; the old config keeps serving"),
                    Err(e) => tracing::error!(error = %e, "reload task failed"),
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("stopping");
}
