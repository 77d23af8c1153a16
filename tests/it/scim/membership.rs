//! Group membership at the cost of the change: PATCH answers 204, the audit log holds each
//! change (who was added and removed, and the member count before and after), and the
//! stored members of a team can be rebuilt from its audit entries alone.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{ScimApp, enc, ops};

/// The members of team `key` as its audit entries tell them, oldest first: a REST snapshot
/// sets them, a SCIM delta adds and removes, a deleted member leaves every team it was in.
/// Also checks that each team entry's member count starts where the one before ended.
async fn replay(s: &ScimApp, key: &str) -> BTreeSet<String> {
    let mut entries = s.app.audit("").await;
    entries.reverse();
    let mut members: BTreeSet<String> = BTreeSet::new();
    let mut count: Option<i64> = None;
    for e in entries {
        let about_team = e["target"]["resources"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r == &json!(format!("team/{key}"))));
        if e["kind"] == "member" && e["accesses"][0]["action"] == "deleteMember" {
            let teams = e["previousVersion"]["teams"].as_array().cloned();
            if teams.is_some_and(|t| t.contains(&json!(key))) {
                members.remove(e["previousVersion"]["id"].as_str().unwrap());
                count = count.map(|c| c - 1);
            }
            continue;
        }
        if e["kind"] != "team" || !about_team {
            continue;
        }
        let delta = &e["delta"];
        if delta.get("addedMembers").is_some() {
            let counts = &delta["memberCount"];
            if let Some(c) = count {
                assert_eq!(counts["before"], json!(c), "count chain broken at {e}");
            }
            for id in delta["addedMembers"].as_array().unwrap() {
                assert!(members.insert(id.as_str().unwrap().to_owned()), "{e}");
            }
            for id in delta["removedMembers"].as_array().unwrap() {
                assert!(members.remove(id.as_str().unwrap()), "{e}");
            }
            assert_eq!(counts["after"], json!(members.len()), "{e}");
            count = counts["after"].as_i64();
        } else if let Some(ids) = e["currentVersion"]["memberIds"].as_array() {
            members = ids.iter().map(|v| v.as_str().unwrap().to_owned()).collect();
            count = Some(members.len() as i64);
        }
    }
    members
}

