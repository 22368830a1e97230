//! `gslbd ctl`: the admin API from the command line, as `gdnsdctl` and `knotc` are for their
//! servers. It reads the admin address and the token file from the same config the server
//! runs (`--config`), or takes them as `--url` and `--token-file`.
//!
//! Exit codes, for scripts: 0 done; 1 the server refused or failed the request (the message
//! says why: 401/403 token, 404 unknown name, 422 a reload with errors, 500 not saved);
//! 2 bad arguments; 3 the server cannot be reached.
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::Value;

/// Where the server is and how to authenticate.
#[derive(Args, Debug)]
pub struct CtlArgs {
    /// The server's config: its [admin] listen and token_file are used.
    #[arg(long, default_value = "gslbd.toml")]
    pub config: PathBuf,
    /// The admin API's base URL (overrides the config's [admin] listen), e.g. http://127.0.0.1:8053
    #[arg(long)]
    pub url: Option<String>,
    /// The file holding the admin token (overrides the config's admin.token_file).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Print the server's JSON reply instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Subcommand, Debug)]
pub enum CtlCommand {
    /// The serving config (generation, digest), the last reload, overrides and restart notes.
    Status,
    /// A table of every member: zone, pool, region, member, state, probe and last change.
    States,
    /// Take a member (or, without MEMBER, every member of a region) out of rotation.
    Drain(Target),
    /// Undo a drain (also clears a force-up/force-down, and an orphaned override).
    Undrain(Target),
    /// Reload the config now; prints the files that changed or every error.
    Reload,
    /// What the server would answer NAME TYPE for a client, and why (the serving config).
    Explain {
        name: String,
        #[arg(value_name = "TYPE")]
        qtype: String,
        /// An ECS subnet (81.2.69.0/24) or a resolver address.
        #[arg(long)]
        client: String,
    },
}

/// A region or a member, by name.
#[derive(Args, Debug)]
pub struct Target {
    pub zone: String,
    pub pool: String,
    pub region: String,
    /// The member's address or CNAME target; without it, the whole region.
    pub member: Option<String>,
    /// Why (kept with the override, shown on the status page).
    #[arg(long)]
    pub reason: Option<String>,
}

const UNREACHABLE: u8 = 3;

/// Runs one `gslbd ctl` command.
pub fn run(args: CtlArgs) -> ExitCode {
    let (base, token) = match endpoint(&args) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("gslbd ctl: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gslbd ctl: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    crate::services::install_crypto_provider();
    rt.block_on(command(&args, &base, token.as_deref()))
}

/// The base URL and the token (if a token file is named and readable).
fn endpoint(args: &CtlArgs) -> Result<(String, Option<String>), String> {
    let file = match std::fs::read_to_string(&args.config) {
        Ok(text) => crate::config::parse_config(&args.config, &text).ok(),
        Err(_) => None,
    };
    let admin = file.as_ref().and_then(|f| f.ops.admin.clone());
    let base = match (&args.url, &admin) {
        (Some(u), _) => u.trim_end_matches('/').to_string(),
        (None, Some(a)) => format!("http://{}", a.listen),
        (None, None) => {
            return Err(format!(
                "no admin API address: {} has no [admin] section (or cannot be read); pass --url",
                args.config.display()
            ));
        }
    };
    let token_file = args.token_file.clone().or_else(|| admin.and_then(|a| a.token_file));
    let token = token_file.and_then(|p| std::fs::read_to_string(p).ok()).map(|t| t.trim().to_string());
    Ok((base, token.filter(|t| !t.is_empty())))
}

/// `user@host`, sent as `by=` so the override says who set it.
fn caller() -> String {
    let user = std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{user}@{}", host.trim())
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn command(args: &CtlArgs, base: &str, token: Option<&str>) -> ExitCode {
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(30)).no_proxy().build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gslbd ctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (method, path) = match &args.command {
        CtlCommand::Status | CtlCommand::States => ("GET", "/status".to_string()),
        CtlCommand::Reload => ("POST", "/reload".to_string()),
        CtlCommand::Explain { name, qtype, client } => {
            ("GET", format!("/explain?name={}&type={}&client={}", enc(name), enc(qtype), enc(client)))
        }
        CtlCommand::Drain(t) | CtlCommand::Undrain(t) => {
            let action = if matches!(args.command, CtlCommand::Drain(_)) { "drain" } else { "undrain" };
            let mut path = match &t.member {
                Some(m) => format!("/members/{}/{}/{}/{}/{action}", enc(&t.zone), enc(&t.pool), enc(&t.region), enc(m)),
                None => format!("/regions/{}/{}/{}/{action}", enc(&t.zone), enc(&t.pool), enc(&t.region)),
            };
            path.push_str(&format!("?by={}", enc(&caller())));
            if let Some(r) = &t.reason {
                path.push_str(&format!("&reason={}", enc(r)));
            }
            ("POST", path)
        }
    };
    let url = format!("{base}{path}");
    let mut req = if method == "POST" { client.post(&url) } else { client.get(&url) };
    if let (Some(t), "POST") = (token, method) {
        req = req.bearer_auth(t);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gslbd ctl: cannot reach {base}: {}", short(&e));
            return ExitCode::from(UNREACHABLE);
        }
    };
    let code = resp.status();
    let body: Value = match resp.text().await.map(|t| serde_json::from_str(&t)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            eprintln!("gslbd ctl: {url}: HTTP {code}, not JSON: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("gslbd ctl: {url}: {}", short(&e));
            return ExitCode::from(UNREACHABLE);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body).unwrap_or_default());
    } else if code.is_success() || matches!(args.command, CtlCommand::Reload) {
        print!("{}", render(&args.command, &body));
    }
    if code.is_success() {
        ExitCode::SUCCESS
    } else {
        if let Some(e) = body.get("error").and_then(Value::as_str) {
            eprintln!("gslbd ctl: {e} (HTTP {})", code.as_u16());
        } else if !matches!(args.command, CtlCommand::Reload) {
            eprintln!("gslbd ctl: HTTP {}", code.as_u16());
        }
        ExitCode::FAILURE
    }
}

