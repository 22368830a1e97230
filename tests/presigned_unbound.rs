//! A zone signed offline and served by gslbd validates in Unbound (issue 13, Must show 4).
//!
//! gslbd serves example.com. from the corpus's s01 (dnssec-signzone, NSEC3) and s02
//! (ldns-signzone, NSEC), and from s03 (NSEC3 with opt-out, tests/fixtures/zone-answers), with
//! `signing = "presigned"`; a validating Unbound reaches it by a stub
//! with the zone's trust anchor (the KSK's DS that dnssec-signzone wrote, keys/dsset-example.com.).
//! Positive, NXDOMAIN and NODATA answers, a wildcard answer, an empty non-terminal and a CNAME
//! come back with AD=1 (validated), but for the opt-out zone's answers whose proof is an
//! opt-out NSEC3 (insecure by RFC 5155 §9.2: AD=0 with the right rcode and data); with a
//! wrong anchor the same queries are SERVFAIL, which shows the AD bits are Unbound's verdict.
//!
//! The signatures are valid from 2024-01-01 to 2035-01-01 (corpus sign-src/README).
//! Needs unbound (Debian unbound); without it the test prints SKIP and passes.
mod support;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use support::validator::ValidatingUnbound;
use support::zonecheck::corpus_dir;
use support::{EdnsSpec, GslbdServer, QuerySpec, normalise, udp_raw_timeout};

/// (query name, type, rcode, whether the answer section has records, whether the proof
/// rests on an NSEC3 record's next-closer cover: in an opt-out zone every such record has the
/// opt-out flag, and RFC 5155 §9.2 makes the answer insecure, AD=0, though not bogus).
const QUERIES: &[(&str, RecordType, ResponseCode, bool, bool)] = &[
    ("www.example.com.", RecordType::A, ResponseCode::NoError, true, false),
    ("example.com.", RecordType::MX, ResponseCode::NoError, true, false),
    ("nope.example.com.", RecordType::A, ResponseCode::NXDomain, false, true),
    ("zzz.example.com.", RecordType::TXT, ResponseCode::NXDomain, false, true),
    ("www.example.com.", RecordType::MX, ResponseCode::NoError, false, false),
    ("example.com.", RecordType::AAAA, ResponseCode::NoError, false, false),
    ("c.ent.example.com.", RecordType::A, ResponseCode::NoError, false, false),
    ("x.wild.example.com.", RecordType::A, ResponseCode::NoError, true, true),
    ("x.wild.example.com.", RecordType::TXT, ResponseCode::NoError, false, true),
    ("alias.example.com.", RecordType::A, ResponseCode::NoError, true, false),
    ("insecure.example.com.", RecordType::DS, ResponseCode::NoError, false, true),
];

/// The KSK's DS as dnssec-signzone wrote it, one line of presentation form.
fn trust_anchor() -> String {
    let text = std::fs::read_to_string(corpus_dir().join("keys/dsset-example.com.")).expect("dsset");
    let f: Vec<&str> = text.split_whitespace().collect();
    // example.com. IN DS 47867 13 2 HEX HEX
    assert_eq!((f[1], f[2]), ("IN", "DS"), "{text}");
    format!("{} DS {} {} {} {}", f[0], f[3], f[4], f[5], f[6..].concat())
}

fn resolve(unbound: &ValidatingUnbound, qname: &str, qtype: RecordType, id: u16) -> support::Normal {
    let mut q = QuerySpec::new(qname, qtype);
    q.rd = true;
    q.edns = Some(EdnsSpec { flags: 0x8000, ..EdnsSpec::default() });
    let bytes = q.to_message(id).to_vec().unwrap();
    let reply = udp_raw_timeout(unbound.addr(), &bytes, std::time::Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no answer from unbound for {qname} {qtype}\n{}", unbound.stderr()));
    normalise(&reply)
}

/// `opt_out`: the zone's NSEC3 chain is opt-out (see [`QUERIES`]).
fn validates(zone_file: std::path::PathBuf, opt_out: bool) {
    let file = zone_file.file_name().unwrap().to_string_lossy().into_owned();
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[[zone]]\norigin = \"example.com.\"\nfile = \"{}\"\nsigning = \"presigned\"\n",
        zone_file.display()
    );
    let gslbd = GslbdServer::start(&config, &[]);
    let Some(unbound) = ValidatingUnbound::start("example.com.", &trust_anchor(), gslbd.addr()) else { return };
    let mut failures = Vec::new();
    for (i, (qname, qtype, rcode, positive, next_closer)) in QUERIES.iter().enumerate() {
        let n = resolve(&unbound, qname, *qtype, 0x600 + i as u16);
        println!("=== {file}: {qname} {qtype}\n{n}");
        let ad = !(opt_out && *next_closer);
        let ok = n.full_rcode() == u16::from(*rcode) && n.has_flag("ad") == ad && n.answer.is_empty() != *positive;
        if !ok {
            failures.push(format!("{qname} {qtype}: expected {rcode} with AD={} (answer: {positive})\n{n}", ad as u8));
        }
    }
    assert!(
        failures.is_empty(),
        "{file}: {} answers did not validate:\n{}\nunbound log:\n{}",
        failures.len(),
        failures.join("\n"),
        unbound.stderr()
    );

    // The same queries with a wrong anchor (one digest octet changed): bogus, SERVFAIL.
    let wrong = trust_anchor().replacen("F913", "F914", 1);
    let Some(unbound) = ValidatingUnbound::start("example.com.", &wrong, gslbd.addr()) else { return };
    for (i, (qname, qtype, ..)) in QUERIES.iter().enumerate().take(3) {
        let n = resolve(&unbound, qname, *qtype, 0x700 + i as u16);
        assert_eq!(n.rcode_name(), "SERVFAIL", "{file}: with a wrong trust anchor {qname} {qtype} must be bogus\n{n}");
        assert!(!n.has_flag("ad"));
    }
}

#[test]
fn nsec3_zone_signed_by_dnssec_signzone_validates() {
    validates(corpus_dir().join("s01-signed-bind.zone"), false);
}

#[test]
fn nsec_zone_signed_by_ldns_signzone_validates() {
    validates(corpus_dir().join("s02-signed-ldns.zone"), false);
}

#[test]
fn nsec3_opt_out_zone_validates() {
    let zone =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zone-answers/s03-nsec3-optout.zone");
    validates(zone, true);
}
