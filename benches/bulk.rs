//! Bulk harness: one `replaceMembersRoles` over `GATEHOUSE_BENCH_MEMBERS` listed members
//! (default 10,000; 200 when run as a test), then one `replaceAllMembersRoles` filtered to
//! the members never seen (about two thirds of them), on SQLite or PostgreSQL
//! (`GATEHOUSE_BENCH_DATABASE_URL`). Each is one request, one transaction and one audit entry
//! per member changed; the figure is the request's latency as an admin sees it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod harness;

use std::time::{Duration, Instant};

use harness::{Harness, TOKEN, benching, env_or};
use serde_json::{Value, json};

#[tokio::main]
async fn main() {
    let h = Harness::start().await;
    let members = if benching() {
        env_or("GATEHOUSE_BENCH_MEMBERS", 10_000)
    } else {
        200
    } as usize;
    let started = Instant::now();
    let seeded = h.seed_directory(members, 20).await;
    println!(
        "{}: seeded {members} members in {:.1} s",
        h.backend,
        started.elapsed().as_secs_f64()
    );
    // Every seeded member is a reader, writer or admin: each of them changes.
    let listed = json!({"instructions": [{"kind": "replaceMembersRoles",
        "memberIDs": seeded.member_ids, "value": "no_access"}]});
    let (took, changed) = patch_members(&h, &listed).await;
    assert_eq!(changed, members);
    report(&h, "replaceMembersRoles", changed, took);
    let filtered = json!({"instructions": [{"kind": "replaceAllMembersRoles",
        "value": "reader", "filterLastSeen": {"never": true}}]});
    let (took, changed) = patch_members(&h, &filtered).await;
    assert!(changed > members / 2, "{changed}");
    report(&h, "replaceAllMembersRoles, never seen", changed, took);
    let verify = h.get_json("/api/v2/auditlog/verify").await;
    assert_eq!(verify["valid"], json!(true), "{verify}");
    h.hold_if_asked().await;
}

/// Sends one bulk member PATCH; its latency and how many members it changed.
async fn patch_members(h: &Harness, body: &Value) -> (Duration, usize) {
    let started = Instant::now();
    let resp = h
        .client
        .patch(format!("{}/api/v2/members", h.base))
        .header("Authorization", TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let answer: Value = resp.json().await.unwrap();
    let took = started.elapsed();
    assert_eq!(status, 200, "{answer}");
    (took, answer["totalCount"].as_u64().unwrap() as usize)
}

fn report(h: &Harness, what: &str, changed: usize, took: Duration) {
    println!(
        "{}: {what}: {changed} members changed in {:.0} ms (one request, one transaction, {changed} audit entries)",
        h.backend,
        took.as_secs_f64() * 1000.0
    );
}
