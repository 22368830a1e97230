//! The zone-file loader: arbitrary text → `parse_master_text` → `Zone::build` → lookups.
//! Nothing may panic; every error names a line of the text (or 0 for the whole file); a zone
//! that builds answers a lookup of every owner name it holds, and of names around them.
#![no_main]

use std::path::Path;

use gslbd::zone::parse::parse_master_text;
use gslbd::zone::{Zone, ZoneSet, lookup};
use hickory_proto::rr::{Name, RecordType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let origin = Name::from_ascii("gslb.example.com.").unwrap();
    let lines = text.lines().count() + 1;
    let file = Path::new("fuzz.zone");
    let records = match parse_master_text(text, file, &origin) {
        Ok(r) => r,
        Err(errs) => {
            assert!(!errs.is_empty(), "Err with no errors");
            for e in errs {
                assert!(e.line <= lines, "error on line {} of a {lines}-line file: {e}", e.line);
            }
            return;
        }
    };
    let zone = match Zone::build(origin.clone(), records) {
        Ok(z) => z,
        Err(errs) => {
            assert!(!errs.is_empty(), "Err with no errors");
            for e in errs {
                assert!(e.line <= lines, "error on line {} of a {lines}-line file: {e}", e.line);
            }
            return;
        }
    };
    let names: Vec<Name> = zone.names().map(|(n, _)| n.clone()).take(64).collect();
    let set = ZoneSet::new(vec![zone]);
    for n in names {
        for t in [RecordType::A, RecordType::AAAA, RecordType::ANY, RecordType::NS, RecordType::DS, RecordType::CNAME] {
            let _ = lookup(&set, &n, t);
        }
        if let Ok(below) = Name::from_ascii("zz-fuzz").and_then(|l| l.append_domain(&n)) {
            let _ = lookup(&set, &below, RecordType::A);
        }
    }
});
