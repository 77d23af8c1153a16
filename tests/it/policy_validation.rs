//! Statement validation, compile errors, explanations and resource rendering.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use gatehouse::domain::policy::{
    BasePermissions, CompiledRole, DecidedBy, DecisionReason, Effect, NO_TAGS, PolicyError,
    Resource, StatementInput, decide, validate, validate_document,
};
use serde_json::json;

fn err(policy: serde_json::Value, declared: &[&str]) -> PolicyError {
    let declared: Vec<String> = declared.iter().map(|s| (*s).to_owned()).collect();
    validate_document(&policy, &declared).expect_err("should fail")
}

#[test]
fn validation_errors_have_paths() {
    let ok = json!({"effect": "allow", "actions": ["*"], "resources": ["proj/*"]});
    let cases: Vec<(serde_json::Value, &[&str], &str, &str)> = vec![
        (json!({"a": 1}), &[], "policy", "JSON array"),
        (json!([ok, 3]), &[], "policy[1]", "JSON object"),
        (
            json!([{"effect": "allow", "actions": ["*"], "notActions": ["x"], "resources": ["proj/*"]}]),
            &[],
            "policy[0]",
            "not both",
        ),
        (
            json!([{"effect": "allow", "resources": ["proj/*"]}]),
            &[],
            "policy[0]",
            "one of `actions` or `notActions` is required",
        ),
        (
            json!([{"effect": "allow", "actions": ["*"]}]),
            &[],
            "policy[0]",
            "one of `resources` or `notResources`",
        ),
        (
            json!([{"effect": "allow", "actions": ["*"], "resources": ["proj/*"], "notResources": ["acct"]}]),
            &[],
            "policy[0]",
            "not both",
        ),
        (
            json!([ok, {"effect": "allow", "actions": [], "resources": ["proj/*"]}]),
            &[],
            "policy[1].actions",
            "must not be empty",
        ),
        (
            json!([{"effect": "allow", "actions": ["*"], "notResources": []}]),
            &[],
            "policy[0].notResources",
            "must not be empty",
        ),
        (
            json!([ok, ok, {"effect": "deny", "actions": ["updateOn", "UpdateOn"], "resources": ["proj/*"]}]),
            &[],
            "policy[2].actions[1]",
            "matches no known action",
        ),
        (
            json!([{"effect": "deny", "notActions": ["zzz*"], "resources": ["proj/*"]}]),
            &[],
            "policy[0].notActions[0]",
            "matches no known action",
        ),
        (
            json!([{"effect": "allow", "actions": ["*"], "resources": ["proj/*", "proj/default:env/!"]}]),
            &[],
            "policy[0].resources[1]",
            "unexpected '!' at 17: expected a resource name",
        ),
        (
            json!([{"effect": "allow", "actions": ["*"], "resources": ["proj/${roleAttribute/projects}"]}]),
            &["other"],
            "policy[0].resources[0]",
            "role attribute `projects` is not declared",
        ),
        (
            json!([{"effect": "allow", "actions": ["*"], "resources": ["proj/*"], "extra": true}]),
            &[],
            "policy[0]",
            "unknown field `extra`",
        ),
        (
            json!([{"actions": ["*"], "resources": ["proj/*"]}]),
            &[],
            "policy[0]",
            "missing field `effect`",
        ),
        (
            json!([{"effect": "permit", "actions": ["*"], "resources": ["proj/*"]}]),
            &[],
            "policy[0]",
            "unknown variant `permit`",
        ),
        (
            json!([{"effect": "Allow", "actions": ["*"], "resources": ["proj/*"]}]),
            &[],
            "policy[0]",
            "unknown variant",
        ),
        (
            json!([{"effect": "allow", "actions": "*", "resources": ["proj/*"]}]),
            &[],
            "policy[0]",
            "invalid type",
        ),
    ];
    for (i, (policy, declared, path, msg)) in cases.into_iter().enumerate() {
        let e = err(policy, declared);
        assert_eq!(e.path, path, "case {i}: {e}");
        assert!(e.message.contains(msg), "case {i}: {e}");
    }
}

