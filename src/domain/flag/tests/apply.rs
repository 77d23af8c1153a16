use serde_json::json;

use super::super::*;
use super::{bool_flag, id_gen, ins, multi_flag, state_for};

/// Apply JSON instructions to the multivariate flag in a fresh environment.
fn run(instructions: serde_json::Value) -> Result<Applied, FlagError> {
    let f = multi_flag();
    let s = state_for(&f);
    run_on(&f, &s, instructions)
}

fn run_on(
    f: &FlagSettings,
    s: &FlagEnvironmentState,
    instructions: serde_json::Value,
) -> Result<Applied, FlagError> {
    let list = Instruction::parse_list(&instructions)?;
    apply(f, Some(s), &list, &mut id_gen())
}

fn state(a: &Applied) -> &FlagEnvironmentState {
    a.state.as_ref().unwrap()
}

fn err(instructions: serde_json::Value) -> String {
    run(instructions).unwrap_err().to_string()
}

#[test]
fn turn_on_and_off_and_idempotence() {
    let a = run(json!([{"kind": "turnFlagOn"}])).unwrap();
    assert!(state(&a).on && a.state_changed && !a.settings_changed);
    let again = run_on(&a.settings, state(&a), json!([{"kind": "turnFlagOn"}])).unwrap();
    assert!(!again.state_changed);
    let off = run_on(&a.settings, state(&a), json!([{"kind": "turnFlagOff"}])).unwrap();
    assert!(!state(&off).on && off.state_changed);
    // on then off within one patch is no change at all.
    let net = run(json!([{"kind": "turnFlagOn"}, {"kind": "turnFlagOff"}])).unwrap();
    assert!(!net.state_changed);
}

