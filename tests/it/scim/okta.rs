//! Okta's documented sequence (OIN SCIM 2.0 guide): look up by userName, create, read, full
//! profile update with PUT, deactivate with a no-path PATCH, Group Push with member batches,
//! rename, delete. After each step the REST API and the audit log tell the same story.

use reqwest::Method;
use serde_json::{Value, json};

use super::{ScimApp, enc, ops};
use crate::support::BOOTSTRAP;

const LD: &str = "urn:ietf:params:scim:schemas:extension:launchdarkly:2.0:User";

fn okta_user(user_name: &str, given: &str, role: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", LD],
        "userName": user_name,
        "name": {"givenName": given, "familyName": "Lee"},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "displayName": format!("{given} Lee"),
        "locale": "en-US",
        "externalId": "00u1abcd",
        "groups": [],
        "password": "Okta-sends-one-sometimes-1!",
        "active": true,
        LD: {"role": role, "customRole": ["developer"]}
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn okta_provisions_updates_and_deactivates_a_member() {
    let s = ScimApp::new("okta").await;
    s.custom_role("developer").await;

    // Okta looks the user up first and expects an empty list, not a 404.
    let filter = enc(r#"userName eq "ann@example.com""#);
    let r = s
        .get(&format!("/Users?filter={filter}&startIndex=1&count=100"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(r.body["Resources"], json!([]));
    assert_eq!(r.headers["content-type"], "application/scim+json");

    let r = s
        .post("/Users", okta_user("ann@example.com", "Ann", "writer"))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.headers["etag"], "W/\"1\"");
    assert_eq!(
        r.headers["location"],
        format!("{}/scim/v2/Users/{id}", s.app.service.public_url())
    );
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert_eq!(r.body["meta"]["version"], "W/\"1\"");
    assert!(r.body.get("password").is_none(), "{}", r.body);
    assert_eq!(
        r.body[LD],
        json!({"role": "writer", "customRole": ["developer"]})
    );
    assert_eq!(r.body["name"]["givenName"], "Ann");

    let (st, m) = s.member(&id).await;
    assert_eq!(st, 200, "{m}");
    assert_eq!(m["role"], "writer");
    assert_eq!(m["customRoles"], json!(["developer"]));
    assert_eq!(m["status"], "active");
    assert_eq!(m["source"], "scim");
    assert_eq!(m["firstName"], "Ann");
    assert_eq!(m["email"], "ann@example.com");

    let log = s.scim_audit().await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["actor"]["kind"], "app");
    assert_eq!(log[0]["actor"]["isScim"], true);
    assert_eq!(log[0]["accesses"][0]["action"], "createMember");
    assert_eq!(log[0]["delta"]["scim"]["operation"], "POST");
    assert!(log[0]["requestId"].is_string(), "{}", log[0]);
    assert!(
        !log[0].to_string().contains("Okta-sends-one"),
        "passwords never reach the log"
    );

    // Found by the same filter now; GET by id; a duplicate userName (any case) is refused.
    let r = s
        .get(&format!("/Users?filter={filter}&startIndex=1&count=100"))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], id);
    let r = s.get(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 200);
    let r = s
        .post("/Users", okta_user("ANN@example.com", "Ann", "writer"))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["scimType"], "uniqueness");

    // A personal token of the member, to see it revoked on deactivation.
    let token = s
        .app
        .service
        .create_personal_token_for("laptop", "ann@example.com", None)
        .await
        .unwrap()
        .token
        .unwrap();
    let (st, _) = s
        .app
        .call(Method::GET, "/api/v2/me", Some(&token), None)
        .await;
    assert_eq!(st, 200);

    // Profile update with PUT (Okta's AIW apps always PUT the whole user).
    let r = s
        .put(
            &format!("/Users/{id}"),
            okta_user("ann@example.com", "Annie", "reader"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["etag"], "W/\"2\"");
    let (_, m) = s.member(&id).await;
    assert_eq!(m["firstName"], "Annie");
    assert_eq!(m["role"], "reader");
    let log = s.scim_audit().await;
    assert_eq!(log.len(), 2);
    let actions: Vec<&str> = log[0]["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"updateRole") && actions.contains(&"updateMemberName"),
        "{actions:?}"
    );
    assert_eq!(log[0]["previousVersion"]["role"], "writer");
    assert_eq!(log[0]["currentVersion"]["role"], "reader");

    // The same PUT again changes nothing and writes nothing.
    let r = s
        .put(
            &format!("/Users/{id}"),
            okta_user("ann@example.com", "Annie", "reader"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["etag"], "W/\"2\"");
    assert_eq!(s.scim_audit().await.len(), 2);

    // Deactivate: no-path replace of active.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            ops(json!([{"op": "replace", "value": {"active": false}}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["active"], false);
    let (_, m) = s.member(&id).await;
    assert_eq!(m["status"], "deactivated");
    let (st, _) = s
        .app
        .call(Method::GET, "/api/v2/me", Some(&token), None)
        .await;
    assert_eq!(
        st, 401,
        "the member's token was revoked in the same transaction"
    );
    let log = s.scim_audit().await;
    assert_eq!(log[0]["accesses"][0]["action"], "updateMemberStatus");
    assert!(
        log[0]["description"]
            .as_str()
            .unwrap()
            .contains("revoked 1 token(s) and 0 session(s)"),
        "{}",
        log[0]
    );

    // While deactivated the member record is frozen; SCIM still records what the IdP sends.
    let r = s
        .put(
            &format!("/Users/{id}"),
            json!({"userName": "ann@example.com", "active": false, "name": {"givenName": "Frozen"},
        "emails": [{"value": "other@example.com", "primary": true}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"]["givenName"], "Frozen");
    let (_, m) = s.member(&id).await;
    assert_eq!(m["firstName"], "Annie");
    assert_eq!(m["email"], "ann@example.com");

    // Reactivation applies what the IdP sends, roles included.
    let r = s
        .put(
            &format!("/Users/{id}"),
            okta_user("ann@example.com", "Ann", "admin"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, m) = s.member(&id).await;
    assert_eq!(m["status"], "active");
    assert_eq!(m["role"], "admin");
    assert_eq!(m["firstName"], "Ann");
}

#[tokio::test(flavor = "multi_thread")]
async fn okta_group_push_syncs_a_team_whose_roles_stay_editable() {
    let s = ScimApp::new("okta").await;
    s.custom_role("developer").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(s.user(&format!("u{i}@example.com")).await);
    }
    // Okta pushes the group empty, then membership in batches.
    let r = s.post("/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Platform Engineering", "members": []})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gid = r.body["id"].as_str().unwrap().to_owned();
    let (st, team) = s.app.get("/api/v2/teams/platform-engineering").await;
    assert_eq!(st, 200, "{team}");
    assert_eq!(team["idpSynced"], true);
    assert_eq!(team["name"], "Platform Engineering");

    let batch: Vec<Value> = ids[..4].iter().map(|id| json!({"value": id})).collect();
    // Asking for attributes brings the group back (else the answer is 204).
    let r = s
        .patch(
            &format!("/Groups/{gid}?attributes=members"),
            ops(json!([{"op": "add", "path": "members", "value": batch}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["members"].as_array().unwrap().len(), 4);
    assert!(r.body.get("displayName").is_none());
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            ops(json!([
                {"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])},
                {"op": "add", "path": "members", "value": [{"value": ids[4]}, {"value": ids[5]}]}
            ])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let (_, team) = s.app.get("/api/v2/teams/platform-engineering").await;
    let mut expected: Vec<String> = ids[1..].to_vec();
    expected.sort();
    assert_eq!(team["memberIds"], json!(expected));
    let log = s.scim_audit().await;
    assert_eq!(log[0]["accesses"][0]["action"], "updateTeamMembers");
    assert_eq!(log[0]["delta"]["removedMembers"], json!([ids[0]]));
    assert_eq!(log[0]["delta"]["addedMembers"].as_array().unwrap().len(), 2);

    // A member's User shows the group; the group is found by displayName.
    let r = s.get(&format!("/Users/{}", ids[1])).await;
    assert_eq!(r.body["groups"][0]["value"], gid);
    let r = s
        .get(&format!(
            "/Groups?filter={}",
            enc(r#"displayName eq "platform engineering""#)
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    let r = s
        .get(&format!(
            "/Groups?filter={}&excludedAttributes=members",
            enc(&format!("members.value eq \"{}\"", ids[2]))
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    assert!(r.body["Resources"][0].get("members").is_none());

    // REST may not rename the team or change its members, but binds roles to it.
    let (st, body) = s
        .app
        .patch(
            "/api/v2/teams/platform-engineering",
            json!({"instructions": [{"kind": "updateName", "value": "x"}]}),
        )
        .await;
    assert_eq!(st, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("managed by identity provider")
    );
    let (st, body) = s
        .app
        .patch(
            "/api/v2/teams/platform-engineering",
            json!({"instructions": [{"kind": "addMembers", "values": [ids[0]]}]}),
        )
        .await;
    assert_eq!(st, 403, "{body}");
    let (st, body) = s
        .app
        .patch(
            "/api/v2/teams/platform-engineering",
            json!({"instructions": [{"kind": "addCustomRoles", "values": ["developer"]}]}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let (st, _) = s.app.delete("/api/v2/teams/platform-engineering").await;
    assert_eq!(st, 403);

    // Okta renames with a no-path replace carrying the id; a full push replaces the members.
    let r = s
        .patch(
            &format!("/Groups/{gid}?excludedAttributes=members"),
            ops(json!([{"op": "replace", "value": {"id": gid, "displayName": "Platform"}}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["displayName"], "Platform");
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            ops(json!([{"op": "replace", "path": "members", "value": [{"value": ids[0]}]}])),
        )
        .await;
    assert_eq!(r.status, 204);
    let (_, team) = s.app.get("/api/v2/teams/platform-engineering").await;
    assert_eq!(team["memberIds"], json!([ids[0]]));
    assert_eq!(
        team["customRoles"],
        json!(["developer"]),
        "role bindings are Gatehouse's"
    );

    // Delete: the team and its role bindings go, audited; members stay.
    let r = s.delete(&format!("/Groups/{gid}")).await;
    assert_eq!(r.status, 204);
    let (st, _) = s.app.get("/api/v2/teams/platform-engineering").await;
    assert_eq!(st, 404);
    let r = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(r.status, 404);
    let log = s.scim_audit().await;
    assert_eq!(log[0]["accesses"][0]["action"], "deleteTeam");
    assert_eq!(
        log[0]["previousVersion"]["customRoles"],
        json!(["developer"])
    );
    let (st, _) = s.member(&ids[0]).await;
    assert_eq!(st, 200);
    let _ = BOOTSTRAP;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_group_adopts_a_team_by_mapping_rule() {
    let s = ScimApp::with(json!({"key": "okta", "kind": "okta",
        "mappings": [{"match": {"group": "Eng*"}, "team": "engineering"}]}))
    .await;
    let (st, body) = s
        .app
        .post(
            "/api/v2/teams",
            json!({"key": "engineering", "name": "Engineering (local)"}),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let u = s.user("bo@example.com").await;
    let r = s
        .post(
            "/Groups",
            json!({"displayName": "Eng Org", "externalId": "00g1", "members": [{"value": u}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (_, team) = s.app.get("/api/v2/teams/engineering").await;
    assert_eq!(team["idpSynced"], true);
    assert_eq!(team["name"], "Eng Org");
    assert_eq!(team["memberIds"], json!([u]));
    let r = s.post("/Groups", json!({"displayName": "Eng Org"})).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["scimType"], "uniqueness");
    let r = s
        .get(&format!(
            "/Groups?filter={}",
            enc(r#"externalId eq "00g1""#)
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);
}
