//! The decoded-record cache: data-section offset → [`Location`], so that a lookup costs one
//! tree walk plus a cache hit instead of a walk plus a decode.
//!
//! Design: a fixed-size, direct-mapped array of slots, each a tiny seqlock built only from
//! atomics (no `unsafe`, no allocation after construction, no lock on any path):
//!
//! ```text
//! slot = { seq: AtomicU64, tag_meta: AtomicU64, coords: AtomicU64 }
//!   seq       even = stable, odd = a writer is inside; starts at 0 = never written
//!   tag_meta  offset (32 bits) | country (16) | continent (8) | flags (8)
//!   coords    latitude µ° (i32) | longitude µ° (i32)
//! ```
//!
//! A reader loads `seq`, both words, then `seq` again, and trusts the words only if `seq` was
//! even and unchanged: a 64-bit counter that only grows, so no ABA. A writer claims the slot
//! with one compare-exchange (odd) and, if another writer holds it, simply does not cache:
//! this is a cache, so losing a race costs one more decode later, never a wrong answer.
//!
//! Size: the slot count is a power of two between 64 and 65,536, picked from the data
//! section's size (a country database has a few hundred distinct records; a city database
//! millions), so memory is at most 1.5 MiB per database.
//!
//! Coordinates are stored in whole micro-degrees (about 0.1 m). The reader quantizes every
//! decoded location the same way ([`quantize`]), so a hit and a miss return identical values.
use std::sync::atomic::{AtomicU64, Ordering, fence};

use super::types::{Continent, Coordinates, Country, Location};

const MIN_SLOTS: usize = 64;
const MAX_SLOTS: usize = 1 << 16;

const HAS_COORDS: u64 = 1;

struct Slot {
    seq: AtomicU64,
    tag_meta: AtomicU64,
    coords: AtomicU64,
}

pub(crate) struct LocationCache {
    slots: Box<[Slot]>,
    /// `64 - log2(slots.len())`: the shift that turns a Fibonacci hash into a slot index.
    shift: u32,
}

