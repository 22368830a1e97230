//! The zone loader's contract (src/zone/master) apart from the corpus: every error collected
//! with its line, bounded $INCLUDE and $GENERATE, the include semantics, the RRset TTL policy,
//! and no panic whatever the input (3000 deterministic mutations of the corpus files, loaded
//! and built into zones; the zone_file fuzz target goes further).
mod support;

use std::path::Path;

use gslbd::zone::master::{self as zoneload, Options, parse_bytes};
use gslbd::zone::{Signing, Zone};
use hickory_proto::rr::Name;
use support::TempDir;
use support::zonecheck::corpus_dir;

const HEAD: &str = "$TTL 300\n@ SOA ns hostmaster 1 7200 3600 1209600 300\n@ NS ns\nns A 192.0.2.1\n";

fn parse(text: &str) -> Result<zoneload::Loaded, Vec<zoneload::Error>> {
    parse_bytes(text.as_bytes(), Path::new("t.zone"), "example.com.", &Options::default())
}

#[test]
fn every_error_is_reported_with_its_line() {
    let text = format!(
        "{HEAD}a A 192.0.2.300\nb AAAAA ::1\nc MX 10\nd TXT \"open\ne TXT \"{}\"\nf.example.net. A 192.0.2.1\ng CNAME ns\ng A 192.0.2.2\n",
        "x".repeat(256)
    );
    let errors = parse(&text).unwrap_err();
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [5, 6, 7, 8, 9, 10, 12], "{errors:#?}");
    assert!(errors[0].message.contains("'192.0.2.300' is not an IPv4 address"));
    assert!(errors[4].message.contains("256 octets"));
    assert!(errors[5].message.contains("outside the zone"));
    assert!(errors[6].message.contains("CNAME and other data"));
    assert_eq!(errors[0].to_string(), "t.zone:5: a.example.com. A: '192.0.2.300' is not an IPv4 address");
}

#[test]
fn entries_keep_case_line_and_wire_form() {
    let l = parse(&format!("{HEAD}WwW.Sub 60 IN CNAME Target.Example.COM.\n")).unwrap();
    let e = l.entries.last().unwrap();
    assert_eq!(&*e.owner, b"\x03WwW\x03Sub\x07example\x03com\x00");
    assert_eq!(&*e.rdata, b"\x06Target\x07Example\x03COM\x00");
    assert_eq!((e.rtype, e.class, e.ttl, e.line), (5, 1, 60, 5));
    assert_eq!(zoneload::wire::target(e.rtype, &e.rdata), Some(&e.rdata[..]));
}

#[test]
fn includes_restore_origin_and_owner_keep_ttl_and_are_bounded() {
    let tmp = TempDir::new("zone-loader-inc");
    let dir = tmp.path();
    std::fs::write(dir.join("a.inc"), "$TTL 60\n@ A 192.0.2.7\nx A 192.0.2.8\n$ORIGIN elsewhere.example.com.\n")
        .unwrap();
    std::fs::write(
        dir.join("main.zone"),
        format!("{HEAD}own TXT \"t\"\n$INCLUDE a.inc sub\n  TXT \"blank owner after include\"\nafter A 192.0.2.9\n"),
    )
    .unwrap();
    let l = zoneload::load_with(&dir.join("main.zone"), "example.com.", &Options::default()).unwrap();
    let find = |o: &[u8], t: u16| l.entries.iter().find(|e| &*e.owner == o && e.rtype == t).unwrap();
    assert_eq!(find(b"\x03sub\x07example\x03com\x00", 1).ttl, 60);
    assert_eq!(find(b"\x01x\x03sub\x07example\x03com\x00", 1).file.file_name().unwrap(), "a.inc");
    let blank = l.entries.iter().filter(|e| e.rtype == 16).nth(1).unwrap();
    assert_eq!(&*blank.owner, b"\x03own\x07example\x03com\x00", "owner restored after $INCLUDE");
    assert_eq!(find(b"\x05after\x07example\x03com\x00", 1).ttl, 60, "$TTL from the include stays (NSD, BIND)");
    // A chain deeper than the limit is refused at the $INCLUDE that goes too deep.
    for i in 0..20 {
        std::fs::write(dir.join(format!("d{i}.inc")), format!("x{i} A 192.0.2.1\n$INCLUDE d{}.inc\n", i + 1)).unwrap();
    }
    std::fs::write(dir.join("deep.zone"), format!("{HEAD}$INCLUDE d0.inc\n")).unwrap();
    let opts = Options { max_include_depth: 4, ..Options::default() };
    let errors = zoneload::load_with(&dir.join("deep.zone"), "example.com.", &opts).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].message.contains("nested more than 4 deep") && errors[0].line == 2, "{errors:#?}");
    assert_eq!(errors[0].file.file_name().unwrap(), "d3.inc");
}

