//! The zone-file loader: arbitrary bytes → `parse_zone` (the loader of src/zone/master, then
//! `Zone::build`, as unsigned and as pre-signed) → lookups → the encoder.
//! Nothing may panic; every error names a line of the text (or 0 for the whole file); a zone
//! that builds answers a lookup of every owner name it holds, and of names around them, with
//! DO=0 and DO=1, and each answer encodes. Seeds: the issue-13 corpus (tests/fixtures/zone-corpus).
#![no_main]

use std::path::Path;

use gslbd::dns::encode::{Reply, encode};
use gslbd::dns::wire::{QueryHeader, Question};
use gslbd::zone::{Signing, Synthesized, ZoneSet, lookup, parse_zone};
use hickory_proto::rr::{Name, RecordType};
use libfuzzer_sys::fuzz_target;

const TYPES: [RecordType; 10] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::ANY,
    RecordType::NS,
    RecordType::DS,
    RecordType::CNAME,
    RecordType::DNAME,
    RecordType::MX,
    RecordType::RRSIG,
    RecordType::TXT,
];

fuzz_target!(|data: &[u8]| {
    let origin = Name::from_ascii("example.com.").unwrap();
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut out = Vec::with_capacity(65535);
    for signing in [Signing::None, Signing::Presigned] {
        let zone = match parse_zone(data, Path::new("fuzz.zone"), &origin, signing) {
            Ok(z) => z,
            Err(errs) => {
                assert!(!errs.is_empty(), "Err with no errors");
                for e in errs {
                    assert!(e.line <= lines, "error on line {} of a {lines}-line file: {e}", e.line);
                }
                continue;
            }
        };
        let names: Vec<Name> = zone.names().map(|(n, _)| n.clone()).take(64).collect();
        let set = ZoneSet::new(vec![zone]);
        for n in names {
            let below = Name::from_ascii("zz-fuzz").and_then(|l| l.append_domain(&n)).ok();
            for name in std::iter::once(n).chain(below) {
                for qtype in TYPES {
                    for dnssec_ok in [false, true] {
                        let synth = Synthesized::default();
                        let r = lookup(&set, &name, qtype, dnssec_ok, &synth);
                        let question = Question { name: name.clone(), qtype, qclass: 1 };
                        let reply = Reply {
                            header: QueryHeader { id: 1, opcode: 0, rd: false, cd: false },
                            authoritative: r.authoritative,
                            rcode: u16::from(r.rcode),
                            question: Some(&question),
                            answer: &r.answer,
                            authority: &r.authority,
                            additional: &r.additional,
                            addrs: &[],
                            edns: None,
                        };
                        let w = encode(&reply, 65535, &mut out);
                        assert!(w.len <= 65535 && w.len >= 12);
                    }
                }
            }
        }
    }
});
