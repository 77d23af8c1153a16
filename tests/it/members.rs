//! Members: base roles enforced at the authorization seam, one owner, deactivation.

use reqwest::Method;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn base_roles_decide_what_a_member_may_do() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    let (_, reader) = app.member_with_token("reader@example.com", "reader").await;
    let (_, writer) = app.member_with_token("writer@example.com", "writer").await;
    let (_, admin) = app.member_with_token("admin@example.com", "admin").await;
    let (_, nobody) = app
        .member_with_token("nobody@example.com", "no_access")
        .await;
    let toggle = json!({"environmentKey": "test", "instructions": [{"kind": "turnFlagOn"}]});

    // reader: view only
    assert_eq!(
        app.call(Method::GET, "/api/v2/flags/p/f", Some(&reader), None)
            .await
            .0,
        200
    );
    let (s, body) = app
        .call(
            Method::PATCH,
            "/api/v2/flags/p/f",
            Some(&reader),
            Some(toggle.clone()),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["code"], "forbidden");
    assert_eq!(
        app.call(
            Method::POST,
            "/api/v2/projects",
            Some(&reader),
            Some(json!({"key": "r", "name": "R"}))
        )
        .await
        .0,
        403
    );
    // writer: flags and variables, not projects or members
    assert_eq!(
        app.call(
            Method::PATCH,
            "/api/v2/flags/p/f",
            Some(&writer),
            Some(toggle.clone())
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.call(
            Method::PUT,
            "/api/v2/projects/p/environments/test/variables/X",
            Some(&writer),
            Some(json!({"value": "1"}))
        )
        .await
        .0,
        201
    );
    assert_eq!(
        app.call(
            Method::POST,
            "/api/v2/projects",
            Some(&writer),
            Some(json!({"key": "w", "name": "W"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.call(
            Method::POST,
            "/api/v2/members",
            Some(&writer),
            Some(json!({"email": "x@example.com"}))
        )
        .await
        .0,
        403
    );
    // admin: everything but ownership
    assert_eq!(
        app.call(
            Method::POST,
            "/api/v2/projects",
            Some(&admin),
            Some(json!({"key": "ad", "name": "Ad"}))
        )
        .await
        .0,
        201
    );
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v2/members",
            Some(&admin),
            Some(json!({"email": "boss@example.com", "role": "owner"})),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    // no_access: nothing at all
    assert_eq!(
        app.call(Method::GET, "/api/v2/flags/p/f", Some(&nobody), None)
            .await
            .0,
        403
    );
    let (s, list) = app
        .call(Method::GET, "/api/v2/projects", Some(&nobody), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        list["totalCount"], 0,
        "projects the caller may not view are left out"
    );
    // Without viewAuditLog a caller sees only entries about what it may view: here, nothing.
    let (s, log) = app
        .call(Method::GET, "/api/v2/auditlog", Some(&nobody), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(log["totalCount"], 0, "{log}");
    assert_eq!(
        app.call(Method::GET, "/api/v2/auditlog/verify", Some(&nobody), None)
            .await
            .0,
        403
    );
    // A refused action leaves no audit entry claiming a change.
    assert!(app.audit("spec=proj/r").await.is_empty());
    assert!(app.audit("spec=proj/w").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn members_are_created_changed_deactivated_and_removed() {
    let app = TestApp::spawn().await;
    let (s, m) = app
        .post(
            "/api/v2/members",
            json!({"email": "Ann@Example.com", "firstName": "Ann", "role": "writer"}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    assert_eq!(m["status"], "active");
    assert_eq!(m["source"], "local");
    let id = m["id"].as_str().unwrap().to_owned();
    let (s, _) = app
        .post("/api/v2/members", json!({"email": "ann@example.com"}))
        .await;
    assert_eq!(s, 409, "emails are unique case-insensitively");
    let (s, _) = app
        .post("/api/v2/members", json!({"email": "not-an-email"}))
        .await;
    assert_eq!(s, 400);
    let (s, body) = app
        .post(
            "/api/v2/members",
            json!({"email": "b@example.com", "role": "emperor"}),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    let (s, body) = app
        .post(
            "/api/v2/members",
            json!({"email": "c@example.com", "customRoles": ["ghost"]}),
        )
        .await;
    assert_eq!(s, 404, "a custom role that does not exist");
    assert!(body["message"].as_str().unwrap().contains("ghost"));

    let (s, m) = app
        .patch(
            &format!("/api/v2/members/{id}"),
            json!({"role": "admin", "roleAttributes": {"projects": ["p"]}}),
        )
        .await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["role"], "admin");
    assert_eq!(m["roleAttributes"], json!({"projects": ["p"]}));
    let entry = &app.audit("action=updateRole").await[0];
    assert_eq!(entry["previousVersion"]["role"], "writer");
    assert_eq!(entry["currentVersion"]["role"], "admin");

    // Deactivation revokes the member's tokens at once.
    let token = app
        .service
        .create_personal_token_for("t", "ann@example.com", None)
        .await
        .unwrap()
        .token
        .unwrap();
    assert_eq!(
        app.call(Method::GET, "/api/v2/me", Some(&token), None)
            .await
            .0,
        200
    );
    let (s, m) = app
        .patch(
            &format!("/api/v2/members/{id}"),
            json!({"status": "deactivated"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(m["status"], "deactivated");
    assert_eq!(
        app.call(Method::GET, "/api/v2/me", Some(&token), None)
            .await
            .0,
        401
    );
    let entry = &app.audit("action=updateMemberStatus").await[0];
    assert!(
        entry["description"]
            .as_str()
            .unwrap()
            .contains("revoked 1 token"),
        "{entry}"
    );
    let (_, m) = app.get(&format!("/api/v2/members/{id}")).await;
    assert_eq!(m["status"], "deactivated", "the record stays");

    let (s, _) = app.delete(&format!("/api/v2/members/{id}")).await;
    assert_eq!(s, 204);
    assert_eq!(app.get(&format!("/api/v2/members/{id}")).await.0, 404);
    assert_eq!(
        app.audit(&format!("spec=member/{id}")).await.len(),
        4,
        "create, role, status, delete"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_account_has_exactly_one_owner() {
    let app = TestApp::spawn().await;
    let (s, owner) = app
        .post(
            "/api/v2/members",
            json!({"email": "owner@example.com", "role": "owner"}),
        )
        .await;
    assert_eq!(s, 201, "{owner}");
    let owner_id = owner["id"].as_str().unwrap();
    let (s, _) = app
        .post(
            "/api/v2/members",
            json!({"email": "second@example.com", "role": "owner"}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = app
        .patch(
            &format!("/api/v2/members/{owner_id}"),
            json!({"status": "deactivated"}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = app
        .patch(
            &format!("/api/v2/members/{owner_id}"),
            json!({"role": "reader"}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = app.delete(&format!("/api/v2/members/{owner_id}")).await;
    assert_eq!(s, 409);
    let (_, list) = app.get("/api/v2/members").await;
    assert_eq!(list["totalCount"], 1);
}
