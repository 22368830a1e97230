//! gslbd's command line. `serve` loads the config into a snapshot, binds every listen
//! address (UDP and TCP) and the admin API, and runs until SIGINT/SIGTERM; SIGHUP, `POST /reload`
//! and a change to a watched file reload.
//! `check` validates the config and every file it names, printing all errors.
#![deny(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use gslbd::app::{App, Listeners};
use gslbd::config;
use gslbd::ops::{Reloader, Services, Trigger};
use gslbd::services::{FeedbackService, HealthOptions, HealthService, install_crypto_provider};
use gslbd::serving::ConfigVersion;
use gslbd::util::rng::{SplitMix64, entropy_seed};

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
    /// Build a GeoIP .mmdb from a CSV of `network,country,latitude,longitude[,asn]` lines
    /// (for steering private networks, by place and by AS); or, with --asn-ranges, an ASN
    /// database from `start,end,asn,organization` lines (the ip-location-db `asn` package,
    /// DB-IP ASN Lite); print every bad line; exit 1 if any.
    MmdbBuild {
        /// The CSV file(s); several only with --asn-ranges (e.g. the IPv4 and IPv6 lists).
        #[arg(required = true)]
        csv: Vec<PathBuf>,
        /// Where to write the database.
        #[arg(long, short)]
        out: PathBuf,
        /// The input lists AS ranges; the output is a GeoLite2-ASN-layout database for
        /// `[geoip] asn_database`.
        #[arg(long)]
        asn_ranges: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(config),
        Command::Serve { config } => serve(config),
        Command::Explain { config, name, qtype, client } => explain(config, &name, &qtype, &client),
        Command::MmdbBuild { csv, out, asn_ranges } => mmdb_build(csv, out, asn_ranges),
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
    let snap = match config::load(&path) {
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
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = rt.block_on(async {
        install_crypto_provider();
        let wait = snap.server.health_startup_wait;
        // The feeds are read before any probe runs: a TCP probe of a load balancer's VIP is
        // itself a session there, and would show in the load the feed reports.
        let feedback = FeedbackService::start().ok();
        if let Some(f) = &feedback {
            let all: Vec<&gslbd::pool::Pools> = snap.zones.zones().iter().map(|z| &z.pools).collect();
            f.update(&all);
            if f.tasks() > 0 {
                f.wait_first_round(wait).await;
            }
        }
        let services =
            Services { health: HealthService::start(HealthOptions { seed: entropy_seed() }).ok(), feedback, rum: None };
        let serving = services.serve(snap, None, ConfigVersion::default());
        if let Some(h) = services.health.as_ref().filter(|h| h.tasks() > 0) {
            h.wait_first_round(wait).await;
        }
        services.shutdown();
        let mut rng = SplitMix64::new(entropy_seed());
        gslbd::dns::explain::explain(&serving, &qname, qtype, client, &mut rng)
    });
    print!("{text}");
    ExitCode::SUCCESS
}

fn mmdb_build(csvs: Vec<PathBuf>, out: PathBuf, asn_ranges: bool) -> ExitCode {
    let mut texts = Vec::new();
    for csv in &csvs {
        match std::fs::read_to_string(csv) {
            Ok(t) => texts.push((csv.display().to_string(), t)),
            Err(e) => {
                eprintln!("{}: cannot read: {e}", csv.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let built = match (asn_ranges, texts.as_slice()) {
        (true, _) => {
            let refs: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
            gslbd::geo::asn_ranges_to_mmdb(&refs)
        }
        (false, [(name, text)]) => gslbd::geo::csv_to_mmdb(text, name),
        (false, _) => {
            eprintln!("one CSV at a time (several only with --asn-ranges)");
            return ExitCode::FAILURE;
        }
    };
    match built {
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
    let result = runtime.block_on(async move {
        let listeners = Listeners::bind(&snapshot)?;
        let app = App::build(path, snapshot, listeners).await?;
        // Tests and scripts wait for these lines to know the ports; the admin line comes first.
        if let Some(addr) = app.admin_addr() {
            tracing::info!(%addr, "admin API");
            println!("gslbd admin listening on {addr}");
        }
        for addr in app.dns_addrs() {
            println!("gslbd listening on {addr}");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let reloader = app.reloader();
        app.run(signals(reloader)).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT or SIGTERM; on SIGHUP, reloads the config beside the signal loop (so a
/// slow load never holds up a stop), keeping the old one if the new config has errors.
async fn signals(reloader: Arc<Reloader>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) =
        (signal(SignalKind::hangup()), signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                let r = reloader.clone();
                tokio::spawn(async move { r.reload(Trigger::Signal).await });
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
}
