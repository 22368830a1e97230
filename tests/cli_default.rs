//! "A fresh clone works": `gslbd serve` with no options, run from the repository root, serves
//! the default zone from `gslbd.toml` on 127.0.0.1:5300 and [::1]:5300.
//!
//! Checked with `dig` when it is installed (what a user would type), and always with the
//! test's own client too.

mod support;

use std::net::SocketAddr;
use std::process::Command;

use hickory_proto::rr::RecordType;
use support::*;

const SOA: &str =
    "gslb.example.com. 3600 IN SOA ns1.gslb.example.com. hostmaster.gslb.example.com. 2026112101 7200 900 1209600 300";

#[test]
fn serve_without_options_uses_default_config_on_5300() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gslbd"));
    cmd.arg("serve").current_dir(env!("CARGO_MANIFEST_DIR"));
    let mut proc = Proc::spawn(cmd);
    let addrs = wait_listening(&mut proc, 2, "gslbd serve (no options)");
    let v4: SocketAddr = "127.0.0.1:5300".parse().unwrap();
    let v6: SocketAddr = "[::1]:5300".parse().unwrap();
    assert!(addrs.contains(&v4) && addrs.contains(&v6), "default listen addresses: {addrs:?}");

    // Our own client, over both addresses and both transports.
    let q = QuerySpec::new("gslb.example.com.", RecordType::SOA).to_message(0x5300).to_vec().unwrap();
    for addr in [v4, v6] {
        for (transport, reply) in [("udp", exchange_udp(addr, &q)), ("tcp", exchange_tcp(addr, &q))] {
            let n = normalise(&reply);
            assert_eq!(n.rcode_name(), "NOERROR", "{transport} {addr}:\n{n}");
            assert_eq!(n.flags, ["qr", "aa"], "{transport} {addr}:\n{n}");
            assert_eq!(n.answer, [SOA], "{transport} {addr}:\n{n}");
        }
    }

    // dig, the way the README tells a user to try it.
    let dig = Command::new("dig")
        .args(["@127.0.0.1", "-p", "5300", "gslb.example.com", "SOA", "+norec", "+time=2", "+tries=1"])
        .output();
    match dig {
        Err(e) => {
            eprintln!("SKIP (dig part): dig not runnable ({e}); apt-get install bind9-dnsutils")
        }
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "dig failed: {text}{}", String::from_utf8_lossy(&out.stderr));
            assert!(text.contains("status: NOERROR"), "dig:\n{text}");
            let flags = text
                .lines()
                .find_map(|l| l.split_once(";; flags: ").map(|(_, r)| r.split(';').next().unwrap_or("").to_string()))
                .unwrap_or_else(|| panic!("no flags line in dig output:\n{text}"));
            let flags: Vec<&str> = flags.split_whitespace().collect();
            assert!(flags.contains(&"aa") && !flags.contains(&"ra"), "dig flags {flags:?}:\n{text}");
            let soa_line = text
                .lines()
                .find(|l| !l.starts_with(';') && l.contains("\tSOA\t"))
                .unwrap_or_else(|| panic!("no SOA record in dig answer:\n{text}"));
            let fields: Vec<&str> = soa_line.split_whitespace().collect();
            assert_eq!(fields, SOA.split_whitespace().collect::<Vec<_>>(), "dig SOA line");
        }
    }
    drop(proc); // killed and reaped by the Drop guard
}

/// The same default setup through the harness (`start_default`: config and zones copied
/// to a temp dir, listen rewritten to 127.0.0.1:0): the SOA answer and the configured NSID.
#[test]
fn default_config_on_any_port() {
    let server = GslbdServer::start_default();
    let mut spec = QuerySpec::new("gslb.example.com.", RecordType::SOA);
    spec.edns = Some(EdnsSpec { options: vec![(3, Vec::new())], ..EdnsSpec::default() });
    let n = normalise(&exchange_udp(server.addr(), &spec.to_message(0x5301).to_vec().unwrap()));
    assert_eq!(n.rcode_name(), "NOERROR", "{n}");
    assert_eq!(n.flags, ["qr", "aa"], "{n}");
    assert_eq!(n.answer, [SOA], "{n}");
    let opt = n.opt.as_ref().unwrap_or_else(|| panic!("no OPT in reply to an EDNS query:\n{n}"));
    assert_eq!(opt.options, [(3, hex(b"gslbd-default"))], "NSID from gslbd.toml:\n{n}");
}
