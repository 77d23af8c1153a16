//! Custom roles enforced over HTTP: supersession, teams, role attributes, presets, token
//! intersection, versioned recompilation, explanations and audit visibility.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::TestApp;

async fn role(app: &TestApp, key: &str, policy: Value, attributes: &[&str]) {
    let (s, body) = app
        .post(
            "/api/v2/roles",
            json!({"key": key, "name": key, "policy": policy, "roleAttributes": attributes}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
}

async fn member(
    app: &TestApp,
    email: &str,
    base: &str,
    roles: &[&str],
    attrs: Value,
) -> (String, String) {
    let (s, m) = app
        .post(
            "/api/v2/members",
            json!({"email": email, "role": base, "customRoles": roles, "roleAttributes": attrs}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    let token = app
        .service
        .create_personal_token_for("t", email, None)
        .await
        .unwrap()
        .token
        .unwrap();
    (m["id"].as_str().unwrap().to_owned(), token)
}

fn toggle(env: &str) -> Value {
    json!({"environmentKey": env, "instructions": [{"kind": "turnFlagOn"}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_role_supersedes_the_base_role_and_means_exactly_what_it_says() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    role(
        &app,
        "prod-toggler",
        json!([{"effect": "allow", "actions": ["updateOn"], "resources": ["proj/*:env/*;{critical:true}:flag/*"]}]),
        &[],
    )
    .await;
    // A writer would toggle anything; with the custom role it may toggle only critical environments.
    let (_, token) = member(
        &app,
        "ops@example.com",
        "writer",
        &["prod-toggler"],
        json!({}),
    )
    .await;
    let (s, body) = app
        .call(
            Method::PATCH,
            "/api/v2/flags/p/f",
            Some(&token),
            Some(toggle("production")),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, _) = app
        .call(
            Method::PATCH,
            "/api/v2/flags/p/f",
            Some(&token),
            Some(toggle("test")),
        )
        .await;
    assert_eq!(s, 403, "the custom role supersedes writer");
    // viewProject is allowed unless denied, even with no statement about it.
    assert_eq!(
        app.call(Method::GET, "/api/v2/flags/p/f", Some(&token), None)
            .await
            .0,
        200
    );

    // A role change is seen on the next request: deny wins within the role.
    let (s, _) = app
        .patch(
            "/api/v2/roles/prod-toggler",
            json!({"policy": [
                {"effect": "allow", "actions": ["updateOn"], "resources": ["proj/*:env/*;{critical:true}:flag/*"]},
                {"effect": "deny", "actions": ["update*"], "resources": ["proj/p:env/production:flag/f"]}
            ]}),
        )
        .await;
    assert_eq!(s, 200);
    let off = json!({"environmentKey": "production", "instructions": [{"kind": "turnFlagOff"}]});
    assert_eq!(
        app.call(Method::PATCH, "/api/v2/flags/p/f", Some(&token), Some(off))
            .await
            .0,
        403
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn team_roles_add_up_and_role_attributes_scope_them() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    app.post("/api/v2/projects", json!({"key": "q", "name": "Q"}))
        .await;
    app.post(
        "/api/v2/projects/q/environments",
        json!({"key": "test", "name": "Test"}),
    )
    .await;
    app.post("/api/v2/flags/q", json!({"key": "g", "name": "G"}))
        .await;
    role(
        &app,
        "scoped-toggler",
        json!([{"effect": "allow", "actions": ["updateOn"], "resources": ["proj/${roleAttribute/projects}:env/*:flag/*"]}]),
        &["projects"],
    )
    .await;
    // Assigning a role without its attribute is refused, naming what is missing.
    let (s, body) = app
        .post(
            "/api/v2/members",
            json!({"email": "x@example.com", "customRoles": ["scoped-toggler"]}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        body["message"].as_str().unwrap().contains("projects"),
        "{body}"
    );

    let (id, token) = member(&app, "dana@example.com", "reader", &[], json!({})).await;
    assert_eq!(
        app.call(
            Method::PATCH,
            "/api/v2/flags/p/f",
            Some(&token),
            Some(toggle("test"))
        )
        .await
        .0,
        403
    );
    let (s, body) = app
        .post(
            "/api/v2/teams",
            json!({"key": "p-team", "name": "P team", "memberIds": [id], "customRoles": ["scoped-toggler"], "roleAttributes": {"projects": ["p"]}}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(
        app.call(
            Method::PATCH,
            "/api/v2/flags/p/f",
            Some(&token),
            Some(toggle("test"))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.call(
            Method::PATCH,
            "/api/v2/flags/q/g",
            Some(&token),
            Some(toggle("test"))
        )
        .await
        .0,
        403
    );
    // A second team's role adds access: the most permissive role wins.
    app.post(
        "/api/v2/teams",
        json!({"key": "q-team", "name": "Q team", "memberIds": [id], "customRoles": ["scoped-toggler"], "roleAttributes": {"projects": ["q"]}}),
    )
    .await;
    assert_eq!(
        app.call(
            Method::PATCH,
            "/api/v2/flags/q/g",
            Some(&token),
            Some(toggle("test"))
        )
        .await
        .0,
        200
    );
    // The change of role attributes is audited with before/after.
    let (s, _) = app
        .patch("/api/v2/teams/q-team", json!({"instructions": [{"kind": "replaceRoleAttributes", "value": {"projects": ["p"]}}]}))
        .await;
    assert_eq!(s, 200);
    let entry = &app.audit("action=updateTeamRoleAttributes").await[0];
    assert_eq!(
        entry["previousVersion"]["roleAttributes"]["projects"],
        json!(["q"])
    );
    assert_eq!(
        entry["currentVersion"]["roleAttributes"]["projects"],
        json!(["p"])
    );
    let (s, body) = app
        .patch(
            "/api/v2/teams/q-team",
            json!({"instructions": [{"kind": "removeRoleAttribute", "key": "projects"}]}),
        )
        .await;
    assert_eq!(s, 400, "a team keeps the attributes its roles need: {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn preset_roles_work_at_once_and_keep_their_built_in_statements() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    app.post(
        "/api/v2/projects",
        json!({"key": "secret", "name": "Secret"}),
    )
    .await;
    let (_, roles) = app.get("/api/v2/roles").await;
    let keys: Vec<&str> = roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    for k in [
        "project-admin",
        "project-maintainer",
        "project-developer",
        "project-contributor",
        "project-viewer",
    ] {
        assert!(keys.contains(&k), "{k} missing: {keys:?}");
    }
    let (dev_id, dev) = member(
        &app,
        "dev@example.com",
        "reader",
        &["project-developer"],
        json!({"projects": ["p"]}),
    )
    .await;
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v2/flags/p",
            Some(&dev),
            Some(json!({"key": "new", "name": "New"})),
        )
        .await;
    assert_eq!(s, 201, "developers create flags in their projects: {body}");
    // ...and change them, but a required approval is not theirs to skip.
    for (action, allowed) in [("updateOn", true), ("bypassRequiredApproval", false)] {
        let (s, check) = app
            .post(
                "/api/v2/access/check",
                json!({"memberId": dev_id, "action": action, "resource": "proj/p:env/production:flag/new"}),
            )
            .await;
        assert_eq!(s, 200, "{check}");
        assert_eq!(check["allowed"], allowed, "{action}: {check}");
    }
    let (_, projects) = app
        .call(Method::GET, "/api/v2/projects", Some(&dev), None)
        .await;
    assert_eq!(
        projects["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["key"].clone())
            .collect::<Vec<_>>(),
        vec![json!("p")]
    );
    assert_eq!(
        app.call(Method::DELETE, "/api/v2/projects/p", Some(&dev), None)
            .await
            .0,
        403
    );
    let (_, viewer) = member(
        &app,
        "viewer@example.com",
        "reader",
        &["project-viewer"],
        json!({"projects": ["p"]}),
    )
    .await;
    assert_eq!(
        app.call(
            Method::PATCH,
            "/api/v2/flags/p/f",
            Some(&viewer),
            Some(toggle("test"))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.call(Method::GET, "/api/v2/projects/secret", Some(&viewer), None)
            .await
            .0,
        403
    );

    // Built-ins cannot be removed; statements can be added after them.
    let (_, preset) = app.get("/api/v2/roles/project-viewer").await;
    let builtin = preset["_presetStatements"].as_array().unwrap().clone();
    assert_eq!(preset["policy"], json!(builtin));
    let (s, body) = app
        .patch("/api/v2/roles/project-viewer", json!({"policy": []}))
        .await;
    assert_eq!(s, 400, "{body}");
    let mut extended = builtin.clone();
    extended.push(json!({"effect": "allow", "actions": ["viewTeam"], "resources": ["team/*"]}));
    let (s, r) = app
        .patch("/api/v2/roles/project-viewer", json!({"policy": extended}))
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["policy"].as_array().unwrap().len(), builtin.len() + 1);
    assert_eq!(app.delete("/api/v2/roles/project-viewer").await.0, 409);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_personal_token_never_exceeds_its_member_and_a_service_token_has_its_own_roles() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    let (_, member_token) = member(&app, "w@example.com", "writer", &[], json!({})).await;
    let (s, t) = app
        .call(
            Method::POST,
            "/api/v2/tokens",
            Some(&member_token),
            Some(json!({"name": "read-only", "role": "reader"})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let narrow = t["token"].as_str().unwrap();
    assert_eq!(
        app.call(
            Method::PATCH,
            "/api/v2/flags/p/f",
            Some(&member_token),
            Some(toggle("test"))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.call(
            Method::PATCH,
            "/api/v2/flags/p/f",
            Some(narrow),
            Some(toggle("production"))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.call(Method::GET, "/api/v2/flags/p/f", Some(narrow), None)
            .await
            .0,
        200
    );

    role(&app, "toggle-test", json!([{"effect": "allow", "actions": ["updateOn"], "resources": ["proj/*:env/test:flag/*"]}]), &[]).await;
    let (s, t) = app
        .post(
            "/api/v2/tokens",
            json!({"name": "bot", "serviceToken": true, "customRoles": ["toggle-test"]}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let bot = t["token"].as_str().unwrap();
    let off = |env: &str| json!({"environmentKey": env, "instructions": [{"kind": "turnFlagOff"}]});
    assert_eq!(
        app.call(
            Method::PATCH,
            "/api/v2/flags/p/f",
            Some(bot),
            Some(off("test"))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.call(
            Method::PATCH,
            "/api/v2/flags/p/f",
            Some(bot),
            Some(off("production"))
        )
        .await
        .0,
        403
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn access_check_explains_every_decision() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    role(
        &app,
        "careful",
        json!([
            {"effect": "allow", "actions": ["update*"], "resources": ["proj/*:env/*:flag/*"]},
            {"effect": "deny", "actions": ["updateOn"], "resources": ["proj/*:env/*;{critical:true}:flag/*"]}
        ]),
        &[],
    )
    .await;
    let (id, _) = member(&app, "c@example.com", "reader", &["careful"], json!({})).await;
    let check = |action: &str, resource: &str| json!({"memberId": id, "action": action, "resource": resource});
    // The stored environment is critical even though the request does not say so.
    let (s, r) = app
        .post(
            "/api/v2/access/check",
            check("updateOn", "proj/p:env/production:flag/f"),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["allowed"], false);
    assert_eq!(
        r["decidedBy"],
        json!({"role": "careful", "statementIndex": 1, "effect": "deny"})
    );
    assert!(
        r["resource"].as_str().unwrap().contains("{critical:true}"),
        "{r}"
    );
    let (_, r) = app
        .post(
            "/api/v2/access/check",
            check("updateOn", "proj/p:env/test:flag/f"),
        )
        .await;
    assert_eq!(r["allowed"], true);
    assert_eq!(
        r["decidedBy"],
        json!({"role": "careful", "statementIndex": 0, "effect": "allow"})
    );
    let (_, r) = app
        .post("/api/v2/access/check", check("createTeam", "team/x"))
        .await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["decidedBy"], Value::Null);
    assert_eq!(r["reason"], "notMatched");
    let (_, r) = app
        .post("/api/v2/access/check", check("viewProject", "proj/p"))
        .await;
    assert_eq!(r["allowed"], true);
    assert_eq!(r["reason"], "viewProjectDefault");
    assert_eq!(
        app.post("/api/v2/access/check", check("flyToTheMoon", "proj/p"))
            .await
            .0,
        400
    );
    assert_eq!(
        app.post("/api/v2/access/check", check("updateOn", "proj/p:bogus/x"))
            .await
            .0,
        400
    );
    assert_eq!(
        app.post(
            "/api/v2/access/check",
            json!({"memberId": "nobody", "action": "updateOn", "resource": "proj/p"})
        )
        .await
        .0,
        404
    );

    // Members and roles carry an `_access` summary for the caller.
    let (_, m) = app.get(&format!("/api/v2/members/{id}")).await;
    assert!(
        m["_access"]["allowed"]
            .as_array()
            .unwrap()
            .contains(&json!("updateRole")),
        "{m}"
    );
    let (_, r) = app.get("/api/v2/roles/careful").await;
    assert!(
        r["_access"]["allowed"]
            .as_array()
            .unwrap()
            .contains(&json!("updatePolicy")),
        "{r}"
    );
    // The catalogue is published.
    let (s, actions) = app.get("/api/v2/actions").await;
    assert_eq!(s, 200);
    let all = actions["items"].as_array().unwrap();
    assert!(all.len() > 150);
    assert!(all.iter().any(|a| a["action"] == "createFlag"
        && a["projectWide"] == true
        && a["resourceType"] == "flag"));
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_policies_get_400_with_the_path_and_are_never_stored() {
    let app = TestApp::spawn().await;
    for (policy, attrs, expect) in [
        (
            json!([{"effect": "allow", "actions": ["flyToTheMoon"], "resources": ["proj/*"]}]),
            json!([]),
            "policy[0].actions[0]",
        ),
        (
            json!([{"effect": "allow", "actions": ["nope*"], "resources": ["proj/*"]}]),
            json!([]),
            "policy[0].actions[0]",
        ),
        (
            json!([{"effect": "allow", "actions": ["*"], "resources": ["proj/*:gizmo/*"]}]),
            json!([]),
            "policy[0].resources[0]",
        ),
        (
            json!([{"effect": "allow", "actions": ["*"], "resources": ["proj/!"]}]),
            json!([]),
            "policy[0].resources[0]",
        ),
        (
            json!([{"effect": "allow", "actions": ["*"], "resources": ["proj/${roleAttribute/team}"]}]),
            json!([]),
            "policy[0].resources[0]",
        ),
        (
            json!([{"effect": "allow", "actions": ["*"], "notActions": ["*"], "resources": ["proj/*"]}]),
            json!([]),
            "policy[0]",
        ),
    ] {
        let (s, body) = app
            .post(
                "/api/v2/roles",
                json!({"key": "bad", "name": "Bad", "policy": policy, "roleAttributes": attrs}),
            )
            .await;
        assert_eq!(s, 400, "{policy}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(expect),
            "{policy}: {body}"
        );
    }
    assert_eq!(app.get("/api/v2/roles/bad").await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_log_shows_a_member_only_what_its_roles_may_view() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    app.post(
        "/api/v2/projects",
        json!({"key": "hidden", "name": "Hidden"}),
    )
    .await;
    let (_, viewer) = member(
        &app,
        "v@example.com",
        "reader",
        &["project-viewer"],
        json!({"projects": ["p"]}),
    )
    .await;
    let (s, log) = app
        .call(
            Method::GET,
            "/api/v2/auditlog?limit=1000",
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let entries = log["items"].as_array().unwrap();
    assert!(!entries.is_empty());
    for e in entries {
        let resources: Vec<&str> = e["accesses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["resource"].as_str().unwrap())
            .collect();
        assert!(
            resources.iter().any(|r| r.starts_with("proj/p")),
            "{resources:?}"
        );
    }
    let hidden = &app.audit("spec=proj/hidden").await[0];
    let (s, _) = app
        .call(
            Method::GET,
            &format!("/api/v2/auditlog/{}", hidden["_id"].as_str().unwrap()),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(
        app.call(Method::GET, "/api/v2/auditlog/export", Some(&viewer), None)
            .await
            .0,
        403
    );
}
