//! Console harness: the console's pages over a seeded directory of `GATEHOUSE_BENCH_MEMBERS`
//! people (default 100,000; 500 when run as a test) on 50 teams, with a project, pending
//! approval requests and the audit log the seeding wrote, on SQLite or PostgreSQL
//! (`GATEHOUSE_BENCH_DATABASE_URL`). Each page is asked `GATEHOUSE_BENCH_REPEATS` times
//! (default 200) one after another by a signed-in admin, and its p50/p99 latency printed:
//! what one person waits for a page. With `GATEHOUSE_BENCH_HOLD_SECONDS` set, the app then
//! stays up and the admin's session cookie is printed, for `wrk -s benches/wrk/console_page.lua`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod harness;

use std::time::{Duration, Instant};

use harness::{Harness, benching, env_or, percentile};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Pending approval requests in the inbox.
const PENDING_REQUESTS: usize = 20;

#[tokio::main]
async fn main() {
    let benching = benching();
    let h = Harness::start().await;
    let members = if benching {
        env_or("GATEHOUSE_BENCH_MEMBERS", 100_000)
    } else {
        500
    } as usize;
    let repeats = if benching {
        env_or("GATEHOUSE_BENCH_REPEATS", 200)
    } else {
        3
    };
    let started = Instant::now();
    let seeded = h.seed_directory(members, 50).await;
    seed_requests(&h).await;
    println!(
        "{}: seeded {members} members on {} teams and {PENDING_REQUESTS} pending requests in {:.1} s",
        h.backend,
        seeded.team_keys.len(),
        started.elapsed().as_secs_f64()
    );
    // Person 0 is an admin (see `seed_directory`).
    let admin = &seeded.member_ids[0];
    let cookie = session_for(&h, admin).await;
    let audit_entry = h.get_json("/api/v2/auditlog?limit=1").await["items"][0]["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let request = h.get_json("/api/v2/approval-requests?limit=1").await["items"][0]["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let middle = &seeded.member_ids[members / 2];
    let pages = [
        ("You", "/".to_owned()),
        ("approvals inbox", "/console/approvals".to_owned()),
        ("approval request", format!("/console/approvals/{request}")),
        ("audit log", "/console/audit".to_owned()),
        (
            "audit log, by flag",
            "/console/audit?spec=proj%2Fshop%3Aenv%2Fproduction%3Aflag%2Fcheckout".to_owned(),
        ),
        ("audit entry", format!("/console/audit/{audit_entry}")),
        ("directory", "/console/directory".to_owned()),
        (
            "directory, a member",
            format!("/console/directory/members/{middle}"),
        ),
        ("directory, teams", "/console/directory/teams".to_owned()),
        (
            "directory, connections",
            "/console/directory/connections".to_owned(),
        ),
    ];
    for (name, path) in &pages {
        let latencies = page_latencies(&h, path, &cookie, repeats).await;
        println!(
            "{}: {name}: p50 {:.2} ms, p99 {:.2} ms ({repeats} requests)",
            h.backend,
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
        );
    }
    if env_or("GATEHOUSE_BENCH_HOLD_SECONDS", 0) > 0 {
        println!("admin session cookie: gatehouse_session={cookie}");
    }
    h.hold_if_asked().await;
}

/// A project with production and a flag, and `PENDING_REQUESTS` requests to turn it on.
async fn seed_requests(h: &Harness) {
    for (path, body) in [
        ("/api/v2/projects", json!({"key": "shop", "name": "Shop"})),
        (
            "/api/v2/projects/shop/environments",
            json!({"key": "production", "name": "Production", "critical": true}),
        ),
        (
            "/api/v2/flags/shop",
            json!({"key": "checkout", "name": "Checkout"}),
        ),
    ] {
        let (status, answer) = h.post(path, body).await;
        assert_eq!(status, 201, "{path}: {answer}");
    }
    for i in 0..PENDING_REQUESTS {
        let (status, answer) = h
            .post(
                "/api/v2/approval-requests",
                json!({
                    "resourceId": "proj/shop:env/production:flag/checkout",
                    "description": format!("launch checkout, take {i}"),
                    "instructions": [{"kind": "turnFlagOn"}],
                }),
            )
            .await;
        assert_eq!(status, 201, "{answer}");
    }
}

/// A browser session of `member_id`, written as a sign-in writes it (the harness has no IdP).
async fn session_for(h: &Harness, member_id: &str) -> String {
    let secret = format!("bench-session-{}", uuid::Uuid::new_v4().simple());
    let now = h.service.now_ms();
    entity::session::ActiveModel {
        id: Set(hex::encode(Sha256::digest(secret.as_bytes()))),
        member_id: Set(member_id.to_owned()),
        connection_key: Set(None),
        protocol: Set("saml".to_owned()),
        csrf_token: Set("bench-csrf".to_owned()),
        source_ip: Set(Some("127.0.0.1".to_owned())),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(now + 3_600_000),
        revoked_at: Set(None),
        public_id: Set(uuid::Uuid::new_v4().to_string()),
        user_agent: Set(Some("bench".to_owned())),
        idp_subject: Set(None),
        idp_session: Set(None),
        id_token_hint: Set(None),
    }
    .insert(h.service.db())
    .await
    .unwrap();
    secret
}

/// Latencies of `repeats` sequential GETs of `path` with the session, sorted; every answer
/// must be a 200 page.
async fn page_latencies(h: &Harness, path: &str, cookie: &str, repeats: u64) -> Vec<Duration> {
    let url = format!("{}{path}", h.base);
    let mut latencies = Vec::with_capacity(repeats as usize);
    for _ in 0..repeats {
        let started = Instant::now();
        let resp = h
            .client
            .get(&url)
            .header("Cookie", format!("gatehouse_session={cookie}"))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.bytes().await.unwrap();
        latencies.push(started.elapsed());
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    }
    latencies.sort();
    latencies
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
