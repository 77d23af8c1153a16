//! Invariants of settings and environment state. Helpers take the field path
//! so instruction handlers can reuse them and report `instructions[i]...` paths.

use std::collections::HashSet;

use serde_json::Value;

use super::error::FlagError;
use super::model::{
    Clause, FlagEnvironmentState, FlagKind, FlagSettings, Rollout, TOTAL_WEIGHT, VariationOrRollout,
};

/// Longest accepted tag, name and context-key strings (keeps rows bounded).
const MAX_TEXT: usize = 256;

/// Whether `key` matches `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$` (hand-written: no regex crate).
pub fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    first_ok
        && key.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl FlagSettings {
    /// Check the project-wide invariants. Run [`FlagSettings::normalize`] first on client input.
    pub fn validate(&self) -> Result<(), FlagError> {
        if !is_valid_key(&self.key) {
            return Err(FlagError::invalid(
                "key",
                "must start with a letter or digit, contain only letters, digits, '.', '_' or '-', and be at most 128 characters",
            ));
        }
        check_name("name", &self.name)?;
        match self.kind {
            FlagKind::Boolean => {
                let values: Vec<&Value> = self.variations.iter().map(|v| &v.value).collect();
                if values != [&Value::Bool(true), &Value::Bool(false)] {
                    return Err(FlagError::invalid(
                        "variations",
                        "boolean flags must have exactly the variations [true, false]",
                    ));
                }
            }
            FlagKind::Multivariate => {
                if self.variations.len() < 2 {
                    return Err(FlagError::invalid(
                        "variations",
                        "multivariate flags need at least 2 variations",
                    ));
                }
            }
        }
        let first_type = self.variations.first().map(|v| json_type(&v.value));
        for (i, variation) in self.variations.iter().enumerate() {
            let path = format!("variations[{i}].value");
            let ty = json_type(&variation.value);
            if ty == "null" {
                return Err(FlagError::invalid(path, "must not be null"));
            }
            if Some(ty) != first_type {
                return Err(FlagError::invalid(
                    path,
                    format!(
                        "is a {ty} but variations[0] is a {}; all variations must have one JSON type",
                        first_type.unwrap_or("null")
                    ),
                ));
            }
            let earlier = self.variations.iter().take(i);
            if let Some(j) = earlier
                .clone()
                .position(|other| other.value == variation.value)
            {
                return Err(FlagError::invalid(
                    path,
                    format!("duplicates variations[{j}].value"),
                ));
            }
        }
        for (i, tag) in self.tags.iter().enumerate() {
            check_tag(&format!("tags[{i}]"), tag)?;
        }
        if let Some(maintainer) = &self.maintainer_id
            && maintainer.trim().is_empty()
        {
            return Err(FlagError::invalid("maintainerId", "must not be empty"));
        }
        Ok(())
    }
}

impl FlagEnvironmentState {
    /// Check the environment invariants against the flag's variations.
    pub fn validate(&self, settings: &FlagSettings) -> Result<(), FlagError> {
        let n = settings.variations.len();
        if let Some(off) = self.off_variation {
            check_index("offVariation", off, n)?;
        }
        check_variation_or_rollout("fallthrough", &self.fallthrough, n)?;

        let mut seen_variations = HashSet::new();
        let mut seen_keys = HashSet::new();
        for (i, target) in self.targets.iter().enumerate() {
            check_index(&format!("targets[{i}].variation"), target.variation, n)?;
            if !seen_variations.insert(target.variation) {
                return Err(FlagError::invalid(
                    format!("targets[{i}].variation"),
                    format!(
                        "variation {} has more than one target list",
                        target.variation
                    ),
                ));
            }
            for (j, key) in target.values.iter().enumerate() {
                let path = format!("targets[{i}].values[{j}]");
                check_context_key(&path, key)?;
                if !seen_keys.insert(key.as_str()) {
                    return Err(FlagError::invalid(
                        path,
                        format!("context key {key:?} is targeted more than once"),
                    ));
                }
            }
        }

        let mut seen_ids = HashSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.id.is_empty() {
                return Err(FlagError::invalid(
                    format!("rules[{i}].id"),
                    "must not be empty",
                ));
            }
            if !seen_ids.insert(rule.id.as_str()) {
                return Err(FlagError::invalid(
                    format!("rules[{i}].id"),
                    format!("rule id {:?} is used more than once", rule.id),
                ));
            }
            check_clauses(&format!("rules[{i}].clauses"), &rule.clauses)?;
            // The rule's variation/rollout sits at the rule's top level in JSON.
            check_variation_or_rollout(&format!("rules[{i}]"), &rule.variation_or_rollout, n)?;
        }
        Ok(())
    }
}

