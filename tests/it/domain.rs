//! The flag domain over REST: projects, environments, flags, semantic patch, evaluation,
//! comparison and environment variables.

use reqwest::Method;
use serde_json::json;

use crate::support::{BOOTSTRAP, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_builds_a_project_and_toggles_a_flag() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;

    let (s, p) = app.get("/api/v2/projects/p").await;
    assert_eq!(s, 200);
    assert_eq!(p["name"], "Project P");
    assert_eq!(p["tags"], json!(["web"]));

    let (s, envs) = app.get("/api/v2/projects/p/environments").await;
    assert_eq!(s, 200);
    assert_eq!(envs["totalCount"], 2);
    let prod = envs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "production")
        .unwrap()
        .clone();
    assert_eq!(prod["critical"], true);

    let (s, flag) = app.get("/api/v2/flags/p/f").await;
    assert_eq!(s, 200);
    assert_eq!(flag["kind"], "boolean");
    assert_eq!(
        flag["variations"],
        json!([{"value": true}, {"value": false}])
    );
    assert_eq!(flag["environments"]["production"]["on"], false);

    let (s, flag) = app
        .patch(
            "/api/v2/flags/p/f",
            json!({"environmentKey": "production", "instructions": [{"kind": "turnFlagOn"}], "comment": "launch"}),
        )
        .await;
    assert_eq!(s, 200, "{flag}");
    assert_eq!(flag["environments"]["production"]["on"], true);
    assert_eq!(flag["environments"]["test"]["on"], false);
    assert_eq!(flag["environments"]["production"]["version"], 2);

    let entries = app.audit("action=updateOn").await;
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(
        e["accesses"],
        json!([{"action": "updateOn", "resource": "proj/p;web:env/production;{critical:true}:flag/f"}])
    );
    assert_eq!(e["environment"], "production");
    assert_eq!(e["comment"], "launch");
    assert_eq!(
        e["previousVersion"]["environments"]["production"]["on"],
        false
    );
    assert_eq!(
        e["currentVersion"]["environments"]["production"]["on"],
        true
    );
    assert_eq!(e["actor"]["kind"], "token");
    assert_eq!(e["delta"], json!([{"kind": "turnFlagOn"}]));
}

