//! API tokens: authentication, the secret shown once, hashing, last use, revocation and the
//! bootstrap token.

use reqwest::Method;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::support::{BOOTSTRAP, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn bad_or_missing_tokens_get_401_json() {
    let app = TestApp::spawn().await;
    for token in [None, Some(""), Some("nope"), Some("Bearer nope")] {
        let (s, body) = app.call(Method::GET, "/api/v2/projects", token, None).await;
        assert_eq!(s, 401, "{token:?}");
        assert_eq!(body["code"], "unauthorized", "{body}");
    }
    let (s, _) = app
        .call(
            Method::GET,
            "/api/v2/projects",
            Some(&format!("Bearer {BOOTSTRAP}")),
            None,
        )
        .await;
    assert_eq!(s, 200, "Bearer prefix is accepted");
}

#[tokio::test(flavor = "multi_thread")]
async fn personal_tokens_act_as_their_member_and_are_shown_once() {
    let app = TestApp::spawn().await;
    let (member_id, member_token) = app.member_with_token("dev@example.com", "writer").await;
    let (s, me) = app
        .call(Method::GET, "/api/v2/me", Some(&member_token), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(me["id"], member_id.as_str());
    assert_eq!(me["email"], "dev@example.com");
    assert_eq!(me["role"], "writer");

    let (s, t) = app
        .call(
            Method::POST,
            "/api/v2/tokens",
            Some(&member_token),
            Some(json!({"name": "ci", "role": "reader"})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let secret = t["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("gat_"));
    assert_eq!(t["ownerId"], member_id.as_str());
    assert_eq!(t["ending"], &secret[secret.len() - 4..]);
    // The token never exceeds its member, and is at most what it asked for.
    let (_, me) = app
        .call(Method::GET, "/api/v2/me", Some(&secret), None)
        .await;
    assert_eq!(me["role"], "reader");
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v2/tokens",
            Some(&member_token),
            Some(json!({"name": "too-much", "role": "admin"})),
        )
        .await;
    assert!(
        s == 400 || s == 403,
        "a personal token above the member's role is refused: {s}"
    );
    // Only the hash is stored.
    let rows = entity::api_token::Entity::find()
        .all(app.service.db())
        .await
        .unwrap();
    assert!(
        rows.iter()
            .all(|r| r.secret_hash != secret && r.secret_hash.len() == 64)
    );
    // The secret is not in any listing or audit entry.
    let (_, list) = app
        .call(Method::GET, "/api/v2/tokens", Some(&member_token), None)
        .await;
    assert!(!list.to_string().contains(&secret));
    let (_, export) = app
        .call(
            Method::GET,
            "/api/v2/auditlog/export",
            Some(BOOTSTRAP),
            None,
        )
        .await;
    assert!(!export.as_str().unwrap().contains(&secret));
    // Last use is recorded, off the request's path (so shortly after, not before the answer).
    let id = t["id"].as_str().unwrap();
    let mut last_used = None;
    for _ in 0..100 {
        let used = entity::api_token::Entity::find_by_id(id.to_owned())
            .one(app.service.db())
            .await
            .unwrap()
            .unwrap();
        last_used = used.last_used;
        if last_used.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        last_used.is_some(),
        "the token's last use was never recorded"
    );
    // Revocation is immediate.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v2/tokens/{id}"),
            Some(&member_token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        app.call(Method::GET, "/api/v2/me", Some(&secret), None)
            .await
            .0,
        401
    );
    assert_eq!(app.audit("action=deleteAccessToken").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn service_tokens_need_admin_and_a_role() {
    let app = TestApp::spawn().await;
    let (s, t) = app
        .post(
            "/api/v2/tokens",
            json!({"name": "deployer", "serviceToken": true, "role": "writer"}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["serviceToken"], true);
    let secret = t["token"].as_str().unwrap().to_owned();
    let (_, me) = app
        .call(Method::GET, "/api/v2/me", Some(&secret), None)
        .await;
    assert_eq!(me["kind"], "serviceToken");
    assert_eq!(me["role"], "writer");
    let (s, _) = app
        .post(
            "/api/v2/tokens",
            json!({"name": "no-role", "serviceToken": true}),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = app
        .post("/api/v2/tokens", json!({"name": "personal"}))
        .await;
    assert_eq!(s, 403, "the bootstrap service token is not a member");
    let (_, writer) = app.member_with_token("w@example.com", "writer").await;
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v2/tokens",
            Some(&writer),
            Some(json!({"name": "svc", "serviceToken": true, "role": "reader"})),
        )
        .await;
    assert_eq!(s, 403);
    let (_, list) = app.get("/api/v2/tokens").await;
    assert!(list["totalCount"].as_u64().unwrap() >= 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bootstrap_token_is_created_once() {
    let app = TestApp::spawn().await;
    // A restart with the same secret finds the token and writes nothing.
    let before = app.audit_count().await;
    app.service.ensure_bootstrap_token(BOOTSTRAP).await.unwrap();
    let again = TestApp::spawn_on(app.database_url.clone(), None).await;
    assert_eq!(again.audit_count().await, before);
    let count = entity::api_token::Entity::find()
        .count(app.service.db())
        .await
        .unwrap();
    assert_eq!(count, 1);
    let created = app.audit("action=createAccessToken").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["actor"]["kind"], "system");
    let (_, me) = app.get("/api/v2/me").await;
    assert_eq!(me["role"], "owner");
}
