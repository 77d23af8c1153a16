//! Load harness: audit entries appended over HTTP (concurrent clients each toggling a flag of
//! their own, so every request is a change) and audit chain verification over the database
//! on a chain of `GATEHOUSE_BENCH_VERIFY_ENTRIES` (default 200,000), on SQLite or PostgreSQL.
//!
//! `cargo bench --bench load` (SQLite in a temp dir), or with
//! `GATEHOUSE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<fresh db>` for PostgreSQL.
//! `GATEHOUSE_BENCH_SECONDS` (default 10) and `GATEHOUSE_BENCH_CLIENTS` (default 16) tune it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod harness;

use std::time::{Duration, Instant};

use gatehouse::domain::policy::{NO_TAGS, Resource};
use gatehouse::service::{AuditDraft, Ctx};
use harness::{Harness, TOKEN, benching, env_or, percentile};
use serde_json::json;

#[tokio::main]
async fn main() {
    let benching = benching();
    let harness = Harness::start().await;
    let (backend, base, client, service) = (
        harness.backend,
        harness.base.clone(),
        &harness.client,
        &harness.service,
    );
    // Verification alone, again, on the chain a previous run left in
    // `GATEHOUSE_BENCH_DATABASE_URL`: quicker back-to-back comparisons of verify.
    if std::env::var_os("GATEHOUSE_BENCH_VERIFY_ONLY").is_some() {
        time_verify(service, backend).await;
        return;
    }
    let (status, _) = harness
        .post("/api/v2/projects", json!({"key": "bench", "name": "Bench"}))
        .await;
    assert_eq!(status, 201);
    let (status, _) = harness
        .post(
            "/api/v2/projects/bench/environments",
            json!({"key": "production", "name": "Production"}),
        )
        .await;
    assert_eq!(status, 201);

    let seconds = if benching {
        env_or("GATEHOUSE_BENCH_SECONDS", 10)
    } else {
        1
    };
    let clients = if benching {
        env_or("GATEHOUSE_BENCH_CLIENTS", 16)
    } else {
        2
    };
    // One flag per client, toggled on and off in turn: every request is a real change with
    // its audit entry (toggling one shared flag would count no-op requests as throughput).
    for c in 0..clients {
        let (status, _) = harness
            .post(
                "/api/v2/flags/bench",
                json!({"key": format!("f{c}"), "name": "F"}),
            )
            .await;
        assert_eq!(status, 201);
    }
    let count_changes = || async {
        harness
            .get_json("/api/v2/auditlog?limit=1&action=updateOn")
            .await["totalCount"]
            .as_u64()
            .unwrap()
    };
    let changes_before = count_changes().await;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = client.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut on = false;
            while Instant::now() < deadline {
                on = !on;
                let kind = if on { "turnFlagOn" } else { "turnFlagOff" };
                let t = Instant::now();
                let resp = client
                    .patch(format!("{base}/api/v2/flags/bench/f{c}"))
                    .header("Authorization", TOKEN)
                    .json(
                        &json!({"environmentKey": "production", "instructions": [{"kind": kind}]}),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let changes = count_changes().await - changes_before;
    assert_eq!(
        changes,
        latencies.len() as u64,
        "every toggle is one audited change"
    );
    println!(
        "{backend}: {changes} toggles (each a change + its audit entry) from {clients} clients in {elapsed:.1}s = {:.0} changes/s; latency p50 {:?} p99 {:?}",
        changes as f64 / elapsed,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
    );

    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counter = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let batches = counter("gatehouse_write_batches_total ");
    if batches > 0.0 {
        println!(
            "{backend}: {:.1} changes per committed transaction on average (group commit)",
            counter("gatehouse_audit_entries_written_total ") / batches
        );
    }

    // Verification is measured on a chain of realistic size: entries shaped like the toggles'
    // are appended through the write path, a thousand per transaction.
    let target = if benching {
        env_or("GATEHOUSE_BENCH_VERIFY_ENTRIES", 200_000)
    } else {
        2_000
    };
    let ctx = Ctx::system();
    let flag = Resource::project("bench", NO_TAGS)
        .env("production", NO_TAGS, false)
        .flag("f0", NO_TAGS);
    let mut have = service.verify_audit().await.unwrap().entries;
    while have < target {
        let mut tx = service.begin_write(&ctx).await.unwrap();
        for i in 0..1000u64.min(target - have) {
            let draft = AuditDraft::new("flag", "f0", "updateOn", &flag)
                .describe("turned flag f0 on in production")
                .environment(Some("production".to_owned()))
                .before(Some(json!({"on": false, "version": i})))
                .after(Some(json!({"on": true, "version": i + 1})))
                .delta(json!([{"kind": "turnFlagOn"}]));
            tx.audit(draft);
        }
        have += tx.commit().await.unwrap().len() as u64;
    }

    time_verify(service, backend).await;
}

/// Verifies the whole chain three times and prints the best.
async fn time_verify(service: &gatehouse::service::Service, backend: &str) {
    let runs = 3;
    let mut best = f64::MAX;
    let mut entries = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let report = service.verify_audit().await.unwrap();
        assert!(report.valid);
        entries = report.entries;
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{backend}: verified {entries} entries in {:.3}s (best of {runs}) = {:.0} entries/s",
        best,
        entries as f64 / best
    );
}
