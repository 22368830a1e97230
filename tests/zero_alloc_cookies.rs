//! DNS cookies cost no allocation on the UDP path: the real fast-path worker (`dns::udp::serve`
//! with gslbd's `DnsHandler`) on a loopback socket, cookies on (a secret file), RRL on; a
//! counting global allocator counts the worker thread's allocations. After a warm-up, queries
//! with a client cookie only, with a valid server cookie (echoed), with a forged one, and
//! BADCOOKIE slips under `require`, must cost exactly 0 allocations, and be answered right.
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use gslbd::config;
use gslbd::dns::rrl::Rrl;
use gslbd::dns::server::{SharedSnapshot, udp_socket};
use gslbd::dns::udp::{DnsHandler, serve};
use hickory_proto::rr::RecordType;
use support::served::{config_text, write_private};
use support::{EdnsSpec, QuerySpec, TempDir, normalise};

#[global_allocator]
static GLOBAL: support::CountingAlloc = support::CountingAlloc;

fn start_worker(dir: &TempDir, require: bool) -> SocketAddr {
    write_private(&dir.path().join("cookie.key"), b"e5e973e5a6b2a43f48e7dc849e37bfcf\n");
    let extra = format!(
        "[server.cookies]\nsecret_file = \"cookie.key\"\nrequire = {require}\n\
         [server.rrl]\nenabled = true\nresponses_per_second = 5\nslip = 1\n"
    );
    let path = dir.write("gslbd.toml", &config_text("", &extra));
    let snap = config::load(&path).expect("config loads");
    let rrl = Arc::new(Rrl::new(&snap.server.rrl));
    let shared: SharedSnapshot = Arc::new(ArcSwap::from_pointee(snap));
    let sock = udp_socket("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        support::track_this_thread();
        let e = serve(sock, DnsHandler::new(shared, rrl));
        panic!("worker stopped: {e:?}");
    });
    addr
}

fn query(id: u16, name: &str, cookie: &[u8]) -> Vec<u8> {
    let mut q = QuerySpec::new(name, RecordType::A);
    q.edns = Some(EdnsSpec { options: vec![(10, cookie.to_vec())], ..EdnsSpec::default() });
    q.to_message(id).to_vec().unwrap()
}

fn exchange(c: &UdpSocket, to: SocketAddr, q: &[u8]) -> Vec<u8> {
    c.send_to(q, to).unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = c.recv_from(&mut buf).expect("answered");
    buf[..n].to_vec()
}

fn cookie_of(reply: &[u8]) -> Vec<u8> {
    let n = normalise(reply);
    let hex = n.opt.and_then(|o| o.options.into_iter().find(|(c, _)| *c == 10)).expect("a cookie").1;
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn cookies_on_the_udp_path_allocate_nothing() {
    for require in [false, true] {
        let dir = TempDir::new("zero-alloc-cookies");
        let addr = start_worker(&dir, require);
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let client = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let valid = cookie_of(&exchange(&c, addr, &query(1, "www.gslb.example.com.", &client)));
        let mut forged = valid.clone();
        forged[23] ^= 1;
        let cases = [(client.to_vec(), "client only"), (valid.clone(), "valid"), (forged, "forged")];
        // Warm-up: each kind once, static and pooled names.
        for (ck, _) in &cases {
            for name in ["www.gslb.example.com.", "static.gslb.example.com."] {
                exchange(&c, addr, &query(2, name, ck));
            }
        }
        let before = support::tracked_allocations();
        let mut seen = [0usize; 3];
        for i in 0..600u16 {
            let (ck, what) = &cases[usize::from(i % 3)];
            let name = if i % 2 == 0 { "www.gslb.example.com." } else { "static.gslb.example.com." };
            let r = normalise(&exchange(&c, addr, &query(i, name, ck)));
            let rcode = r.full_rcode();
            match (*what, require) {
                ("valid", _) => assert!(rcode == 0 && !r.answer.is_empty(), "valid cookie answered: {r:?}"),
                // Rate limited at 5/s with slip 1: past the burst, every limited reply slips,
                // as BADCOOKIE for a client that sent a cookie (or BADCOOKIE from `require`).
                _ => assert!(rcode == 0 || rcode == 23, "{what}: {r:?}"),
            }
            if rcode == 23 {
                seen[usize::from(i % 3)] += 1;
            }
        }
        let allocs = support::tracked_allocations() - before;
        println!("require={require}: {allocs} allocations for 600 cookie queries; BADCOOKIE per kind {seen:?}");
        assert_eq!(allocs, 0, "cookie queries on the UDP worker thread (require={require})");
        assert_eq!(seen[1], 0, "a valid cookie never gets BADCOOKIE");
        assert!(seen[0] > 150 && seen[2] > 150, "{seen:?}");
    }
}