impl LocationCache {
    /// A cache sized for a data section of `data_len` bytes: about one slot per 16 bytes of
    /// data (a country record is ~10 bytes, a city record well over 100), within the bounds.
    pub(crate) fn for_data_len(data_len: usize) -> LocationCache {
        let n = (data_len / 16).clamp(MIN_SLOTS, MAX_SLOTS).next_power_of_two().min(MAX_SLOTS);
        let slots = (0..n)
            .map(|_| Slot { seq: AtomicU64::new(0), tag_meta: AtomicU64::new(0), coords: AtomicU64::new(0) })
            .collect::<Vec<_>>()
            .into_boxed_slice();
        LocationCache { slots, shift: 64 - n.trailing_zeros() }
    }

    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    fn slot(&self, offset: u32) -> &Slot {
        // Fibonacci hashing spreads the (clustered, increasing) offsets over the slots.
        let i = (u64::from(offset).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize;
        &self.slots[i & (self.slots.len() - 1)]
    }

    /// The cached location for `offset`, if this slot holds it right now.
    #[inline]
    pub(crate) fn get(&self, offset: usize) -> Option<Location> {
        let offset = u32::try_from(offset).ok()?;
        let slot = self.slot(offset);
        let s1 = slot.seq.load(Ordering::Acquire);
        if s1 == 0 || s1 & 1 == 1 {
            return None;
        }
        let meta = slot.tag_meta.load(Ordering::Relaxed);
        let coords = slot.coords.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        let s2 = slot.seq.load(Ordering::Relaxed);
        if s1 != s2 || (meta >> 32) as u32 != offset {
            return None;
        }
        Some(unpack(meta, coords))
    }

    /// Remembers `loc` for `offset` (which must already be quantized), evicting whatever
    /// shared the slot. Gives up silently if another thread is writing the same slot.
    pub(crate) fn put(&self, offset: usize, loc: &Location) {
        let Ok(offset) = u32::try_from(offset) else { return };
        let slot = self.slot(offset);
        let seq = slot.seq.load(Ordering::Relaxed);
        if seq & 1 == 1
            || slot.seq.compare_exchange(seq, seq.wrapping_add(1), Ordering::Acquire, Ordering::Relaxed).is_err()
        {
            return;
        }
        // Orders the odd `seq` before the data stores, for readers that see the new data.
        fence(Ordering::Release);
        let (meta, coords) = pack(offset, loc);
        slot.tag_meta.store(meta, Ordering::Relaxed);
        slot.coords.store(coords, Ordering::Relaxed);
        slot.seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}

/// Rounds coordinates to whole micro-degrees, exactly as the cache stores them.
pub(crate) fn quantize(loc: Location) -> Location {
    Location {
        coords: loc.coords.and_then(|c| Coordinates::new(from_micro(to_micro(c.lat)), from_micro(to_micro(c.lon)))),
        ..loc
    }
}

fn to_micro(deg: f64) -> i32 {
    // Coordinates are range-checked (|deg| <= 180), so this never saturates.
    (deg * 1e6).round() as i32
}

fn from_micro(v: i32) -> f64 {
    f64::from(v) / 1e6
}

fn continent_code(c: Option<Continent>) -> u64 {
    match c {
        None => 0,
        Some(Continent::AF) => 1,
        Some(Continent::AN) => 2,
        Some(Continent::AS) => 3,
        Some(Continent::EU) => 4,
        Some(Continent::NA) => 5,
        Some(Continent::OC) => 6,
        Some(Continent::SA) => 7,
    }
}

fn continent_from(code: u64) -> Option<Continent> {
    Some(match code {
        1 => Continent::AF,
        2 => Continent::AN,
        3 => Continent::AS,
        4 => Continent::EU,
        5 => Continent::NA,
        6 => Continent::OC,
        7 => Continent::SA,
        _ => return None,
    })
}

fn pack(offset: u32, loc: &Location) -> (u64, u64) {
    let country = loc
        .country
        .map(|c| {
            let b = c.as_str().as_bytes();
            (u64::from(b[0]) << 8) | u64::from(b[1])
        })
        .unwrap_or(0);
    let (flags, coords) = match loc.coords {
        Some(c) => (HAS_COORDS, (u64::from(to_micro(c.lat) as u32) << 32) | u64::from(to_micro(c.lon) as u32)),
        None => (0, 0),
    };
    (u64::from(offset) << 32 | country << 16 | continent_code(loc.continent) << 8 | flags, coords)
}

fn unpack(meta: u64, coords: u64) -> Location {
    let cc = [(meta >> 24) as u8, (meta >> 16) as u8];
    let country = std::str::from_utf8(&cc).ok().and_then(Country::parse);
    let continent = continent_from((meta >> 8) & 0xff);
    let coords = if meta & HAS_COORDS != 0 {
        Coordinates::new(from_micro((coords >> 32) as u32 as i32), from_micro(coords as u32 as i32))
    } else {
        None
    };
    Location { country, continent, coords }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn loc(cc: &str, cont: Continent, lat: f64, lon: f64) -> Location {
        quantize(Location { country: Country::parse(cc), continent: Some(cont), coords: Coordinates::new(lat, lon) })
    }

    #[test]
    fn round_trips_and_misses_on_other_offsets() {
        let cache = LocationCache::for_data_len(0);
        assert_eq!(cache.slot_count(), MIN_SLOTS);
        let l = loc("GB", Continent::EU, 51.5074, -0.1278);
        assert_eq!(cache.get(7), None);
        cache.put(7, &l);
        assert_eq!(cache.get(7), Some(l));
        assert_eq!(l.coords.unwrap().lat, 51.5074, "6-decimal values survive quantizing exactly");
        assert_eq!(cache.get(8), None);
        let empty = Location::default();
        cache.put(9, &empty);
        assert_eq!(cache.get(9), Some(empty));
        let south_west = loc("AR", Continent::SA, -34.6, -58.38);
        cache.put(10, &south_west);
        assert_eq!(cache.get(10), Some(south_west));
        assert_eq!(cache.get(usize::MAX), None);
    }

    #[test]
    fn colliding_offsets_evict_each_other() {
        let cache = LocationCache::for_data_len(0);
        let a = loc("JP", Continent::AS, 35.0, 139.0);
        let b = loc("AU", Continent::OC, -33.0, 151.0);
        // Find two offsets that share a slot.
        let first = 1u32;
        let other = (2u32..).find(|&o| std::ptr::eq(cache.slot(o), cache.slot(first))).unwrap();
        cache.put(first as usize, &a);
        cache.put(other as usize, &b);
        assert_eq!(cache.get(first as usize), None);
        assert_eq!(cache.get(other as usize), Some(b));
    }

    #[test]
    fn size_is_bounded() {
        assert_eq!(LocationCache::for_data_len(usize::MAX).slot_count(), MAX_SLOTS);
        assert_eq!(LocationCache::for_data_len(100_000).slot_count(), 8192);
    }

    #[test]
    fn concurrent_readers_never_see_torn_entries() {
        // Offsets that share one slot, each with a distinct location derived from the offset;
        // any hit must return exactly that offset's location.
        let cache = Arc::new(LocationCache::for_data_len(0));
        let base = 3u32;
        let offsets: Vec<u32> = (0u32..).filter(|&o| std::ptr::eq(cache.slot(o), cache.slot(base))).take(4).collect();
        let expect = |o: u32| loc("NZ", Continent::OC, -f64::from(o % 80), f64::from(o % 170));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let cache = Arc::clone(&cache);
                let offsets = offsets.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000usize {
                        let o = offsets[(i + t) % offsets.len()];
                        if let Some(got) = cache.get(o as usize) {
                            assert_eq!(got, expect(o));
                        } else {
                            cache.put(o as usize, &expect(o));
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