#[test]
fn files_are_bounded_and_includes_can_be_switched_off() {
    let opts = Options { max_file_bytes: 1 << 16, ..Options::default() };
    let text = format!("{HEAD}$INCLUDE /dev/zero\n");
    let e = parse_bytes(text.as_bytes(), Path::new("t.zone"), "example.com.", &opts).unwrap_err();
    assert!(e[0].message.contains("larger than 65536 bytes") && e[0].line == 5, "{e:#?}");
    let opts = Options { includes: false, ..Options::default() };
    let e = parse_bytes(text.as_bytes(), Path::new("t.zone"), "example.com.", &opts).unwrap_err();
    assert!(e[0].message.contains("switched off"), "{e:#?}");
}

#[test]
fn generate_is_bounded_and_matches_bind() {
    let opts = Options { max_generate: 100, ..Options::default() };
    let text = format!("{HEAD}$GENERATE 1-101 h$ A 192.0.2.1\n");
    let errors = parse_bytes(text.as_bytes(), Path::new("t.zone"), "example.com.", &opts).unwrap_err();
    assert!(errors[0].message.contains("101 records: the limit is 100"));
    let l = parse(&format!("{HEAD}$GENERATE 1-2 h${{0,2,x}} MX \"10 mail$\"\n")).unwrap();
    let mx: Vec<_> = l.entries.iter().filter(|e| e.rtype == 15).collect();
    assert_eq!(&*mx[1].owner, b"\x03h02\x07example\x03com\x00");
    assert_eq!(&*mx[1].rdata, b"\x00\x0a\x05mail2\x07example\x03com\x00");
    assert_eq!(mx[1].line, 5);
    let e = parse(&format!("{HEAD}$GENERATE 1-2 t$ TXT a$ b\n")).unwrap_err();
    assert!(e[0].message.contains("must be one token"), "{e:#?}");
}

#[test]
fn mixed_ttl_rrsets_warn_and_serve_the_last() {
    let l = parse(&format!("{HEAD}w 600 A 192.0.2.1\nW 60 A 192.0.2.2\nw 600 A 192.0.2.1\n")).unwrap();
    assert_eq!(l.warnings.len(), 1, "{:#?}", l.warnings);
    assert!(l.warnings[0].message.contains("served with the last, 600"));
    let sets = zoneload::rrsets(&l.entries);
    let w = sets.iter().find(|s| s.rtype == 1 && s.owner.eq_ignore_ascii_case(b"\x01w\x07example\x03com\x00")).unwrap();
    assert_eq!((w.ttl, w.rdatas.len(), &w.owner[..2]), (600, 2, &b"\x01w"[..]));
}

#[test]
fn nothing_panics_on_mangled_input() {
    // Deterministic mutations of every corpus file: flips, truncations and splices.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let dir = corpus_dir();
    let origin = Name::from_ascii("example.com.").unwrap();
    let mut files: Vec<Vec<u8>> = Vec::new();
    for f in std::fs::read_dir(&dir).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|x| x == "zone") {
            files.push(std::fs::read(p).unwrap());
        }
    }
    let alphabet = b" \t\n\\\"();$@.0123456789#-=,/ABCxyz\xff\x00";
    let opts = Options::default();
    for round in 0..3000 {
        let mut b = files[(next() % files.len() as u64) as usize].clone();
        for _ in 0..1 + next() % 8 {
            if b.is_empty() {
                break;
            }
            let at = (next() % b.len() as u64) as usize;
            match next() % 3 {
                0 => b[at] = alphabet[(next() % alphabet.len() as u64) as usize],
                1 => b.truncate(at),
                _ => b.insert(at, alphabet[(next() % alphabet.len() as u64) as usize]),
            }
        }
        // Relative $INCLUDEs resolve in the corpus, so mutated includes are exercised too.
        let file = dir.join(format!("fuzz-{round}.zone"));
        if let Ok(l) = parse_bytes(&b, &file, "example.com.", &opts) {
            for signing in [Signing::None, Signing::Presigned] {
                let _ = Zone::build(origin.clone(), &l.entries, signing, &file, Vec::new());
            }
        }
    }
}
