//! Load shedding after the region pick (the `decide` module doc, "Shedding"): a region with
//! shed fraction s > 0 sends the clients whose hash maps below s to the other usable regions
//! with spare capacity, split in proportion to it by weighted rendezvous hashing.
use super::decide::{Client, note, region_at, region_usable};
use super::explain::Explain;
use super::hash::{rendezvous_score_f64, shed_point, sticky_key};
use super::scope::{Scope, ScopeWhy};
use crate::pool::{HealthView, Pool, Region, RegionId};

/// Spare capacity of a spill candidate: a fed region with capacity, a fresh feed, s = 0 and
/// H·C − L > 0.
fn spare_of<H: HealthView + ?Sized>(r: &Region, h: &H) -> Option<f64> {
    let f = r.feedback.as_ref()?;
    let cfg = f.shed.as_ref()?;
    let l = h.region_load(f.slot)?;
    let spare = cfg.spare(l.load);
    (l.fresh && l.shed <= 0.0 && spare > 0.0).then_some(spare)
}

/// Load shedding from the picked region `r` (see the module docs).
pub(super) fn shed<H: HealthView + ?Sized>(
    p: &Pool,
    r: RegionId,
    client: &Client,
    health: &H,
    scope: &mut Scope,
    ex: &mut Option<&mut Explain>,
) -> RegionId {
    let Some(region) = p.region(r) else { return r };
    let Some(s) = region.feedback.as_ref().and_then(|f| health.region_load(f.slot)).map(|l| l.shed) else {
        return r;
    };
    // NaN or ≤ 0: nothing shed.
    if s.is_nan() || s <= 0.0 {
        return r;
    }
    let (key, granularity) = sticky_key(client.subnet);
    let mut best: Option<(usize, f64)> = None;
    for (i, c) in p.regions.iter().enumerate() {
        if i == r.index() {
            continue;
        }
        let Some(spare) = spare_of(c, health) else {
            continue;
        };
        if !region_usable(c, health) {
            continue;
        }
        let score = rendezvous_score_f64(key, c.seed, spare);
        if best.is_none_or(|(_, b)| score > b) {
            best = Some((i, score));
        }
    }
    let Some((to, _)) = best else {
        note(ex, || {
            format!(
                "{} sheds {:.0}%, but no other region has a fresh feed, nothing shed and spare capacity: the client stays",
                region.name,
                s * 100.0
            )
        });
        return r;
    };
    // Every client of the region is tested against s, by its /24 (/56): the answer depends on it.
    scope.need(granularity, ScopeWhy::Shed);
    let u = shed_point(key, region.seed);
    if u >= s {
        note(ex, || {
            format!(
                "{} sheds {:.0}%: this client /{granularity} is kept (hash {u:.3} >= {s:.3})",
                region.name,
                s * 100.0
            )
        });
        return r;
    }
    note(ex, || {
        let spares: Vec<String> = p
            .regions
            .iter()
            .enumerate()
            .filter(|(i, c)| *i != r.index() && region_usable(c, health))
            .filter_map(|(_, c)| spare_of(c, health).map(|sp| format!("{} {sp:.1}", c.name)))
            .collect();
        format!(
            "{} sheds {:.0}%: this client /{granularity} is shed (hash {u:.3} < {s:.3}) and spills to {} (weighted by spare capacity: {})",
            region.name,
            s * 100.0,
            p.regions[to].name,
            spares.join(", ")
        )
    });
    region_at(p, to)
}
