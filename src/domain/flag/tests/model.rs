use serde_json::json;

use super::super::*;
use super::{bool_flag, multi_flag, state_for};

#[test]
fn key_checker() {
    for ok in ["a", "A1", "my-flag", "a.b_c-d", "9", &"a".repeat(128)] {
        assert!(is_valid_key(ok), "{ok}");
    }
    for bad in ["", "-a", ".a", "_a", "a b", "a/b", "é", &"a".repeat(129)] {
        assert!(!is_valid_key(bad), "{bad}");
    }
}

#[test]
fn variation_or_rollout_json_shapes() {
    let v: VariationOrRollout = serde_json::from_value(json!({"variation": 1})).unwrap();
    assert_eq!(v, VariationOrRollout::Variation(1));
    assert_eq!(serde_json::to_value(&v).unwrap(), json!({"variation": 1}));

    let r = json!({"rollout": {"variations": [{"variation": 0, "weight": 60000}, {"variation": 1, "weight": 40000}], "bucketBy": "org"}});
    let v: VariationOrRollout = serde_json::from_value(r.clone()).unwrap();
    assert!(
        matches!(&v, VariationOrRollout::Rollout(ro) if ro.bucket_by.as_deref() == Some("org") && ro.variations.len() == 2)
    );
    assert_eq!(serde_json::to_value(&v).unwrap(), r);

    for bad in [
        json!({}),
        json!({"variation": 0, "rollout": {"variations": []}}),
        json!({"variation": -1}),
        json!({"variation": "0"}),
        json!({"variation": 0, "extra": true}),
        json!({"rollout": {"bucketBy": "key"}}),
        json!({"rollout": {"variations": [{"variation": 0}]}}),
        json!(null),
        json!("0"),
    ] {
        assert!(
            serde_json::from_value::<VariationOrRollout>(bad.clone()).is_err(),
            "{bad}"
        );
    }
    // serde-derived structs also accept the sequence form; harmless, documented here.
    assert!(serde_json::from_value::<VariationOrRollout>(json!([0])).is_ok());
}

#[test]
fn rule_json_is_flat_like_launchdarkly() {
    let j = json!({"id": "r1", "clauses": [{"attribute": "email", "op": "endsWith", "values": ["@x.com"], "negate": false}], "variation": 0});
    let rule: Rule = serde_json::from_value(j.clone()).unwrap();
    assert_eq!(rule.variation_or_rollout, VariationOrRollout::Variation(0));
    assert_eq!(rule.clauses[0].op, ClauseOp::EndsWith);
    assert_eq!(serde_json::to_value(&rule).unwrap(), j);
    assert!(serde_json::from_value::<Rule>(json!({"id": "r1", "clauses": []})).is_err());
}

#[test]
fn clause_ops_parse_and_unknown_op_fails() {
    for op in [
        "in",
        "startsWith",
        "endsWith",
        "contains",
        "lessThan",
        "lessThanOrEqual",
        "greaterThan",
        "greaterThanOrEqual",
    ] {
        let c: Clause =
            serde_json::from_value(json!({"attribute": "a", "op": op, "values": [1]})).unwrap();
        assert_eq!(serde_json::to_value(c.op).unwrap(), json!(op));
        assert!(!c.negate);
    }
    for op in ["matches", "semVerEqual", "IN"] {
        assert!(
            serde_json::from_value::<Clause>(json!({"attribute": "a", "op": op, "values": []}))
                .is_err()
        );
    }
}

#[test]
fn state_json_round_trips_in_camel_case() {
    let mut s = state_for(&multi_flag());
    s.targets.push(Target {
        variation: 1,
        values: vec!["u1".into()],
    });
    let j = serde_json::to_value(&s).unwrap();
    assert_eq!(j["offVariation"], json!(2));
    assert_eq!(j["fallthrough"], json!({"variation": 0}));
    let back: FlagEnvironmentState = serde_json::from_value(j).unwrap();
    assert_eq!(back, s);
}

#[test]
fn settings_json_is_camel_case() {
    let mut s = bool_flag();
    s.maintainer_id = Some("m1".into());
    let j = serde_json::to_value(&s).unwrap();
    assert_eq!(j["maintainerId"], json!("m1"));
    assert_eq!(j["kind"], json!("boolean"));
    assert_eq!(j["variations"], json!([{"value": true}, {"value": false}]));
    let back: FlagSettings = serde_json::from_value(j).unwrap();
    assert_eq!(back, s);
}

#[test]
fn initial_state() {
    let b = bool_flag();
    let s = FlagEnvironmentState::initial(&b, "x".into());
    assert!(!s.on);
    assert_eq!(s.off_variation, Some(1));
    assert_eq!(b.variations[1].value, json!(false));
    assert_eq!(s.fallthrough, VariationOrRollout::Variation(0));
    assert_eq!(s.salt, "x");
    assert_eq!(state_for(&multi_flag()).off_variation, Some(2));
    // Un-normalized boolean settings still default to index 1.
    let mut raw = bool_flag();
    raw.variations.clear();
    assert_eq!(
        FlagEnvironmentState::initial(&raw, "x".into()).off_variation,
        Some(1)
    );
}

#[test]
fn normalize_defaults_boolean_and_sorts_tags() {
    let mut s: FlagSettings = serde_json::from_value(
        json!({"key": "k", "name": "K", "kind": "boolean", "tags": ["b", "a", "b"]}),
    )
    .unwrap();
    assert!(s.validate().is_err());
    s.normalize();
    assert_eq!(s.tags, vec!["a", "b"]);
    s.validate().unwrap();
}

