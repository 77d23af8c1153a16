//! Single logout over the HTTP-Redirect binding: the `LogoutRequest` and `LogoutResponse`
//! we send (signed with the SP key, like AuthnRequests), and the ones the IdP sends us, whose
//! query signature is checked against the connection's IdP certificates before anything in
//! them is read.
//!
//! A redirect message is signed over the octets `SAMLRequest=…&RelayState=…&SigAlg=…` (or
//! `SAMLResponse=…`) exactly as they appear in the query, so they are taken from the raw
//! query, never re-encoded.

use std::io::Read;

use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::sign::Verifier;
use openssl::x509::X509;

use super::request::xml_time;
use super::xml::{self, Element, NS_ASSERTION, NS_PROTOCOL, escape};
use crate::domain::sso::Refusal;

const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// Our `LogoutRequest` for a session the IdP knows by `name_id` (and `session_index`).
pub fn logout_request_xml(
    id: &str,
    instant_ms: i64,
    sp_entity_id: &str,
    destination: &str,
    name_id: &str,
    session_index: Option<&str>,
) -> String {
    let index = session_index
        .map(|i| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", escape(i)))
        .unwrap_or_default();
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{dest}"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID>{name_id}</saml:NameID>{index}</samlp:LogoutRequest>"#,
        id = escape(id),
        instant = xml_time(instant_ms),
        dest = escape(destination),
        issuer = escape(sp_entity_id),
        name_id = escape(name_id),
    )
}

/// Our `LogoutResponse` (Success) to the IdP's request `in_response_to`.
pub fn logout_response_xml(
    id: &str,
    instant_ms: i64,
    sp_entity_id: &str,
    destination: &str,
    in_response_to: &str,
) -> String {
    format!(
        r#"<samlp:LogoutResponse xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{dest}" InResponseTo="{irt}"><saml:Issuer>{issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{SUCCESS}"/></samlp:Status></samlp:LogoutResponse>"#,
        id = escape(id),
        instant = xml_time(instant_ms),
        dest = escape(destination),
        irt = escape(in_response_to),
        issuer = escape(sp_entity_id),
    )
}

/// A message received over the HTTP-Redirect binding, its signature verified.
#[derive(Debug)]
pub struct RedirectMessage {
    /// True for `SAMLRequest`, false for `SAMLResponse`.
    pub is_request: bool,
    pub root: Element,
}

/// The raw `name=value` pairs of a query, values still percent-encoded.
fn raw_pairs(query: &str) -> Vec<(&str, &str)> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .collect()
}

