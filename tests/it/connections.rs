//! Identity connections over REST: an admin sets up Okta, hands the IdP a SCIM token, maps
//! groups to teams and roles, previews the mapping, rotates the token; secrets never leak.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{BOOTSTRAP, TestApp};

const CERT: &str = include_str!("../fixtures/connection-idp-cert.pem");

fn okta() -> Value {
    json!({
        "key": "okta", "kind": "okta", "name": "Okta (prod)",
        "saml": {"idpEntityId": "http://www.okta.com/exk1", "idpSsoUrl": "https://acme.okta.com/app/sso/saml",
                 "idpCertificates": [CERT]},
        "oidc": {"issuer": "https://acme.okta.com", "clientId": "0oa1", "clientSecret": "very-secret-client-secret"}
    })
}

async fn custom_role(app: &TestApp, key: &str) {
    let (s, body) = app
        .post(
            "/api/v2/roles",
            json!({"key": key, "name": key, "policy": [
                {"effect": "allow", "actions": ["*"], "resources": ["proj/*:env/*:flag/*"]}]}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_sets_up_a_connection_and_its_secrets_stay_secret() {
    let app = TestApp::spawn().await;
    let (s, c) = app.post("/api/v2/connections", okta()).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["kind"], "okta");
    assert_eq!(c["jit"], true);
    assert_eq!(c["defaultRole"], "reader");
    assert_eq!(c["deprovision"], "deactivate");
    assert_eq!(c["saml"]["groupsAttribute"], "groups");
    assert_eq!(c["oidc"]["scopes"], json!(["openid", "email", "profile"]));
    assert_eq!(c["oidcClientSecretSet"], true);
    assert!(c["oidc"].get("clientSecret").is_none(), "{c}");

    let (s, dup) = app.post("/api/v2/connections", okta()).await;
    assert_eq!(s, 409, "{dup}");

    // A new OIDC object without a secret keeps the stored one; a stale version is refused.
    let (s, c2) = app
        .patch(
            "/api/v2/connections/okta",
            json!({"jit": false, "oidc": {"issuer": "https://acme.okta.com", "clientId": "0oa2"}, "version": 1}),
        )
        .await;
    assert_eq!(s, 200, "{c2}");
    assert_eq!(c2["jit"], false);
    assert_eq!(c2["oidc"]["clientId"], "0oa2");
    assert_eq!(c2["oidcClientSecretSet"], true);
    let (s, stale) = app
        .patch(
            "/api/v2/connections/okta",
            json!({"jit": true, "version": 1}),
        )
        .await;
    assert_eq!(s, 409, "{stale}");
    let (s, c3) = app
        .patch("/api/v2/connections/okta", json!({"saml": null}))
        .await;
    assert_eq!(s, 200, "{c3}");
    assert!(c3.get("saml").is_none(), "{c3}");

    // No response and no audit entry carries a secret.
    let (_, export) = app.get("/api/v2/connections").await;
    assert_eq!(export["totalCount"], 1);
    let log = app.audit("spec=connection/*").await;
    assert_eq!(log.len(), 3, "create + two updates");
    let everything = format!("{export}{}", Value::Array(log.clone()));
    assert!(!everything.contains("very-secret-client-secret"));
    assert_eq!(log[2]["accesses"][0]["action"], "createConnection");
    assert_eq!(
        log[0]["previousVersion"]["saml"]["idpEntityId"],
        "http://www.okta.com/exk1"
    );

    let (s, _) = app.delete("/api/v2/connections/okta").await;
    assert_eq!(s, 204);
    let (s, gone) = app.get("/api/v2/connections/okta").await;
    assert_eq!(s, 404, "{gone}");
    assert_eq!(app.audit("action=deleteConnection").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_connections_are_refused_with_the_field_named_and_nothing_written() {
    let app = TestApp::spawn().await;
    let before = app.audit_count().await;
    let cases = [
        (json!({"key": "x", "kind": "onelogin"}), "kind"),
        (json!({"key": "x y", "kind": "okta"}), "key"),
        (
            json!({"key": "x", "kind": "okta", "defaultRole": "owner"}),
            "defaultRole",
        ),
        (
            json!({"key": "x", "kind": "okta", "deprovision": "shred"}),
            "deprovision",
        ),
        (
            json!({"key": "x", "kind": "okta", "saml": {"idpEntityId": "e"}}),
            "saml.idpSsoUrl",
        ),
        (
            json!({"key": "x", "kind": "okta", "saml": {"idpEntityId": "e", "idpSsoUrl": "https://i/sso", "idpCertificates": ["nope"]}}),
            "saml.idpCertificates[0]",
        ),
        (
            json!({"key": "x", "kind": "okta", "oidc": {"issuer": "http://evil.example", "clientId": "c"}}),
            "oidc.issuer",
        ),
        (
            json!({"key": "x", "kind": "okta", "oidc": {"issuer": "https://i", "clientId": "c", "extra": 1}}),
            "oidc",
        ),
        (
            json!({"key": "x", "kind": "okta", "mappings": [{"match": {"group": "g"}}]}),
            "mappings[0]",
        ),
        (
            json!({"key": "x", "kind": "okta", "mappings": [{"match": {"group": "g"}, "customRoles": ["nope"]}]}),
            "mappings[0].customRoles",
        ),
        (
            json!({"key": "x", "kind": "okta", "surprise": true}),
            "surprise",
        ),
    ];
    for (body, field) in cases {
        let (s, err) = app.post("/api/v2/connections", body.clone()).await;
        // A rule naming a custom role that does not exist names something missing: 404.
        let (status, code) = if field == "mappings[0].customRoles" {
            (404, "not_found")
        } else {
            (400, "invalid_request")
        };
        assert_eq!(s, status, "{body} -> {err}");
        assert_eq!(err["code"], code);
        assert!(
            err["message"].as_str().unwrap().contains(field),
            "{body}: {err} should name {field}"
        );
    }
    assert_eq!(app.audit_count().await, before);
    let (_, list) = app.get("/api/v2/connections").await;
    assert_eq!(list["totalCount"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_admins_manage_connections() {
    let app = TestApp::spawn().await;
    let (s, _) = app.post("/api/v2/connections", okta()).await;
    assert_eq!(s, 201);
    let (_, writer) = app.member_with_token("w@example.com", "writer").await;
    let (_, reader) = app.member_with_token("r@example.com", "reader").await;
    let (_, nobody) = app.member_with_token("n@example.com", "no_access").await;
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v2/connections",
            Some(&writer),
            Some(json!({"key": "e", "kind": "entra"})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v2/connections/okta/scim-tokens",
            Some(&writer),
            None,
        )
        .await;
    assert_eq!(s, 403);
    let (s, c) = app
        .call(Method::GET, "/api/v2/connections/okta", Some(&reader), None)
        .await;
    assert_eq!(s, 200, "readers see settings, never secrets: {c}");
    let (s, list) = app
        .call(Method::GET, "/api/v2/connections", Some(&nobody), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(list["totalCount"], 0, "no_access sees no connection");
    let (s, _) = app
        .call(Method::GET, "/api/v2/connections/okta", Some(&nobody), None)
        .await;
    assert_eq!(s, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn scim_tokens_rotate_and_never_open_rest() {
    let app = TestApp::spawn().await;
    app.post("/api/v2/connections", okta()).await;
    let (s, first) = app
        .post("/api/v2/connections/okta/scim-tokens", json!(null))
        .await;
    assert_eq!(s, 201, "{first}");
    let (_, second) = app
        .post("/api/v2/connections/okta/scim-tokens", json!(null))
        .await;
    let first_secret = first["token"].as_str().unwrap();
    let second_secret = second["token"].as_str().unwrap();
    assert!(first_secret.starts_with("gscim_"));
    assert_ne!(first_secret, second_secret);

    // Both work during the rotation; the connection acts as an app for the audit log.
    for secret in [first_secret, second_secret] {
        let (app_principal, connection) = app
            .service
            .authenticate_scim(&format!("Bearer {secret}"))
            .await
            .unwrap();
        assert_eq!(app_principal.connection_key, "okta");
        assert_eq!(connection.key, "okta");
        assert!(app_principal.is_scim);
    }
    // A SCIM token is not an API token, and an API token is not a SCIM token.
    let (s, _) = app
        .call(Method::GET, "/api/v2/me", Some(first_secret), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        app.service
            .authenticate_scim(&format!("Bearer {BOOTSTRAP}"))
            .await
            .is_err()
    );

    // The listing shows endings only, and revocation takes effect at once.
    let (_, c) = app.get("/api/v2/connections/okta").await;
    let tokens = c["scimTokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(!c.to_string().contains(first_secret));
    assert_eq!(tokens[0]["ending"], &first_secret[first_secret.len() - 4..]);
    let id = first["id"].as_str().unwrap();
    let (s, _) = app
        .delete(&format!("/api/v2/connections/okta/scim-tokens/{id}"))
        .await;
    assert_eq!(s, 204);
    assert!(
        app.service
            .authenticate_scim(&format!("Bearer {first_secret}"))
            .await
            .is_err()
    );
    assert!(
        app.service
            .authenticate_scim(&format!("Bearer {second_secret}"))
            .await
            .is_ok()
    );
    let (s, again) = app
        .delete(&format!("/api/v2/connections/okta/scim-tokens/{id}"))
        .await;
    assert_eq!(s, 409, "{again}");
    let (s, _) = app
        .delete("/api/v2/connections/okta/scim-tokens/no-such-token")
        .await;
    assert_eq!(s, 404);

    let log = app.audit("spec=connection/okta").await;
    let actions: Vec<&str> = log
        .iter()
        .map(|e| e["accesses"][0]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "deleteScimToken",
            "createScimToken",
            "createScimToken",
            "createConnection"
        ]
    );
    assert!(!Value::Array(log).to_string().contains(second_secret));

    // Deleting the connection takes its tokens with it.
    app.delete("/api/v2/connections/okta").await;
    assert!(
        app.service
            .authenticate_scim(&format!("Bearer {second_secret}"))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mapping_rules_are_checked_stored_and_previewed() {
    let app = TestApp::spawn().await;
    app.post("/api/v2/connections", okta()).await;
    custom_role(&app, "developer").await;
    custom_role(&app, "qa").await;

    // A preset role needs its `projects` attribute where it is assigned.
    let (s, err) = app
        .put(
            "/api/v2/connections/okta/mappings",
            json!([{"match": {"group": "eng*"}, "customRoles": ["project-viewer"]}]),
        )
        .await;
    assert_eq!(s, 400, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("mappings[0].customRoles"),
        "{err}"
    );
    let (s, err) = app
        .put(
            "/api/v2/connections/okta/mappings",
            json!([{"match": {"group": "admins"}, "role": "owner"}]),
        )
        .await;
    assert_eq!(s, 400, "{err}");

    let rules = json!([
        {"match": {"group": "eng*"}, "team": "engineering", "customRoles": ["developer"]},
        {"match": {"group": "eng-web"}, "customRoles": ["project-viewer"], "roleAttributes": {"projects": ["web"]}},
        {"match": {"attribute": "department", "value": "Sales*"}, "role": "reader"},
        {"match": {"group": "admins"}, "role": "admin"}
    ]);
    let (s, c) = app
        .put("/api/v2/connections/okta/mappings", rules.clone())
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["mappings"], rules);
    assert_eq!(c["version"], 2);

    let (s, p) = app
        .post(
            "/api/v2/connections/okta/mappings/preview",
            json!({"attributes": {"customRole": "qa, ghost", "TeamKey": "platform", "department": "Sales EMEA"},
                   "groups": ["eng-web", {"id": "00g9", "name": "Everyone"}]}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["role"], "reader");
    assert_eq!(p["roleMapped"], true);
    assert_eq!(
        p["customRoles"],
        json!(["qa", "ghost", "developer", "project-viewer"])
    );
    assert_eq!(p["unknownCustomRoles"], json!(["ghost"]));
    assert_eq!(p["roleAttributes"], json!({"projects": ["web"]}));
    assert_eq!(p["teams"], json!(["platform", "engineering"]));
    assert_eq!(p["matchedRules"], json!([0, 1, 2]));

    let (_, p) = app
        .post(
            "/api/v2/connections/okta/mappings/preview",
            json!({"groups": ["admins"], "attributes": {"role": "writer"}}),
        )
        .await;
    assert_eq!(
        p["role"], "writer",
        "an explicit role attribute wins over rules: {p}"
    );
    let (_, p) = app
        .post("/api/v2/connections/okta/mappings/preview", json!({}))
        .await;
    assert_eq!(p["role"], "reader");
    assert_eq!(p["roleMapped"], false, "the connection default: {p}");
    let (s, err) = app
        .post(
            "/api/v2/connections/okta/mappings/preview",
            json!({"attributes": {"role": "owner"}}),
        )
        .await;
    assert_eq!(s, 400, "{err}");
    let (s, err) = app
        .post(
            "/api/v2/connections/okta/mappings/preview",
            json!({"attributes": {"x": {"nested": 1}}}),
        )
        .await;
    assert_eq!(s, 400, "{err}");
    assert!(err["message"].as_str().unwrap().contains("attributes.x"));

    let log = app.audit("action=updateMappings").await;
    assert_eq!(log.len(), 1, "refused rule sets wrote nothing");
    assert_eq!(log[0]["currentVersion"], rules);
}
