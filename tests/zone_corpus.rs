//! Issue 13's zone-file corpus (tests/fixtures/zone-corpus) judged by servers we did not write,
//! then served by gslbd.
//!
//! For every file of the corpus MANIFEST:
//! - Knot's `kzonecheck`, NSD's `nsd-checkzone` and BIND's `named-checkzone` must agree with
//!   the manifest's expectation, or the manifest must say why they disagree (each case where
//!   one of them loads a file gslbd refuses is a silent change of the data, or input an RFC
//!   forbids: the manifest names which);
//! - a file expected to fail fails in gslbd with an error naming the expected line, the line
//!   Knot names (or NSD or BIND where Knot names a node, not a line);
//! - a file expected to load loads, and is served: for every RRset of an AXFR from Knot (or NSD,
//!   or Knot serving BIND's `$GENERATE` expansion) of the same file, a gslbd server answers the
//!   owner and type with the same TTL and the same RDATA octets (with DO=1 for the pre-signed
//!   files, whose RRSIGs are compared too). Owners compare without case (Knot lowercases them);
//!   the one tolerated difference is letter case inside the RDATA names Knot and NSD lowercase.
//!
//! Needs knotd, kzonecheck, nsd, nsd-checkzone, named-checkzone and named-compilezone
//! (Debian knot, knot-dnssecutils, nsd, bind9-utils); without them it prints SKIP and passes.
mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use gslbd::zone::{Found, Signing, Zone, load_zone_with, name_from_wire, name_wire};
use hickory_proto::rr::{Name, RecordType};
use support::zonecheck::*;
use support::{GslbdServer, TempDir, exchange_tcp, hex};

/// The corpus files that hold DNSSEC records: served with `signing = "presigned"`.
const PRESIGNED: [&str; 3] = ["v12-dnssec.zone", "s01-signed-bind.zone", "s02-signed-ldns.zone"];

/// The checkers' verdicts are consistent with the manifest's expectation.
fn check_expectation(case: &CorpusCase) -> Result<String, String> {
    let k = kzonecheck(&case.origin, &case.file);
    let n = nsd_checkzone(&case.origin, &case.file);
    let b = named_checkzone(&case.origin, &case.file);
    let shown = |v: &Verdict| if v.accept { "ok".to_string() } else { format!("err{:?}", v.lines) };
    let summary = format!("knot {} nsd {} bind {}", shown(&k), shown(&n), shown(&b));
    let accepts = [k.accept, n.accept, b.accept];
    if !accepts.iter().all(|a| *a == accepts[0]) && case.note.is_empty() {
        return Err(format!("the checkers disagree ({summary}) and the manifest does not say why"));
    }
    match case.expect {
        Expect::Ok => {
            if !accepts.iter().any(|a| *a) {
                return Err(format!("expected to load, but every checker rejects it ({summary})"));
            }
            let chosen = match case.oracle.as_str() {
                "knot" => &k,
                "nsd" => &n,
                _ => &b,
            };
            if !chosen.accept {
                return Err(format!("the data oracle {} rejects it ({summary})", case.oracle));
            }
        }
        Expect::Err(line) => {
            if accepts.iter().all(|a| *a) {
                return Err(format!("expected an error, but every checker accepts it ({summary})"));
            }
            let named = if !k.accept && !k.lines.is_empty() {
                k.lines.contains(&line)
            } else {
                // Knot accepts, or names the node only (a semantic check): NSD's or BIND's line.
                n.lines.contains(&line) || b.lines.contains(&line) || (!k.accept && !case.note.is_empty())
            };
            if !named {
                return Err(format!("expected line {line} is not the line the checkers name ({summary})"));
            }
        }
    }
    Ok(summary)
}

/// (lower-case owner, type, type covered by an RRSIG) → (TTLs seen, distinct RDATA sorted).
type Sets = BTreeMap<(Vec<u8>, u16, u16), (Vec<u32>, Vec<Vec<u8>>)>;

fn covered(rr: &WireRr) -> u16 {
    if rr.rtype == 46 && rr.rdata.len() >= 2 { u16::from_be_bytes([rr.rdata[0], rr.rdata[1]]) } else { 0 }
}

