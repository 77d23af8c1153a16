use serde_json::json;

use super::super::*;
use super::{id_gen, multi_flag, state_for};

fn patched(
    f: &FlagSettings,
    s: &FlagEnvironmentState,
    j: serde_json::Value,
    ids: &mut dyn FnMut() -> String,
) -> FlagEnvironmentState {
    let list = Instruction::parse_list(&j).unwrap();
    apply(f, Some(s), &list, ids).unwrap().state.unwrap()
}

#[test]
fn identical_states_and_salt_only_differ_not_at_all() {
    let f = multi_flag();
    let a = state_for(&f);
    let mut b = a.clone();
    b.salt = "other".into();
    assert!(compare(&f, &a, &b).is_empty());
}

#[test]
fn each_field_in_fixed_order() {
    let f = multi_flag();
    let a = state_for(&f);
    let b = patched(
        &f,
        &a,
        json!([
            {"kind": "addRule", "clauses": [{"attribute": "a", "op": "in", "values": [1]}], "variation": 1},
            {"kind": "addTargets", "variation": 1, "values": ["u"]},
            {"kind": "updateFallthroughVariationOrRollout", "variation": 1},
            {"kind": "updateOffVariation", "variation": 0},
            {"kind": "turnFlagOn"},
        ]),
        &mut id_gen(),
    );
    let d = compare(&f, &a, &b);
    let fields: Vec<&str> = d.iter().map(|x| x.field.as_str()).collect();
    assert_eq!(
        fields,
        vec!["on", "offVariation", "fallthrough", "targets", "rules"]
    );
    assert_eq!((&d[0].from, &d[0].to), (&json!(false), &json!(true)));
    assert_eq!((&d[1].from, &d[1].to), (&json!(2), &json!(0)));
    assert_eq!(d[2].to, json!({"variation": 1}));
    assert_eq!(d[3].to, json!([{"variation": 1, "values": ["u"]}]));
    assert_eq!(d[4].from, json!([]));
    assert_eq!(d[4].to[0]["id"], json!("rule-1"));
    assert_eq!(
        serde_json::to_value(&d[0]).unwrap(),
        json!({"field": "on", "from": false, "to": true})
    );
}

#[test]
fn rule_ids_and_target_order_are_ignored() {
    let f = multi_flag();
    let base = state_for(&f);
    let rule = json!({"kind": "addRule", "clauses": [{"attribute": "a", "op": "in", "values": [1]}], "variation": 1, "description": "x"});
    let a = patched(
        &f,
        &base,
        json!([rule.clone(), {"kind": "addTargets", "variation": 0, "values": ["u1", "u2"]}]),
        &mut id_gen(),
    );
    let mut other = rule;
    other["description"] = json!("y");
    let b = patched(
        &f,
        &base,
        json!([other, {"kind": "addTargets", "variation": 0, "values": ["u2", "u1"]}]),
        &mut || "env-b-rule".to_string(),
    );
    assert!(compare(&f, &a, &b).is_empty());

    // A different clause or rule order is a difference.
    let c = patched(
        &f,
        &a,
        json!([{"kind": "addRule", "clauses": [{"attribute": "b", "op": "in", "values": [2]}], "variation": 2, "beforeRuleId": "rule-1"}]),
        &mut || "new".to_string(),
    );
    let d = compare(&f, &a, &c);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].field, "rules");
}
