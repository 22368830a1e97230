//! A signed transfer (issue 16, Must-show 3): gslbd signs the zone online; its AXFR carries the
//! DNSKEYs, every RRSIG and a complete NSEC chain (a secondary cannot sign), so
//! `ldns-verify-zone` (ldnsutils) and `dnssec-verify` (bind9-utils) accept the transferred
//! zone, and Knot serving it as gslbd's secondary is validated by Unbound (AD=1), also for
//! NXDOMAIN and NODATA, whose proofs now come from the chain and not from white lies. The zone
//! has `serial = "unixtime"`: the SOA gslbd re-signs with the new serial verifies too.
//!
//! Needs kdig and knotd (knot, knot-dnsutils); the verifiers and Unbound each SKIP alone.
// Waits on real processes are bounded by wall-clock time.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use support::dnssec::ds_anchor;
use support::validator::ValidatingUnbound;
use support::xfr::*;
use support::*;

const ORIGIN: &str = "gslb.example.com.";
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn the_transferred_zone_verifies_and_validates_behind_knot() {
    let Some(kdig) = find_program("kdig") else {
        eprintln!("SKIP: kdig not installed (apt-get install knot-dnsutils)");
        return;
    };
    let work = TempDir::new("signed-xfr");
    // api goes to secondaries as fixed addresses (transfer = static); www is omitted.
    let pools = std::fs::read_to_string(format!("{ROOT}/zones/gslb.example.com.pools.toml"))
        .unwrap()
        .replace("[pool.api]\n", "[pool.api]\ntransfer = { static = [\"198.51.100.10\", \"2001:db8:2::10\"] }\n");
    let pools = work.write("pools.toml", &pools);
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nstate_dir = \"{state}\"\n\n\
         [[zone]]\norigin = \"{ORIGIN}\"\nfile = \"{ROOT}/zones/gslb.example.com.zone\"\n\
         pools = \"{pools}\"\n\
         allow_transfer = [{{ networks = [\"127.0.0.0/8\"] }}]\nserial = \"unixtime\"\n\n[zone.dnssec]\nenabled = true\n",
        state = work.path().join("state").display(),
        pools = pools.display()
    );
    let g = GslbdServer::start(&config, &[]);
    let out = Command::new(&kdig)
        .args([
            "-p",
            &g.addr().port().to_string(),
            "@127.0.0.1",
            "AXFR",
            ORIGIN,
            "+nocomments",
            "+nostats",
            "+noheader",
        ])
        .output()
        .expect("kdig");
    let text: String = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(';'))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = work.write("axfr.zone", &text);
    let count = |t: &str| text.lines().filter(|l| l.split_whitespace().nth(3) == Some(t)).count();
    println!(
        "AXFR: {} records, {} NSEC, {} RRSIG, {} DNSKEY",
        text.lines().count(),
        count("NSEC"),
        count("RRSIG"),
        count("DNSKEY")
    );
    assert!(count("NSEC") > 10 && count("DNSKEY") >= 2, "{text}");
    // serial = "unixtime": the SOA carries the load time (signed again after the change).
    let soa_serial: u64 = text
        .lines()
        .find(|l| l.split_whitespace().nth(3) == Some("SOA"))
        .and_then(|l| l.split_whitespace().nth(6))
        .and_then(|s| s.parse().ok())
        .expect("SOA serial");
    assert!(soa_serial > 1_700_000_000, "serial {soa_serial} is not a UNIX time");
    assert!(!text.contains("www.gslb.example.com."), "a pooled name went out (transfer = omit):\n{text}");
    assert!(
        text.contains("api.gslb.example.com.") && text.contains("198.51.100.10"),
        "api (transfer = static):\n{text}"
    );
    for (tool, args) in [
        ("ldns-verify-zone", vec![file.display().to_string()]),
        ("dnssec-verify", vec!["-o".into(), ORIGIN.into(), file.display().to_string()]),
    ] {
        let Some(bin) = find_program(tool) else {
            eprintln!("SKIP: {tool} not installed");
            continue;
        };
        let o = Command::new(bin).args(&args).output().expect(tool);
        let said = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        println!("{tool}: {}", said.lines().next().unwrap_or_default());
        assert!(o.status.success(), "{tool} rejects the transferred zone:\n{said}\n{text}");
    }

    // Knot serves the transferred zone; Unbound validates it with gslbd's DS as anchor.
    let kaddr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let Some(knot) = knot_secondary(kaddr, ORIGIN, g.addr(), None) else { return };
    let knot = knot.unwrap_or_else(|e| panic!("Knot did not start: {e}"));
    assert!(
        serves(knot.addr(), ORIGIN, Duration::from_secs(10)),
        "Knot did not load the signed zone:\n{}",
        knot.stderr()
    );
    let anchor = ds_anchor(&g.dir().join("gslbd.toml"), "gslb.example.com");
    let Some(unbound) = ValidatingUnbound::start(ORIGIN, &anchor, knot.addr()) else { return };
    let mut failures = Vec::new();
    for (i, (name, t, rcode, positive)) in [
        ("static.gslb.example.com.", RecordType::A, 0, true),
        ("gslb.example.com.", RecordType::MX, 0, true),
        ("nope.gslb.example.com.", RecordType::A, 3, false),
        ("static.gslb.example.com.", RecordType::TXT, 0, false),
        ("foo.wild.gslb.example.com.", RecordType::A, 0, true),
        ("www.gslb.example.com.", RecordType::A, 3, false),
        ("api.gslb.example.com.", RecordType::AAAA, 0, true),
    ]
    .into_iter()
    .enumerate()
    {
        let mut q = QuerySpec::new(name, t);
        q.rd = true;
        q.edns = Some(EdnsSpec { flags: 0x8000, ..EdnsSpec::default() });
        let bytes = q.to_message(0x900 + i as u16).to_vec().unwrap();
        let n = normalise(&udp_raw_timeout(unbound.addr(), &bytes, Duration::from_secs(5)).expect("unbound answers"));
        println!("=== {name} {t}: {} ad={}", n.rcode_name(), n.has_flag("ad"));
        if n.full_rcode() != rcode || !n.has_flag("ad") || n.answer.is_empty() == positive {
            failures.push(format!("{name} {t}: want rcode {rcode} AD=1 answer={positive}\n{n}"));
        }
    }
    assert!(failures.is_empty(), "{}\nunbound:\n{}", failures.join("\n"), unbound.stderr());
}