fn sets_of<'r>(rrs: impl IntoIterator<Item = &'r WireRr>) -> Sets {
    let mut out = Sets::new();
    for rr in rrs {
        let e = out.entry((rr.owner.to_ascii_lowercase(), rr.rtype, covered(rr))).or_default();
        if !e.0.contains(&rr.ttl) {
            e.0.push(rr.ttl);
        }
        if !e.1.contains(&rr.rdata) {
            e.1.push(rr.rdata.clone());
        }
    }
    for v in out.values_mut() {
        v.1.sort();
    }
    out
}

/// The records the data oracle serves for an accepted file.
fn oracle_axfr(case: &CorpusCase) -> Result<Vec<WireRr>, String> {
    let dir = corpus_dir();
    let origin = wire_name(&case.origin);
    match case.oracle.as_str() {
        "knot" => XfrServer::knot(&case.origin, &dir.join(&case.file)).axfr(&origin),
        "nsd" => XfrServer::nsd(&case.origin, &dir.join(&case.file)).axfr(&origin),
        "bind" => {
            let tmp = TempDir::new("bind-compiled");
            let out = tmp.path().join("compiled.zone");
            if !named_compilezone(&case.origin, &case.file, &out) {
                return Err("named-compilezone failed".into());
            }
            XfrServer::knot(&case.origin, &out).axfr(&origin)
        }
        o => Err(format!("unknown oracle {o}")),
    }
}

/// What gslbd answers for each RRset of `theirs`: the records of that owner in any section
/// (a delegation's NS and glue come back in a referral), asked for by the RRset's type (the
/// type an RRSIG covers), and by type RRSIG for RRSIGs whose covered type has no RRset.
fn gslbd_sets(addr: SocketAddr, theirs: &Sets, dnssec: bool) -> Result<Sets, String> {
    let mut got = Vec::new();
    let mut asked: Vec<(Vec<u8>, u16)> = Vec::new();
    let mut ask = |owner: &[u8], qtype: u16, got: &mut Vec<WireRr>| -> Result<(), String> {
        if asked.iter().any(|(o, t)| o == owner && *t == qtype) {
            return Ok(());
        }
        asked.push((owner.to_vec(), qtype));
        let reply = exchange_tcp(addr, &raw_query(asked.len() as u16, owner, qtype, dnssec));
        got.extend(sections(&reply)?.concat().into_iter().filter(|r| r.owner.eq_ignore_ascii_case(owner)));
        Ok(())
    };
    for (owner, rtype, cov) in theirs.keys() {
        ask(owner, if *rtype == 46 { *cov } else { *rtype }, &mut got)?;
    }
    for (owner, _, cov) in theirs.keys().filter(|k| k.1 == 46) {
        if !got.iter().any(|r| r.rtype == 46 && covered(r) == *cov && r.owner.eq_ignore_ascii_case(owner)) {
            ask(owner, 46, &mut got)?;
        }
    }
    Ok(sets_of(&got))
}

/// Every RRset gslbd loaded, RRSIGs included, as the oracle's AXFR would list them.
fn loaded_sets(zone: &Zone) -> Sets {
    let mut rrs = Vec::new();
    for (owner, node) in zone.names() {
        for set in node.rrsets.iter().flat_map(|s| std::iter::once(s).chain(s.sigs.as_deref())) {
            for rdata in set.rdatas() {
                let (rtype, ttl) = (u16::from(set.rtype), set.ttl);
                rrs.push(WireRr { owner: name_wire(owner), rtype, class: 1, ttl, rdata: rdata.to_vec() });
            }
        }
    }
    sets_of(&rrs)
}

/// Whether gslbd may leave the RRset `key` out of its answers: occluded data below a zone
/// cut (RFC 1034 §4.2.1: loaded and transferred, never answered; the glue of a cut comes back
/// in its referrals), and the NSEC at a cut with its RRSIGs, which goes out only as a proof
/// (an NSEC query there gets the referral, from Knot as from gslbd).
fn not_answered(zone: &Zone, key: &(Vec<u8>, u16, u16)) -> bool {
    let name = name_from_wire(&key.0).expect("owner");
    match zone.find(&name, RecordType::A) {
        Found::Delegation(cut, _) if *cut != name => true,
        Found::Delegation(..) => key.1 == 47 || (key.1 == 46 && key.2 == 47),
        _ => false,
    }
}

