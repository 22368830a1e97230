//! The status page in a real browser: `gslbd serve` with an admin API, `/` opened in headless
//! Chromium (through ChromeDriver, no network beyond loopback). The rendered DOM lists every
//! member with its state; a drain through the API shows on the page within one refresh; the
//! page's own drain button works with the token and is refused without it; the page loads
//! nothing from elsewhere, fits a phone's width, and screenshots are saved.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::webdriver::{Browser, chromium};
use support::*;

const TOKEN: &str = "page-test-token";

const CONFIG: &str = concat!(
    crate::admin_server_toml!(),
    r#"
[[zone]]
origin = "gslb.test."
file = "gslb.test.zone"
pools = "gslb.test.pools.toml"
"#
);

const ZONE: &str = crate::gslb_test_zone_head!();

const POOLS: &str = r#"
[names]
www = "web"
cdn = "edge"

[pool.web]
ttl = 30
degraded_ttl = 5
region_policy = "failover"
failover_order = ["east", "west"]

[pool.web.region.east]
members = [ { address = "192.0.2.1" }, { address = "192.0.2.2" }, { address = "2001:db8::1" } ]

[pool.web.region.west]
members = [ { address = "198.51.100.1" }, { address = "198.51.100.2", down = true } ]

[pool.edge]
region_policy = "failover"
failover_order = ["cdn"]

[pool.edge.region.cdn]
cname = "www.cdn.example.net."
"#;

/// (region, member, state) of every member row the page rendered.
fn rows(b: &Browser) -> BTreeSet<(String, String, String)> {
    let v = b.eval(
        "return Array.from(document.querySelectorAll('tr.member')).map(function(r){return [r.dataset.region, r.dataset.member, r.dataset.state, r.textContent];});",
    );
    let mut out = BTreeSet::new();
    for r in v.as_array().expect("an array of rows") {
        let cell = |i: usize| r[i].as_str().unwrap_or_default().to_string();
        // The state is shown as text too, not only kept in an attribute.
        assert!(cell(3).contains(&cell(2)), "row text shows the state: {r}");
        out.insert((cell(0), cell(1), cell(2)));
    }
    out
}

fn refreshes(b: &Browser) -> u64 {
    b.eval("return +document.body.dataset.refreshes;").as_u64().unwrap_or(0)
}

