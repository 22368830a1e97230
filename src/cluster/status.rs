//! The fleet on status pages and in metrics: whether etcd is in reach, the lease, the nodes,
//! and every (target, probe) with each node's vote, its age and the decision.
use std::fmt::Write;

use serde::Serialize;
use tokio::time::Instant;

use super::fleet::Fleet;
use crate::health::{Reach, State};
use crate::pool::Decide;
use crate::util::lock;

#[derive(Serialize)]
struct FleetJson {
    node: String,
    prefix: String,
    endpoints: Vec<String>,
    /// "connected" or "etcd out of reach" (after the grace period).
    etcd: String,
    /// The etcd endpoint the watch reads from, its last error, and seconds since the last change.
    endpoint: Option<String>,
    error: Option<String>,
    since_s: f64,
    outages: u64,
    lease: String,
    lease_error: Option<String>,
    revision: i64,
    decide: &'static str,
    min_voters: u32,
    nodes: Vec<NodeJson>,
    decisions: Vec<DecisionJson>,
}

#[derive(Serialize)]
struct NodeJson {
    node: String,
    digest: Option<String>,
    started: Option<String>,
    probe_source: Vec<String>,
    seen_s: f64,
}

#[derive(Serialize)]
struct DecisionJson {
    target: String,
    probe: String,
    decide: &'static str,
    /// This node's own state, and the state steering uses.
    local: &'static str,
    state: &'static str,
    /// True when this node decides alone (too few fresh voters, or etcd out of reach).
    fallback: bool,
    reason: String,
    votes: Vec<VoteJson>,
}

#[derive(Serialize)]
struct VoteJson {
    node: String,
    state: &'static str,
    detail: String,
    age_s: f64,
}

fn secs(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}

impl Fleet {
    /// The fleet section of `/status`.
    pub fn status_json(&self) -> serde_json::Value {
        let now = Instant::now();
        let s = self.settings();
        let sh = &self.shared;
        let reach = sh.reach();
        let (lease, lease_error) = lock(&sh.lease).clone();
        let nodes = lock(&sh.nodes)
            .iter()
            .map(|(n, (info, seen))| NodeJson {
                node: n.clone(),
                digest: info.as_ref().map(|i| i.digest.clone()),
                started: info.as_ref().map(|i| i.started.clone()),
                probe_source: info.as_ref().map(|i| i.probe_source.clone()).unwrap_or_default(),
                seen_s: secs(now.saturating_duration_since(*seen)),
            })
            .collect();
        let decisions = lock(&sh.decisions)
            .iter()
            .map(|d| DecisionJson {
                target: d.key.target.to_string(),
                probe: d.key.probe.clone(),
                decide: d.view.decide.as_str(),
                local: d.local.as_str(),
                state: d.effective.as_str(),
                fallback: d.view.decided.is_none() && d.view.decide != Decide::Local,
                reason: d.view.reason.clone(),
                votes: d
                    .view
                    .votes
                    .iter()
                    .map(|v| VoteJson {
                        node: v.node.clone(),
                        state: v.state.as_str(),
                        detail: v.detail.clone(),
                        age_s: secs(now.saturating_duration_since(v.seen)),
                    })
                    .collect(),
            })
            .collect();
        let body = FleetJson {
            node: s.node.clone(),
            prefix: s.prefix.clone(),
            endpoints: s.endpoints.clone(),
            etcd: sh.deciding().to_string(),
            endpoint: reach.endpoint,
            error: reach.error,
            since_s: secs(now.saturating_duration_since(reach.since)),
            outages: sh.outages(),
            lease,
            lease_error,
            revision: *sh.revision.borrow(),
            decide: s.decide.as_str(),
            min_voters: s.min_voters,
            nodes,
            decisions,
        };
        serde_json::to_value(body).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
    }

    /// The fleet's Prometheus families (appended to `/metrics`).
    pub fn render_metrics(&self, out: &mut String) {
        let connected = self.shared.deciding() == Reach::Connected;
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(out, "gslbd_fleet_etcd_connected", "gauge", "1 while this node follows etcd, 0 while it decides alone.");
        let _ = writeln!(out, "gslbd_fleet_etcd_connected {}", u8::from(connected));
        family(out, "gslbd_fleet_etcd_outages_total", "counter", "Times etcd was out of reach past the grace period.");
        let _ = writeln!(out, "gslbd_fleet_etcd_outages_total {}", self.shared.outages());
        family(out, "gslbd_fleet_nodes", "gauge", "Nodes with a live membership record in etcd (this one included).");
        let _ = writeln!(out, "gslbd_fleet_nodes {}", lock(&self.shared.nodes).len());
        let rows = lock(&self.shared.decisions).clone();
        let label = |k: &crate::health::HealthKey| {
            let esc = |v: String| v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
            format!("target=\"{}\",probe=\"{}\"", esc(k.target.to_string()), esc(k.probe.clone()))
        };
        family(
            out,
            "gslbd_fleet_fallback",
            "gauge",
            "1 when this node decides the (target, probe) alone: too few fresh voters, or etcd out of reach.",
        );
        for d in &rows {
            let fallback = d.view.decided.is_none() && d.view.decide != Decide::Local;
            let _ = writeln!(out, "gslbd_fleet_fallback{{{}}} {}", label(&d.key), u8::from(fallback));
        }
        family(
            out,
            "gslbd_fleet_voters",
            "gauge",
            "Fresh votes counted for the (target, probe), this node's included.",
        );
        for d in &rows {
            let _ = writeln!(out, "gslbd_fleet_voters{{{}}} {}", label(&d.key), d.view.votes.len());
        }
        family(out, "gslbd_fleet_up", "gauge", "The state steering uses: 1 up, 0 down, -1 unknown (before overrides).");
        for d in &rows {
            let v = match d.effective {
                State::Up => 1,
                State::Down => 0,
                State::Unknown => -1,
            };
            let _ = writeln!(out, "gslbd_fleet_up{{{}}} {v}", label(&d.key));
        }
    }
}
