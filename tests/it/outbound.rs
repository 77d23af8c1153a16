//! The audit log as the outbox: every entry names its event, the pull stream serves the chain
//! in order, and webhooks push it, signed, to receivers on loopback.

use gatehouse::clock::{ManualClock, SystemClock};
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

// ---- webhooks ----

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse::clock::Clock;
use sha2::{Digest, Sha256};

const SECRET: &str = "a-receiver-secret-0123456789";

/// HMAC-SHA256 written out here (RFC 2104), so the test does not trust the product's signing.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// A receiver on loopback: answers with `status`, and keeps the deliveries it accepted (2xx)
/// after checking their signature.
struct Receiver {
    url: String,
    status: Arc<AtomicU16>,
    /// Milliseconds to take before answering.
    delay: Arc<std::sync::atomic::AtomicU64>,
    accepted: Arc<Mutex<Vec<Value>>>,
    refused: Arc<Mutex<u32>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(secret: &'static str) -> Receiver {
        use poem::listener::{Acceptor, Listener, TcpListener};
        let status = Arc::new(AtomicU16::new(200));
        let delay = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(0u32));
        let (s, a, r, d) = (
            status.clone(),
            accepted.clone(),
            refused.clone(),
            delay.clone(),
        );
        let endpoint = poem::endpoint::make(move |req: poem::Request| {
            let (s, a, r, d) = (s.clone(), a.clone(), r.clone(), d.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(d.load(Ordering::SeqCst))).await;
                let header = req
                    .header("X-Gatehouse-Signature")
                    .unwrap_or_default()
                    .to_owned();
                assert_eq!(req.header("Content-Type"), Some("application/json"));
                let body = req.into_body().into_vec().await.unwrap();
                let (t, v1) = header
                    .split_once(',')
                    .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
                    .expect("t=..,v1=..");
                let mut message = format!("{t}.").into_bytes();
                message.extend_from_slice(&body);
                assert_eq!(
                    v1,
                    hex::encode(hmac_sha256(secret.as_bytes(), &message)),
                    "signature"
                );
                let now = gatehouse::clock::SystemClock.now_ms() / 1000;
                assert!((now - t.parse::<i64>().unwrap()).abs() < 60);
                let code = s.load(Ordering::SeqCst);
                if (200..300).contains(&code) {
                    a.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                } else {
                    *r.lock().unwrap() += 1;
                }
                poem::Response::builder()
                    .status(poem::http::StatusCode::from_u16(code).unwrap())
                    .body("a receiver's answer that must never reach the audit log")
            }
        });
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let addr = acceptor.local_addr()[0].as_socket_addr().cloned().unwrap();
        let server = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor)
                .run(endpoint)
                .await;
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            status,
            delay,
            accepted,
            refused,
            _server: server,
        }
    }

    /// Every accepted entry (checkpoints aside), in arrival order.
    fn events(&self) -> Vec<Value> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .flat_map(|d| d["events"].as_array().unwrap().clone())
            .filter(|e| e["event"] != "checkpoint")
            .collect()
    }

    fn seqs(&self) -> Vec<i64> {
        self.events()
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect()
    }
}

/// Waits (up to 30 s) until `done` holds.
async fn eventually(what: &str, done: impl FnMut() -> bool) {
    eventually_within(Duration::from_secs(30), what, done).await;
}

