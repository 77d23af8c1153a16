//! "Who can do this?": an admin asks who may turn a production flag on, and the answer names
//! every member and token allowed, with the statement that decided, exactly as
//! `/access/check` decides for each of them.

use gatehouse::domain::policy::BaseRole;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestApp;

async fn who(app: &TestApp, action: &str, resource: &str) -> Value {
    let (s, body) = app
        .post(
            "/api/v2/access/who",
            json!({"action": action, "resource": resource}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{action} on {resource}: {body}");
    body
}

/// The allowances of member (or token) `id` in a who answer, by resource.
fn allowed_for(answer: &Value, list: &str, id: &str) -> Vec<Value> {
    let Some(entry) = answer[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
    else {
        return Vec::new();
    };
    let grant = entry["grant"].as_u64().unwrap() as usize;
    answer["grants"][grant]["allowed"]
        .as_array()
        .unwrap()
        .clone()
}

async fn role(app: &TestApp, key: &str, policy: Value) {
    let (s, body) = app
        .post(
            "/api/v2/roles",
            json!({"key": key, "name": key, "policy": policy}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
}

async fn member(app: &TestApp, body: Value) -> String {
    let (s, m) = app.post("/api/v2/members", body).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    m["id"].as_str().unwrap().to_owned()
}

/// Project `p` (`test`, critical `production`), flag `f` and flag `g` tagged `beta`.
async fn flags(app: &TestApp) {
    app.seed_flag_domain().await;
    let (s, body) = app
        .post(
            "/api/v2/flags/p",
            json!({"key": "g", "name": "G", "tags": ["beta"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn deny_overrides_allow_and_critical_environments_are_told_apart() {
    let app = TestApp::spawn().await;
    flags(&app).await;
    role(
        &app,
        "toggler",
        json!([
            {"effect": "allow", "actions": ["updateOn"], "resources": ["proj/*:env/*:flag/*"]},
            {"effect": "deny", "actions": ["updateOn"], "resources": ["proj/*:env/*;{critical:true}:flag/*"]}
        ]),
    )
    .await;
    let toggler = member(
        &app,
        json!({"email": "t@example.com", "customRoles": ["toggler"]}),
    )
    .await;
    let writer = member(&app, json!({"email": "w@example.com", "role": "writer"})).await;
    let reader = member(&app, json!({"email": "r@example.com", "role": "reader"})).await;

    let prod = who(&app, "updateOn", "proj/p:env/production:flag/f").await;
    assert_eq!(
        prod["resources"],
        json!(["proj/p;web:env/production;{critical:true}:flag/f"])
    );
    assert!(
        allowed_for(&prod, "members", &toggler).is_empty(),
        "the deny beats the allow"
    );
    assert!(allowed_for(&prod, "members", &reader).is_empty());
    let w = allowed_for(&prod, "members", &writer);
    assert_eq!(w.len(), 1, "{prod}");
    assert_eq!(w[0]["decidedBy"]["role"], "base:writer");
    assert_eq!(w[0]["reason"], "statement");
    assert_eq!(
        prod["totalMembers"],
        prod["members"].as_array().unwrap().len()
    );

    // A glob is answered for each stored resource it matches.
    let every = who(&app, "updateOn", "proj/p:env/*:flag/f").await;
    assert_eq!(
        every["resources"],
        json!([
            "proj/p;web:env/production;{critical:true}:flag/f",
            "proj/p;web:env/test;{critical:false}:flag/f"
        ])
    );
    let t = allowed_for(&every, "members", &toggler);
    assert_eq!(t.len(), 1, "{every}");
    assert_eq!(
        t[0]["resource"],
        "proj/p;web:env/test;{critical:false}:flag/f"
    );
    assert_eq!(
        t[0]["decidedBy"],
        json!({"role": "toggler", "statementIndex": 0, "effect": "allow"})
    );
    assert_eq!(allowed_for(&every, "members", &writer).len(), 2);
    // Members with the same answer share one grant.
    let (_, again) = app
        .post(
            "/api/v2/members",
            json!({"email": "w2@example.com", "role": "writer"}),
        )
        .await;
    let shared = who(&app, "updateOn", "proj/p:env/*:flag/f").await;
    let grant_of = |id: &str| {
        shared["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap()["grant"]
            .clone()
    };
    assert_eq!(grant_of(&writer), grant_of(again["id"].as_str().unwrap()));
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_role_attributes_and_team_roles_decide_as_they_do_in_a_check() {
    let app = TestApp::spawn().await;
    flags(&app).await;
    role(
        &app,
        "beta-toggler",
        json!([{"effect": "allow", "actions": ["updateOn"], "resources": ["proj/*:env/*:flag/*;beta"]}]),
    )
    .await;
    role(
        &app,
        "project-toggler",
        json!([{"effect": "allow", "actions": ["updateOn"],
                "resources": ["proj/${roleAttribute/projects}:env/test:flag/*"]}]),
    )
    .await;
    let beta = member(
        &app,
        json!({"email": "b@example.com", "customRoles": ["beta-toggler"]}),
    )
    .await;
    let in_p = member(
        &app,
        json!({"email": "p@example.com", "customRoles": ["project-toggler"],
               "roleAttributes": {"projects": ["p"]}}),
    )
    .await;
    let in_q = member(
        &app,
        json!({"email": "q@example.com", "customRoles": ["project-toggler"],
               "roleAttributes": {"projects": ["q"]}}),
    )
    .await;
    let on_team = member(&app, json!({"email": "team@example.com"})).await;
    let (s, body) = app
        .post(
            "/api/v2/teams",
            json!({"key": "web", "name": "Web", "memberIds": [on_team],
                   "customRoles": ["project-toggler"], "roleAttributes": {"projects": ["p"]}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");

    let answer = who(&app, "updateOn", "proj/p:env/test:flag/*").await;
    let resources = |id: &str| -> Vec<String> {
        allowed_for(&answer, "members", id)
            .iter()
            .map(|a| a["resource"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        resources(&beta),
        ["proj/p;web:env/test;{critical:false}:flag/g;beta"],
        "the tag selector takes the stored tags"
    );
    assert_eq!(resources(&in_p).len(), 2, "{answer}");
    assert!(
        resources(&in_q).is_empty(),
        "attribute q names another project"
    );
    let team = allowed_for(&answer, "members", &on_team);
    assert_eq!(team.len(), 2, "{answer}");
    assert_eq!(team[0]["decidedBy"]["role"], "project-toggler");
    for id in [&beta, &in_p, &in_q, &on_team] {
        assert_agrees_with_check(&app, &answer, "updateOn", id).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_decided_as_authentication_decides_them() {
    let app = TestApp::spawn().await;
    flags(&app).await;
    let (s, svc) = app
        .post(
            "/api/v2/tokens",
            json!({"name": "deployer", "serviceToken": true, "role": "writer"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{svc}");
    let (s, viewer) = app
        .post(
            "/api/v2/tokens",
            json!({"name": "dashboard", "serviceToken": true, "role": "reader"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{viewer}");
    let (writer, _) = app.member_with_token("w@example.com", "writer").await;
    let narrowed = app
        .service
        .create_personal_token_for("ci", "w@example.com", Some(BaseRole::Reader))
        .await
        .unwrap();
    let (_, reader_token) = app.member_with_token("r@example.com", "reader").await;
    let _ = reader_token;
    let revoked = app
        .service
        .create_personal_token_for("old", "w@example.com", None)
        .await
        .unwrap();
    let (s, _) = app.delete(&format!("/api/v2/tokens/{}", revoked.id)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let answer = who(&app, "updateOn", "proj/p:env/test:flag/f").await;
    let names: Vec<&str> = answer["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"deployer"), "{answer}");
    assert!(
        names.contains(&"test"),
        "the writer's own token acts as the writer"
    );
    assert!(
        !names.contains(&"dashboard"),
        "a reader grant cannot toggle"
    );
    assert!(
        !names.contains(&"ci"),
        "a reader-limited personal token cannot toggle"
    );
    assert!(!names.contains(&"old"), "a revoked token is not live");
    let deployer = allowed_for(&answer, "tokens", svc["id"].as_str().unwrap());
    assert_eq!(deployer[0]["decidedBy"]["role"], "base:writer");
    assert!(deployer[0].get("tokenDecidedBy").is_none());

    // Viewing, the limited personal token is allowed by both its member and its own grant.
    let view = who(&app, "viewProject", "proj/p").await;
    let ci = allowed_for(&view, "tokens", &narrowed.id);
    assert_eq!(ci.len(), 1, "{view}");
    assert_eq!(ci[0]["decidedBy"]["role"], "base:writer");
    assert_eq!(ci[0]["tokenDecidedBy"]["role"], "base:reader");
    let owner_of = view["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == narrowed.id.as_str())
        .unwrap()["ownerId"]
        .clone();
    assert_eq!(owner_of, writer.as_str());

    // A deactivated member's tokens stop working, and stop being listed.
    let (s, body) = app
        .patch(
            &format!("/api/v2/members/{writer}"),
            json!({"status": "deactivated"}),
        )
        .await;
    assert!(s.is_success(), "{body}");
    let after = who(&app, "viewProject", "proj/p").await;
    assert!(allowed_for(&after, "tokens", &narrowed.id).is_empty());
    assert!(allowed_for(&after, "members", &writer).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_questions_are_refused_naming_the_bad_part() {
    let app = TestApp::spawn().await;
    let (s, body) = app
        .post(
            "/api/v2/access/who",
            json!({"action": "flyToMoon", "resource": "proj/p"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("flyToMoon"),
        "{body}"
    );
    for (resource, says) in [
        ("proj/p:env/*:segment/*", "segments"),
        ("proj/${roleAttribute/p}", "resource"),
        ("proj/p!", "resource"),
    ] {
        let (s, body) = app
            .post(
                "/api/v2/access/who",
                json!({"action": "viewProject", "resource": resource}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{resource}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(says),
            "{resource}: {body}"
        );
    }
    // More stored resources than one answer covers: narrow it.
    let people: Vec<Value> = (0..1001)
        .map(|i| json!({"email": format!("p{i}@example.com")}))
        .collect();
    for batch in people.chunks(50) {
        let (s, body) = app.post("/api/v2/members", json!(batch)).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let (s, body) = app
        .post(
            "/api/v2/access/who",
            json!({"action": "viewMember", "resource": "member/*"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("narrow"),
        "{body}"
    );
    // A reader may ask; a no_access member sees nobody.
    let (_, reader) = app.member_with_token("reader@example.com", "reader").await;
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v2/access/who",
            Some(&reader),
            Some(json!({"action": "viewMember", "resource": "member/nobody"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body["totalMembers"].as_u64().unwrap() > 1000);
    let (_, nobody) = app.member_with_token("none@example.com", "no_access").await;
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v2/access/who",
            Some(&nobody),
            Some(json!({"action": "viewMember", "resource": "member/nobody"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["totalMembers"], 0);
    assert_eq!(body["totalTokens"], 0);
}

/// For every resource of the answer, member `id` is listed as allowed exactly when
/// `/access/check` allows it, with the same deciding statement and reason.
/// Returns how many resources the member is allowed on.
async fn assert_agrees_with_check(app: &TestApp, answer: &Value, action: &str, id: &str) -> usize {
    let listed = allowed_for(answer, "members", id);
    for resource in answer["resources"].as_array().unwrap() {
        let (s, check) = app
            .post(
                "/api/v2/access/check",
                json!({"memberId": id, "action": action, "resource": resource}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{check}");
        let found = listed.iter().find(|a| &a["resource"] == resource);
        match found {
            Some(a) => {
                assert!(
                    check["allowed"].as_bool().unwrap(),
                    "who lists {id} on {resource} for {action}, check denies: {check}"
                );
                assert_eq!(
                    a["decidedBy"], check["decidedBy"],
                    "{id} {action} {resource}"
                );
                assert_eq!(a["reason"], check["reason"], "{id} {action} {resource}");
            }
            None => assert!(
                !check["allowed"].as_bool().unwrap(),
                "check allows {id} on {resource} for {action}, who does not list it: {check}"
            ),
        }
    }
    listed.len()
}

const STATEMENT_ACTIONS: &[&str] = &["updateOn", "update*", "*", "viewProject", "createFlag"];
const STATEMENT_RESOURCES: &[&str] = &[
    "proj/*:env/*:flag/*",
    "proj/*:env/*;{critical:true}:flag/*",
    "proj/*:env/test:flag/*;beta",
    "proj/${roleAttribute/projects}:env/*:flag/*",
    "proj/${roleAttribute/projects}",
    "proj/*",
    "proj/p:env/*",
];
const QUESTIONS: &[(&str, &str)] = &[
    ("updateOn", "proj/p:env/production:flag/f"),
    ("updateOn", "proj/*:env/*:flag/*"),
    ("createFlag", "proj/p:env/*:flag/g"),
    ("viewProject", "proj/*"),
    ("updateName", "proj/p:env/test"),
    ("updateOn", "proj/q:env/*:flag/*"),
];

/// Random custom roles, teams and members; for each question, every member's who answer
/// agrees with `/access/check` on every resource.
#[tokio::test(flavor = "multi_thread")]
async fn who_agrees_with_check_for_random_members() {
    for seed in [7_u64, 1_234] {
        let mut rng = StdRng::seed_from_u64(seed);
        let app = TestApp::spawn().await;
        flags(&app).await;
        let (s, body) = app
            .post("/api/v2/projects", json!({"key": "q", "name": "Q"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let (s, body) = app
            .post(
                "/api/v2/projects/q/environments",
                json!({"key": "prod", "name": "Prod", "critical": true}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let (s, body) = app
            .post("/api/v2/flags/q", json!({"key": "f", "name": "F"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");

        let roles: Vec<String> = (0..5).map(|i| format!("r{i}")).collect();
        for key in &roles {
            let statements: Vec<Value> = (0..rng.gen_range(1..4))
                .map(|_| {
                    json!({
                        "effect": if rng.gen_bool(0.7) { "allow" } else { "deny" },
                        "actions": [STATEMENT_ACTIONS.choose(&mut rng).unwrap()],
                        "resources": [STATEMENT_RESOURCES.choose(&mut rng).unwrap()],
                    })
                })
                .collect();
            let (s, body) = app
                .post(
                    "/api/v2/roles",
                    json!({"key": key, "name": key, "policy": statements,
                           "basePermissions": if rng.gen_bool(0.3) { "reader" } else { "no_access" }}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{body}");
        }
        let pick_roles = |rng: &mut StdRng| -> Vec<String> {
            roles
                .iter()
                .filter(|_| rng.gen_bool(0.3))
                .cloned()
                .collect()
        };
        let pick_attributes = |rng: &mut StdRng| -> Value {
            // Roles naming `${roleAttribute/projects}` must be given a value.
            match rng.gen_range(0..4) {
                0 => json!({"projects": ["p"]}),
                1 => json!({"projects": ["q"]}),
                2 => json!({"projects": ["p", "q"]}),
                _ => json!({"projects": ["*"]}),
            }
        };
        let mut members = Vec::new();
        for i in 0..12 {
            let base = ["reader", "writer", "admin", "no_access"]
                .choose(&mut rng)
                .unwrap();
            let id = member(
                &app,
                json!({"email": format!("m{i}@example.com"), "role": base,
                       "customRoles": pick_roles(&mut rng),
                       "roleAttributes": pick_attributes(&mut rng)}),
            )
            .await;
            members.push(id);
        }
        for t in 0..3 {
            let on: Vec<&String> = members.iter().filter(|_| rng.gen_bool(0.4)).collect();
            let (s, body) = app
                .post(
                    "/api/v2/teams",
                    json!({"key": format!("team{t}"), "name": format!("Team {t}"),
                           "memberIds": on, "customRoles": pick_roles(&mut rng),
                           "roleAttributes": pick_attributes(&mut rng)}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{body}");
        }
        let (mut allowed, mut asked) = (0, 0);
        for (action, resource) in QUESTIONS {
            let answer = who(&app, action, resource).await;
            let resources = answer["resources"].as_array().unwrap().len();
            assert!(resources > 0, "{answer}");
            for id in &members {
                allowed += assert_agrees_with_check(&app, &answer, action, id).await;
                asked += resources;
            }
        }
        // Both answers occur, so agreement is tested both ways.
        assert!(
            allowed > 0 && allowed < asked,
            "seed {seed}: {allowed} of {asked}"
        );
    }
}
