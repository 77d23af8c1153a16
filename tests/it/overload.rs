//! Overload is answered, not queued: when every slot is taken and the writes ahead will not
//! finish in time, REST and SCIM answer 429 with `Retry-After` (SCIM's error JSON with
//! status "429"), and `/health` and `/ready` answer at once all the while.

use std::time::{Duration, Instant};

use gatehouse::service::Ctx;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{BOOTSTRAP, TestApp};

fn retry_after(resp: &reqwest::Response) -> u64 {
    resp.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_house_answers_429_and_stays_ready() {
    let app = TestApp::spawn_limited(gatehouse::AppLimits {
        max_body_bytes: 64 * 1024,
        admission: gatehouse::AdmissionLimits {
            max_in_flight: 2,
            max_queue_wait: Duration::from_millis(300),
        },
        ..Default::default()
    })
    .await;
    app.service.set_max_write_wait(Duration::from_millis(1500));
    let (s, _) = app
        .post(
            "/api/v2/connections",
            json!({"key": "entra", "kind": "entra"}),
        )
        .await;
    assert_eq!(s, 201);
    let (_, t) = app
        .post("/api/v2/connections/entra/scim-tokens", json!({}))
        .await;
    let bearer = format!("Bearer {}", t["token"].as_str().unwrap());
    let create = |name: &str| {
        app.client
            .post(format!("{}/scim/v2/Users", app.base))
            .header("Authorization", &bearer)
            .json(&json!({"userName": name, "emails": [{"value": name}]}))
            .send()
    };

    // Another writer holds the write path: two creates take both slots and queue behind it.
    let ctx = Ctx::system();
    let held = app.service.begin_write(&ctx).await.unwrap();
    let first = tokio::spawn(create("a@contoso.com"));
    let second = tokio::spawn(create("b@contoso.com"));
    tokio::time::sleep(Duration::from_millis(100)).await;

    // A third request finds no slot within the queue wait: 429, SCIM-shaped.
    let started = Instant::now();
    let resp = create("c@contoso.com").await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&resp) >= 1);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "429", "{body}");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    // REST too, in its own shape.
    let resp = app
        .client
        .get(format!("{}/api/v2/members", app.base))
        .header("Authorization", BOOTSTRAP)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&resp) >= 1);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited", "{body}");

    // Health and readiness never wait.
    for path in ["/health", "/ready"] {
        let started = Instant::now();
        let resp = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{path} took {:?}",
            started.elapsed()
        );
    }

    // The two queued creates give up at the write gate's limit, with 429 too.
    for task in [first, second] {
        let resp = task.await.unwrap().unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(retry_after(&resp) >= 1);
    }
    drop(held);
    let resp = create("a@contoso.com").await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let (_, members) = app.get("/api/v2/members").await;
    let emails: Vec<&str> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["email"].as_str())
        .collect();
    assert!(emails.contains(&"a@contoso.com"), "{emails:?}");
    assert!(
        !emails.contains(&"b@contoso.com"),
        "a refused create wrote nothing"
    );
}