#[test]
fn env_instruction_without_environment() {
    let f = bool_flag();
    let e = apply(
        &f,
        None,
        &[
            ins(json!({"kind": "addTags", "values": ["x"]})),
            ins(json!({"kind": "turnFlagOn"})),
        ],
        &mut id_gen(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "instructions[1]: turnFlagOn needs environmentKey"
    );
    assert!(matches!(
        e,
        FlagError::NeedsEnvironment {
            kind: "turnFlagOn",
            ..
        }
    ));
}

#[test]
fn project_instructions_without_environment() {
    let f = bool_flag();
    let a = apply(
        &f,
        None,
        &[ins(json!({"kind": "addTags", "values": ["x"]}))],
        &mut id_gen(),
    )
    .unwrap();
    assert!(a.settings_changed && !a.state_changed && a.state.is_none());
    assert_eq!(a.settings.tags, vec!["x"]);
}

#[test]
fn update_off_variation() {
    let a = run(json!([{"kind": "updateOffVariation", "variation": 0}])).unwrap();
    assert_eq!(state(&a).off_variation, Some(0));
    assert_eq!(
        err(json!([{"kind": "turnFlagOn"}, {"kind": "updateOffVariation", "variation": 3}])),
        "instructions[1].variation: variation 3 out of range (flag has 3 variations)"
    );
    assert!(
        err(json!([{"kind": "updateOffVariation"}]))
            .starts_with("instructions[0]: missing field `variation`")
    );
}

#[test]
fn update_fallthrough_variation() {
    let a = run(json!([{"kind": "updateFallthroughVariationOrRollout", "variation": 2}])).unwrap();
    assert_eq!(state(&a).fallthrough, VariationOrRollout::Variation(2));
    assert!(
        err(json!([{"kind": "updateFallthroughVariationOrRollout", "variation": 3}]))
            .starts_with("instructions[0].variation: ")
    );
}

#[test]
fn update_fallthrough_rollout() {
    let a = run(json!([{"kind": "updateFallthroughVariationOrRollout", "rolloutWeights": {"2": 10000, "0": 60000, "1": 30000}, "rolloutBucketBy": "org"}])).unwrap();
    let VariationOrRollout::Rollout(r) = &state(&a).fallthrough else {
        panic!("not a rollout")
    };
    let pairs: Vec<(usize, i64)> = r
        .variations
        .iter()
        .map(|w| (w.variation, w.weight))
        .collect();
    assert_eq!(pairs, vec![(0, 60000), (1, 30000), (2, 10000)]);
    assert_eq!(r.bucket_by.as_deref(), Some("org"));
}

#[test]
fn update_fallthrough_errors() {
    let k = "updateFallthroughVariationOrRollout";
    assert_eq!(
        err(
            json!([{"kind": "turnFlagOn"}, {"kind": "turnFlagOff"}, {"kind": k, "rolloutWeights": {"0": 50000, "1": 40000}}])
        ),
        "instructions[2].rolloutWeights: weights sum to 90000, must be 100000"
    );
    assert_eq!(
        err(json!([{"kind": k, "rolloutWeights": {"0": 110000, "1": -10000}}])),
        "instructions[0].rolloutWeights[\"1\"]: weight -10000 is negative"
    );
    assert_eq!(
        err(json!([{"kind": k, "rolloutWeights": {"x": 100000}}])),
        "instructions[0].rolloutWeights[\"x\"]: key \"x\" is not a variation index"
    );
    assert!(err(json!([{"kind": k, "rolloutWeights": {"3": 100000}}])).contains("out of range"));
    assert!(
        err(json!([{"kind": k, "rolloutWeights": {"1": 50000, "01": 50000}}]))
            .contains("more than once")
    );
    assert_eq!(
        err(json!([{"kind": k}])),
        "instructions[0]: exactly one of variation or rolloutWeights is required"
    );
    assert_eq!(
        err(json!([{"kind": k, "variation": 0, "rolloutWeights": {"0": 100000}}])),
        "instructions[0]: exactly one of variation or rolloutWeights is required"
    );
    assert_eq!(
        err(json!([{"kind": k, "variation": 0, "rolloutBucketBy": "org"}])),
        "instructions[0].rolloutBucketBy: only applies together with rolloutWeights"
    );
}

fn targets(a: &Applied) -> Vec<(usize, Vec<&str>)> {
    state(a)
        .targets
        .iter()
        .map(|t| (t.variation, t.values.iter().map(String::as_str).collect()))
        .collect()
}

#[test]
fn add_targets_moves_keys_between_variations() {
    let a = run(json!([
        {"kind": "addTargets", "variation": 2, "values": ["u1", "u2"]},
        {"kind": "addTargets", "variation": 0, "values": ["u3", "u1", "u3"]},
    ]))
    .unwrap();
    assert_eq!(targets(&a), vec![(0, vec!["u3", "u1"]), (2, vec!["u2"])]);
    // Moving the last key out drops the empty list.
    let b = run_on(
        &a.settings,
        state(&a),
        json!([{"kind": "addTargets", "variation": 0, "values": ["u2"]}]),
    )
    .unwrap();
    assert_eq!(targets(&b), vec![(0, vec!["u3", "u1", "u2"])]);
    // Re-adding is a no-op.
    let c = run_on(
        &b.settings,
        state(&b),
        json!([{"kind": "addTargets", "variation": 0, "values": ["u1"]}]),
    )
    .unwrap();
    assert!(!c.state_changed);
}

#[test]
fn add_targets_errors() {
    assert!(
        err(json!([{"kind": "addTargets", "variation": 3, "values": ["u"]}]))
            .starts_with("instructions[0].variation: ")
    );
    assert_eq!(
        err(json!([{"kind": "addTargets", "variation": 0, "values": []}])),
        "instructions[0].values: must not be empty"
    );
    assert_eq!(
        err(json!([{"kind": "addTargets", "variation": 0, "values": ["ok", ""]}])),
        "instructions[0].values[1]: context key must not be empty"
    );
}

#[test]
fn remove_targets() {
    let a = run(json!([
        {"kind": "addTargets", "variation": 1, "values": ["u1", "u2"]},
        {"kind": "removeTargets", "variation": 1, "values": ["u1", "nobody"]},
    ]))
    .unwrap();
    assert_eq!(targets(&a), vec![(1, vec!["u2"])]);
    let b = run_on(
        &a.settings,
        state(&a),
        json!([{"kind": "removeTargets", "variation": 1, "values": ["u2"]}]),
    )
    .unwrap();
    assert!(state(&b).targets.is_empty());
    // Removing from the wrong variation does nothing.
    let c = run_on(
        &a.settings,
        state(&a),
        json!([{"kind": "removeTargets", "variation": 0, "values": ["u2"]}]),
    )
    .unwrap();
    assert!(!c.state_changed);
    assert!(
        err(json!([{"kind": "removeTargets", "variation": 9, "values": ["u"]}]))
            .starts_with("instructions[0].variation: ")
    );
}

fn clause() -> serde_json::Value {
    json!({"attribute": "email", "op": "endsWith", "values": ["@corp.com"]})
}

#[test]
fn add_rule_appends_and_inserts_before() {
    let a = run(json!([
        {"kind": "addRule", "clauses": [clause()], "variation": 1, "description": "corp"},
        {"kind": "addRule", "clauses": [clause()], "rolloutWeights": {"0": 50000, "1": 50000}},
        {"kind": "addRule", "clauses": [clause()], "variation": 2, "beforeRuleId": "rule-2"},
    ]))
    .unwrap();
    let rules = &state(&a).rules;
    let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec!["rule-1", "rule-3", "rule-2"]);
    assert_eq!(rules[0].description.as_deref(), Some("corp"));
    assert_eq!(rules[0].clauses[0].op, ClauseOp::EndsWith);
    assert!(matches!(
        rules[2].variation_or_rollout,
        VariationOrRollout::Rollout(_)
    ));
}

