//! DNS cookies (src/cookie), decided without a network: the RFC 9018 Appendix A vectors byte for
//! byte, the RFC 7873 §5.2/§5.4 decision table case by case, and the secret file on disk.

mod rfc9018_vectors {
    //! RFC 9018 Appendix A, byte for byte: each query's COOKIE option goes through `decide` at
    //! the time the appendix gives, and the reply's COOKIE option must be the appendix's.
    //! (The same values are in Knot's tests/libknot/test_cookies.c, an implementation we did not write.)
    use std::net::IpAddr;

    use gslbd::cookie::{
        Invalid, Policy, QueryCookie, Secret, SecretFile, Secrets, Status, Transport, decide, server_cookie,
    };

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn secrets(current: &str, other: Option<&str>) -> Secrets {
        Secrets::new(SecretFile {
            current: Secret::from_hex(current).unwrap(),
            also_accepted: other.map(|o| Secret::from_hex(o).unwrap()),
        })
    }

    fn reply(s: &Secrets, query: &str, ip: &str, now: u32) -> (Status, String) {
        let cookie = QueryCookie::parse(&hex(query)).unwrap();
        let ip: IpAddr = ip.parse().unwrap();
        let d = decide(s, Policy::default(), Some(&cookie), true, ip, Transport::Udp, now);
        let got = d.cookie.unwrap().data().iter().map(|b| format!("{b:02x}")).collect();
        (d.status, got)
    }

    const SECRET: &str = "e5e973e5a6b2a43f48e7dc849e37bfcf";

    #[test]
    fn a1_learning_a_new_server_cookie() {
        let s = secrets(SECRET, None);
        let (status, got) = reply(&s, "2464c4abcf10c957", "198.51.100.100", 1559731985);
        assert_eq!(status, Status::ClientOnly);
        assert_eq!(got, "2464c4abcf10c957010000005cf79f111f8130c3eee29480");
    }

    #[test]
    fn a2_the_same_client_learning_a_renewed_server_cookie() {
        // 40 minutes later: valid, and older than half an hour, so renewed.
        let s = secrets(SECRET, None);
        let (status, got) = reply(&s, "2464c4abcf10c957010000005cf79f111f8130c3eee29480", "198.51.100.100", 1559734385);
        assert_eq!(status, Status::Valid);
        assert_eq!(got, "2464c4abcf10c957010000005cf7a871d4a564a1442aca77");
    }

    #[test]
    fn a3_another_client_with_reserved_bytes_set() {
        let s = secrets(SECRET, None);
        let query = "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5";
        // The hash covers the Reserved bytes: at its own timestamp the cookie is valid (and, being
        // fresh and ours, is echoed unchanged).
        let (status, got) = reply(&s, query, "203.0.113.203", 1559727985);
        assert_eq!((status, got.as_str()), (Status::Valid, query));
        // The appendix's reply comes 1 h 52 min after the cookie was made: past the one-hour window
        // of §4.3, so here the query's cookie counts as expired; the fresh cookie in the reply is
        // still exactly the appendix's.
        let (status, got) = reply(&s, query, "203.0.113.203", 1559734700);
        assert_eq!(status, Status::Invalid(Invalid::Expired));
        assert_eq!(got, "fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e");
    }

    #[test]
    fn a4_ipv6_query_with_rolled_over_secret() {
        let old = "dd3bdf9344b678b185a6f5cb60fca715";
        let new = "445536bcd2513298075a5d379663c962";
        let ip = "2001:db8:220:1:59de:d0f4:8769:82b8";
        // The cookie the client learned under the old secret.
        let made = server_cookie::make(
            &Secret::from_hex(old).unwrap(),
            &hex("22681ab97d52c298").try_into().unwrap(),
            ip.parse().unwrap(),
            1559741817,
        );
        assert_eq!(made.to_vec(), hex("010000005cf7c57926556bd0934c72f8"));
        // The server now makes cookies with the new secret and still accepts the old one.
        let s = secrets(new, Some(old));
        let (status, got) = reply(&s, "22681ab97d52c298010000005cf7c57926556bd0934c72f8", ip, 1559741961);
        assert_eq!(status, Status::Valid);
        assert_eq!(got, "22681ab97d52c298010000005cf7c609a6bb79d16625507a");
        // Without the old secret the same cookie is refused.
        let (status, _) =
            reply(&secrets(new, None), "22681ab97d52c298010000005cf7c57926556bd0934c72f8", ip, 1559741961);
        assert_eq!(status, Status::Invalid(Invalid::Hash));
    }

