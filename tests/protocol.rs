//! Protocol behaviour of `dns::respond` on the default setup, packet in and packet out:
//! header flags, EDNS (payload, BADVERS, unknown options, NSID), Client Subnet echo and
//! validation, truncation, 0x20, opcodes and classes. Knot comparisons live in knot_diff.rs;
//! these are the cases Knot does not decide for us (ECS) or that must hold byte for byte.
mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use gslbd::config::{self, Snapshot};
use gslbd::dns::{Transport, respond};
use gslbd::util::rng::SplitMix64;
use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::EdnsCode;
use support::ecs_of;

fn snapshot() -> Snapshot {
    config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("gslbd.toml")).expect("default config loads")
}

/// A raw query: header, one question, and an optional OPT with the given options.
struct Q {
    id: u16,
    flags: u16,
    name: &'static str,
    qtype: u16,
    qclass: u16,
    edns: Option<(u16, u8, u16)>, // payload, version, flags (DO = 0x8000)
    options: Vec<(u16, Vec<u8>)>,
    qdcount: Option<u16>,
}

impl Q {
    fn new(name: &'static str, qtype: RecordType) -> Q {
        Q {
            id: 0x4242,
            flags: 0x0100,
            name,
            qtype: qtype.into(),
            qclass: 1,
            edns: None,
            options: vec![],
            qdcount: None,
        }
    }
    fn edns(mut self) -> Q {
        self.edns = Some((1232, 0, 0));
        self
    }
    fn opt(mut self, code: u16, data: &[u8]) -> Q {
        self.edns.get_or_insert((1232, 0, 0));
        self.options.push((code, data.to_vec()));
        self
    }
    fn bytes(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&self.id.to_be_bytes());
        b.extend_from_slice(&self.flags.to_be_bytes());
        b.extend_from_slice(&self.qdcount.unwrap_or(1).to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(&(self.edns.is_some() as u16).to_be_bytes());
        for label in self.name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
            b.push(label.len() as u8);
            b.extend_from_slice(label.as_bytes());
        }
        b.push(0);
        b.extend_from_slice(&self.qtype.to_be_bytes());
        b.extend_from_slice(&self.qclass.to_be_bytes());
        if let Some((payload, version, flags)) = self.edns {
            b.push(0);
            b.extend_from_slice(&41u16.to_be_bytes());
            b.extend_from_slice(&payload.to_be_bytes());
            b.extend_from_slice(&[0, version]);
            b.extend_from_slice(&flags.to_be_bytes());
            let opts: Vec<u8> = self
                .options
                .iter()
                .flat_map(|(c, d)| {
                    [c.to_be_bytes().to_vec(), (d.len() as u16).to_be_bytes().to_vec(), d.clone()].concat()
                })
                .collect();
            b.extend_from_slice(&(opts.len() as u16).to_be_bytes());
            b.extend_from_slice(&opts);
        }
        b
    }
}

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

fn ask(snap: &Snapshot, q: &Q, transport: Transport) -> (Vec<u8>, Message) {
    let mut out = Vec::new();
    let w = respond(snap, &q.bytes(), CLIENT, transport, &mut out, &mut SplitMix64::new(1)).expect("a reply");
    out.truncate(w.len);
    let m = Message::from_vec(&out).expect("the reply parses");
    (out, m)
}

#[test]
fn header_flags_follow_the_query() {
    let snap = snapshot();
    let (raw, m) = ask(&snap, &Q::new("static.gslb.example.com.", RecordType::A), Transport::Udp);
    assert_eq!(m.metadata.id, 0x4242);
    assert!(m.metadata.authoritative);
    assert!(m.metadata.recursion_desired, "RD is copied");
    assert!(!m.metadata.recursion_available, "RA is never set");
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].data.to_string(), "192.0.2.10");
    assert!(m.edns.is_none(), "no OPT without one in the query");
    // RD clear and CD set: RD stays clear, CD is copied (RFC 4035 §3.1.6).
    let mut q = Q::new("static.gslb.example.com.", RecordType::A);
    q.flags = 0x0010;
    let (raw2, m2) = ask(&snap, &q, Transport::Udp);
    assert!(!m2.metadata.recursion_desired);
    assert!(m2.metadata.checking_disabled);
    assert_eq!(raw[2] & 0x80, 0x80, "QR");
    assert_eq!(raw2[3] & 0x80, 0, "RA");
}

#[test]
fn question_case_is_preserved() {
    let snap = snapshot();
    let (raw, m) = ask(&snap, &Q::new("StAtIc.GSLB.example.COM.", RecordType::A), Transport::Udp);
    assert_eq!(m.queries[0].name().to_ascii(), "StAtIc.GSLB.example.COM.");
    // The answer owner is a compression pointer to the question, so it carries the same case.
    assert_eq!(m.answers[0].name.to_ascii(), "StAtIc.GSLB.example.COM.");
    assert!(raw.windows(7).any(|w| w == b"\x06StAtIc"));
}

