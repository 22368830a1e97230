//! Steering scenarios as data: every `tests/scenarios/*.toml` is one case (pool file, GeoIP
//! entries, member states, client subnet, query type) with the exact expected answer, ECS scope
//! and TTL. The format is described in `tests/scenarios/README.md`.
//!
//! Each case is compiled into a real config (`gslbd::config::load`: the shipped zone file with
//! the case's pool file linked into it, and the GeoIP database) and run twice, with the same
//! seed: through `steer::decide`, the decision itself, and through `dns::respond`, the packet a
//! resolver gets (ECS query in, reply parsed by hickory: answer records, TTL, ECS scope).
mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gslbd::config::{self, Snapshot};
use gslbd::dns::{Transport, respond, steering_client};
use gslbd::pool::{FileHealth, HealthView, MemberId, MemberTarget, Pools};
use gslbd::serving::AnswerSource;
use gslbd::steer::{Answer, Decision, Explain, Family, decide};
use gslbd::util::rng::SplitMix64;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{LowerName, Name, RData, RecordType};
use ipnet::IpNet;
use serde::Deserialize;
use support::{GeoEntry, TempDir, ecs_of, ecs_query, geo_db, steering_geo_db};

const ORIGIN: &str = "gslb.example.com.";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case shows, in one sentence.
    about: String,
    /// The pool file; absent = the shipped zones/gslb.example.com.pools.toml.
    pools: Option<String>,
    /// Owner name relative to gslb.example.com. (default "www").
    name: Option<String>,
    qtype: String,
    /// ECS subnet, or the resolver address as /32 or /128.
    client: String,
    /// Seed of the random source (default 1).
    seed: Option<u64>,
    /// Member addresses or CNAME targets that are down for this case.
    #[serde(default)]
    down: Vec<String>,
    /// The GeoIP database of this case: absent = the shared fixture (tests/fixtures/geo/),
    /// `geo = []` = no database at all, entries = a database of just these.
    geo: Option<Vec<GeoEntry>>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// The exact answer set.
    answer: Option<Vec<String>>,
    /// For random policies: every answered address is one of these …
    one_of: Option<Vec<String>>,
    /// … and there are exactly this many.
    count: Option<usize>,
    cname: Option<String>,
    #[serde(default)]
    nodata: bool,
    scope: u8,
    ttl: u32,
    region: Option<String>,
    pool: Option<String>,
    #[serde(default)]
    failed_open: bool,
}

/// What an answer says, from a decision or from a reply, compared with [`Expect`].
#[derive(Debug, PartialEq)]
struct Got {
    addrs: BTreeSet<String>,
    cname: Option<String>,
    nodata: bool,
    scope: u8,
    /// `None` for a reply without records for the name (its TTL is the SOA's).
    ttl: Option<u32>,
}

impl Got {
    fn of_decision(d: &Decision<'_>) -> Got {
        Got {
            addrs: match &d.answer {
                Answer::Addresses(a) => a.as_slice().iter().map(|a| a.to_string()).collect(),
                _ => BTreeSet::new(),
            },
            cname: match &d.answer {
                Answer::Cname(n) => Some(n.to_string()),
                _ => None,
            },
            nodata: matches!(d.answer, Answer::NoData),
            scope: d.ecs_scope,
            ttl: Some(d.ttl),
        }
    }

    /// The records owned by `qname` in the reply, and the scope of its ECS option.
    fn of_reply(m: &Message, qname: &Name, qtype: RecordType, problems: &mut Vec<String>) -> Got {
        if m.metadata.response_code != ResponseCode::NoError || !m.metadata.authoritative {
            problems.push(format!("reply rcode {:?}, AA {}", m.metadata.response_code, m.metadata.authoritative));
        }
        // Names compare case-insensitively (RFC 4343), as hickory's `Name` does.
        let own: Vec<_> = m.answers.iter().filter(|r| r.name == *qname).collect();
        let ttls: BTreeSet<u32> = own.iter().map(|r| r.ttl).collect();
        if ttls.len() > 1 {
            problems.push(format!("reply: records of one name with TTLs {ttls:?}"));
        }
        let mut got =
            Got { addrs: BTreeSet::new(), cname: None, nodata: own.is_empty(), scope: 0, ttl: ttls.first().copied() };
        for r in &own {
            match &r.data {
                RData::A(a) if qtype == RecordType::A => {
                    got.addrs.insert(a.to_string());
                }
                RData::AAAA(a) if qtype == RecordType::AAAA => {
                    got.addrs.insert(a.to_string());
                }
                RData::CNAME(c) => got.cname = Some(c.0.to_string()),
                other => problems.push(format!("reply: unexpected {} record {other}", r.record_type())),
            }
        }
        if got.nodata && !m.authorities.iter().any(|r| r.record_type() == RecordType::SOA) {
            problems.push("reply: no answer and no SOA in the authority section".into());
        }
        match ecs_of(m).as_slice() {
            [one] => got.scope = one.rsplit('/').next().and_then(|s| s.parse().ok()).unwrap_or(u8::MAX),
            other => problems.push(format!("reply: ECS options {other:?}, expected one")),
        }
        got
    }

