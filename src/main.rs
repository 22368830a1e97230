//! gslbd's command line. `serve` loads the config into a snapshot, binds every listen
//! address (UDP and TCP) and the admin API, and runs until SIGINT/SIGTERM; SIGHUP, `POST /reload`
//! and a change to a watched file reload.
//! `check` validates the config and every file it names, printing all errors; `ctl` talks to
//! a running server's admin API; `man` and `completions` print the manual and shell completions.
//! A zone whose files have errors is reported with file:line and not served (SERVFAIL); `serve`
//! runs while at least one zone loaded, and a reload that fixes the files brings the zone in.
#![deny(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory, Parser, Subcommand};
use gslbd::app::{App, Listeners};
use gslbd::config::{self, LogFormat, Snapshot};
use gslbd::ops::{CtlArgs, Reloader, Services, Trigger};
use gslbd::services::{FeedbackService, HealthOptions, HealthService, install_crypto_provider};
use gslbd::serving::{ConfigVersion, OverrideTable, Serving, Shared, compile_changes};
use gslbd::util::build::version_line;
use gslbd::util::rng::{SplitMix64, entropy_seed};

/// The process's allocator: mimalloc instead of glibc's malloc. The UDP query path allocates
/// nothing, but every TCP connection does (tokio's task and I/O registration, the connection's
/// buffers), and two of those allocations are aligned to a cache line: glibc 2.36 serves
/// `posix_memalign` outside its per-thread cache, at some 600 instructions each, where
/// mimalloc takes a few dozen (measured with callgrind, see CHANGELOG.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LONG_ABOUT: &str = "\
gslbd is an authoritative DNS server for global server load balancing. For pooled names it picks \
the A/AAAA answer per query (GeoIP on the EDNS Client Subnet, weights, health probes, load \
feedback); every other name is served from ordinary zone files.

Running it:
  gslbd serve --config /etc/gslbd/gslbd.toml
  SIGHUP (systemctl reload gslbd), POST /reload or a change to a config, zone, pool or GeoIP \
file reloads the config; a config with errors is refused and the old one keeps serving.
  SIGTERM or SIGINT stops it gracefully.

The admin API ([admin] listen, default 127.0.0.1:8053): GET / is a status page for people; \
GET /status, /explain, /metrics; POST /reload and drain/undrain/force calls, which need \
\"Authorization: Bearer <token>\" with the token of [admin] token_file (gslbd serve creates that \
file with a random token if it is missing). `gslbd ctl` talks to it.

The state file ([admin] state_file; default $STATE_DIRECTORY/gslbd.state under systemd, else \
gslbd.state beside the config) keeps drains and forces across restarts; a damaged state file \
stops the start-up rather than silently dropping them.

