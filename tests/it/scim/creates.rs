//! Concurrent SCIM creates: under load, creates queued at the same time are written
//! together, yet each one stands alone in its answer and its audit entry, and a taken
//! userName fails only the create that took it second.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::ScimApp;

fn body(user_name: &str) -> serde_json::Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name,
           "emails": [{"value": user_name, "primary": true, "type": "work"}], "active": true})
}

type Reply = (String, String, StatusCode, serde_json::Value);

/// Creates every name at once, each request with its own request id.
async fn crowd(s: &ScimApp, names: &[String], prefix: &str) -> Vec<Reply> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, name) in names.iter().enumerate() {
        let client = s.app.client.clone();
        let url = format!("{}{}/Users", s.app.base, super::SCIM);
        let token = s.token.clone();
        let name = name.clone();
        let prefix = prefix.to_owned();
        tasks.spawn(async move {
            let request_id: String = format!("{prefix}-request-{i}");
            let resp = client
                .request(Method::POST, url)
                .bearer_auth(&token)
                .header("Content-Type", "application/scim+json")
                .header("X-Request-Id", &request_id)
                .body(body(&name).to_string())
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let reply: serde_json::Value = resp.json().await.unwrap();
            (name, request_id, status, reply)
        });
    }
    tasks.join_all().await
}

/// 32 creates at once, then 64 more, 16 of them repeating a userName another one
/// creates: every name is created exactly once (201), its repeat answers 409 `uniqueness`, each created member has
/// exactly one audit entry carrying its own request id, and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_each_stand_alone_and_repeats_are_refused() {
    let s = ScimApp::new("okta").await;
    let audit_before = s.app.audit_count().await;
    let solo: Vec<String> = (0..32).map(|i| format!("solo{i}@example.com")).collect();
    let names: Vec<String> = (0..64)
        .map(|i| format!("crowd{}@example.com", if i < 16 { i + 48 } else { i }))
        .collect();
    let mut replies = crowd(&s, &solo, "solo").await;
    replies.extend(crowd(&s, &names, "crowd").await);

    let mut created: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut refused = 0;
    for (name, request_id, status, reply) in &replies {
        match *status {
            StatusCode::CREATED => {
                assert_eq!(reply["userName"], json!(name), "{reply}");
                let id = reply["id"].as_str().unwrap().to_owned();
                let first = created.insert(name.clone(), (id, request_id.clone()));
                assert!(first.is_none(), "{name} was created twice");
            }
            StatusCode::CONFLICT => {
                assert_eq!(reply["scimType"], "uniqueness", "{reply}");
                refused += 1;
            }
            other => panic!("unexpected {other} for {name}: {reply}"),
        }
    }
    assert_eq!(created.len(), 80);
    assert_eq!(refused, 16);

    // One entry per created member, with the request that created it.
    let log = s.app.audit("").await;
    assert_eq!(s.app.audit_count().await, audit_before + 80);
    let mut audited = BTreeSet::new();
    for (name, (id, request_id)) in &created {
        let entries: Vec<_> = log
            .iter()
            .filter(|e| e["target"]["resources"][0] == json!(format!("member/{id}")))
            .collect();
        assert_eq!(entries.len(), 1, "{name}: {entries:?}");
        let e = entries[0];
        assert_eq!(e["accesses"][0]["action"], "createMember", "{e}");
        assert_eq!(e["requestId"], json!(request_id), "{e}");
        assert_eq!(e["actor"]["kind"], "app", "{e}");
        audited.insert(e["seq"].as_u64().unwrap());
    }
    assert_eq!(audited.len(), 80);
    let (_, report) = s.app.get("/api/v2/auditlog/verify").await;
    assert_eq!(report["valid"], true, "{report}");

    // The stored directory holds exactly the created members.
    let list = s.get("/Users?count=200").await;
    assert_eq!(list.body["totalResults"], 80, "{}", list.body);
}
