//! The audit log: one entry per change, a hash chain nobody can rewrite unnoticed, filters,
//! pagination, export, checkpoints, and writers racing without forking the chain.

use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use sea_orm::{ConnectionTrait, DatabaseBackend};
use serde_json::json;

use gatehouse::domain::policy::{NO_TAGS, Resource};
use gatehouse::service::{AuditDraft, Ctx};

use crate::support::TestApp;

async fn toggle(app: &TestApp, on: bool) {
    let kind = if on { "turnFlagOn" } else { "turnFlagOff" };
    let (s, body) = app
        .patch(
            "/api/v2/flags/p/f",
            json!({"environmentKey": "test", "instructions": [{"kind": kind}]}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_chain_verifies_and_names_an_entry_edited_behind_the_triggers_back() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    for i in 0..5 {
        toggle(&app, i % 2 == 0).await;
    }
    let (s, report) = app.get("/api/v2/auditlog/verify").await;
    assert_eq!(s, 200);
    assert_eq!(report["valid"], true, "{report}");
    let total = app.audit_count().await;
    assert_eq!(report["entries"], total);

    // The database refuses UPDATE and DELETE on the audit table.
    let db = app.service.db();
    assert!(
        db.execute_unprepared("UPDATE audit_entry SET kind = 'x' WHERE seq = 3")
            .await
            .is_err()
    );
    assert!(
        db.execute_unprepared("DELETE FROM audit_entry WHERE seq = 3")
            .await
            .is_err()
    );

    // An attacker with DDL rights disables the trigger and rewrites one entry.
    let victim = app.audit("action=updateOn").await.last().cloned().unwrap();
    let seq = victim["seq"].as_i64().unwrap();
    let rewrite = format!(
        "UPDATE audit_entry SET body = REPLACE(body, '\"turnFlagOn\"', '\"turnFlagOff\"') WHERE seq = {seq}"
    );
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            db.execute_unprepared("DROP TRIGGER audit_entry_no_update")
                .await
                .unwrap();
            db.execute_unprepared(&rewrite).await.unwrap();
        }
        _ => {
            db.execute_unprepared("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_no_update")
                .await
                .unwrap();
            db.execute_unprepared(&rewrite).await.unwrap();
        }
    }
    let (s, report) = app.get("/api/v2/auditlog/verify").await;
    assert_eq!(s, 200);
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["firstBrokenId"], victim["_id"], "{report}");
    assert_eq!(report["firstBrokenSeq"], seq);

    // The CLI says the same, with a non-zero exit code.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["audit", "verify"])
        .env("GATEHOUSE_DATABASE_URL", &app.database_url)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["firstBrokenId"], victim["_id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn cutting_entries_off_the_end_is_detected() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    toggle(&app, true).await;
    let db = app.service.db();
    let last = app.audit("").await[0]["seq"].as_i64().unwrap();
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => db
            .execute_unprepared("DROP TRIGGER audit_entry_no_delete")
            .await
            .unwrap(),
        _ => db
            .execute_unprepared("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_no_update")
            .await
            .unwrap(),
    };
    db.execute_unprepared(&format!("DELETE FROM audit_entry WHERE seq = {last}"))
        .await
        .unwrap();
    let (_, report) = app.get("/api/v2/auditlog/verify").await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["firstBrokenSeq"], last);
}

/// Appends `count` entries through the write path, a thousand per transaction.
async fn append_entries(app: &TestApp, count: u64) {
    let ctx = Ctx::system();
    let flag = Resource::project("default", NO_TAGS)
        .env("production", NO_TAGS, false)
        .flag("long", NO_TAGS);
    let mut written = 0;
    while written < count {
        let mut tx = app.service.begin_write(&ctx).await.unwrap();
        for i in 0..1000.min(count - written) {
            let draft = AuditDraft::new("flag", "long", "updateOn", &flag)
                .describe(format!("entry {}", written + i))
                .after(Some(json!({"on": true, "version": written + i})));
            tx.audit(draft);
        }
        written += tx.commit().await.unwrap().len() as u64;
    }
}