#[tokio::test(flavor = "multi_thread")]
async fn project_crud_and_its_errors() {
    let app = TestApp::spawn().await;
    let (s, _) = app
        .post("/api/v2/projects", json!({"key": "a", "name": "A"}))
        .await;
    assert_eq!(s, 201);
    let (s, body) = app
        .post("/api/v2/projects", json!({"key": "a", "name": "A again"}))
        .await;
    assert_eq!(s, 409);
    assert_eq!(body["code"], "conflict");
    let (s, body) = app
        .post("/api/v2/projects", json!({"key": "bad key!", "name": "B"}))
        .await;
    assert_eq!(s, 400);
    assert!(body["message"].as_str().unwrap().contains("key"), "{body}");
    let (s, body) = app
        .post(
            "/api/v2/projects",
            json!({"key": "c", "name": "C", "colour": "red"}),
        )
        .await;
    assert_eq!(s, 400, "unknown fields are refused: {body}");
    assert_eq!(body["code"], "invalid_request");
    let (s, _) = app
        .post("/api/v2/projects", json!({"key": "d", "name": ["D"]}))
        .await;
    assert_eq!(s, 400, "wrong types are refused");
    let (s, _) = app
        .post(
            "/api/v2/projects",
            json!({"key": "d", "name": "D", "tags": "web"}),
        )
        .await;
    assert_eq!(s, 400, "wrong types are refused");

    let (s, p) = app
        .patch(
            "/api/v2/projects/a",
            json!({"name": "A2", "tags": ["x", "a", "x"], "version": 1}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["tags"], json!(["a", "x"]));
    assert_eq!(p["version"], 2);
    let (s, body) = app
        .patch("/api/v2/projects/a", json!({"name": "stale", "version": 1}))
        .await;
    assert_eq!(s, 409, "stale version: {body}");
    let (_, p) = app.get("/api/v2/projects/a").await;
    assert_eq!(p["name"], "A2", "a refused change writes nothing");

    let (s, _) = app.get("/api/v2/projects/nope").await;
    assert_eq!(s, 404);
    let (s, list) = app.get("/api/v2/projects").await;
    assert_eq!(s, 200);
    assert_eq!(list["totalCount"], 1);
    let (s, _) = app.delete("/api/v2/projects/a").await;
    assert_eq!(s, 204);
    let (s, _) = app.get("/api/v2/projects/a").await;
    assert_eq!(s, 404);
    // create + update + delete: exactly three project entries, and no entry for the refusals.
    assert_eq!(app.audit("spec=proj/*").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn environments_are_created_changed_and_deleted() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    let (s, env) = app
        .patch(
            "/api/v2/projects/p/environments/test",
            json!({"tags": ["qa"], "critical": true}),
        )
        .await;
    assert_eq!(s, 200, "{env}");
    assert_eq!(env["critical"], true);
    let (s, _) = app
        .post(
            "/api/v2/projects/p/environments",
            json!({"key": "test", "name": "dup"}),
        )
        .await;
    assert_eq!(s, 409);
    // A new environment gives existing flags a state there.
    let (s, _) = app
        .post(
            "/api/v2/projects/p/environments",
            json!({"key": "staging", "name": "Staging"}),
        )
        .await;
    assert_eq!(s, 201);
    let (_, flag) = app.get("/api/v2/flags/p/f").await;
    assert_eq!(flag["environments"]["staging"]["on"], false);
    let (s, _) = app.delete("/api/v2/projects/p/environments/staging").await;
    assert_eq!(s, 204);
    let (_, flag) = app.get("/api/v2/flags/p/f").await;
    assert!(flag["environments"].get("staging").is_none());
    let (s, _) = app.get("/api/v2/projects/p/environments/staging").await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_semantic_patch_instruction_works_and_errors_change_nothing() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    let (s, body) = app
        .post(
            "/api/v2/flags/p",
            json!({"key": "colour", "name": "Colour", "kind": "multivariate",
                   "variations": [{"value": "red"}, {"value": "green"}, {"value": "blue", "name": "Blue"}],
                   "tags": ["ui"], "temporary": true}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let patch = |instructions: serde_json::Value| json!({"environmentKey": "production", "instructions": instructions});
    let (s, f) = app
        .patch(
            "/api/v2/flags/p/colour",
            patch(json!([
                {"kind": "turnFlagOn"},
                {"kind": "updateOffVariation", "variation": 0},
                {"kind": "updateFallthroughVariationOrRollout", "rolloutWeights": {"0": 50000, "1": 30000, "2": 20000}},
                {"kind": "addTargets", "variation": 2, "values": ["alice", "bob"]},
                {"kind": "addRule", "clauses": [{"attribute": "country", "op": "in", "values": ["fr"], "negate": false}], "variation": 1},
                {"kind": "addTags", "values": ["beta"]},
                {"kind": "updateName", "value": "Colour scheme"},
                {"kind": "updateDescription", "value": "which palette"}
            ])),
        )
        .await;
    assert_eq!(s, 200, "{f}");
    let prod = &f["environments"]["production"];
    assert_eq!(prod["on"], true);
    assert_eq!(prod["offVariation"], 0);
    assert_eq!(
        prod["fallthrough"]["rollout"]["variations"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(prod["targets"][0]["values"], json!(["alice", "bob"]));
    assert_eq!(prod["rules"].as_array().unwrap().len(), 1);
    assert_eq!(f["tags"], json!(["beta", "ui"]));
    assert_eq!(f["name"], "Colour scheme");
    assert_eq!(f["description"], "which palette");

    // Evaluation: target, rule, rollout, off.
    let eval = |key: &'static str, attrs: serde_json::Value| {
        let app = &app;
        async move {
            let (s, r) = app
                .post(
                    "/api/v2/flags/p/colour/evaluate?env=production",
                    json!({"key": key, "attributes": attrs}),
                )
                .await;
            assert_eq!(s, 200, "{r}");
            r
        }
    };
    let r = eval("alice", json!({})).await;
    assert_eq!(r["value"], "blue");
    assert_eq!(r["reason"]["kind"], "TARGET_MATCH");
    let r = eval("zoe", json!({"country": "fr"})).await;
    assert_eq!(r["value"], "green");
    assert_eq!(r["reason"]["kind"], "RULE_MATCH");
    let r1 = eval("zoe", json!({"country": "de"})).await;
    assert_eq!(r1["reason"]["kind"], "FALLTHROUGH");
    assert!(r1["reason"]["bucket"].is_number(), "{r1}");
    let r2 = eval("zoe", json!({"country": "de"})).await;
    assert_eq!(r1, r2, "bucketing is deterministic");
    let (_, t) = app
        .post(
            "/api/v2/flags/p/colour/evaluate?env=test",
            json!({"key": "alice"}),
        )
        .await;
    assert_eq!(t["reason"]["kind"], "OFF");

    // Remove what was added.
    let rule_id = prod["rules"][0]["id"].as_str().unwrap().to_owned();
    let (s, f) = app
        .patch(
            "/api/v2/flags/p/colour",
            patch(json!([
                {"kind": "removeTargets", "variation": 2, "values": ["alice"]},
                {"kind": "removeRule", "ruleId": rule_id},
                {"kind": "removeTags", "values": ["beta"]},
                {"kind": "turnFlagOff"},
                {"kind": "updateFallthroughVariationOrRollout", "variation": 1}
            ])),
        )
        .await;
    assert_eq!(s, 200, "{f}");
    let prod = &f["environments"]["production"];
    assert_eq!(prod["targets"][0]["values"], json!(["bob"]));
    assert_eq!(prod["rules"], json!([]));
    assert_eq!(prod["on"], false);
    assert_eq!(prod["fallthrough"], json!({"variation": 1}));

    // Errors: weights not summing to 100%, an out-of-range variation, an unknown kind, and an
    // env-scoped instruction without environmentKey. Each is a 400 and nothing changes.
    let before = app.get("/api/v2/flags/p/colour").await.1;
    let audit_before = app.audit_count().await;
    for bad in [
        patch(
            json!([{"kind": "turnFlagOn"}, {"kind": "updateFallthroughVariationOrRollout", "rolloutWeights": {"0": 50000, "1": 40000}}]),
        ),
        patch(json!([{"kind": "turnFlagOn"}, {"kind": "updateOffVariation", "variation": 7}])),
        patch(json!([{"kind": "flipTheTable"}])),
        json!({"instructions": [{"kind": "turnFlagOn"}]}),
        patch(json!([{"kind": "removeRule", "ruleId": "no-such-rule"}])),
        patch(json!([])),
    ] {
        let (s, body) = app.patch("/api/v2/flags/p/colour", bad.clone()).await;
        assert_eq!(s, 400, "{bad} -> {body}");
        assert_eq!(body["code"], "invalid_request");
    }
    assert_eq!(app.get("/api/v2/flags/p/colour").await.1, before);
    assert_eq!(
        app.audit_count().await,
        audit_before,
        "refused patches leave no audit entry"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn environments_can_be_compared() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    app.patch(
        "/api/v2/flags/p/f",
        json!({"environmentKey": "test", "instructions": [{"kind": "turnFlagOn"}, {"kind": "addTargets", "variation": 0, "values": ["qa-bot"]}]}),
    )
    .await;
    let (s, diff) = app
        .get("/api/v2/flags/p/f/compare?from=test&to=production")
        .await;
    assert_eq!(s, 200, "{diff}");
    let fields: Vec<&str> = diff["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"on"), "{diff}");
    assert!(fields.contains(&"targets"), "{diff}");
    let on = diff["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["field"] == "on")
        .unwrap();
    assert_eq!(on["from"], true);
    assert_eq!(on["to"], false);
    let (s, same) = app
        .get("/api/v2/flags/p/f/compare?from=production&to=production")
        .await;
    assert_eq!(s, 200);
    assert_eq!(same["differences"], json!([]));
    let (s, _) = app.get("/api/v2/flags/p/f/compare?from=test&to=nope").await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn flags_can_be_archived_and_deleted() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    let (s, f) = app
        .patch(
            "/api/v2/flags/p/f",
            json!({"instructions": [{"kind": "archiveFlag"}, {"kind": "makeFlagPermanent"}, {"kind": "updateMaintainerMember", "value": "m-1"}]}),
        )
        .await;
    assert_eq!(s, 200, "{f}");
    assert_eq!(f["archived"], true);
    assert_eq!(f["temporary"], false);
    assert_eq!(f["maintainerId"], "m-1");
    // Project-wide actions touch the flag in every environment.
    let entry = &app.audit("action=updateGlobalArchived").await[0];
    assert_eq!(
        entry["accesses"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["action"] == "updateGlobalArchived")
            .count(),
        2
    );
    let (s, _) = app
        .post("/api/v2/flags/p", json!({"key": "f", "name": "dup"}))
        .await;
    assert_eq!(s, 409);
    let (s, _) = app.delete("/api/v2/flags/p/f").await;
    assert_eq!(s, 204);
    let (s, _) = app.get("/api/v2/flags/p/f").await;
    assert_eq!(s, 404);
    let (s, list) = app.get("/api/v2/flags/p").await;
    assert_eq!(s, 200);
    assert_eq!(list["totalCount"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_variables_never_show_their_value() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    let secret = "s3cr3t-value-that-must-not-leak";
    let (s, v) = app
        .put(
            "/api/v2/projects/p/environments/production/variables/DB_PASSWORD",
            json!({"value": secret, "secret": true}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert!(v.get("value").is_none());
    let (s, v) = app
        .put(
            "/api/v2/projects/p/environments/production/variables/DB_PASSWORD",
            json!({"value": format!("{secret}-2"), "secret": true}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["version"], 2);
    let (s, v) = app
        .put(
            "/api/v2/projects/p/environments/production/variables/REGION",
            json!({"value": "eu-west-1"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(v["value"], "eu-west-1");
    let (_, list) = app
        .get("/api/v2/projects/p/environments/production/variables")
        .await;
    assert_eq!(list["totalCount"], 2);
    assert!(!list.to_string().contains(secret));

    let (s, export) = app
        .call(
            Method::GET,
            "/api/v2/auditlog/export",
            Some(BOOTSTRAP),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let export = export.as_str().unwrap().to_owned();
    assert!(export.contains("DB_PASSWORD"));
    assert!(
        !export.contains(secret),
        "a secret value reached the audit log"
    );

    let (s, _) = app
        .delete("/api/v2/projects/p/environments/production/variables/DB_PASSWORD")
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .delete("/api/v2/projects/p/environments/production/variables/DB_PASSWORD")
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .put(
            "/api/v2/projects/p/environments/production/variables/bad%20name",
            json!({"value": "x"}),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_changes_to_one_flag_never_lose_an_update() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    app.seed_flag_domain().await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let (s, body) = app
                .patch(
                    "/api/v2/flags/p/f",
                    json!({"environmentKey": "test", "instructions": [
                        {"kind": "addTargets", "variation": 0, "values": [format!("user-{i}")]}]}),
                )
                .await;
            assert_eq!(s, 200, "{body}");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (_, flag) = app.get("/api/v2/flags/p/f").await;
    let mut targets: Vec<String> = flag["environments"]["test"]["targets"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    targets.sort();
    let mut want: Vec<String> = (0..12).map(|i| format!("user-{i}")).collect();
    want.sort();
    assert_eq!(targets, want, "every concurrent change survives");
    assert_eq!(flag["environments"]["test"]["version"], 13);
    assert_eq!(app.audit("action=updateTargets").await.len(), 12);
}
