//! Directory harness: filtered member and team pages over a seeded directory of
//! `GATEHOUSE_BENCH_MEMBERS` people (default 100,000; 500 when run as a test) on 50 teams, on
//! SQLite or PostgreSQL (`GATEHOUSE_BENCH_DATABASE_URL`). Each query shape is asked
//! `GATEHOUSE_BENCH_REPEATS` times (default 200) one after another, and its p50/p99 latency
//! printed: the latency of one admin's page, not a throughput. With
//! `GATEHOUSE_BENCH_HOLD_SECONDS` set, the app then stays up that long and its address and
//! owner token are printed, for a load tool such as `wrk -s benches/wrk/member_page.lua`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod harness;

use std::time::{Duration, Instant};

use harness::{Harness, TOKEN, benching, env_or, percentile};

/// The member list requests an access review makes, as sent.
const MEMBER_QUERIES: &[(&str, &str)] = &[
    ("first page", "/api/v2/members"),
    ("query prefix", "/api/v2/members?filter=query:q"),
    ("role", "/api/v2/members?filter=role:admin|writer&limit=100"),
    ("team", "/api/v2/members?filter=team:team7&limit=100"),
    ("no team", "/api/v2/members?filter=noteam:true"),
    (
        "never seen, by name",
        "/api/v2/members?filter=lastSeen:{\"never\":true}&sort=displayName&limit=100",
    ),
    (
        "seen before, role",
        "/api/v2/members?filter=lastSeen:{\"before\":1700000000000},role:reader&sort=-lastSeen",
    ),
    (
        "deep page",
        "/api/v2/members?sort=createdAt&offset=50000&limit=50",
    ),
];

/// The team list requests, as sent: 50 teams of `members / 50` people each.
const TEAM_QUERIES: &[(&str, &str)] = &[
    ("first page", "/api/v2/teams"),
    ("query prefix", "/api/v2/teams?filter=query:team4"),
    ("by member count", "/api/v2/teams?sort=-memberCount&limit=5"),
    (
        "no members",
        "/api/v2/teams?filter=nomembers:true&sort=name",
    ),
    (
        "by name, last page",
        "/api/v2/teams?sort=name&offset=45&limit=5",
    ),
];

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
    assert_eq!(seeded.member_ids.len(), members);
    println!(
        "{}: seeded {members} members on {} teams in {:.1} s",
        h.backend,
        seeded.team_keys.len(),
        started.elapsed().as_secs_f64()
    );
    for (list, queries) in [("members", MEMBER_QUERIES), ("teams", TEAM_QUERIES)] {
        for (name, path) in queries {
            let latencies = page_latencies(&h, path, repeats).await;
            println!(
                "{}: {list}, {name}: p50 {:.2} ms, p99 {:.2} ms ({repeats} requests)",
                h.backend,
                ms(percentile(&latencies, 0.5)),
                ms(percentile(&latencies, 0.99)),
            );
        }
    }
    h.hold_if_asked().await;
}

/// Latencies of `repeats` sequential GETs of `path`, sorted; every answer must be a 200.
async fn page_latencies(h: &Harness, path: &str, repeats: u64) -> Vec<Duration> {
    let url = format!("{}{path}", h.base);
    let mut latencies = Vec::with_capacity(repeats as usize);
    for _ in 0..repeats {
        let started = Instant::now();
        let resp = h
            .client
            .get(&url)
            .header("Authorization", TOKEN)
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
