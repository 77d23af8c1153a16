//! SAML sign-in against responses signed by `xmlsec1` (an implementation that is not ours):
//! the happy paths with just-in-time provisioning and mapping, and an attack corpus that must
//! be refused, audited, and leave nothing provisioned.

use serde_json::{Value, json};

use super::sso_idp::*;
use super::support::TestApp;

const KEY: &str = "okta";

async fn setup(extra: Value) -> (TestApp, SamlIdp) {
    let app = TestApp::spawn().await;
    let idp = SamlIdp::new("okta-test");
    saml_connection(&app, KEY, &idp, extra).await;
    (app, idp)
}

async fn members_count(app: &TestApp) -> usize {
    let (_, body) = app.get("/api/v2/members").await;
    let listed = body["items"].as_array().unwrap().len();
    // A sign-in that creates a member moves the kept total too.
    assert_eq!(body["totalCount"], listed, "{body}");
    listed
}

#[tokio::test]
async fn metadata_names_our_entity_id_and_acs() {
    let (app, _idp) = setup(json!({})).await;
    let resp = browser()
        .get(format!("{}/sso/{KEY}/saml/metadata", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("samlmetadata+xml")
    );
    let xml = resp.text().await.unwrap();
    assert!(xml.contains(&format!(
        r#"entityID="{}/sso/{KEY}/saml/metadata""#,
        app.base
    )));
    assert!(xml.contains(&format!(r#"Location="{}/sso/{KEY}/saml/acs""#, app.base)));
    let unknown = browser()
        .get(format!("{}/sso/nope/saml/metadata", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn login_redirects_with_a_one_time_request_and_no_open_redirect() {
    let (app, idp) = setup(json!({})).await;
    let resp = browser()
        .get(format!(
            "{}/sso/{KEY}/saml/login?returnTo=https://evil.example/",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap();
    assert!(location.starts_with("https://idp.example.com/sso?SAMLRequest="));
    // The evil returnTo was replaced by "/": after sign-in the browser lands on our root.
    let id = start_saml_login(&app, KEY).await;
    let mut spec = idp.spec(&app, KEY, Some(&id), "ada@example.com");
    spec.sign = Sign::Assertion;
    let ok = post_acs(&app, KEY, &idp.response(&spec)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["returnTo"], "/projects");
    // The browser form (no JSON asked): 303 to the stored same-origin path with the cookie.
    let id = start_saml_login(&app, KEY).await;
    let spec = idp.spec(&app, KEY, Some(&id), "ada@example.com");
    let resp = browser()
        .post(format!("{}/sso/{KEY}/saml/acs", app.base))
        .form(&[("SAMLResponse", b64(&idp.response(&spec)))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/projects");
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(set_cookie.starts_with("gatehouse_session="));
    assert!(set_cookie.contains("HttpOnly"));
    assert!(set_cookie.contains("SameSite=Lax"));
    assert!(
        !set_cookie.contains("Secure"),
        "http public URL: not Secure"
    );
}

#[tokio::test]
async fn jit_creates_then_updates_with_mapping_rules() {
    let (app, idp) = setup(json!({
        "defaultRole": "reader",
        "mappings": [
            {"match": {"group": "eng-*"}, "team": "platform"},
            {"match": {"attribute": "department", "value": "Sales"}, "role": "writer"}
        ]
    }))
    .await;
    for key in ["approver", "beta-tester"] {
        let (s, b) = app
            .post(
                "/api/v2/roles",
                json!({"key": key, "name": key, "policy": [{"effect": "allow", "actions": ["viewProject"], "resources": ["proj/*"]}]}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let (s, b) = app
        .post("/api/v2/teams", json!({"key": "qa", "name": "QA"}))
        .await;
    assert_eq!(s, 201, "{b}");

    // First sign-in: created, groups -> team (created by the rule), explicit teamKey,
    // customRole comma-separated with an unknown key that is skipped and audited.
    let id = start_saml_login(&app, KEY).await;
    let mut spec = idp.spec(&app, KEY, Some(&id), "Ada@Example.com");
    spec.attributes.extend([
        (
            "groups".to_owned(),
            vec!["eng-backend".to_owned(), "all".to_owned()],
        ),
        (
            "customRole".to_owned(),
            vec!["approver, ghost-role".to_owned()],
        ),
        (
            "teamKey".to_owned(),
            vec!["qa".to_owned(), "no-such-team".to_owned()],
        ),
        ("department".to_owned(), vec!["Sales".to_owned()]),
    ]);
    let r = post_acs(&app, KEY, &idp.response(&spec)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["created"], true);
    assert_eq!(r.body["role"], "writer");
    assert_eq!(r.body["customRoles"], json!(["approver"]));
    assert_eq!(r.body["teams"], json!(["platform", "qa"]));
    let member_id = r.body["memberId"].as_str().unwrap().to_owned();
    let (_, m) = app.get(&format!("/api/v2/members/{member_id}")).await;
    assert_eq!(m["firstName"], "Ada");
    assert_eq!(m["source"], "saml");
    assert_eq!(m["status"], "active");

    let entry = last_sign_in(&app, "signedIn").await.unwrap();
    assert_eq!(entry["actor"]["kind"], "app");
    assert_eq!(entry["actor"]["isSso"], true);
    assert_eq!(entry["delta"]["protocol"], "saml");
    assert_eq!(entry["delta"]["created"], true);
    assert_eq!(entry["delta"]["connection"], KEY);
    assert!(entry["delta"]["sourceIp"].is_string());
    let notes = entry["delta"]["notes"].to_string();
    assert!(notes.contains("ghost-role"), "{notes}");
    assert!(notes.contains("no-such-team"), "{notes}");
    assert!(!app.audit("action=createMember").await.is_empty());

    // Second sign-in: customRole array replaces, the group went away, the role follows.
    let id = start_saml_login(&app, KEY).await;
    let mut spec = idp.spec(&app, KEY, Some(&id), "ada@example.com");
    spec.attributes = vec![
        ("firstName".into(), vec!["Augusta".into()]),
        ("role".into(), vec!["admin".into()]),
        (
            "customRole".into(),
            vec!["beta-tester".into(), "approver".into()],
        ),
        ("teamKey".into(), vec!["qa".into()]),
    ];
    let r = post_acs(&app, KEY, &idp.response(&spec)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["created"], false);
    assert_eq!(r.body["memberId"], member_id.as_str());
    assert_eq!(r.body["role"], "admin");
    assert_eq!(r.body["customRoles"], json!(["approver", "beta-tester"]));
    assert_eq!(r.body["teams"], json!(["qa"]));
    let entry = last_sign_in(&app, "signedIn").await.unwrap();
    assert_eq!(entry["delta"]["changes"]["before"]["role"], "writer");
    assert_eq!(entry["delta"]["changes"]["after"]["role"], "admin");
    assert_eq!(
        entry["delta"]["changes"]["before"]["teams"],
        json!(["platform", "qa"])
    );
    let updates = app.audit("action=updateRole").await;
    assert!(updates.iter().any(|e| e["actor"]["isSso"] == true));
    assert_eq!(members_count(&app).await, 1, "Ada once, no duplicate");
}

#[tokio::test]
async fn idp_initiated_only_when_allowed_and_jit_off_refuses_unknown_people() {
    let app = TestApp::spawn().await;
    let idp = SamlIdp::new("idp-init");
    saml_connection(
        &app,
        "open",
        &idp,
        json!({"jit": false, "saml": {"allowIdpInitiated": true}}),
    )
    .await;
    // Unsolicited but allowed; the person is unknown and JIT is off: 403 with a clear page.
    let mut spec = idp.spec(&app, "open", None, "stranger@example.com");
    spec.sign = Sign::Response;
    let r = post_acs(&app, "open", &idp.response(&spec)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["reason"], "unknown_user_jit_off");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("administrator")
    );
    assert_eq!(refusals(&app, "unknown_user_jit_off").await, 1);
    let html = browser()
        .post(format!("{}/sso/open/saml/acs", app.base))
        .form(&[(
            "SAMLResponse",
            b64(&idp.response(&idp.spec(&app, "open", None, "stranger@example.com"))),
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), 403);
    let page = html.text().await.unwrap();
    assert!(page.contains("<h1>Sign-in refused</h1>"));
    assert!(!page.contains("stranger@example.com"), "nothing echoed");
    // A known member signs in IdP-initiated.
    let (s, _) = app
        .post("/api/v2/members", json!({"email": "known@example.com"}))
        .await;
    assert_eq!(s, 201);
    let spec = idp.spec(&app, "open", None, "known@example.com");
    let r = post_acs(&app, "open", &idp.response(&spec)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["created"], false);
    assert_eq!(r.body["returnTo"], "/");
}

#[tokio::test]
async fn deactivated_member_cannot_sign_in_and_owner_is_never_re_roled() {
    let (app, idp) = setup(json!({})).await;
    let (s, m) = app
        .post(
            "/api/v2/members",
            json!({"email": "gone@example.com", "role": "writer"}),
        )
        .await;
    assert_eq!(s, 201);
    let id = m["id"].as_str().unwrap();
    let (s, _) = app
        .patch(
            &format!("/api/v2/members/{id}"),
            json!({"status": "deactivated"}),
        )
        .await;
    assert_eq!(s, 200);
    let rid = start_saml_login(&app, KEY).await;
    let r = post_acs(
        &app,
        KEY,
        &idp.response(&idp.spec(&app, KEY, Some(&rid), "gone@example.com")),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["reason"], "deactivated");
    assert_eq!(refusals(&app, "deactivated").await, 1);
    assert!(r.session.is_none());

    // The owner signs in; the IdP says role=reader and customRole=..., the owner stays owner.
    let (s, owner) = app
        .post(
            "/api/v2/members",
            json!({"email": "boss@example.com", "role": "owner"}),
        )
        .await;
    if s == 201 {
        let rid = start_saml_login(&app, KEY).await;
        let mut spec = idp.spec(&app, KEY, Some(&rid), "boss@example.com");
        spec.attributes.push(("role".into(), vec!["reader".into()]));
        let r = post_acs(&app, KEY, &idp.response(&spec)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["role"], "owner", "{owner}");
    }
}

#[tokio::test]
async fn leave_roles_to_scim_updates_names_only() {
    let (app, idp) = setup(json!({"saml": {"leaveRolesToScim": true}})).await;
    let (s, _) = app
        .post(
            "/api/v2/members",
            json!({"email": "sam@example.com", "role": "writer"}),
        )
        .await;
    assert_eq!(s, 201);
    let rid = start_saml_login(&app, KEY).await;
    let mut spec = idp.spec(&app, KEY, Some(&rid), "sam@example.com");
    spec.attributes.push(("role".into(), vec!["admin".into()]));
    let r = post_acs(&app, KEY, &idp.response(&spec)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["role"], "writer");
    let (_, m) = app
        .get(&format!(
            "/api/v2/members/{}",
            r.body["memberId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(m["firstName"], "Ada");
}

#[tokio::test]
async fn certificate_rotation_accepts_either_certificate() {
    let app = TestApp::spawn().await;
    let idp = SamlIdp::new("rotating");
    let next = KeyPair::generate(idp.dir.path(), "next");
    saml_connection(
        &app,
        KEY,
        &idp,
        json!({"saml": {"idpCertificates": [idp.keys.cert_pem, next.cert_pem]}}),
    )
    .await;
    for keys in [&idp.keys, &next] {
        let rid = start_saml_login(&app, KEY).await;
        let spec = idp.spec(&app, KEY, Some(&rid), "rot@example.com");
        let r = post_acs(&app, KEY, &idp.response_signed_by(&spec, keys)).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

#[tokio::test]
async fn both_signed_and_metadata_configured_connections_work() {
    let app = TestApp::spawn().await;
    let idp = SamlIdp::new("meta");
    let metadata = metadata_for(&idp.entity_id, &idp.keys);
    let (s, c) = app
        .post(
            "/api/v2/connections",
            json!({"key": "meta", "kind": "okta", "saml": {"idpMetadataXml": metadata}}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let rid = start_saml_login(&app, "meta").await;
    let mut spec = idp.spec(&app, "meta", Some(&rid), "both@example.com");
    spec.sign = Sign::Both;
    let r = post_acs(&app, "meta", &idp.response(&spec)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn encrypted_assertions_are_decrypted_with_the_sp_key() {
    let app = TestApp::spawn().await;
    let idp = SamlIdp::new("enc");
    let sp = KeyPair::generate(idp.dir.path(), "sp");
    saml_connection(
        &app,
        KEY,
        &idp,
        json!({"saml": {"spPrivateKey": sp.key_pem, "spCertificate": sp.cert_pem}}),
    )
    .await;
    // The key is write-only.
    let (_, c) = app.get(&format!("/api/v2/connections/{KEY}")).await;
    assert!(c["saml"].get("spPrivateKey").is_none(), "{c}");
    assert!(c.to_string().find("PRIVATE KEY").is_none());
    let meta = browser()
        .get(format!("{}/sso/{KEY}/saml/metadata", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(meta.contains(r#"use="encryption""#));

    // 1. Signed assertion inside the encryption, unsigned response.
    let rid = start_saml_login(&app, KEY).await;
    let spec = idp.spec(&app, KEY, Some(&rid), "secret@example.com");
    let signed = idp.signed_assertion(&spec, &idp.keys);
    let encrypted = idp.encrypt_for(&sp, &signed);
    let xml = idp.response_xml(&spec, &encrypted, false);
    let r = post_acs(&app, KEY, &xml).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // 2. Unsigned assertion inside the encryption, signed response over it.
    let rid = start_saml_login(&app, KEY).await;
    let spec = idp.spec(&app, KEY, Some(&rid), "secret@example.com");
    let encrypted = idp.encrypt_for(&sp, &idp.assertion_xml(&spec, false));
    let xml = strip_decl(&idp.sign_with(&idp.keys, &idp.response_xml(&spec, &encrypted, true)));
    let r = post_acs(&app, KEY, &xml).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // 3. Unsigned inside, unsigned outside: refused.
    let rid = start_saml_login(&app, KEY).await;
    let spec = idp.spec(&app, KEY, Some(&rid), "secret@example.com");
    let encrypted = idp.encrypt_for(&sp, &idp.assertion_xml(&spec, false));
    let r = post_acs(&app, KEY, &idp.response_xml(&spec, &encrypted, false)).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["reason"], "unsigned");

    // 4. Encrypted for another SP key: refused.
    let other = KeyPair::generate(idp.dir.path(), "other-sp");
    let rid = start_saml_login(&app, KEY).await;
    let spec = idp.spec(&app, KEY, Some(&rid), "secret@example.com");
    let encrypted = idp.encrypt_for(&other, &idp.signed_assertion(&spec, &idp.keys));
    let r = post_acs(&app, KEY, &idp.response_xml(&spec, &encrypted, false)).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["reason"], "decryption_failed");
}

/// One attack: a name, the XML to post, and the reason it must be refused with.
struct Attack {
    name: &'static str,
    xml: String,
    reason: &'static str,
}

#[tokio::test]
async fn attack_corpus_is_refused_audited_and_provisions_nothing() {
    let (app, idp) = setup(json!({"jit": true})).await;
    let evil = KeyPair::generate(idp.dir.path(), "evil");
    let before = members_count(&app).await;
    let mut attacks: Vec<Attack> = Vec::new();

    // Fresh request ids for each attack, so only the attack itself is wrong.
    macro_rules! spec {
        ($email:expr) => {{
            let rid = start_saml_login(&app, KEY).await;
            idp.spec(&app, KEY, Some(&rid), $email)
        }};
    }

    // --- XML signature wrapping ---
    // XSW1: the signed assertion (attacker's own) hidden in Extensions, an evil assertion in its place.
    {
        let legit = spec!("attacker@example.com");
        let signed = idp.signed_assertion(&legit, &idp.keys);
        let mut evil_spec = legit.clone();
        evil_spec.name_id = "victim@example.com".into();
        evil_spec.assertion_id = "_evil1".into();
        let forged = idp.assertion_xml(&evil_spec, false);
        let xml = idp.response_xml(&legit, &forged, false).replace(
            "<samlp:Status>",
            &format!("<samlp:Extensions>{signed}</samlp:Extensions><samlp:Status>"),
        );
        attacks.push(Attack {
            name: "XSW: signed assertion moved to Extensions",
            xml,
            reason: "signature_wrapping",
        });
    }
    // XSW2: a signed response wrapped inside a new, unsigned response for the victim.
    {
        let legit = spec!("attacker@example.com");
        let mut signed_spec = legit.clone();
        signed_spec.sign = Sign::Response;
        let signed_response = idp.response(&signed_spec);
        let mut evil_spec = legit.clone();
        evil_spec.name_id = "victim@example.com".into();
        evil_spec.response_id = "_evilresp".into();
        evil_spec.assertion_id = "_evil2".into();
        let outer = idp
            .response_xml(&evil_spec, &idp.assertion_xml(&evil_spec, false), false)
            .replace(
                "<samlp:Status>",
                &format!("<samlp:Extensions>{signed_response}</samlp:Extensions><samlp:Status>"),
            );
        attacks.push(Attack {
            name: "XSW: signed response wrapped in an evil one",
            xml: outer,
            reason: "signature_wrapping",
        });
    }
    // XSW3: the legit signed assertion placed inside the evil assertion's ds:Object.
    {
        let legit = spec!("attacker@example.com");
        let signed = idp.signed_assertion(&legit, &idp.keys);
        let mut evil_spec = legit.clone();
        evil_spec.name_id = "victim@example.com".into();
        let forged = idp.assertion_xml(&evil_spec, false).replacen(
            "<saml:Subject>",
            &format!(r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:Object>{signed}</ds:Object></ds:Signature><saml:Subject>"#),
            1,
        );
        let xml = idp.response_xml(&legit, &forged, false);
        attacks.push(Attack {
            name: "XSW: signed assertion inside ds:Object, same ID",
            xml,
            reason: "signature_wrapping",
        });
    }
    // XSW4: the assertion's signature moved up to the response, referencing the assertion.
    {
        let legit = spec!("attacker@example.com");
        let signed = idp.signed_assertion(&legit, &idp.keys);
        let start = signed.find("<ds:Signature").unwrap();
        let end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        let signature = signed[start..end].to_owned();
        let bare = format!("{}{}", &signed[..start], &signed[end..]);
        let xml = idp
            .response_xml(&legit, &bare, false)
            .replace("<samlp:Status>", &format!("{signature}<samlp:Status>"));
        attacks.push(Attack {
            name: "XSW: detached signature in the response",
            xml,
            reason: "signature_wrapping",
        });
    }
    // A signed response whose assertion was swapped for an unsigned one after signing.
    {
        let mut legit = spec!("attacker@example.com");
        legit.sign = Sign::Response;
        let signed_response = idp.response(&legit);
        let tampered = signed_response.replace("attacker@example.com", "victim@example.com");
        attacks.push(Attack {
            name: "signed response wrapping an altered, unsigned assertion",
            xml: tampered,
            reason: "bad_signature",
        });
    }
    // Comment injection in the NameID of a validly signed assertion.
    {
        let legit = spec!("admin@example.com.evil.com");
        let xml = idp.response(&legit).replace(
            "admin@example.com.evil.com",
            "admin@example.com<!---->.evil.com",
        );
        attacks.push(Attack {
            name: "comment injection in NameID",
            xml,
            reason: "comment_injection",
        });
    }
    // Signed by a key that is not the connection's.
    {
        let legit = spec!("victim@example.com");
        attacks.push(Attack {
            name: "assertion signed by another key",
            xml: idp.response_signed_by(&legit, &evil),
            reason: "bad_signature",
        });
    }
    // Unsigned.
    {
        let mut legit = spec!("victim@example.com");
        legit.sign = Sign::None;
        attacks.push(Attack {
            name: "unsigned response and assertion",
            xml: idp.response(&legit),
            reason: "unsigned",
        });
    }
    // Wrong audience / missing audience.
    {
        let mut s = spec!("victim@example.com");
        s.audience = Some("https://other-sp.example.com/metadata".into());
        attacks.push(Attack {
            name: "wrong audience",
            xml: idp.response(&s),
            reason: "wrong_audience",
        });
        let mut s = spec!("victim@example.com");
        s.audience = None;
        attacks.push(Attack {
            name: "missing audience",
            xml: idp.response(&s),
            reason: "wrong_audience",
        });
    }
    // Wrong recipient; wrong destination on a signed response.
    {
        let mut s = spec!("victim@example.com");
        s.recipient = "https://other-sp.example.com/acs".into();
        attacks.push(Attack {
            name: "wrong recipient",
            xml: idp.response(&s),
            reason: "wrong_recipient",
        });
        let mut s = spec!("victim@example.com");
        s.sign = Sign::Response;
        s.destination = Some("https://other-sp.example.com/acs".into());
        attacks.push(Attack {
            name: "wrong destination",
            xml: idp.response(&s),
            reason: "wrong_destination",
        });
    }
    // Expired (beyond the 2-minute skew) and not yet valid.
    {
        let now = now_ms();
        let mut s = spec!("victim@example.com");
        s.not_before = now - 20 * 60_000;
        s.not_on_or_after = now - 3 * 60_000;
        attacks.push(Attack {
            name: "expired",
            xml: idp.response(&s),
            reason: "expired",
        });
        let mut s = spec!("victim@example.com");
        s.not_before = now + 3 * 60_000;
        s.not_on_or_after = now + 10 * 60_000;
        attacks.push(Attack {
            name: "not yet valid",
            xml: idp.response(&s),
            reason: "not_yet_valid",
        });
    }
    // InResponseTo of a request we never sent; unsolicited on a connection without IdP-initiated.
    {
        let s = idp.spec(&app, KEY, Some("_never-issued"), "victim@example.com");
        attacks.push(Attack {
            name: "InResponseTo mismatch",
            xml: idp.response(&s),
            reason: "in_response_to_mismatch",
        });
        let s = idp.spec(&app, KEY, None, "victim@example.com");
        attacks.push(Attack {
            name: "unsolicited response",
            xml: idp.response(&s),
            reason: "unsolicited_response",
        });
    }
    // Wrong issuer; failed status.
    {
        let mut s = spec!("victim@example.com");
        s.issuer = "https://evil.idp.example.com".into();
        attacks.push(Attack {
            name: "wrong issuer",
            xml: idp.response(&s),
            reason: "wrong_issuer",
        });
        let mut s = spec!("victim@example.com");
        s.status = "urn:oasis:names:tc:SAML:2.0:status:Requester".into();
        attacks.push(Attack {
            name: "status not success",
            xml: idp.response(&s),
            reason: "status_not_success",
        });
    }
    // SHA-1 when the connection does not allow it.
    {
        let mut s = spec!("victim@example.com");
        s.algorithms = RSA_SHA1;
        attacks.push(Attack {
            name: "SHA-1 signature",
            xml: idp.response(&s),
            reason: "algorithm_not_allowed",
        });
    }
    // Garbage and entity tricks.
    attacks.push(Attack {
        name: "not XML",
        xml: "hello".into(),
        reason: "malformed_input",
    });
    attacks.push(Attack {
        name: "XXE / DTD",
        xml: r#"<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:Response>"#.into(),
        reason: "malformed_input",
    });

    for attack in &attacks {
        let r = post_acs(&app, KEY, &attack.xml).await;
        assert!(
            r.status == 403 || r.status == 400,
            "{}: {}",
            attack.name,
            r.status
        );
        assert_eq!(
            r.body["reason"], attack.reason,
            "{}: {}",
            attack.name, r.body
        );
        assert!(r.session.is_none(), "{}", attack.name);
        let text = r.body.to_string();
        assert!(!text.contains('<'), "{}: XML echoed: {text}", attack.name);
    }
    for reason in attacks.iter().map(|a| a.reason) {
        assert!(refusals(&app, reason).await >= 1, "{reason} not audited");
    }
    let refused = app
        .audit("action=signIn")
        .await
        .into_iter()
        .filter(|e| e["delta"]["outcome"] == "refused")
        .count();
    assert_eq!(refused, attacks.len());
    assert_eq!(members_count(&app).await, before, "nothing provisioned");
    assert!(last_sign_in(&app, "signedIn").await.is_none());
}

#[tokio::test]
async fn replay_is_refused_and_sha1_works_when_opted_in() {
    let app = TestApp::spawn().await;
    let idp = SamlIdp::new("replay");
    saml_connection(
        &app,
        KEY,
        &idp,
        json!({"saml": {"allowIdpInitiated": true, "allowSha1": true}}),
    )
    .await;
    let mut spec = idp.spec(&app, KEY, None, "again@example.com");
    spec.algorithms = RSA_SHA1;
    let xml = idp.response(&spec);
    let first = post_acs(&app, KEY, &xml).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let second = post_acs(&app, KEY, &xml).await;
    assert_eq!(second.status, 403);
    assert_eq!(second.body["reason"], "replay");
    assert_eq!(refusals(&app, "replay").await, 1);
    // An SP-initiated response's request id is consumed once too.
    let rid = start_saml_login(&app, KEY).await;
    let mut a = idp.spec(&app, KEY, Some(&rid), "again@example.com");
    a.algorithms = RSA_SHA1;
    let ok = post_acs(&app, KEY, &idp.response(&a)).await;
    assert_eq!(ok.status, 200);
    let mut b = idp.spec(&app, KEY, Some(&rid), "again@example.com");
    b.algorithms = RSA_SHA1;
    let again = post_acs(&app, KEY, &idp.response(&b)).await;
    assert_eq!(again.body["reason"], "in_response_to_mismatch");
}

#[tokio::test]
async fn entra_group_overage_signs_in_and_leaves_what_groups_gave() {
    let (app, idp) = setup(json!({
        "defaultRole": "reader",
        "mappings": [
            {"match": {"group": "eng-*"}, "team": "platform", "role": "admin"},
            {"match": {"attribute": "department", "value": "Sales"}, "team": "sales"}
        ]
    }))
    .await;
    let sign_in = |attributes: Vec<(String, Vec<String>)>| {
        let (app, idp) = (&app, &idp);
        async move {
            let id = start_saml_login(app, KEY).await;
            let mut spec = idp.spec(app, KEY, Some(&id), "lin@example.com");
            spec.attributes.extend(attributes);
            let r = post_acs(app, KEY, &idp.response(&spec)).await;
            assert_eq!(r.status, 200, "{}", r.body);
            r
        }
    };
    let r = sign_in(vec![("groups".into(), vec!["eng-web".into()])]).await;
    assert_eq!(r.body["role"], "admin");
    assert_eq!(r.body["teams"], json!(["platform"]));
    let entry = last_sign_in(&app, "signedIn").await.unwrap();
    assert!(entry["delta"].get("groupsOverage").is_none());

    // Entra sends a link in place of the groups: the sign-in goes through, and the kinds of
    // grant group rules give (teams, here) are left as they are, where "no groups" would take
    // the group's team away.
    let link = "http://schemas.microsoft.com/claims/groups.link";
    let graph = "https://graph.windows.net/tenant/users/lin/getMemberObjects";
    let department = || ("department".to_owned(), vec!["Sales".to_owned()]);
    let r = sign_in(vec![(link.into(), vec![graph.into()]), department()]).await;
    assert_eq!(r.body["role"], "admin");
    assert_eq!(r.body["teams"], json!(["platform"]));
    let entry = last_sign_in(&app, "signedIn").await.unwrap();
    assert_eq!(entry["delta"]["groupsOverage"], true);
    assert_eq!(entry["delta"]["matchedRules"], json!([1]));

    // The same sign-in without the link: no groups, so the group's team goes.
    let r = sign_in(vec![department()]).await;
    assert_eq!(
        r.body["role"], "admin",
        "a role is kept when no rule gives one"
    );
    assert_eq!(r.body["teams"], json!(["sales"]));
}

#[tokio::test]
async fn ecdsa_p256_signatures_made_by_xmlsec1_are_accepted_and_checked() {
    let app = TestApp::spawn().await;
    let idp = SamlIdp::new_ec("ec-idp");
    saml_connection(&app, KEY, &idp, json!({})).await;
    for sign in [Sign::Assertion, Sign::Response, Sign::Both] {
        let id = start_saml_login(&app, KEY).await;
        let mut spec = idp.spec(&app, KEY, Some(&id), "ec@example.com");
        spec.algorithms = ECDSA_SHA256;
        spec.sign = sign;
        let xml = idp.response(&spec);
        assert!(xml.contains("ecdsa-sha256"), "{xml}");
        let r = post_acs(&app, KEY, &xml).await;
        assert_eq!(r.status, 200, "{sign:?}: {}", r.body);
    }
    // Signed with another P-256 key, or edited after signing: refused.
    let other = KeyPair::generate_ec(idp.dir.path(), "ec-other");
    let id = start_saml_login(&app, KEY).await;
    let mut spec = idp.spec(&app, KEY, Some(&id), "ec@example.com");
    spec.algorithms = ECDSA_SHA256;
    let r = post_acs(&app, KEY, &idp.response_signed_by(&spec, &other)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let id = start_saml_login(&app, KEY).await;
    let mut spec = idp.spec(&app, KEY, Some(&id), "ec@example.com");
    spec.algorithms = ECDSA_SHA256;
    let edited = idp
        .response(&spec)
        .replace("ec@example.com", "ceo@example.com");
    let r = post_acs(&app, KEY, &edited).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        members_count(&app).await,
        1,
        "the one EC sign-in, nothing from the refused"
    );
}

/// The `Location` of a SAML login redirect.
async fn login_location(app: &TestApp) -> reqwest::Url {
    let resp = browser()
        .get(format!(
            "{}/sso/{KEY}/saml/login?returnTo=/projects",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    reqwest::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap()
}

async fn sp_metadata_xml(app: &TestApp) -> String {
    let resp = browser()
        .get(format!("{}/sso/{KEY}/saml/metadata", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

#[tokio::test]
async fn authn_requests_are_signed_when_asked_and_openssl_verifies_them() {
    use base64::Engine;
    let (app, idp) = setup(json!({})).await;
    // Unsigned by default.
    let url = login_location(&app).await;
    assert!(!url.query().unwrap().contains("Signature="));
    assert!(
        sp_metadata_xml(&app)
            .await
            .contains(r#"AuthnRequestsSigned="false""#)
    );

    // Signing needs the SP key pair.
    let (s, b) = app
        .patch(
            &format!("/api/v2/connections/{KEY}"),
            json!({"saml": {"idpEntityId": idp.entity_id, "idpSsoUrl": "https://idp.example.com/sso?tenant=7",
                            "idpCertificates": [idp.keys.cert_pem], "signRequests": true}}),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.to_string().contains("signRequests"), "{b}");

    let sp = KeyPair::generate(idp.dir.path(), "sp-signing");
    let (s, b) = app
        .patch(
            &format!("/api/v2/connections/{KEY}"),
            json!({"saml": {"idpEntityId": idp.entity_id, "idpSsoUrl": "https://idp.example.com/sso?tenant=7",
                            "idpCertificates": [idp.keys.cert_pem], "signRequests": true,
                            "spPrivateKey": sp.key_pem, "spCertificate": sp.cert_pem}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let url = login_location(&app).await;
    let query = url.query().unwrap().to_owned();
    assert!(query.starts_with("tenant=7&SAMLRequest="), "{query}");
    let pairs: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(
        pairs["SigAlg"],
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    );
    // The signed octets, as the binding defines them: the query's own
    // SAMLRequest=...&SigAlg=... (no RelayState is sent), checked by openssl with the
    // public key of the certificate the metadata publishes.
    let start = query.find("SAMLRequest=").unwrap();
    let end = query.find("&Signature=").unwrap();
    let octets = &query[start..end];
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&pairs["Signature"])
        .unwrap();
    assert!(
        openssl_verifies(&sp, octets, &signature),
        "openssl verifies the request's signature"
    );
    let edited = octets.replace("SAMLRequest=", "SAMLRequest=x");
    assert!(!openssl_verifies(&sp, &edited, &signature));

    let metadata = sp_metadata_xml(&app).await;
    assert!(
        metadata.contains(r#"AuthnRequestsSigned="true""#),
        "{metadata}"
    );
    let cert_b64: String = sp
        .cert_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let signing = metadata
        .find(r#"<md:KeyDescriptor use="signing">"#)
        .unwrap();
    assert!(metadata[signing..].contains(&cert_b64), "{metadata}");
}