    #[test]
    fn lifetime_edges_as_knot_checks_them() {
        // Knot's test_cookies.c: the A.4 reply cookie is valid 3600 s after and 300 s before its
        // timestamp, and not one second beyond either.
        let s = secrets("445536bcd2513298075a5d379663c962", None);
        let q = "22681ab97d52c298010000005cf7c609a6bb79d16625507a";
        let ip = "2001:db8:220:1:59de:d0f4:8769:82b8";
        let t = 1559741961;
        assert_eq!(reply(&s, q, ip, t + 3600).0, Status::Valid);
        assert_eq!(reply(&s, q, ip, t + 3601).0, Status::Invalid(Invalid::Expired));
        assert_eq!(reply(&s, q, ip, t - 300).0, Status::Valid);
        assert_eq!(reply(&s, q, ip, t - 301).0, Status::Invalid(Invalid::Ahead));
        // A cookie bound to one address is not valid from another (a spoofer in the same /24).
        assert_eq!(reply(&s, q, "2001:db8:220:1::1", t).0, Status::Invalid(Invalid::Hash));
        // Version 10 is refused (Knot: KNOT_ENOTSUP).
        assert_eq!(
            reply(&s, "22681ab97d52c2980a0000005cf7c609a6bb79d16625507a", ip, t).0,
            Status::Invalid(Invalid::Version)
        );
    }
}

mod policy {
    //! The RFC 7873 §5.2/§5.4 decision table (see src/policy.rs), case by case.
    use std::net::IpAddr;

    use gslbd::cookie::{
        Action, Invalid, Policy, QueryCookie, Secret, SecretFile, Secrets, SlipReply, Status, Transport, decide,
        server_cookie,
    };

    const NOW: u32 = 1_700_000_000;
    const CLIENT: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

    fn secrets() -> Secrets {
        Secrets::new(SecretFile { current: Secret::from_bytes([0x42; 16]), also_accepted: None })
    }

    fn ip() -> IpAddr {
        "192.0.2.7".parse().unwrap()
    }

    fn query(server: Option<&[u8]>) -> QueryCookie {
        let mut data = CLIENT.to_vec();
        data.extend_from_slice(server.unwrap_or(&[]));
        QueryCookie::parse(&data).unwrap()
    }

    fn valid_made_at(t: u32) -> [u8; 16] {
        server_cookie::make(secrets().current(), &CLIENT, ip(), t)
    }

    #[test]
    fn no_cookie_is_handled_as_without_cookies() {
        let d = decide(&secrets(), Policy { require_on_udp: true }, None, true, ip(), Transport::Udp, NOW);
        assert_eq!((d.status, d.action, d.cookie), (Status::Absent, Action::Answer, None));
        assert!(!d.status.rrl_exempt());
        assert_eq!(d.on_rrl_slip(), SlipReply::Truncated);
    }

    #[test]
    fn client_cookie_only() {
        let q = query(None);
        for (policy, transport, action) in [
            (Policy::default(), Transport::Udp, Action::Answer),
            (Policy { require_on_udp: true }, Transport::Udp, Action::BadCookie),
            (Policy { require_on_udp: true }, Transport::Stream, Action::Answer),
            (Policy::default(), Transport::Stream, Action::Answer),
        ] {
            let d = decide(&secrets(), policy, Some(&q), true, ip(), transport, NOW);
            assert_eq!((d.status, d.action), (Status::ClientOnly, action), "{policy:?} {transport:?}");
            let c = d.cookie.unwrap();
            assert_eq!(&c.data()[..8], &CLIENT, "the client cookie is copied");
            assert_eq!(c.server(), &valid_made_at(NOW), "a fresh server cookie");
            assert!(!d.status.rrl_exempt());
            assert_eq!(d.on_rrl_slip(), SlipReply::BadCookie);
        }
    }

    #[test]
    fn invalid_server_cookie_is_treated_as_client_only() {
        let mut forged = valid_made_at(NOW);
        forged[15] ^= 1;
        let cases: [(&[u8], Invalid); 4] = [
            (&forged, Invalid::Hash),
            (&valid_made_at(NOW - 3601), Invalid::Expired),
            (&valid_made_at(NOW + 301), Invalid::Ahead),
            (&[9u8; 24], Invalid::Length),
        ];
        for (server, why) in cases {
            let q = query(Some(server));
            let d = decide(&secrets(), Policy::default(), Some(&q), true, ip(), Transport::Udp, NOW);
            assert_eq!((d.status, d.action), (Status::Invalid(why), Action::Answer));
            assert_eq!(d.cookie.unwrap().server(), &valid_made_at(NOW));
            let strict = decide(&secrets(), Policy { require_on_udp: true }, Some(&q), true, ip(), Transport::Udp, NOW);
            assert_eq!(strict.action, Action::BadCookie);
            let tcp = decide(&secrets(), Policy { require_on_udp: true }, Some(&q), true, ip(), Transport::Stream, NOW);
            assert_eq!(tcp.action, Action::Answer, "TCP never needs a cookie");
            assert_eq!(d.on_rrl_slip(), SlipReply::BadCookie);
        }
    }

