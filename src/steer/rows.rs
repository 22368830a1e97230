//! The rows of an explanation: each region of a pool as the decision saw it (health,
//! distance, geo map match, members, load feedback). Built only when explaining (allocates).
use super::decide::{Client, region_usable};
use super::explain::RegionTrace;
use crate::geo::distance_km;
use crate::pool::{Content, FeedState, HealthView, LoadStatus, Pool};

/// Builds explain rows for one pool (only called when explaining).
pub(crate) fn region_rows<H: HealthView + ?Sized>(p: &Pool, client: &Client, health: &H) -> Vec<RegionTrace> {
    let coords = client.coords();
    let loc = client.location();
    p.regions
        .iter()
        .map(|r| {
            let (up, total) = match &r.content {
                Content::Members(ms) => (ms.iter().filter(|m| health.is_up(m.id)).count(), ms.len()),
                Content::Cname { id, delegation: Some(d), .. } if !d.glue.is_empty() => {
                    let glue_up = d.glue.iter().filter(|(g, _)| health.is_up(*g)).count();
                    (if health.is_up(*id) { glue_up } else { 0 }, d.glue.len())
                }
                Content::Cname { id, .. } => (usize::from(health.is_up(*id)), 1),
            };
            let distance = match (coords, r.location) {
                (Some(c), Some(l)) => Some(distance_km(c, l)),
                _ => None,
            };
            let mut geo_match = None;
            if let Some(n) = r.geo.networks.iter().filter(|n| n.contains(&client.subnet)).max_by_key(|n| n.prefix_len())
            {
                geo_match = Some(format!("network {n}"));
            } else if let Some(a) = client.geo.and_then(|g| g.asn).filter(|a| r.geo.asns.contains(&a.number)) {
                geo_match = Some(format!("AS{}", a.number));
            } else if let Some(cc) = loc.and_then(|l| l.country).filter(|cc| r.geo.countries.contains(cc)) {
                geo_match = Some(format!("country {cc}"));
            } else if let Some(ct) = loc.and_then(|l| l.continent).filter(|ct| r.geo.continents.contains(ct)) {
                geo_match = Some(format!("continent {}", ct.as_str()));
            }
            RegionTrace {
                name: r.name.clone(),
                usable: region_usable(r, health),
                up,
                total,
                location: r.location,
                distance_km: distance,
                bias: r.bias.get(),
                effective_km: distance.map(|d| d * r.bias.factor()),
                weight: r.weight.get(),
                geo_match,
                chosen: false,
                content: match &r.content {
                    Content::Members(ms) => ms
                        .iter()
                        .map(|m| {
                            let mark = if health.is_up(m.id) { "" } else { " (down)" };
                            match health.describe(m.id) {
                                Some(d) => format!("{}{mark} [{d}]", m.address),
                                None => format!("{}{mark}", m.address),
                            }
                        })
                        .collect(),
                    Content::Cname { target, id, delegation } => {
                        let mut v = vec![match health.describe(*id) {
                            Some(d) => format!("CNAME {target} [{d}]"),
                            None => format!("CNAME {target}"),
                        }];
                        if let Some(d) = delegation {
                            if let Some(cut) = &d.cut {
                                v.push(format!("delegated at {cut}"));
                            }
                            for (g, a) in &d.glue {
                                let mark = if health.is_up(*g) { "" } else { " (down)" };
                                v.push(match health.describe(*g) {
                                    Some(desc) => format!("glue {a}{mark} [{desc}]"),
                                    None => format!("glue {a}{mark}"),
                                });
                            }
                        }
                        v
                    }
                },
                feedback: r.feedback.as_ref().map(|f| feedback_line(f, health.load_status(f.slot))),
            }
        })
        .collect()
}

/// The explain line of a fed region: load against capacity, watermarks, backends,
/// freshness and the shed fraction with its reason.
fn feedback_line(f: &crate::pool::RegionFeed, st: Option<LoadStatus>) -> String {
    let Some(st) = st else {
        return format!("feedback {}: no live data (feeds are polled by the running server)", f.feed.name);
    };
    let mut out = format!("feedback {}: ", f.feed.name);
    match &f.shed {
        Some(cfg) => out.push_str(&format!(
            "load {}/{} ({:.0}%), watermarks {:.0}%/{:.0}%",
            num(st.load),
            num(cfg.capacity.get()),
            100.0 * st.load / cfg.capacity.get(),
            100.0 * cfg.low.get(),
            100.0 * cfg.high.get()
        )),
        None => out.push_str(&format!("load {} (no capacity)", num(st.load))),
    }
    match st.backends_up {
        Some(b) => out.push_str(&format!(", backends {b} up")),
        None => out.push_str(", backends not reported"),
    }
    let age = st.age.map(|a| format!("{:.1} s old", a.as_secs_f64()));
    match (st.state, age) {
        (FeedState::Fresh, Some(a)) => out.push_str(&format!(", fresh ({a})")),
        (FeedState::Stale, Some(a)) => out.push_str(&format!(
            ", stale ({a}{})",
            st.error.as_deref().map(|e| format!("; last error: {e}")).unwrap_or_default()
        )),
        (state, _) => out.push_str(&format!(
            ", {} ({})",
            state.as_str(),
            st.error.as_deref().map(|e| format!("never read; last error: {e}")).unwrap_or_else(|| "never read".into())
        )),
    }
    if st.shed > 0.0 {
        out.push_str(&format!(", shedding {:.0}%: {}", st.shed * 100.0, st.reason));
    } else {
        out.push_str(&format!(", not shedding: {}", st.reason));
    }
    out
}

/// A load or capacity as written: integers without a fraction.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v:.1}") }
}