/// Verification reads a long chain in chunks, several at once (2,000 entries per chunk and
/// four lanes on PostgreSQL, 500 and four on SQLite), checked in parallel: the results must
/// still be checked in order, and an edit deep in the chain is still named.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_chain_is_verified_across_chunks_and_a_deep_edit_is_named() {
    let app = TestApp::spawn().await;
    append_entries(&app, 9_500).await;
    let total = app.audit_count().await;
    for _ in 0..2 {
        let (s, report) = app.get("/api/v2/auditlog/verify").await;
        assert_eq!(s, 200);
        assert_eq!(report["valid"], true, "{report}");
        assert_eq!(report["entries"], total);
    }

    let db = app.service.db();
    let seq = 8_765;
    let trigger_off = match db.get_database_backend() {
        DatabaseBackend::Sqlite => "DROP TRIGGER audit_entry_no_update",
        _ => "ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_no_update",
    };
    db.execute_unprepared(trigger_off).await.unwrap();
    db.execute_unprepared(&format!(
        "UPDATE audit_entry SET body = REPLACE(body, 'entry ', 'entrY ') WHERE seq = {seq}"
    ))
    .await
    .unwrap();
    let (_, report) = app.get("/api/v2/auditlog/verify").await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["firstBrokenSeq"], seq, "{report}");
}

/// Planner statistics (the service refreshes SQLite's every few minutes) must not make the
/// chain read out of order: the spec queries' index `(seq DESC, resources)` also serves a
/// `seq` range, newest first.
#[tokio::test(flavor = "multi_thread")]
async fn the_chain_verifies_once_the_planner_knows_the_log() {
    let app = TestApp::spawn().await;
    append_entries(&app, 300).await;
    app.service
        .db()
        .execute_unprepared("ANALYZE")
        .await
        .unwrap();
    append_entries(&app, 400).await;
    let (s, report) = app.get("/api/v2/auditlog/verify").await;
    assert_eq!(s, 200);
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["entries"], app.audit_count().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn checkpoints_are_signed_and_verifiable_offline() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    let (s, cp) = app.get("/api/v2/auditlog/checkpoint").await;
    assert_eq!(s, 200, "{cp}");
    let (_, report) = app.get("/api/v2/auditlog/verify").await;
    assert_eq!(cp["hash"], report["headHash"]);
    assert_eq!(cp["seq"], report["entries"]);
    let b64 = base64::engine::general_purpose::STANDARD;
    let key_bytes: [u8; 32] = b64
        .decode(cp["publicKey"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let sig_bytes: [u8; 64] = b64
        .decode(cp["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = VerifyingKey::from_bytes(&key_bytes).unwrap();
    let mut msg = b"gatehouse-audit-checkpoint-v1\n".to_vec();
    msg.extend_from_slice(&cp["seq"].as_i64().unwrap().to_be_bytes());
    msg.extend_from_slice(&hex::decode(cp["hash"].as_str().unwrap()).unwrap());
    key.verify(&msg, &Signature::from_bytes(&sig_bytes))
        .expect("signature verifies");
    msg[35] ^= 1;
    assert!(
        key.verify(&msg, &Signature::from_bytes(&sig_bytes))
            .is_err()
    );
    // The same key signs after a restart on the same database.
    let again = TestApp::spawn_on(app.database_url.clone(), None).await;
    let (_, cp2) = again.get("/api/v2/auditlog/checkpoint").await;
    assert_eq!(cp2["publicKey"], cp["publicKey"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_filters_by_spec_actor_action_time_and_text_and_pages_with_a_cursor() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    app.post("/api/v2/projects", json!({"key": "other", "name": "Other"}))
        .await;
    toggle(&app, true).await;
    let (member_id, token) = app.member_with_token("wendy@example.com", "writer").await;
    let (s, _) = app
        .call(
            reqwest::Method::PATCH,
            "/api/v2/flags/p/f",
            Some(&token),
            Some(json!({"environmentKey": "production", "instructions": [{"kind": "turnFlagOn"}], "comment": "Wendy's launch"})),
        )
        .await;
    assert_eq!(s, 200);

    let flag_entries = app.audit("spec=proj/p:env/*:flag/f").await;
    assert!(flag_entries.iter().all(|e| e["kind"] == "flag"));
    assert_eq!(flag_entries.len(), 3, "create + two toggles");
    assert_eq!(
        app.audit("spec=proj/p:env/production:flag/*").await.len(),
        2,
        "create touches production too"
    );
    assert_eq!(app.audit("spec=proj/other").await.len(), 1);
    assert_eq!(app.audit("spec=proj/o*").await.len(), 1);
    let by_wendy = app.audit(&format!("actor={member_id}")).await;
    assert_eq!(
        by_wendy.len(),
        1,
        "the member's own change, made with her personal token: {by_wendy:?}"
    );
    assert_eq!(by_wendy[0]["actor"]["ownerId"], member_id.as_str());
    let by_email = app.audit("actor=wendy@example.com").await;
    assert_eq!(by_email.len(), by_wendy.len());
    assert_eq!(app.audit("action=updateOn").await.len(), 2);
    assert!(app.audit("action=create*").await.len() >= 5);
    assert_eq!(app.audit("q=wendy%27s%20LAUNCH").await.len(), 1);
    let newest = app.audit("").await[0]["date"].as_i64().unwrap();
    assert!(app.audit(&format!("after={}", newest + 1)).await.is_empty());
    assert_eq!(
        app.audit(&format!("before={}", newest + 1)).await.len() as u64,
        app.audit_count().await
    );

    // Cursor pagination walks every entry once, newest first.
    let total = app.audit_count().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v2/auditlog?limit=3&cursor={c}"),
            None => "/api/v2/auditlog?limit=3".to_owned(),
        };
        let (s, page) = app.get(&path).await;
        assert_eq!(s, 200);
        assert_eq!(page["totalCount"], total);
        for e in page["items"].as_array().unwrap() {
            seen.push(e["seq"].as_i64().unwrap());
        }
        match page.get("next").and_then(|n| n.as_str()) {
            Some(n) => cursor = Some(n.to_owned()),
            None => break,
        }
    }
    let expected: Vec<i64> = (1..=total as i64).rev().collect();
    assert_eq!(seen, expected);

    // One entry by id, with its versions; bad inputs are 400/404.
    let id = flag_entries[0]["_id"].as_str().unwrap();
    let (s, e) = app.get(&format!("/api/v2/auditlog/{id}")).await;
    assert_eq!(s, 200);
    assert!(e["currentVersion"].is_object());
    assert_eq!(app.get("/api/v2/auditlog/nope").await.0, 404);
    assert_eq!(app.get("/api/v2/auditlog?limit=0").await.0, 400);
    assert_eq!(app.get("/api/v2/auditlog?limit=1001").await.0, 400);
    assert_eq!(app.get("/api/v2/auditlog?cursor=abc").await.0, 400);
    assert_eq!(app.get("/api/v2/auditlog?spec=proj/p:::").await.0, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_export_is_json_lines_and_records_itself() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    let resp = app
        .client
        .get(format!("{}/api/v2/auditlog/export", app.base))
        .header("Authorization", crate::support::BOOTSTRAP)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/x-ndjson")
    );
    let text = resp.text().await.unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 5);
    for (i, w) in lines.windows(2).enumerate() {
        assert_eq!(w[1]["prevHash"], w[0]["hash"], "line {i}");
        assert_eq!(
            w[1]["seq"].as_i64().unwrap(),
            w[0]["seq"].as_i64().unwrap() + 1
        );
    }
    assert_eq!(
        lines.last().unwrap()["accesses"][0]["action"],
        "exportAuditLog"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_never_fork_the_chain() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    // A second server (its own pool, its own write gate) on the same database: a second replica.
    let replica = TestApp::spawn_on(app.database_url.clone(), None).await;
    let before = app.audit_count().await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let target = if i % 2 == 0 {
            app.base.clone()
        } else {
            replica.base.clone()
        };
        let client = app.client.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for j in 0..10 {
                let body = json!({"key": format!("k{i}-{j}"), "name": "racer"});
                let resp = client
                    .post(format!("{target}/api/v2/projects"))
                    .header("Authorization", crate::support::BOOTSTRAP)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
                ok += 1;
            }
            ok
        }));
    }
    let mut written = 0;
    for t in tasks {
        written += t.await.unwrap();
    }
    assert_eq!(written, 160);
    assert_eq!(app.audit_count().await, before + 160);
    let (_, report) = replica.get("/api/v2/auditlog/verify").await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["entries"], before + 160);
}

