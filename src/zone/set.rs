//! Every zone the server is configured for: the ones it serves, and the ones whose files had
//! errors. A zone that never loaded is not served (SERVFAIL without AA, as Knot and NSD
//! answer for a zone they could not load); one whose reload failed keeps serving its previous
//! version. A name in no configured zone is REFUSED.
use std::sync::Arc;

use hickory_proto::rr::{Name, RecordType};

use super::key::WireKey;
use super::tree::{Zone, labels};
use crate::diag::ConfigError;

/// A configured zone whose files had errors at the last (re)load.
#[derive(Clone, Debug)]
pub struct ZoneProblem {
    pub origin: Name,
    /// Every error, file:line each.
    pub errors: Vec<ConfigError>,
    /// The previous version of the zone still serves (the reload that found the errors kept
    /// it); false: the zone never loaded and is answered with SERVFAIL.
    pub serving_previous: bool,
}

/// Which zone answers a name.
#[derive(Clone, Copy, Debug)]
pub enum ZoneChoice<'a> {
    /// A served zone, with its index in [`ZoneSet::zones`].
    Zone(usize, &'a Zone),
    /// A configured zone that is not served: SERVFAIL.
    Failed(&'a ZoneProblem),
    /// No configured zone: REFUSED.
    None,
}

#[derive(Clone, Copy, Debug)]
enum Slot {
    Zone(usize),
    Failed(usize),
}

/// The zones of one snapshot.
#[derive(Debug, Default)]
pub struct ZoneSet {
    zones: Vec<Arc<Zone>>,
    problems: Vec<ZoneProblem>,
    /// Every configured origin, the most specific first, so the first match is the deepest;
    /// each with its label count and lower-cased wire form (what a query name is matched by).
    order: Vec<(Origin, Slot)>,
}

/// A configured origin as a query name's suffix is compared with it.
#[derive(Debug)]
struct Origin {
    labels: usize,
    wire: Box<[u8]>,
}

impl Origin {
    fn new(name: &Name) -> Origin {
        Origin { labels: labels(name), wire: WireKey::new(name).wire().into() }
    }
    /// Whether the name `key` holds is this origin or below it.
    fn contains(&self, key: &WireKey) -> bool {
        key.labels() >= self.labels && *key.suffix(self.labels) == *self.wire
    }
}

impl ZoneSet {
    /// Zones that all loaded.
    pub fn new(zones: Vec<Zone>) -> ZoneSet {
        ZoneSet::with_problems(zones.into_iter().map(Arc::new).collect(), Vec::new())
    }

    /// The served zones (a zone kept from the previous snapshot among them) and the problems.
    pub fn with_problems(zones: Vec<Arc<Zone>>, problems: Vec<ZoneProblem>) -> ZoneSet {
        let mut order: Vec<(Origin, Slot)> =
            zones.iter().enumerate().map(|(i, z)| (Origin::new(&z.origin), Slot::Zone(i))).collect();
        for (i, p) in problems.iter().enumerate() {
            if !p.serving_previous {
                order.push((Origin::new(&p.origin), Slot::Failed(i)));
            }
        }
        order.sort_by_key(|(o, _)| std::cmp::Reverse(o.labels));
        ZoneSet { zones, problems, order }
    }

    /// The served zones; a [`super::Pooled`] names one by its index here.
    pub fn zones(&self) -> &[Arc<Zone>] {
        &self.zones
    }

    /// The zone at `i` for changing it before the snapshot is published; `None` when it is shared
    /// (a zone kept from the snapshot before).
    pub fn zone_mut(&mut self, i: usize) -> Option<&mut Zone> {
        self.zones.get_mut(i).and_then(Arc::get_mut)
    }

    /// The zones that had errors at the last (re)load.
    pub fn problems(&self) -> &[ZoneProblem] {
        &self.problems
    }

    /// The served zone `origin`, if any.
    pub fn get(&self, origin: &Name) -> Option<&Arc<Zone>> {
        self.zones.iter().find(|z| z.origin == *origin)
    }

    /// The deepest served zone that contains `name`, with its index.
    pub fn zone_containing(&self, name: &Name) -> Option<(usize, &Zone)> {
        let key = WireKey::new(name);
        self.order.iter().find_map(|(o, slot)| match slot {
            Slot::Zone(i) if o.contains(&key) => Some((*i, &*self.zones[*i])),
            _ => None,
        })
    }

    /// The zone that answers `name`/`qtype`: the deepest configured zone that contains the
    /// name, except that DS at a zone's apex is the parent's data (RFC 4035 §3.1.4.1): the
    /// closest zone above answers it when one is configured.
    pub fn zone_for(&self, name: &Name, qtype: RecordType) -> ZoneChoice<'_> {
        self.zone_for_key(&WireKey::new(name), qtype)
    }

    /// [`ZoneSet::zone_for`] of the name `key` holds.
    pub(crate) fn zone_for_key(&self, key: &WireKey, qtype: RecordType) -> ZoneChoice<'_> {
        let mut apex_of_child = None;
        for (origin, slot) in &self.order {
            if !origin.contains(key) {
                continue;
            }
            if qtype == RecordType::DS && apex_of_child.is_none() && origin.labels == key.labels() {
                apex_of_child = Some(*slot);
                continue;
            }
            return self.choice(*slot);
        }
        apex_of_child.map_or(ZoneChoice::None, |s| self.choice(s))
    }

    fn choice(&self, slot: Slot) -> ZoneChoice<'_> {
        match slot {
            Slot::Zone(i) => ZoneChoice::Zone(i, &self.zones[i]),
            Slot::Failed(i) => ZoneChoice::Failed(&self.problems[i]),
        }
    }
}