#[test]
fn add_rule_errors() {
    assert_eq!(
        err(
            json!([{"kind": "addRule", "clauses": [clause()], "variation": 0, "beforeRuleId": "nope"}])
        ),
        "instructions[0].beforeRuleId: no rule with id \"nope\""
    );
    assert!(matches!(
        run(
            json!([{"kind": "addRule", "clauses": [clause()], "variation": 0, "beforeRuleId": "nope"}])
        ),
        Err(FlagError::NotFound { .. })
    ));
    assert_eq!(
        err(json!([{"kind": "addRule", "clauses": [], "variation": 0}])),
        "instructions[0].clauses: a rule needs at least one clause"
    );
    assert_eq!(
        err(
            json!([{"kind": "addRule", "clauses": [{"attribute": "a", "op": "in", "values": []}], "variation": 0}])
        ),
        "instructions[0].clauses[0].values: a clause needs at least one value"
    );
    assert_eq!(
        err(json!([{"kind": "addRule", "clauses": [clause()]}])),
        "instructions[0]: exactly one of variation or rolloutWeights is required"
    );
    assert_eq!(
        err(json!([{"kind": "addRule", "clauses": [clause()], "rolloutWeights": {"0": 1}}])),
        "instructions[0].rolloutWeights: weights sum to 1, must be 100000"
    );
    assert!(err(json!([{"kind": "addRule", "clauses": [{"attribute": "a", "op": "matches", "values": ["x"]}], "variation": 0}]))
        .starts_with("instructions[0]: "));
    // A generator that repeats ids is caught rather than corrupting state.
    let f = multi_flag();
    let s = state_for(&f);
    let list = Instruction::parse_list(&json!([
        {"kind": "addRule", "clauses": [clause()], "variation": 0},
        {"kind": "addRule", "clauses": [clause()], "variation": 0},
    ]))
    .unwrap();
    let e = apply(&f, Some(&s), &list, &mut || "same".to_string()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "instructions[1]: generated rule id \"same\" is empty or already in use"
    );
}

