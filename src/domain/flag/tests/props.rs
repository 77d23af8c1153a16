use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::super::*;
use super::{bool_flag, multi_flag, state_for};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|n| json!(n)),
        "[a-z0-9\"]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z0-9]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const KINDS: &[&str] = &[
    "turnFlagOn",
    "turnFlagOff",
    "updateOffVariation",
    "updateFallthroughVariationOrRollout",
    "addTargets",
    "removeTargets",
    "addRule",
    "removeRule",
    "addTags",
    "removeTags",
    "updateName",
    "updateDescription",
    "makeFlagTemporary",
    "makeFlagPermanent",
    "updateMaintainerMember",
    "removeMaintainer",
    "archiveFlag",
    "restoreFlag",
    "bogus",
];
const PARAMS: &[&str] = &[
    "variation",
    "values",
    "value",
    "rolloutWeights",
    "rolloutBucketBy",
    "clauses",
    "description",
    "beforeRuleId",
    "ruleId",
];

/// Objects shaped like instructions (known kind, known parameter names) with arbitrary values,
/// so the fuzzing reaches `apply` instead of stopping at serde.
fn arb_instruction_json() -> impl Strategy<Value = Value> {
    let param_value = prop_oneof![
        arb_json(),
        (0usize..4).prop_map(|n| json!(n)),
        prop::collection::vec("[a-z]{0,3}", 0..4).prop_map(|v| json!(v)),
        prop::collection::btree_map("[0-4x]{1,2}", -10_000i64..110_000, 0..4)
            .prop_map(|m| json!(m)),
        Just(json!([{"attribute": "key", "op": "in", "values": ["a"]}])),
    ];
    (
        prop::sample::select(KINDS),
        prop::collection::btree_map(prop::sample::select(PARAMS), param_value, 0..4),
    )
        .prop_map(|(kind, params)| {
            let mut obj: Map<String, Value> = params
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            obj.insert("kind".into(), json!(kind));
            Value::Object(obj)
        })
}

fn arb_weights() -> impl Strategy<Value = BTreeMap<String, i64>> {
    prop_oneof![
        // A proper split over up to 4 indexes (index 3 is out of range for 3 variations).
        (0usize..4, 0usize..4, 0i64..=100_000).prop_map(|(a, b, w)| {
            let mut m = BTreeMap::new();
            m.insert(a.to_string(), w);
            *m.entry(b.to_string()).or_insert(0) += 100_000 - w;
            m
        }),
        prop::collection::btree_map(
            (0usize..4).prop_map(|i| i.to_string()),
            -1_000i64..100_001,
            1..4
        ),
    ]
}

fn arb_clause() -> impl Strategy<Value = Clause> {
    let ops = vec![
        ClauseOp::In,
        ClauseOp::StartsWith,
        ClauseOp::EndsWith,
        ClauseOp::Contains,
        ClauseOp::LessThan,
        ClauseOp::LessThanOrEqual,
        ClauseOp::GreaterThan,
        ClauseOp::GreaterThanOrEqual,
    ];
    let value = prop_oneof![
        prop::sample::select(vec!["u1", "u2", "free", "pro", "be", ""]).prop_map(|s| json!(s)),
        (-5i64..50).prop_map(|n| json!(n)),
    ];
    (
        prop::sample::select(vec!["key", "plan", "age", "groups", "missing", ""]),
        prop::sample::select(ops),
        prop::collection::vec(value, 0..3),
        any::<bool>(),
    )
        .prop_map(|(attribute, op, values, negate)| Clause {
            attribute: attribute.into(),
            op,
            values,
            negate,
        })
}

fn keys() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop::sample::select(vec!["u1", "u2", "u3", "u4", ""]).prop_map(String::from),
        0..4,
    )
}

fn rule_id() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["r1", "r2", "r3", "r4", "nope"]).prop_map(String::from)
}

/// Typed instructions, mostly valid, with small indexes and id pools so they interact.
fn arb_instruction() -> impl Strategy<Value = Instruction> {
    let variation = 0usize..4;
    prop_oneof![
        Just(Instruction::TurnFlagOn {}),
        Just(Instruction::TurnFlagOff {}),
        variation
            .clone()
            .prop_map(|variation| Instruction::UpdateOffVariation { variation }),
        (
            prop::option::of(variation.clone()),
            prop::option::of(arb_weights()),
            prop::option::of(prop::sample::select(vec!["key", "plan", ""]).prop_map(String::from))
        )
            .prop_map(|(variation, rollout_weights, rollout_bucket_by)| {
                Instruction::UpdateFallthroughVariationOrRollout {
                    variation,
                    rollout_weights,
                    rollout_bucket_by,
                }
            }),
        (variation.clone(), keys())
            .prop_map(|(variation, values)| Instruction::AddTargets { variation, values }),
        (variation.clone(), keys())
            .prop_map(|(variation, values)| Instruction::RemoveTargets { variation, values }),
        (
            prop::collection::vec(arb_clause(), 0..3),
            prop::option::of(variation.clone()),
            prop::option::of(arb_weights()),
            prop::option::of(rule_id()),
        )
            .prop_map(|(clauses, variation, rollout_weights, before_rule_id)| {
                Instruction::AddRule {
                    clauses,
                    variation,
                    rollout_weights,
                    rollout_bucket_by: None,
                    description: None,
                    before_rule_id,
                }
            }),
        rule_id().prop_map(|rule_id| Instruction::RemoveRule { rule_id }),
        keys().prop_map(|values| Instruction::AddTags { values }),
        keys().prop_map(|values| Instruction::RemoveTags { values }),
        "[a-z ]{0,5}".prop_map(|value| Instruction::UpdateName { value }),
        Just(Instruction::MakeFlagTemporary {}),
        Just(Instruction::ArchiveFlag {}),
        Just(Instruction::RemoveMaintainer {}),
    ]
}