async fn eventually_within(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn head(app: &TestApp) -> i64 {
    let (_, page) = app.get("/api/v2/auditlog/stream?afterSeq=0&limit=1").await;
    page["headSeq"].as_i64().unwrap()
}

async fn add_member(app: &TestApp, email: &str) {
    let (s, m) = app
        .post("/api/v2/members", json!({"email": email, "role": "reader"}))
        .await;
    assert_eq!(s, 201, "{m}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_delivers_the_log_in_order_signed_and_can_replay() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET).await;
    let (s, created) = app
        .post(
            "/api/v2/webhooks",
            json!({"name": "siem", "url": receiver.url, "secret": SECRET}),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["secret"], SECRET);
    let id = created["_id"].as_str().unwrap().to_owned();
    let start = created["cursorSeq"].as_i64().unwrap();
    for i in 0..7 {
        add_member(&app, &format!("m{i}@example.com")).await;
    }
    let target = head(&app).await;
    eventually("every entry delivered", || {
        receiver.seqs().last() == Some(&target)
    })
    .await;

    // Everything after the cursor, once, in order, linked, starting with the creation.
    let events = receiver.events();
    let seqs = receiver.seqs();
    assert_eq!(seqs, ((start + 1)..=target).collect::<Vec<_>>());
    assert_eq!(events[0]["event"], "webhook.created");
    for pair in events.windows(2) {
        assert_eq!(pair[1]["prevHash"], pair[0]["hash"]);
    }
    for d in receiver.accepted.lock().unwrap().iter() {
        assert_eq!(d["webhookId"], id.as_str());
        let evs = d["events"].as_array().unwrap();
        assert_eq!(d["fromSeq"], evs[0]["seq"]);
        assert_eq!(d["toSeq"], evs[evs.len() - 1]["seq"]);
        // A checkpoint, when there is one, closes the delivery and covers its last entry.
        for (i, e) in evs.iter().enumerate() {
            if e["event"] == "checkpoint" {
                assert_eq!(i, evs.len() - 1);
                assert_eq!(e["seq"], d["toSeq"]);
            }
        }
    }

    // The secret is in no answer but the create's and nowhere in the log; nor is the
    // receiver's answer.
    // The worker records the attempt and moves the cursor once the receiver has answered.
    let started = std::time::Instant::now();
    let got = loop {
        let (_, got) = app.get(&format!("/api/v2/webhooks/{id}")).await;
        if got["cursorSeq"] == target || started.elapsed() > Duration::from_secs(10) {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(got.get("secret").is_none(), "{got}");
    assert_eq!(got["cursorSeq"], target);
    let log = serde_json::to_string(&app.audit("").await).unwrap();
    assert!(!log.contains(SECRET));
    assert!(!log.contains("must never reach"));
    let (_, deliveries) = app.get(&format!("/api/v2/webhooks/{id}/deliveries")).await;
    let first = &deliveries["items"][0];
    assert_eq!(first["status"], 200, "{deliveries}");
    assert_eq!(first["toSeq"], target);

    // Replay: the cursor moves back (an audited change) and the entries come again.
    let (s, moved) = app
        .post(
            &format!("/api/v2/webhooks/{id}/cursor"),
            json!({"seq": target - 2}),
        )
        .await;
    assert_eq!(s, 200, "{moved}");
    let after_move = head(&app).await;
    eventually("the replay", || receiver.seqs().last() == Some(&after_move)).await;
    let replayed = &receiver.seqs()[seqs.len()..];
    assert_eq!(replayed, &[target - 1, target, after_move]);
    let last = app.audit("").await[0].clone();
    assert_eq!(last["event"], "webhook.cursorMoved");
    assert_eq!(
        app.post(
            &format!("/api/v2/webhooks/{id}/cursor"),
            json!({"seq": after_move + 5})
        )
        .await
        .0,
        400
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_fails_gets_the_backlog_in_order_once_it_is_back_and_off_pauses() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET).await;
    let (s, created) = app
        .post(
            "/api/v2/webhooks",
            json!({"name": "flaky", "url": receiver.url, "secret": SECRET}),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let id = created["_id"].as_str().unwrap().to_owned();
    let start = created["cursorSeq"].as_i64().unwrap();
    receiver.status.store(503, Ordering::SeqCst);
    for i in 0..3 {
        add_member(&app, &format!("down{i}@example.com")).await;
    }
    eventually("two refused attempts", || {
        *receiver.refused.lock().unwrap() >= 2
    })
    .await;
    // The worker records a refusal after the receiver has answered it: poll for the record.
    let started = std::time::Instant::now();
    let w = loop {
        let (_, w) = app.get(&format!("/api/v2/webhooks/{id}")).await;
        if w["failures"].as_i64().unwrap() >= 2 {
            break w;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{w}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(w["cursorSeq"], start, "the cursor waits for a 2xx");
    let (_, deliveries) = app.get(&format!("/api/v2/webhooks/{id}/deliveries")).await;
    assert_eq!(deliveries["items"][0]["status"], 503);

    receiver.status.store(200, Ordering::SeqCst);
    add_member(&app, "back@example.com").await;
    let target = head(&app).await;
    eventually("the backlog", || receiver.seqs().last() == Some(&target)).await;
    assert_eq!(receiver.seqs(), ((start + 1)..=target).collect::<Vec<_>>());

    // Off pauses; on continues from the cursor.
    let (s, _) = app
        .patch(&format!("/api/v2/webhooks/{id}"), json!({"on": false}))
        .await;
    assert_eq!(s, 200);
    add_member(&app, "paused@example.com").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let paused_head = head(&app).await;
    assert!(receiver.seqs().last().copied().unwrap() < paused_head);
    let (s, _) = app
        .patch(&format!("/api/v2/webhooks/{id}"), json!({"on": true}))
        .await;
    assert_eq!(s, 200);
    let target = head(&app).await;
    eventually("after resuming", || receiver.seqs().last() == Some(&target)).await;
    assert_eq!(receiver.seqs(), ((start + 1)..=target).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn event_patterns_and_statements_choose_what_a_receiver_gets() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    let members = Receiver::start(SECRET).await;
    let production = Receiver::start(SECRET).await;
    let (s, m) = app
        .post(
            "/api/v2/webhooks",
            json!({"name": "directory", "url": members.url, "secret": SECRET,
                   "events": ["member.*"]}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    let (s, p) = app
        .post(
            "/api/v2/webhooks",
            json!({"name": "prod", "url": production.url, "secret": SECRET,
            "statements": [
                {"effect": "allow", "actions": ["*"], "resources": ["proj/*:env/*:flag/*"]},
                {"effect": "deny", "actions": ["*"], "resources": ["proj/*:env/test:flag/*"]}
            ]}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    for env in ["test", "production", "test"] {
        let (s, body) = app
            .patch(
                "/api/v2/flags/p/f",
                json!({"environmentKey": env, "instructions": [{"kind": "turnFlagOn"}]}),
            )
            .await;
        assert_eq!(s, 200, "{body}");
    }
    add_member(&app, "dir@example.com").await;
    let (_, last) = app.get("/api/v2/auditlog?limit=1").await;
    let member_seq = last["items"][0]["seq"].as_i64().unwrap();
    eventually("the member event", || {
        members.seqs().last() == Some(&member_seq)
    })
    .await;
    let names: Vec<Value> = members
        .events()
        .iter()
        .map(|e| e["event"].clone())
        .collect();
    assert_eq!(names, [json!("member.created")]);
    // Both webhooks have now considered everything: the flag one got production's change only.
    let (_, w) = app
        .get(&format!("/api/v2/webhooks/{}", p["_id"].as_str().unwrap()))
        .await;
    eventually("the flag webhook caught up", || {
        !production.events().is_empty()
    })
    .await;
    let _ = w;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let prod = production.events();
    assert_eq!(prod.len(), 1, "{prod:?}");
    assert_eq!(prod[0]["event"], "flag.updated");
    assert_eq!(prod[0]["environment"], "production");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_webhooks_are_refused_with_clear_messages() {
    let app = TestApp::spawn().await;
    let before = app.audit_count().await;
    let cases = [
        json!({"name": "x", "url": "ftp://example.com/hook"}),
        json!({"name": "x", "url": "https://user:pw@example.com/hook"}),
        json!({"name": "x", "url": "http://169.254.169.254/latest/meta-data"}),
        json!({"name": "x", "url": "http://[fe80::1]/hook"}),
        json!({"name": "x", "url": "not a url"}),
        json!({"name": "x", "url": "https://example.com/", "events": ["membr.*"]}),
        json!({"name": "x", "url": "https://example.com/", "statements": [{"effect": "maybe"}]}),
        json!({"name": "x", "url": "https://example.com/", "secret": "short"}),
    ];
    for body in cases {
        let (s, answer) = app.post("/api/v2/webhooks", body.clone()).await;
        assert_eq!(s, 400, "{body} -> {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(app.audit_count().await, before, "nothing written");

    // The deployment may allow link-local receivers.
    app.service.set_webhook_allow_link_local(true);
    let (s, w) = app
        .post(
            "/api/v2/webhooks",
            json!({"name": "meta", "url": "http://169.254.169.254/hook", "on": false}),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    app.service.set_webhook_allow_link_local(false);
    let id = w["_id"].as_str().unwrap();
    let (s, _) = app
        .patch(
            &format!("/api/v2/webhooks/{id}"),
            json!({"url": "http://[fe80::2]/hook"}),
        )
        .await;
    assert_eq!(s, 400);

    // Webhooks are an admin's: a writer may neither create nor see them.
    let (_, writer) = app.member_with_token("w@example.com", "writer").await;
    let (s, _) = app
        .call(
            reqwest::Method::POST,
            "/api/v2/webhooks",
            Some(&writer),
            Some(json!({"name": "x", "url": "https://example.com/"})),
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(app.delete(&format!("/api/v2/webhooks/{id}")).await.0, 204);
    assert_eq!(app.get(&format!("/api/v2/webhooks/{id}")).await.0, 404);
    let last = app.audit("").await[0].clone();
    assert_eq!(last["event"], "webhook.deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_deliver_each_range_once_and_in_order() {
    let first = TestApp::spawn().await;
    // A second replica on the same database, delivering too.
    let second = TestApp::spawn_on(first.database_url.clone(), None).await;
    let receiver = Receiver::start(SECRET).await;
    let (s, created) = first
        .post(
            "/api/v2/webhooks",
            json!({"name": "shared", "url": receiver.url, "secret": SECRET}),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let start = created["cursorSeq"].as_i64().unwrap();
    for i in 0..20 {
        let app = if i % 2 == 0 { &first } else { &second };
        add_member(app, &format!("r{i}@example.com")).await;
    }
    let target = head(&first).await;
    eventually("every entry delivered", || {
        receiver.seqs().last() == Some(&target)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Nothing lost, nothing twice: one replica at a time held the lease.
    assert_eq!(receiver.seqs(), ((start + 1)..=target).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_receiver_does_not_hold_up_changes() {
    use poem::listener::{Acceptor, Listener, TcpListener};
    let app = TestApp::spawn().await;
    // Accepts connections and never answers.
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().cloned().unwrap();
    let hang = poem::endpoint::make(|_req: poem::Request| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        "never"
    });
    let _server = tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(hang).await;
    });
    let (s, created) = app
        .post(
            "/api/v2/webhooks",
            json!({"name": "hangs", "url": format!("http://{addr}/hook"), "secret": SECRET}),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A delivery is now in flight and hanging; changes go on at their usual pace.
    let started = std::time::Instant::now();
    for i in 0..30 {
        add_member(&app, &format!("h{i}@example.com")).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "30 changes took {:?} with a hanging receiver",
        started.elapsed()
    );
    let (_, w) = app
        .get(&format!(
            "/api/v2/webhooks/{}",
            created["_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(w["cursorSeq"], created["cursorSeq"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caught_up_receiver_gets_a_checkpoint_of_its_tail_once_the_interval_passes() {
    let start = SystemClock.now_ms();
    let clock = ManualClock::new(start);
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let receiver = Receiver::start(SECRET).await;
    let (s, w) = app
        .post(
            "/api/v2/webhooks",
            json!({"name": "siem", "url": receiver.url, "secret": SECRET}),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    let checkpoints = |r: &Receiver| -> Vec<i64> {
        r.accepted
            .lock()
            .unwrap()
            .iter()
            .flat_map(|d| d["events"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["event"] == "checkpoint")
            .filter_map(|e| e["seq"].as_i64())
            .collect()
    };
    // The first delivery carries a checkpoint; the change after it, none (time stands still).
    let first = head(&app).await;
    eventually("the first checkpoint", || checkpoints(&receiver) == [first]).await;
    add_member(&app, "tail@example.com").await;
    let tail = head(&app).await;
    eventually("the tail", || receiver.seqs().last() == Some(&tail)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        checkpoints(&receiver),
        [first],
        "no checkpoint before the interval"
    );
    // A minute later, with nothing new, the tail is confirmed by a delivery of its own.
    clock.advance(61_000);
    eventually("the tail's checkpoint", || {
        checkpoints(&receiver) == [first, tail]
    })
    .await;
    let last = receiver.accepted.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last["fromSeq"], tail);
    assert_eq!(last["toSeq"], tail);
    assert_eq!(last["events"].as_array().map(Vec::len), Some(1));
    // And only once: nothing changed since.
    clock.advance(61_000);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(checkpoints(&receiver), [first, tail]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_deleted_during_an_attempt_leaves_no_delivery_behind() {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET).await;
    receiver.delay.store(1500, Ordering::SeqCst);
    let (s, w) = app
        .post(
            "/api/v2/webhooks",
            json!({"name": "gone", "url": receiver.url, "secret": SECRET}),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    let id = w["_id"].as_str().unwrap().to_owned();
    // The first attempt starts within the delay; the webhook goes while it is in flight.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, body) = app.delete(&format!("/api/v2/webhooks/{id}")).await;
    assert_eq!(s, 204, "{body}");
    eventually("the attempt to end", || !receiver.events().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows = entity::webhook_delivery::Entity::find()
        .filter(entity::webhook_delivery::Column::WebhookId.eq(id.as_str()))
        .count(app.service.db())
        .await
        .unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn approval_events_name_whom_to_notify() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    let mut ids = Vec::new();
    for email in ["ann@example.com", "bob@example.com", "carol@example.com"] {
        let (s, m) = app
            .post("/api/v2/members", json!({"email": email, "role": "writer"}))
            .await;
        assert_eq!(s, 201, "{m}");
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    let (s, t) = app
        .post(
            "/api/v2/teams",
            json!({"key": "ops", "name": "Ops", "memberIds": [ids[1], ids[2]]}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    // Carol has left: nobody should write to her.
    let (s, _) = app
        .patch(
            &format!("/api/v2/members/{}", ids[2]),
            json!({"status": "deactivated"}),
        )
        .await;
    assert_eq!(s, 200);
    let after = head(&app).await;
    let (s, r) = app
        .post(
            "/api/v2/approval-requests",
            json!({"resourceId": "proj/p:env/production:flag/f", "description": "launch",
                   "instructions": [{"kind": "turnFlagOn"}],
                   "notifyMemberIds": [ids[0]], "notifyTeamKeys": ["ops"]}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let (_, page) = app
        .get(&format!("/api/v2/auditlog/stream?afterSeq={after}"))
        .await;
    let requested = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "approval.requested")
        .cloned()
        .unwrap_or_else(|| panic!("{page}"));
    assert_eq!(
        requested["recipients"],
        json!([
            {"id": ids[0], "email": "ann@example.com"},
            {"id": ids[1], "email": "bob@example.com"},
        ])
    );
    // Other events carry none.
    let (_, page) = app.get("/api/v2/auditlog/stream?afterSeq=0&limit=1").await;
    assert!(page["items"][0].get("recipients").is_none());
}

/// `gatehouse audit verify-stream` on a file: exit code and report.
fn verify_stream(lines: &[Value], key_hex: &str) -> (i32, Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("received.jsonl");
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(&path, text.join("\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["audit", "verify-stream"])
        .arg(&path)
        .args(["--public-key", key_hex])
        .env_remove("GATEHOUSE_DATABASE_URL")
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), report)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_proves_it_got_everything_in_order_untampered() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET).await;
    let (s, created) = app
        .post(
            "/api/v2/webhooks",
            json!({"name": "proof", "url": receiver.url, "secret": SECRET}),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    for i in 0..6 {
        add_member(&app, &format!("p{i}@example.com")).await;
    }
    let target = head(&app).await;
    eventually("every entry delivered", || {
        receiver.seqs().last() == Some(&target)
    })
    .await;
    let (_, cp) = app.get("/api/v2/auditlog/checkpoint").await;
    let key = hex::encode(
        base64::engine::general_purpose::STANDARD
            .decode(cp["publicKey"].as_str().unwrap())
            .unwrap(),
    );

    // Whole delivery bodies, one a line, with a re-delivery: clean.
    let original = receiver.accepted.lock().unwrap().clone();
    let mut bodies = original.clone();
    bodies.push(original[0].clone());
    let (code, report) = verify_stream(&bodies, &key);
    assert_eq!(code, 0, "{report}");
    assert!(report["checkpoints"].as_u64().unwrap() >= 1, "{report}");
    assert!(report["confirmedThrough"].as_i64().is_some(), "{report}");
    assert_eq!(
        report["duplicates"].as_u64().unwrap() as usize,
        receiver.accepted.lock().unwrap()[0]["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"] != "checkpoint")
            .count()
    );

    // One event a line (each once): the same; then with one removed, two swapped, one edited.
    let events: Vec<Value> = original
        .iter()
        .flat_map(|d| d["events"].as_array().unwrap().clone())
        .collect();
    assert_eq!(verify_stream(&events, &key).0, 0);
    let entries: Vec<Value> = events
        .iter()
        .filter(|e| e["event"] != "checkpoint")
        .cloned()
        .collect();
    let mut removed = entries.clone();
    removed.remove(3);
    let (code, report) = verify_stream(&removed, &key);
    assert_eq!(code, 1);
    assert_eq!(report["gaps"].as_array().unwrap().len(), 1, "{report}");
    let mut swapped = entries.clone();
    swapped.swap(2, 3);
    let (code, report) = verify_stream(&swapped, &key);
    assert_eq!(code, 1);
    assert_eq!(report["reordered"].as_array().unwrap().len(), 1, "{report}");
    let mut edited = entries.clone();
    edited[2]["name"] = json!("someone else");
    let (code, report) = verify_stream(&edited, &key);
    assert_eq!(code, 1, "{report}");
    // A checkpoint under another key is refused.
    assert_eq!(verify_stream(&events, &"11".repeat(32)).0, 1);
}

/// A `gatehouse serve` process on `database_url`, ready, with the test bootstrap token.
async fn serve_process(database_url: &str) -> (tokio::process::Child, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("GATEHOUSE_DATABASE_URL", database_url)
        .env("GATEHOUSE_BOOTSTRAP_TOKEN", crate::support::BOOTSTRAP)
        .env("GATEHOUSE_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/ready")).send().await
            && r.status() == 200
        {
            return (child, base);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gatehouse serve did not become ready");
}

async fn post_to(base: &str, path: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("Authorization", crate::support::BOOTSTRAP)
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_mid_delivery_loses_nothing_after_restart() {
    let (database_url, _tmp) = crate::support::fresh_database().await;
    let receiver = Receiver::start(SECRET).await;
    receiver.delay.store(150, Ordering::SeqCst);
    let (mut server, base) = serve_process(&database_url).await;
    let (s, created) = post_to(
        &base,
        "/api/v2/webhooks",
        json!({"name": "crash", "url": receiver.url, "secret": SECRET}),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let start = created["cursorSeq"].as_i64().unwrap();
    for i in 0..15 {
        let (s, _) = post_to(
            &base,
            "/api/v2/members",
            json!({"email": format!("k{i}@example.com")}),
        )
        .await;
        assert_eq!(s, 201);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    eventually("a few deliveries", || {
        receiver.accepted.lock().unwrap().len() >= 2
    })
    .await;
    // SIGKILL, most likely while a delivery is in flight (the receiver takes 150 ms).
    server.kill().await.unwrap();
    let (_server, base) = serve_process(&database_url).await;
    for i in 15..20 {
        let (s, _) = post_to(
            &base,
            "/api/v2/members",
            json!({"email": format!("k{i}@example.com")}),
        )
        .await;
        assert_eq!(s, 201);
    }
    let (_, page) = {
        let resp = reqwest::Client::new()
            .get(format!("{base}/api/v2/auditlog/stream?afterSeq=0&limit=1"))
            .header("Authorization", crate::support::BOOTSTRAP)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json::<Value>().await.unwrap())
    };
    let target = page["headSeq"].as_i64().unwrap();
    // The dead process's lease (20 s) has to run out before the new one takes over.
    eventually_within(
        Duration::from_secs(60),
        "everything after the restart",
        || receiver.seqs().last() == Some(&target),
    )
    .await;
    // At least once, in order: a range may come again, but nothing is skipped.
    let mut expected = start + 1;
    for seq in receiver.seqs() {
        assert!(seq <= expected, "seq {seq} arrived before {expected}");
        if seq == expected {
            expected += 1;
        }
    }
    assert_eq!(expected, target + 1);
}