#[test]
fn edns_reply_advertises_1232_and_drops_unknown_options() {
    let snap = snapshot();
    let q = Q::new("gslb.example.com.", RecordType::SOA).opt(65001, b"hello");
    let (_, m) = ask(&snap, &q, Transport::Udp);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let e = m.edns.as_ref().expect("OPT in the reply");
    assert_eq!(e.max_payload(), 1232);
    assert_eq!(e.version(), 0);
    assert!(e.options().as_ref().is_empty(), "unknown option not echoed: {:?}", e.options());
}

#[test]
fn edns_version_1_gets_badvers_with_a_version_0_opt() {
    let snap = snapshot();
    let mut q = Q::new("gslb.example.com.", RecordType::SOA);
    q.edns = Some((1232, 1, 0));
    let (_, m) = ask(&snap, &q, Transport::Udp);
    assert_eq!(u16::from(m.metadata.response_code), 16, "BADVERS (16, which hickory names BADSIG)");
    assert_eq!(m.edns.as_ref().map(|e| e.version()), Some(0));
    assert!(m.answers.is_empty());
}

#[test]
fn nsid_is_returned_when_asked() {
    let snap = snapshot();
    let (_, m) = ask(&snap, &Q::new("gslb.example.com.", RecordType::SOA).opt(3, b""), Transport::Udp);
    let nsid = m.edns.as_ref().and_then(|e| e.option(EdnsCode::NSID)).expect("NSID option");
    let data: Vec<u8> = nsid.try_into().unwrap();
    assert_eq!(data, b"gslbd-default");
    let (_, m) = ask(&snap, &Q::new("gslb.example.com.", RecordType::SOA).edns(), Transport::Udp);
    assert!(m.edns.as_ref().unwrap().option(EdnsCode::NSID).is_none(), "not sent unasked");
}

#[test]
fn every_reply_to_an_ecs_query_carries_ecs_with_scope_0_for_static_data() {
    let snap = snapshot();
    let ecs = [0, 1, 24, 0, 81, 2, 69];
    for (name, qtype, rcode) in [
        ("static.gslb.example.com.", RecordType::A, ResponseCode::NoError),
        ("static.gslb.example.com.", RecordType::MX, ResponseCode::NoError),
        ("nothere.gslb.example.com.", RecordType::A, ResponseCode::NXDomain),
        ("example.org.", RecordType::A, ResponseCode::Refused),
    ] {
        let (_, m) = ask(&snap, &Q::new(name, qtype).opt(8, &ecs), Transport::Udp);
        assert_eq!(m.metadata.response_code, rcode, "{name} {qtype}");
        assert_eq!(ecs_of(&m), vec!["81.2.69.0/24/0".to_string()], "{name} {qtype}");
    }
}

#[test]
fn malformed_ecs_gets_formerr() {
    let snap = snapshot();
    for (why, data) in [
        ("address bits past the source prefix", vec![0, 1, 23, 0, 81, 2, 69]),
        ("unknown family", vec![0, 9, 24, 0, 81, 2, 69]),
        ("address longer than the prefix needs", vec![0, 1, 16, 0, 81, 2, 69]),
        ("prefix longer than the family", vec![0, 1, 40, 0, 1, 2, 3, 4, 5]),
        ("truncated option", vec![0, 1]),
    ] {
        let (_, m) = ask(&snap, &Q::new("static.gslb.example.com.", RecordType::A).opt(8, &data), Transport::Udp);
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr, "{why}");
        assert!(m.answers.is_empty(), "{why}");
    }
    let twice = Q::new("static.gslb.example.com.", RecordType::A)
        .opt(8, &[0, 1, 24, 0, 81, 2, 69])
        .opt(8, &[0, 1, 24, 0, 81, 2, 69]);
    let (_, m) = ask(&snap, &twice, Transport::Udp);
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr, "the option twice");
}

