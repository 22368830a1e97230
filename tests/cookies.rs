//! DNS cookies (RFC 7873, RFC 9018 server cookies) served by gslbd, judged by dig (BIND 9.18)
//! and kdig (Knot 3.2), ISC genreport's cookie tests, and RRL at 5/s: a client with a valid
//! cookie gets every answer while a cookieless spoofer in its /24 is limited.
//! Tools missing: each test prints SKIP and passes.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use support::served::{Served, config_text, cookie_in, explain_of, have, write_private};
use support::{EdnsSpec, QuerySpec, TempDir, normalise};

const SECRET: &str = "e5e973e5a6b2a43f48e7dc849e37bfcf";
const NEXT_SECRET: &str = "445536bcd2513298075a5d379663c962";

fn start(dir: &TempDir, cookies: &str, rrl: &str) -> Served {
    let secret = dir.path().join("cookie.key");
    write_private(&secret, format!("# cookie secret\n{SECRET}\n").as_bytes());
    let extra = format!("[server.cookies]\nsecret_file = \"cookie.key\"\n{cookies}\n{rrl}");
    Served::start(dir, &config_text("", &extra))
}

/// dig or kdig against the server, bounded (2 s, one try); stdout.
fn ask(tool: &str, to: SocketAddr, args: &[&str]) -> String {
    let mut cmd = Command::new(tool);
    cmd.args([&format!("@{}", to.ip()), "-p", &to.port().to_string()]);
    if tool == "dig" {
        cmd.args(["+time=2", "+tries=1", "+norec"]);
    } else {
        cmd.args(["+timeout=2", "+retry=0", "+norec"]);
    }
    let out = cmd.args(args).output().expect("run the tool");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dig_and_kdig_learn_a_cookie_that_verifies_on_the_next_query() {
    if !have("dig") || !have("kdig") {
        return;
    }
    let dir = TempDir::new("cookies-dig");
    let s = start(&dir, "", "");
    for tool in ["dig", "kdig"] {
        let first = ask(tool, s.udp, &["+cookie", "www.gslb.example.com", "A", "+subnet=81.2.69.0/24"]);
        assert!(first.contains("status: NOERROR") && first.contains("198.51.100."), "{tool}: {first}");
        let cookie = cookie_in(&first).unwrap_or_else(|| panic!("{tool}: no cookie in {first}"));
        assert_eq!(cookie.len(), 48, "8-byte client + 16-byte RFC 9018 server cookie: {first}");
        assert_eq!(&cookie[16..18], "01", "RFC 9018 version 1");
        if tool == "dig" {
            assert!(first.contains("(good)"), "dig checks its client cookie came back: {first}");
        }
        // Sent back: it verifies, and a fresh cookie comes back unchanged (RFC 7873 §5.2.5).
        let second = ask(tool, s.udp, &[&format!("+cookie={cookie}"), "static.gslb.example.com", "A"]);
        assert!(second.contains("status: NOERROR") && second.contains("192.0.2.10"), "{tool}: {second}");
        assert_eq!(cookie_in(&second).as_deref(), Some(cookie.as_str()), "{tool}: the valid cookie is echoed");
        // Over TCP too (a stream never gets BADCOOKIE, but learns a cookie).
        let tcp = ask(tool, s.udp, &["+tcp", "+cookie", "static.gslb.example.com", "A"]);
        assert!(tcp.contains("status: NOERROR") && cookie_in(&tcp).is_some_and(|c| c.len() == 48), "{tcp}");
    }
    // A forged hash does not verify: answered (default policy) with a fresh cookie.
    let first = ask("dig", s.udp, &["+cookie", "static.gslb.example.com", "A"]);
    let mut forged = cookie_in(&first).unwrap().into_bytes();
    forged[47] = if forged[47] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    let out = ask("dig", s.udp, &[&format!("+cookie={forged}"), "+nobadcookie", "static.gslb.example.com", "A"]);
    assert!(out.contains("status: NOERROR"), "{out}");
    let back = cookie_in(&out).unwrap();
    assert!(back.starts_with(&forged[..16]) && back != forged, "a fresh server cookie replaces the forged one: {out}");
    // No cookie: none back.
    let plain = ask("dig", s.udp, &["+nocookie", "static.gslb.example.com", "A"]);
    assert!(cookie_in(&plain).is_none(), "{plain}");
    // RFC 7873 §5.2.2: a 5-byte COOKIE option is FORMERR; §5.4: QDCOUNT=0 gets a cookie.
    let out = ask("dig", s.udp, &["+nocookie", "+ednsopt=10:0102030405", "static.gslb.example.com", "A"]);
    assert!(out.contains("status: FORMERR"), "{out}");
    let out = ask("dig", s.udp, &["+cookie", "+header-only"]);
    assert!(out.contains("status: NOERROR") && cookie_in(&out).is_some_and(|c| c.len() == 48), "{out}");
}

#[test]
fn require_makes_udp_clients_retry_with_the_cookie_as_dig_and_kdig_do() {
    if !have("dig") || !have("kdig") {
        return;
    }
    let dir = TempDir::new("cookies-require");
    let s = start(&dir, "require = true", "");
    for tool in ["dig", "kdig"] {
        // dig retries on BADCOOKIE by default; kdig with +badcookie.
        let out = ask(tool, s.udp, &["+cookie", "+badcookie", "static.gslb.example.com", "A"]);
        assert!(out.contains("status: NOERROR") && out.contains("192.0.2.10"), "{tool} retried: {out}");
        let out = ask(tool, s.udp, &["+cookie", "+nobadcookie", "static.gslb.example.com", "A"]);
        assert!(out.contains("BADCOOKIE") && !out.contains("192.0.2.10"), "{tool}: {out}");
        assert_eq!(cookie_in(&out).map(|c| c.len()), Some(48), "BADCOOKIE carries a fresh cookie: {out}");
    }
    // No cookie at all is answered (RFC 7873 §5.2.1), and TCP never gets BADCOOKIE.
    let out = ask("dig", s.udp, &["+nocookie", "static.gslb.example.com", "A"]);
    assert!(out.contains("status: NOERROR"), "{out}");
    let out = ask("dig", s.udp, &["+tcp", "+cookie", "+nobadcookie", "static.gslb.example.com", "A"]);
    assert!(out.contains("status: NOERROR") && out.contains("192.0.2.10"), "{out}");
}

/// (genreport test name, dig arguments from genreport's table, zone = gslb.example.com).
const GENREPORT: &[(&str, &str)] = &[
    ("ednscookie", "+edns=0 +noad +norec +cookie=0102030405060708 SOA gslb.example.com"),
    ("edns1cookie", "+edns=1 +noednsneg +noad +norec +cookie=0102030405060708 SOA gslb.example.com"),
    ("optlist", "+edns=0 +noad +norec +nsid +subnet=0.0.0.0/0 +expire +cookie=0102030405060708 SOA gslb.example.com"),
    ("bind11", "+edns=0 +cookie=0102030405060708 +noad +norec +dnssec SOA gslb.example.com"),
    ("dig11", "+edns=0 +cookie=0102030405060708 +ad +rec SOA gslb.example.com"),
];

/// genreport's verdict on one reply (its response checker): the failure tags, empty = ok.
fn genreport_tags(test: &str, out: &str) -> Vec<String> {
    let field = |key: &str| out.split(key).nth(1).map(|r| r.split([',', ';', '\n']).next().unwrap_or("").trim());
    let status = field("status: ").unwrap_or("").to_string();
    let flags: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with(";; flags:"))
        .map(|l| l.trim_start_matches(";; flags:").split(';').next().unwrap_or("").split_whitespace().collect())
        .unwrap_or_default();
    let version = out
        .lines()
        .find(|l| l.starts_with("; EDNS: version:"))
        .and_then(|l| l.split_whitespace().nth(3)?.trim_end_matches(',').parse::<u8>().ok());
    let cookie = cookie_in(out);
    let soa_in_answer = out
        .lines()
        .skip_while(|l| !l.starts_with(";; ANSWER SECTION:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .any(|l| l.split_whitespace().nth(3) == Some("SOA"));
    let mut tags = Vec::new();
    let v1 = test == "edns1cookie";
    let cookie_seen = cookie.as_ref().is_some_and(|c| (32..=80).contains(&c.len()));
    if !v1 && status != "NOERROR" && !(status == "BADCOOKIE" && cookie_seen) {
        tags.push(status.to_lowercase());
    }
    if v1 && status != "BADVERS" {
        tags.push(status.to_lowercase());
    }
    match version {
        None => tags.push("noopt".into()),
        Some(v) if v != 0 => tags.push("version-not-zero".into()),
        _ => {}
    }
    if cookie_seen && !cookie.as_deref().unwrap_or("").starts_with("0102030405060708") {
        tags.push("cookie-mismatch".into());
    }
    if out.lines().any(|l| l.starts_with("; MBZ:")) {
        tags.push("mbz".into());
    }
    let has = |f: &str| flags.contains(&f);
    if !v1 && status == "NOERROR" && !soa_in_answer {
        tags.push("nosoa".into());
    }
    if soa_in_answer && (v1 || status != "NOERROR") {
        tags.push("soa".into());
    }
    if !v1 && status == "NOERROR" && !has("aa") {
        tags.push("noaa".into());
    }
    if has("rd") != (test == "dig11") {
        tags.push("rd".into());
    }
    if has("ad") && test != "dig11" && test != "bind11" {
        tags.push("ad".into());
    }
    tags
}

#[test]
fn genreport_cookie_tests_pass() {
    if !have("dig") {
        return;
    }
    for require in [false, true] {
        let dir = TempDir::new("cookies-genreport");
        let s = start(&dir, &format!("require = {require}"), "");
        for (test, args) in GENREPORT {
            // genreport sends once and never retries: +nobadcookie keeps dig to that.
            let mut a = vec!["+nobadcookie"];
            a.extend(args.split_whitespace());
            let out = ask("dig", s.udp, &a);
            let tags = genreport_tags(test, &out);
            assert!(tags.is_empty(), "require={require} genreport {test}: {tags:?}\n{out}");
            if *test != "edns1cookie" {
                let want = if require { "status: BADCOOKIE" } else { "status: NOERROR" };
                assert!(out.contains(want) && cookie_in(&out).is_some(), "{test}: {out}");
            }
        }
    }
}

fn query(id: u16, cookie: Option<&[u8]>) -> Vec<u8> {
    let mut q = QuerySpec::new("static.gslb.example.com.", RecordType::A);
    let mut e = EdnsSpec::default();
    if let Some(c) = cookie {
        e.options.push((10, c.to_vec()));
    }
    q.edns = Some(e);
    q.to_message(id).to_vec().unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// What a burst of replies came to.
#[derive(Debug, Default)]
struct Tally {
    answered: usize,
    truncated: usize,
    badcookie: usize,
    none: usize,
}

/// Sends the queries in runs of 100, reading the replies to each run until 50 ms pass without
/// one, then the stragglers until 300 ms pass without one (bounded). A run of 100 never fills
/// the client's receive buffer (~250 small datagrams): with the whole burst sent at once, a
/// server that answers faster than this client reads overflows it and replies are lost.
fn burst(sock: &UdpSocket, to: SocketAddr, queries: &[Vec<u8>]) -> Tally {
    let mut t = Tally::default();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = 0;
    for (run, wait) in queries.chunks(100).map(|c| (c, 50)).chain([(&queries[..0], 300)]) {
        for q in run {
            sock.send_to(q, to).unwrap();
        }
        sock.set_read_timeout(Some(Duration::from_millis(wait))).unwrap();
        while got < queries.len() && Instant::now() < deadline {
            let Ok((n, _)) = sock.recv_from(&mut buf) else { break };
            got += 1;
            let r = normalise(&buf[..n]);
            if r.full_rcode() == 23 {
                t.badcookie += 1;
            } else if r.has_flag("tc") {
                t.truncated += 1;
            } else if !r.answer.is_empty() {
                t.answered += 1;
            }
        }
    }
    t.none = queries.len() - got;
    t
}

#[test]
fn with_rrl_at_5_per_second_a_cookie_client_gets_every_answer_and_a_spoofer_in_its_24_does_not() {
    let dir = TempDir::new("cookies-rrl");
    let s = start(&dir, "", "[server.rrl]\nenabled = true\nresponses_per_second = 5\nslip = 2\nwindow = 5\n");
    let client = UdpSocket::bind("127.0.0.2:0").unwrap();
    client.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 2048];
    // Learn the server cookie (one query with a client cookie).
    let client_cookie = hex("0a0b0c0d0e0f1011");
    client.send_to(&query(1, Some(&client_cookie)), s.udp).unwrap();
    let (n, _) = client.recv_from(&mut buf).expect("the first query is answered");
    let first = normalise(&buf[..n]);
    let cookie = first.opt.as_ref().and_then(|o| o.options.iter().find(|(c, _)| *c == 10)).expect("a cookie").1.clone();
    let cookie = hex(&cookie);
    assert_eq!(cookie.len(), 24);
    // 1,000 queries with the valid cookie, each waiting for its reply: every one answered.
    let started = Instant::now();
    let mut answered = 0;
    for i in 0..1000u16 {
        client.send_to(&query(1000 + i, Some(&cookie)), s.udp).unwrap();
        if let Ok((n, _)) = client.recv_from(&mut buf) {
            let r = normalise(&buf[..n]);
            if !r.has_flag("tc") && r.answer.len() == 1 && r.full_rcode() == 0 {
                answered += 1;
            }
        }
    }
    let took = started.elapsed();
    // A spoofer in the same /24 without a cookie: the same name, 1,000 times.
    let spoofer = UdpSocket::bind("127.0.0.3:0").unwrap();
    let qs: Vec<Vec<u8>> = (0..1000u16).map(|i| query(i, None)).collect();
    let spoofed = burst(&spoofer, s.udp, &qs);
    // The client's valid cookie sent from the spoofer's address does not verify (the client
    // address is in the hash): limited too, and its slips are BADCOOKIE, not TC.
    let qs: Vec<Vec<u8>> = (0..200u16).map(|i| query(i, Some(&cookie))).collect();
    let stolen = burst(&spoofer, s.udp, &qs);
    println!(
        "cookie client: {answered}/1000 answered in {:.2} s; cookieless spoofer: {spoofed:?}; stolen cookie: {stolen:?}",
        took.as_secs_f64()
    );
    assert_eq!(answered, 1000, "a valid cookie is exempt from RRL");
    assert!(spoofed.answered <= 5 + 5 * (1 + took.as_secs() as usize) + 10, "spoofer limited: {spoofed:?}");
    assert!(spoofed.truncated >= 400 && spoofed.none >= 400, "slip 2: half TC, half dropped: {spoofed:?}");
    assert_eq!(spoofed.badcookie, 0, "no cookie sent, so slips are TC");
    assert!(stolen.answered <= 10, "a cookie from another address does not exempt: {stolen:?}");
    assert!(stolen.badcookie >= 80 && stolen.truncated == 0, "slips to a cookie client are BADCOOKIE: {stolen:?}");
}

#[test]
fn a_rotated_secret_keeps_old_cookies_valid_and_a_bad_secret_file_is_reported() {
    let dir = TempDir::new("cookies-rotate");
    let s = start(&dir, "", "");
    let c = hex("0102030405060708");
    let ask_udp = |cookie: &[u8]| -> (u16, Vec<u8>) {
        let r = normalise(&support::udp_raw(s.udp, &query(7, Some(cookie))).expect("reply"));
        let back = r.opt.as_ref().and_then(|o| o.options.iter().find(|(c, _)| *c == 10)).map(|x| hex(&x.1));
        (r.full_rcode(), back.unwrap_or_default())
    };
    let (_, old) = ask_udp(&c);
    let ex = explain_of(&s, "static.gslb.example.com.");
    assert!(ex.contains("cookies    on (RFC 7873/9018): secret") && ex.contains("not rate limited"), "{ex}");
    // The file now holds a new secret only: the old one stays accepted for an hour.
    write_private(&dir.path().join("cookie.key"), format!("{NEXT_SECRET}\n").as_bytes());
    assert!(s.reload().ok);
    let (rcode, back) = ask_udp(&old);
    assert_eq!(rcode, 0);
    assert_ne!(back, old, "valid under the previous secret: answered, and refreshed under the new one");
    let (_, again) = ask_udp(&back);
    assert_eq!(again, back, "the new cookie is valid and echoed");
    // A secret file others can read is refused, named, and the old config keeps serving.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path().join("cookie.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = s.reload();
    assert!(!r.ok);
    let msg = format!("{:?}", r.errors);
    assert!(msg.contains("cookie.key") && msg.contains("other users"), "{msg}");
    assert_eq!(ask_udp(&back).1, back, "still served with the last good secret");
}