/// A second `gatehouse serve` process on the same database races the in-process app: the
/// chain stays one chain (on PostgreSQL the head row lock orders them; on SQLite the file lock).
#[tokio::test(flavor = "multi_thread")]
async fn two_processes_on_one_database_never_fork_the_chain() {
    let app = TestApp::spawn().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("GATEHOUSE_DATABASE_URL", &app.database_url)
        .env("GATEHOUSE_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let other = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = app.client.get(format!("{other}/ready")).send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "the second process did not become ready");
    let before = app.audit_count().await;
    // First in turn, so that the second process's head is stale when it writes again: each
    // process caches the head it wrote last, and the database trigger sends a writer whose
    // head moved back to relink (counted in /metrics). Whatever the race below does, this
    // step has to pass through that path once.
    for (n, target) in [&other, &app.base, &other].into_iter().enumerate() {
        create_project_retrying(&app.client, target, &format!("turn{n}")).await;
    }
    let mut tasks = Vec::new();
    for i in 0..8 {
        let target = if i % 2 == 0 {
            app.base.clone()
        } else {
            other.clone()
        };
        let client = app.client.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..10 {
                create_project_retrying(&client, &target, &format!("proc{i}-{j}")).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (_, report) = app.get("/api/v2/auditlog/verify").await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["entries"], before + 83);
    if app.database_url.starts_with("sqlite") {
        let mut refreshes = 0u64;
        for base in [&app.base, &other] {
            refreshes += app
                .metric(base, "gatehouse_audit_head_refreshes_total")
                .await;
        }
        assert!(refreshes > 0, "no append ever found the head moved");
    }
    child.kill().await.ok();
}

/// Creates a project as an IdP-like client would: a 429 (one process waiting out the
/// other's hold on the database for longer than its write gate queues) is retried after
/// `Retry-After`, a bounded number of times; anything else but 201 fails the test.
async fn create_project_retrying(client: &reqwest::Client, base: &str, key: &str) {
    for _ in 0..20 {
        let resp = client
            .post(format!("{base}/api/v2/projects"))
            .header("Authorization", crate::support::BOOTSTRAP)
            .json(&json!({"key": key, "name": "racer"}))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        if status == 429 {
            let wait = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .expect("a 429 says when to come back");
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            continue;
        }
        assert_eq!(
            status,
            201,
            "{key} at {base}: {}",
            resp.text().await.unwrap()
        );
        return;
    }
    panic!("{key} at {base}: still refused as too busy after 20 tries");
}

/// The columns the log's filters read are covered too: an edit of any of them behind the
/// triggers' back (one at a time, each put back before the next) is named by verify, over
/// REST and on the command line, though every hash still holds.
#[tokio::test(flavor = "multi_thread")]
async fn verify_names_an_edited_query_column() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    toggle(&app, true).await;
    toggle(&app, false).await;
    let victim = app.audit("action=updateOn").await[0].clone();
    let seq = victim["seq"].as_i64().unwrap();
    let spec = "spec=proj/*:env/*:flag/*";
    let seen = |entries: Vec<serde_json::Value>| entries.iter().any(|e| e["seq"] == seq);
    assert!(seen(app.audit(spec).await));

    let db = app.service.db();
    let backend = db.get_database_backend();
    let trigger_off = match backend {
        DatabaseBackend::Sqlite => "DROP TRIGGER audit_entry_no_update",
        _ => "ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_no_update",
    };
    db.execute_unprepared(trigger_off).await.unwrap();
    let edits = [
        ("id", "id = 'ae_forged'"),
        ("date", "date = date + 1"),
        ("kind", "kind = 'team'"),
        ("actor_kind", "actor_kind = 'app'"),
        ("actor_id", "actor_id = 'someone-else'"),
        ("actions", "actions = ' updateName '"),
        ("resources", "resources = 'proj/other'"),
        ("search_text", "search_text = 'nothing to see'"),
    ];
    for (column, edit) in edits {
        let original = db
            .query_one_raw(sea_orm::Statement::from_string(
                backend,
                format!("SELECT {column} FROM audit_entry WHERE seq = {seq}"),
            ))
            .await
            .unwrap()
            .unwrap();
        db.execute_unprepared(&format!("UPDATE audit_entry SET {edit} WHERE seq = {seq}"))
            .await
            .unwrap();
        if column == "resources" {
            // What the check is for: the entry has left the filter's answer.
            assert!(!seen(app.audit(spec).await));
        }
        let (_, report) = app.get("/api/v2/auditlog/verify").await;
        assert_eq!(report["valid"], false, "{column}: {report}");
        assert_eq!(report["firstBrokenSeq"], seq, "{column}: {report}");
        assert!(report["firstBrokenId"].is_string(), "{report}");
        let reason = report["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("`{column}`")),
            "{column}: {report}"
        );
        if column == "actions" {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
                .args(["audit", "verify"])
                .env("GATEHOUSE_DATABASE_URL", &app.database_url)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1));
            let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(printed["firstBrokenSeq"], seq, "{printed}");
            assert!(printed["reason"].as_str().unwrap().contains("`actions`"));
        }
        let restore = match column {
            "date" => "date = date - 1".to_owned(),
            _ => {
                let value: Option<String> = original.try_get_by_index(0).unwrap();
                let value = value.unwrap_or_default().replace('\'', "''");
                format!("{column} = '{value}'")
            }
        };
        db.execute_unprepared(&format!(
            "UPDATE audit_entry SET {restore} WHERE seq = {seq}"
        ))
        .await
        .unwrap();
        let (_, report) = app.get("/api/v2/auditlog/verify").await;
        assert_eq!(report["valid"], true, "after restoring {column}: {report}");
    }
    assert!(seen(app.audit(spec).await));
}

