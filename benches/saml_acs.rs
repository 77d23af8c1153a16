//! ACS verification of a signed SAML response: the base64 form value decoded, our XML reader
//! and structural checks, samael/xmlsec signature verification with the reduction to signed
//! content, and the assertion checks. The response is the committed fixture signed by the
//! `xmlsec1` tool (fuzz/seeds). Target: under 2 ms per response.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse::sso::saml::decode_saml_response;
use gatehouse::sso::saml::metadata::certificate_der;
use gatehouse::sso::saml::verifier::SamlTrust;

const SIGNED_B64: &str = include_str!("../fuzz/seeds/saml_acs/signed-assertion.b64");
const CERT: &str = include_str!("../fuzz/seeds/idp-cert.pem");
/// 2027-01-15T08:01:00Z, inside the fixture's validity window.
const NOW_MS: i64 = 1_800_000_060_000;

fn bench(c: &mut Criterion) {
    let trust = SamlTrust {
        sp_entity_id: "https://gatehouse.example.com/sso/fuzz/saml/metadata".into(),
        acs_url: "https://gatehouse.example.com/sso/fuzz/saml/acs".into(),
        idp_entity_id: "https://idp.example.com/entity".into(),
        idp_certificates: vec![certificate_der(CERT).expect("fixture certificate")],
        allow_sha1: false,
        allow_idp_initiated: false,
        sp_key: None,
    };
    assert!(
        trust
            .verify(
                &decode_saml_response(SIGNED_B64).expect("fixture decodes"),
                NOW_MS
            )
            .is_ok(),
        "the fixture must verify"
    );
    c.bench_function("saml_acs_verify_signed_response", |b| {
        b.iter(|| {
            let xml = decode_saml_response(black_box(SIGNED_B64)).expect("decodes");
            black_box(trust.verify(&xml, NOW_MS))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
