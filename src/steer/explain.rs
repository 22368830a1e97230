//! `Explain`: why `decide` answered what it did, built only when asked for (it allocates).
//! `gslbd explain NAME TYPE --client IP/PREFIX` prints it through `Display`.
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::decide::{Client, Decided, Family, Picked, ScopeWhy};
use super::rows::region_rows;
use crate::geo::{Coordinates, Location};
use crate::pool::{HealthView, Pool, RegionId, RegionPolicy};

/// The trace of one decision.
#[derive(Clone, Debug, Default)]
pub struct Explain {
    pub client: Option<IpNet>,
    pub family: Option<Family>,
    /// The GeoIP block of one answer around the client (at least the database network).
    pub geo_network: Option<IpNet>,
    /// The wider block of one answer while every region of the pool is usable.
    pub geo_all_up: Option<IpNet>,
    pub location: Option<Location>,
    /// The client's autonomous system and the ASN database network (when configured).
    pub asn: Option<(u32, IpNet)>,
    /// One entry per pool consulted (fallbacks and fail-open add entries).
    pub steps: Vec<PoolTrace>,
    /// Pools whose `degraded_ttl` applied (a member was down).
    pub degraded: Vec<String>,
    pub answer: Vec<String>,
    pub ttl: u32,
    pub scope: u8,
    /// The scope before the cap at the client's source prefix.
    pub scope_uncapped: u8,
    pub scope_why: String,
}

/// One pool's regions as the decision saw them, and what happened there.
#[derive(Clone, Debug)]
pub struct PoolTrace {
    pub pool: String,
    pub region_policy: String,
    pub member_policy: String,
    pub ttl: u32,
    pub max_answers: usize,
    /// True for the fail-open pass, which decides as if every member were up.
    pub health_ignored: bool,
    pub regions: Vec<RegionTrace>,
    pub notes: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct RegionTrace {
    pub name: String,
    pub usable: bool,
    pub up: usize,
    pub total: usize,
    pub location: Option<Coordinates>,
    pub distance_km: Option<f64>,
    pub bias: i8,
    pub effective_km: Option<f64>,
    pub weight: u32,
    pub geo_match: Option<String>,
    pub chosen: bool,
    /// Members (marked when down) or the CNAME target.
    pub content: Vec<String>,
    /// The load feedback line, for a region with `feedback`.
    pub feedback: Option<String>,
}

impl PoolTrace {
    pub(crate) fn new<H: HealthView + ?Sized>(
        p: &Pool,
        client: &Client,
        health: &H,
        health_ignored: bool,
    ) -> PoolTrace {
        PoolTrace {
            pool: p.name.clone(),
            region_policy: match &p.region_policy {
                RegionPolicy::Nearest { .. } => "nearest".into(),
                RegionPolicy::Latency { min_samples, hysteresis, .. } => {
                    format!("latency (min {min_samples} samples, hysteresis {:.0}%)", hysteresis * 100.0)
                }
                RegionPolicy::Failover { .. } => "failover".into(),
                RegionPolicy::Weighted => "weighted".into(),
                RegionPolicy::Sticky => "sticky".into(),
                RegionPolicy::All => "all".into(),
            },
            member_policy: match p.member_policy {
                crate::pool::MemberPolicy::Weighted => "weighted".into(),
                crate::pool::MemberPolicy::Sticky => "sticky".into(),
                crate::pool::MemberPolicy::All => "all".into(),
            },
            ttl: p.ttl.get(),
            max_answers: p.max_answers.get(),
            health_ignored,
            regions: region_rows(p, client, health),
            notes: Vec::new(),
        }
    }
}

impl Explain {
    pub fn new() -> Explain {
        Explain::default()
    }

    pub(crate) fn start(&mut self, client: &Client, family: Family) {
        *self = Explain {
            client: Some(client.subnet),
            family: Some(family),
            geo_network: client.geo.map(|g| g.network),
            geo_all_up: client.geo.and_then(|g| g.all_up_network),
            location: client.geo.and_then(|g| g.location),
            asn: client.geo.and_then(|g| g.asn).map(|a| (a.number, a.network)),
            ..Explain::default()
        };
    }

    pub(crate) fn note(&mut self, text: &str) {
        if let Some(s) = self.steps.last_mut() {
            s.notes.push(text.to_string());
        }
    }

    pub(crate) fn mark_chosen(&mut self, r: RegionId) {
        if let Some(row) = self.steps.last_mut().and_then(|s| s.regions.get_mut(r.index())) {
            row.chosen = true;
        }
    }

