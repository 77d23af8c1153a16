//! A member with 10 custom roles x 20 statements; checks over a mix of resources and actions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse::domain::policy::{
    ActionId, BasePermissions, CompiledRole, NO_TAGS, Resource, decide, lookup, validate_document,
};
use serde_json::json;

fn role(i: usize) -> CompiledRole {
    let mut sts = Vec::new();
    for j in 0..20 {
        let effect = if j % 5 == 4 { "deny" } else { "allow" };
        let st = match j % 10 {
            0 => {
                json!({"effect": effect, "actions": ["update*"], "resources": [format!("proj/p{i}*:env/*:flag/*")]})
            }
            1 => {
                json!({"effect": effect, "actions": ["updateOn", "updateRules"], "resources": [format!("proj/*:env/env{j}:flag/f{i}-*;beta")]})
            }
            2 => {
                json!({"effect": effect, "actions": ["*"], "resources": ["proj/*:env/*;{critical:true}:flag/*;locked"]})
            }
            3 => {
                json!({"effect": effect, "notActions": ["deleteFlag"], "resources": [format!("proj/${{roleAttribute/projects}}:env/*:segment/*")]})
            }
            4 => {
                json!({"effect": effect, "actions": ["viewProject"], "resources": [format!("proj/secret-{i}-{j}")]})
            }
            5 => {
                json!({"effect": effect, "actions": ["updateTeam*"], "resources": [format!("team/team{i}_*")]})
            }
            6 => {
                json!({"effect": effect, "actions": ["*AccessToken"], "resources": ["member/*:token/*"]})
            }
            7 => {
                json!({"effect": effect, "actions": ["updateVariable"], "notResources": [format!("proj/*:env/production:var/V{i}?")]})
            }
            8 => {
                json!({"effect": effect, "actions": ["createFlag", "updateName"], "resources": [format!("proj/*;mobile,t{i}:env/*:flag/*")]})
            }
            _ => {
                json!({"effect": effect, "actions": ["reviewApprovalRequest"], "resources": [format!("proj/p{j}:env/*:request/*")]})
            }
        };
        sts.push(st);
    }
    let statements = validate_document(&json!(sts), &["projects".to_owned()]).unwrap();
    let mut attrs = BTreeMap::new();
    attrs.insert(
        "projects".to_owned(),
        vec![format!("p{i}"), format!("shared-{i}")],
    );
    let base = if i.is_multiple_of(2) {
        BasePermissions::Reader
    } else {
        BasePermissions::NoAccess
    };
    CompiledRole::compile(&format!("role-{i}"), &statements, base, &attrs).unwrap()
}

fn bench(c: &mut Criterion) {
    let roles: Vec<CompiledRole> = (0..10).map(role).collect();
    let refs: Vec<&CompiledRole> = roles.iter().collect();
    let resources = [
        Resource::project("p3", &["mobile"])
            .env("production", NO_TAGS, true)
            .flag("f3-x", &["beta"]),
        Resource::project("zzz", NO_TAGS)
            .env("staging", NO_TAGS, false)
            .flag("other", NO_TAGS),
        Resource::project("p7", NO_TAGS)
            .env("env1", NO_TAGS, false)
            .segment("s", NO_TAGS),
        Resource::project("secret-4-4", NO_TAGS),
        Resource::team("team9_core"),
        Resource::member("4b1f7c2e-0000-4000-8000-000000000001").token("t"),
        Resource::project("q", NO_TAGS)
            .env("production", NO_TAGS, true)
            .var("V11"),
        Resource::project("p4", NO_TAGS)
            .env("e", NO_TAGS, false)
            .request("r-1"),
    ];
    let actions: Vec<ActionId> = [
        "updateOn",
        "updateRules",
        "deleteFlag",
        "viewProject",
        "updateTeamMembers",
        "createAccessToken",
        "updateVariable",
        "reviewApprovalRequest",
        "createFlag",
    ]
    .iter()
    .map(|a| lookup(a).unwrap())
    .collect();
    let checks: Vec<(ActionId, &Resource)> = resources
        .iter()
        .flat_map(|r| actions.iter().map(move |a| (*a, r)))
        .collect();
    let allowed = checks
        .iter()
        .filter(|(a, r)| decide(&refs, *a, r).allowed)
        .count();
    eprintln!("{} checks in the mix, {allowed} allowed", checks.len());

    c.bench_function("decide/10x20/mixed (ns per check)", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % checks.len();
            let (a, r) = checks[i];
            black_box(decide(black_box(&refs), a, black_box(r)))
        })
    });
    let worst = Resource::project("nomatch", NO_TAGS)
        .env("x", NO_TAGS, false)
        .flag("y", NO_TAGS);
    let on = lookup("updateOn").unwrap();
    c.bench_function("decide/10x20/denied, every role scanned", |b| {
        b.iter(|| black_box(decide(black_box(&refs), on, black_box(&worst))))
    });
    c.bench_function("decide/10x20/by name (lookup included)", |b| {
        b.iter(|| {
            black_box(decide(
                black_box(&refs),
                black_box("updateOn"),
                black_box(&worst),
            ))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
