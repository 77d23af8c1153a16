//! `/`: the sign-in page signed out; "You" signed in, with grants and their sources, the
//! effective-access table, sessions and personal tokens; sign-out.

use serde_json::json;

use super::super::sso_idp::alive;
use super::*;

/// The cells of the access table's row for environment `env` (`yes`/`no` in column order).
fn access_row(html: &str, env: &str) -> Vec<bool> {
    let at = html
        .find(&format!("<code>{env}</code>"))
        .unwrap_or_else(|| panic!("no row for {env}: {html}"));
    let row = &html[at..at + html[at..].find("</tr>").unwrap()];
    row.match_indices("<td class=\"")
        .map(|(i, _)| row[i..].starts_with("<td class=\"yes\""))
        .collect()
}

#[tokio::test]
async fn signed_out_the_root_lists_each_way_to_sign_in() {
    let (app, _idp) = app_with_idp().await;
    let p = page(&app, None, "/").await;
    assert_eq!(p.status, 200);
    assert_secured(&p);
    assert!(
        p.html
            .contains(r#"<a href="/sso/corp/saml/login?returnTo=/">Sign in with corp (SAML)</a>"#),
        "{}",
        p.html
    );
    // Pages of the console send a signed-out browser to sign in.
    for path in ["/console/approvals", "/console/audit", "/console/directory"] {
        let p = page(&app, None, path).await;
        assert_eq!(p.status, 303, "{path}");
        assert_eq!(p.location(), Some("/"), "{path}");
    }
}

#[tokio::test]
async fn you_shows_each_grant_with_its_source_and_what_the_policy_allows() {
    let (app, idp) = app_with_idp().await;
    app.seed_flag_domain().await;
    let (s, body) = app
        .post(
            "/api/v2/roles",
            json!({"key": "prod-toggler", "name": "Prod toggler", "policy": [
                {"effect": "allow", "actions": ["updateOn"], "resources": ["proj/*:env/production:flag/*"]}
            ]}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let (s, body) = app
        .post(
            "/api/v2/teams",
            json!({"key": "ops", "name": "Ops", "customRoleKeys": ["prod-toggler"]}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let me = sign_in(&app, &idp, "rita@example.com", "reader").await;
    let (s, body) = app
        .patch(
            "/api/v2/teams/ops",
            json!({"instructions": [{"kind": "addMembers", "values": [me.member_id]}]}),
        )
        .await;
    assert!(s.is_success(), "{body}");

    let p = page(&app, Some(&me), "/").await;
    assert_eq!(p.status, 200, "{}", p.html);
    assert_secured(&p);
    assert!(p.html.contains("rita@example.com"));
    assert!(p.html.contains(r#"<code>reader</code> <span class="source" title="sso:corp">(sign-in through corp)</span>"#), "{}", p.html);
    assert!(p.html.contains(r#"<code>prod-toggler</code> <span class="source" title="team:ops">(held through team ops)</span>"#), "{}", p.html);
    assert!(
        p.html
            .contains(r#"<code>ops</code> <span class="source" title="rest:"#),
        "{}",
        p.html
    );
    // View, toggle, targeting, review, apply: the team's role toggles in production only.
    assert_eq!(
        access_row(&p.html, "production"),
        [true, true, false, false, false]
    );
    assert_eq!(
        access_row(&p.html, "test"),
        [true, false, false, false, false]
    );
    // The session list marks this one.
    assert!(p.html.contains("(this one)"));
}

#[tokio::test]
async fn a_personal_token_is_created_shown_once_and_revoked_through_forms() {
    let (app, idp) = app_with_idp().await;
    let me = sign_in(&app, &idp, "tom@example.com", "writer").await;
    let csrf = page(&app, Some(&me), "/").await.csrf();

    // Without the CSRF field nothing is created.
    let refused = post_form(&app, &me, "/console/tokens", &[("name", "laptop")]).await;
    assert_eq!(refused.status, 403, "{}", refused.html);
    assert_secured(&refused);
    let (_, tokens) = app.get("/api/v2/tokens").await;
    assert!(!tokens.to_string().contains("laptop"), "{tokens}");

    let created = post_form(
        &app,
        &me,
        "/console/tokens",
        &[
            ("csrf", &csrf),
            ("name", "laptop"),
            ("role", "reader"),
            ("expiresInDays", "30"),
        ],
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.html);
    let marker = r#"<p class="secret"><code>"#;
    let at = created.html.find(marker).expect("the secret is shown") + marker.len();
    let secret = &created.html[at..at + created.html[at..].find('<').unwrap()];
    let (s, who) = app
        .call(reqwest::Method::GET, "/api/v2/me", Some(secret), None)
        .await;
    assert_eq!(s, 200, "{who}");
    assert_eq!(who["role"], "reader");
    // The page after does not show it again.
    let again = page(&app, Some(&me), "/").await;
    assert!(!again.html.contains(secret));
    assert!(again.html.contains("laptop"));
    let created: Vec<_> = app.audit("action=createAccessToken").await;
    assert_eq!(created.iter().filter(|e| e["name"] == "laptop").count(), 1);

    let token_id = who["tokenId"].as_str().unwrap().to_owned();
    let revoked = post_form(
        &app,
        &me,
        &format!("/console/tokens/{token_id}/revoke"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(revoked.status, 303, "{}", revoked.html);
    let (s, _) = app
        .call(reqwest::Method::GET, "/api/v2/me", Some(secret), None)
        .await;
    assert_eq!(s, 401);

    // A token above the member's own role is refused as REST refuses it.
    let over = post_form(
        &app,
        &me,
        "/console/tokens",
        &[("csrf", &csrf), ("name", "too much"), ("role", "admin")],
    )
    .await;
    assert_eq!(over.status, 403, "{}", over.html);
}

#[tokio::test]
async fn signing_out_the_other_sessions_keeps_this_one() {
    let (app, idp) = app_with_idp().await;
    let here = sign_in(&app, &idp, "ann@example.com", "writer").await;
    let there = sign_in(&app, &idp, "ann@example.com", "writer").await;
    let csrf = page(&app, Some(&here), "/").await.csrf();
    let ended = post_form(
        &app,
        &here,
        "/console/sessions/end-others",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(ended.status, 303, "{}", ended.html);
    assert!(alive(&app, &here.cookie).await);
    assert!(!alive(&app, &there.cookie).await);
    assert_eq!(app.audit("action=revokeSessions").await.len(), 1);
}

#[tokio::test]
async fn the_sign_out_button_ends_the_session_and_returns_to_sign_in() {
    let (app, idp) = app_with_idp().await;
    let me = sign_in(&app, &idp, "sam@example.com", "reader").await;
    let you = page(&app, Some(&me), "/").await;
    assert!(
        you.html
            .contains(r#"<form method="post" action="/sso/logout">"#)
    );
    let out = post_form(&app, &me, "/sso/logout", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), Some("/"));
    assert!(!alive(&app, &me.cookie).await);
    let back = page(&app, Some(&me), "/").await;
    assert!(back.html.contains("Sign in with corp"));
}

#[tokio::test]
async fn refusals_made_before_any_page_runs_are_pages_too() {
    let (app, idp) = app_with_idp().await;
    let me = sign_in(&app, &idp, "nia@example.com", "reader").await;
    let missing = page(&app, Some(&me), "/console/nowhere").await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.html.starts_with("<!DOCTYPE html>"),
        "{}",
        missing.html
    );
    assert_secured(&missing);
    let csrf = page(&app, Some(&me), "/").await.csrf();
    let nul = post_form(
        &app,
        &me,
        "/console/tokens",
        &[("csrf", &csrf), ("name", "a\0b")],
    )
    .await;
    assert_eq!(nul.status, 400);
    assert!(nul.html.contains("U+0000"), "{}", nul.html);
    assert_secured(&nul);
    let (_, tokens) = app.get("/api/v2/tokens").await;
    assert!(!tokens.to_string().contains("a\\u0000b"));
}

#[tokio::test]
async fn a_refused_sign_in_names_its_reason_and_leads_back_to_sign_in() {
    let (app, idp) = app_with_idp().await;
    let spec = idp.spec(&app, KEY, None, "eve@example.com");
    let forged = idp.response_signed_by(&spec, &KeyPair::generate(idp.dir.path(), "mallory"));
    let resp = browser()
        .post(format!("{}/sso/{KEY}/saml/acs", app.base))
        .form(&[
            ("SAMLResponse", b64(&forged)),
            ("RelayState", String::new()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let html = resp.text().await.unwrap();
    assert!(html.contains("<h1>Sign-in refused</h1>"), "{html}");
    assert!(
        html.contains("Reason: <code>bad_signature</code>"),
        "{html}"
    );
    assert!(
        html.contains(r#"<a href="/">Back to sign-in</a>"#),
        "{html}"
    );
    assert!(
        !html.contains("mallory"),
        "nothing of the IdP's answer is shown: {html}"
    );
}
