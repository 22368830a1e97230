//! A name as the zone tree looks it up: its uncompressed wire form, lower-cased, in a fixed
//! buffer on the stack, with the offset of each label. Built once per name a lookup walks
//! (the query name, each CNAME target); the ancestors the walk visits are suffixes of it, so
//! no ancestor is built, and hashing and comparing are over plain bytes ([`super::nodes`]).
use hickory_proto::rr::Name;

/// The most octets of a name in wire form (RFC 1035 §3.1).
const MAX_WIRE: usize = 255;
/// The most labels a name of 255 octets can hold (the root label not counted).
const MAX_LABELS: usize = 127;

/// A lower-cased wire-form name (see the module doc).
pub struct WireKey {
    buf: [u8; MAX_WIRE],
    len: u8,
    /// Where each label starts, the leftmost first.
    starts: [u8; MAX_LABELS],
    labels: u8,
}

impl WireKey {
    /// `name` lower-cased; a name that does not fit (hickory's names always fit) is cut to
    /// its labels that do, which no zone holds.
    pub fn new(name: &Name) -> WireKey {
        let mut k = WireKey { buf: [0; MAX_WIRE], len: 0, starts: [0; MAX_LABELS], labels: 0 };
        let mut at = 0usize;
        for label in name.iter() {
            let end = at + 1 + label.len();
            if end >= MAX_WIRE || usize::from(k.labels) >= MAX_LABELS {
                break;
            }
            k.starts[usize::from(k.labels)] = at as u8;
            k.labels += 1;
            k.buf[at] = label.len() as u8;
            for (d, s) in k.buf[at + 1..end].iter_mut().zip(label) {
                *d = s.to_ascii_lowercase();
            }
            at = end;
        }
        k.buf[at] = 0;
        k.len = (at + 1) as u8;
        k
    }

    /// The wire-form name `wire` (plain labels ending in the root label, as a query's
    /// question holds it) lower-cased; `None` when it is not one name of at most 255 octets.
    pub fn from_wire(wire: &[u8]) -> Option<WireKey> {
        let mut k = WireKey::root();
        k.set_wire(wire).then_some(k)
    }

    /// The root name.
    pub fn root() -> WireKey {
        WireKey { buf: [0; MAX_WIRE], len: 1, starts: [0; MAX_LABELS], labels: 0 }
    }

    /// Makes this key the name `wire`, as [`WireKey::from_wire`] (in place: a key is some 380
    /// octets, and the query path builds one per query); false, and the key the root name,
    /// when `wire` is not one name of at most 255 octets.
    pub fn set_wire(&mut self, wire: &[u8]) -> bool {
        // The root until the whole of `wire` is known to be a name.
        (self.buf[0], self.len, self.labels) = (0, 1, 0);
        if wire.len() > MAX_WIRE {
            return false;
        }
        let (mut at, mut labels) = (0usize, 0usize);
        loop {
            let Some(&len) = wire.get(at) else { return false };
            let len = usize::from(len);
            if len == 0 {
                break;
            }
            if len > 63 || labels >= MAX_LABELS {
                return false;
            }
            self.starts[labels] = at as u8;
            labels += 1;
            at += 1 + len;
        }
        if at + 1 != wire.len() {
            return false;
        }
        self.labels = labels as u8;
        for (d, s) in self.buf.iter_mut().zip(wire) {
            *d = s.to_ascii_lowercase();
        }
        self.len = wire.len() as u8;
        true
    }

    /// The number of labels (the root label not counted; a leading `*` counted).
    pub fn labels(&self) -> usize {
        usize::from(self.labels)
    }

    /// The whole name.
    pub fn wire(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// The ancestor with `n` labels (the name itself when `n` is at least its label count).
    pub fn suffix(&self, n: usize) -> &[u8] {
        let total = self.labels();
        if n >= total {
            return self.wire();
        }
        let at = if n == 0 { usize::from(self.len) - 1 } else { usize::from(self.starts[total - n]) };
        &self.buf[at..usize::from(self.len)]
    }
}

/// `*.` followed by `wire` (a lower-cased wire-form name), in `buf`; `None` when too long.
pub(crate) fn wildcard_of<'b>(wire: &[u8], buf: &'b mut [u8; MAX_WIRE]) -> Option<&'b [u8]> {
    let end = 2 + wire.len();
    if end > MAX_WIRE {
        return None;
    }
    buf[0] = 1;
    buf[1] = b'*';
    buf[2..end].copy_from_slice(wire);
    Some(&buf[..end])
}

/// A buffer for [`wildcard_of`].
pub(crate) fn wire_buf() -> [u8; MAX_WIRE] {
    [0; MAX_WIRE]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn suffixes_are_the_ancestors_lower_cased() {
        let k = WireKey::new(&Name::from_str("WwW.Gslb.Example.").unwrap());
        assert_eq!(k.labels(), 3);
        assert_eq!(k.wire(), b"\x03www\x04gslb\x07example\x00");
        assert_eq!(k.suffix(3), k.wire());
        assert_eq!(k.suffix(2), b"\x04gslb\x07example\x00");
        assert_eq!(k.suffix(1), b"\x07example\x00");
        assert_eq!(k.suffix(0), b"\x00");
        let mut buf = wire_buf();
        assert_eq!(wildcard_of(k.suffix(2), &mut buf).unwrap(), b"\x01*\x04gslb\x07example\x00");
        let w = WireKey::from_wire(b"\x03WwW\x04Gslb\x07Example\x00").unwrap();
        assert_eq!((w.wire(), w.labels(), w.suffix(1)), (k.wire(), 3, k.suffix(1)));
        assert_eq!(WireKey::from_wire(b"\x00").unwrap().labels(), 0);
        for bad in [&b"\x03www"[..], b"\x03www\x00\x00", b"\xC0\x0C", b"", b"\x40"] {
            assert!(WireKey::from_wire(bad).is_none(), "{bad:?}");
            // Set in place over a name: refused, and the key is the root name again.
            let mut again = WireKey::from_wire(b"\x03WwW\x04Gslb\x07Example\x00").unwrap();
            assert!(!again.set_wire(bad), "{bad:?}");
            assert_eq!((again.wire(), again.labels(), again.suffix(0)), (&b"\x00"[..], 0, &b"\x00"[..]), "{bad:?}");
        }
    }
}
