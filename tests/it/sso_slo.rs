//! SAML single logout over the HTTP-Redirect binding, both ways, with the IdP's messages
//! signed by the `openssl` tool and ours checked with it: the IdP's `LogoutRequest` ends the
//! sessions it names (on its own connection only) and is answered with a signed
//! `LogoutResponse`; signing out here sends a signed `LogoutRequest` to the IdP; unsigned,
//! wrongly signed and foreign messages are refused and audited.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::Command;

use base64::Engine;
use serde_json::{Value, json};

use super::sso_idp::*;
use super::support::TestApp;

const KEY: &str = "okta-slo";
const IDP_SLO: &str = "https://idp.example.com/slo";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

fn enc(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn deflate_b64(xml: &str) -> String {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(xml.as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(e.finish().unwrap())
}

fn inflate_b64(value: &str) -> String {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value)
        .unwrap();
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(&raw[..])
        .read_to_string(&mut out)
        .unwrap();
    out
}

/// Signs `octets` with `keys` by `openssl dgst -sha256 -sign`.
fn openssl_sign(keys: &KeyPair, octets: &str) -> Vec<u8> {
    let dir = keys.key_path.parent().unwrap();
    let file = dir.join(format!("octets-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, octets).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&keys.key_path)
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// The query of a redirect-binding message, signed by `keys` unless None.
fn redirect_query(param: &str, xml: &str, relay: &str, keys: Option<&KeyPair>) -> String {
    let mut query = format!(
        "{param}={}&RelayState={}",
        enc(&deflate_b64(xml)),
        enc(relay)
    );
    if let Some(keys) = keys {
        query.push_str(&format!("&SigAlg={}", enc(RSA_SHA256)));
        let signature = openssl_sign(keys, &query);
        let b64 = base64::engine::general_purpose::STANDARD.encode(signature);
        query.push_str(&format!("&Signature={}", enc(&b64)));
    }
    query
}

fn logout_request(issuer: &str, name_id: &str, session_index: Option<&str>) -> (String, String) {
    let id = format!("_lr{}", uuid::Uuid::new_v4().simple());
    let index = session_index
        .map(|i| format!("<samlp:SessionIndex>{i}</samlp:SessionIndex>"))
        .unwrap_or_default();
    let xml = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{}"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID>{name_id}</saml:NameID>{index}</samlp:LogoutRequest>"#,
        xml_time(now_ms())
    );
    (id, xml)
}

async fn get_slo(app: &TestApp, key: &str, query: &str) -> reqwest::Response {
    browser()
        .get(format!("{}/sso/{key}/saml/slo?{query}", app.base))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
}

/// Signs in through `key` and returns the session cookie and the SessionIndex.
async fn sign_in(app: &TestApp, idp: &SamlIdp, key: &str, email: &str) -> (String, String) {
    let id = start_saml_login(app, key).await;
    let spec = idp.spec(app, key, Some(&id), email);
    let index = spec.session_index.clone().unwrap();
    let r = post_acs(app, key, &idp.response(&spec)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    (r.session.unwrap(), index)
}

/// The parameters of a redirect's query, and its signed octets.
fn redirect_parts(location: &str) -> (HashMap<String, String>, String) {
    let url = reqwest::Url::parse(location).unwrap();
    let query = url.query().unwrap().to_owned();
    let params = url.query_pairs().into_owned().collect();
    let octets = query[..query.find("&Signature=").unwrap()].to_owned();
    (params, octets)
}

#[tokio::test]
async fn single_logout_both_ways_on_the_redirect_binding() {
    let app = TestApp::spawn().await;
    let idp = SamlIdp::new("slo-idp");
    let sp = KeyPair::generate(idp.dir.path(), "sp");
    saml_connection(
        &app,
        KEY,
        &idp,
        json!({"saml": {"idpSloUrl": IDP_SLO, "spPrivateKey": sp.key_pem, "spCertificate": sp.cert_pem}}),
    )
    .await;
    let other_idp = SamlIdp::new("slo-other");
    saml_connection(&app, "other", &other_idp, json!({})).await;
    let (ann_1, ann_1_index) = sign_in(&app, &idp, KEY, "ann@example.com").await;
    let (ann_2, _) = sign_in(&app, &idp, KEY, "ann@example.com").await;
    let (bea, _) = sign_in(&app, &idp, KEY, "bea@example.com").await;
    let (dee_elsewhere, _) = sign_in(&app, &other_idp, "other", "dee@example.com").await;

    // The IdP ends one of Ann's sessions by NameID and SessionIndex.
    let (request_id, xml) = logout_request(&idp.entity_id, "ann@example.com", Some(&ann_1_index));
    let resp = get_slo(
        &app,
        KEY,
        &redirect_query("SAMLRequest", &xml, "rs-1", Some(&idp.keys)),
    )
    .await;
    assert_eq!(resp.status(), 302, "{:?}", resp.text().await);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{IDP_SLO}?SAMLResponse=")),
        "{location}"
    );
    let (params, octets) = redirect_parts(&location);
    assert_eq!(params["RelayState"], "rs-1");
    assert_eq!(params["SigAlg"], RSA_SHA256);
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&params["Signature"])
        .unwrap();
    assert!(
        openssl_verifies(&sp, &octets, &signature),
        "our LogoutResponse is signed"
    );
    let answer = inflate_b64(&params["SAMLResponse"]);
    assert!(
        answer.contains(&format!(r#"InResponseTo="{request_id}""#)),
        "{answer}"
    );
    assert!(answer.contains("status:Success"), "{answer}");
    assert!(!alive(&app, &ann_1).await);
    assert!(alive(&app, &ann_2).await, "another SessionIndex stays");
    assert!(alive(&app, &bea).await);

    // Refused and audited, nothing ended: unsigned, signed by another key, another issuer,
    // and the other connection's IdP asking this connection.
    let (_, all_of_ann) = logout_request(&idp.entity_id, "ann@example.com", None);
    let (_, foreign_issuer) = logout_request(&other_idp.entity_id, "ann@example.com", None);
    for (query, reason) in [
        (
            redirect_query("SAMLRequest", &all_of_ann, "", None),
            "unsigned",
        ),
        (
            redirect_query("SAMLRequest", &all_of_ann, "", Some(&other_idp.keys)),
            "bad_signature",
        ),
        (
            redirect_query("SAMLRequest", &foreign_issuer, "", Some(&idp.keys)),
            "wrong_issuer",
        ),
        (
            redirect_query("SAMLRequest", &foreign_issuer, "", Some(&other_idp.keys)),
            "bad_signature",
        ),
    ] {
        let resp = get_slo(&app, KEY, &query).await;
        assert_eq!(resp.status(), 403);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["reason"], reason, "{body}");
    }
    assert!(alive(&app, &ann_2).await);
    let refused = app
        .audit("action=signOut")
        .await
        .into_iter()
        .filter(|e| e["delta"]["outcome"] == "refused" && e["delta"]["protocol"] == "saml")
        .count();
    assert_eq!(refused, 4);

    // A request by NameID alone ends all of Ann's sessions on this connection.
    let resp = get_slo(
        &app,
        KEY,
        &redirect_query("SAMLRequest", &all_of_ann, "", Some(&idp.keys)),
    )
    .await;
    assert_eq!(resp.status(), 302);
    assert!(!alive(&app, &ann_2).await);
    assert!(alive(&app, &bea).await);
    // This connection's IdP naming someone signed in through the other connection ends
    // nothing there.
    let (_, dee) = logout_request(&idp.entity_id, "dee@example.com", None);
    let resp = get_slo(
        &app,
        KEY,
        &redirect_query("SAMLRequest", &dee, "", Some(&idp.keys)),
    )
    .await;
    assert_eq!(resp.status(), 302);
    assert!(alive(&app, &dee_elsewhere).await);

    // Signing out here sends Bea's browser to the IdP with our signed LogoutRequest.
    let resp = browser()
        .post(format!("{}/sso/logout", app.base))
        .header("Cookie", format!("gatehouse_session={bea}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{IDP_SLO}?SAMLRequest=")),
        "{location}"
    );
    let (params, octets) = redirect_parts(&location);
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&params["Signature"])
        .unwrap();
    assert!(
        openssl_verifies(&sp, &octets, &signature),
        "our LogoutRequest is signed"
    );
    let request = inflate_b64(&params["SAMLRequest"]);
    assert!(
        request.contains("<saml:NameID>bea@example.com</saml:NameID>"),
        "{request}"
    );
    assert!(request.contains("<samlp:SessionIndex>_s"), "{request}");
    assert!(!alive(&app, &bea).await);

    // The IdP's LogoutResponse to it lands the browser at the root, once; a response to no
    // request of ours is refused.
    let ours = request
        .split(r#" ID=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let response_to = |in_response_to: &str| {
        format!(
            r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="{}" InResponseTo="{in_response_to}"><saml:Issuer>{}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#,
            xml_time(now_ms()),
            idp.entity_id
        )
    };
    let answer = redirect_query("SAMLResponse", &response_to(&ours), "", Some(&idp.keys));
    let resp = get_slo(&app, KEY, &answer).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/");
    let never = redirect_query("SAMLResponse", &response_to("_never"), "", Some(&idp.keys));
    for query in [answer, never] {
        let resp = get_slo(&app, KEY, &query).await;
        assert_eq!(resp.status(), 403);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["reason"], "in_response_to_mismatch");
    }
}
