//! SCIM load harness over HTTP on loopback, on SQLite or PostgreSQL:
//! 1. create 10,000 users with concurrent `POST /Users` (target: at least 1,500/s on SQLite);
//! 2. grow to 100,000 users, then time `GET /Users?filter=userName eq "..."` lookups from
//!    one client (target: p99 under 5 ms);
//! 3. one `PATCH /Groups/{id}` adding 10,000 members (target: under 1 s).
//!
//! `cargo bench --bench scim_load` (SQLite in a temp dir), or with
//! `GATEHOUSE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<fresh db>`.
//! `GATEHOUSE_BENCH_USERS` (default 100000) and `GATEHOUSE_BENCH_CLIENTS` (default 16) tune it;
//! under `cargo test` it runs as a small smoke test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use harness::{Harness, benching, env_or, percentile};
use serde_json::{Value, json};

fn user_name(i: u64) -> String {
    format!("user-{i}@bench.example")
}

/// Creates users `from..to` with `clients` concurrent clients; returns their ids and the time.
async fn create_users(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    from: u64,
    to: u64,
    clients: u64,
) -> (Vec<String>, Duration) {
    let next = Arc::new(AtomicU64::new(from));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, base, auth, next) = (
            client.clone(),
            base.to_owned(),
            auth.to_owned(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= to {
                    return ids;
                }
                let body = json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name(i), "active": true, "externalId": format!("ext-{i}"),
                    "name": {"givenName": "User", "familyName": format!("N{i}")},
                    "emails": [{"value": user_name(i), "type": "work", "primary": true}],
                });
                let resp = client
                    .post(format!("{base}/scim/v2/Users"))
                    .header("Authorization", &auth)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    resp.status(),
                    201,
                    "{}",
                    resp.text().await.unwrap_or_default()
                );
                let v: Value = resp.json().await.unwrap();
                ids.push(v["id"].as_str().unwrap().to_owned());
            }
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    (ids, started.elapsed())
}

#[tokio::main]
async fn main() {
    let benching = benching();
    let harness = Harness::start().await;
    let (backend, base, client) = (harness.backend, &harness.base, &harness.client);
    let (status, _) = harness
        .post(
            "/api/v2/connections",
            json!({"key": "bench", "kind": "generic"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, token) = harness
        .post("/api/v2/connections/bench/scim-tokens", json!({}))
        .await;
    assert_eq!(status, 201);
    let auth = format!("Bearer {}", token["token"].as_str().unwrap());

    let (first, total, lookups, group_size) = if benching {
        (
            10_000,
            env_or("GATEHOUSE_BENCH_USERS", 100_000),
            2_000,
            10_000,
        )
    } else {
        (200, 400, 100, 200)
    };
    let clients = if benching {
        env_or("GATEHOUSE_BENCH_CLIENTS", 16)
    } else {
        4
    };

    // 1. Creates.
    let (ids, took) = create_users(client, base, &auth, 0, first, clients).await;
    println!(
        "{backend}: created {} users with {clients} clients in {:.2}s = {:.0} users/s (target >= 5000/s on SQLite)",
        ids.len(),
        took.as_secs_f64(),
        ids.len() as f64 / took.as_secs_f64()
    );
    let mut ids = ids;
    if total > first {
        let (more, took) = create_users(client, base, &auth, first, total, clients).await;
        println!(
            "{backend}: grew to {total} users ({:.0} users/s)",
            more.len() as f64 / took.as_secs_f64()
        );
        ids.extend(more);
    }

    // 2. Lookups by userName, one client, as Entra and Okta do before every create.
    let mut latencies = Vec::with_capacity(lookups as usize);
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..lookups {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let i = seed % total;
        let filter = format!("userName eq \"{}\"", user_name(i).to_uppercase());
        let t = Instant::now();
        let resp = client
            .get(format!("{base}/scim/v2/Users"))
            .query(&[
                ("filter", filter.as_str()),
                ("startIndex", "1"),
                ("count", "100"),
            ])
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        latencies.push(t.elapsed());
        assert_eq!(v["totalResults"], 1, "{filter}");
    }
    latencies.sort();
    println!(
        "{backend}: {lookups} userName eq lookups among {total} users: p50 {:?} p99 {:?} max {:?} (target p99 < 5 ms)",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );

    // 3. One PATCH adding many members to a group.
    let resp = client
        .post(format!("{base}/scim/v2/Groups"))
        .header("Authorization", &auth)
        .json(&json!({"displayName": "Everyone", "members": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let gid = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let members: Vec<Value> = ids
        .iter()
        .take(group_size as usize)
        .map(|id| json!({"value": id}))
        .collect();
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                      "Operations": [{"op": "Add", "path": "members", "value": members}]});
    let t = Instant::now();
    let resp = client
        .patch(format!("{base}/scim/v2/Groups/{gid}"))
        .header("Authorization", &auth)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        204,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let took = t.elapsed();
    let v: Value = client
        .get(format!("{base}/scim/v2/Groups/{gid}?attributes=members"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["members"].as_array().unwrap().len(), group_size as usize);
    println!(
        "{backend}: one PATCH adding {group_size} members took {:.3}s (target < 1 s)",
        took.as_secs_f64()
    );
}
