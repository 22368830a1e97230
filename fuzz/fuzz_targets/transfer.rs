//! Wire bytes → zone transfers, both ways. Out: the bytes as a TCP request frame to
//! `dns::xfr::transfer` on the default zone with transfers allowed from anywhere (AXFR, IXFR
//! with any SOA, signed requests with unknown keys); every frame it writes must parse as a
//! DNS message. In: the bytes as the framed reply messages of a primary, read by
//! `xfr::inbound::decode` as AXFR and as IXFR. Nothing may panic.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::LazyLock;

use gslbd::config::{self, Snapshot};
use gslbd::dns::xfr::transfer;
use gslbd::xfr::inbound::decode;
use hickory_proto::op::Message;
use hickory_proto::rr::Name;
use libfuzzer_sys::fuzz_target;

static SNAP: LazyLock<Snapshot> = LazyLock::new(|| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[[zone]]\norigin = \"gslb.example.com.\"\nfile = \"{}\"\n\
         allow_transfer = [{{ networks = [\"0.0.0.0/0\"] }}]\n",
        root.join("zones/gslb.example.com.zone").display()
    );
    let file = config::parse_config(&root.join("fuzz-transfer.toml"), &text).expect("config");
    config::build(file).expect("snapshot")
});

fuzz_target!(|data: &[u8]| {
    let mut frames = Vec::new();
    let _ = transfer(&*SNAP, data, IpAddr::V4(Ipv4Addr::LOCALHOST), &mut frames);
    let mut at = 0;
    while at + 2 <= frames.len() {
        let len = usize::from(u16::from_be_bytes([frames[at], frames[at + 1]]));
        let msg = &frames[at + 2..at + 2 + len];
        assert!(Message::from_vec(msg).is_ok(), "a transfer message that does not parse");
        at += 2 + len;
    }
    // As a primary's reply: frames of messages.
    let mut messages = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        messages.push(rest[2..2 + len].to_vec());
        rest = &rest[2 + len..];
    }
    let origin = Name::from_ascii("gslb.example.com.").unwrap();
    let id = messages.first().and_then(|m| m.get(..2)).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let _ = decode(&messages, &origin, id, None, 10_000);
    let _ = decode(&messages, &origin, id, Some(1), 10_000);
});
