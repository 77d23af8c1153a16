//! SP-initiated sign-in: an AuthnRequest sent over the HTTP-Redirect binding.

use std::io::Write;

use base64::Engine;
use flate2::{Compression, write::DeflateEncoder};

use super::sp_key::{RSA_SHA256, SpKey};
use super::xml::escape;

/// An AuthnRequest id: `_` + 32 random hex digits (an xs:ID must not start with a digit).
pub fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    format!("_{}", hex::encode(bytes))
}

/// Formats epoch milliseconds as an `xs:dateTime` in UTC.
pub fn xml_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The AuthnRequest XML.
pub fn authn_request_xml(
    id: &str,
    issue_instant_ms: i64,
    sp_entity_id: &str,
    acs_url: &str,
    idp_sso_url: &str,
) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{dest}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>{issuer}</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/></samlp:AuthnRequest>"#,
        id = escape(id),
        instant = xml_time(issue_instant_ms),
        dest = escape(idp_sso_url),
        acs = escape(acs_url),
        issuer = escape(sp_entity_id),
    )
}

/// The IdP URL carrying the deflated, base64 request and the RelayState, signed with `signer`
/// when given: the HTTP-Redirect binding signs the octets `SAMLRequest=…&RelayState=…&SigAlg=…`
/// exactly as they appear in the query (RelayState left out when empty) and adds the
/// base64 signature as `Signature`.
pub fn redirect_url(
    idp_sso_url: &str,
    request_xml: &str,
    relay_state: &str,
    signer: Option<&SpKey>,
) -> Result<String, String> {
    redirect_message_url(idp_sso_url, "SAMLRequest", request_xml, relay_state, signer)
}

/// [`redirect_url`] for any message: `SAMLRequest` or `SAMLResponse`.
pub fn redirect_message_url(
    idp_sso_url: &str,
    parameter: &'static str,
    request_xml: &str,
    relay_state: &str,
    signer: Option<&SpKey>,
) -> Result<String, String> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(request_xml.as_bytes())
        .map_err(|e| e.to_string())?;
    let deflated = encoder.finish().map_err(|e| e.to_string())?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(deflated);
    let mut url =
        reqwest::Url::parse(idp_sso_url).map_err(|_| "idpSsoUrl is not a URL".to_owned())?;
    let mut signed = vec![(parameter, encoded)];
    if !relay_state.is_empty() {
        signed.push(("RelayState", relay_state.to_owned()));
    }
    if let Some(key) = signer {
        signed.push(("SigAlg", RSA_SHA256.to_owned()));
        let octets = form_encoded(&signed);
        let signature = key.sign_rsa_sha256(octets.as_bytes())?;
        signed.push((
            "Signature",
            base64::engine::general_purpose::STANDARD.encode(signature),
        ));
    }
    // The same encoding as `form_encoded`, so the query carries the octets signed.
    url.query_pairs_mut().extend_pairs(&signed);
    Ok(url.to_string())
}

/// `name=value&…` with values form-encoded, as a URL's query pairs are written.
fn form_encoded(pairs: &[(&str, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn redirect_carries_a_deflated_request() {
        let xml = authn_request_xml(
            "_abc",
            0,
            "https://sp/meta",
            "https://sp/acs",
            "https://idp/sso",
        );
        let url = redirect_url("https://idp/sso?x=1", &xml, "rs", None).unwrap();
        let parsed = reqwest::Url::parse(&url).unwrap();
        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        assert_eq!(pairs[0], ("x".into(), "1".into()));
        assert_eq!(pairs[2], ("RelayState".into(), "rs".into()));
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&pairs[1].1)
            .unwrap();
        let mut out = String::new();
        flate2::read::DeflateDecoder::new(&raw[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, xml);
        assert!(out.contains(r#"ID="_abc""#));
        assert!(out.contains("1970-01-01T00:00:00Z"));
    }

    #[test]
    fn a_signed_redirect_signs_the_query_octets_it_carries() {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let pem = String::from_utf8(rsa.private_key_to_pem().unwrap()).unwrap();
        let key = SpKey::from_pem(&pem).unwrap();
        let xml = authn_request_xml("_s", 0, "https://sp/meta", "https://sp/acs", "https://idp");
        for relay in ["", "to /a&b=c"] {
            let url = redirect_url("https://idp/sso?tenant=1", &xml, relay, Some(&key)).unwrap();
            let query = reqwest::Url::parse(&url)
                .unwrap()
                .query()
                .unwrap()
                .to_owned();
            // The signed octets are the query's own SAMLRequest..SigAlg, as sent.
            let start = query.find("SAMLRequest=").unwrap();
            let end = query.find("&Signature=").unwrap();
            let octets = &query[start..end];
            assert_eq!(octets.contains("RelayState="), !relay.is_empty());
            assert!(octets.ends_with(
                "SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"
            ));
            let pairs: std::collections::HashMap<String, String> = reqwest::Url::parse(&url)
                .unwrap()
                .query_pairs()
                .into_owned()
                .collect();
            let signature = base64::engine::general_purpose::STANDARD
                .decode(&pairs["Signature"])
                .unwrap();
            let public = openssl::pkey::PKey::from_rsa(
                openssl::rsa::Rsa::from_public_components(
                    rsa.n().to_owned().unwrap(),
                    rsa.e().to_owned().unwrap(),
                )
                .unwrap(),
            )
            .unwrap();
            let mut verifier =
                openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &public)
                    .unwrap();
            verifier.update(octets.as_bytes()).unwrap();
            assert!(verifier.verify(&signature).unwrap());
        }
        // An EC key cannot sign for RSA-SHA256.
        let ec = openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap(),
        )
        .unwrap();
        let ec_pem = String::from_utf8(ec.private_key_to_pem().unwrap()).unwrap();
        let ec_key = SpKey::from_pem(&ec_pem).unwrap();
        assert!(redirect_url("https://idp/sso", &xml, "", Some(&ec_key)).is_err());
    }
}