#[test]
fn remove_rule() {
    let a = run(json!([
        {"kind": "addRule", "clauses": [clause()], "variation": 1},
        {"kind": "addRule", "clauses": [clause()], "variation": 2},
        {"kind": "removeRule", "ruleId": "rule-1"},
    ]))
    .unwrap();
    let ids: Vec<&str> = state(&a).rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec!["rule-2"]);
    let e = run(json!([{"kind": "removeRule", "ruleId": "ghost"}])).unwrap_err();
    assert!(matches!(e, FlagError::NotFound { .. }));
    assert_eq!(
        e.to_string(),
        "instructions[0].ruleId: no rule with id \"ghost\""
    );
    assert_eq!(e.path(), "instructions[0].ruleId");
}

#[test]
fn tags() {
    let a = run(json!([{"kind": "addTags", "values": ["zeta", "alpha", "zeta"]}])).unwrap();
    assert_eq!(a.settings.tags, vec!["alpha", "zeta"]);
    assert!(a.settings_changed && !a.state_changed);
    let b = run_on(
        &a.settings,
        state(&a),
        json!([{"kind": "removeTags", "values": ["zeta", "missing"]}]),
    )
    .unwrap();
    assert_eq!(b.settings.tags, vec!["alpha"]);
    let c = run_on(
        &b.settings,
        state(&b),
        json!([{"kind": "removeTags", "values": ["missing"]}]),
    )
    .unwrap();
    assert!(!c.settings_changed);
    assert!(
        err(json!([{"kind": "addTags", "values": ["ok", "bad tag"]}]))
            .starts_with("instructions[0].values[1]: ")
    );
}

#[test]
fn name_and_description() {
    let a = run(json!([{"kind": "updateName", "value": "New"}, {"kind": "updateDescription", "value": "Why"}])).unwrap();
    assert_eq!(
        (a.settings.name.as_str(), a.settings.description.as_str()),
        ("New", "Why")
    );
    assert_eq!(
        err(json!([{"kind": "updateName", "value": " "}])),
        "instructions[0].value: must not be empty"
    );
    assert!(
        err(json!([{"kind": "updateName"}])).starts_with("instructions[0]: missing field `value`")
    );
}

#[test]
fn temporary_maintainer_archive() {
    let a = run(json!([
        {"kind": "makeFlagTemporary"},
        {"kind": "updateMaintainerMember", "value": "m-1"},
        {"kind": "archiveFlag"},
    ]))
    .unwrap();
    assert!(a.settings.temporary && a.settings.archived);
    assert_eq!(a.settings.maintainer_id.as_deref(), Some("m-1"));
    let b = run_on(
        &a.settings,
        state(&a),
        json!([
            {"kind": "makeFlagPermanent"},
            {"kind": "removeMaintainer"},
            {"kind": "restoreFlag"},
        ]),
    )
    .unwrap();
    assert_eq!(b.settings, multi_flag());
    assert_eq!(
        err(json!([{"kind": "updateMaintainerMember", "value": ""}])),
        "instructions[0].value: must not be empty"
    );
}

#[test]
fn all_or_nothing() {
    let f = multi_flag();
    let s = state_for(&f);
    let list = Instruction::parse_list(&json!([
        {"kind": "turnFlagOn"},
        {"kind": "addTags", "values": ["t"]},
        {"kind": "removeRule", "ruleId": "ghost"},
    ]))
    .unwrap();
    let e = apply(&f, Some(&s), &list, &mut id_gen()).unwrap_err();
    assert_eq!(e.path(), "instructions[2].ruleId");
}

#[test]
fn result_is_revalidated() {
    // Input that was already invalid is refused rather than persisted further.
    let f = multi_flag();
    let mut s = state_for(&f);
    s.off_variation = Some(9);
    let e = apply(
        &f,
        Some(&s),
        &[ins(json!({"kind": "turnFlagOn"}))],
        &mut id_gen(),
    )
    .unwrap_err();
    assert_eq!(e.path(), "offVariation");
}

