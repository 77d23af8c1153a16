use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::domain::scim::error::ScimFailure;
use crate::domain::scim::schema::{
    ENTERPRISE_URN, GATEHOUSE_URN, GROUP, LAUNCHDARKLY_URN, USER, USER_URN,
};

fn user() -> Map<String, Value> {
    canonicalize(
        &USER,
        &json!({
            "userName": "ann@example.com", "active": true, "displayName": "Ann",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"value": "ann@example.com", "type": "work", "primary": true},
                       {"value": "ann@home.example", "type": "home"}],
            ENTERPRISE_URN: {"department": "Sales"}
        }),
    )
    .unwrap()
}

fn patch(doc: &Map<String, Value>, body: Value) -> ScimResult<Value> {
    let ops = parse_patch(&body)?;
    apply(&USER, doc, "id-1", &ops).map(Value::Object)
}

fn ops(list: Value) -> Value {
    json!({"schemas": [PATCH_OP_URN], "Operations": list})
}

#[test]
fn okta_deactivates_without_a_path() {
    let out = patch(
        &user(),
        ops(json!([{"op": "replace", "value": {"active": false}}])),
    )
    .unwrap();
    assert_eq!(out["active"], false);
}

#[test]
fn entra_dialect() {
    let out = patch(
        &user(),
        ops(json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ann.lee@example.com"},
            {"op": "Add", "path": "emails[type eq \"other\"].value", "value": "x@other.example"},
            {"op": "Replace", "value": {"name.givenName": "Annie", "displayName": "Annie Lee",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "boss"}},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Ops"},
            {"op": "Remove", "path": "emails[type eq \"home\"]"}
        ])),
    )
    .unwrap();
    assert_eq!(out["active"], false);
    assert_eq!(
        out["name"],
        json!({"givenName": "Annie", "familyName": "Lee"})
    );
    assert_eq!(out["displayName"], "Annie Lee");
    assert_eq!(
        out["emails"],
        json!([{"value": "ann.lee@example.com", "type": "work", "primary": true},
               {"type": "other", "value": "x@other.example"}])
    );
    assert_eq!(
        out[ENTERPRISE_URN],
        json!({"department": "Ops", "manager": {"value": "boss"}})
    );
}

#[test]
fn add_appends_without_duplicates_and_keeps_one_primary() {
    let out = patch(
        &user(),
        ops(json!([{"op": "add", "path": "emails", "value": [
            {"value": "ANN@example.com", "type": "work"},
            {"value": "new@example.com", "type": "work", "primary": true}]}])),
    )
    .unwrap();
    let emails = out["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 3);
    let primaries: Vec<_> = emails.iter().filter(|e| e["primary"] == true).collect();
    assert_eq!(primaries.len(), 1);
    assert_eq!(primaries[0]["value"], "new@example.com");
}

#[test]
fn roles_through_every_alias() {
    let out = patch(
        &user(),
        ops(json!([
            {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:launchdarkly:2.0:User:role", "value": "writer"},
            {"op": "add", "path": "customRole", "value": "dev,qa"},
        ])),
    )
    .unwrap();
    assert_eq!(
        out[GATEHOUSE_URN],
        json!({"role": "writer", "customRole": ["dev", "qa"]})
    );
    let out = patch(
        &user(),
        ops(json!([{"op": "replace", "value": {LAUNCHDARKLY_URN: {"customRole": ["x"]}}}])),
    )
    .unwrap();
    assert_eq!(out[GATEHOUSE_URN], json!({"customRole": ["x"]}));
}

#[test]
fn rfc6902_bodies() {
    let out = patch(
        &user(),
        json!([
            {"op": "replace", "path": "/name/givenName", "value": "A"},
            {"op": "add", "path": "/emails/-", "value": {"value": "c@example.com"}},
            {"op": "remove", "path": "/emails/1"},
            {"op": "test", "path": "/userName", "value": "ann@example.com"},
            {"op": "add", "path": "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User/division", "value": "EU"},
        ]),
    )
    .unwrap();
    assert_eq!(out["name"]["givenName"], "A");
    assert_eq!(out["emails"].as_array().unwrap().len(), 2);
    assert_eq!(out["emails"][1]["value"], "c@example.com");
    assert_eq!(out[ENTERPRISE_URN]["division"], "EU");
    let e = patch(
        &user(),
        json!([{"op": "test", "path": "/userName", "value": "bob"}]),
    )
    .unwrap_err();
    assert_eq!(e.scim_type.unwrap().as_str(), "invalidValue");
    let e = patch(&user(), json!([{"op": "move", "from": "/a", "path": "/b"}])).unwrap_err();
    assert_eq!(e.scim_type.unwrap().as_str(), "invalidSyntax");
    let e = patch(
        &user(),
        json!([{"op": "replace", "path": "/nickName", "value": "x"}]),
    )
    .unwrap_err();
    assert_eq!(e.scim_type.unwrap().as_str(), "noTarget");
}

#[test]
fn errors_are_typed_and_nothing_applies() {
    let cases = [
        (json!([{"op": "remove"}]), "noTarget"),
        (
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            "mutability",
        ),
        (
            json!([{"op": "replace", "path": "meta.created", "value": "x"}]),
            "mutability",
        ),
        (
            json!([{"op": "replace", "value": {"id": "other"}}]),
            "mutability",
        ),
        (
            json!([{"op": "replace", "path": "groups", "value": []}]),
            "mutability",
        ),
        (
            json!([{"op": "replace", "path": "nope", "value": 1}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq", "value": 1}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "emails[nope eq 1].value", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "emails[type co \"x\"].value", "value": "x"}]),
            "noTarget",
        ),
        (
            json!([{"op": "replace", "path": "active", "value": "perhaps"}]),
            "invalidValue",
        ),
        (
            json!([{"op": "replace", "path": "userName", "value": 3}]),
            "invalidValue",
        ),
        (
            json!([{"op": "frobnicate", "path": "userName", "value": 3}]),
            "invalidSyntax",
        ),
        (json!([{"op": "add", "path": "userName"}]), "invalidValue"),
        (json!([]), "invalidSyntax"),
    ];
    let doc = user();
    for (list, kind) in cases {
        let e = patch(&doc, ops(list.clone())).unwrap_err();
        assert_eq!(e.scim_type.map(|t| t.as_str()), Some(kind), "{list}: {e}");
    }
    // The id may be repeated unchanged (Okta sends it when renaming a group).
    assert!(
        patch(
            &doc,
            ops(json!([{"op": "replace", "value": {"id": "id-1", "displayName": "x"}}]))
        )
        .is_ok()
    );
    let e = patch(&doc, json!({"schemas": ["urn:x"], "Operations": []})).unwrap_err();
    assert_eq!(e.scim_type.unwrap().as_str(), "invalidSyntax");
}

#[test]
fn group_member_operations_split_off() {
    let body = json!({"schemas": [PATCH_OP_URN], "Operations": [
        {"op": "Add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
        {"op": "Remove", "path": "members[value eq \"a\"]"},
        {"op": "remove", "path": "members", "value": [{"value": "b"}]},
        {"op": "remove", "path": "members[display co \"x\"]"},
        {"op": "replace", "value": {"id": "g", "displayName": "Eng", "members": [{"value": "c"}]}},
        {"op": "remove", "path": "members"}
    ]});
    let (rest, members) = split_member_ops(&GROUP, parse_patch(&body).unwrap()).unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(
        members[..3],
        [
            MemberChange::Add(vec!["a".into(), "b".into()]),
            MemberChange::Remove(vec!["a".into()]),
            MemberChange::Remove(vec!["b".into()]),
        ]
    );
    assert!(matches!(members[3], MemberChange::RemoveWhere(_)));
    assert_eq!(members[4], MemberChange::Replace(vec!["c".into()]));
    assert_eq!(members[5], MemberChange::RemoveAll);
    let doc = canonicalize(&GROUP, &json!({"displayName": "Old"})).unwrap();
    let out = apply(&GROUP, &doc, "g", &rest).unwrap();
    assert_eq!(out["displayName"], "Eng");
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-zA-Z@. ]{0,8}".prop_map(Value::String),
        Just(json!("False")),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}|value|type|givenName", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn any_path() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        Just("userName".to_owned()),
        Just("active".to_owned()),
        Just("name.givenName".to_owned()),
        Just("emails".to_owned()),
        Just("emails[type eq \"work\"].value".to_owned()),
        Just("emails[value co \"@\"]".to_owned()),
        Just("id".to_owned()),
        Just(format!("{ENTERPRISE_URN}:department")),
        Just(ENTERPRISE_URN.to_owned()),
        "[a-z\\[\\]. \"]{0,12}",
    ])
}

