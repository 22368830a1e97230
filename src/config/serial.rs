//! The serial rule of a reload: a zone whose data changed must have a new SOA serial.
//!
//! Secondaries and resolvers go by the serial: data that changes under the same serial never
//! reaches a secondary, and a half-written zone file (saved in place, read between two writes)
//! looks exactly like that: the SOA at the top is there, records below it are missing. So a
//! reload that finds a zone with the serial of the zone serving but other data refuses the
//! whole new config, naming the file and the line of the SOA, and the old config keeps serving.
//!
//! That is the `keep` policy (the file's serial is the zone's serial), the default. With
//! `serial = "unixtime"` or `"increment"` gslbd chooses the serial itself ([`apply_serials`]):
//! when the data changed, the UNIX time of the load (at least one more than the serial served)
//! or the serial served plus one; when it did not, the serial served. Either way the zone's
//! IXFR journal gets the change (old and new data compared record by record).
use super::ConfigError;
use super::Transfers;
use super::transfer::SerialPolicy;
use crate::zone::{Change, ZoneSet};

/// Applies each zone's serial policy to `new` against the zones serving in `old` (`None` at
/// start), and carries each zone's journal with the change added. Returns the errors of the
/// `keep` rule ([`check_serials`]).
pub fn apply_serials(old: Option<&ZoneSet>, new: &mut ZoneSet, transfers: &Transfers, now: u64) -> Vec<ConfigError> {
    let errors = match old {
        Some(old) => check_serials_where(old, new, |o| policy(transfers, o) == SerialPolicy::Keep),
        None => Vec::new(),
    };
    if !errors.is_empty() {
        return errors;
    }
    let limit = transfers.settings.journal;
    for i in 0..new.zones().len() {
        let origin = new.zones()[i].origin.clone();
        let before = old.and_then(|o| o.get(&origin)).cloned();
        let Some(zone) = new.zone_mut(i) else { continue }; // kept from the old snapshot as it was
        let file_serial = zone.source.serial;
        let serial = match (policy(transfers, &origin), &before) {
            (SerialPolicy::Keep, _) => file_serial,
            (SerialPolicy::UnixTime, None) => newer(file_serial, now as u32),
            (SerialPolicy::Increment, None) => file_serial,
            (_, Some(b)) if b.source.digest == zone.source.digest => b.source.serial,
            (SerialPolicy::UnixTime, Some(b)) => newer(now as u32, b.source.serial.wrapping_add(1)),
            (SerialPolicy::Increment, Some(b)) => b.source.serial.wrapping_add(1),
        };
        if serial != file_serial && !zone.set_serial(serial) {
            tracing::warn!(zone = %origin, "the serial policy cannot change the serial of a signed SOA; the file's serial is served");
        }
        let Some(b) = before else { continue };
        zone.journal = if b.source.serial == zone.source.serial {
            b.journal.clone()
        } else {
            match Change::between(&b, zone) {
                Some(change) => b.journal.with(change, limit),
                None => Default::default(),
            }
        };
    }
    Vec::new()
}

fn policy(transfers: &Transfers, origin: &hickory_proto::rr::Name) -> SerialPolicy {
    transfers.zone(origin).map(|t| t.serial).unwrap_or_default()
}

/// `a` unless `b` is newer in serial number arithmetic (RFC 1982).
fn newer(a: u32, b: u32) -> u32 {
    if b != a && b.wrapping_sub(a) < 1 << 31 { b } else { a }
}

/// Checks every zone of `new` against the zone of the same origin in `old` (zones new to this
/// load have nothing to be compared with). Returns one error per zone that breaks the rule.
pub fn check_serials(old: &ZoneSet, new: &ZoneSet) -> Vec<ConfigError> {
    check_serials_where(old, new, |_| true)
}

