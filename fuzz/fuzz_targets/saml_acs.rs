//! Fuzzes what the SAML ACS accepts from the network: the `SAMLResponse` form value (base64)
//! and the XML inside it, through the full `SamlVerifier` (our XML reader, the structural and
//! algorithm checks, samael/xmlsec verification, decryption, the assertion checks). Nothing
//! may panic; every input ends in a verified assertion or a refusal.
//!
//! Run: `cargo +nightly fuzz run saml_acs fuzz/seeds/saml_acs` (from the repository root).
#![no_main]

use std::sync::OnceLock;

use gatehouse::sso::saml::decode_saml_response;
use gatehouse::sso::saml::sp_key::SpKey;
use gatehouse::sso::saml::metadata::certificate_der;
use gatehouse::sso::saml::verifier::SamlTrust;
use libfuzzer_sys::fuzz_target;

/// 2027-01-15T08:01:00Z: inside the seed's validity window.
const NOW_MS: i64 = 1_800_000_060_000;

fn trust() -> &'static SamlTrust {
    static TRUST: OnceLock<SamlTrust> = OnceLock::new();
    TRUST.get_or_init(|| SamlTrust {
        sp_entity_id: "https://gatehouse.example.com/sso/fuzz/saml/metadata".into(),
        acs_url: "https://gatehouse.example.com/sso/fuzz/saml/acs".into(),
        idp_entity_id: "https://idp.example.com/entity".into(),
        idp_certificates: vec![certificate_der(include_str!("../seeds/idp-cert.pem")).unwrap()],
        allow_sha1: false,
        allow_idp_initiated: true,
        sp_key: Some(SpKey::from_pem(include_str!("../seeds/sp-key.pem")).unwrap()),
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = trust().verify(text, NOW_MS);
    if let Ok(xml) = decode_saml_response(text) {
        let _ = trust().verify(&xml, NOW_MS);
    }
});
