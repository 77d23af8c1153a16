//! Custom roles (stored and validated for shape) and teams.

use reqwest::Method;
use serde_json::json;

use crate::support::TestApp;

fn statement() -> serde_json::Value {
    json!({"effect": "allow", "actions": ["updateOn"], "resources": ["proj/*:env/test:flag/*"]})
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_roles_are_validated_stored_and_audited() {
    let app = TestApp::spawn().await;
    let (s, r) = app
        .post(
            "/api/v2/roles",
            json!({"key": "flag-toggler", "name": "Flag toggler", "policy": [statement()]}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["basePermissions"], "no_access");
    for (bad, field) in [
        (
            json!({"effect": "maybe", "actions": ["*"], "resources": ["proj/*"]}),
            "effect",
        ),
        (
            json!({"effect": "allow", "actions": ["*"], "notActions": ["*"], "resources": ["proj/*"]}),
            "policy[0]",
        ),
        (json!({"effect": "allow", "actions": ["*"]}), "policy[0]"),
    ] {
        let (s, body) = app
            .post(
                "/api/v2/roles",
                json!({"key": "bad", "name": "Bad", "policy": [statement(), bad]}),
            )
            .await;
        assert_eq!(s, 400, "{body}");
        let msg = body["message"].as_str().unwrap();
        assert!(msg.contains("policy[1]") || msg.contains(field), "{msg}");
    }
    assert_eq!(
        app.get("/api/v2/roles/bad").await.0,
        404,
        "an invalid role is never stored"
    );
    let (s, _) = app
        .post(
            "/api/v2/roles",
            json!({"key": "flag-toggler", "name": "dup", "policy": []}),
        )
        .await;
    assert_eq!(s, 409);

    let (s, r) = app
        .patch(
            "/api/v2/roles/flag-toggler",
            json!({"policy": [statement(), statement()], "basePermissions": "reader"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["policy"].as_array().unwrap().len(), 2);
    let entry = &app.audit("action=updatePolicy").await[0];
    assert_eq!(
        entry["previousVersion"]["policy"].as_array().unwrap().len(),
        1
    );
    assert_eq!(
        entry["currentVersion"]["policy"].as_array().unwrap().len(),
        2
    );

    // A role held by a member cannot be deleted; once released it can.
    let (_, m) = app
        .post(
            "/api/v2/members",
            json!({"email": "t@example.com", "customRoles": ["flag-toggler"]}),
        )
        .await;
    assert_eq!(m["customRoles"], json!(["flag-toggler"]));
    assert_eq!(app.delete("/api/v2/roles/flag-toggler").await.0, 409);
    app.patch(
        &format!("/api/v2/members/{}", m["id"].as_str().unwrap()),
        json!({"customRoles": []}),
    )
    .await;
    assert_eq!(app.delete("/api/v2/roles/flag-toggler").await.0, 204);
    assert_eq!(
        app.get("/api/v2/roles").await.1["totalCount"],
        5,
        "only the presets remain"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn teams_gather_members_and_roles() {
    let app = TestApp::spawn().await;
    app.post(
        "/api/v2/roles",
        json!({"key": "dev", "name": "Dev", "policy": [statement()]}),
    )
    .await;
    let (_, a) = app
        .post("/api/v2/members", json!({"email": "a@example.com"}))
        .await;
    let (_, b) = app
        .post("/api/v2/members", json!({"email": "b@example.com"}))
        .await;
    let a = a["id"].as_str().unwrap().to_owned();
    let b = b["id"].as_str().unwrap().to_owned();
    let (s, t) = app
        .post(
            "/api/v2/teams",
            json!({"key": "eng", "name": "Engineering", "memberIds": [a], "customRoles": ["dev"]}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["memberIds"], json!([a]));
    assert_eq!(t["idpSynced"], false);
    let (s, t) = app
        .patch(
            "/api/v2/teams/eng",
            json!({"instructions": [
                {"kind": "addMembers", "values": [b]},
                {"kind": "updateName", "value": "Eng"},
                {"kind": "replaceRoleAttributes", "value": {"projects": ["p1", "p2"]}}
            ]}),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["memberIds"].as_array().unwrap().len(), 2);
    assert_eq!(t["name"], "Eng");
    let (_, member) = app.get(&format!("/api/v2/members/{b}")).await;
    assert_eq!(member["teams"], json!(["eng"]));
    let (s, body) = app
        .patch(
            "/api/v2/teams/eng",
            json!({"instructions": [{"kind": "addMembers", "values": ["ghost"]}]}),
        )
        .await;
    assert_eq!(s, 404, "a member that does not exist: {body}");
    let (s, _) = app
        .patch(
            "/api/v2/teams/eng",
            json!({"instructions": [{"kind": "addCustomRoles", "values": ["ghost"]}]}),
        )
        .await;
    assert_eq!(s, 404, "a custom role that does not exist");
    let (s, _) = app
        .patch(
            "/api/v2/teams/eng",
            json!({"instructions": [{"kind": "explode"}]}),
        )
        .await;
    assert_eq!(s, 400);
    let entry = &app.audit("action=updateTeamMembers").await[0];
    assert_eq!(
        entry["previousVersion"]["memberIds"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        entry["currentVersion"]["memberIds"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let (_, reader) = app.member_with_token("r@example.com", "reader").await;
    assert_eq!(
        app.call(
            Method::PATCH,
            "/api/v2/teams/eng",
            Some(&reader),
            Some(json!({"instructions": [{"kind": "removeMembers", "values": [a]}]}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.call(Method::GET, "/api/v2/teams/eng", Some(&reader), None)
            .await
            .0,
        200
    );
    assert_eq!(app.delete("/api/v2/teams/eng").await.0, 204);
    assert_eq!(app.get("/api/v2/teams/eng").await.0, 404);
    let (_, member) = app.get(&format!("/api/v2/members/{b}")).await;
    assert_eq!(member["teams"], json!([]));
}
