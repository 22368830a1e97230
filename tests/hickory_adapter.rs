//! hickory-server's `Server`, running gslbd's `HickoryHandler` on real loopback sockets,
//! gives the same answers as gslbd's own `respond()` for the same queries.
mod support;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use gslbd::config;
use gslbd::dns::hickory::HickoryHandler;
use gslbd::dns::server::SharedSnapshot;
use gslbd::dns::{Transport, respond};
use gslbd::util::rng::SplitMix64;
use hickory_proto::rr::RecordType;
use hickory_server::Server;
use support::*;

#[test]
fn hickory_server_with_our_handler_answers_like_respond() {
    let snap = config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("gslbd.toml")).unwrap();
    let shared: SharedSnapshot = Arc::new(ArcSwap::from_pointee(snap));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let addr = rt.block_on(async {
        // gslbd's own bind: one port for UDP and TCP, retried if TCP finds it taken.
        let mut b = gslbd::dns::server::bind("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        let udp = tokio::net::UdpSocket::from_std(b.udp.pop().unwrap()).unwrap();
        let (addr, tcp) = (b.addr, tokio::net::TcpListener::from_std(b.tcp.pop().unwrap()).unwrap());
        let mut server = Server::new(HickoryHandler::new(shared.clone()));
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 8);
        tokio::spawn(async move {
            let _ = server.block_until_done().await;
        });
        addr
    });
    let cases = [
        QuerySpec::new("gslb.example.com.", RecordType::SOA),
        QuerySpec::new("GsLb.example.com.", RecordType::NS),
        QuerySpec::new("chain.gslb.example.com.", RecordType::A),
        QuerySpec::new("x.y.wild.gslb.example.com.", RecordType::TXT),
        QuerySpec::new("nothere.gslb.example.com.", RecordType::A),
        QuerySpec::new("www.child.gslb.example.com.", RecordType::A),
        QuerySpec::new("example.org.", RecordType::A),
        QuerySpec { edns: Some(EdnsSpec::default()), ..QuerySpec::new("_sip._udp.gslb.example.com.", RecordType::SRV) },
    ];
    let mut mismatches = Vec::new();
    for (i, spec) in cases.iter().enumerate() {
        let q = spec.to_message(100 + i as u16).to_vec().unwrap();
        for (transport, got) in [(Transport::Udp, exchange_udp(addr, &q)), (Transport::Tcp, exchange_tcp(addr, &q))] {
            let mut ours = Vec::new();
            let w = respond(
                &**shared.load(),
                &q,
                IpAddr::from([127, 0, 0, 1]),
                transport,
                &mut ours,
                &mut SplitMix64::new(7),
            )
            .unwrap();
            ours.truncate(w.len);
            let d = diff("respond", &normalise(&ours), "hickory Server", &normalise(&got));
            if !d.is_empty() {
                mismatches.push(format!("{} {:?}: {}", spec.qname, transport, d.join("; ")));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