#[test]
fn parse_errors_name_the_index() {
    let e =
        Instruction::parse_list(&json!([{"kind": "turnFlagOn"}, {"kind": "explode"}])).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("instructions[1]: unknown variant `explode`"),
        "{e}"
    );
    let e = Instruction::parse_list(&json!([{"kind": "turnFlagOn", "extra": 1}])).unwrap_err();
    assert!(e.to_string().contains("unknown field `extra`"), "{e}");
    let e = Instruction::parse_list(
        &json!([{"kind": "addTargets", "variation": 0, "values": ["u"], "variationId": "x"}]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown field `variationId`"), "{e}");
    assert!(Instruction::parse_list(&json!({"kind": "turnFlagOn"})).is_err());
    assert!(Instruction::parse_list(&json!([{"variation": 0}])).is_err());
}

#[test]
fn instructions_serialize_back_to_launchdarkly_json() {
    let j = json!([
        {"kind": "turnFlagOn"},
        {"kind": "updateFallthroughVariationOrRollout", "rolloutWeights": {"0": 60000, "1": 40000}, "rolloutBucketBy": "org"},
        {"kind": "addRule", "clauses": [{"attribute": "a", "op": "in", "values": [1], "negate": true}], "variation": 0, "beforeRuleId": "r"},
        {"kind": "removeRule", "ruleId": "r"},
        {"kind": "updateMaintainerMember", "value": "m"},
    ]);
    let list = Instruction::parse_list(&j).unwrap();
    assert_eq!(serde_json::to_value(&list).unwrap(), j);
}

#[test]
fn action_scope_and_kind_table() {
    use InstructionScope::{Environment as E, Project as P};
    let cases = [
        (json!({"kind": "turnFlagOn"}), "updateOn", E),
        (json!({"kind": "turnFlagOff"}), "updateOn", E),
        (
            json!({"kind": "updateOffVariation", "variation": 0}),
            "updateOffVariation",
            E,
        ),
        (
            json!({"kind": "updateFallthroughVariationOrRollout", "variation": 0}),
            "updateFallthrough",
            E,
        ),
        (
            json!({"kind": "addTargets", "variation": 0, "values": []}),
            "updateTargets",
            E,
        ),
        (
            json!({"kind": "removeTargets", "variation": 0, "values": []}),
            "updateTargets",
            E,
        ),
        (json!({"kind": "addRule", "clauses": []}), "updateRules", E),
        (
            json!({"kind": "removeRule", "ruleId": "r"}),
            "updateRules",
            E,
        ),
        (json!({"kind": "addTags", "values": []}), "updateTags", P),
        (json!({"kind": "removeTags", "values": []}), "updateTags", P),
        (json!({"kind": "updateName", "value": "n"}), "updateName", P),
        (
            json!({"kind": "updateDescription", "value": "d"}),
            "updateDescription",
            P,
        ),
        (json!({"kind": "makeFlagTemporary"}), "updateTemporary", P),
        (json!({"kind": "makeFlagPermanent"}), "updateTemporary", P),
        (
            json!({"kind": "updateMaintainerMember", "value": "m"}),
            "updateMaintainer",
            P,
        ),
        (json!({"kind": "removeMaintainer"}), "updateMaintainer", P),
        (json!({"kind": "archiveFlag"}), "updateGlobalArchived", P),
        (json!({"kind": "restoreFlag"}), "updateGlobalArchived", P),
    ];
    for (j, action, scope) in cases {
        let i = ins(j.clone());
        assert_eq!(i.action(), action, "{j}");
        assert_eq!(i.scope(), scope, "{j}");
        assert_eq!(json!(i.kind()), j["kind"]);
    }
}