Logs go to stderr: [log] level (a tracing filter such as \"info\" or \"info,gslbd::health=debug\"; \
RUST_LOG wins), [log] format = \"text\" or \"json\", and [log] query_sample for a sampled query log.";

#[derive(Parser)]
#[command(name = "gslbd", version = gslbd::util::build::VERSION, long_version = LONG_VERSION.as_str(), about = "Authoritative GSLB DNS server", long_about = LONG_ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

static LONG_VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(version_line);

#[derive(Subcommand)]
enum Command {
    /// Serve the zones in the config (SIGHUP reloads, SIGTERM stops).
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
    /// Talk to a running server's admin API (status, states, drain, undrain, reload, explain).
    /// Exit codes: 0 done, 1 refused or failed, 2 bad arguments, 3 unreachable.
    Ctl(CtlArgs),
    /// Print the manual page (roff) to stdout: `gslbd man | man -l -`.
    Man,
    /// Print shell completions to stdout, e.g. `gslbd completions bash > /etc/bash_completion.d/gslbd`.
    Completions { shell: clap_complete::Shell },
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
        Command::Dnssec { config, command } => dnssec(&config, command),
        Command::MmdbBuild { csv, out, asn_ranges } => mmdb_build(csv, out, asn_ranges),
        Command::Ctl(args) => gslbd::ops::run_ctl(args),
        Command::Man => {
            let man = clap_mangen::Man::new(Cli::command());
            match man.render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("gslbd man: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "gslbd", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
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
        let services = Services {
            health: HealthService::start(HealthOptions { seed: entropy_seed(), source: snap.server.probe_source }).ok(),
            feedback,
            rum: None,
            signals: None,
        };
        let state_file = snap.ops.admin.as_ref().map(|a| a.state_file.clone());
        let serving = services.serve(snap, None, ConfigVersion::default());
        // The admin overrides a server on this config has in force, read from its state file
        // (read only), so that a drained member is shown drained here too.
        let shared: Shared<Serving> = Arc::new(arc_swap::ArcSwap::from_pointee(serving));
        let table = OverrideTable::new(shared.clone(), state_file.clone())?;
        // Weights and members changed at run time are compiled on top of the files, as the
        // server does (an edit that does not compile is left out there too).
        let changes = table.changes();
        if !changes.config_records().is_empty() {
            let compiled = compile_changes(&path, &changes, None).map_err(|e| e.to_string())?;
            let old = shared.load_full();
            table.publish(services.serve(compiled.snapshot, Some(&old), ConfigVersion::default()));
        }
        if let Some(h) = services.health.as_ref().filter(|h| h.tasks() > 0) {
            h.wait_first_round(wait).await;
        }
        services.shutdown();
        let mut rng = SplitMix64::new(entropy_seed());
        let mut note = match (&state_file, gslbd::serving::Overrides::list(&*table).len()) {
            (None, _) => "admin overrides: none (no [admin] section, so no state file)".to_string(),
            (Some(f), 0) => format!("admin overrides: none in {}", f.display()),
            (Some(f), n) => format!("admin overrides: {n} from {} applied", f.display()),
        };
        let edits = changes.config_records().len();
        if edits > 0 {
            note.push_str(&format!("; runtime changes to the pool files: {edits}"));
        }
        Ok::<_, String>((note, gslbd::dns::explain::explain(&**shared.load(), &qname, qtype, client, &mut rng)))
    });
    match text {
        Ok((note, text)) => {
            eprintln!("{note}");
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
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
    match config::load_keys(&path, None, config::KeyAccess::ReadOnly) {
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
            println!("{}: ok: {}", path.display(), summary(&snap));
            if let Some(missing) = &snap.admin_token_missing {
                println!(
                    "note: admin.token_file {} does not exist yet; gslbd serve creates it with a random token",
                    missing.display()
                );
            }
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
            // The process ends here: freeing a million records one by one would only add
            // to the time `check` takes (the system takes the memory back whole).
            std::mem::forget(snap);
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

/// "1 zone(s) (1 pre-signed), 5 record(s), 2 pooled name(s), 2 pool(s), 6 region(s), 11 member(s), 1 probe(s),
/// 0 feed(s); GeoIP ..." (for `check` and the start-up log).
fn summary(snap: &Snapshot) -> String {
    let zones = snap.zones.zones();
    let records: usize = zones.iter().map(|z| z.record_count()).sum();
    let pooled: usize = zones.iter().map(|z| z.pools.names().count()).sum();
    let pools: usize = zones.iter().map(|z| z.pools.pools().count()).sum();
    let regions: usize = zones.iter().flat_map(|z| z.pools.pools()).map(|(_, p)| p.regions.len()).sum();
    let members: usize = zones.iter().map(|z| z.pools.member_count()).sum();
    let mut probes: Vec<&str> = zones.iter().flat_map(|z| z.pools.probe_defs()).map(|(p, _)| p.name.as_str()).collect();
    probes.sort_unstable();
    probes.dedup();
    let feeds: usize = zones.iter().map(|z| z.pools.fed_count()).sum();
    let geo = snap.geo.as_ref().map(|g| g.summary()).unwrap_or_else(|| "no GeoIP database".into());
    let count = |s: gslbd::zone::Signing| zones.iter().filter(|z| z.signing == s).count();
    let signed: Vec<String> =
        [(gslbd::zone::Signing::Presigned, "pre-signed"), (gslbd::zone::Signing::Online, "signed online")]
            .into_iter()
            .filter_map(|(s, what)| Some(count(s)).filter(|n| *n > 0).map(|n| format!("{n} {what}")))
            .collect();
    let presigned = if signed.is_empty() { String::new() } else { format!(" ({})", signed.join(", ")) };
    let failed = match snap.zones.problems().iter().filter(|p| !p.serving_previous).count() {
        0 => String::new(),
        n => format!(" + {n} not loaded (SERVFAIL: errors)"),
    };
    format!(
        "{} zone(s){presigned}{failed}, {records} record(s), {pooled} pooled name(s), {pools} pool(s), {regions} region(s), {members} member(s), {} probe(s), {feeds} fed region(s); {geo}",
        zones.len(),
        probes.len()
    )
}

/// Logs to stderr as `[log]` says (`RUST_LOG` wins over `level`). Colours only on a terminal.
fn init_logging(log: &config::LogSettings) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&log.level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match log.format {
        LogFormat::Json => b.json().flatten_event(false).init(),
        LogFormat::Text => b.with_ansi(ansi).init(),
    }
}

/// Creates `admin.token_file` with a random token when the config names one that does not
/// exist (owner-only permissions), so the API's changes work on a fresh setup.
fn ensure_token_file(path: &Path) -> Result<(), String> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(()) };
    let Ok(file) = config::parse_config(path, &text) else { return Ok(()) };
    let Some(token_file) = file.ops.admin.and_then(|a| a.token_file) else { return Ok(()) };
    if token_file.exists() {
        return Ok(());
    }
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom for a new admin token: {e}"))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&token_file)
        .and_then(|mut f| f.write_all(format!("{token}\n").as_bytes()))
        .map_err(|e| format!("admin.token_file {}: cannot create it: {e}", token_file.display()))?;
    eprintln!("created the admin token file {} (a random token; share it only with operators)", token_file.display());
    Ok(())
}

fn serve(path: PathBuf) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // First of all: a SIGHUP (or SIGTERM) that comes while the config loads, which can take
    // seconds (GeoIP validation, signing), is kept for when gslbd serves, instead of the
    // default action, which ends the process.
    let signals = {
        let _rt = runtime.enter();
        Signals::install()
    };
    // The log settings come from the config, so read them before anything is logged.
    let log = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| config::parse_config(&path, &t).ok())
        .map(|f| f.ops.log)
        .unwrap_or_default();
    init_logging(&log);
    if let Err(e) = ensure_token_file(&path) {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let snapshot = match config::load(&path) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            eprintln!("{} error(s); gslbd did not start", errors.0.len());
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        version = gslbd::util::build::VERSION,
        commit = gslbd::util::build::COMMIT,
        config = %path.display(),
        "gslbd {} starting: {}",
        version_line(),
        summary(&snapshot)
    );
    let result = runtime.block_on(async move {
        let listeners = Listeners::bind(&snapshot)?;
        let app = App::build(path, snapshot, listeners).await?;
        // The load's parse trees are freed: give their pages back (off the serving threads).
        std::thread::spawn(gslbd::util::heap::trim);
        // Tests and scripts wait for these lines (on stdout, once each; not repeated in the
        // log) to know the ports; the admin line comes first.
        if let Some(addr) = app.admin_addr() {
            println!("gslbd admin listening on {addr}");
        }
        for addr in app.dns_addrs() {
            println!("gslbd listening on {addr}");
        }
        for addr in app.tls_addrs() {
            println!("gslbd DNS over TLS listening on {addr}");
        }
        for addr in app.quic_addrs() {
            println!("gslbd DNS over QUIC listening on {addr}");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let reloader = app.reloader();
        app.run(signals.serve(reloader)).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The signals `gslbd serve` handles, installed before the config loads.
struct Signals(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

impl Signals {
    /// Must run inside the runtime's context.
    fn install() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::hangup()), signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(hup), Ok(term), Ok(int)) => Signals(Some((hup, term, int))),
            _ => Signals(None),
        }
    }

    /// Resolves on SIGINT or SIGTERM; on SIGHUP, reloads the config beside the signal loop (so
    /// a slow load never holds up a stop), keeping the old one if the new config has errors.
    async fn serve(self, reloader: Arc<Reloader>) {
        let Some((mut hup, mut term, mut int)) = self.0 else {
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
}
