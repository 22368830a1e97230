//! The question's `Name`, kept per thread for the question names seen last.
//!
//! hickory's `Name::read` builds a name label by label (~1,100 instructions for the four labels
//! of `www.gslb.example.com.`, callgrind over a pooled query with ECS, where a whole `respond`
//! is ~7,600); a clone of a kept name is a copy of under 100 octets. Traffic repeats names:
//! the same pooled name is asked over and over with a different client subnet each time (the
//! reply cache keeps only replies that depend on nothing but the query's octets).
//!
//! The key is the name's octets as the query holds them, letter case included, and only plain
//! labels (no compression pointer), so the kept `Name` is exactly what reading those octets
//! again would give. 16 slots per thread, direct-mapped by the octets' hash, filled on a miss.
//! No allocation: the slots are a constant-initialized thread-local, and a kept name is only
//! cloned (hickory keeps names of up to 32 octets inline, as when it reads them).
use std::cell::RefCell;

use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

const SLOTS: usize = 16;
/// The longest name in wire form (RFC 1035 §3.1).
const MAX_WIRE: usize = 255;

struct Slot {
    len: u16,
    wire: [u8; MAX_WIRE],
    name: Option<Name>,
}

const EMPTY: Slot = Slot { len: 0, wire: [0; MAX_WIRE], name: None };

thread_local! {
    static MEMO: RefCell<[Slot; SLOTS]> = const { RefCell::new([EMPTY; SLOTS]) };
}

/// The name whose wire form is `wire` (plain labels, as [`super::encode::query_name`] finds them), as
/// `Name::read` gives it; `None` where `Name::read` fails.
pub(super) fn name_of(wire: &[u8]) -> Option<Name> {
    if wire.len() > MAX_WIRE {
        return None;
    }
    let slot = slot_of(wire);
    // A thread-local borrowed by no one else: `try_with` only fails while the thread exits.
    let kept = MEMO.try_with(|m| {
        let m = m.try_borrow().ok()?;
        let s = &m[slot];
        (usize::from(s.len) == wire.len() && s.wire[..wire.len()] == *wire).then(|| s.name.clone()).flatten()
    });
    if let Ok(Some(name)) = kept {
        return Some(name);
    }
    let name = read(wire)?;
    let _ = MEMO.try_with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            let s = &mut m[slot];
            s.wire[..wire.len()].copy_from_slice(wire);
            s.len = wire.len() as u16;
            s.name = Some(name.clone());
        }
    });
    Some(name)
}

/// `Name::read` over exactly `wire`.
fn read(wire: &[u8]) -> Option<Name> {
    let mut dec = BinDecoder::new(wire);
    let name = Name::read(&mut dec).ok()?;
    (dec.index() == wire.len()).then_some(name)
}

fn slot_of(wire: &[u8]) -> usize {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(wire);
    (h.finish() as usize) & (SLOTS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::serialize::binary::BinEncodable;

    fn wire(name: &str) -> Vec<u8> {
        Name::from_ascii(name).unwrap().to_bytes().unwrap()
    }

    #[test]
    fn a_kept_name_is_what_reading_gives_letter_case_included() {
        for n in ["www.gslb.example.com.", "WwW.GsLb.Example.Com.", ".", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r."] {
            let w = wire(n);
            let first = name_of(&w).unwrap();
            let again = name_of(&w).unwrap();
            assert_eq!(first, read(&w).unwrap());
            assert!(first.eq_case(&again) && again.eq_case(&Name::from_ascii(n).unwrap()), "{n}");
            assert_eq!(again.to_string(), n.trim_end_matches('.').to_string() + ".", "{n}");
        }
        // Names that share a slot (17 names over 16 slots) never answer for each other.
        let names: Vec<String> = (0..40).map(|i| format!("n{i}.example.")).collect();
        for _ in 0..2 {
            for n in &names {
                assert!(name_of(&wire(n)).unwrap().eq_case(&Name::from_ascii(n).unwrap()), "{n}");
            }
        }
    }

    #[test]
    fn what_reading_refuses_is_refused_and_not_kept() {
        // 4 labels of 63 octets: 257 octets with the root label (RFC 1035 §3.1 allows 255),
        // refused each time it is asked.
        let mut over = Vec::new();
        for _ in 0..4 {
            over.push(63);
            over.extend([b'x'; 63]);
        }
        over.push(0);
        assert!(read(&over).is_none());
        assert!(name_of(&over).is_none() && name_of(&over).is_none());
        // A name followed by more octets is not one name.
        assert!(read(b"\x03www\x00\x01").is_none() && name_of(b"\x03www\x00\x01").is_none());
    }
}
