//! The access review after a person is provisioned over SCIM, another signs in over OIDC
//! through mapping rules, and an admin changes things over REST: every row names where each
//! grant came from, in JSON lines and in CSV.

use serde_json::{Value, json};

use super::scim::ScimApp;
use super::sso_idp::*;
use super::support::{BOOTSTRAP, TestApp};

const GH: &str = "urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User";

/// The review as (status, content type, body text).
async fn review(app: &TestApp, accept: Option<&str>, token: &str) -> (u16, String, String) {
    let mut req = app
        .client
        .get(format!("{}/api/v2/access/review", app.base))
        .header("Authorization", token);
    if let Some(accept) = accept {
        req = req.header("Accept", accept);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, resp.text().await.unwrap())
}

/// The JSON-lines review's rows.
async fn rows(app: &TestApp) -> Vec<Value> {
    let (status, content_type, body) = review(app, None, BOOTSTRAP).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "application/x-ndjson");
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn row<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name} in {rows:?}"))
}

/// `key@source` of each grant in a list.
fn grants(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|g| {
            format!(
                "{}@{}",
                g["key"].as_str().unwrap(),
                g["source"].as_str().unwrap()
            )
        })
        .collect()
}

async fn oidc_connection(app: &TestApp, op: &OidcProvider) {
    let body = json!({
        "key": "entra", "kind": "entra", "jit": true,
        "oidc": {"issuer": op.issuer, "clientId": "gh", "clientSecret": "s", "groupsClaim": "groups",
                 "roleClaim": "gh_role", "customRoleClaim": "gh_custom_roles"},
        "mappings": [
            {"match": {"group": "Platform*"}, "team": "platform", "role": "writer"},
            {"match": {"group": "Platform*"}, "customRoles": ["auditor"]}
        ]
    });
    let (s, c) = app.post("/api/v2/connections", body).await;
    assert_eq!(s, 201, "{c}");
}

