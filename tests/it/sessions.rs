//! Browser sessions from SSO sign-in: the cookie opens REST reads, writes need the CSRF
//! header, logout and deactivation end sessions at once, timeouts hold; SSO-required rules.

use reqwest::Method;
use serde_json::json;

use super::sso_idp::*;
use super::support::{BOOTSTRAP, TestApp};

const KEY: &str = "corp";

struct Session {
    cookie: String,
    csrf: String,
    member_id: String,
}

async fn app_with_idp(extra: serde_json::Value) -> (TestApp, SamlIdp) {
    let app = TestApp::spawn().await;
    let idp = SamlIdp::new("corp");
    let mut extra = extra;
    extra["saml"] = json!({"allowIdpInitiated": true});
    saml_connection(&app, KEY, &idp, extra).await;
    (app, idp)
}

async fn sign_in(app: &TestApp, idp: &SamlIdp, email: &str) -> Session {
    let mut spec = idp.spec(app, KEY, None, email);
    spec.attributes.push(("role".into(), vec!["writer".into()]));
    let r = post_acs(app, KEY, &idp.response(&spec)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    Session {
        cookie: r.session.expect("session cookie"),
        csrf: r.body["csrfToken"].as_str().unwrap().to_owned(),
        member_id: r.body["memberId"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test]
async fn session_cookie_reads_and_csrf_guards_writes() {
    let (app, idp) = app_with_idp(json!({})).await;
    let (s, _) = app
        .post("/api/v2/teams", json!({"key": "ops", "name": "Ops"}))
        .await;
    assert_eq!(s, 201);
    let session = sign_in(&app, &idp, "sue@example.com").await;
    let (s, _) = app
        .patch(
            "/api/v2/teams/ops",
            json!({"instructions": [{"kind": "addMembers", "values": [session.member_id]}]}),
        )
        .await;
    assert!(s.is_success(), "{s}");

    let (s, me) = with_session(&app, Method::GET, "/api/v2/me", &session.cookie, None, None).await;
    assert_eq!(s, 200, "{me}");
    assert_eq!(me["email"], "sue@example.com");
    assert_eq!(me["role"], "writer");
    assert_eq!(me["kind"], "member");
    assert_eq!(me["csrfToken"], session.csrf.as_str());
    assert_eq!(me["status"], "active");
    assert!(me["teams"].as_array().unwrap().contains(&json!("ops")));
    let (s, _) = with_session(
        &app,
        Method::GET,
        "/api/v2/projects",
        &session.cookie,
        None,
        None,
    )
    .await;
    assert_eq!(s, 200);

    // A write with the cookie but without (or with a wrong) CSRF header is refused.
    let body = json!({"name": "cli"});
    let (s, e) = with_session(
        &app,
        Method::POST,
        "/api/v2/tokens",
        &session.cookie,
        None,
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, 403, "{e}");
    assert!(e["message"].as_str().unwrap().contains("X-Gatehouse-CSRF"));
    let (s, _) = with_session(
        &app,
        Method::POST,
        "/api/v2/tokens",
        &session.cookie,
        Some("wrong"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, 403);
    let (s, t) = with_session(
        &app,
        Method::POST,
        "/api/v2/tokens",
        &session.cookie,
        Some(&session.csrf),
        Some(body),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["ownerId"], session.member_id.as_str());
    // The writer's session acts with the member's policy: no admin actions.
    let (s, _) = with_session(
        &app,
        Method::POST,
        "/api/v2/members",
        &session.cookie,
        Some(&session.csrf),
        Some(json!({"email": "x@example.com"})),
    )
    .await;
    assert_eq!(s, 403);
    // The audit names the member as the actor of session writes.
    let created = app.audit("action=createAccessToken").await;
    assert_eq!(created[0]["actor"]["kind"], "member");
    // A forged cookie is 401.
    let (s, _) = with_session(&app, Method::GET, "/api/v2/me", "forged", None, None).await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn logout_and_deactivation_end_sessions_at_once() {
    let (app, idp) = app_with_idp(json!({})).await;
    let a = sign_in(&app, &idp, "ann@example.com").await;
    let b = sign_in(&app, &idp, "ann@example.com").await;
    let resp = browser()
        .post(format!("{}/sso/logout", app.base))
        .header("Cookie", format!("gatehouse_session={}", a.cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (s, _) = with_session(&app, Method::GET, "/api/v2/me", &a.cookie, None, None).await;
    assert_eq!(s, 401);
    assert!(!app.audit("action=signOut").await.is_empty());
    // The other session still works until the member is deactivated.
    let (s, _) = with_session(&app, Method::GET, "/api/v2/me", &b.cookie, None, None).await;
    assert_eq!(s, 200);
    let (s, m) = app
        .patch(
            &format!("/api/v2/members/{}", b.member_id),
            json!({"status": "deactivated"}),
        )
        .await;
    assert_eq!(s, 200, "{m}");
    let entry = &app.audit("action=updateMemberStatus").await[0];
    assert!(
        entry["description"].as_str().unwrap().contains("session"),
        "{entry}"
    );
    let (s, _) = with_session(&app, Method::GET, "/api/v2/me", &b.cookie, None, None).await;
    assert_eq!(s, 401);
    // Reactivation does not bring revoked sessions back.
    let (s, _) = app
        .patch(
            &format!("/api/v2/members/{}", b.member_id),
            json!({"status": "active"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = with_session(&app, Method::GET, "/api/v2/me", &b.cookie, None, None).await;
    assert_eq!(s, 401);
    // Deleting a member ends its sessions too.
    let c = sign_in(&app, &idp, "ann@example.com").await;
    let (s, _) = app
        .delete(&format!("/api/v2/members/{}", c.member_id))
        .await;
    assert_eq!(s, 204);
    let (s, _) = with_session(&app, Method::GET, "/api/v2/me", &c.cookie, None, None).await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn idle_timeout_ends_a_session() {
    let (app, idp) = app_with_idp(json!({})).await;
    let mut settings = app.service.sso_settings();
    settings.session.idle_ms = 800;
    app.service.set_sso_settings(settings);
    let s1 = sign_in(&app, &idp, "idle@example.com").await;
    let (s, _) = with_session(&app, Method::GET, "/api/v2/me", &s1.cookie, None, None).await;
    assert_eq!(s, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let (s, _) = with_session(&app, Method::GET, "/api/v2/me", &s1.cookie, None, None).await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn sso_required_connection_forbids_token_creation() {
    let (app, idp) = app_with_idp(json!({"ssoRequired": true})).await;
    let s1 = sign_in(&app, &idp, "req@example.com").await;
    let (s, e) = with_session(
        &app,
        Method::POST,
        "/api/v2/tokens",
        &s1.cookie,
        Some(&s1.csrf),
        Some(json!({"name": "t"})),
    )
    .await;
    assert_eq!(s, 403, "{e}");
    assert!(e["message"].as_str().unwrap().contains("requires SSO"));
}

#[tokio::test]
async fn account_sso_requirement_stops_member_tokens_but_not_service_tokens_or_the_owner() {
    let app = TestApp::spawn().await;
    let (_, member_token) = app.member_with_token("dev@example.com", "writer").await;
    let (s, svc) = app
        .post(
            "/api/v2/tokens",
            json!({"name": "ci", "serviceToken": true, "role": "reader"}),
        )
        .await;
    assert_eq!(s, 201, "{svc}");
    let service_token = svc["token"].as_str().unwrap().to_owned();
    let (s, p) = app.get("/api/v2/account/sso").await;
    assert_eq!(s, 200);
    assert_eq!(p["ssoRequired"], false);
    // A writer may not switch it.
    let (s, _) = app
        .call(
            Method::PUT,
            "/api/v2/account/sso",
            Some(&member_token),
            Some(json!({"ssoRequired": true})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, p) = app
        .put(
            "/api/v2/account/sso",
            json!({"ssoRequired": true, "comment": "SSO only"}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["ssoRequired"], true);
    let entry = &app.audit("action=updateSamlRequireSso").await[0];
    assert_eq!(entry["previousVersion"]["ssoRequired"], false);
    assert_eq!(entry["currentVersion"]["ssoRequired"], true);
    let (s, e) = app
        .call(Method::GET, "/api/v2/me", Some(&member_token), None)
        .await;
    assert_eq!(s, 401, "{e}");
    assert!(e["message"].as_str().unwrap().contains("SSO"));
    let (s, _) = app
        .call(Method::GET, "/api/v2/me", Some(&service_token), None)
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .call(Method::GET, "/api/v2/me", Some(BOOTSTRAP), None)
        .await;
    assert_eq!(s, 200);
    // Turning it off restores the member's token.
    let (s, _) = app
        .put("/api/v2/account/sso", json!({"ssoRequired": false}))
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .call(Method::GET, "/api/v2/me", Some(&member_token), None)
        .await;
    assert_eq!(s, 200);
}