    #[test]
    fn valid_cookie_is_echoed_then_refreshed_and_exempt_from_rrl() {
        for (made, echoed) in [(NOW, true), (NOW - 1800, true), (NOW - 1801, false), (NOW + 300, true)] {
            let server = valid_made_at(made);
            let q = query(Some(&server));
            let d = decide(&secrets(), Policy { require_on_udp: true }, Some(&q), true, ip(), Transport::Udp, NOW);
            assert_eq!((d.status, d.action), (Status::Valid, Action::Answer));
            let want = if echoed { server } else { valid_made_at(NOW) };
            assert_eq!(d.cookie.unwrap().server(), &want, "made at NOW{:+}", made as i64 - NOW as i64);
            assert!(d.status.rrl_exempt());
            assert_eq!(d.on_rrl_slip(), SlipReply::Truncated, "never limited, but a slip would not become BADCOOKIE");
        }
    }

    #[test]
    fn cookie_only_query_rfc7873_5_4() {
        // QDCOUNT=0 with a COOKIE option: NOERROR with a cookie, or BADCOOKIE when the server cookie
        // sent along is invalid; on every transport.
        for transport in [Transport::Udp, Transport::Stream] {
            let d = decide(&secrets(), Policy::default(), Some(&query(None)), false, ip(), transport, NOW);
            assert_eq!((d.status, d.action), (Status::ClientOnly, Action::Answer));
            let good = valid_made_at(NOW);
            let d = decide(&secrets(), Policy::default(), Some(&query(Some(&good))), false, ip(), transport, NOW);
            assert_eq!((d.status, d.action), (Status::Valid, Action::Answer));
            let stale = valid_made_at(NOW - 4000);
            let d = decide(&secrets(), Policy::default(), Some(&query(Some(&stale))), false, ip(), transport, NOW);
            assert_eq!((d.status, d.action), (Status::Invalid(Invalid::Expired), Action::BadCookie));
            assert_eq!(d.cookie.unwrap().server(), &valid_made_at(NOW));
        }
    }

    #[test]
    fn rotation_on_reload() {
        let old = secrets();
        let next = Secret::from_bytes([0x17; 16]);
        let rotated = old.reload(SecretFile { current: next, also_accepted: None }, NOW);
        let server = valid_made_at(NOW - 10);
        let q = query(Some(&server));
        let d = decide(&rotated, Policy::default(), Some(&q), true, ip(), Transport::Udp, NOW);
        assert_eq!(d.status, Status::Valid, "the old secret is still accepted");
        assert_eq!(
            d.cookie.unwrap().server(),
            &server_cookie::make(&next, &CLIENT, ip(), NOW),
            "refreshed under the new secret"
        );
        let later = decide(&rotated, Policy::default(), Some(&q), true, ip(), Transport::Udp, NOW + 3601);
        assert!(matches!(later.status, Status::Invalid(_)));
    }
}

mod secret_file {
    //! The secret file on disk: a private file is read; one other users can read is refused,
    //! and every refusal names the file (and the line, for a bad text line).
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    use gslbd::cookie::{Secret, read_secret_file};

    fn file(name: &str, contents: &[u8], mode: u32) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cookies-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, contents).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn private_files_are_read_and_others_refused() {
        let hex = b"e5e973e5a6b2a43f48e7dc849e37bfcf\n";
        let want = Secret::from_hex("e5e973e5a6b2a43f48e7dc849e37bfcf").unwrap();
        for mode in [0o600, 0o400, 0o640] {
            let p = file(&format!("ok-{mode:o}"), hex, mode);
            assert_eq!(read_secret_file(&p).unwrap().current, want, "mode {mode:o}");
        }
        for mode in [0o644, 0o604, 0o602, 0o666] {
            let p = file(&format!("open-{mode:o}"), hex, mode);
            let e = read_secret_file(&p).unwrap_err();
            assert_eq!(e.path, p);
            assert!(e.to_string().contains("other users") && e.to_string().contains(&format!("{mode:04o}")), "{e}");
        }
        let p = file("bad-line", b"# rotated 2026-01-01\nnot-hex-at-all-not-hex-at-all-!!\n", 0o600);
        let e = read_secret_file(&p).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.to_string().starts_with(&format!("{}:2: ", p.display())), "{e}");
        let missing = p.with_file_name("missing");
        assert!(read_secret_file(&missing).unwrap_err().to_string().contains("cannot read"));
        let _ = std::fs::remove_dir_all(p.parent().unwrap());
    }
}