async fn stored(s: &ScimApp, key: &str) -> BTreeSet<String> {
    let (st, team) = s.app.get(&format!("/api/v2/teams/{key}")).await;
    assert_eq!(st, 200, "{team}");
    team["memberIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_teams_members_replay_from_its_audit_entries() {
    let s = ScimApp::with(json!({"key": "entra", "kind": "entra", "deprovision": "delete"})).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(s.user(&format!("r{i}@contoso.com")).await);
    }
    // A team made over REST with two members, which the IdP's group then adopts.
    let (st, body) = s
        .app
        .post(
            "/api/v2/teams",
            json!({"key": "ops", "name": "Ops", "memberIds": [ids[0], ids[1]]}),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let r = s
        .post(
            "/Groups",
            json!({"displayName": "Ops", "members": [{"value": ids[1]}, {"value": ids[2]}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gid = r.body["id"].as_str().unwrap().to_owned();
    let log = s.scim_audit().await;
    assert_eq!(log[0]["delta"]["addedMembers"], json!([ids[2]]));
    assert_eq!(log[0]["delta"]["removedMembers"], json!([ids[0]]));
    assert_eq!(
        log[0]["delta"]["memberCount"],
        json!({"before": 2, "after": 2})
    );

    // Entra: one member per PATCH; an add of a member already there writes nothing.
    let path = format!("/Groups/{gid}");
    for id in &ids[3..8] {
        let r = s
            .patch(
                &path,
                ops(json!([{"op": "Add", "path": "members", "value": [{"value": id}]}])),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let entries = s.app.audit_count().await;
    let r = s
        .patch(
            &path,
            ops(json!([{"op": "Add", "path": "members", "value": [{"value": ids[3]}]}])),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(s.app.audit_count().await, entries);
    // Okta: removes by filter and by value list, adds in batches, in one request.
    let r = s
        .patch(
            &path,
            ops(json!([
                {"op": "remove", "path": format!("members[value eq \"{}\"]", ids[3])},
                {"op": "remove", "path": "members", "value": [{"value": ids[4]}, {"value": "nobody"}]},
                {"op": "add", "path": "members", "value": [{"value": ids[8]}, {"value": ids[9]}]}
            ])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    // A filter that is not a list of ids selects among all members.
    let r = s
        .patch(
            &path,
            ops(json!([{"op": "remove", "path": format!("members[value sw \"{}\"]", &ids[5][..ids[5].len() - 1])}])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    // A user deleted outright leaves the team.
    let r = s.delete(&format!("/Users/{}", ids[6])).await;
    assert_eq!(r.status, 204);
    assert_eq!(replay(&s, "ops").await, stored(&s, "ops").await);

    // Okta's full push replaces the list; PUT does too.
    let push: Vec<Value> = [&ids[1], &ids[10], &ids[11]]
        .iter()
        .map(|id| json!({"value": id}))
        .collect();
    let r = s
        .patch(
            &path,
            ops(json!([{"op": "replace", "path": "members", "value": push}])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let log = s.scim_audit().await;
    assert_eq!(log[0]["delta"]["addedMembers"].as_array().unwrap().len(), 2);
    assert_eq!(log[0]["delta"]["memberCount"]["after"], 3);
    let r = s
        .put(
            &path,
            json!({"displayName": "Ops", "members": [{"value": ids[0]}, {"value": ids[1]}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);
    let members = stored(&s, "ops").await;
    assert_eq!(members.len(), 2);
    assert_eq!(replay(&s, "ops").await, members);

    // Audit entries hold the change, not the group.
    let log = s.scim_audit().await;
    assert!(log[0]["currentVersion"].get("memberIds").is_none());
    assert_eq!(log[0]["currentVersion"]["memberCount"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn patch_answers_only_what_is_asked() {
    let s = ScimApp::new("entra").await;
    let a = s.user("a@contoso.com").await;
    let b = s.user("b@contoso.com").await;
    let r = s.post("/Groups", json!({"displayName": "Eng"})).await;
    let gid = r.body["id"].as_str().unwrap().to_owned();
    let add = |id: &str| ops(json!([{"op": "Add", "path": "members", "value": [{"value": id}]}]));
    let r = s.patch(&format!("/Groups/{gid}"), add(&a)).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.body, Value::Null);
    assert!(r.headers.get("etag").is_none());
    let r = s
        .patch(
            &format!("/Groups/{gid}?excludedAttributes=members"),
            add(&b),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("members").is_none());
    assert_eq!(r.body["displayName"], "Eng");
    assert_eq!(r.body["meta"]["version"], "W/\"3\"");
    let r = s
        .patch(&format!("/Groups/{gid}?attributes=members"), add(&b))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);
    assert!(r.body.get("displayName").is_none());
    // Entra's lookup never carries members.
    let r = s
        .get(&format!(
            "/Groups?filter={}&excludedAttributes=members",
            enc(r#"displayName eq "Eng""#)
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    assert!(r.body["Resources"][0].get("members").is_none());
    // An add of an unknown user is refused and changes nothing.
    let r = s.patch(&format!("/Groups/{gid}"), add("nobody")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["scimType"], "invalidValue");
    let r = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_created_with_members_counts_them() {
    let s = ScimApp::new("okta").await;
    let ids = [
        s.user("x@contoso.com").await,
        s.user("y@contoso.com").await,
        s.user("z@contoso.com").await,
    ];
    let r = s
        .post(
            "/Groups",
            json!({"displayName": "Pushed", "members": [{"value": ids[0]}, {"value": ids[1]}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gid = r.body["id"].as_str().unwrap().to_owned();
    let log = s.scim_audit().await;
    assert_eq!(
        log[0]["delta"]["memberCount"],
        json!({"before": 0, "after": 2})
    );
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            ops(json!([{"op": "add", "path": "members", "value": [{"value": ids[2]}]}])),
        )
        .await;
    assert_eq!(r.status, 204);
    let log = s.scim_audit().await;
    assert_eq!(
        log[0]["delta"]["memberCount"],
        json!({"before": 2, "after": 3})
    );
    assert_eq!(replay(&s, "pushed").await, stored(&s, "pushed").await);
}