fn arb_context() -> impl Strategy<Value = Context> {
    (
        prop::sample::select(vec!["u1", "u2", "u3", "u5", ""]),
        prop::option::of(prop::sample::select(vec!["free", "pro"])),
        prop::option::of(-5i64..50),
        prop::option::of(prop::collection::vec(
            prop::sample::select(vec!["be", "pro"]),
            0..3,
        )),
    )
        .prop_map(|(key, plan, age, groups)| {
            let mut ctx = Context::new(key);
            if let Some(p) = plan {
                ctx = ctx.with("plan", json!(p));
            }
            if let Some(a) = age {
                ctx = ctx.with("age", json!(a));
            }
            if let Some(g) = groups {
                ctx = ctx.with("groups", json!(g));
            }
            ctx
        })
}

/// Apply instructions one patch at a time, keeping each successful result, and
/// check the invariants after every success.
fn build(instructions: &[Instruction]) -> (FlagSettings, FlagEnvironmentState, usize) {
    let mut settings = multi_flag();
    let mut state = state_for(&settings);
    let mut next = 0;
    let mut ids = move || {
        next += 1;
        // Ids drawn from the same pool as removeRule/beforeRuleId, so they hit; collisions are refused.
        format!("r{}", next % 5)
    };
    let mut ok = 0;
    for instruction in instructions {
        if let Ok(applied) = apply(
            &settings,
            Some(&state),
            std::slice::from_ref(instruction),
            &mut ids,
        ) {
            settings = applied.settings;
            state = applied.state.unwrap();
            settings.validate().unwrap();
            state.validate(&settings).unwrap();
            ok += 1;
        }
    }
    (settings, state, ok)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_json_never_panics(
        list in prop::collection::vec(prop_oneof![arb_json(), arb_instruction_json(), arb_instruction_json()], 0..6),
        with_env in any::<bool>(),
        boolean in any::<bool>(),
    ) {
        let settings = if boolean { bool_flag() } else { multi_flag() };
        let state = state_for(&settings);
        if let Ok(instructions) = Instruction::parse_list(&Value::Array(list)) {
            let mut n = 0;
            let result = apply(&settings, with_env.then_some(&state), &instructions, &mut || { n += 1; format!("id{n}") });
            if let Ok(applied) = result {
                applied.settings.validate().unwrap();
                if let Some(s) = &applied.state {
                    s.validate(&applied.settings).unwrap();
                }
            }
        }
    }

    #[test]
    fn arbitrary_json_model_never_panics(v in arb_json()) {
        let _ = serde_json::from_value::<FlagEnvironmentState>(v.clone());
        let _ = serde_json::from_value::<VariationOrRollout>(v.clone());
        let _ = serde_json::from_value::<Rule>(v);
    }

    #[test]
    fn valid_instruction_lists_keep_state_valid(list in prop::collection::vec(arb_instruction(), 0..24)) {
        build(&list);
    }

    #[test]
    fn whole_patch_result_is_valid(list in prop::collection::vec(arb_instruction(), 0..6)) {
        let settings = multi_flag();
        let state = state_for(&settings);
        let mut n = 0;
        if let Ok(applied) = apply(&settings, Some(&state), &list, &mut || { n += 1; format!("id{n}") }) {
            applied.settings.validate().unwrap();
            applied.state.unwrap().validate(&applied.settings).unwrap();
        }
    }

    #[test]
    fn evaluation_is_deterministic_and_in_range(
        list in prop::collection::vec(arb_instruction(), 0..24),
        contexts in prop::collection::vec(arb_context(), 1..8),
    ) {
        let (settings, state, _) = build(&list);
        for ctx in &contexts {
            let first = evaluate(&settings, &state, ctx);
            prop_assert_eq!(&first, &evaluate(&settings, &state, ctx));
            prop_assert!(!matches!(first.reason, Reason::Error { .. }), "error reason: {:?}", first.reason);
            match first.variation_index {
                Some(i) => prop_assert_eq!(&first.value, &settings.variations[i].value),
                None => prop_assert_eq!(&first.value, &Value::Null),
            }
        }
    }

    #[test]
    fn bucket_is_in_range(flag in ".{0,8}", salt in ".{0,8}", key in ".{0,8}") {
        prop_assert!(bucket_value(&flag, &salt, &key) <= 100_000);
    }
}

#[test]
fn generated_instructions_often_succeed() {
    // Guard against the property above passing vacuously.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut total = 0;
    for _ in 0..50 {
        let list = prop::collection::vec(arb_instruction(), 24)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        total += build(&list).2;
    }
    assert!(total > 300, "only {total} of 1200 instructions applied");
}
