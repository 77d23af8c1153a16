//! The audit log as the outbox: every entry names its event, the pull stream serves the chain
//! in order, and webhooks push it, signed, to receivers on loopback.

use serde_json::{Value, json};

use crate::support::TestApp;

/// The events of the log, oldest first.
async fn events(app: &TestApp) -> Vec<String> {
    let mut items = app.audit("").await;
    items.reverse();
    items
        .iter()
        .map(|e| {
            e["event"]
                .as_str()
                .expect("every entry has an event")
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_entry_names_its_event() {
    let app = TestApp::spawn().await;
    let (s, m) = app
        .post(
            "/api/v2/members",
            json!({"email": "ann@example.com", "role": "reader"}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let member = format!("/api/v2/members/{id}");
    assert_eq!(app.patch(&member, json!({"role": "writer"})).await.0, 200);
    assert_eq!(
        app.patch(&member, json!({"status": "deactivated"})).await.0,
        200
    );
    assert_eq!(app.patch(&member, json!({"status": "active"})).await.0, 200);
    let (s, t) = app
        .post("/api/v2/teams", json!({"key": "eng", "name": "Eng"}))
        .await;
    assert_eq!(s, 201, "{t}");
    let (s, t) = app
        .patch(
            "/api/v2/teams/eng",
            json!({"instructions": [{"kind": "addMembers", "values": [id]}]}),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(app.delete("/api/v2/teams/eng").await.0, 204);
    assert_eq!(app.delete(&member).await.0, 204);
    app.seed_flag_domain().await;
    let (s, f) = app
        .patch(
            "/api/v2/flags/p/f",
            json!({"environmentKey": "test", "instructions": [{"kind": "turnFlagOn"}]}),
        )
        .await;
    assert_eq!(s, 200, "{f}");

    let got = events(&app).await;
    let tail: Vec<&str> = got
        .iter()
        .map(String::as_str)
        .skip_while(|e| *e != "member.created")
        .collect();
    assert_eq!(
        tail,
        [
            "member.created",
            "member.rolesChanged",
            "member.deactivated",
            "member.reactivated",
            "team.created",
            "team.membersChanged",
            "team.deleted",
            "member.deleted",
            "project.created",
            "environment.created",
            "environment.created",
            "flag.created",
            "flag.updated",
        ]
    );
    // One entry read alone says the same.
    let last = app.audit("").await.first().cloned().unwrap();
    let (s, one) = app
        .get(&format!(
            "/api/v2/auditlog/{}",
            last["_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(one["event"], Value::from("flag.updated"));
}
