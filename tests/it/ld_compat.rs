//! LaunchDarkly's account-API payloads accepted as they are: what scripts and Terraform
//! configurations written for LaunchDarkly send carries over.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn role_attributes_are_declared_by_the_policy_that_uses_them() {
    let app = TestApp::spawn().await;
    let policy = json!([{"effect": "allow", "actions": ["updateOn"], "resources": [
        "proj/${roleAttribute/projects}:env/${roleAttribute/environments}:flag/*"]}]);
    // LaunchDarkly's API and its Terraform provider send no `roleAttributes`.
    let (s, role) = app
        .post(
            "/api/v2/roles",
            json!({"key": "toggler", "name": "Toggler", "policy": policy}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{role}");
    assert_eq!(role["roleAttributes"], json!(["projects", "environments"]));

    // An explicit list stays possible, and must cover what the policy uses.
    let (s, body) = app
        .post(
            "/api/v2/roles",
            json!({"key": "narrow", "name": "Narrow", "policy": policy,
                   "roleAttributes": ["projects"]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("`environments`"), "{message}");
    assert!(message.contains("policy[0].resources[0]"), "{message}");
    let (s, body) = app
        .post(
            "/api/v2/roles",
            json!({"key": "wide", "name": "Wide", "policy": policy,
                   "roleAttributes": ["projects", "environments", "teams"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["roleAttributes"],
        json!(["projects", "environments", "teams"])
    );

    // A new policy without a list declares what it now uses.
    let (s, body) = app
        .patch(
            "/api/v2/roles/toggler",
            json!({"policy": [{"effect": "allow", "actions": ["updateOn"],
                               "resources": ["proj/${roleAttribute/projects}:env/*:flag/*"]}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["roleAttributes"], json!(["projects"]));
}

/// A custom role without placeholders, so teams, members and tokens may all hold it.
async fn role(app: &TestApp, key: &str) -> serde_json::Value {
    let policy = json!([{"effect": "allow", "actions": ["updateOn"],
                         "resources": ["proj/*:env/test:flag/*"]}]);
    let (s, role) = app
        .post(
            "/api/v2/roles",
            json!({"key": key, "name": key, "policy": policy}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{role}");
    role
}

async fn member_id(app: &TestApp, email: &str) -> String {
    let (s, m) = app.post("/api/v2/members", json!({"email": email})).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    m["id"].as_str().unwrap().to_owned()
}

/// The message of a 400 answer, checked to name every one of `parts`.
fn refused(s: StatusCode, body: &serde_json::Value, parts: &[&str]) {
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "invalid_request", "{body}");
    names_all(body, parts);
}

/// The message of a 404 answer (the request names something that does not exist).
fn missing(s: StatusCode, body: &serde_json::Value, parts: &[&str]) {
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found", "{body}");
    names_all(body, parts);
}

fn names_all(body: &serde_json::Value, parts: &[&str]) {
    let message = body["message"].as_str().unwrap();
    for part in parts {
        assert!(message.contains(part), "{part:?} missing from {message}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_team_is_created_from_launchdarklys_body() {
    let app = TestApp::spawn().await;
    role(&app, "deployer").await;
    role(&app, "auditor").await;
    let ann = member_id(&app, "ann@example.com").await;
    let bo = member_id(&app, "bo@example.com").await;

    // What a script or Terraform configuration written for LaunchDarkly sends.
    let (s, ld) = app
        .post(
            "/api/v2/teams",
            json!({"key": "platform", "name": "Platform", "description": "Runs it",
                   "customRoleKeys": ["deployer", "auditor"], "memberIDs": [bo, ann]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{ld}");
    // ... is stored as our own names store it.
    let (s, ours) = app
        .post(
            "/api/v2/teams",
            json!({"key": "ours", "name": "Platform", "description": "Runs it",
                   "customRoles": ["deployer", "auditor"], "memberIds": [bo, ann]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{ours}");
    for field in ["customRoles", "memberIds", "roleAttributes", "description"] {
        assert_eq!(ld[field], ours[field], "{field}");
    }
    let mut expected = vec![ann.clone(), bo.clone()];
    expected.sort();
    assert_eq!(ld["customRoles"], json!(["auditor", "deployer"]));
    assert_eq!(ld["memberIds"], json!(expected));
    let (_, stored) = app.get("/api/v2/teams/platform").await;
    assert_eq!(stored["customRoles"], ours["customRoles"]);
    assert_eq!(stored["memberIds"], ours["memberIds"]);
    let (_, m) = app.get(&format!("/api/v2/members/{ann}")).await;
    assert_eq!(m["teams"], json!(["ours", "platform"]));

    // Both names with the same values (in any order) say one thing.
    let (s, both) = app
        .post(
            "/api/v2/teams",
            json!({"key": "both", "name": "Both",
                   "customRoles": ["auditor", "deployer"],
                   "customRoleKeys": ["deployer", "auditor"],
                   "memberIds": [ann], "memberIDs": [ann]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{both}");
    assert_eq!(both["customRoles"], json!(["auditor", "deployer"]));
    assert_eq!(both["memberIds"], json!([ann]));

    // Different values under the two names are refused, naming both; nothing is stored.
    let (s, body) = app
        .post(
            "/api/v2/teams",
            json!({"key": "split", "name": "Split",
                   "customRoles": ["deployer"], "customRoleKeys": ["auditor"]}),
        )
        .await;
    refused(s, &body, &["customRoles", "customRoleKeys"]);
    let (s, body) = app
        .post(
            "/api/v2/teams",
            json!({"key": "split", "name": "Split", "memberIds": [], "memberIDs": [bo]}),
        )
        .await;
    refused(s, &body, &["memberIds", "memberIDs"]);
    // An unknown role or member is named by the field it came in.
    let (s, body) = app
        .post(
            "/api/v2/teams",
            json!({"key": "split", "name": "Split", "customRoleKeys": ["ghost"]}),
        )
        .await;
    missing(s, &body, &["customRoleKeys", "ghost"]);
    let (s, body) = app
        .post(
            "/api/v2/teams",
            json!({"key": "split", "name": "Split", "memberIDs": ["nobody"]}),
        )
        .await;
    missing(s, &body, &["memberIDs", "nobody"]);
    assert_eq!(
        app.get("/api/v2/teams/split").await.0,
        StatusCode::NOT_FOUND
    );
    assert!(app.audit("spec=team/split").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_is_created_with_launchdarklys_custom_role_ids() {
    let app = TestApp::spawn().await;
    let deployer = role(&app, "deployer").await;
    role(&app, "auditor").await;
    let deployer_id = deployer["id"].as_str().unwrap();

    let mut tokens = Vec::new();
    for (name, roles) in [
        // LaunchDarkly sends role ids; keys are taken too; and our own name.
        ("by-id", json!({"customRoleIds": [deployer_id]})),
        ("by-key", json!({"customRoleIds": ["deployer"]})),
        ("ours", json!({"customRoles": ["deployer"]})),
        (
            "both",
            json!({"customRoles": ["deployer"], "customRoleIds": [deployer_id]}),
        ),
    ] {
        let mut body = json!({"name": name, "serviceToken": true});
        body.as_object_mut()
            .unwrap()
            .extend(roles.as_object().unwrap().clone());
        let (s, token) = app.post("/api/v2/tokens", body).await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {token}");
        assert_eq!(token["customRoles"], json!(["deployer"]), "{name}");
        tokens.push(token);
    }
    // Stored the same: the list shows each token with the role's key.
    let (_, list) = app.get("/api/v2/tokens").await;
    for token in &tokens {
        let stored = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == token["id"])
            .unwrap();
        assert_eq!(stored["customRoles"], json!(["deployer"]));
    }

    let before = app.audit_count().await;
    let (s, body) = app
        .post(
            "/api/v2/tokens",
            json!({"name": "split", "serviceToken": true,
                   "customRoles": ["auditor"], "customRoleIds": [deployer_id]}),
        )
        .await;
    refused(s, &body, &["customRoles", "customRoleIds"]);
    let (s, body) = app
        .post(
            "/api/v2/tokens",
            json!({"name": "ghost", "serviceToken": true, "customRoleIds": ["ghost"]}),
        )
        .await;
    missing(s, &body, &["ghost"]);
    assert_eq!(app.audit_count().await, before, "no token was made");
}

#[tokio::test(flavor = "multi_thread")]
async fn launchdarklys_array_of_new_members_is_created_in_one_go() {
    let app = TestApp::spawn().await;
    role(&app, "deployer").await;
    for key in ["ops", "eng"] {
        let (s, t) = app
            .post("/api/v2/teams", json!({"key": key, "name": key}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
    }
    let before = app.audit_count().await;

    let (s, body) = app
        .post(
            "/api/v2/members",
            json!([
                {"email": "ann@example.com", "firstName": "Ann", "lastName": "Lee",
                 "role": "writer", "teamKeys": ["ops", "eng"]},
                {"email": "bo@example.com", "role": "reader", "customRoles": ["deployer"],
                 "teamKeys": ["ops"]},
                {"email": "cy@example.com"}
            ]),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["totalCount"], 3);
    let items = body["items"].as_array().unwrap();
    let emails: Vec<_> = items.iter().map(|m| m["email"].clone()).collect();
    assert_eq!(
        emails,
        [
            json!("ann@example.com"),
            json!("bo@example.com"),
            json!("cy@example.com")
        ],
        "in the order given"
    );
    assert_eq!(items[0]["firstName"], "Ann");
    assert_eq!(items[0]["lastName"], "Lee");
    assert_eq!(items[0]["role"], "writer");
    assert_eq!(items[0]["teams"], json!(["eng", "ops"]));
    assert_eq!(items[1]["customRoles"], json!(["deployer"]));
    assert_eq!(items[1]["teams"], json!(["ops"]));
    assert_eq!(items[2]["role"], "reader");
    assert_eq!(items[2]["teams"], json!([]));

    // `teamKeys` made them members of those teams.
    let id = |i: usize| items[i]["id"].as_str().unwrap().to_owned();
    let (_, ops) = app.get("/api/v2/teams/ops").await;
    let mut expected = vec![id(0), id(1)];
    expected.sort();
    assert_eq!(ops["memberIds"], json!(expected));
    assert_eq!(ops["version"], 3, "each join moves the team's version");
    let (_, eng) = app.get("/api/v2/teams/eng").await;
    assert_eq!(eng["memberIds"], json!([id(0)]));

    // One audit entry each, naming the teams joined.
    assert_eq!(app.audit_count().await, before + 3);
    let entries = app.audit("action=createMember").await;
    assert_eq!(entries.len(), 3);
    let ann = entries
        .iter()
        .find(|e| e["name"] == "ann@example.com")
        .unwrap();
    assert_eq!(
        ann["accesses"],
        json!([
            {"action": "createMember", "resource": format!("member/{}", id(0))},
            {"action": "updateTeamMembers", "resource": "team/eng"},
            {"action": "updateTeamMembers", "resource": "team/ops"}
        ])
    );
    assert_eq!(ann["currentVersion"]["teams"], json!(["eng", "ops"]));
    assert_eq!(
        app.audit("spec=team/ops").await.len(),
        3,
        "created + 2 joins"
    );

    // The single-object body answers as before: the member itself.
    let (s, one) = app
        .post(
            "/api/v2/members",
            json!({"email": "di@example.com", "teamKeys": ["eng"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{one}");
    assert_eq!(one["email"], "di@example.com");
    assert_eq!(one["teams"], json!(["eng"]));
    assert!(one.get("items").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn one_bad_new_member_refuses_the_whole_array() {
    let app = TestApp::spawn().await;
    role(&app, "deployer").await;
    let (s, t) = app
        .post("/api/v2/teams", json!({"key": "ops", "name": "Ops"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let (_, members_before) = app.get("/api/v2/members").await;
    let (_, ops_before) = app.get("/api/v2/teams/ops").await;
    let audit_before = app.audit_count().await;
    let good = |email: &str| json!({"email": email, "teamKeys": ["ops"]});

    // Refused before anything is written (malformed items), and while writing (what needs the
    // database: the earlier items are written by then, and undone).
    let cases = [
        (
            json!([good("a@example.com"), {"email": "not-an-email"}]),
            StatusCode::BAD_REQUEST,
            // The document's pattern for an address, checked as the body is parsed.
            vec!["[1]", "field `email`", "pattern"],
        ),
        (
            json!([good("a@example.com"), {"email": "b@example.com", "password": "x"}]),
            StatusCode::BAD_REQUEST,
            vec!["[1]", "password"],
        ),
        (
            json!([
                good("a@example.com"),
                good("b@example.com"),
                {"email": "c@example.com", "teamKeys": ["ops", "nope"]}
            ]),
            StatusCode::NOT_FOUND,
            vec!["[2].teamKeys", "\"nope\""],
        ),
        (
            json!([
                good("a@example.com"),
                good("b@example.com"),
                {"email": "c@example.com", "customRoles": ["ghost"]}
            ]),
            StatusCode::NOT_FOUND,
            vec!["[2].customRoles", "ghost"],
        ),
        (
            json!([good("a@example.com"), {"email": "b@example.com", "role": "emperor"}]),
            StatusCode::BAD_REQUEST,
            vec!["[1]", "field `role`"],
        ),
        (
            json!([good("a@example.com"), good("A@example.com")]),
            StatusCode::CONFLICT,
            vec!["[1]", "already exists"],
        ),
        (json!([]), StatusCode::BAD_REQUEST, vec!["1 to 50"]),
        (
            json!(
                (0..51)
                    .map(|i| good(&format!("m{i}@example.com")))
                    .collect::<Vec<_>>()
            ),
            StatusCode::BAD_REQUEST,
            vec!["1 to 50", "51"],
        ),
    ];
    for (body, status, parts) in cases {
        let (s, answer) = app.post("/api/v2/members", body).await;
        assert_eq!(s, status, "{answer}");
        let message = answer["message"].as_str().unwrap();
        for part in parts {
            assert!(message.contains(part), "{part:?} missing from {message}");
        }
    }

    // Nothing was written: no member, no membership, no audit entry.
    assert_eq!(app.get("/api/v2/members").await.1, members_before);
    assert_eq!(app.get("/api/v2/teams/ops").await.1, ops_before);
    assert_eq!(app.audit_count().await, audit_before);
    assert!(app.audit("action=createMember").await.is_empty());
}
