//! Comparing a flag's state between two environments.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{Clause, FlagEnvironmentState, FlagSettings, VariationOrRollout};

/// One field that differs between two environments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    /// `on`, `offVariation`, `fallthrough`, `targets` or `rules`.
    pub field: String,
    /// The field's JSON in the `from` environment.
    pub from: Value,
    /// The field's JSON in the `to` environment.
    pub to: Value,
}

/// The fields that differ from `from` to `to`, in the fixed order
/// `on`, `offVariation`, `fallthrough`, `targets`, `rules`.
///
/// Equality is semantic, not textual: `salt` is ignored (it differs per environment by design),
/// targets compare as a set of (variation, key) pairs, and rules compare by clauses and
/// variation/rollout in order, ignoring rule ids and descriptions (ids are generated per
/// environment). The reported `from`/`to` values are the fields as stored, ids included.
/// `settings` is not consulted yet; it is in the signature so callers need not change when
/// differences start rendering variation values.
pub fn compare(
    _settings: &FlagSettings,
    from: &FlagEnvironmentState,
    to: &FlagEnvironmentState,
) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut push = |field: &str, differs: bool, a: Value, b: Value| {
        if differs {
            out.push(Difference {
                field: field.to_owned(),
                from: a,
                to: b,
            });
        }
    };
    push("on", from.on != to.on, json(&from.on), json(&to.on));
    push(
        "offVariation",
        from.off_variation != to.off_variation,
        json(&from.off_variation),
        json(&to.off_variation),
    );
    push(
        "fallthrough",
        from.fallthrough != to.fallthrough,
        json(&from.fallthrough),
        json(&to.fallthrough),
    );
    push(
        "targets",
        target_set(from) != target_set(to),
        json(&from.targets),
        json(&to.targets),
    );
    push(
        "rules",
        rule_shapes(from) != rule_shapes(to),
        json(&from.rules),
        json(&to.rules),
    );
    out
}

fn json<T: Serialize>(value: &T) -> Value {
    // Model types always serialize; Null is an unreachable fallback that avoids a panic path.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn target_set(state: &FlagEnvironmentState) -> BTreeMap<usize, BTreeSet<&str>> {
    let mut set: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
    for target in &state.targets {
        set.entry(target.variation)
            .or_default()
            .extend(target.values.iter().map(String::as_str));
    }
    set.retain(|_, keys| !keys.is_empty());
    set
}

fn rule_shapes(state: &FlagEnvironmentState) -> Vec<(&[Clause], &VariationOrRollout)> {
    state
        .rules
        .iter()
        .map(|r| (r.clauses.as_slice(), &r.variation_or_rollout))
        .collect()
}