    /// Appends to `problems` (prefixed `what`) every way this differs from `e`.
    fn check(&self, what: &str, e: &Expect, problems: &mut Vec<String>) {
        let mut p = Vec::new();
        if let Some(want) = &e.answer {
            let want: BTreeSet<String> = want.iter().cloned().collect();
            if self.addrs != want {
                p.push(format!("answer {:?}, expected {want:?}", self.addrs));
            }
        }
        if let Some(pool_of) = &e.one_of
            && let Some(x) = self.addrs.iter().find(|a| !pool_of.contains(a))
        {
            p.push(format!("answer {x} is not one of {pool_of:?}"));
        }
        if let Some(n) = e.count
            && self.addrs.len() != n
        {
            p.push(format!("{} addresses, expected {n}", self.addrs.len()));
        }
        if self.cname != e.cname {
            p.push(format!("CNAME {:?}, expected {:?}", self.cname, e.cname));
        }
        if e.nodata != self.nodata {
            p.push(format!("nodata is {}, expected {}", self.nodata, e.nodata));
        }
        if self.scope != e.scope {
            p.push(format!("scope /{}, expected /{}", self.scope, e.scope));
        }
        if self.ttl.is_some_and(|t| t != e.ttl) {
            p.push(format!("ttl {:?}, expected {}", self.ttl, e.ttl));
        }
        problems.extend(p.into_iter().map(|p| format!("{what}: {p}")));
    }
}

/// The compiled config of a case, with the case's down members under the file's marks.
struct CaseSource {
    snap: Snapshot,
    down: Vec<MemberId>,
}

/// The file's marks, and the case's down members.
struct CaseHealth<'a> {
    file: FileHealth<'a>,
    down: &'a [MemberId],
}

impl HealthView for CaseHealth<'_> {
    fn is_up(&self, m: MemberId) -> bool {
        !self.down.contains(&m) && self.file.is_up(m)
    }
}

impl AnswerSource for CaseSource {
    type Health<'a> = CaseHealth<'a>;
    fn config(&self) -> &Snapshot {
        &self.snap
    }
    fn health<'a>(&'a self, _zone: usize, pools: &'a Pools) -> CaseHealth<'a> {
        CaseHealth { file: pools.file_health(), down: &self.down }
    }
}

impl CaseSource {
    fn pools(&self) -> &Pools {
        &self.snap.zones.zones()[0].pools
    }
}

/// The case's config: the shipped zone file, the case's pool file, the case's GeoIP database.
fn compile(case: &Case, dir: &TempDir) -> Result<CaseSource, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let pools = match &case.pools {
        Some(text) => text.clone(),
        None => std::fs::read_to_string(root.join("zones/gslb.example.com.pools.toml")).map_err(|e| e.to_string())?,
    };
    dir.write("case.pools.toml", &pools);
    let zone = root.join("zones/gslb.example.com.zone");
    let conf = dir.write(
        "gslbd.toml",
        &format!("[server]\nlisten = [\"127.0.0.1:0\"]\n\n[[zone]]\norigin = \"{ORIGIN}\"\nfile = {:?}\npools = \"case.pools.toml\"\n", zone.display()),
    );
    let mut snap = config::load(&conf).map_err(|e| format!("{e:?}"))?;
    snap.geo = match &case.geo {
        None => Some(Arc::new(steering_geo_db())),
        Some(entries) if entries.is_empty() => None,
        Some(entries) => Some(Arc::new(geo_db(entries)?)),
    };
    // The scope maps over the case's database, as a load with it builds them.
    snap.geo_scopes = config::GeoScopes::build(snap.geo.as_deref(), snap.zones.zones(), None);
    let mut src = CaseSource { snap, down: Vec::new() };
    for d in &case.down {
        let ids: Vec<MemberId> = src
            .pools()
            .members()
            .filter(|(_, m)| match &m.target {
                MemberTarget::Address(a) => a.to_string() == *d,
                MemberTarget::Cname(n) => n.to_string() == *d,
            })
            .map(|(id, _)| id)
            .collect();
        if ids.is_empty() {
            return Err(format!("down: no member {d}"));
        }
        src.down.extend(ids);
    }
    Ok(src)
}

