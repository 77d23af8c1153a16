use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use super::super::*;
use super::{bool_flag, multi_flag, state_for};

fn on_state(f: &FlagSettings) -> FlagEnvironmentState {
    let mut s = state_for(f);
    s.on = true;
    s
}

fn rule_with(clauses: Vec<Clause>, variation: usize) -> Rule {
    Rule {
        id: "r1".into(),
        description: None,
        clauses,
        variation_or_rollout: VariationOrRollout::Variation(variation),
    }
}

fn clause(attribute: &str, op: ClauseOp, values: Vec<Value>, negate: bool) -> Clause {
    Clause {
        attribute: attribute.into(),
        op,
        values,
        negate,
    }
}

fn half_half() -> VariationOrRollout {
    VariationOrRollout::Rollout(Rollout {
        variations: vec![
            WeightedVariation {
                variation: 0,
                weight: 50_000,
            },
            WeightedVariation {
                variation: 1,
                weight: 50_000,
            },
        ],
        bucket_by: None,
    })
}

#[test]
fn off_serves_off_variation() {
    let f = bool_flag();
    let s = state_for(&f);
    let e = evaluate(&f, &s, &Context::new("u"));
    assert_eq!((e.variation_index, e.value), (Some(1), json!(false)));
    assert_eq!(
        serde_json::to_value(&e.reason).unwrap(),
        json!({"kind": "OFF"})
    );

    let mut s = s;
    s.off_variation = None;
    let e = evaluate(&f, &s, &Context::new("u"));
    assert_eq!(
        (e.variation_index, e.value, e.reason),
        (None, Value::Null, Reason::Off)
    );
}

#[test]
fn target_beats_rules_and_fallthrough() {
    let f = multi_flag();
    let mut s = on_state(&f);
    s.targets = vec![Target {
        variation: 2,
        values: vec!["vip".into()],
    }];
    s.rules = vec![rule_with(
        vec![clause("key", ClauseOp::In, vec![json!("vip")], false)],
        1,
    )];
    let e = evaluate(&f, &s, &Context::new("vip"));
    assert_eq!((e.variation_index, e.value.clone()), (Some(2), json!("c")));
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"variationIndex": 2, "value": "c", "reason": {"kind": "TARGET_MATCH"}})
    );
    assert_eq!(
        evaluate(&f, &s, &Context::new("other")).reason,
        Reason::Fallthrough {
            bucket: None,
            rollout: false
        }
    );
}

#[test]
fn fallthrough_fixed() {
    let f = multi_flag();
    let s = on_state(&f);
    let e = evaluate(&f, &s, &Context::new("u"));
    assert_eq!((e.variation_index, e.value.clone()), (Some(0), json!("a")));
    assert_eq!(
        serde_json::to_value(&e.reason).unwrap(),
        json!({"kind": "FALLTHROUGH"})
    );
}

/// Does a single-clause rule match this context?
fn matches(c: Clause, ctx: &Context) -> bool {
    let f = multi_flag();
    let mut s = on_state(&f);
    s.rules = vec![rule_with(vec![c], 1)];
    matches!(evaluate(&f, &s, ctx).reason, Reason::RuleMatch { .. })
}

#[test]
fn each_operator() {
    use ClauseOp::*;
    let ctx = Context::new("user-1")
        .with("email", json!("ann@corp.com"))
        .with("age", json!(30))
        .with("score", json!(2.5))
        .with("groups", json!(["beta", "staff"]))
        .with("admin", json!(true))
        .with("nothing", Value::Null);
    let cases: Vec<(&str, ClauseOp, Vec<Value>, bool)> = vec![
        ("key", In, vec![json!("x"), json!("user-1")], true),
        ("key", In, vec![json!("user-2")], false),
        ("age", In, vec![json!(30.0)], true),
        ("age", In, vec![json!("30")], false),
        ("admin", In, vec![json!(true)], true),
        ("groups", In, vec![json!("staff")], true),
        ("groups", In, vec![json!("ops")], false),
        ("email", StartsWith, vec![json!("ann@")], true),
        ("email", StartsWith, vec![json!("bob@")], false),
        ("email", EndsWith, vec![json!("@corp.com")], true),
        ("email", EndsWith, vec![json!("@other.com")], false),
        ("email", Contains, vec![json!("@corp")], true),
        ("email", Contains, vec![json!("zzz")], false),
        ("age", StartsWith, vec![json!("3")], false),
        ("email", Contains, vec![json!(1)], false),
        ("age", LessThan, vec![json!(31)], true),
        ("age", LessThan, vec![json!(30)], false),
        ("age", LessThanOrEqual, vec![json!(30)], true),
        ("age", LessThanOrEqual, vec![json!(29)], false),
        ("score", GreaterThan, vec![json!(2)], true),
        ("score", GreaterThan, vec![json!(2.5)], false),
        ("score", GreaterThanOrEqual, vec![json!(2.5)], true),
        ("score", GreaterThanOrEqual, vec![json!(3)], false),
        ("email", LessThan, vec![json!("zzz")], false),
        ("age", GreaterThan, vec![json!("1")], false),
    ];
    for (attr, op, values, expected) in cases {
        let c = clause(attr, op, values.clone(), false);
        assert_eq!(matches(c, &ctx), expected, "{attr} {op:?} {values:?}");
    }
}

