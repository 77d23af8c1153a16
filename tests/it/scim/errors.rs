//! Every way a SCIM request can be wrong, and what it gets: RFC 7644 error JSON with the
//! SCIM media type, the right status and scimType, no partial write, and an audit entry only
//! for refused role changes.

use reqwest::Method;
use serde_json::{Value, json};

use super::{SCIM, ScimApp, enc, ops};
use crate::support::BOOTSTRAP;

async fn expect(
    s: &ScimApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: u16,
    scim_type: Option<&str>,
) -> Value {
    let r = s.call(method.clone(), path, body).await;
    assert_eq!(r.status.as_u16(), status, "{method} {path}: {}", r.body);
    assert_eq!(
        r.body["scimType"].as_str(),
        scim_type,
        "{method} {path}: {}",
        r.body
    );
    r.body
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_open_only_their_edge() {
    let s = ScimApp::new("generic").await;
    for auth in [
        None,
        Some("Bearer nope"),
        Some(format!("Bearer {BOOTSTRAP}").as_str()),
        Some(s.token.as_str()),
    ] {
        let r = s.raw(Method::GET, "/Users", None, auth, &[]).await;
        assert_eq!(r.status, 401, "{auth:?}");
    }
    // A SCIM token never opens REST.
    let (st, _) = s
        .app
        .call(
            Method::GET,
            "/api/v2/members",
            Some(&format!("Bearer {}", s.token)),
            None,
        )
        .await;
    assert_eq!(st, 401);
    // A revoked token stops at once.
    let (_, c) = s.app.get("/api/v2/connections/generic").await;
    let tid = c["scimTokens"][0]["id"].as_str().unwrap();
    let (st, _) = s
        .app
        .delete(&format!("/api/v2/connections/generic/scim-tokens/{tid}"))
        .await;
    assert_eq!(st, 204);
    let r = s.get("/Users").await;
    assert_eq!(r.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_scim_errors() {
    let s = ScimApp::new("generic").await;
    let id = s.user("ann@example.com").await;
    let auth = format!("Bearer {}", s.token);
    let r = s
        .raw(
            Method::POST,
            "/Users",
            Some("{not json".into()),
            Some(&auth),
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["scimType"], "invalidSyntax");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("malformed JSON")
    );

    expect(
        &s,
        Method::POST,
        "/Users",
        Some(json!({"schemas": ["urn:example:nope"], "userName": "x@y.z"})),
        400,
        Some("invalidSyntax"),
    )
    .await;
    expect(
        &s,
        Method::POST,
        "/Users",
        Some(json!({"userName": 42})),
        400,
        Some("invalidValue"),
    )
    .await;
    expect(
        &s,
        Method::POST,
        "/Users",
        Some(json!({"userName": "a@b.c", "active": "sometimes"})),
        400,
        Some("invalidValue"),
    )
    .await;
    expect(
        &s,
        Method::POST,
        "/Users",
        Some(json!({"userName": "a@b.c", "emails": [{"value": 5}]})),
        400,
        Some("invalidValue"),
    )
    .await;
    expect(
        &s,
        Method::POST,
        "/Users",
        Some(json!({"displayName": "no user name"})),
        400,
        Some("invalidValue"),
    )
    .await;
    expect(
        &s,
        Method::POST,
        "/Users",
        Some(json!({"userName": "not-an-email"})),
        400,
        Some("invalidValue"),
    )
    .await;
    expect(
        &s,
        Method::POST,
        "/Groups",
        Some(json!({"members": []})),
        400,
        Some("invalidValue"),
    )
    .await;
    expect(
        &s,
        Method::POST,
        "/Groups",
        Some(json!({"displayName": "G", "members": [{"value": "no-such-user"}]})),
        400,
        Some("invalidValue"),
    )
    .await;

    let u = format!("/Users/{id}");
    expect(
        &s,
        Method::PATCH,
        &u,
        Some(ops(json!([{"op": "replace", "path": "id", "value": "x"}]))),
        400,
        Some("mutability"),
    )
    .await;
    expect(&s, Method::PATCH, &u, Some(ops(json!([{"op": "replace", "path": "meta.lastModified", "value": "2020-01-01T00:00:00Z"}]))), 400, Some("mutability")).await;
    expect(
        &s,
        Method::PATCH,
        &u,
        Some(ops(
            json!([{"op": "add", "path": "nickName[", "value": "x"}]),
        )),
        400,
        Some("invalidPath"),
    )
    .await;
    expect(
        &s,
        Method::PATCH,
        &u,
        Some(ops(
            json!([{"op": "add", "path": "shoeSize", "value": "x"}]),
        )),
        400,
        Some("invalidPath"),
    )
    .await;
    expect(
        &s,
        Method::PATCH,
        &u,
        Some(ops(json!([{"op": "remove"}]))),
        400,
        Some("noTarget"),
    )
    .await;
    expect(&s, Method::PATCH, &u, Some(ops(json!([{"op": "replace", "path": "emails[value co \"nowhere\"].type", "value": "home"}]))), 400, Some("noTarget")).await;
    expect(
        &s,
        Method::PATCH,
        &u,
        Some(json!({"Operations": "nope"})),
        400,
        Some("invalidSyntax"),
    )
    .await;
    let many: Vec<Value> = (0..1001)
        .map(|_| json!({"op": "remove", "path": "nickName"}))
        .collect();
    expect(
        &s,
        Method::PATCH,
        &u,
        Some(ops(Value::Array(many))),
        413,
        Some("tooMany"),
    )
    .await;

    let body = expect(
        &s,
        Method::GET,
        &format!("/Users?filter={}", enc(r#"userName eq "a" and"#)),
        None,
        400,
        Some("invalidFilter"),
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("at character 19"),
        "{body}"
    );
    expect(
        &s,
        Method::GET,
        &format!("/Users?filter={}", enc(r#"shoeSize gt 40"#)),
        None,
        400,
        Some("invalidFilter"),
    )
    .await;
    expect(
        &s,
        Method::GET,
        "/Users?count=many",
        None,
        400,
        Some("invalidValue"),
    )
    .await;
    expect(
        &s,
        Method::GET,
        "/Users?sortBy=shoeSize",
        None,
        400,
        Some("invalidValue"),
    )
    .await;
    expect(
        &s,
        Method::POST,
        "/Users/.search",
        Some(json!({"schemas": ["urn:nope"]})),
        400,
        Some("invalidSyntax"),
    )
    .await;

    expect(&s, Method::GET, "/Users/does-not-exist", None, 404, None).await;
    expect(&s, Method::GET, "/Nope", None, 404, None).await;
    expect(&s, Method::GET, "/Groups/does-not-exist", None, 404, None).await;
    expect(&s, Method::POST, "/Bulk", Some(json!({})), 501, None).await;

    // ETags: a stale If-Match is 412 and changes nothing; If-None-Match gives 304.
    let r = s
        .raw(
            Method::PATCH,
            &u,
            Some(ops(json!([{"op": "replace", "path": "nickName", "value": "x"}])).to_string()),
            Some(&auth),
            &[("If-Match", "W/\"7\"")],
        )
        .await;
    assert_eq!(r.status, 412, "{}", r.body);
    let r = s
        .raw(
            Method::DELETE,
            &u,
            None,
            Some(&auth),
            &[("If-Match", "W/\"7\"")],
        )
        .await;
    assert_eq!(r.status, 412);
    let r = s
        .raw(
            Method::PATCH,
            &u,
            Some(ops(json!([{"op": "replace", "path": "nickName", "value": "x"}])).to_string()),
            Some(&auth),
            &[("If-Match", "W/\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .raw(
            Method::GET,
            &u,
            None,
            Some(&auth),
            &[("If-None-Match", "W/\"2\"")],
        )
        .await;
    assert_eq!(r.status, 304);

    // A body larger than the server's limit is a SCIM 413 too.
    let big = json!({"userName": "x".repeat(70 * 1024)}).to_string();
    let r = s
        .raw(Method::POST, "/Users", Some(big), Some(&auth), &[])
        .await;
    assert_eq!(r.status, 413);

    // None of the refused requests wrote anything.
    let log = s.scim_audit().await;
    assert_eq!(log.len(), 2, "create + the one good PATCH: {log:?}");
    let r = s.get(&u).await;
    assert_eq!(r.body["nickName"], "x");
    let _ = SCIM;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_patch_applies_all_of_its_operations_or_none() {
    let s = ScimApp::new("generic").await;
    let id = s.user("ann@example.com").await;
    let before = s.get(&format!("/Users/{id}")).await.body;
    let r = s
        .patch(
            &format!("/Users/{id}"),
            ops(json!([
                {"op": "replace", "path": "name.givenName", "value": "Changed"},
                {"op": "add", "path": "emails", "value": [{"value": "second@example.com"}]},
                {"op": "replace", "path": "active", "value": false},
                {"op": "replace", "path": "groups", "value": []}
            ])),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["scimType"], "mutability");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Operations[3]"),
        "{}",
        r.body
    );
    assert_eq!(s.get(&format!("/Users/{id}")).await.body, before);
    let (_, m) = s.member(&id).await;
    assert_eq!(m["status"], "active");
    assert_eq!(s.scim_audit().await.len(), 1);
    // An RFC 6902 body too, with a failing test op last.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "add", "path": "/nickName", "value": "nick"},
                {"op": "test", "path": "/userName", "value": "someone-else"}
            ]),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(s.get(&format!("/Users/{id}")).await.body, before);
    let r = s
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "add", "path": "/nickName", "value": "nick"}]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["nickName"], "nick");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_and_unknown_roles_are_refused_and_audited() {
    let s = ScimApp::new("okta").await;
    s.custom_role("developer").await;
    // The bootstrap token's member is the owner? It is a service token; make an owner member.
    let (st, owner) = s
        .app
        .post(
            "/api/v2/members",
            json!({"email": "owner@example.com", "role": "owner"}),
        )
        .await;
    assert_eq!(st, 201, "{owner}");
    let oid = owner["id"].as_str().unwrap();

    let ext = "urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User";
    let r = s
        .post(
            "/Users",
            json!({"userName": "evil@example.com", ext: {"role": "owner"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue");
    let r = s.post("/Users", json!({"userName": "dev@example.com", "customRolesArray": ["developer", "no-such-role"]})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("no-such-role"),
        "{}",
        r.body
    );

    // The owner can be found (Okta links existing people) but not deactivated or removed,
    // and a role the IdP sends never changes it.
    let r = s
        .get(&format!(
            "/Users?filter={}",
            enc(r#"userName eq "owner@example.com""#)
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    let r = s
        .patch(
            &format!("/Users/{oid}"),
            ops(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["scimType"], "mutability");
    let r = s.delete(&format!("/Users/{oid}")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = s
        .patch(
            &format!("/Users/{oid}"),
            ops(json!([{"op": "add", "value": {"role": "reader", "name.givenName": "Olive"}}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, m) = s.member(oid).await;
    assert_eq!(m["role"], "owner");
    assert_eq!(m["status"], "active");
    assert_eq!(m["firstName"], "Olive");

    let log = s.scim_audit().await;
    let refused: Vec<&Value> = log
        .iter()
        .filter(|e| e["description"].as_str().unwrap().starts_with("refused"))
        .collect();
    assert_eq!(refused.len(), 4, "{log:#?}");
    let actions: Vec<&str> = refused
        .iter()
        .map(|e| e["accesses"][0]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "deleteMember",
            "updateMemberStatus",
            "createMember",
            "createMember"
        ]
    );
    assert!(
        refused
            .iter()
            .all(|e| e["actor"]["isScim"] == true && e["delta"]["scim"]["refused"].is_string())
    );
    assert!(
        refused[2]["description"]
            .as_str()
            .unwrap()
            .contains("no-such-role")
    );
    // No member was created by the refused requests.
    let (_, members) = s.app.get("/api/v2/members").await;
    assert_eq!(members["totalCount"], 1);
}
