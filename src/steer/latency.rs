//! `region_policy = "latency"`: the usable region with the lowest round-trip time as this
//! node's probes measure it, kept with hysteresis; without enough samples, `nearest` decides.
//!
//! ```text
//! probe task ─ RTT (TCP connect, HTTP first byte) ─► EWMA per (target, probe)   health::RttEwma
//! region estimate = mean of its up members' EWMAs that have ≥ min_samples     region_rtt
//! leader ← next_leader(leader, estimates, hysteresis)   the tracker (ops::latency), every 50 ms
//! query: next_leader(view.latency_leader(pool), estimates) ─► region, or None ─► nearest
//! ```
//! The clients of a gslbd node are the ones its anycast address (or its resolvers) brings
//! to it, so the node's own RTT to a region stands for theirs: the choice does not depend on
//! the client, and its ECS scope is 0. The query path reads atomics only (the EWMAs and the
//! leader); the tracker applies the same [`next_leader`] rule with memory, so a challenger
//! must beat the current region by `hysteresis` (a fraction) before clients move, and
//! estimates that cross back and forth within that band do not flip answers.
use super::decide::{Client, note_to};
use super::explain::Explain;
use crate::health::client_rtt::client_block;
use crate::pool::{Content, HealthView, Pool, PoolId, Region, Rtt};

/// A region's RTT estimate: the mean over its up members (a cname region's target, a
/// delegate region's up glue) of the EWMAs with at least `min_samples` samples.
pub fn region_rtt<H: HealthView + ?Sized>(r: &Region, h: &H, min_samples: u32) -> Option<Rtt> {
    let (mut sum, mut n, mut samples) = (0.0, 0u32, 0u64);
    let mut add = |id| {
        if !h.is_up(id) {
            return;
        }
        if let Some(rtt) = h.member_rtt(id).filter(|r| r.samples >= u64::from(min_samples)) {
            sum += rtt.ms;
            n += 1;
            samples += rtt.samples;
        }
    };
    match &r.content {
        Content::Members(ms) => ms.iter().for_each(|m| add(m.id)),
        Content::Cname { id, delegation: Some(d), .. } if !d.glue.is_empty() => {
            d.glue.iter().for_each(|(g, _)| add(*g))
        }
        Content::Cname { id, .. } => add(*id),
    }
    (n > 0).then(|| Rtt { ms: sum / f64::from(n), samples })
}

/// The region to prefer: the lowest estimate, unless `current` still has an estimate and
/// the lowest is not `hysteresis` (a fraction) faster than it. `estimate(i)` is `None` for a
/// region that is not usable or has too few samples.
pub fn next_leader(
    current: Option<usize>,
    n: usize,
    estimate: impl Fn(usize) -> Option<f64>,
    hysteresis: f64,
) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for i in 0..n {
        if let Some(ms) = estimate(i)
            && best.is_none_or(|(_, b)| ms < b)
        {
            best = Some((i, ms));
        }
    }
    let (b, b_ms) = best?;
    match current.and_then(|c| estimate(c).map(|ms| (c, ms))) {
        Some((c, c_ms)) if b_ms >= c_ms * (1.0 - hysteresis) => Some(c),
        _ => Some(b),
    }
}

/// What the clients of `client`'s /24 (/56) measured (posted RTTs): the usable region with
/// the lowest estimate among those with at least `min_samples`, and the block's prefix (the
/// ECS scope of the answer), or `None` without such samples.
pub(crate) fn client_pick<H: HealthView + ?Sized>(
    pool_id: PoolId,
    p: &Pool,
    client: &Client,
    health: &H,
    min_samples: u32,
    usable: &impl Fn(usize) -> bool,
    ex: &mut Option<&mut Explain>,
) -> Option<(usize, u8)> {
    let block = client_block(client.subnet)?;
    let est = |i: usize| {
        let rtt = health.client_rtt(pool_id, region_at(i), client.subnet)?;
        (usable(i) && rtt.samples >= u64::from(min_samples)).then_some(rtt)
    };
    let mut best: Option<(usize, f64)> = None;
    for i in 0..p.regions.len() {
        if let Some(r) = est(i)
            && best.is_none_or(|(_, b)| r.ms < b)
        {
            best = Some((i, r.ms));
        }
    }
    let (i, _) = best?;
    note_to(ex, || {
        let rows: Vec<String> = p
            .regions
            .iter()
            .enumerate()
            .filter_map(|(j, r)| {
                let rtt = health.client_rtt(pool_id, region_at(j), client.subnet)?;
                Some(format!("{} {:.1} ms ({} samples)", r.name, rtt.ms, rtt.samples))
            })
            .collect();
        format!("latency: clients of {block} measured {}: lowest RTT region is {}", rows.join(", "), p.regions[i].name)
    });
    Some((i, block.prefix_len()))
}

fn region_at(i: usize) -> crate::pool::RegionId {
    crate::pool::RegionId(i as u32)
}

/// The latency pick of pool `p` among the regions `usable` says, or `None` (no usable region
/// has enough samples: the caller falls back to nearest).
pub(crate) fn pick<H: HealthView + ?Sized>(
    pool_id: PoolId,
    p: &Pool,
    health: &H,
    min_samples: u32,
    hysteresis: f64,
    usable: &impl Fn(usize) -> bool,
    ex: &mut Option<&mut Explain>,
) -> Option<usize> {
    let est = |i: usize| {
        if !usable(i) {
            return None;
        }
        p.regions.get(i).and_then(|r| region_rtt(r, health, min_samples)).map(|r| r.ms)
    };
    let leader = health.latency_leader(pool_id).map(|r| r.index());
    let chosen = next_leader(leader, p.regions.len(), est, hysteresis);
    note_to(ex, || {
        let rows: Vec<String> = p
            .regions
            .iter()
            .enumerate()
            .map(|(i, r)| match region_rtt(r, health, 1) {
                Some(rtt) if est(i).is_some() => format!("{} {:.1} ms ({} samples)", r.name, rtt.ms, rtt.samples),
                Some(rtt) if usable(i) => format!(
                    "{} {:.1} ms (too few samples: {} of {min_samples} per member)",
                    r.name, rtt.ms, rtt.samples
                ),
                _ if !usable(i) => format!("{} not usable", r.name),
                _ => format!("{} no RTT samples", r.name),
            })
            .collect();
        let lead = leader.and_then(|i| p.regions.get(i)).map_or("none".to_string(), |r| r.name.clone());
        match chosen {
            Some(i) => format!(
                "latency: {}; current {lead}, hysteresis {:.0}%: lowest RTT region is {}",
                rows.join(", "),
                hysteresis * 100.0,
                p.regions[i].name
            ),
            None => {
                format!("latency: {}; no usable region has enough samples: falling back to nearest", rows.join(", "))
            }
        }
    });
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenger_must_beat_the_current_region_by_the_hysteresis() {
        let est = |v: [f64; 3]| move |i: usize| Some(v[i]);
        assert_eq!(next_leader(None, 3, est([40.0, 5.0, 120.0]), 0.2), Some(1));
        assert_eq!(next_leader(Some(0), 3, est([40.0, 33.0, 120.0]), 0.2), Some(0), "33 is not 20% below 40");
        assert_eq!(next_leader(Some(0), 3, est([40.0, 31.9, 120.0]), 0.2), Some(1));
        assert_eq!(
            next_leader(Some(0), 3, |i| [None, Some(50.0), Some(60.0)][i], 0.2),
            Some(1),
            "current lost its data"
        );
        assert_eq!(next_leader(Some(0), 3, |_| None, 0.2), None);
    }
}