fn settings_err(s: &FlagSettings) -> String {
    s.validate().unwrap_err().to_string()
}

#[test]
fn settings_validation() {
    bool_flag().validate().unwrap();
    multi_flag().validate().unwrap();

    let mut s = bool_flag();
    s.key = "bad key".into();
    assert!(settings_err(&s).starts_with("key: "));

    let mut s = bool_flag();
    s.name = "  ".into();
    assert_eq!(settings_err(&s), "name: must not be empty");

    let mut s = bool_flag();
    s.variations.reverse();
    assert!(settings_err(&s).starts_with("variations: boolean flags"));

    let mut s = multi_flag();
    s.variations.truncate(1);
    assert_eq!(
        settings_err(&s),
        "variations: multivariate flags need at least 2 variations"
    );

    let mut s = multi_flag();
    s.variations[2].value = json!(3);
    assert_eq!(
        settings_err(&s),
        "variations[2].value: is a number but variations[0] is a string; all variations must have one JSON type"
    );

    let mut s = multi_flag();
    s.variations[2].value = json!("a");
    assert_eq!(
        settings_err(&s),
        "variations[2].value: duplicates variations[0].value"
    );

    let mut s = multi_flag();
    s.variations[0].value = json!(null);
    assert_eq!(settings_err(&s), "variations[0].value: must not be null");

    let mut s = bool_flag();
    s.tags = vec!["ok".into(), "not ok".into()];
    assert!(settings_err(&s).starts_with("tags[1]: "));

    let mut s = bool_flag();
    s.maintainer_id = Some(String::new());
    assert_eq!(settings_err(&s), "maintainerId: must not be empty");
}

fn state_err(settings: &FlagSettings, s: &FlagEnvironmentState) -> String {
    s.validate(settings).unwrap_err().to_string()
}

fn rollout(weights: &[(usize, i64)]) -> VariationOrRollout {
    VariationOrRollout::Rollout(Rollout {
        variations: weights
            .iter()
            .map(|&(variation, weight)| WeightedVariation { variation, weight })
            .collect(),
        bucket_by: None,
    })
}

fn rule(id: &str, vor: VariationOrRollout) -> Rule {
    Rule {
        id: id.into(),
        description: None,
        clauses: vec![Clause {
            attribute: "a".into(),
            op: ClauseOp::In,
            values: vec![json!(1)],
            negate: false,
        }],
        variation_or_rollout: vor,
    }
}

#[test]
fn state_validation() {
    let f = multi_flag();
    let base = state_for(&f);
    base.validate(&f).unwrap();

    let mut s = base.clone();
    s.off_variation = Some(3);
    assert_eq!(
        state_err(&f, &s),
        "offVariation: variation 3 out of range (flag has 3 variations)"
    );

    let mut s = base.clone();
    s.fallthrough = rollout(&[(0, 50_000), (1, 40_000)]);
    assert_eq!(
        state_err(&f, &s),
        "fallthrough.rollout.variations: weights sum to 90000, must be 100000"
    );

    let mut s = base.clone();
    s.fallthrough = rollout(&[(0, 110_000), (1, -10_000)]);
    assert_eq!(
        state_err(&f, &s),
        "fallthrough.rollout.variations[1].weight: weight -10000 is negative"
    );

    let mut s = base.clone();
    s.fallthrough = rollout(&[(0, 50_000), (0, 50_000)]);
    assert!(state_err(&f, &s).starts_with("fallthrough.rollout.variations[1].variation: "));

    let mut s = base.clone();
    s.fallthrough = rollout(&[]);
    assert!(state_err(&f, &s).starts_with("fallthrough.rollout.variations: "));

    let mut s = base.clone();
    s.fallthrough = rollout(&[(0, 50_000), (5, 50_000)]);
    assert!(
        state_err(&f, &s)
            .starts_with("fallthrough.rollout.variations[1].variation: variation 5 out of range")
    );

    let mut s = base.clone();
    s.targets = vec![
        Target {
            variation: 0,
            values: vec!["u".into()],
        },
        Target {
            variation: 1,
            values: vec!["u".into()],
        },
    ];
    assert_eq!(
        state_err(&f, &s),
        "targets[1].values[0]: context key \"u\" is targeted more than once"
    );

    let mut s = base.clone();
    s.targets = vec![Target {
        variation: 9,
        values: vec!["u".into()],
    }];
    assert!(state_err(&f, &s).starts_with("targets[0].variation: "));

    let mut s = base.clone();
    s.rules = vec![
        rule("r", VariationOrRollout::Variation(0)),
        rule("r", VariationOrRollout::Variation(1)),
    ];
    assert_eq!(
        state_err(&f, &s),
        "rules[1].id: rule id \"r\" is used more than once"
    );

    let mut s = base.clone();
    s.rules = vec![rule("r", VariationOrRollout::Variation(7))];
    assert!(state_err(&f, &s).starts_with("rules[0].variation: "));

    let mut s = base.clone();
    let mut r = rule("r", VariationOrRollout::Variation(0));
    r.clauses.clear();
    s.rules = vec![r];
    assert_eq!(
        state_err(&f, &s),
        "rules[0].clauses: a rule needs at least one clause"
    );

    let mut s = base;
    let mut r = rule("r", VariationOrRollout::Variation(0));
    r.clauses[0].attribute.clear();
    s.rules = vec![r];
    assert_eq!(
        state_err(&f, &s),
        "rules[0].clauses[0].attribute: must not be empty"
    );
}
