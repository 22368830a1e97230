//! Every distinct record of a location database and what it says, as the query path reads it
//! (decoded, gaps filled, quantized): one open-addressing table from the record's data offset
//! to its location, packed into the slot itself.
//!
//! ```text
//! at load:  validate ─► each distinct record: insert(offset, location) ─► slot (16 octets)
//! per query: tree walk ─► Data(offset) ─► get(offset): one probe, usually one cache line
//! ```
//!
//! Why not a `HashMap<offset, index>` beside a `Vec<Location>`, as before: with GeoLite2-City
//! (hundreds of thousands of records) the map's control bytes, its bucket and the vector's
//! entry were three dependent cache misses on every query, about 45 % of a GeoIP lookup's
//! cycles and a sixth of a pooled answer's user time (`perf annotate`, NOTES.md eighth
//! round). A slot holds the offset, the coordinates as whole micro-degrees (the grid every
//! location is quantized to), the country and the continent, so a hit reads one slot.
//! Hot-path table of our own rather than a crate: no general-purpose map stores the value
//! packed in the slot.
//!
//! Exactness: a location is packed only when unpacking gives it back bit for bit (quantized
//! coordinates always do); any other one is kept whole in a side table, so what `get` returns
//! is always exactly what `insert` was given.
use super::record::{from_micro, to_micro};
use super::types::{Continent, Coordinates, Country, Location};

/// Offset of an empty slot (a data offset is below the file's size, and files over 4 GiB
/// are not indexed: `insert` ignores such offsets and `get` falls back to maxminddb).
const EMPTY: u32 = u32::MAX;

/// `flags`: the record has a usable field (`Some` location).
const SOME: u8 = 1;
/// `flags`: `lat`/`lon` are coordinates.
const COORDS: u8 = 2;
/// `flags`: `country` is a country code.
const COUNTRY: u8 = 4;
/// `flags`: the location is in `whole[lat]`, not packed.
const WHOLE: u8 = 8;
/// `continent` of a location without one.
const NO_CONTINENT: u8 = u8::MAX;

#[derive(Clone, Copy)]
struct Slot {
    offset: u32,
    lat: i32,
    lon: i32,
    country: [u8; 2],
    continent: u8,
    flags: u8,
}

const VACANT: Slot = Slot { offset: EMPTY, lat: 0, lon: 0, country: [0; 2], continent: NO_CONTINENT, flags: 0 };

/// See the module doc.
#[derive(Default)]
pub(crate) struct Records {
    /// A power of two long (or empty), at most half full.
    slots: Box<[Slot]>,
    len: usize,
    /// Locations that do not pack exactly (none from a quantizing reader).
    whole: Vec<Location>,
}

impl Records {
    /// Records what the record at data offset `offset` says; a second insert of the same
    /// offset keeps the first.
    pub(crate) fn insert(&mut self, offset: usize, loc: Option<Location>) {
        let Ok(offset) = u32::try_from(offset) else { return };
        if offset == EMPTY {
            return;
        }
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let Some(i) = self.probe(offset) else { return };
        if self.slots[i].offset == offset {
            return;
        }
        self.slots[i] = self.pack(offset, loc);
        self.len += 1;
    }

    /// Distinct records held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// What the record at data offset `offset` says: `None` when the table does not hold that
    /// offset, `Some(None)` when the record has no usable field.
    #[inline]
    pub(crate) fn get(&self, offset: usize) -> Option<Option<Location>> {
        let slot = &self.slots[self.position(u32::try_from(offset).ok()?)?];
        Some(self.unpack(slot))
    }

    /// [`Records::get`], with the record's slot index ([`Records::position`]).
    #[inline]
    pub(crate) fn get_at(&self, offset: usize) -> Option<(usize, Option<Location>)> {
        let i = self.position(u32::try_from(offset).ok()?)?;
        Some((i, self.unpack(&self.slots[i])))
    }

    /// The slot index of `offset` when the table holds it: what [`Records::each`] numbers it.
    pub(crate) fn position(&self, offset: u32) -> Option<usize> {
        let i = self.probe(offset)?;
        (self.slots[i].offset == offset && offset != EMPTY).then_some(i)
    }

