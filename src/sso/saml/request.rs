//! SP-initiated sign-in: an AuthnRequest sent over the HTTP-Redirect binding.

use std::io::Write;

use base64::Engine;
use flate2::{Compression, write::DeflateEncoder};

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

/// The IdP URL carrying the deflated, base64 request and the RelayState.
pub fn redirect_url(
    idp_sso_url: &str,
    request_xml: &str,
    relay_state: &str,
) -> Result<String, String> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(request_xml.as_bytes())
        .map_err(|e| e.to_string())?;
    let deflated = encoder.finish().map_err(|e| e.to_string())?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(deflated);
    let mut url =
        reqwest::Url::parse(idp_sso_url).map_err(|_| "idpSsoUrl is not a URL".to_owned())?;
    url.query_pairs_mut().append_pair("SAMLRequest", &encoded);
    if !relay_state.is_empty() {
        url.query_pairs_mut().append_pair("RelayState", relay_state);
    }
    Ok(url.to_string())
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
        let url = redirect_url("https://idp/sso?x=1", &xml, "rs").unwrap();
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
}
