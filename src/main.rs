//! gslbd's command line. `serve` loads the config into a snapshot, binds every listen
//! address (UDP and TCP) and the admin API, and runs until SIGINT/SIGTERM; SIGHUP, `POST /reload`
//! and a change to a watched file reload.
//! `check` validates the config and every file it names, printing all errors.
//! A zone whose files have errors is reported with file:line and not served (SERVFAIL); `serve`
//! runs while at least one zone loaded, and a reload that fixes the files brings the zone in.
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
    /// DNSSEC keys of the zones signed online: DS for the parent, rollovers, import.
    Dnssec {
        #[arg(long, default_value = "gslbd.toml")]
        config: PathBuf,
        #[command(subcommand)]
        command: DnssecCommand,
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

#[derive(Subcommand)]
enum DnssecCommand {
    /// Print the DS records the parent zone publishes (one per active KSK, SHA-256). Makes
    /// the zone's keys if it has none yet, as the first start would.
    Ds { zone: String },
    /// List the keys of one zone or of every signed zone, with their state and timing.
    Keys { zone: Option<String> },
    /// Start a KSK rollover: a new KSK signs beside the old one; CDS/CDNSKEY name the new one.
    KskRoll { zone: String },
    /// End a KSK rollover once the parent has the new DS: the KSK TAG leaves the DNSKEY RRset.
    KskRetire { zone: String, tag: u16 },
    /// Start a ZSK rollover now (pre-publication) instead of waiting for zsk_lifetime.
    ZskRoll { zone: String },
    /// Copy BIND key files (K<zone>+<alg>+<tag>.key with its .private) into the key directory.
    Import { zone: String, files: Vec<PathBuf> },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(config),
        Command::Serve { config } => serve(config),
        Command::Explain { config, name, qtype, client } => explain(config, &name, &qtype, &client),
        Command::MmdbBuild { csv, out } => mmdb_build(csv, out),
        Command::Dnssec { config, command } => dnssec(&config, command),
    }
}

fn dnssec(path: &std::path::Path, command: DnssecCommand) -> ExitCode {
    use gslbd::ops::keycmd;
    let result = match &command {
        DnssecCommand::Ds { zone } => keycmd::ds(path, zone),
        DnssecCommand::Keys { zone } => keycmd::list(path, zone.as_deref()),
        DnssecCommand::KskRoll { zone } => keycmd::ksk_roll(path, zone),
        DnssecCommand::KskRetire { zone, tag } => keycmd::ksk_retire(path, zone, *tag),
        DnssecCommand::ZskRoll { zone } => keycmd::zsk_roll(path, zone),
        DnssecCommand::Import { zone, files } => keycmd::import(path, zone, files),
    };
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
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
        let services = Services {
            health: HealthService::start(HealthOptions { seed: entropy_seed() }).ok(),
            feedback: FeedbackService::start().ok(),
        };
        let serving = services.serve(snap, None, ConfigVersion::default());
        if let Some(h) = services.health.as_ref().filter(|h| h.tasks() > 0) {
            h.wait_first_round(wait).await;
        }
        if let Some(f) = services.feedback.as_ref().filter(|f| f.tasks() > 0) {
            f.wait_first_round(wait).await;
        }
        services.shutdown();
        let mut rng = SplitMix64::new(entropy_seed());
        gslbd::dns::explain::explain(&serving, &qname, qtype, client, &mut rng)
    });
    print!("{text}");
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
    match config::load_with(&path, None, config::KeyAccess::ReadOnly) {
        Ok(snap) => {
            for w in snap.zones.zones().iter().flat_map(|z| z.warnings.iter()) {
                eprintln!("warning: {w}");
            }
            let problems = snap.zones.problems();
            if !problems.is_empty() {
                let errors: Vec<_> = problems.iter().flat_map(|p| p.errors.iter()).collect();
                for e in &errors {
                    eprintln!("{e}");
                }
                eprintln!(
                    "{} error(s) in {} zone(s), which would not be served (SERVFAIL); the other {} zone(s) would serve",
                    errors.len(),
                    problems.len(),
                    snap.zones.zones().len()
                );
                return ExitCode::FAILURE;
            }
            let records: usize = snap.zones.zones().iter().map(|z| z.record_count()).sum();
            let pooled: usize = snap.zones.zones().iter().map(|z| z.pools.names().count()).sum();
            let count = |s: gslbd::zone::Signing| snap.zones.zones().iter().filter(|z| z.signing == s).count();
            let (presigned, online) = (count(gslbd::zone::Signing::Presigned), count(gslbd::zone::Signing::Online));
            let geo = snap.geo.as_ref().map(|g| g.description()).unwrap_or_else(|| "no GeoIP database".into());
            println!(
                "{}: ok: {} zone(s) ({presigned} pre-signed, {online} signed online), {} record(s), {} pooled name(s); {geo}",
                path.display(),
                snap.zones.zones().len(),
                records,
                pooled
            );
            let now = gslbd::util::clock::unix_now();
            for z in snap.zones.zones() {
                let Some(signer) = z.signer.as_deref() else { continue };
                let keys = &signer.keys;
                if keys.keys.is_empty() {
                    println!(
                        "{}: signed online; no keys yet: a KSK and a ZSK are made in {} at first start",
                        z.origin,
                        keys.dir.display()
                    );
                    continue;
                }
                println!("{}: signed online with:", z.origin);
                for k in &keys.keys {
                    println!("  {}", gslbd::ops::keycmd::describe(keys, k, now));
                }
            }
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
