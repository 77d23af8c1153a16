//! REST requests held to the served document where poem-openapi alone would be lenient:
//! undeclared query parameters, JSON numbers where strings are declared, and settings read
//! back that must be accepted again.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestApp;

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn undeclared_query_parameters_are_refused_naming_them() {
    let app = TestApp::spawn().await;
    let (s, body) = app.get("/api/v2/auditlog?limt=5").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("\"limt\""), "{body}");
    assert!(message(&body).contains("limit"), "{body}");
    let (s, body) = app.get("/api/v2/projects?x=1").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    // Declared ones, repeated or not, are served.
    let (s, body) = app.get("/api/v2/auditlog?limit=1&limit=2").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _) = app.get("/api/v2/projects").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn numbers_where_strings_are_declared_are_refused() {
    let app = TestApp::spawn().await;
    let (s, body) = app
        .post(
            "/api/v2/projects",
            json!({"key": "p", "name": "P", "tags": [false]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(message(&body), "tags[0]: expected a string, got a boolean");
    let (s, _) = app.get("/api/v2/projects/p").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn approval_settings_read_back_are_accepted_again() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    let path = "/api/v2/projects/p/environments/production";
    let (s, env) = app.get(path).await;
    assert_eq!(s, StatusCode::OK, "{env}");
    let settings = json!({
        "approvalSettings": env["approvalSettings"],
        "resourceApprovalSettings": env["resourceApprovalSettings"],
    });
    let (s, body) = app.patch(path, settings).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // Variables have no tags: the document says so (`maxItems: 0`) and the server agrees.
    let (s, body) = app
        .patch(
            path,
            json!({"resourceApprovalSettings": {"variable": {"requiredApprovalTags": ["x"]}}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    // The kind named must be the kind changed.
    let (s, body) = app
        .patch(
            path,
            json!({"approvalSettings": {"resourceKind": "variable"}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_event_pattern_subscribes() {
    let app = TestApp::spawn().await;
    let (_, document) = app.get("/openapi.json").await;
    let patterns =
        document["components"]["schemas"]["WebhookPost"]["properties"]["events"]["items"]["enum"]
            .as_array()
            .cloned()
            .unwrap_or_default();
    assert!(patterns.len() > 20, "{patterns:?}");
    let (s, body) = app
        .post(
            "/api/v2/webhooks",
            json!({"name": "all", "url": "https://example.test/hook", "events": patterns}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, body) = app
        .post(
            "/api/v2/webhooks",
            json!({"name": "typo", "url": "https://example.test/hook", "events": ["membr.*"]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
}
