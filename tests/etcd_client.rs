//! The fleet's etcd client (`gslbd::cluster::etcd`, etcd's v3 JSON gateway) against a real
//! etcd member, with etcdctl as the oracle: conditional writes (the `If-Match` guard), lease
//! expiry, a watch that resumes across a restart with every write once and in order, a watch
//! that re-lists after compaction; and servers that are not etcd: errors, never panics, never
//! a body read past its bound.
// Black-box timing of real processes: wall-clock time is what is measured here.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::time::{Duration, Instant};

use gslbd::cluster::etcd::{Client, ClientConfig, Error, EventKind, TxnOutcome, Watch, WatchItem};
use support::fleet::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn client(urls: Vec<String>) -> Client {
    let mut c = ClientConfig::new(urls);
    c.timeout = Duration::from_secs(3);
    c.attempt_timeout = Duration::from_secs(1);
    c.connect_timeout = Duration::from_millis(500);
    c.watch_idle_check = Duration::from_secs(1);
    c.max_response_bytes = 64 * 1024;
    Client::new(c).unwrap()
}

async fn next_item(w: &mut Watch) -> WatchItem {
    tokio::time::timeout(Duration::from_secs(10), w.next()).await.expect("a watch item within 10 s").expect("open")
}

/// (kind, key, value, revision) of the next `n` events; the other items go to `seen`.
async fn events(w: &mut Watch, n: usize, seen: &mut Vec<WatchItem>) -> Vec<(EventKind, String, String, i64)> {
    let mut out = Vec::new();
    while out.len() < n {
        match next_item(w).await {
            WatchItem::Events { events, .. } => {
                let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                out.extend(events.into_iter().map(|e| (e.kind, s(&e.kv.key), s(&e.kv.value), e.kv.mod_revision)));
            }
            other => seen.push(other),
        }
    }
    out
}

/// Moves the member to another client port (kill, restart there), so that the watcher cannot
/// reach it while etcdctl writes; `back` returns it to its own port.
fn away(etcd: &mut Etcd) -> u16 {
    let port = etcd.members[0].client_port;
    etcd.members[0].kill();
    etcd.members[0].client_port = fresh_port();
    etcd.members[0].spawn();
    etcd.wait_healthy(Duration::from_secs(10));
    port
}

