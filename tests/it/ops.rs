//! Operations: health, readiness, metrics, request ids, body limits, error shapes and the
//! OpenAPI document.

use serde_json::json;

use crate::support::{BOOTSTRAP, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn health_ready_and_metrics_answer() {
    let app = TestApp::spawn().await;
    let (s, body) = app.call(reqwest::Method::GET, "/health", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(body["status"], "ok");
    let (s, body) = app.call(reqwest::Method::GET, "/ready", None, None).await;
    assert_eq!(s, 200, "{body}");
    app.seed_flag_domain().await;
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"gatehouse_http_requests_total{method="POST",route="createProject",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("gatehouse_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("gatehouse_audit_entries_written_total"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_carry_an_id_into_the_audit_log() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .post(format!("{}/api/v2/projects", app.base))
        .header("Authorization", BOOTSTRAP)
        .header("X-Request-Id", "req-12345")
        .json(&json!({"key": "p", "name": "P"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-request-id"], "req-12345");
    let entry = &app.audit("spec=proj/p").await[0];
    assert_eq!(entry["requestId"], "req-12345");
    assert_eq!(entry["sourceIp"], "127.0.0.1");
    let resp = app
        .client
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("x-request-id"));
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_and_malformed_bodies_get_json_errors() {
    let app = TestApp::spawn().await;
    let big = "x".repeat(100 * 1024);
    let (s, body) = app
        .post("/api/v2/projects", json!({"key": "p", "name": big}))
        .await;
    assert_eq!(s, 413, "{body}");
    assert_eq!(body["code"], "payload_too_large");
    let resp = app
        .client
        .post(format!("{}/api/v2/projects", app.base))
        .header("Authorization", BOOTSTRAP)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "invalid_request");
    let (s, body) = app.get("/api/v2/no-such-route").await;
    assert_eq!(s, 404);
    assert_eq!(body["code"], "not_found");
    // Only the start-up entries: the checkpoint key, five preset roles and the bootstrap token.
    assert_eq!(app.audit_count().await, 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_checked_in_openapi_document_is_what_the_code_serves() {
    let app = TestApp::spawn().await;
    let served = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let served: serde_json::Value = serde_json::from_str(&served).unwrap();
    let file =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json exists: run `gatehouse openapi > openapi/openapi.json`");
    let file: serde_json::Value = serde_json::from_str(&file).unwrap();
    assert!(
        served == file,
        "openapi/openapi.json is stale: run `cargo run -q -- openapi > openapi/openapi.json`"
    );
    // Every operation documents a summary, its permission and its errors.
    for (path, item) in served["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = format!("{method} {path}");
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{id} has no summary"
            );
            assert!(
                op["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("**Permission:**")),
                "{id} names no permission"
            );
            for status in ["400", "401", "403"] {
                assert!(
                    op["responses"].get(status).is_some(),
                    "{id} does not document {status}"
                );
            }
        }
    }
    let docs = app
        .client
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
}