fn check_serials_where(
    old: &ZoneSet,
    new: &ZoneSet,
    keep: impl Fn(&hickory_proto::rr::Name) -> bool,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for zone in new.zones().iter().filter(|z| keep(&z.origin)) {
        let Some(before) = old.zones().iter().find(|z| z.origin == zone.origin) else { continue };
        let (was, now) = (&before.source, &zone.source);
        if now.serial == was.serial && now.digest != was.digest {
            errors.push(ConfigError::new(
                &now.file,
                now.soa_line,
                format!(
                    "zone {}: the data changed but the SOA serial is still {}; increase the serial \
                     (a file read while it was being written looks like this too: write a temporary file \
                     and rename it over the zone file)",
                    zone.origin, now.serial
                ),
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::{Signing, parse_zone};
    use hickory_proto::rr::Name;
    use std::path::Path;

    fn zone(text: &str) -> ZoneSet {
        let origin = Name::from_ascii("example.test.").unwrap();
        let zone = parse_zone(text.as_bytes(), Path::new("example.test.zone"), &origin, Signing::None).unwrap();
        ZoneSet::new(vec![zone])
    }

    const HEAD: &str = "$ORIGIN example.test.\n$TTL 300\n\n@ IN SOA ns hostmaster SERIAL 7200 900 1209600 300\n@ NS ns\nns A 192.0.2.53\n";

    fn text(serial: u32, body: &str) -> String {
        HEAD.replace("SERIAL", &serial.to_string()) + body
    }

    #[test]
    fn changed_data_needs_a_new_serial() {
        let old = zone(&text(5, "www A 192.0.2.1\nmail A 192.0.2.2\n"));
        // The same data, written differently (comments, spacing, an explicit TTL equal to $TTL).
        let same = zone(&text(5, "; a comment\nwww   300 IN A 192.0.2.1\nmail A 192.0.2.2\n"));
        assert!(check_serials(&old, &same).is_empty());
        // Half of the file: the SOA is there, a record is not.
        let half = zone(&text(5, "www A 192.0.2.1\n"));
        let errs = check_serials(&old, &half);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!((errs[0].file.as_path(), errs[0].line), (Path::new("example.test.zone"), 4));
        assert!(errs[0].message.contains("serial is still 5"), "{}", errs[0].message);
        // A changed TTL, address or SOA field other than the serial is changed data too.
        assert_eq!(check_serials(&old, &zone(&text(5, "www 60 A 192.0.2.1\nmail A 192.0.2.2\n"))).len(), 1);
        assert_eq!(check_serials(&old, &zone(&text(5, "www A 192.0.2.9\nmail A 192.0.2.2\n"))).len(), 1);
        let refresh = text(5, "www A 192.0.2.1\nmail A 192.0.2.2\n").replace(" 7200 ", " 3600 ");
        assert_eq!(check_serials(&old, &zone(&refresh)).len(), 1);
        // With a new serial, any change is fine; so is a new serial alone.
        assert!(check_serials(&old, &half_with(6)).is_empty());
        assert!(check_serials(&old, &zone(&text(6, "www A 192.0.2.1\nmail A 192.0.2.2\n"))).is_empty());
        // A zone the old config did not serve is not compared.
        assert!(check_serials(&ZoneSet::default(), &half).is_empty());
    }

    fn half_with(serial: u32) -> ZoneSet {
        zone(&text(serial, "www A 192.0.2.1\n"))
    }

    fn transfers(policy: SerialPolicy, journal: usize) -> Transfers {
        let origin = Name::from_ascii("example.test.").unwrap();
        let t = crate::config::ZoneTransfer { serial: policy, ..Default::default() };
        let settings = crate::config::TransferSettings { journal, ..Default::default() };
        Transfers { settings, zones: vec![(origin, t)], ..Default::default() }
    }

    fn served(set: &ZoneSet) -> u32 {
        set.zones()[0].source.serial
    }

    #[test]
    fn policies_choose_the_serial_and_the_journal_follows() {
        let now = 1_800_000_000;
        // unixtime: the load time at start; +change: now (or served + 1); no change: kept.
        let t = transfers(SerialPolicy::UnixTime, 5);
        let mut first = zone(&text(7, "www A 192.0.2.1\n"));
        assert!(apply_serials(None, &mut first, &t, now).is_empty());
        assert_eq!(served(&first), now as u32);
        let mut same = zone(&text(7, "www A 192.0.2.1\n"));
        apply_serials(Some(&first), &mut same, &t, now + 10);
        assert_eq!((served(&same), same.zones()[0].journal.len()), (now as u32, 0), "unchanged data keeps the serial");
        let mut changed = zone(&text(7, "www A 192.0.2.2\n"));
        assert!(apply_serials(Some(&same), &mut changed, &t, now).is_empty(), "no keep-rule error");
        assert_eq!(served(&changed), now as u32 + 1, "same second: served + 1");
        let j = &changed.zones()[0].journal;
        assert_eq!((j.len(), j.oldest_serial()), (1, Some(now as u32)));
        // The SOA served carries the new serial (and the negative answers' SOA too).
        let soa = changed.zones()[0].soa_record().unwrap();
        assert_eq!(crate::zone::master::wire::soa_serial(&soa.rdata), Some(now as u32 + 1));
        // increment: the file's serial at start, served + 1 on a change.
        let t = transfers(SerialPolicy::Increment, 1);
        let mut a = zone(&text(7, "www A 192.0.2.1\n"));
        apply_serials(None, &mut a, &t, now);
        let mut b = zone(&text(7, "www A 192.0.2.2\n"));
        apply_serials(Some(&a), &mut b, &t, now);
        let mut c = zone(&text(7, "www A 192.0.2.3\n"));
        apply_serials(Some(&b), &mut c, &t, now);
        assert_eq!((served(&a), served(&b), served(&c)), (7, 8, 9));
        assert_eq!(c.zones()[0].journal.oldest_serial(), Some(8), "journal bounded to 1 version");
        // keep: the file's serial, and the rule of issue 14.
        let t = transfers(SerialPolicy::Keep, 5);
        let mut k = zone(&text(7, "www A 192.0.2.9\n"));
        assert_eq!(apply_serials(Some(&a), &mut k, &t, now).len(), 1);
    }
}