#[test]
fn valid_policies_and_round_trip() {
    let policy = json!([
        {"effect": "allow", "actions": ["update*", "createFlag"], "resources": ["proj/${roleAttribute/p}:env/*;{critical:false}:flag/*;a,b"]},
        {"effect": "deny", "notActions": ["viewProject"], "notResources": ["acct", "member/*:token/*"]},
        {"effect": "allow", "actions": ["*"], "resources": ["proj/*"], "notActions": null}
    ]);
    let statements = validate_document(&policy, &["p".to_owned()]).unwrap();
    assert_eq!(statements.len(), 3);
    assert!(statements[1].actions.negated && statements[1].resources.negated);
    let back: Vec<serde_json::Value> = statements
        .iter()
        .map(|s| serde_json::to_value(s.to_input()).unwrap())
        .collect();
    assert_eq!(back[0], policy[0]);
    assert_eq!(back[1], policy[1]);
    let again = validate(&back, &["p".to_owned()]).unwrap();
    assert_eq!(again, statements);
    let typed: Vec<StatementInput> = serde_json::from_value(policy).unwrap();
    assert_eq!(typed.len(), 3);
}

#[test]
fn compile_requires_attribute_values() {
    let policy = json!([
        {"effect": "allow", "actions": ["*"], "resources": ["proj/*"]},
        {"effect": "deny", "actions": ["*"], "notResources": ["proj/${roleAttribute/p}:env/*"]}
    ]);
    let statements = validate_document(&policy, &["p".to_owned()]).unwrap();
    let e = CompiledRole::compile(
        "r",
        &statements,
        BasePermissions::NoAccess,
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert_eq!(e.path, "policy[1].notResources[0]");
    assert!(e.message.contains("`p`"), "{e}");
    let mut attrs = BTreeMap::new();
    attrs.insert("p".to_owned(), Vec::new());
    assert!(CompiledRole::compile("r", &statements, BasePermissions::NoAccess, &attrs).is_err());
    // explosion guard
    let many: Vec<String> = (0..100).map(|i| format!("v{i}")).collect();
    attrs.insert("p".to_owned(), many);
    let big = json!([{"effect": "allow", "actions": ["*"], "resources": [
        "proj/${roleAttribute/p}:env/${roleAttribute/p}:flag/${roleAttribute/p}"]}]);
    let statements = validate_document(&big, &["p".to_owned()]).unwrap();
    let e = CompiledRole::compile("r", &statements, BasePermissions::NoAccess, &attrs).unwrap_err();
    assert_eq!(e.path, "policy[0].resources[0]");
}

fn role(policy: serde_json::Value, base: BasePermissions) -> CompiledRole {
    let statements = validate_document(&policy, &[]).unwrap();
    CompiledRole::compile("r", &statements, base, &BTreeMap::new()).unwrap()
}

#[test]
fn decisions_explain_themselves() {
    let a = role(
        json!([
            {"effect": "allow", "actions": ["updateOn"], "resources": ["proj/*:env/*:flag/*"]},
            {"effect": "deny", "actions": ["*"], "resources": ["proj/*:env/production:flag/*"]},
            {"effect": "allow", "actions": ["*"], "resources": ["proj/*:env/*:flag/*"]}
        ]),
        BasePermissions::NoAccess,
    );
    let b = role(
        json!([{"effect": "allow", "actions": ["updateRules"], "resources": ["proj/*:env/*:flag/*"]}]),
        BasePermissions::Reader,
    );
    let prod = Resource::project("p", NO_TAGS)
        .env("production", NO_TAGS, true)
        .flag("f", NO_TAGS);
    let test = Resource::project("p", NO_TAGS)
        .env("test", NO_TAGS, false)
        .flag("f", NO_TAGS);

    let d = decide(&[&a, &b], "updateOn", &prod);
    assert!(!d.allowed);
    assert_eq!(d.reason, DecisionReason::Statement);
    assert_eq!(
        d.decided_by,
        Some(DecidedBy {
            role_index: 0,
            statement_index: 1,
            effect: Effect::Deny
        })
    );
    let d = decide(&[&a, &b], "updateRules", &prod);
    assert!(d.allowed);
    assert_eq!(
        d.decided_by,
        Some(DecidedBy {
            role_index: 1,
            statement_index: 0,
            effect: Effect::Allow
        })
    );
    let d = decide(&[&a, &b], "updateOn", &test);
    assert_eq!(
        d.decided_by,
        Some(DecidedBy {
            role_index: 0,
            statement_index: 0,
            effect: Effect::Allow
        })
    );
    let d = decide(&[&a, &b], "viewTeam", &Resource::team("t"));
    assert!(d.allowed);
    assert_eq!(d.reason, DecisionReason::BasePermissions { role_index: 1 });
    let d = decide(&[&a], "viewProject", &Resource::project("p", NO_TAGS));
    assert!(d.allowed);
    assert_eq!(
        d.reason,
        DecisionReason::ViewProjectDefault { role_index: 0 }
    );
    let d = decide(&[&a], "createTeam", &Resource::team("t"));
    assert_eq!(
        (d.allowed, d.reason, d.decided_by),
        (false, DecisionReason::NotMatched, None)
    );
    let d = decide(&[&a], "nope", &Resource::team("t"));
    assert_eq!(d.reason, DecisionReason::UnknownAction);
}

#[test]
fn resource_display_and_parse() {
    let r = Resource::project("default", &["mobile"])
        .env("production", NO_TAGS, true)
        .flag("my-flag", &["beta"]);
    assert_eq!(
        r.to_string(),
        "proj/default;mobile:env/production;{critical:true}:flag/my-flag;beta"
    );
    assert_eq!(r.to_string().parse::<Resource>().unwrap(), r);
    let r2 = Resource::project("p", &["z", "a", "a"]).env("e", &["t"], false);
    assert_eq!(r2.to_string(), "proj/p;a,z:env/e;t,{critical:false}");
    // selectors in any order normalise
    let parsed: Resource = "proj/p;z,a:env/e;{critical:false},t".parse().unwrap();
    assert_eq!(parsed, r2);
    for r in [
        Resource::member("0b5e-uuid").token("tok"),
        Resource::service_token("ci"),
        Resource::team("ops"),
        Resource::role("dev"),
        Resource::connection("okta"),
        Resource::acct(),
        Resource::project("p", NO_TAGS)
            .env("e", NO_TAGS, false)
            .var("DB_URL"),
        Resource::project("p", NO_TAGS)
            .env("e", NO_TAGS, false)
            .request("r-1"),
        Resource::project("p", NO_TAGS)
            .env("e", NO_TAGS, false)
            .segment("s", &["x"]),
    ] {
        assert!(r.is_well_formed(), "{r}");
        assert_eq!(r.to_string().parse::<Resource>().unwrap(), r);
    }
    assert_eq!(Resource::acct().to_string(), "acct");
    for bad in [
        "proj/*",
        "proj/${roleAttribute/x}",
        "proj/a;t*",
        "flag/x",
        "proj/a b",
        "",
    ] {
        assert!(bad.parse::<Resource>().is_err(), "{bad}");
    }
    assert!(!Resource::project("a:b", NO_TAGS).is_well_formed());
}

#[test]
fn role_attributes_are_declared_by_use() {
    use gatehouse::domain::policy::validate_declaring;
    let policy = [
        json!({"effect": "allow", "actions": ["updateOn"], "resources": [
        "proj/${roleAttribute/projects}:env/${roleAttribute/envs}:flag/*",
        "proj/${roleAttribute/projects}:env/*;${roleAttribute/envs}:flag/*"]}),
    ];
    let (statements, used) = validate_declaring(&policy).unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(used, ["projects", "envs"]);
    // An explicit list must cover every attribute used; the error names the one missing.
    let e = validate(&policy, &["projects".to_owned()]).unwrap_err();
    assert_eq!(e.path, "policy[0].resources[0]");
    assert!(e.message.contains("`envs`"), "{}", e.message);
    // A policy without placeholders declares nothing.
    let plain = [json!({"effect": "allow", "actions": ["*"], "resources": ["proj/*"]})];
    assert!(validate_declaring(&plain).unwrap().1.is_empty());
}
