//! The DNSSEC protocol rules of an online-signed zone, asked of gslbd directly with dig
//! (issue 15): DO=0 gets no DNSSEC record; with DO=1 each RRset comes with its RRSIG, a
//! pooled answer's original TTL being the answer's TTL and a wildcard's Labels its `*`
//! owner's; NSEC, NSEC3PARAM, RRSIG and DNSKEY queries; CDS and CDNSKEY at the apex, the same
//! DS as `gslbd dnssec ds` prints; TC over UDP with the signatures, the whole answer over TCP;
//! AD never set; CD copied (RFC 4035 §3.1.6); `gslbd check` and `gslbd dnssec keys` name the keys.
mod support;

use support::dnssec::*;

#[test]
fn dnssec_records_only_with_do_and_as_the_rfcs_say() {
    let (zone, pools) = default_zone();
    let Some(srv) = start_signed("", &zone, &pools) else { return };
    let a = srv.addr();
    let q = |args: &[&str]| dig_reply(a, &[&["+norec"], args].concat());

    // DO=0: not one RRSIG or NSEC, whatever the answer; DNSKEY is data like any other.
    for args in [
        &["www.gslb.example.com", "A", "+subnet=81.2.69.0/24"][..],
        &["static.gslb.example.com", "A"],
        &["nope.gslb.example.com", "A"],
        &["host.wild.gslb.example.com", "A"],
        &["static.gslb.example.com", "MX"],
        &["host.child.gslb.example.com", "A"],
        &["gslb.example.com", "DNSKEY"],
    ] {
        let r = q(args);
        assert!(!r.text.contains("RRSIG") && !r.text.contains("NSEC"), "DO=0 {args:?}:\n{}", r.text);
    }
    assert_eq!(q(&["gslb.example.com", "DNSKEY"]).rdata("DNSKEY").len(), 2, "a KSK and a ZSK");

    let keys = gslbd_dnssec(&srv.dir().join("gslbd.toml"), &["keys"]);
    let zsk: String = keys.lines().find(|l| l.contains(" ZSK ")).unwrap().split_whitespace().next().unwrap().into();
    let ksk: String = keys.lines().find(|l| l.contains(" KSK ")).unwrap().split_whitespace().next().unwrap().into();

    // DO=1: the pooled answer's RRSIG has the answer's TTL as original TTL, and the ZSK's tag.
    let r = q(&["+dnssec", "www.gslb.example.com", "A", "+subnet=81.2.69.0/24"]);
    let sig = &r.rrsigs(&r.answer, "A")[0];
    assert_eq!((sig[1], sig[5], sig[6], sig[7], sig[10]), ("30", "13", "4", "30", zsk.as_str()), "{}", r.text);
    assert!(!r.has("ad"), "AD is never set by an authoritative server:\n{}", r.text);
    let r = q(&["+dnssec", "static.gslb.example.com", "AAAA"]);
    assert_eq!(r.rrsigs(&r.answer, "AAAA")[0][7], "3600", "{}", r.text);
    // A wildcard answer: the RRSIG made under *.wild has 4 labels, the name asked 5.
    let r = q(&["+dnssec", "host.wild.gslb.example.com", "A"]);
    assert_eq!(r.rrsigs(&r.answer, "A")[0][6], "4", "{}", r.text);
    assert!(r.authority.iter().any(|l| l.contains(" NSEC ")), "the wildcard proof:\n{}", r.text);
    // DNSKEY signed by the KSK.
    let r = q(&["+dnssec", "gslb.example.com", "DNSKEY"]);
    assert_eq!(r.rrsigs(&r.answer, "DNSKEY")[0][10], ksk, "{}", r.text);

    // NSEC asked for: the one at the name. NSEC3PARAM: none (NSEC is used), proven.
    let r = q(&["+dnssec", "static.gslb.example.com", "NSEC"]);
    assert_eq!(r.rdata("NSEC"), vec!["\\000.static.gslb.example.com. A AAAA RRSIG NSEC"], "{}", r.text);
    assert_eq!(r.rrsigs(&r.answer, "NSEC").len(), 1, "{}", r.text);
    let r = q(&["+dnssec", "gslb.example.com", "NSEC3PARAM"]);
    assert!(r.status == "NOERROR" && r.answer.is_empty(), "{}", r.text);
    let apex_nsec = r.authority.iter().find(|l| l.contains(" NSEC ")).expect("the apex NSEC");
    for t in ["NS SOA MX TXT", "DNSKEY", "CDS CDNSKEY"] {
        assert!(apex_nsec.contains(t), "{apex_nsec}");
    }
    assert!(!apex_nsec.contains("NSEC3PARAM"), "{apex_nsec}");
    let r = q(&["+dnssec", "static.gslb.example.com", "RRSIG"]);
    assert!(!r.answer.is_empty() && r.answer.iter().all(|l| l.contains(" RRSIG ")), "{}", r.text);

    // CDS and CDNSKEY name the KSK; the CDS is the DS `gslbd dnssec ds` prints.
    let ds = gslbd_dnssec(&srv.dir().join("gslbd.toml"), &["ds", "gslb.example.com"]);
    let ds_rdata: String = ds.lines().next().unwrap().split_whitespace().skip(4).collect::<Vec<_>>().join(" ");
    let r = q(&["+dnssec", "gslb.example.com", "CDS"]);
    assert_eq!(r.rdata("CDS").iter().map(|s| s.replace(' ', "")).collect::<Vec<_>>(), vec![ds_rdata.replace(' ', "")]);
    assert_eq!(r.rrsigs(&r.answer, "CDS")[0][10], ksk, "signed by the KSK:\n{}", r.text);
    let r = q(&["gslb.example.com", "CDNSKEY"]);
    let dnskeys = q(&["gslb.example.com", "DNSKEY"]).rdata("DNSKEY");
    let ksk_key: Vec<String> = dnskeys.into_iter().filter(|k| k.starts_with("257 ")).collect();
    assert_eq!(r.rdata("CDNSKEY"), ksk_key);

    // Truncation keeps RRsets and their signatures together: TC over 512-byte UDP, all over TCP.
    let r = q(&["+dnssec", "+bufsize=512", "+ignore", "big.gslb.example.com", "TXT"]);
    assert!(r.has("tc"), "{}", r.text);
    let r = q(&["+dnssec", "+tcp", "big.gslb.example.com", "TXT"]);
    assert!(!r.has("tc") && r.rrsigs(&r.answer, "TXT").len() == 1, "{}", r.text);

    // AD asked for is not set; CD is copied.
    let r = q(&["+dnssec", "+adflag", "+cdflag", "static.gslb.example.com", "A"]);
    assert!(!r.has("ad") && r.has("cd"), "{}", r.text);

    // gslbd check says the zone is signed and with which keys.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gslbd"))
        .args(["check", "--config"])
        .arg(srv.dir().join("gslbd.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("1 signed online"), "{text}");
    assert!(text.contains(&format!("{ksk} KSK ECDSAP256SHA256 active")), "{text}");
    assert!(text.contains(&format!("{zsk} ZSK ECDSAP256SHA256 active")), "{text}");
}