#[test]
fn opcodes_counts_and_classes() {
    let snap = snapshot();
    let mut q = Q::new("gslb.example.com.", RecordType::SOA);
    q.flags = 15 << 11;
    let (_, m) = ask(&snap, &q, Transport::Udp);
    assert_eq!(m.metadata.response_code, ResponseCode::NotImp);
    assert_eq!(m.metadata.op_code, OpCode::Unknown(15));
    let mut q = Q::new("gslb.example.com.", RecordType::SOA);
    q.qdcount = Some(2);
    let mut out = Vec::new();
    let w = respond(&snap, &q.bytes(), CLIENT, Transport::Udp, &mut out, &mut SplitMix64::new(1)).unwrap();
    assert_eq!(out[3] & 0xF, 1, "QDCOUNT 2 is FORMERR");
    assert_eq!(w.len, 12);
    let mut q = Q::new("version.bind.", RecordType::TXT);
    q.qclass = 3;
    assert_eq!(ask(&snap, &q, Transport::Udp).1.metadata.response_code, ResponseCode::Refused, "CHAOS is not served");
    for t in [RecordType::AXFR, RecordType::IXFR] {
        assert_eq!(
            ask(&snap, &Q::new("gslb.example.com.", t), Transport::Tcp).1.metadata.response_code,
            ResponseCode::Refused
        );
    }
    // Garbage and responses: a runt is dropped, a response is dropped, a bad name is FORMERR.
    assert!(respond(&snap, &[1, 2, 3], CLIENT, Transport::Udp, &mut out, &mut SplitMix64::new(1)).is_none());
    let mut resp = Q::new("gslb.example.com.", RecordType::SOA).bytes();
    resp[2] |= 0x80;
    assert!(respond(&snap, &resp, CLIENT, Transport::Udp, &mut out, &mut SplitMix64::new(1)).is_none());
    let bad = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1];
    let w = respond(&snap, &bad, CLIENT, Transport::Udp, &mut out, &mut SplitMix64::new(1)).unwrap();
    assert_eq!(out[3] & 0xF, 1, "a compression loop in the question is FORMERR");
    assert_eq!(w.len, 12);
}

#[test]
fn big_answers_truncate_to_the_client_limit_and_come_whole_over_tcp() {
    let snap = snapshot();
    let (raw, m) = ask(&snap, &Q::new("big.gslb.example.com.", RecordType::TXT), Transport::Udp);
    assert!(raw.len() <= 512);
    assert!(m.metadata.truncation, "TC set");
    assert!(m.answers.is_empty(), "no partial RRset");
    let mut small = Q::new("big.gslb.example.com.", RecordType::TXT);
    small.edns = Some((512, 0, 0x8000));
    let (raw, m) = ask(&snap, &small, Transport::Udp);
    assert!(raw.len() <= 512 && m.metadata.truncation);
    assert!(m.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok), "OPT kept, DO copied, in a truncated reply");
    let (raw, m) = ask(&snap, &Q::new("big.gslb.example.com.", RecordType::TXT).edns(), Transport::Udp);
    assert!(!m.metadata.truncation && raw.len() > 512 && raw.len() <= 1232, "fits in 1232");
    let (_, m) = ask(&snap, &Q::new("big.gslb.example.com.", RecordType::TXT), Transport::Tcp);
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 1);
}

#[test]
fn negative_answers_carry_the_soa_with_the_negative_ttl() {
    let snap = snapshot();
    for (name, qtype, rcode) in [
        ("nothere.gslb.example.com.", RecordType::A, ResponseCode::NXDomain),
        ("static.gslb.example.com.", RecordType::TXT, ResponseCode::NoError),
        ("deep.gslb.example.com.", RecordType::A, ResponseCode::NoError),
        ("x.deep.gslb.example.com.", RecordType::A, ResponseCode::NXDomain),
        ("ent.wild.gslb.example.com.", RecordType::A, ResponseCode::NoError),
        ("child.gslb.example.com.", RecordType::DS, ResponseCode::NoError),
    ] {
        let (_, m) = ask(&snap, &Q::new(name, qtype), Transport::Udp);
        assert_eq!(m.metadata.response_code, rcode, "{name}");
        assert!(m.metadata.authoritative, "{name}");
        assert!(m.answers.is_empty(), "{name}");
        assert_eq!(m.authorities.len(), 1, "{name}");
        assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
        assert_eq!(m.authorities[0].ttl, 300, "min(SOA TTL 3600, MINIMUM 300)");
    }
}

#[test]
fn wildcards_and_referrals() {
    let snap = snapshot();
    let (_, m) = ask(&snap, &Q::new("a.b.wild.gslb.example.com.", RecordType::A), Transport::Udp);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].name.to_ascii(), "a.b.wild.gslb.example.com.");
    assert_eq!(m.answers[0].data.to_string(), "192.0.2.80");
    let (_, m) = ask(&snap, &Q::new("x.ent.wild.gslb.example.com.", RecordType::A), Transport::Udp);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "the ENT blocks the wildcard (RFC 4592 §2.2.2)");
    let (_, m) = ask(&snap, &Q::new("www.child.gslb.example.com.", RecordType::A), Transport::Udp);
    assert!(!m.metadata.authoritative);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    let ns: Vec<String> = m.authorities.iter().map(|r| r.data.to_string()).collect();
    assert_eq!(ns, vec!["ns1.child.gslb.example.com.", "ns.example.net."]);
    let glue: Vec<String> = m.additionals.iter().map(|r| format!("{} {}", r.name, r.data)).collect();
    assert_eq!(glue, vec!["ns1.child.gslb.example.com. 192.0.2.100", "ns1.child.gslb.example.com. 2001:db8::100"]);
}