    /// Every record held, with its slot index ([`Records::position`]); indexes are below
    /// [`Records::capacity`].
    pub(crate) fn each(&self) -> impl Iterator<Item = (usize, Option<Location>)> + '_ {
        self.slots.iter().enumerate().filter(|(_, s)| s.offset != EMPTY).map(|(i, s)| (i, self.unpack(s)))
    }

    /// One more than the largest slot index.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Heap bytes held (for the load report).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>() + self.whole.capacity() * std::mem::size_of::<Location>()
    }

    /// The slot holding `offset`, or the empty one where it would go; `None` for an empty table.
    #[inline]
    fn probe(&self, offset: u32) -> Option<usize> {
        let mask = self.slots.len().checked_sub(1)?;
        // Multiplicative hashing: offsets are the database's, not an attacker's, and the table
        // is never more than half full, so a probe run is short.
        let mut i = (u64::from(offset).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask;
        for _ in 0..self.slots.len() {
            let s = self.slots[i].offset;
            if s == offset || s == EMPTY {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
        None
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![VACANT; cap].into_boxed_slice());
        for s in old.iter().filter(|s| s.offset != EMPTY) {
            if let Some(i) = self.probe(s.offset) {
                self.slots[i] = *s;
            }
        }
    }

    fn pack(&mut self, offset: u32, loc: Option<Location>) -> Slot {
        let Some(loc) = loc else { return Slot { offset, ..VACANT } };
        let micro = |deg: f64| Some(to_micro(deg)).filter(|&v| from_micro(v) == deg);
        let coords = match loc.coords {
            None => Some(None),
            Some(c) => micro(c.lat).zip(micro(c.lon)).map(Some),
        };
        match coords {
            Some(coords) => Slot {
                offset,
                lat: coords.map_or(0, |c| c.0),
                lon: coords.map_or(0, |c| c.1),
                country: loc.country.map_or([0; 2], Country::code),
                continent: loc.continent.map_or(NO_CONTINENT, |c| c as u8),
                flags: SOME
                    | if coords.is_some() { COORDS } else { 0 }
                    | if loc.country.is_some() { COUNTRY } else { 0 },
            },
            None => {
                let at = self.whole.len() as i32;
                self.whole.push(loc);
                Slot { offset, lat: at, flags: SOME | WHOLE, ..VACANT }
            }
        }
    }

    #[inline]
    fn unpack(&self, s: &Slot) -> Option<Location> {
        if s.flags & SOME == 0 {
            return None;
        }
        if s.flags & WHOLE != 0 {
            return usize::try_from(s.lat).ok().and_then(|i| self.whole.get(i)).copied();
        }
        Some(Location {
            country: (s.flags & COUNTRY != 0).then(|| Country::from_code(s.country)),
            continent: Continent::ALL.get(usize::from(s.continent)).copied(),
            coords: (s.flags & COORDS != 0).then(|| Coordinates { lat: from_micro(s.lat), lon: from_micro(s.lon) }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(cc: &str, ct: Option<Continent>, coords: Option<(f64, f64)>) -> Location {
        Location {
            country: Country::parse(cc),
            continent: ct,
            coords: coords.and_then(|(a, b)| Coordinates::new(a, b)),
        }
    }

    #[test]
    fn continents_index_their_own_position() {
        for (i, c) in Continent::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
    }

    #[test]
    fn gives_back_exactly_what_was_inserted() {
        let mut r = Records::default();
        let cases = [
            (0usize, Some(loc("GB", Some(Continent::EU), Some((51.5074, -0.127758))))),
            (7, Some(loc("", None, Some((-33.868_82, 151.209_296))))),
            (19, Some(loc("JP", Some(Continent::AS), None))),
            (23, None),
            // Not on the micro-degree grid: kept whole, still given back bit for bit.
            (1 << 20, Some(loc("US", Some(Continent::NA), Some((39.043_756_123_4, -77.487_442_987_6))))),
            (u32::MAX as usize - 1, Some(loc("", Some(Continent::SA), Some((-90.0, 180.0))))),
        ];
        for (o, l) in cases {
            r.insert(o, l);
        }
        // A second insert of an offset keeps the first value.
        r.insert(23, Some(loc("FR", None, None)));
        assert_eq!(r.len(), cases.len());
        for (o, l) in cases {
            let got = r.get(o).expect("held");
            assert_eq!(got, l, "offset {o}");
            if let (Some(g), Some(w)) = (got.and_then(|g| g.coords), l.and_then(|l| l.coords)) {
                assert_eq!((g.lat.to_bits(), g.lon.to_bits()), (w.lat.to_bits(), w.lon.to_bits()));
            }
        }
        assert_eq!(r.get(1), None);
        assert_eq!(r.get(u32::MAX as usize), None, "the empty marker is never a key");
        assert_eq!(r.get(1 << 40), None);
        assert_eq!(Records::default().get(0), None);
    }

    #[test]
    fn many_records_stay_findable_through_growth() {
        let mut r = Records::default();
        let at = |i: u32| Some(loc("DE", Some(Continent::EU), Some((f64::from(i % 180) - 89.0, 1.5))));
        for i in 0..50_000u32 {
            r.insert(i as usize * 37 + 11, at(i));
        }
        assert_eq!(r.len(), 50_000);
        assert!(r.capacity() >= 100_000 && r.capacity().is_power_of_two());
        for i in 0..50_000u32 {
            assert_eq!(r.get(i as usize * 37 + 11), Some(at(i)));
            assert_eq!(r.get(i as usize * 37 + 12), None);
        }
        let positions: std::collections::HashSet<usize> = r.each().map(|(i, _)| i).collect();
        assert_eq!(positions.len(), 50_000);
        assert!(r.each().all(|(i, l)| r.slots[i].offset != EMPTY && l.is_some()));
    }
}