#[test]
fn negate_and_missing_attributes() {
    let ctx = Context::new("u")
        .with("plan", json!("free"))
        .with("nil", Value::Null);
    assert!(matches(
        clause("plan", ClauseOp::In, vec![json!("pro")], true),
        &ctx
    ));
    assert!(!matches(
        clause("plan", ClauseOp::In, vec![json!("free")], true),
        &ctx
    ));
    // Missing (or null) never matches, negated or not.
    for attr in ["missing", "nil"] {
        assert!(!matches(
            clause(attr, ClauseOp::In, vec![json!("x")], false),
            &ctx
        ));
        assert!(!matches(
            clause(attr, ClauseOp::In, vec![json!("x")], true),
            &ctx
        ));
    }
    // `key` always resolves to the context key, whatever the attribute map says.
    let shadow = Context::new("real").with("key", json!("fake"));
    assert!(matches(
        clause("key", ClauseOp::In, vec![json!("real")], false),
        &shadow
    ));
}

#[test]
fn rules_and_clauses_and_order() {
    let f = multi_flag();
    let mut s = on_state(&f);
    let mut first = rule_with(
        vec![
            clause("plan", ClauseOp::In, vec![json!("pro")], false),
            clause("country", ClauseOp::In, vec![json!("FR")], false),
        ],
        1,
    );
    first.id = "both".into();
    let mut second = rule_with(
        vec![clause("plan", ClauseOp::In, vec![json!("pro")], false)],
        2,
    );
    second.id = "plan-only".into();
    s.rules = vec![first, second];

    let both = Context::new("u")
        .with("plan", json!("pro"))
        .with("country", json!("FR"));
    let e = evaluate(&f, &s, &both);
    assert_eq!(e.variation_index, Some(1));
    assert_eq!(
        serde_json::to_value(&e.reason).unwrap(),
        json!({"kind": "RULE_MATCH", "ruleIndex": 0, "ruleId": "both"})
    );

    let plan_only = Context::new("u").with("plan", json!("pro"));
    let e = evaluate(&f, &s, &plan_only);
    assert_eq!(e.variation_index, Some(2));
    assert_eq!(
        e.reason,
        Reason::RuleMatch {
            rule_index: 1,
            rule_id: "plan-only".into(),
            bucket: None,
            rollout: false
        }
    );
}

