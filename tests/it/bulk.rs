//! Bulk changes over HTTP: an admin re-roles, re-assigns and re-attributes many members with
//! one request, and adds many members to teams; each request is one transaction with one
//! audit entry per member changed, and a refusal anywhere changes nothing.

use reqwest::Method;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::support::TestApp;

/// A member with `role`; its id.
async fn member(app: &TestApp, email: &str, role: &str) -> String {
    let (s, m) = app
        .post("/api/v2/members", json!({"email": email, "role": role}))
        .await;
    assert_eq!(s, 201, "{m}");
    m["id"].as_str().unwrap().to_owned()
}

async fn get_member(app: &TestApp, id: &str) -> Value {
    let (s, m) = app.get(&format!("/api/v2/members/{id}")).await;
    assert_eq!(s, 200, "{m}");
    m
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    ids.sort();
    ids
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The audit entries targeting member `id`, newest first.
async fn member_entries(app: &TestApp, id: &str) -> Vec<Value> {
    app.audit(&format!("spec=member/{id}")).await
}

/// A custom role whose policy needs the role attribute `projects`.
async fn role_needing_projects(app: &TestApp, key: &str) {
    let (s, role) = app
        .post(
            "/api/v2/roles",
            json!({"key": key, "name": key, "policy": [{"effect": "allow", "actions": ["*"],
                   "resources": ["proj/${roleAttribute/projects}:env/*:flag/*"]}]}),
        )
        .await;
    assert_eq!(s, 201, "{role}");
}

#[tokio::test(flavor = "multi_thread")]
async fn listed_members_are_re_roled_each_with_its_own_entry() {
    let app = TestApp::spawn().await;
    let ann = member(&app, "ann@x.io", "reader").await;
    let bob = member(&app, "bob@x.io", "reader").await;
    let cat = member(&app, "cat@x.io", "writer").await;
    let (s, body) = app
        .patch(
            "/api/v2/members",
            json!({"instructions": [{"kind": "replaceMembersRoles",
                    "memberIDs": [ann, bob, cat, ann], "value": "writer"}],
                   "comment": "spring reorg"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    // Cat is a writer already: not changed, no entry.
    assert_eq!(strings(&body["members"]), sorted(&[&ann, &bob]));
    assert_eq!(body["totalCount"], 2);
    for id in [&ann, &bob] {
        let m = get_member(&app, id).await;
        assert_eq!(
            (m["role"].as_str(), m["version"].as_i64()),
            (Some("writer"), Some(2))
        );
        let entries = member_entries(&app, id).await;
        let entry = &entries[0];
        assert_eq!(entry["accesses"][0]["action"], "updateRole", "{entry}");
        assert_eq!(entry["previousVersion"]["role"], "reader");
        assert_eq!(entry["currentVersion"]["role"], "writer");
        assert_eq!(entry["currentVersion"]["version"], 2);
        assert_eq!(entry["comment"], "spring reorg");
    }
    assert_eq!(
        member_entries(&app, &cat).await.len(),
        1,
        "only its creation"
    );
    let (s, body) = app.get("/api/v2/auditlog/verify").await;
    assert_eq!((s.as_u16(), &body["valid"]), (200, &json!(true)), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn all_matching_members_are_re_roled_but_never_the_owner_or_the_ignored() {
    let app = TestApp::spawn().await;
    let owner = member(&app, "owner@x.io", "owner").await;
    let ann = member(&app, "ann@x.io", "reader").await;
    let bob = member(&app, "bob@x.io", "writer").await;
    let cat = member(&app, "cat@x.io", "reader").await;
    let dan = member(&app, "dan@x.io", "reader").await;
    // Ann was seen; the others never were.
    entity::member::Entity::update_many()
        .col_expr(entity::member::Column::LastSeen, Expr::value(1000i64))
        .filter(entity::member::Column::Id.eq(ann.clone()))
        .exec(app.service.db())
        .await
        .unwrap();
    let (s, body) = app
        .patch(
            "/api/v2/members",
            json!({"instructions": [{"kind": "replaceAllMembersRoles", "value": "no_access",
                    "filterLastSeen": {"never": true}, "ignoredMemberIDs": [dan]}]}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(strings(&body["members"]), sorted(&[&bob, &cat]));
    for (id, role) in [
        (&owner, "owner"),
        (&ann, "reader"),
        (&bob, "no_access"),
        (&cat, "no_access"),
        (&dan, "reader"),
    ] {
        assert_eq!(get_member(&app, id).await["role"], role);
    }
    // The query filter is the member list's: a prefix of the email or a name.
    let (s, body) = app
        .patch(
            "/api/v2/members",
            json!({"instructions": [{"kind": "replaceAllMembersRoles", "value": "admin",
                    "filterQuery": "ANN"}]}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(strings(&body["members"]), vec![ann.clone()]);
    // A bad filter is named by its instruction.
    let (s, body) = app
        .patch(
            "/api/v2/members",
            json!({"instructions": [{"kind": "replaceAllMembersRoles", "value": "admin",
                    "filterLastSeen": {"after": 5}}]}),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("instructions[0].filterLastSeen: "),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_is_refused_when_named_and_never_granted() {
    let app = TestApp::spawn().await;
    let owner = member(&app, "owner@x.io", "owner").await;
    let ann = member(&app, "ann@x.io", "reader").await;
    let (s, body) = app
        .patch(
            "/api/v2/members",
            json!({"instructions": [{"kind": "replaceMembersCustomRoles",
                    "memberIDs": [ann, owner], "values": []}]}),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(
        body["message"],
        format!(
            "instructions[0].memberIDs: {owner} is the account owner, whom bulk changes never change"
        )
    );
    let (s, body) = app
        .patch(
            "/api/v2/members",
            json!({"instructions": [{"kind": "replaceMembersRoles", "memberIDs": [ann], "value": "owner"}]}),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("never grant the owner role")
    );
    assert_eq!(get_member(&app, &ann).await["role"], "reader");
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_roles_and_role_attributes_keep_the_single_patch_rules() {
    let app = TestApp::spawn().await;
    role_needing_projects(&app, "shop-dev").await;
    let ann = member(&app, "ann@x.io", "reader").await;
    let bob = member(&app, "bob@x.io", "reader").await;
    // A role without the attribute it declares grants nothing: refused, naming the member.
    let (s, body) = app
        .patch(
            "/api/v2/members",
            json!({"instructions": [{"kind": "replaceMembersCustomRoles",
                    "memberIDs": [ann, bob], "values": ["shop-dev"]}]}),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("instructions[0]: member "), "{message}");
    assert!(
        message.contains("custom role shop-dev needs role attribute \"projects\""),
        "{message}"
    );
    // An unknown role is a 404 naming the instruction.
    let (s, body) = app
        .patch(
            "/api/v2/members",
            json!({"instructions": [{"kind": "replaceAllMembersCustomRoles", "values": ["ghost"]}]}),
        )
        .await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(
        body["message"],
        "instructions[0].values: unknown custom role \"ghost\""
    );
    // With the attribute given in the same request, both apply: one entry per member, with
    // both actions.
    let (s, body) = app
        .patch(
            "/api/v2/members",
            json!({"instructions": [
                {"kind": "replaceMembersCustomRoles", "memberIDs": [ann, bob], "values": ["shop-dev"]},
                {"kind": "replaceMembersRoleAttributes", "memberIDs": [ann, bob],
                 "value": {"projects": ["shop"]}}
            ]}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(strings(&body["members"]), sorted(&[&ann, &bob]));
    for id in [&ann, &bob] {
        let m = get_member(&app, id).await;
        assert_eq!(m["customRoles"], json!(["shop-dev"]));
        assert_eq!(m["roleAttributes"], json!({"projects": ["shop"]}));
        let entries = member_entries(&app, id).await;
        assert_eq!(entries.len(), 2, "creation and one bulk entry");
        let actions: Vec<&str> = entries[0]["accesses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["updateCustomRole", "updateMemberRoleAttributes"]);
        assert_eq!(entries[0]["previousVersion"]["customRoles"], json!([]));
    }
    // Taking the attribute away again would leave the role without it.
    let (s, body) = app
        .patch(
            "/api/v2/members",
            json!({"instructions": [{"kind": "replaceMembersRoleAttributes", "memberIDs": [bob], "value": {}}]}),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains(&bob), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_in_the_middle_leaves_nothing_changed() {
    let app = TestApp::spawn().await;
    let ann = member(&app, "ann@x.io", "reader").await;
    let bob = member(&app, "bob@x.io", "reader").await;
    let entries = app.audit_count().await;
    let (s, body) = app
        .patch(
            "/api/v2/members",
            json!({"instructions": [
                {"kind": "replaceMembersRoles", "memberIDs": [ann], "value": "admin"},
                {"kind": "replaceMembersRoles", "memberIDs": [bob, "nobody"], "value": "writer"},
                {"kind": "replaceAllMembersRoles", "value": "writer"}
            ]}),
        )
        .await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(
        body["message"],
        "instructions[1].memberIDs: unknown member \"nobody\""
    );
    assert_eq!(get_member(&app, &ann).await["role"], "reader");
    assert_eq!(get_member(&app, &bob).await["role"], "reader");
    assert_eq!(app.audit_count().await, entries);
    // A member the caller may not re-role refuses the whole request, naming both.
    let (_, writer) = app.member_with_token("wendy@x.io", "writer").await;
    let (s, body) = app
        .call(
            Method::PATCH,
            "/api/v2/members",
            Some(&writer),
            Some(json!({"instructions": [{"kind": "replaceMembersRoles", "memberIDs": [ann, bob], "value": "admin"}]})),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("instructions[0]: not allowed to updateRole on member/"),
        "{message}"
    );
    assert_eq!(get_member(&app, &ann).await["role"], "reader");
    // Nothing to change answers so, and writes nothing.
    let before = app.audit_count().await;
    let (s, body) = app
        .patch(
            "/api/v2/members",
            json!({"instructions": [{"kind": "replaceMembersRoles", "memberIDs": [ann], "value": "reader"}]}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body, json!({"members": [], "totalCount": 0}));
    assert_eq!(app.audit_count().await, before);
}

async fn team(app: &TestApp, key: &str, members: &[&str]) {
    let (s, t) = app
        .post(
            "/api/v2/teams",
            json!({"key": key, "name": key, "memberIds": members}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
}

#[tokio::test(flavor = "multi_thread")]
async fn members_join_teams_in_bulk_each_with_its_own_entry() {
    let app = TestApp::spawn().await;
    let ann = member(&app, "ann@x.io", "reader").await;
    let bob = member(&app, "bob@x.io", "writer").await;
    let cat = member(&app, "cat@x.io", "writer").await;
    team(&app, "eng", &[&ann]).await;
    team(&app, "ops", &[]).await;
    let (s, body) = app
        .patch(
            "/api/v2/teams",
            json!({"instructions": [{"kind": "addMembersToTeams",
                    "memberIDs": [ann, bob], "teamKeys": ["eng", "ops"]}],
                   "comment": "staffing"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(strings(&body["memberIDs"]), sorted(&[&ann, &bob]));
    assert_eq!(body["teamKeys"], json!(["eng", "ops"]));
    let eng = app.get("/api/v2/teams/eng").await.1;
    assert_eq!(strings(&eng["memberIds"]), sorted(&[&ann, &bob]));
    assert_eq!(eng["version"], 2);
    assert_eq!(get_member(&app, &bob).await["teams"], json!(["eng", "ops"]));
    // Ann was on eng already: her entry names ops only.
    let joins = app.audit("action=updateTeamMembers").await;
    let entry = joins
        .iter()
        .find(|e| e["target"]["resources"] == json!([format!("member/{ann}")]))
        .unwrap();
    assert_eq!(
        entry["accesses"],
        json!([{"action": "updateTeamMembers", "resource": "team/ops"}])
    );
    assert_eq!(entry["previousVersion"]["teams"], json!(["eng"]));
    assert_eq!(entry["currentVersion"]["teams"], json!(["eng", "ops"]));
    assert_eq!(entry["comment"], "staffing");
    // The writers on eng (bob) are on ops already; the writers but bob (cat) join eng.
    let (s, body) = app
        .patch(
            "/api/v2/teams",
            json!({"instructions": [
                {"kind": "addAllMembersToTeams", "teamKeys": ["ops"], "filterRoles": ["writer"],
                 "filterTeamKeys": ["eng"]},
                {"kind": "addAllMembersToTeams", "teamKeys": ["eng"], "filterRoles": ["writer"],
                 "ignoredMemberIDs": [bob]}
            ]}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(strings(&body["memberIDs"]), vec![cat.clone()]);
    assert_eq!(body["teamKeys"], json!(["eng"]));
    assert_eq!(get_member(&app, &cat).await["teams"], json!(["eng"]));
    // One entry per member that joined: ann, bob, then cat.
    assert_eq!(app.audit("action=updateTeamMembers").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn team_additions_refuse_synced_teams_and_unknown_names_changing_nothing() {
    let app = TestApp::spawn().await;
    let ann = member(&app, "ann@x.io", "reader").await;
    team(&app, "eng", &[]).await;
    team(&app, "okta-sales", &[]).await;
    entity::team::Entity::update_many()
        .col_expr(entity::team::Column::IdpSynced, Expr::value(true))
        .filter(entity::team::Column::Key.eq("okta-sales"))
        .exec(app.service.db())
        .await
        .unwrap();
    let entries = app.audit_count().await;
    let cases = [
        (
            json!({"kind": "addMembersToTeams", "memberIDs": [ann], "teamKeys": ["eng", "okta-sales"]}),
            403,
            "instructions[1].teamKeys: team okta-sales is managed by identity provider: its members change only there",
        ),
        (
            json!({"kind": "addMembersToTeams", "memberIDs": [ann], "teamKeys": ["ghost"]}),
            404,
            "instructions[1].teamKeys: team \"ghost\" not found",
        ),
        (
            json!({"kind": "addMembersToTeams", "memberIDs": [ann, "nobody"], "teamKeys": ["eng"]}),
            404,
            "instructions[1].memberIDs: unknown member \"nobody\"",
        ),
    ];
    for (bad, status, message) in cases {
        let good = json!({"kind": "addMembersToTeams", "memberIDs": [ann], "teamKeys": ["eng"]});
        let (s, body) = app
            .patch("/api/v2/teams", json!({"instructions": [good, bad]}))
            .await;
        assert_eq!(s, status, "{body}");
        assert_eq!(body["message"], message);
    }
    assert_eq!(app.audit_count().await, entries);
    assert_eq!(app.get("/api/v2/teams/eng").await.1["memberIds"], json!([]));
    // The one-team form refuses the synced team too.
    let (s, body) = app
        .post(
            "/api/v2/teams/okta-sales/members",
            json!({"memberIds": [ann]}),
        )
        .await;
    assert_eq!(s, 403, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn members_are_added_to_one_team_by_id() {
    let app = TestApp::spawn().await;
    let ann = member(&app, "ann@x.io", "reader").await;
    let bob = member(&app, "bob@x.io", "reader").await;
    team(&app, "eng", &[&ann]).await;
    let (s, body) = app
        .post(
            "/api/v2/teams/eng/members",
            json!({"memberIDs": [ann, bob]}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body, json!({"memberIDs": [bob], "teamKeys": ["eng"]}));
    assert_eq!(
        strings(&app.get("/api/v2/teams/eng").await.1["memberIds"]),
        sorted(&[&ann, &bob])
    );
    let (s, body) = app
        .post(
            "/api/v2/teams/eng/members",
            json!({"memberIds": [ann], "memberIDs": [bob]}),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    let (s, body) = app
        .post(
            "/api/v2/teams/eng/members",
            json!({"memberIds": ["nobody"]}),
        )
        .await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(body["message"], "memberIds: unknown member \"nobody\"");
    let (s, body) = app
        .post("/api/v2/teams/ghost/members", json!({"memberIds": [ann]}))
        .await;
    assert_eq!(s, 404, "{body}");
}
