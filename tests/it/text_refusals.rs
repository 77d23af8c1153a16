//! NUL and control characters are refused with 400 on every edge and on both databases (the
//! same story runs on PostgreSQL, which cannot store NUL): in bodies, paths, query strings and
//! SCIM filter literals, never stored, never a 500.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::scim::{ScimApp, enc, ops};
use crate::support::BOOTSTRAP;

#[tokio::test(flavor = "multi_thread")]
async fn scim_refuses_nul_and_control_characters() {
    let s = ScimApp::new("entra").await;
    let user = |name: &str| {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
               "emails": [{"value": "nul@contoso.com", "primary": true}]})
    };
    for bad in [
        "nul\u{0}@contoso.com",
        "tab\t@contoso.com",
        "bell\u{7}@contoso.com",
    ] {
        let r = s.post("/Users", user(bad)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}: {}", r.body);
        assert_eq!(r.body["scimType"], "invalidValue", "{}", r.body);
    }
    let r = s.get("/Users?filter=userName%20pr").await;
    assert_eq!(r.body["totalResults"], 0, "nothing was stored");

    // A postal address may hold line breaks, never NUL.
    let mut ok = user("ann@contoso.com");
    ok["emails"] = json!([{"value": "ann@contoso.com"}]);
    ok["addresses"] = json!([{"formatted": "1 Main St\nSpringfield", "type": "work"}]);
    let r = s.post("/Users", ok.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = s
        .patch(
            &format!("/Users/{id}"),
            ops(json!([{"op": "replace", "path": "addresses[type eq \"work\"].formatted", "value": "a\u{0}b"}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue");

    // Paths and filter literals: percent-encoded NUL, and NUL written as a filter escape.
    let r = s.get("/Users/%00").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue");
    let r = s.get("/Users?filter=userName%20eq%20%22a%00%22").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = s
        .get(&format!(
            "/Users?filter={}",
            enc(r#"userName eq "a\u0000b""#)
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue", "{}", r.body);
    let r = s
        .post(
            "/Users/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                   "filter": "userName eq \"a\u{0}\""}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    // A group: NUL in its name, and as a member id in a PATCH filter.
    let r = s.post("/Groups", json!({"displayName": "Ops\u{0}"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = s.post("/Groups", json!({"displayName": "Ops"})).await;
    let gid = r.body["id"].as_str().unwrap().to_owned();
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            ops(json!([{"op": "remove", "path": r#"members[value eq "x\u0000"]"#}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            ops(json!([{"op": "add", "path": "members", "value": [{"value": "x\u{1}"}]}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_refuses_nul_and_control_characters() {
    let s = ScimApp::new("entra").await;
    let app = &s.app;
    for (path, body) in [
        ("/api/v2/projects", json!({"key": "p", "name": "P\u{0}"})),
        (
            "/api/v2/projects",
            json!({"key": "p", "name": "P\u{1b}[31m"}),
        ),
        ("/api/v2/members", json!({"email": "a\u{0}@example.com"})),
        (
            "/api/v2/members",
            json!({"email": "ann@example.com", "firstName": "A\u{8}nn"}),
        ),
        (
            "/api/v2/teams",
            json!({"key": "t", "name": "T", "description": "x\u{0}"}),
        ),
    ] {
        let (st, err) = app.post(path, body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert_eq!(err["code"], "invalid_request", "{err}");
    }
    let (st, err) = app.get("/api/v2/members/%00").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["code"], "invalid_request");
    let (st, err) = app
        .call(Method::GET, "/api/v2/auditlog?q=%00", Some(BOOTSTRAP), None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{err}");
    // Free text keeps its line breaks; nothing refused was stored.
    let (st, team) = app
        .post(
            "/api/v2/teams",
            json!({"key": "t", "name": "T", "description": "line one\nline two\ttabbed"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{team}");
    let (_, projects) = app.get("/api/v2/projects").await;
    assert_eq!(
        projects["items"].as_array().map(Vec::len),
        Some(0),
        "{projects}"
    );
}
