//! Issue 8, with real regional tiers: three regions, each an HAProxy VIP (127.0.R.1) in front of
//! two nginx servers, all on loopback, and `gslbd serve` on top steering clients between the
//! VIPs. gslbd probes each VIP (tcp) and reads each HAProxy's stats CSV (`[feedback.NAME]`).
//!
//! ```text
//!   ECS client 10.x.y.0/24 ──► gslbd ──► A 127.0.1.1 | 127.0.2.1 | 127.0.3.1   (one per region)
//!                                 │ probe: tcp VIP:PORT every 200 ms, fall 2
//!                                 │ feedback: GET http://127.0.0.1:S/stats;csv every 200 ms
//!                                 ▼
//!        HAProxy frontend web (VIP) ─► backend web_servers ─► nginx ×2   (per region)
//! ```
//!
//! What it shows: one nginx down changes nothing at the DNS tier (L4 handles it); all nginx of a
//! region down, or its HAProxy down, moves that region's clients to the next nearest region; a
//! region held above its high watermark by a bounded load generator sheds its clients to the
//! other regions in proportion to their spare capacity (±5 percentage points); `/status` and
//! `/explain` show load, capacity and why a region sheds.
//!
//! A machine without nginx or HAProxy prints `SKIP: <reason>` and passes.
mod support;

use std::time::Duration;

use support::regional::{HeldConnections, Tiers, http_get};

/// The tier on its own: every VIP serves 200 from one of its two nginx, the stats CSV shows both
/// servers UP (`act` 2), the frontend's current sessions (`scur`) follow connections held open,
/// and HAProxy takes a stopped nginx out (`act` 1) and serves from the other.
#[test]
fn the_regional_tier_serves_and_reports_sessions_and_backends() {
    let Some(mut tiers) = Tiers::start(&["eu", "us", "ap"]) else {
        return;
    };
    for r in &tiers.regions {
        let (code, body) = http_get(r.vip, "/").unwrap_or_else(|| panic!("no answer from VIP {}", r.vip));
        assert_eq!(code, 200, "GET / through {}: {body}", r.vip);
        assert!(
            body.starts_with(&format!("{}-web", r.name)),
            "VIP {} answered {body:?}",
            r.vip
        );
        let h = r.haproxy();
        h.wait_until("both web servers UP", Duration::from_secs(5), |h| h.backends_up() == 2);
        assert_eq!(h.stat("web_servers", "web1", "status"), "UP");
        assert_eq!(h.frontend_scur(), 0, "no client holds a session yet");
        // The nginx stub_status of each server answers too (its own L7 view).
        for s in r.servers {
            let (code, body) = http_get(s, "/nginx_status").expect("stub_status");
            assert_eq!(code, 200);
            assert!(body.starts_with("Active connections:"), "{body}");
        }
    }
    // Round robin reaches both servers of a region.
    let eu = tiers.region("eu");
    let mut seen: Vec<String> = (0..4)
        .map(|_| http_get(eu.vip, "/").expect("GET").1.trim().to_string())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["eu-web1", "eu-web2"]);

    // Held connections are frontend sessions, and they go away when the generator is dropped.
    let held = HeldConnections::open(eu.vip, 7, Duration::from_secs(20));
    let took = eu
        .haproxy()
        .wait_until("scur 7", Duration::from_secs(5), |h| h.frontend_scur() == 7);
    eprintln!("scur reached 7 after {took:?}");
    drop(held);
    eu.haproxy()
        .wait_until("scur 0", Duration::from_secs(5), |h| h.frontend_scur() == 0);

    // One web server stops: HAProxy marks it DOWN (fall 2 × inter 200 ms) and the VIP still serves.
    eu.stop_nginx(0);
    let took = eu
        .haproxy()
        .wait_until("act 1", Duration::from_secs(5), |h| h.backends_up() == 1);
    eprintln!("HAProxy saw eu-web1 down after {took:?}");
    for _ in 0..4 {
        let (code, body) = http_get(eu.vip, "/").expect("VIP still answers");
        assert_eq!((code, body.trim()), (200, "eu-web2"));
    }
    eu.start_nginx(0);
    eu.haproxy()
        .wait_until("act 2 again", Duration::from_secs(5), |h| h.backends_up() == 2);
}
