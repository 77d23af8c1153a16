//! The write path under contention: writers queued at the gate share one transaction (group
//! commit), yet each commits or fails on its own: a writer that gives up leaves no trace and
//! costs the others nothing.

use std::time::Duration;

use gatehouse::domain::policy::Resource;
use gatehouse::service::{AuditDraft, Ctx, Service};
use sea_orm::ConnectionTrait;

use crate::support::{TestApp, metric_value};

fn draft(key: &str) -> AuditDraft {
    AuditDraft::new("setting", key, "updateSetting", &Resource::member(key))
        .describe(format!("wrote setting {key}"))
}

/// Writes a setting row and its audit entry; commits unless `give_up`. A failed INSERT
/// ends the writer with that error, its transaction dropped.
async fn write(
    service: &Service,
    key: &str,
    give_up: bool,
) -> Option<gatehouse::error::Result<()>> {
    let ctx = Ctx::system();
    let mut tx = service.begin_write(&ctx).await.unwrap();
    let inserted = tx
        .db()
        .execute_unprepared(&format!(
            "INSERT INTO setting (key, value) VALUES ('{key}', 'x')"
        ))
        .await;
    if let Err(e) = inserted {
        return Some(Err(e.into()));
    }
    tx.audit(draft(key));
    if give_up {
        return None;
    }
    Some(tx.commit().await.map(|_| ()))
}

/// Exactly `expected` settings were written, with one entry each since `audit_before`, in a
/// chain that verifies.
async fn assert_written(app: &TestApp, expected: &[String], audit_before: u64) {
    assert_eq!(settings(app).await, expected);
    assert_eq!(
        app.audit_count().await,
        audit_before + expected.len() as u64
    );
    let (_, report) = app.get("/api/v2/auditlog/verify").await;
    assert_eq!(report["valid"], true, "{report}");
}

async fn settings(app: &TestApp) -> Vec<String> {
    let rows = app
        .service
        .db()
        .query_all_raw(sea_orm::Statement::from_string(
            app.service.db().get_database_backend(),
            "SELECT key FROM setting WHERE key LIKE 'batch-%' ORDER BY key",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect()
}

/// A, B and C queue in that order; B writes and then gives up. A and C commit, B's row and
/// entry are gone, and the chain verifies. All three ran in one transaction.
#[tokio::test(flavor = "multi_thread")]
async fn a_writer_that_gives_up_in_a_batch_undoes_only_its_own_change() {
    let app = TestApp::spawn().await;
    let batches_before = metric_value(
        &app.service.metrics().render(),
        "gatehouse_write_batches_total",
    );
    let audit_before = app.audit_count().await;
    let ctx = Ctx::system();
    // A holds the gate (or the head lock) while B and C queue behind it.
    let mut a = app.service.begin_write(&ctx).await.unwrap();
    let (service_b, service_c) = (app.service.clone(), app.service.clone());
    let b = tokio::spawn(async move { write(&service_b, "batch-b", true).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let c = tokio::spawn(async move { write(&service_c, "batch-c", false).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.db()
        .execute_unprepared("INSERT INTO setting (key, value) VALUES ('batch-a', 'x')")
        .await
        .unwrap();
    a.audit(draft("batch-a"));
    a.commit().await.unwrap();
    assert!(b.await.unwrap().is_none());
    c.await.unwrap().unwrap().unwrap();
    let batches = metric_value(
        &app.service.metrics().render(),
        "gatehouse_write_batches_total",
    );

    assert_eq!(settings(&app).await, ["batch-a", "batch-c"]);
    assert_eq!(app.audit_count().await, audit_before + 2);
    let (_, report) = app.get("/api/v2/auditlog/verify").await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(batches, batches_before + 1, "A and C committed together");
}

/// A finished writer leaves the batch open for the writer queued behind it; when that one
/// goes away without a word, the batch still commits and the finished writer gets its answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_left_open_for_a_writer_that_vanishes_still_commits() {
    let app = TestApp::spawn().await;
    let service_a = app.service.clone();
    let (began, a_began) = tokio::sync::oneshot::channel();
    let (go, a_go) = tokio::sync::oneshot::channel::<()>();
    let committed = tokio::spawn(async move {
        let ctx = Ctx::system();
        let mut a = service_a.begin_write(&ctx).await.unwrap();
        began.send(()).unwrap();
        a_go.await.unwrap();
        a.db()
            .execute_unprepared("INSERT INTO setting (key, value) VALUES ('batch-a', 'x')")
            .await
            .unwrap();
        a.audit(draft("batch-a"));
        a.commit().await.map(|_| ())
    });
    a_began.await.unwrap();
    let service_b = app.service.clone();
    let b = tokio::spawn(async move {
        let ctx = Ctx::system();
        let _tx = service_b.begin_write(&ctx).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    go.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    b.abort();
    let outcome = tokio::time::timeout(Duration::from_secs(10), committed)
        .await
        .expect("the finished writer never heard back")
        .unwrap();
    outcome.unwrap();
    assert_eq!(settings(&app).await, ["batch-a"]);
    let (_, report) = app.get("/api/v2/auditlog/verify").await;
    assert_eq!(report["valid"], true, "{report}");
}

/// Many writers at once, a third of them giving up after writing: exactly the others'
/// changes and entries are there, in one unbroken chain.
#[tokio::test(flavor = "multi_thread")]
async fn racing_writers_that_give_up_leave_no_trace() {
    let app = TestApp::spawn().await;
    let audit_before = app.audit_count().await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let service = app.service.clone();
        tasks.push(tokio::spawn(async move {
            write(&service, &format!("batch-{i:02}"), i % 3 == 1).await
        }));
    }
    for t in tasks {
        if let Some(outcome) = t.await.unwrap() {
            outcome.unwrap();
        }
    }
    let expected: Vec<String> = (0..60)
        .filter(|i| i % 3 != 1)
        .map(|i| format!("batch-{i:02}"))
        .collect();
    assert_eq!(expected.len(), 40);
    assert_written(&app, &expected, audit_before).await;
}

/// Writers whose statement fails in the database (here a duplicate primary key, which on
/// PostgreSQL aborts the transaction until it rolls back to a savepoint) share batches with
/// writers that succeed: every key is written once, with one entry each, and the chain holds.
#[tokio::test(flavor = "multi_thread")]
async fn a_writer_whose_statement_fails_does_not_spoil_its_batch() {
    let app = TestApp::spawn().await;
    let audit_before = app.audit_count().await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let service = app.service.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("batch-{:02}", i / 2);
            write(&service, &key, false).await
        }));
    }
    let mut committed = 0;
    for t in tasks {
        if let Some(Ok(())) = t.await.unwrap() {
            committed += 1;
        }
    }
    assert_eq!(committed, 30);
    let expected: Vec<String> = (0..30).map(|i| format!("batch-{i:02}")).collect();
    assert_written(&app, &expected, audit_before).await;
}
