//! LaunchDarkly's account-API payloads accepted as they are: what scripts and Terraform
//! configurations written for LaunchDarkly send carries over.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn role_attributes_are_declared_by_the_policy_that_uses_them() {
    let app = TestApp::spawn().await;
    let policy = json!([{"effect": "allow", "actions": ["updateOn"], "resources": [
        "proj/${roleAttribute/projects}:env/${roleAttribute/environments}:flag/*"]}]);
    // LaunchDarkly's API and its Terraform provider send no `roleAttributes`.
    let (s, role) = app
        .post(
            "/api/v2/roles",
            json!({"key": "toggler", "name": "Toggler", "policy": policy}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{role}");
    assert_eq!(role["roleAttributes"], json!(["projects", "environments"]));

    // An explicit list stays possible, and must cover what the policy uses.
    let (s, body) = app
        .post(
            "/api/v2/roles",
            json!({"key": "narrow", "name": "Narrow", "policy": policy,
                   "roleAttributes": ["projects"]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("`environments`"), "{message}");
    assert!(message.contains("policy[0].resources[0]"), "{message}");
    let (s, body) = app
        .post(
            "/api/v2/roles",
            json!({"key": "wide", "name": "Wide", "policy": policy,
                   "roleAttributes": ["projects", "environments", "teams"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["roleAttributes"],
        json!(["projects", "environments", "teams"])
    );

    // A new policy without a list declares what it now uses.
    let (s, body) = app
        .patch(
            "/api/v2/roles/toggler",
            json!({"policy": [{"effect": "allow", "actions": ["updateOn"],
                               "resources": ["proj/${roleAttribute/projects}:env/*:flag/*"]}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["roleAttributes"], json!(["projects"]));
}