/// The JSON type name used to require one type across variations.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A display name: non-blank, bounded.
pub(super) fn check_name(path: &str, name: &str) -> Result<(), FlagError> {
    if name.trim().is_empty() {
        return Err(FlagError::invalid(path, "must not be empty"));
    }
    if name.chars().count() > MAX_TEXT {
        return Err(FlagError::invalid(
            path,
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    Ok(())
}

/// Tags follow LaunchDarkly's charset: letters, digits, '.', '_', '-'.
pub(super) fn check_tag(path: &str, tag: &str) -> Result<(), FlagError> {
    let ok = !tag.is_empty()
        && tag.len() <= 64
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(FlagError::invalid(
            path,
            format!("tag {tag:?} must be 1-64 letters, digits, '.', '_' or '-'"),
        ))
    }
}

/// A targeted context key: non-empty, bounded.
pub(super) fn check_context_key(path: &str, key: &str) -> Result<(), FlagError> {
    if key.is_empty() {
        return Err(FlagError::invalid(path, "context key must not be empty"));
    }
    if key.chars().count() > MAX_TEXT {
        return Err(FlagError::invalid(
            path,
            format!("context key must be at most {MAX_TEXT} characters"),
        ));
    }
    Ok(())
}

/// A variation index must point into the flag's variations.
pub(super) fn check_index(path: &str, index: usize, count: usize) -> Result<(), FlagError> {
    if index < count {
        Ok(())
    } else {
        Err(FlagError::invalid(
            path,
            format!("variation {index} out of range (flag has {count} variations)"),
        ))
    }
}

/// The message for a rollout whose weights do not add up, shared so both paths read the same.
pub(super) fn weight_sum_error(path: &str, sum: i128) -> FlagError {
    FlagError::invalid(
        path,
        format!("weights sum to {sum}, must be {TOTAL_WEIGHT}"),
    )
}

/// `path` is the object holding `variation`/`rollout`, e.g. `fallthrough` or `rules[2]`.
pub(super) fn check_variation_or_rollout(
    path: &str,
    vor: &VariationOrRollout,
    count: usize,
) -> Result<(), FlagError> {
    match vor {
        VariationOrRollout::Variation(v) => check_index(&format!("{path}.variation"), *v, count),
        VariationOrRollout::Rollout(r) => check_rollout(&format!("{path}.rollout"), r, count),
    }
}

/// Weights non-negative and summing to exactly [`TOTAL_WEIGHT`], indexes in range and distinct.
pub(super) fn check_rollout(path: &str, rollout: &Rollout, count: usize) -> Result<(), FlagError> {
    if rollout.variations.is_empty() {
        return Err(FlagError::invalid(
            format!("{path}.variations"),
            "a rollout needs at least one variation",
        ));
    }
    let mut seen = HashSet::new();
    let mut sum: i128 = 0;
    for (i, wv) in rollout.variations.iter().enumerate() {
        check_index(
            &format!("{path}.variations[{i}].variation"),
            wv.variation,
            count,
        )?;
        if !seen.insert(wv.variation) {
            return Err(FlagError::invalid(
                format!("{path}.variations[{i}].variation"),
                format!("variation {} appears more than once", wv.variation),
            ));
        }
        if wv.weight < 0 {
            return Err(FlagError::invalid(
                format!("{path}.variations[{i}].weight"),
                format!("weight {} is negative", wv.weight),
            ));
        }
        sum += i128::from(wv.weight);
    }
    if sum != i128::from(TOTAL_WEIGHT) {
        return Err(weight_sum_error(&format!("{path}.variations"), sum));
    }
    if let Some(by) = &rollout.bucket_by
        && by.is_empty()
    {
        return Err(FlagError::invalid(
            format!("{path}.bucketBy"),
            "must not be empty",
        ));
    }
    Ok(())
}

/// A rule needs at least one clause; each clause an attribute and at least one value.
pub(super) fn check_clauses(path: &str, clauses: &[Clause]) -> Result<(), FlagError> {
    if clauses.is_empty() {
        return Err(FlagError::invalid(path, "a rule needs at least one clause"));
    }
    for (i, clause) in clauses.iter().enumerate() {
        if clause.attribute.is_empty() {
            return Err(FlagError::invalid(
                format!("{path}[{i}].attribute"),
                "must not be empty",
            ));
        }
        if clause.values.is_empty() {
            return Err(FlagError::invalid(
                format!("{path}[{i}].values"),
                "a clause needs at least one value",
            ));
        }
    }
    Ok(())
}
