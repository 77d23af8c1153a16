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

#[tokio::test(flavor = "multi_thread")]
async fn the_stream_serves_the_chain_in_order_and_waits_for_the_next_commit() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    let before = app.audit_count().await;

    let (s, page) = app.get("/api/v2/auditlog/stream?afterSeq=0&limit=2").await;
    assert_eq!(s, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["seq"], 1);
    assert_eq!(items[1]["seq"], 2);
    assert_eq!(items[1]["prevHash"], items[0]["hash"]);
    assert!(items[0]["event"].is_string());
    assert_eq!(page["lastSeq"], 2);
    let head = page["headSeq"].as_i64().unwrap();
    assert_eq!(head as u64, before);

    // The rest, then nothing new: an empty answer that keeps the position.
    let (_, page) = app
        .get("/api/v2/auditlog/stream?afterSeq=2&limit=1000")
        .await;
    assert_eq!(page["lastSeq"], head);
    let (_, page) = app
        .get(&format!("/api/v2/auditlog/stream?afterSeq={head}"))
        .await;
    assert_eq!(page["items"], json!([]));
    assert_eq!(page["lastSeq"], head);

    // A long poll answers as soon as the next change commits.
    let waiting = {
        let client = app.client.clone();
        let url = format!(
            "{}/api/v2/auditlog/stream?afterSeq={head}&wait=20",
            app.base
        );
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let body: Value = client
                .get(url)
                .header("Authorization", crate::support::BOOTSTRAP)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (started.elapsed(), body)
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (s, _) = app
        .patch(
            "/api/v2/flags/p/f",
            json!({"environmentKey": "test", "instructions": [{"kind": "turnFlagOn"}]}),
        )
        .await;
    assert_eq!(s, 200);
    let (took, body) = waiting.await.unwrap();
    assert!(
        took < std::time::Duration::from_secs(5),
        "woke after {took:?}"
    );
    assert_eq!(body["items"][0]["seq"], head + 1, "{body}");
    assert_eq!(body["items"][0]["event"], "flag.updated");

    // Reading the stream wrote nothing.
    assert_eq!(app.audit_count().await, before + 1);

    // Out of range asks are refused; a member without viewAuditLog is forbidden.
    assert_eq!(app.get("/api/v2/auditlog/stream?wait=31").await.0, 400);
    assert_eq!(app.get("/api/v2/auditlog/stream?afterSeq=-1").await.0, 400);
    let (_, reader) = app.member_with_token("rita@example.com", "no_access").await;
    let (s, _) = app
        .call(
            reqwest::Method::GET,
            "/api/v2/auditlog/stream",
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(s, 403);
}
