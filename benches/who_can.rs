//! Who-can harness: `POST /api/v2/access/who` over a seeded directory of
//! `GATEHOUSE_BENCH_MEMBERS` people (default 100,000; 300 when run as a test) on 50 teams,
//! ten of which hold custom roles (one with role attributes), and a project `shop` with
//! `GATEHOUSE_BENCH_FLAGS` flags (default 200). Asks who may turn on one production flag,
//! and every flag in production, `GATEHOUSE_BENCH_REPEATS` times each (default 10), and
//! prints p50 and the slowest: the latency of one admin's question, whole answer read.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod harness;

use std::time::{Duration, Instant};

use harness::{Harness, TOKEN, benching, env_or, percentile};
use serde_json::{Value, json};

#[tokio::main]
async fn main() {
    let benching = benching();
    let h = Harness::start().await;
    let (members, flags, repeats) = if benching {
        (
            env_or("GATEHOUSE_BENCH_MEMBERS", 100_000) as usize,
            env_or("GATEHOUSE_BENCH_FLAGS", 200) as usize,
            env_or("GATEHOUSE_BENCH_REPEATS", 10),
        )
    } else {
        (300, 5, 2)
    };
    let started = Instant::now();
    let seeded = h.seed_directory(members, 50).await;
    seed_roles_and_flags(&h, &seeded.team_keys, flags).await;
    println!(
        "{}: seeded {members} members on {} teams and {flags} flags in {:.1} s",
        h.backend,
        seeded.team_keys.len(),
        started.elapsed().as_secs_f64()
    );
    for (name, resource) in [
        ("one flag", "proj/shop:env/production:flag/flag0"),
        (
            "every flag in production",
            "proj/shop:env/production:flag/*",
        ),
    ] {
        let (latencies, answer) = ask(&h, "updateOn", resource, repeats).await;
        println!(
            "{}: who can updateOn, {name} ({} resources): p50 {:.0} ms, max {:.0} ms ({repeats} requests); {} members and {} tokens allowed, {} grants, {:.1} MB",
            h.backend,
            answer.0["resources"].as_array().unwrap().len(),
            ms(percentile(&latencies, 0.5)),
            ms(*latencies.last().unwrap()),
            answer.0["totalMembers"],
            answer.0["totalTokens"],
            answer.0["grants"].as_array().unwrap().len(),
            answer.1 as f64 / 1e6,
        );
        assert!(answer.0["totalMembers"].as_u64().unwrap() > 0);
    }
}

/// Custom roles on ten of the teams, a project with a critical production environment, and
/// `flags` flags, a third of them tagged `beta`.
async fn seed_roles_and_flags(h: &Harness, team_keys: &[String], flags: usize) {
    let roles = [
        (
            "toggler",
            json!([{"effect": "allow", "actions": ["updateOn", "updateFallthrough"], "resources": ["proj/*:env/*:flag/*"]},
                   {"effect": "deny", "actions": ["*"], "resources": ["proj/*:env/*;{critical:true}:flag/*"]}]),
        ),
        (
            "beta-releaser",
            json!([{"effect": "allow", "actions": ["update*"], "resources": ["proj/*:env/*:flag/*;beta"]}]),
        ),
        (
            "project-owner",
            json!([{"effect": "allow", "actions": ["*"], "resources": ["proj/${roleAttribute/projects}:env/*:flag/*"]}]),
        ),
    ];
    for (key, policy) in &roles {
        let (s, body) = h
            .post(
                "/api/v2/roles",
                json!({"key": key, "name": key, "policy": policy}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
    for (i, team) in team_keys.iter().take(10).enumerate() {
        let role = roles[i % roles.len()].0;
        let mut instructions = vec![json!({"kind": "addCustomRoles", "values": [role]})];
        if role == "project-owner" {
            instructions.push(json!({"kind": "replaceRoleAttributes",
                                     "value": {"projects": ["shop"]}}));
        }
        let resp = h
            .client
            .patch(format!("{}/api/v2/teams/{team}", h.base))
            .header("Authorization", TOKEN)
            .json(&json!({"instructions": instructions}))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        assert!(status.is_success(), "{}", resp.text().await.unwrap());
    }
    let (s, body) = h
        .post("/api/v2/projects", json!({"key": "shop", "name": "Shop"}))
        .await;
    assert_eq!(s, 201, "{body}");
    let (s, body) = h
        .post(
            "/api/v2/projects/shop/environments",
            json!({"key": "production", "name": "Production", "critical": true}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    for i in 0..flags {
        let tags: Vec<&str> = if i % 3 == 0 { vec!["beta"] } else { vec![] };
        let (s, body) = h
            .post(
                "/api/v2/flags/shop",
                json!({"key": format!("flag{i}"), "name": format!("Flag {i}"), "tags": tags}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
}

/// Latencies of `repeats` sequential questions, sorted, and the last answer with its size.
async fn ask(
    h: &Harness,
    action: &str,
    resource: &str,
    repeats: u64,
) -> (Vec<Duration>, (Value, usize)) {
    let mut latencies = Vec::new();
    let mut last = (Value::Null, 0);
    for _ in 0..repeats {
        let started = Instant::now();
        let resp = h
            .client
            .post(format!("{}/api/v2/access/who", h.base))
            .header("Authorization", TOKEN)
            .json(&json!({"action": action, "resource": resource}))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.bytes().await.unwrap();
        latencies.push(started.elapsed());
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        last = (serde_json::from_slice(&body).unwrap(), body.len());
    }
    latencies.sort();
    (latencies, last)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