    pub(crate) fn finish(&mut self, d: &Decided<Picked<'_>>, addrs: &[IpAddr], why: ScopeWhy, uncapped: u8) {
        self.answer = match &d.answer {
            Picked::Addresses => addrs.iter().map(|a| a.to_string()).collect(),
            Picked::Cname(n) => vec![format!("CNAME {n}")],
            Picked::NoData => Vec::new(),
        };
        self.ttl = d.ttl;
        self.scope = d.ecs_scope;
        self.scope_uncapped = uncapped;
        self.scope_why = match why {
            ScopeWhy::Nothing => "the answer does not depend on the client's location".into(),
            ScopeWhy::MapNetwork(n) => format!("the client is inside mapped network {n}"),
            ScopeWhy::MapNonMatch(n) => format!("the claimed block must not overlap mapped network {n}"),
            ScopeWhy::GeoNetwork => match (self.geo_network, self.geo_all_up, self.client) {
                (Some(_), Some(_), Some(c)) => match IpNet::new(c.addr(), uncapped) {
                    Ok(b) => format!("every GeoIP network in {} gets this answer", b.trunc()),
                    Err(_) => "the GeoIP location decided".into(),
                },
                (Some(n), None, _) => format!("the GeoIP network {n} decided"),
                _ => "no GeoIP lookup happened".into(),
            },
            ScopeWhy::Sticky => "sticky hashing granularity (/24 IPv4, /56 IPv6)".into(),
            ScopeWhy::Shed => "load shedding hashes the client /24 (IPv4) or /56 (IPv6)".into(),
            ScopeWhy::AsnNetwork(n) => format!("the ASN database's network {n} (an AS map) decided"),
            ScopeWhy::ClientSamples => "RTTs posted by clients of this /24 (IPv4) or /56 (IPv6) decided".into(),
        };
    }
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.client {
            Some(c) => writeln!(f, "client     {c}")?,
            None => writeln!(f, "client     ?")?,
        }
        match (self.geo_network, self.geo_all_up) {
            (Some(n), Some(a)) if a != n => writeln!(
                f,
                "geo        block {n} (one answer whatever the health), {a} (while every region is usable)"
            )?,
            (Some(n), Some(_)) => writeln!(f, "geo        block {n} (one answer)")?,
            // No scope map (several location databases chained, or a plain lookup).
            (Some(n), None) => writeln!(f, "geo        network {n}")?,
            (None, _) => writeln!(f, "geo        no lookup")?,
        }
        match &self.location {
            Some(l) => {
                let cc = l.country.map_or("-".to_string(), |c| c.to_string());
                let ct = l.continent.map_or("-", |c| c.as_str());
                match l.coords {
                    Some(c) => writeln!(f, "location   country {cc}, continent {ct}, {:.2}, {:.2}", c.lat, c.lon)?,
                    None => writeln!(f, "location   country {cc}, continent {ct}, no coordinates")?,
                }
            }
            None => writeln!(f, "location   unknown")?,
        }
        if let Some((n, net)) = self.asn {
            writeln!(f, "asn        AS{n} (network {net})")?;
        }
        for s in &self.steps {
            writeln!(
                f,
                "pool {}{}: region_policy {}, member_policy {}, ttl {}, max_answers {}",
                s.pool,
                if s.health_ignored { " (fail-open: health ignored)" } else { "" },
                s.region_policy,
                s.member_policy,
                s.ttl,
                s.max_answers
            )?;
            for r in &s.regions {
                write!(
                    f,
                    "  {} {:<16} {} {}/{} up",
                    if r.chosen { "*" } else { " " },
                    r.name,
                    if r.usable { "usable  " } else { "unusable" },
                    r.up,
                    r.total
                )?;
                if let (Some(d), Some(e)) = (r.distance_km, r.effective_km) {
                    write!(f, ", {d:.0} km, bias {}, effective {e:.0} km", r.bias)?;
                }
                write!(f, ", weight {}", r.weight)?;
                if let Some(m) = &r.geo_match {
                    write!(f, ", geo map match: {m}")?;
                }
                writeln!(f, " [{}]", r.content.join(", "))?;
                if let Some(line) = &r.feedback {
                    writeln!(f, "      {line}")?;
                }
            }
            for n in &s.notes {
                writeln!(f, "  -> {n}")?;
            }
        }
        if self.answer.is_empty() {
            writeln!(f, "answer     NODATA")?;
        } else {
            writeln!(f, "answer     {}", self.answer.join(" "))?;
        }
        if self.degraded.is_empty() {
            writeln!(f, "ttl        {}", self.ttl)?;
        } else {
            writeln!(
                f,
                "ttl        {} (degraded_ttl of {}: a down member touches this answer)",
                self.ttl,
                self.degraded.join(", ")
            )?;
        }
        if self.scope_uncapped > self.scope {
            write!(
                f,
                "ecs scope  /{} (capped from /{} at the source prefix): {}",
                self.scope, self.scope_uncapped, self.scope_why
            )
        } else {
            write!(f, "ecs scope  /{}: {}", self.scope, self.scope_why)
        }
    }
}