/// Compares gslbd's RRsets with the oracle's; returns how many differ only in the letter
/// case of RDATA names Knot and NSD lowercase. `skip`: keys gslbd may leave out.
fn compare(ours: &Sets, theirs: &Sets, skip: impl Fn(&(Vec<u8>, u16, u16)) -> bool) -> Result<usize, String> {
    let mut problems = Vec::new();
    let mut case_only = 0;
    for (key, (ttls, rdatas)) in theirs {
        let what = format!("{} type {} ({})", hex(&key.0), key.1, key.2);
        let Some((our_ttls, our_rdatas)) = ours.get(key) else {
            if !skip(key) {
                problems.push(format!("{what}: the oracle serves it, gslbd does not"));
            }
            continue;
        };
        if our_ttls.len() != 1 || !ttls.iter().all(|t| *t == our_ttls[0]) {
            problems.push(format!("{what}: TTL {our_ttls:?} from gslbd, {ttls:?} from the oracle"));
        }
        if our_rdatas != rdatas {
            let fold = |v: &Vec<Vec<u8>>| {
                let mut f: Vec<Vec<u8>> = v.iter().map(|r| fold_names(key.1, r)).collect();
                f.sort();
                f
            };
            if fold(our_rdatas) == fold(rdatas) {
                case_only += 1;
            } else {
                let o: Vec<String> = our_rdatas.iter().map(|r| hex(r)).collect();
                let t: Vec<String> = rdatas.iter().map(|r| hex(r)).collect();
                problems.push(format!("{what}: RDATA differs\n   gslbd  {o:?}\n   oracle {t:?}"));
            }
        }
    }
    for key in ours.keys().filter(|k| !theirs.contains_key(*k)) {
        problems.push(format!("{} type {} ({}): gslbd has it, the oracle does not", hex(&key.0), key.1, key.2));
    }
    if problems.is_empty() { Ok(case_only) } else { Err(problems.join("\n  ")) }
}

fn gslbd_config(case: &CorpusCase) -> String {
    let signing = if PRESIGNED.contains(&case.file.as_str()) { "signing = \"presigned\"\n" } else { "" };
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[[zone]]\norigin = \"{}\"\nfile = \"{}\"\n{signing}",
        case.origin,
        corpus_dir().join(&case.file).display()
    )
}

fn run_case(case: &CorpusCase) -> Result<String, String> {
    let summary = check_expectation(case)?;
    let path = corpus_dir().join(&case.file);
    let origin = Name::from_ascii(&case.origin).unwrap();
    let signing = if PRESIGNED.contains(&case.file.as_str()) { Signing::Presigned } else { Signing::None };
    match (&case.expect, load_zone_with(&origin, &path, signing)) {
        (Expect::Ok, Err(errors)) => {
            let e: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            Err(format!("gslbd rejects it:\n  {}", e.join("\n  ")))
        }
        (Expect::Err(line), Ok(_)) => Err(format!("gslbd accepts it; expected an error on line {line}")),
        // The line of the token at fault, or the line its record begins on (NSD and BIND name
        // that one for a string that runs over several lines).
        (Expect::Err(line), Err(errors)) => match errors
            .iter()
            .find(|e| e.line == *line || e.message.ends_with(&format!("(in the record that begins on line {line})")))
        {
            Some(e) => Ok(format!("{summary} | gslbd: {e}")),
            None => {
                let e: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                Err(format!("no error names line {line}:\n  {}", e.join("\n  ")))
            }
        },
        (Expect::Ok, Ok(zone)) => {
            let theirs = sets_of(&oracle_axfr(case)?);
            // What gslbd loaded, all of it, and what it answers, all but occluded and proof-only data.
            compare(&loaded_sets(&zone), &theirs, |_| false).map_err(|e| format!("loaded data:\n  {e}"))?;
            let gslbd = GslbdServer::start(&gslbd_config(case), &[]);
            let answered = gslbd_sets(gslbd.addr(), &theirs, signing == Signing::Presigned)?;
            let answered = answered.into_iter().filter(|(k, _)| theirs.contains_key(k)).collect();
            let case_only =
                compare(&answered, &theirs, |k| not_answered(&zone, k)).map_err(|e| format!("answers:\n  {e}"))?;
            let occluded = theirs.keys().filter(|k| not_answered(&zone, k)).count();
            let records: usize = theirs.values().map(|v| v.1.len()).sum();
            Ok(format!(
                "{summary} | {} RRsets ({records} records; {occluded} occluded or proof-only) answered as {} serves them \
                 ({case_only} differ in name case only)",
                theirs.len(),
                case.oracle
            ))
        }
    }
}

