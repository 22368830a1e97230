//! BIND's `dig` as an independent client: run against a loopback server, its text output
//! parsed into the status, the answer section and the CLIENT-SUBNET line.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::process::{find_tool, run_bounded};
use super::transport::assert_loopback;

/// Where `dig` lives, if installed. `GSLBD_TEST_DIG=/path/to/dig` overrides the search; set
/// it empty to check the SKIP path.
pub fn dig_path() -> Option<PathBuf> {
    find_tool("GSLBD_TEST_DIG", "dig")
}

/// One resource record as dig prints it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DigRr {
    pub owner: String,
    pub ttl: u32,
    pub rtype: String,
    pub rdata: String,
}

/// What a test needs from dig's output.
#[derive(Clone, Debug)]
pub struct DigReply {
    /// `status:` of the header line (NOERROR, NXDOMAIN, …).
    pub status: String,
    /// The ANSWER SECTION, sorted.
    pub answers: Vec<DigRr>,
    /// The `; CLIENT-SUBNET: a/b/c` value, if the reply had ECS.
    pub client_subnet: Option<String>,
    /// The whole output, for failure messages.
    pub text: String,
}

impl DigReply {
    /// The RDATA of the answers of type `rtype`, sorted.
    pub fn rdata(&self, rtype: &str) -> Vec<String> {
        let mut v: Vec<String> = self.answers.iter().filter(|r| r.rtype == rtype).map(|r| r.rdata.clone()).collect();
        v.sort();
        v
    }
}

/// Runs `dig @ADDR -p PORT +time=2 +tries=1 ARGS…` (one try, 2 s) and parses its output.
/// Panics when dig fails, prints no header, or runs past 10 s (then it is killed).
pub fn dig(dig: &Path, server: SocketAddr, args: &[&str]) -> DigReply {
    assert_loopback(server);
    let mut cmd = Command::new(dig);
    cmd.arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(["+time=2", "+tries=1"])
        .args(args);
    let text = run_bounded(cmd, Duration::from_secs(10));
    parse_dig(&text)
}

pub fn parse_dig(text: &str) -> DigReply {
    let status = text
        .lines()
        .find_map(|l| l.split("status: ").nth(1))
        .map(|s| s.split(',').next().unwrap_or("").trim().to_string())
        .unwrap_or_else(|| panic!("no status line in dig output:\n{text}"));
    let client_subnet =
        text.lines().find_map(|l| l.trim().strip_prefix("; CLIENT-SUBNET:")).map(|s| s.trim().to_string());
    let mut answers = Vec::new();
    let mut in_answer = false;
    for l in text.lines() {
        if l.starts_with(";; ANSWER SECTION:") {
            in_answer = true;
            continue;
        }
        if in_answer {
            if l.trim().is_empty() || l.starts_with(";;") {
                break;
            }
            let f: Vec<&str> = l.split_whitespace().collect();
            assert!(f.len() >= 5, "answer line {l:?}");
            answers.push(DigRr {
                owner: f[0].to_lowercase(),
                ttl: f[1].parse().unwrap_or_else(|e| panic!("TTL in {l:?}: {e}")),
                rtype: f[3].to_string(),
                rdata: f[4..].join(" "),
            });
        }
    }
    answers.sort();
    DigReply { status, answers, client_subnet, text: text.to_string() }
}