fn any_op() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just("add"), Just("Replace"), Just("remove"), Just("bogus")],
        any_path(),
        proptest::option::of(any_json()),
    )
        .prop_map(|(op, path, value)| {
            let mut o = Map::new();
            o.insert("op".into(), json!(op));
            if let Some(p) = path {
                o.insert("path".into(), json!(p));
            }
            if let Some(v) = value {
                o.insert("value".into(), v);
            }
            Value::Object(o)
        })
}

proptest! {
    /// A request either applies completely (and the result is canonical, so applying
    /// canonicalisation again changes nothing) or fails with the document untouched.
    #[test]
    fn patch_is_atomic_and_never_panics(list in prop::collection::vec(any_op(), 0..6)) {
        let doc = user();
        let before = doc.clone();
        let body = ops(Value::Array(list.clone()));
        match parse_patch(&body).and_then(|o| apply(&USER, &doc, "id-1", &o)) {
            Ok(out) => {
                let again = canonicalize(&USER, &Value::Object(out.clone())).unwrap();
                prop_assert_eq!(&again, &out);
                // Applying the operations one request at a time gives the same result.
                let mut step = doc.clone();
                for op in &list {
                    let one = parse_patch(&ops(json!([op]))).unwrap();
                    step = apply(&USER, &step, "id-1", &one).unwrap();
                }
                prop_assert_eq!(step.get("userName"), out.get("userName"));
            }
            Err(e) => prop_assert!(
                matches!(e.failure, ScimFailure::BadRequest | ScimFailure::PayloadTooLarge),
                "{e:?}"
            ),
        }
        prop_assert_eq!(doc, before);
    }

    #[test]
    fn any_body_never_panics(body in any_json()) {
        if let Ok(o) = parse_patch(&body) {
            let _ = apply(&USER, &user(), "id-1", &o);
            let _ = split_member_ops(&GROUP, o);
        }
    }
}

#[test]
fn a_failing_operation_undoes_the_earlier_ones() {
    let doc = user();
    let e = patch(
        &doc,
        ops(json!([
            {"op": "replace", "path": "userName", "value": "changed"},
            {"op": "replace", "path": "id", "value": "x"}
        ])),
    )
    .unwrap_err();
    assert!(e.detail.starts_with("Operations[1]"), "{e}");
    assert_eq!(doc["userName"], "ann@example.com");
    assert_eq!(doc["schemas"], json!([USER_URN, ENTERPRISE_URN]));
}