#[test]
fn corpus_against_knot_nsd_and_bind() {
    if !tools_present() {
        return;
    }
    let cases = manifest();
    let listed: Vec<&str> = cases.iter().map(|c| c.file.as_str()).collect();
    for f in std::fs::read_dir(corpus_dir()).expect("corpus dir") {
        let name = f.expect("entry").file_name().to_string_lossy().into_owned();
        if name.ends_with(".zone") {
            assert!(listed.contains(&name.as_str()), "{name} is not in the MANIFEST");
        }
    }
    // Four at a time: most of the time is spent waiting for servers to start.
    let results: Vec<(String, Result<String, String>)> = std::thread::scope(|s| {
        let chunks: Vec<&[CorpusCase]> = cases.chunks(cases.len().div_ceil(4)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| s.spawn(move || chunk.iter().map(|c| (c.file.clone(), run_case(c))).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("corpus worker")).collect()
    });
    let mut failures = Vec::new();
    for (file, r) in &results {
        match r {
            Ok(report) => println!("PASS {file:30} {report}"),
            Err(e) => {
                println!("FAIL {file:30} {e}");
                failures.push(format!("{file}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} corpus files fail:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// A signed zone file is refused, at its first DNSSEC record, unless the config says it is
/// pre-signed: the zone is never served half signed.
#[test]
fn signed_files_need_signing_presigned() {
    for file in PRESIGNED {
        let path = corpus_dir().join(file);
        let origin = Name::from_ascii("example.com.").unwrap();
        let errors = load_zone_with(&origin, &path, Signing::None).expect_err(file);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].line > 0 && errors[0].message.contains("signing = \"presigned\""), "{}", errors[0]);
        assert!(load_zone_with(&origin, &path, Signing::Presigned).is_ok(), "{file}");
    }
}

/// The escape cases, checked in the octets Knot and gslbd send for the same file.
#[test]
fn escapes_on_the_wire() {
    if !tools_present() {
        return;
    }
    let case = manifest().into_iter().find(|c| c.file == "v03-escapes.zone").expect("v03 in the MANIFEST");
    let knot = XfrServer::knot(&case.origin, &corpus_dir().join(&case.file));
    let gslbd = GslbdServer::start(&gslbd_config(&case), &[]);
    let origin = wire_name("example.com.");
    let owner = |label: &[u8]| [&[label.len() as u8][..], label, &origin].concat();
    for (label, rtype, want) in [
        (&b"abc"[..], 16u16, &b"\x03ABC"[..]),
        (b"land", 16, b"\x06\xC3\x85LAND"),
        (b"sp ace", 1, &[192, 0, 2, 2]),
        (b"nul\x00l", 1, &[192, 0, 2, 3]),
        (b"dot.inlabel", 1, &[192, 0, 2, 4]),
    ] {
        let o = owner(label);
        for (who, addr) in [("knot", knot.addr()), ("gslbd", gslbd.addr())] {
            let reply = exchange_tcp(addr, &raw_query(7, &o, rtype, false));
            let answer = sections(&reply).unwrap().remove(0);
            assert_eq!(answer.len(), 1, "{who}: {:?}", String::from_utf8_lossy(label));
            assert_eq!(answer[0].rdata, want, "{who}'s RDATA for {:?}", String::from_utf8_lossy(label));
            assert_eq!(answer[0].owner, o, "{who}'s owner octets for {:?}", String::from_utf8_lossy(label));
        }
    }
    // An owner with \032 in RDATA: `mx MX 10 sp\032ace` and `target CNAME Sp\032Ace...`
    // carry the space octet inside the name, and gslbd's additional section names the MX
    // target's owner with it.
    let reply = exchange_tcp(gslbd.addr(), &raw_query(8, &owner(b"mx"), 15, false));
    let s = sections(&reply).unwrap();
    assert_eq!(s[0][0].rdata, [&[0u8, 10][..], &owner(b"sp ace")].concat());
    assert_eq!(s[2].first().map(|r| r.owner.clone()), Some(owner(b"sp ace")), "glue owner octets");
    let reply = exchange_tcp(gslbd.addr(), &raw_query(9, &owner(b"target"), 5, false));
    assert_eq!(sections(&reply).unwrap()[0][0].rdata, b"\x06Sp Ace\x07Example\x03COM\x00");
    assert!(Path::new(&corpus_dir()).join("v03-escapes.zone").exists());
}