/// The database itself refuses entries that do not continue the chain, whichever way they
/// come: a first entry off the head, a later one off the entry before it (in its link or in
/// its seq), in a multi-row INSERT as the write path sends them; nothing of a refused
/// statement is kept, and a statement that links is taken whole and moves the head to its
/// last entry.
#[tokio::test(flavor = "multi_thread")]
async fn the_database_refuses_entries_that_do_not_continue_the_head() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    let db = app.service.db();
    let backend = db.get_database_backend();
    let head = || async {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                backend,
                "SELECT seq, hash FROM audit_head WHERE id = 1",
            ))
            .await
            .unwrap()
            .unwrap();
        let seq: i64 = row.try_get("", "seq").unwrap();
        let hash: String = row.try_get("", "hash").unwrap();
        (seq, hash)
    };
    let (seq, hash) = head().await;
    let entries = app.audit_count().await;
    let hash_of = |n: u8| format!("{n:02x}").repeat(32);
    // One row of the INSERT: its seq, the hash it claims to follow and its own hash.
    let row = |seq: i64, prev: &str, own: &str| {
        format!(
            "({seq}, 'forged-{seq}', 1, 'flag', 'system', NULL, 'updateOn', 'proj/p', 'x', \
             '{{}}', '{prev}', '{own}')"
        )
    };
    let insert = |rows: Vec<String>| {
        format!(
            "INSERT INTO audit_entry (seq, id, date, kind, actor_kind, actor_id, actions, \
             resources, search_text, body, prev_hash, hash) VALUES {}",
            rows.join(", ")
        )
    };
    let refused = [
        ("off the head", vec![row(seq + 1, &hash_of(1), &hash_of(2))]),
        (
            "second off the first",
            vec![
                row(seq + 1, &hash, &hash_of(2)),
                row(seq + 2, &hash_of(3), &hash_of(4)),
            ],
        ),
        (
            "a seq skipped",
            vec![
                row(seq + 1, &hash, &hash_of(2)),
                row(seq + 3, &hash_of(2), &hash_of(4)),
            ],
        ),
    ];
    for (case, rows) in refused {
        let err = db.execute_unprepared(&insert(rows)).await.unwrap_err();
        assert!(
            err.to_string().contains("audit chain head moved"),
            "{case}: {err}"
        );
        assert_eq!(head().await, (seq, hash.clone()), "{case}: the head moved");
        assert_eq!(app.audit_count().await, entries, "{case}: rows were kept");
    }
    let linked = vec![
        row(seq + 1, &hash, &hash_of(2)),
        row(seq + 2, &hash_of(2), &hash_of(4)),
    ];
    db.execute_unprepared(&insert(linked)).await.unwrap();
    assert_eq!(head().await, (seq + 2, hash_of(4)));
    // Linking is not hashing: verify still finds the forged entry's hash wrong.
    let (_, report) = app.get("/api/v2/auditlog/verify").await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["firstBrokenSeq"], seq + 1, "{report}");
}

/// Verify reads every stored value whole, whatever it holds: commas, non-ASCII text and, on
/// SQLite (PostgreSQL's text cannot hold one), a NUL in a column's value.
#[tokio::test(flavor = "multi_thread")]
async fn entries_with_any_text_verify() {
    let app = TestApp::spawn().await;
    let ctx = Ctx::system();
    let nul = if app.service.db().get_database_backend() == DatabaseBackend::Sqlite {
        "\u{0}"
    } else {
        ""
    };
    let flag = Resource::project("default", NO_TAGS)
        .env("production", NO_TAGS, false)
        .flag("odd", NO_TAGS);
    let mut tx = app.service.begin_write(&ctx).await.unwrap();
    for text in [
        format!("a{nul}b"),
        format!("Ünïcödé, with, commas{nul}"),
        "1,2,3,".to_owned(),
    ] {
        let draft = AuditDraft::new("flag", &text, "updateOn", &flag)
            .describe(text.clone())
            .comment(Some(text.clone()));
        tx.audit(draft);
    }
    tx.commit().await.unwrap();
    let (_, report) = app.get("/api/v2/auditlog/verify").await;
    assert_eq!(report["valid"], true, "{report}");
}