async fn sign_in(app: &TestApp, op: &OidcProvider, email: &str) {
    let start = start_oidc_login(app, "entra").await;
    let mut claims = op.claims("gh", &start.nonce, email);
    claims["groups"] = json!(["Platform Engineers"]);
    claims["gh_custom_roles"] = json!("deployer");
    op.grant(
        "code-1",
        op.sign(&claims, "k1", false),
        &start.challenge,
        None,
    );
    let r = oidc_callback(
        app,
        "entra",
        &format!("code=code-1&state={}", start.state),
        Some(&start.binding),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn review_rows_name_the_source_of_every_grant() {
    let s = ScimApp::with(json!({"key": "okta", "kind": "okta"})).await;
    let app = &s.app;
    for role in ["deployer", "auditor", "developer"] {
        s.custom_role(role).await;
    }
    let (_, tokens) = app.get("/api/v2/tokens").await;
    let bootstrap = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "bootstrap")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rest = format!("rest:{bootstrap}");

    // SCIM provisions Ada with a role and a custom role, then pushes her group.
    let r = s
        .post(
            "/Users",
            json!({"userName": "ada@example.test", "emails": [{"value": "ada@example.test"}],
                   GH: {"role": "admin", "customRole": ["developer"]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ada = r.body["id"].as_str().unwrap().to_owned();
    let r = s
        .post(
            "/Groups",
            json!({"displayName": "SRE", "members": [{"value": ada}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // Grace signs in over OIDC: rule 0 gives the team and role, rule 1 a custom role, the
    // claim another.
    let op = OidcProvider::start().await;
    oidc_connection(app, &op).await;
    sign_in(app, &op, "grace@example.test").await;

    // An admin: a team with a custom role and Ada in it, a new member, and a role change.
    let (st, b) = app
        .post(
            "/api/v2/teams",
            json!({"key": "ops", "name": "Ops", "customRoles": ["deployer"], "memberIds": [ada]}),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let (st, bob) = app
        .post(
            "/api/v2/members",
            json!({"email": "bob@example.test", "role": "writer", "customRoles": ["auditor"]}),
        )
        .await;
    assert_eq!(st, 201, "{bob}");
    let (_, grace) = app.get("/api/v2/members?filter=query:grace").await;
    let grace_id = grace["items"][0]["id"].as_str().unwrap().to_owned();
    let (st, b) = app
        .patch(
            &format!("/api/v2/members/{grace_id}"),
            json!({"role": "reader"}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let bob_id = bob["id"].as_str().unwrap().to_owned();
    let personal = app
        .service
        .create_personal_token_for("laptop", "bob@example.test", None)
        .await
        .unwrap();

    let rows = rows(app).await;
    let ada_row = row(&rows, "ada@example.test");
    assert_eq!(ada_row["kind"], "member");
    assert_eq!(ada_row["status"], "active");
    assert_eq!(
        ada_row["role"],
        json!({"key": "admin", "source": "scim:okta"})
    );
    assert_eq!(
        grants(&ada_row["customRoles"]),
        ["developer@scim:okta", "deployer@team:ops"]
    );
    assert_eq!(
        grants(&ada_row["teams"]),
        [format!("ops@{rest}"), "sre@scim:okta".to_owned()]
    );
    assert_eq!(ada_row["lastSignIn"], Value::Null);
    assert_eq!(ada_row["personalTokens"], 0);

    let grace_row = row(&rows, "grace@example.test");
    assert_eq!(grace_row["role"], json!({"key": "reader", "source": rest}));
    assert_eq!(
        grants(&grace_row["customRoles"]),
        ["auditor@mapping:entra#1", "deployer@sso:entra"]
    );
    assert_eq!(grants(&grace_row["teams"]), ["platform@mapping:entra#0"]);
    assert_eq!(grace_row["lastSignIn"]["connection"], "entra");
    assert_eq!(grace_row["lastSignIn"]["protocol"], "oidc");
    assert!(grace_row["lastSignIn"]["at"].as_i64().unwrap() > 0);
    assert!(grace_row["lastSeen"].as_i64().is_some());

    let bob_row = row(&rows, "bob@example.test");
    assert_eq!(bob_row["role"], json!({"key": "writer", "source": rest}));
    assert_eq!(grants(&bob_row["customRoles"]), [format!("auditor@{rest}")]);
    assert_eq!(bob_row["personalTokens"], 1);

    // Members come first, then tokens.
    let kinds: Vec<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    let first_token = kinds.iter().position(|k| *k == "token").unwrap();
    assert!(
        kinds[first_token..].iter().all(|k| *k == "token"),
        "{kinds:?}"
    );
    let laptop = rows
        .iter()
        .find(|r| r["kind"] == "token" && r["name"] == "laptop")
        .unwrap();
    assert_eq!(laptop["ownerId"], bob_id.as_str());
    assert_eq!(laptop["status"], "active");
    assert_eq!(laptop["id"], personal.id.as_str());

    // The same review as CSV: a header, then one line per row, grants as key@source.
    let (status, content_type, csv) = review(app, Some("text/csv"), BOOTSTRAP).await;
    assert_eq!(status, 200, "{csv}");
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(
        lines[0].starts_with("kind,id,name,status,role,customRoles,teams,lastSeen,lastSignInAt")
    );
    assert_eq!(lines.len(), rows.len() + 1);
    let ada_line = lines
        .iter()
        .find(|l| l.contains("ada@example.test"))
        .unwrap();
    assert!(
        ada_line.contains(&format!(
            ",active,admin@scim:okta,developer@scim:okta;deployer@team:ops,ops@{rest};sre@scim:okta,"
        )),
        "{ada_line}"
    );
    let grace_line = lines
        .iter()
        .find(|l| l.contains("grace@example.test"))
        .unwrap();
    assert!(grace_line.contains(",entra,oidc,0,"), "{grace_line}");

    // A REST change re-grants over REST, and a later SCIM change over SCIM; what a change
    // leaves alone keeps its source.
    let (st, b) = app
        .patch(&format!("/api/v2/members/{ada}"), json!({"role": "writer"}))
        .await;
    assert_eq!(st, 200, "{b}");
    let ada_after = |rows: &[Value]| row(rows, "ada@example.test")["role"].clone();
    assert_eq!(
        ada_after(&super::access_review::rows(app).await),
        json!({"key": "writer", "source": rest})
    );
    let r = s
        .put(
            &format!("/Users/{ada}"),
            json!({"userName": "ada@example.test", "emails": [{"value": "ada@example.test"}],
                   GH: {"role": "reader", "customRole": ["developer"]}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after = super::access_review::rows(app).await;
    assert_eq!(
        ada_after(&after),
        json!({"key": "reader", "source": "scim:okta"})
    );
    assert_eq!(
        grants(&row(&after, "ada@example.test")["customRoles"]),
        ["developer@scim:okta", "deployer@team:ops"],
        "custom roles the statement keeps keep their source"
    );
}

#[tokio::test]
async fn the_review_needs_every_view_it_shows() {
    let app = TestApp::spawn().await;
    let (st, role) = app
        .post(
            "/api/v2/roles",
            json!({"key": "member-viewer", "name": "Member viewer", "basePermissions": "no_access",
                   "policy": [{"effect": "allow", "actions": ["viewMember"], "resources": ["member/*"]}]}),
        )
        .await;
    assert_eq!(st, 201, "{role}");
    let (_, token) = app.member_with_token("viewer@example.test", "reader").await;
    let (_, found) = app.get("/api/v2/members?filter=query:viewer").await;
    let id = found["items"][0]["id"].as_str().unwrap().to_owned();
    let (st, b) = app
        .patch(
            &format!("/api/v2/members/{id}"),
            json!({"customRoles": ["member-viewer"]}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let (status, _, body) = review(&app, None, &token).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("viewTeam") || body.contains("viewToken"),
        "{body}"
    );
    let (status, _, _) = review(&app, None, "nope").await;
    assert_eq!(status, 401);
}

/// Bulk changes record grants as single changes do: a grant the change makes is the caller's,
/// a grant that stays keeps the source it had.
#[tokio::test(flavor = "multi_thread")]
async fn bulk_changes_give_new_grants_the_callers_source_and_keep_the_rest() {
    let app = TestApp::spawn().await;
    for key in ["auditor", "viewer"] {
        let (s, body) = app
            .post(
                "/api/v2/roles",
                json!({"key": key, "name": key, "policy": [
                    {"effect": "allow", "actions": ["*"], "resources": ["proj/*"]}]}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
    let (s, body) = app
        .post("/api/v2/teams", json!({"key": "ops", "name": "Ops"}))
        .await;
    assert_eq!(s, 201, "{body}");
    // Created by the bootstrap token: every grant is the bootstrap's.
    let mut ids = Vec::new();
    for email in ["ann@x.io", "bob@x.io"] {
        let (s, m) = app
            .post(
                "/api/v2/members",
                json!({"email": email, "role": "reader", "customRoles": ["auditor"]}),
            )
            .await;
        assert_eq!(s, 201, "{m}");
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    let (ann, bob) = (&ids[0], &ids[1]);
    let before = rows(&app).await;
    let bootstrap = row(&before, "ann@x.io")["role"]["source"].clone();
    assert!(
        bootstrap.as_str().unwrap().starts_with("rest:"),
        "{bootstrap}"
    );

    // Another admin re-roles Bob alone, then Ann in bulk, and adds Ann to a team in bulk.
    let (_, admin) = app.member_with_token("admin@x.io", "admin").await;
    let as_admin = |method: reqwest::Method, path: &'static str, body: Value| {
        let app = &app;
        let admin = admin.clone();
        async move { app.call(method, path, Some(&admin), Some(body)).await }
    };
    let (s, body) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v2/members/{bob}"),
            Some(&admin),
            Some(json!({"role": "writer"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = as_admin(
        reqwest::Method::PATCH,
        "/api/v2/members",
        json!({"instructions": [
            {"kind": "replaceMembersRoles", "memberIDs": [ann], "value": "writer"},
            {"kind": "replaceMembersCustomRoles", "memberIDs": [ann],
             "values": ["auditor", "viewer"]}]}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = as_admin(
        reqwest::Method::PATCH,
        "/api/v2/teams",
        json!({"instructions": [
            {"kind": "addMembersToTeams", "memberIDs": [ann], "teamKeys": ["ops"]}]}),
    )
    .await;
    assert_eq!(s, 200, "{body}");

    let after = rows(&app).await;
    let admin_source = row(&after, "bob@x.io")["role"]["source"].clone();
    assert_ne!(admin_source, bootstrap);
    let ann_row = row(&after, "ann@x.io");
    assert_eq!(ann_row["role"]["key"], "writer");
    assert_eq!(ann_row["role"]["source"], admin_source, "{ann_row}");
    let admin_source = admin_source.as_str().unwrap();
    let bootstrap = bootstrap.as_str().unwrap();
    assert_eq!(
        grants(&ann_row["customRoles"]),
        [
            format!("auditor@{bootstrap}"),
            format!("viewer@{admin_source}")
        ]
    );
    assert_eq!(grants(&ann_row["teams"]), [format!("ops@{admin_source}")]);
}