/// The bucket computed step by step exactly as the spec describes it.
fn by_hand(input: &str) -> u32 {
    let hex: String = Sha1::digest(input.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let value = u64::from_str_radix(&hex[..15], 16).unwrap();
    ((value as f64 / 0xFFF_FFFF_FFFF_FFFF_u64 as f64) * 100_000.0) as u32
}

#[test]
fn bucket_matches_hand_computation() {
    for (flag, salt, key) in [
        ("my-flag", "salt", "user-1"),
        ("hashKey", "saltyA", "userKeyA"),
        ("f", "", ""),
    ] {
        assert_eq!(
            bucket_value(flag, salt, key),
            by_hand(&format!("{flag}.{salt}.{key}"))
        );
    }
    // LaunchDarkly SDK test vectors (bucketUser "hashKey"/"saltyA": 0.42157587, 0.6708485, 0.10343106).
    assert_eq!(bucket_value("hashKey", "saltyA", "userKeyA"), 42157);
    assert_eq!(bucket_value("hashKey", "saltyA", "userKeyB"), 67084);
    assert_eq!(bucket_value("hashKey", "saltyA", "userKeyC"), 10343);
}

#[test]
fn rollout_distribution_is_even() {
    let f = bool_flag();
    let mut s = on_state(&f);
    s.fallthrough = half_half();
    let trues = (0..10_000)
        .filter(|i| evaluate(&f, &s, &Context::new(format!("user-{i}"))).value == json!(true))
        .count();
    assert!((4_800..=5_200).contains(&trues), "{trues}");
}

#[test]
fn rollout_reason_reports_bucket() {
    let f = bool_flag();
    let mut s = on_state(&f);
    s.fallthrough = half_half();
    let ctx = Context::new("user-1");
    let bucket = bucket_value("my-flag", "salt", "user-1");
    let e = evaluate(&f, &s, &ctx);
    assert_eq!(e.variation_index, Some(if bucket < 50_000 { 0 } else { 1 }));
    assert_eq!(
        serde_json::to_value(&e.reason).unwrap(),
        json!({"kind": "FALLTHROUGH", "bucket": bucket, "rollout": true})
    );
    // Deterministic.
    assert_eq!(evaluate(&f, &s, &ctx), e);

    s.rules = vec![Rule {
        variation_or_rollout: half_half(),
        ..rule_with(
            vec![clause("key", ClauseOp::In, vec![json!("user-1")], false)],
            0,
        )
    }];
    let e = evaluate(&f, &s, &ctx);
    assert_eq!(
        serde_json::to_value(&e.reason).unwrap(),
        json!({"kind": "RULE_MATCH", "ruleIndex": 0, "ruleId": "r1", "bucket": bucket, "rollout": true})
    );
}

#[test]
fn bucket_by_attribute_types() {
    let f = bool_flag();
    let mut s = on_state(&f);
    // 0..50000 -> true, so bucket 0 always serves true.
    let VariationOrRollout::Rollout(mut r) = half_half() else {
        unreachable!()
    };
    r.bucket_by = Some("org".into());
    s.fallthrough = VariationOrRollout::Rollout(r);
    let bucket_of = |ctx: &Context| match evaluate(&f, &s, ctx).reason {
        Reason::Fallthrough {
            bucket: Some(b),
            rollout: true,
        } => b,
        other => panic!("{other:?}"),
    };
    // Same org, different keys: same bucket.
    let a = bucket_of(&Context::new("u1").with("org", json!("acme")));
    assert_eq!(a, bucket_of(&Context::new("u2").with("org", json!("acme"))));
    assert_eq!(a, bucket_value("my-flag", "salt", "acme"));
    // Integers are stringified (5.0 counts as an integer, as in LD).
    assert_eq!(
        bucket_of(&Context::new("u").with("org", json!(42))),
        bucket_value("my-flag", "salt", "42")
    );
    assert_eq!(
        bucket_of(&Context::new("u").with("org", json!(5.0))),
        bucket_value("my-flag", "salt", "5")
    );
    // Other types and missing attributes bucket to 0.
    for v in [json!(1.5), json!(true), json!(["a"]), json!({"a": 1})] {
        assert_eq!(bucket_of(&Context::new("u").with("org", v)), 0);
    }
    assert_eq!(bucket_of(&Context::new("u")), 0);
}

#[test]
fn last_variation_when_rounding_leaves_none() {
    // Zero-weight tail: a bucket at or past the total lands on the last entry.
    let f = bool_flag();
    let mut s = on_state(&f);
    s.fallthrough = VariationOrRollout::Rollout(Rollout {
        variations: vec![
            WeightedVariation {
                variation: 0,
                weight: 0,
            },
            WeightedVariation {
                variation: 1,
                weight: 0,
            },
        ],
        bucket_by: None,
    });
    assert_eq!(
        evaluate(&f, &s, &Context::new("u")).variation_index,
        Some(1)
    );
}

#[test]
fn malformed_state_is_an_error_reason_not_a_panic() {
    let f = bool_flag();
    let mut s = on_state(&f);
    s.fallthrough = VariationOrRollout::Variation(7);
    let e = evaluate(&f, &s, &Context::new("u"));
    assert_eq!(e.variation_index, None);
    assert_eq!(
        serde_json::to_value(&e.reason).unwrap(),
        json!({"kind": "ERROR", "errorKind": "MALFORMED_FLAG"})
    );
    s.fallthrough = VariationOrRollout::Rollout(Rollout {
        variations: vec![],
        bucket_by: None,
    });
    assert!(matches!(
        evaluate(&f, &s, &Context::new("u")).reason,
        Reason::Error { .. }
    ));
}

#[test]
fn reason_json_round_trips() {
    for r in [
        Reason::Off,
        Reason::TargetMatch,
        Reason::RuleMatch {
            rule_index: 2,
            rule_id: "x".into(),
            bucket: Some(5),
            rollout: true,
        },
        Reason::Fallthrough {
            bucket: None,
            rollout: false,
        },
        Reason::Error {
            error_kind: EvalErrorKind::MalformedFlag,
        },
    ] {
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(serde_json::from_value::<Reason>(j).unwrap(), r);
    }
}