#[test]
fn the_status_page_shows_every_member_and_a_drain_within_one_refresh() {
    let Some((chrome, driver)) = chromium() else {
        println!("SKIP: chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let s = GslbdServer::start(
        CONFIG,
        &[("gslb.test.zone", ZONE), ("gslb.test.pools.toml", POOLS), ("admin.token", TOKEN)],
    );
    let out_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status_page");
    std::fs::create_dir_all(&out_dir).unwrap();
    let b = Browser::start(&chrome, &driver, 1920, 1080);
    let url = format!("http://{}/?refresh=1", s.admin());
    b.goto(&url);

    let s3 = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    let want: BTreeSet<_> = [
        s3("east", "192.0.2.1", "up"),
        s3("east", "192.0.2.2", "up"),
        s3("east", "2001:db8::1", "up"),
        s3("west", "198.51.100.1", "up"),
        s3("west", "198.51.100.2", "down-in-file"),
        s3("cdn", "www.cdn.example.net.", "up"),
    ]
    .into();
    assert_eq!(rows(&b), want, "every member of every pool, with its state");
    let text = b.eval("return document.body.innerText;").as_str().unwrap_or_default().to_string();
    for needle in ["zone gslb.test.", "pool web", "pool edge", "generation 1", "last reload"] {
        assert!(text.contains(needle), "the page shows '{needle}':\n{text}");
    }
    // Nothing was fetched from anywhere but gslbd itself.
    let origins = b.eval(
        "return performance.getEntriesByType('resource').map(function(e){return new URL(e.name).origin;}).concat([location.origin]);",
    );
    let here = format!("http://{}", s.admin());
    for o in origins.as_array().unwrap() {
        assert_eq!(o.as_str(), Some(here.as_str()), "the page loads only from gslbd: {origins}");
    }
    std::fs::write(out_dir.join("status-1920x1080.png"), b.screenshot()).unwrap();

    // It refreshes itself.
    let deadline = Instant::now() + Duration::from_secs(10);
    while refreshes(&b) < 1 {
        assert!(Instant::now() < deadline, "the page did not refresh itself within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Drain through the API; the next refresh shows it.
    let (code, body) =
        http(s.admin(), "POST", "/members/gslb.test/web/east/192.0.2.1/drain?reason=page%20test", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    let after_drain = refreshes(&b);
    let deadline = Instant::now() + Duration::from_secs(10);
    while refreshes(&b) < after_drain + 1 {
        assert!(Instant::now() < deadline, "no refresh within 10 s of the drain");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut want_drained = want.clone();
    want_drained.remove(&s3("east", "192.0.2.1", "up"));
    want_drained.insert(s3("east", "192.0.2.1", "drained"));
    assert_eq!(rows(&b), want_drained, "the drain shows after one refresh");
    let text = b.eval("return document.body.innerText;").as_str().unwrap_or_default().to_string();
    assert!(text.contains("page test"), "the override's reason is listed:\n{text}");
    std::fs::write(out_dir.join("status-drained-1920x1080.png"), b.screenshot()).unwrap();

    // The page's own drain button, under the API's token rules: without the token the server
    // refuses (the page shows the error), with it the member is drained.
    let click = |member: &str| {
        b.eval(&format!(
            "window.alert=function(m){{window.__alerts=(window.__alerts||[]).concat([m]);}};\
             document.querySelector('tr.member[data-member=\"{member}\"] button[data-action]').click();"
        ))
    };
    let alerts = || b.eval("return window.__alerts||[];").as_array().map(Vec::len).unwrap_or(0);
    click("192.0.2.2");
    let deadline = Instant::now() + Duration::from_secs(5);
    while alerts() == 0 {
        assert!(Instant::now() < deadline, "no error shown for a drain without the token");
        std::thread::sleep(Duration::from_millis(20));
    }
    let said = b.eval("return window.__alerts[0];").as_str().unwrap_or_default().to_string();
    assert!(said.contains("Bearer") || said.contains("token"), "the server's 401 message: {said}");
    assert!(rows(&b).contains(&s3("east", "192.0.2.2", "up")), "refused: still up");
    b.eval(&format!(
        "var t=document.getElementById('token'); t.value='{TOKEN}'; t.dispatchEvent(new Event('change'));"
    ));
    click("192.0.2.2");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !rows(&b).contains(&s3("east", "192.0.2.2", "drained")) {
        assert!(Instant::now() < deadline, "the page's drain button did not drain 192.0.2.2: {:?}", rows(&b));
        std::thread::sleep(Duration::from_millis(50));
    }
    let st: serde_json::Value = serde_json::from_str(&http(s.admin(), "GET", "/status", None).1).unwrap();
    let by_page =
        st["overrides"].as_array().unwrap().iter().any(|o| o["member"] == "192.0.2.2" && o["by"] == "status-page");
    assert!(by_page, "the override says it came from the page: {}", st["overrides"]);

    // A phone: the page is no wider than the screen (wide tables scroll inside their box).
    b.resize(390, 844);
    std::thread::sleep(Duration::from_millis(300));
    let (sw, iw) = (
        b.eval("return document.documentElement.scrollWidth;").as_u64().unwrap_or(0),
        b.eval("return window.innerWidth;").as_u64().unwrap_or(0),
    );
    assert!(sw <= iw + 1, "the page is {sw} px wide on a {iw} px screen");
    std::fs::write(out_dir.join("status-phone-390x844.png"), b.screenshot()).unwrap();
    println!("screenshots in {}", out_dir.display());
}
