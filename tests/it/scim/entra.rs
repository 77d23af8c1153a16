//! Microsoft Entra ID's provisioning sequence: lookups by userName and externalId, create with
//! the enterprise extension, PATCH in Entra's dialect (capitalised ops, "False" strings,
//! `emails[type eq "work"].value`), groups created empty then filled in batches, soft delete
//! with `active: False`, hard DELETE.

use serde_json::{Value, json};

use super::{ScimApp, enc, ops};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn entra_user(user_name: &str, external_id: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ravi Rao", "familyName": "Rao", "givenName": "Ravi"},
        "roles": [],
        ENTERPRISE: {"employeeNumber": "701984", "department": "Sales", "manager": {"value": "boss-1"}}
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn entra_provisions_patches_and_deprovisions() {
    let s = ScimApp::new("entra").await;
    s.custom_role("sales-viewer").await;
    let (st, body) = s
        .app
        .put("/api/v2/connections/entra/mappings", json!([{"match": {"attribute": "department", "value": "Sales"}, "customRoles": ["sales-viewer"]}]))
        .await;
    assert_eq!(st, 200, "{body}");

    let r = s
        .get(&format!(
            "/Users?filter={}",
            enc(r#"userName eq "ravi@contoso.com""#)
        ))
        .await;
    assert_eq!(r.body["totalResults"], 0);
    let r = s
        .post("/Users", entra_user("ravi@contoso.com", "e-ravi"))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body[ENTERPRISE]["department"], "Sales");
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], "boss-1");
    let (_, m) = s.member(&id).await;
    assert_eq!(m["role"], "reader", "the connection's default role");
    assert_eq!(
        m["customRoles"],
        json!(["sales-viewer"]),
        "the department rule"
    );

    let r = s
        .get(&format!(
            "/Users?filter={}",
            enc(r#"externalId eq "e-ravi""#)
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    let r = s
        .get(&format!(
            "/Users?filter={}",
            enc(r#"emails[type eq "work"].value eq "RAVI@contoso.com""#)
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);

    // Entra's PATCH: capitalised ops, a value path, a dotted no-path key, a bare manager id.
    let r = s.patch(&format!("/Users/{id}"), ops(json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ravi.rao@contoso.com"},
        {"op": "Replace", "path": "name.familyName", "value": "Rao-Smith"},
        {"op": "Add", "value": {"displayName": "Ravi", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Marketing"}},
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "boss-2"}
    ]))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["emails"][0]["value"], "ravi.rao@contoso.com");
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], "boss-2");
    let (_, m) = s.member(&id).await;
    assert_eq!(m["email"], "ravi.rao@contoso.com");
    assert_eq!(m["lastName"], "Rao-Smith");
    assert_eq!(m["customRoles"], json!([]), "the rule no longer matches");
    let r = s.get(&format!("/Users?filter={}", enc(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "marketing""#))).await;
    assert_eq!(r.body["totalResults"], 1);

    // Groups: created without members, then many members in one Add, removed by value array.
    let mut members = Vec::new();
    for i in 0..40 {
        members.push(s.user(&format!("m{i}@contoso.com")).await);
    }
    let r = s.post("/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales Team", "externalId": "g-1"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gid = r.body["id"].as_str().unwrap().to_owned();
    let r = s
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            enc(r#"displayName eq "Sales Team""#)
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    assert!(r.body["Resources"][0].get("members").is_none());
    let add: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            ops(json!([{"op": "Add", "path": "members", "value": add}])),
        )
        .await;
    // Nobody reads the group back: no body, whatever the group's size.
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(r.body, Value::Null);
    let (_, team) = s.app.get("/api/v2/teams/sales-team").await;
    assert_eq!(team["memberIds"].as_array().unwrap().len(), 40);
    let remove: Vec<Value> = members[..10].iter().map(|m| json!({"value": m})).collect();
    let r = s
        .patch(
            &format!("/Groups/{gid}?excludedAttributes=members"),
            ops(json!([
                {"op": "Remove", "path": "members", "value": remove},
                {"op": "Replace", "path": "displayName", "value": "Sales EMEA"}
            ])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("members").is_none());
    let (_, team) = s.app.get("/api/v2/teams/sales-team").await;
    assert_eq!(team["memberIds"].as_array().unwrap().len(), 30);
    assert_eq!(team["name"], "Sales EMEA");
    // Adding members already there changes nothing and writes no entry.
    let before = s.scim_audit().await.len();
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            ops(json!([{"op": "Add", "path": "members", "value": [{"value": members[20]}]}])),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(s.scim_audit().await.len(), before);

    // Soft delete: active "False"; then the hard DELETE hides the user (the connection keeps
    // members), while the member record and its history stay.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            ops(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["active"], false);
    let r = s.delete(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 204);
    let r = s.get(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 404);
    let (st, m) = s.member(&id).await;
    assert_eq!(st, 200);
    assert_eq!(m["status"], "deactivated");
    let r = s
        .get(&format!(
            "/Users?filter={}",
            enc(r#"userName eq "ravi@contoso.com""#)
        ))
        .await;
    assert_eq!(r.body["totalResults"], 0);
    // Re-provisioning the same userName brings the member back.
    let r = s
        .post("/Users", entra_user("ravi@contoso.com", "e-ravi"))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["id"], id);
    let (_, m) = s.member(&id).await;
    assert_eq!(m["status"], "active");
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_removes_the_member_when_the_connection_says_so() {
    let s = ScimApp::with(json!({"key": "entra", "kind": "entra", "deprovision": "delete"})).await;
    let id = s.user("gone@contoso.com").await;
    let r = s
        .post(
            "/Groups",
            json!({"displayName": "G", "members": [{"value": id}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.delete(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 204);
    let (st, _) = s.member(&id).await;
    assert_eq!(st, 404);
    let r = s.get(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 404);
    let (_, team) = s.app.get("/api/v2/teams/g").await;
    assert_eq!(team["memberIds"], json!([]));
    let log = s.scim_audit().await;
    assert_eq!(log[0]["accesses"][0]["action"], "deleteMember");
    assert_eq!(log[0]["previousVersion"]["email"], "gone@contoso.com");
}
