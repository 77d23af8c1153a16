//! `/console/approvals`: a reviewer finds the request in the inbox, reads the change as a
//! before/after diff, approves and applies it through forms; a reader is offered nothing and
//! is refused as REST refuses. The entries are the REST ones.

use reqwest::Method;
use serde_json::{Value, json};

use super::*;

/// A team `releasers` whose role may review and apply requests and toggle flags.
async fn releasers(app: &TestApp) {
    let (s, body) = app
        .post(
            "/api/v2/roles",
            json!({"key": "releaser", "name": "Releaser", "policy": [
                {"effect": "allow", "actions": ["reviewApprovalRequest", "applyApprovalRequest"], "resources": ["proj/*:env/*:request/*"]},
                {"effect": "allow", "actions": ["updateOn"], "resources": ["proj/*:env/*:flag/*"]}
            ]}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let (s, body) = app
        .post(
            "/api/v2/teams",
            json!({"key": "releasers", "name": "Releasers", "customRoleKeys": ["releaser"]}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
}

async fn join(app: &TestApp, team: &str, member_id: &str) {
    let (s, body) = app
        .patch(
            &format!("/api/v2/teams/{team}"),
            json!({"instructions": [{"kind": "addMembers", "values": [member_id]}]}),
        )
        .await;
    assert!(s.is_success(), "{body}");
}

/// A writer's request to turn flag `f` on in production.
async fn requested(app: &TestApp) -> String {
    let (_, alice) = app.member_with_token("alice@example.com", "writer").await;
    let (s, r) = app
        .call(
            Method::POST,
            "/api/v2/approval-requests",
            Some(&alice),
            Some(json!({
                "resourceId": "proj/p:env/production:flag/f",
                "description": "launch f in production",
                "instructions": [{"kind": "turnFlagOn"}],
            })),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    r["_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_reviewer_approves_and_applies_from_the_inbox() {
    let (app, idp) = app_with_idp().await;
    app.seed_flag_domain().await;
    releasers(&app).await;
    let id = requested(&app).await;
    let rob = sign_in(&app, &idp, "rob@example.com", "reader").await;
    join(&app, "releasers", &rob.member_id).await;

    let inbox = page(&app, Some(&rob), "/console/approvals").await;
    assert_eq!(inbox.status, 200, "{}", inbox.html);
    assert_secured(&inbox);
    let waiting = &inbox.html[inbox.html.find("Waiting for your review").unwrap()
        ..inbox.html.find("Approved, ready for you to apply").unwrap()];
    assert!(
        waiting.contains(&format!(
            r#"<a href="/console/approvals/{id}">launch f in production</a>"#
        )),
        "{waiting}"
    );

    let detail = page(&app, Some(&rob), &format!("/console/approvals/{id}")).await;
    assert_eq!(detail.status, 200, "{}", detail.html);
    assert!(
        detail
            .html
            .contains(r#"<span class="diff-del">-     &quot;on&quot;: false"#),
        "{}",
        detail.html
    );
    assert!(
        detail
            .html
            .contains(r#"<span class="diff-add">+     &quot;on&quot;: true"#)
    );
    assert!(detail.html.contains("Send review"));
    assert!(
        !detail.html.contains("Apply the change"),
        "not approved yet"
    );

    let csrf = detail.csrf();
    let reviewed = post_form(
        &app,
        &rob,
        &format!("/console/approvals/{id}/reviews"),
        &[("csrf", &csrf), ("kind", "approve"), ("comment", "ship it")],
    )
    .await;
    assert_eq!(reviewed.status, 303, "{}", reviewed.html);
    let detail = page(&app, Some(&rob), &format!("/console/approvals/{id}")).await;
    assert!(detail.html.contains("pending, approved"), "{}", detail.html);
    assert!(detail.html.contains("ship it"));
    assert!(detail.html.contains("Apply the change"));
    let inbox = page(&app, Some(&rob), "/console/approvals").await;
    let ready = &inbox.html[inbox.html.find("Approved, ready for you to apply").unwrap()..];
    assert!(
        ready.contains(&format!("/console/approvals/{id}")),
        "{ready}"
    );

    let applied = post_form(
        &app,
        &rob,
        &format!("/console/approvals/{id}/apply"),
        &[("csrf", &csrf), ("comment", "")],
    )
    .await;
    assert_eq!(applied.status, 303, "{}", applied.html);
    let (_, flag) = app.get("/api/v2/flags/p/f").await;
    assert_eq!(flag["environments"]["production"]["on"], true, "{flag}");
    let change = app.audit("action=updateOn").await;
    assert_eq!(change.len(), 1);
    assert_eq!(change[0]["approvalRequestId"], id.as_str());
    assert_eq!(
        change[0]["actor"]["email"], "rob@example.com",
        "{}",
        change[0]
    );
}

#[tokio::test]
async fn a_reader_is_offered_nothing_and_refused_as_rest_refuses() {
    let (app, idp) = app_with_idp().await;
    app.seed_flag_domain().await;
    let id = requested(&app).await;
    let rita = sign_in(&app, &idp, "rita@example.com", "reader").await;

    let inbox = page(&app, Some(&rita), "/console/approvals").await;
    assert_eq!(inbox.status, 200);
    assert!(
        inbox.html.contains("Nothing waits for your review."),
        "{}",
        inbox.html
    );
    let detail = page(&app, Some(&rita), &format!("/console/approvals/{id}")).await;
    assert_eq!(detail.status, 200);
    assert!(!detail.html.contains("Send review"));
    assert!(!detail.html.contains("Apply the change"));

    let csrf = page(&app, Some(&rita), "/").await.csrf();
    let refused = post_form(
        &app,
        &rita,
        &format!("/console/approvals/{id}/reviews"),
        &[("csrf", &csrf), ("kind", "approve")],
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.html);
    assert!(
        refused.html.contains("reviewApprovalRequest"),
        "{}",
        refused.html
    );
    let (_, r) = app.get(&format!("/api/v2/approval-requests/{id}")).await;
    assert_eq!(r["reviewStatus"], "pending");
    let refusals: Vec<Value> = app.audit("action=reviewApprovalRequest").await;
    assert!(
        refusals
            .iter()
            .any(|e| e["actor"]["email"] == "rita@example.com"),
        "the refusal is audited as over REST: {refusals:?}"
    );

    // A forged post without the page's token changes nothing either.
    let forged = post_form(
        &app,
        &rita,
        &format!("/console/approvals/{id}/reviews"),
        &[("csrf", "guess"), ("kind", "comment"), ("comment", "hi")],
    )
    .await;
    assert_eq!(forged.status, 403);
    let (_, r) = app.get(&format!("/api/v2/approval-requests/{id}")).await;
    assert_eq!(r["allReviews"].as_array().unwrap().len(), 0);
}