fn short(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    msg
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        v => v.to_string(),
    }
}

/// Text for people, per command.
fn render(cmd: &CtlCommand, v: &Value) -> String {
    match cmd {
        CtlCommand::Status => status_text(v),
        CtlCommand::States => states_table(v),
        CtlCommand::Reload => reload_text(v),
        CtlCommand::Explain { .. } => s(&v["explain"]),
        CtlCommand::Drain(_) | CtlCommand::Undrain(_) => {
            let t = &v["target"];
            let member = t.get("member").map(|m| format!("/{}", s(m))).unwrap_or_default();
            format!("{}/{}/{}{member}: {}\n", s(&t["zone"]), s(&t["pool"]), s(&t["region"]), s(&v["override"]))
        }
    }
}

fn status_text(v: &Value) -> String {
    let mut out = String::new();
    let ver = &v["version"];
    out.push_str(&format!("gslbd      {} (commit {})\n", s(&v["build"]["version"]), s(&v["build"]["commit"])));
    out.push_str(&format!(
        "generation {} loaded {} {}\n",
        s(&ver["generation"]),
        s(&ver["loaded_at"]),
        s(&ver["digest"])
    ));
    let r = &v["last_reload"];
    if r["ok"].as_bool() == Some(true) {
        out.push_str(&format!("reload     ok at {} ({})\n", s(&r["at"]), s(&r["trigger"])));
    } else if r["published"].as_bool() == Some(true) {
        out.push_str(&format!(
            "reload     at {} ({}): zones with errors (below); the other zones reloaded\n",
            s(&r["at"]),
            s(&r["trigger"])
        ));
    } else {
        out.push_str(&format!(
            "reload     FAILED at {} ({}); the previous config serves\n",
            s(&r["at"]),
            s(&r["trigger"])
        ));
        for e in r["errors"].as_array().into_iter().flatten() {
            out.push_str(&format!("  {}:{}: {}\n", s(&e["file"]), s(&e["line"]), s(&e["message"])));
        }
    }
    for z in v["zones"].as_array().into_iter().flatten() {
        let what = match z["state"].as_str() {
            Some("stale") => "has errors: its previous version serves",
            Some("failed") => "has errors: NOT SERVED (SERVFAIL)",
            _ => continue,
        };
        out.push_str(&format!("zone       {} {what}\n", s(&z["origin"])));
        for e in z["errors"].as_array().into_iter().flatten() {
            out.push_str(&format!("  {}:{}: {}\n", s(&e["file"]), s(&e["line"]), s(&e["message"])));
        }
    }
    for n in v["restart_needed"].as_array().into_iter().flatten() {
        out.push_str(&format!("restart    {}\n", s(n)));
    }
    out.push_str(&format!("health     {}\n", s(&v["health_source"])));
    let overrides = v["overrides"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!("overrides  {}\n", overrides.len()));
    for o in &overrides {
        let member = o.get("member").map(|m| format!("/{}", s(m))).unwrap_or_default();
        let orphan = if o["orphaned"].as_bool() == Some(true) { " ORPHANED (not in the config)" } else { "" };
        out.push_str(&format!(
            "  {}/{}/{}{member}: {} since {} by {}{}{orphan}\n",
            s(&o["zone"]),
            s(&o["pool"]),
            s(&o["region"]),
            s(&o["override"]),
            s(&o["at"]),
            s(&o["by"]),
            o["reason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default()
        ));
    }
    out
}

fn states_table(v: &Value) -> String {
    let mut rows = vec![["ZONE", "POOL", "REGION", "MEMBER", "STATE", "PROBE", "CHANGED", "ANSWERS"].map(String::from)];
    for z in v["zones"].as_array().into_iter().flatten() {
        for p in z["pools"].as_array().into_iter().flatten() {
            for r in p["regions"].as_array().into_iter().flatten() {
                for m in r["members"].as_array().into_iter().flatten() {
                    let probe = match (m["probe"].as_str(), m["probe_state"].as_str()) {
                        (Some(n), Some(st)) => format!("{n}:{st}"),
                        _ => "-".into(),
                    };
                    let changed = m["changed_s"].as_f64().map_or("-".into(), |c| format!("{c:.0}s ago"));
                    rows.push([
                        s(&z["origin"]),
                        s(&p["name"]),
                        s(&r["name"]),
                        s(&m["member"]),
                        s(&m["state"]),
                        probe,
                        changed,
                        s(&m["answers"]),
                    ]);
                }
            }
        }
    }
    let mut widths = [0usize; 8];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn reload_text(v: &Value) -> String {
    if v["ok"].as_bool() == Some(true) {
        let mut out = if v["changed"].as_bool() == Some(true) {
            let files: Vec<String> = v["changed_files"].as_array().into_iter().flatten().map(s).collect();
            format!("reloaded: generation {}; changed: {}\n", s(&v["generation"]), files.join(", "))
        } else {
            format!("reloaded: no file changed; generation {} keeps serving\n", s(&v["generation"]))
        };
        for n in v["restart_needed"].as_array().into_iter().flatten() {
            out.push_str(&format!("restart needed: {}\n", s(n)));
        }
        out
    } else {
        let mut out = if v["published"].as_bool() == Some(true) {
            format!(
                "reload failed in some zones: each keeps its previous version (or, never loaded, is not served); \
                 the others serve as generation {}:\n",
                s(&v["generation"])
            )
        } else {
            String::from("reload failed; the previous config keeps serving:\n")
        };
        for e in v["errors"].as_array().into_iter().flatten() {
            out.push_str(&format!("{}:{}: {}\n", s(&e["file"]), s(&e["line"]), s(&e["message"])));
        }
        out
    }
}
