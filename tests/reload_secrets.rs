//! Issue 18's reload rules (a reload of unchanged files keeps the generation; `changed_files`
//! names what changed; settings bound at start are reported as "restart needed") with issue
//! 19's files: the DNS cookie secret and the DNS over TLS certificate and key, which are read
//! at every reload but kept out of the version digest. Neither side tested these together:
//! - a renewed certificate, or a new cookie secret, is a change (new generation, the file
//!   named), although the digest on `/status` stays the same (a digest of a secret has no
//!   place there); a reload with nothing changed still keeps the generation;
//! - `[server.tls] listen` is bound at start: changing it says a restart is needed.
//!
//! The reloader of `gslbd serve` in this process, without the file watcher (whose own reloads
//! would race the ones the test makes), no external tool.
mod support;

use support::TempDir;
use support::reloads::Reloads;
use support::served::{Ca, config_text, write_private};

const TLS: &str = "[server.tls]\nlisten = [\"127.0.0.1:0\"]\ncertificate = \"cert.pem\"\nkey = \"key.pem\"\n";
const COOKIES: &str = "[server.cookies]\nsecret_file = \"cookie.key\"\n";

/// The serving version's digest.
fn digest(s: &Reloads) -> String {
    s.serving().live.version.digest.clone()
}

#[test]
fn a_renewed_certificate_or_cookie_secret_is_a_new_generation_with_the_same_digest() {
    let dir = TempDir::new("reload-secrets");
    let ca = Ca::new(&dir, "ca");
    ca.issue_to(&dir.path().join("cert.pem"), &dir.path().join("key.pem"));
    write_private(&dir.path().join("cookie.key"), b"e5e973e5a6b2a43f48e7dc849e37bfcf\n");
    let s = Reloads::start(&dir.write("gslbd.toml", &config_text(&format!("{COOKIES}{TLS}"), "")));
    let first = digest(&s);

    // Nothing changed: the same generation keeps serving (issue 18).
    let r = s.reload();
    assert!(r.ok && !r.changed, "{r:?}");
    assert_eq!((r.generation, r.changed_files.len()), (1, 0), "{r:?}");

    // A renewed certificate (new key too): a change, naming both files, digest unchanged.
    ca.issue_to(&dir.path().join("cert.pem"), &dir.path().join("key.pem"));
    let r = s.reload();
    assert!(r.ok && r.changed, "{r:?}");
    assert_eq!(r.generation, 2, "{r:?}");
    let named = |f: &str| r.changed_files.iter().any(|c| c.ends_with(f));
    assert!(named("cert.pem") && named("key.pem") && r.changed_files.len() == 2, "{:?}", r.changed_files);
    assert_eq!(digest(&s), first, "secrets and the certificate stay out of the version digest");
    assert_eq!(s.serving().live.version.generation, 2);

    // A new cookie secret: the same.
    write_private(&dir.path().join("cookie.key"), b"0123456789abcdef0123456789abcdef\n");
    let r = s.reload();
    assert!(r.ok && r.changed && r.generation == 3, "{r:?}");
    assert_eq!(r.changed_files.len(), 1, "{r:?}");
    assert!(r.changed_files[0].ends_with("cookie.key"), "{r:?}");
    assert_eq!(digest(&s), first);

    // And again nothing: generation 3 keeps serving.
    let r = s.reload();
    assert!(r.ok && !r.changed && r.generation == 3, "{r:?}");
    assert!(r.restart_needed.is_empty(), "{r:?}");
}

#[test]
fn moving_the_dns_over_tls_listener_says_a_restart_is_needed() {
    let dir = TempDir::new("reload-tls-listen");
    let ca = Ca::new(&dir, "ca");
    ca.issue_to(&dir.path().join("cert.pem"), &dir.path().join("key.pem"));
    let path = dir.write("gslbd.toml", &config_text(TLS, ""));
    let s = Reloads::start(&path);
    std::fs::write(&path, config_text(&TLS.replace("127.0.0.1:0", "127.0.0.2:0"), "")).unwrap();
    let r = s.reload();
    assert!(r.ok && r.changed, "{r:?}");
    assert_eq!(r.restart_needed.len(), 1, "{r:?}");
    let note = &r.restart_needed[0];
    assert!(note.contains("[server.tls]") && note.contains("restart gslbd"), "{note}");
    assert!(note.contains("127.0.0.1:0"), "it names what is still served: {note}");
}