fn decoded(raw: &str) -> String {
    url::form_urlencoded::parse(format!("v={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Reads and verifies a redirect-binding message from the raw query: signed by one of
/// `certificates` (DER) with an allowed `SigAlg` (SHA-1 only when allowed), then inflated
/// and parsed.
pub fn verified_redirect(
    query: &str,
    certificates: &[Vec<u8>],
    allow_sha1: bool,
) -> Result<RedirectMessage, Refusal> {
    let pairs = raw_pairs(query);
    let find = |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let (is_request, message_name, message) = match (find("SAMLRequest"), find("SAMLResponse")) {
        (Some(m), None) => (true, "SAMLRequest", m),
        (None, Some(m)) => (false, "SAMLResponse", m),
        _ => return Err(Refusal::MalformedInput),
    };
    let (Some(sig_alg), Some(signature)) = (find("SigAlg"), find("Signature")) else {
        return Err(Refusal::Unsigned);
    };
    let mut octets = format!("{message_name}={message}");
    if let Some(relay) = find("RelayState") {
        octets.push_str(&format!("&RelayState={relay}"));
    }
    octets.push_str(&format!("&SigAlg={sig_alg}"));
    let signature = base64::engine::general_purpose::STANDARD
        .decode(decoded(signature))
        .map_err(|_| Refusal::MalformedInput)?;
    let (digest, ecdsa) = match decoded(sig_alg).as_str() {
        RSA_SHA256 => (MessageDigest::sha256(), false),
        ECDSA_SHA256 => (MessageDigest::sha256(), true),
        RSA_SHA1 if allow_sha1 => (MessageDigest::sha1(), false),
        _ => return Err(Refusal::AlgorithmNotAllowed),
    };
    let signature = if ecdsa {
        der_of_raw_ecdsa(&signature).ok_or(Refusal::BadSignature)?
    } else {
        signature
    };
    let verified = certificates.iter().any(|der| {
        public_key(der).is_some_and(|key| verifies(&key, digest, octets.as_bytes(), &signature))
    });
    if !verified {
        return Err(Refusal::BadSignature);
    }
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(decoded(message))
        .map_err(|_| Refusal::MalformedInput)?;
    let mut text = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .take(xml::MAX_XML_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|_| Refusal::MalformedInput)?;
    let root = xml::parse(&text).map_err(|_| Refusal::MalformedInput)?;
    Ok(RedirectMessage { is_request, root })
}

fn public_key(der: &[u8]) -> Option<PKey<Public>> {
    X509::from_der(der).ok()?.public_key().ok()
}

fn verifies(key: &PKey<Public>, digest: MessageDigest, data: &[u8], signature: &[u8]) -> bool {
    let Ok(mut verifier) = Verifier::new(digest, key) else {
        return false;
    };
    verifier.update(data).is_ok() && verifier.verify(signature).unwrap_or(false)
}

/// An XML-DSig ECDSA signature (`r || s`, equal halves) as the DER openssl verifies.
fn der_of_raw_ecdsa(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let r = openssl::bn::BigNum::from_slice(r).ok()?;
    let s = openssl::bn::BigNum::from_slice(s).ok()?;
    openssl::ecdsa::EcdsaSig::from_private_components(r, s)
        .ok()?
        .to_der()
        .ok()
}

/// What an IdP's `LogoutRequest` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub id: String,
    pub name_id: String,
    pub session_index: Option<String>,
}

/// Reads a verified `LogoutRequest` from `idp_entity_id`.
pub fn logout_request(root: &Element, idp_entity_id: &str) -> Result<LogoutRequest, Refusal> {
    if !root.is(NS_PROTOCOL, "LogoutRequest") {
        return Err(Refusal::MalformedInput);
    }
    check_issuer(root, idp_entity_id)?;
    let id = root.attr("ID").ok_or(Refusal::MalformedInput)?.to_owned();
    let name_id = root
        .child(NS_ASSERTION, "NameID")
        .map(Element::text)
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or(Refusal::MissingSubject)?;
    let session_index = root
        .child(NS_PROTOCOL, "SessionIndex")
        .map(Element::text)
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    Ok(LogoutRequest {
        id,
        name_id,
        session_index,
    })
}

/// Checks a verified `LogoutResponse` from `idp_entity_id`: Success; returns the id of the
/// request it answers.
pub fn logout_response(root: &Element, idp_entity_id: &str) -> Result<String, Refusal> {
    if !root.is(NS_PROTOCOL, "LogoutResponse") {
        return Err(Refusal::MalformedInput);
    }
    check_issuer(root, idp_entity_id)?;
    let status = root
        .child(NS_PROTOCOL, "Status")
        .and_then(|s| s.child(NS_PROTOCOL, "StatusCode"))
        .and_then(|c| c.attr("Value"));
    if status != Some(SUCCESS) {
        return Err(Refusal::StatusNotSuccess);
    }
    root.attr("InResponseTo")
        .map(str::to_owned)
        .ok_or(Refusal::InResponseToMismatch)
}

fn check_issuer(root: &Element, idp_entity_id: &str) -> Result<(), Refusal> {
    let issuer = root.child(NS_ASSERTION, "Issuer").map(Element::text);
    if issuer.as_deref().map(str::trim) != Some(idp_entity_id) {
        return Err(Refusal::WrongIssuer);
    }
    Ok(())
}
