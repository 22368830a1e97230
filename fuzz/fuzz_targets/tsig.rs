//! Wire bytes → TSIG (RFC 8945): the record found (or not) at the end of any message, a
//! request checked against a key ring, replies checked by a verifier, and a message signed and
//! found again. Nothing may panic; a message we sign must be found signed and verify.
#![no_main]

use gslbd::tsig::message::{Found, Signer, Verifier, find, verify_request};
use gslbd::tsig::{Algorithm, Key, KeyRing};
use hickory_proto::rr::Name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = Key::new(&Name::from_ascii("k.example.").unwrap(), Algorithm::HmacSha256, b"0123456789abcdef");
    let ring = KeyRing::new(vec![key.clone()]);
    if let Found::Tsig(t) = find(data) {
        let _ = verify_request(&ring, data, &t, 1_800_000_000);
    }
    let signer = Signer::new(key.clone(), &[], 1_800_000_000);
    let _ = Verifier::new(&signer).check(data);
    // Any message that has a header: signed by us, our record, when found, verifies.
    if data.len() >= 12 && u16::from_be_bytes([data[10], data[11]]) < u16::MAX {
        let mut m = data.to_vec();
        Signer::new(key, &[], 1_800_000_000).sign(&mut m);
        // (When the message's counts do not cover all of its bytes, the record found is not ours.)
        if let Found::Tsig(t) = find(&m)
            && t.start == data.len()
        {
            assert!(verify_request(&ring, &m, &t, 1_800_000_000).is_ok(), "a message we signed does not verify");
        }
    }
});