fn run_case(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case: Case = toml::from_str(&text).map_err(|e| format!("bad scenario: {e}"))?;
    let dir = TempDir::new("gslbd-scenario");
    let src = compile(&case, &dir)?;
    let origin = Name::from_ascii(ORIGIN).map_err(|e| e.to_string())?;
    let qname = Name::from_ascii(case.name.as_deref().unwrap_or("www"))
        .and_then(|n| n.append_domain(&origin))
        .map_err(|e| e.to_string())?;
    let pools = src.pools();
    let pool = pools.pool_for(&LowerName::new(&qname)).ok_or("name is not pooled")?;
    let (family, qtype) = match case.qtype.as_str() {
        "A" => (Family::V4, RecordType::A),
        "AAAA" => (Family::V6, RecordType::AAAA),
        other => return Err(format!("qtype {other}")),
    };
    let subnet: IpNet = case.client.parse().map_err(|e| format!("client: {e}"))?;
    // What the server does: one lookup of the subnet's address.
    let client = steering_client(&src.snap, subnet, 0, pool);
    let health = src.health(0, pools);
    let seed = case.seed.unwrap_or(1);
    let mut explain = Explain::new();
    let d = decide(pools, pool, family, &client, &health, &mut SplitMix64::new(seed), Some(&mut explain));
    // The decision must not depend on whether it is being explained.
    let quiet = decide(pools, pool, family, &client, &health, &mut SplitMix64::new(seed), None);

    let mut problems = Vec::new();
    if quiet != d {
        problems.push(format!("decision differs without explain: {quiet:?}"));
    }
    let e = &case.expect;
    if e.answer.is_none() && e.one_of.is_none() && e.cname.is_none() && !e.nodata {
        problems.push("the case expects no answer at all: say answer, one_of, cname or nodata".into());
    }
    let decided = Got::of_decision(&d);
    decided.check("decide", e, &mut problems);
    let p = pools.pool(d.pool);
    if let Some(want) = &e.region {
        let got = d.region.and_then(|r| p.and_then(|p| p.region(r))).map(|r| r.name.as_str());
        if got != Some(want.as_str()) {
            problems.push(format!("region {got:?}, expected {want}"));
        }
    }
    if let Some(want) = &e.pool
        && p.map(|p| p.name.as_str()) != Some(want.as_str())
    {
        problems.push(format!("pool {:?}, expected {want}", p.map(|p| &p.name)));
    }
    if d.failed_open != e.failed_open {
        problems.push(format!("failed_open {}, expected {}", d.failed_open, e.failed_open));
    }

    // The same question as a resolver asks it: the client subnet in ECS, one UDP packet.
    let query = ecs_query(&qname.to_ascii(), qtype, Some(&case.client)).to_vec().map_err(|e| e.to_string())?;
    let resolver = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53));
    let mut out = Vec::with_capacity(65535);
    let mut rng = SplitMix64::new(seed);
    respond(&src, &query, resolver, Transport::Udp, &mut out, &mut rng).ok_or("respond sent nothing")?;
    let reply = Message::from_vec(&out).map_err(|e| format!("reply does not parse: {e}"))?;
    let replied = Got::of_reply(&reply, &qname, qtype, &mut problems);
    replied.check("respond", e, &mut problems);
    if replied.addrs != decided.addrs {
        problems.push(format!("respond answered {:?}, decide {:?}", replied.addrs, decided.addrs));
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\n  {}\n--- explain ---\n{explain}\n--- reply ---\n{reply:?}",
            case.about,
            problems.join("\n  ")
        ))
    }
}

#[test]
fn scenarios() {
    support::run_toml_cases("tests/scenarios", 25, run_case);
}