fn back(etcd: &mut Etcd, port: u16) {
    etcd.members[0].kill();
    etcd.members[0].client_port = port;
    etcd.members[0].spawn();
    etcd.wait_healthy(Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_writes_and_leases_agree_with_etcdctl() {
    if skip_without_etcd("etcd client: txn and leases") {
        return;
    }
    let etcd = Etcd::start(1);
    let cl = client(etcd.urls());
    let k = b"/c/weight";
    let TxnOutcome::Written { revision: r1 } = cl.txn_put_if(k, b"v1", 0, None).await.unwrap() else {
        panic!("create-if-absent writes")
    };
    match cl.txn_put_if(k, b"v2", 0, None).await.unwrap() {
        TxnOutcome::Conflict { current: Some(kv), .. } => assert_eq!((kv.value, kv.mod_revision), (b"v1".to_vec(), r1)),
        other => panic!("0 means absent: {other:?}"),
    }
    let TxnOutcome::Written { revision: r2 } = cl.txn_put_if(k, b"v2", r1, None).await.unwrap() else {
        panic!("the matching revision writes")
    };
    assert!(matches!(cl.txn_put_if(k, b"v3", r1, None).await.unwrap(), TxnOutcome::Conflict { .. }), "stale");
    assert_eq!(etcd.ctl(&["get", "--print-value-only", "/c/weight"]).trim(), "v2");
    assert!(matches!(cl.txn_delete_if(k, r1).await.unwrap(), TxnOutcome::Conflict { .. }), "stale delete");
    assert!(matches!(cl.txn_delete_if(k, r2).await.unwrap(), TxnOutcome::Written { .. }));
    assert!(etcd.keys("/c/").is_empty(), "etcdctl sees it gone");

    // A key on a 2 s lease: kept while renewed, gone within 2.5 s of the last renewal.
    let lease = cl.lease_grant(2).await.unwrap();
    let keepalive = cl.keepalive_task(lease);
    cl.put(b"/l/vote", b"up", Some(lease.id)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(etcd.keys("/l/"), vec!["/l/vote".to_string()], "renewed: still there after 3 s");
    drop(keepalive);
    let dropped = Instant::now();
    while !etcd.keys("/l/").is_empty() {
        assert!(dropped.elapsed() < Duration::from_secs(4), "the key outlived its lease");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("FIGURE 2 s lease: key gone {:.2} s after renewals stopped", dropped.elapsed().as_secs_f64());
    assert!(dropped.elapsed() > Duration::from_millis(1000), "not before the lease ran out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumes_across_a_restart_with_every_write_once_in_order() {
    if skip_without_etcd("etcd client: watch resume") {
        return;
    }
    let mut etcd = Etcd::start(1);
    let cl = client(etcd.urls());
    let mut w = cl.watch(b"/k/", 0);
    let mut seen = Vec::new();
    assert!(matches!(next_item(&mut w).await, WatchItem::Connected { .. }));
    cl.put(b"/k/1", b"before", None).await.unwrap();
    assert_eq!(events(&mut w, 1, &mut seen).await[0].1, "/k/1");
    let port = away(&mut etcd);
    etcd.ctl(&["put", "/k/2", "while-away"]);
    etcd.ctl(&["put", "/k/1", "changed"]);
    back(&mut etcd, port);
    cl.put(b"/k/3", b"after", None).await.unwrap();
    let got = events(&mut w, 3, &mut seen).await;
    let kv: Vec<(&str, &str)> = got.iter().map(|(_, k, v, _)| (k.as_str(), v.as_str())).collect();
    assert_eq!(kv, vec![("/k/2", "while-away"), ("/k/1", "changed"), ("/k/3", "after")]);
    assert!(got.windows(2).all(|p| p[0].3 + 1 == p[1].3), "consecutive revisions: {got:?}");
    assert!(seen.iter().any(|i| matches!(i, WatchItem::Disconnected { .. })), "the outage was reported: {seen:?}");
    assert!(!seen.iter().any(|i| matches!(i, WatchItem::Reset { .. })), "no re-list was needed: {seen:?}");
    assert!(tokio::time::timeout(Duration::from_millis(300), w.next()).await.is_err(), "no duplicate follows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_relists_when_its_history_was_compacted_meanwhile() {
    if skip_without_etcd("etcd client: watch after compaction") {
        return;
    }
    let mut etcd = Etcd::start(1);
    let cl = client(etcd.urls());
    let mut w = cl.watch(b"/p/", 0);
    assert!(matches!(next_item(&mut w).await, WatchItem::Connected { .. }));
    cl.put(b"/p/gone", b"x", None).await.unwrap();
    events(&mut w, 1, &mut Vec::new()).await;
    let port = away(&mut etcd);
    etcd.ctl(&["del", "/p/gone"]);
    let out = etcd.ctl(&["put", "/p/new", "z", "-w", "json"]);
    let rev = serde_json::from_str::<serde_json::Value>(&out).unwrap()["header"]["revision"].as_i64().unwrap();
    etcd.ctl(&["compact", &rev.to_string()]);
    back(&mut etcd, port);
    let (revision, kvs) = loop {
        if let WatchItem::Reset { revision, kvs } = next_item(&mut w).await {
            break (revision, kvs);
        }
    };
    assert_eq!(revision, rev);
    let state: Vec<(&[u8], &[u8])> = kvs.iter().map(|kv| (kv.key.as_slice(), kv.value.as_slice())).collect();
    assert_eq!(state, vec![(&b"/p/new"[..], &b"z"[..])], "the deleted key is not in the new view");
}

/// A loopback server that answers every request with `reply`, then (if `endless`) streams
/// chunks until the client hangs up or 64 MiB were sent.
async fn not_etcd(reply: &'static [u8], endless: bool) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                if s.write_all(reply).await.is_err() {
                    return;
                }
                for _ in 0..(if endless { 16_384 } else { 0 }) {
                    let chunk = [&b"1000\r\n"[..], &[b'x'; 4096], b"\r\n"].concat();
                    if s.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_that_are_not_etcd_get_bounded_errors() {
    const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let cases: [(&str, &[u8], bool); 5] = [
        ("not json", b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!", false),
        ("huge length", b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n{", false),
        ("endless body", CHUNKED, true),
        ("html 502", b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 11\r\n\r\n<html>x</a>", false),
        ("not http", b"SSH-2.0-OpenSSH_9.2\r\n\r\n", false),
    ];
    for (name, reply, endless) in cases {
        let cl = client(vec![not_etcd(reply, endless).await]);
        let t = Instant::now();
        let e = tokio::time::timeout(Duration::from_secs(8), cl.range(b"/x/")).await.expect("hung").expect_err(name);
        match name {
            "huge length" | "endless body" => assert_eq!(e, Error::TooLarge { limit: 64 * 1024 }, "{name}"),
            "not json" | "html 502" => assert!(matches!(e, Error::Protocol(_)), "{name}: {e:?}"),
            _ => {}
        }
        assert!(t.elapsed() < Duration::from_millis(3300), "{name} took {:?}", t.elapsed());
    }
    // Nothing listening: every call fails fast.
    let cl = client(vec![format!("http://127.0.0.1:{}", fresh_port())]);
    let t = Instant::now();
    assert!(matches!(cl.put(b"k", b"v", None).await, Err(Error::Unavailable(_))));
    assert!(t.elapsed() < Duration::from_secs(1), "refused connections fail in {:?}", t.elapsed());
}
