//! Flag evaluation with LaunchDarkly semantics (simplified: single context kind,
//! no prerequisites, no experiments) and LaunchDarkly's legacy bucketing.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

use super::model::{
    Clause, ClauseOp, FlagEnvironmentState, FlagSettings, Rollout, VariationOrRollout,
};

/// Scale of a bucket: the same units as rollout weights.
const BUCKET_SCALE: f64 = 100_000.0;
/// Largest value of 15 hex digits, LaunchDarkly's divisor.
const LONG_SCALE: u64 = 0x0FFF_FFFF_FFFF_FFFF;

/// Who a flag is evaluated for.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    /// The context key; also what attribute `key` resolves to.
    pub key: String,
    /// Other attributes.
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

impl Context {
    /// A context with a key and no attributes.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            attributes: Map::new(),
        }
    }

    /// Builder-style attribute setter.
    pub fn with(mut self, name: impl Into<String>, value: Value) -> Self {
        self.attributes.insert(name.into(), value);
        self
    }

    /// Resolve an attribute; `key` is always the context key. JSON null counts as missing, as in LD.
    pub fn attribute(&self, name: &str) -> Option<Value> {
        if name == "key" {
            return Some(Value::String(self.key.clone()));
        }
        self.attributes.get(name).filter(|v| !v.is_null()).cloned()
    }
}

/// The result of evaluating a flag for a context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// Served variation index; `None` when nothing is served (off with no off variation, or error).
    pub variation_index: Option<usize>,
    /// Served value; JSON null when none.
    pub value: Value,
    /// Why.
    pub reason: Reason,
}

/// Evaluation reason, serialized like LaunchDarkly's (`{"kind":"RULE_MATCH","ruleIndex":0,...}`).
///
/// `bucket` and `rollout: true` are present only when a rollout decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
pub enum Reason {
    /// Targeting is off.
    Off,
    /// The context key is individually targeted.
    TargetMatch,
    /// A rule matched.
    RuleMatch {
        /// Position of the rule.
        rule_index: usize,
        /// Id of the rule.
        rule_id: String,
        /// Bucket (0..=100000) that chose the variation, for rollouts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bucket: Option<u32>,
        /// A rollout decided.
        #[serde(default, skip_serializing_if = "is_false")]
        rollout: bool,
    },
    /// Nothing matched.
    Fallthrough {
        /// Bucket (0..=100000) that chose the variation, for rollouts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bucket: Option<u32>,
        /// A rollout decided.
        #[serde(default, skip_serializing_if = "is_false")]
        rollout: bool,
    },
    /// The flag data is inconsistent (should not happen for validated state).
    Error {
        /// What went wrong.
        error_kind: EvalErrorKind,
    },
}

/// Error kinds of [`Reason::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EvalErrorKind {
    /// A variation index is out of range or a rollout is empty.
    MalformedFlag,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Evaluate a flag for a context: off → individual targets → rules in order → fallthrough.
pub fn evaluate(
    settings: &FlagSettings,
    state: &FlagEnvironmentState,
    ctx: &Context,
) -> Evaluation {
    if !state.on {
        return match state.off_variation {
            None => Evaluation {
                variation_index: None,
                value: Value::Null,
                reason: Reason::Off,
            },
            Some(index) => served(settings, index, Reason::Off),
        };
    }
    if let Some(target) = state.targets.iter().find(|t| t.values.contains(&ctx.key)) {
        return served(settings, target.variation, Reason::TargetMatch);
    }
    for (rule_index, rule) in state.rules.iter().enumerate() {
        if rule.clauses.iter().all(|c| clause_matches(c, ctx)) {
            return resolve(settings, state, &rule.variation_or_rollout, ctx, |bucket| {
                Reason::RuleMatch {
                    rule_index,
                    rule_id: rule.id.clone(),
                    bucket,
                    rollout: bucket.is_some(),
                }
            });
        }
    }
    resolve(settings, state, &state.fallthrough, ctx, |bucket| {
        Reason::Fallthrough {
            bucket,
            rollout: bucket.is_some(),
        }
    })
}

/// Serve a fixed variation or bucket into a rollout; `reason` gets the bucket when one was used.
fn resolve(
    settings: &FlagSettings,
    state: &FlagEnvironmentState,
    vor: &VariationOrRollout,
    ctx: &Context,
    reason: impl FnOnce(Option<u32>) -> Reason,
) -> Evaluation {
    match vor {
        VariationOrRollout::Variation(index) => served(settings, *index, reason(None)),
        VariationOrRollout::Rollout(rollout) => {
            let bucket_by = rollout.bucket_by.as_deref().unwrap_or("key");
            let bucket = ctx
                .attribute(bucket_by)
                .and_then(|v| bucketable(&v))
                .map_or(0, |s| bucket_value(&settings.key, &state.salt, &s));
            match choose(rollout, bucket) {
                Some(index) => served(settings, index, reason(Some(bucket))),
                None => malformed(),
            }
        }
    }
}

fn served(settings: &FlagSettings, index: usize, reason: Reason) -> Evaluation {
    match settings.variations.get(index) {
        Some(variation) => Evaluation {
            variation_index: Some(index),
            value: variation.value.clone(),
            reason,
        },
        None => malformed(),
    }
}

fn malformed() -> Evaluation {
    Evaluation {
        variation_index: None,
        value: Value::Null,
        reason: Reason::Error {
            error_kind: EvalErrorKind::MalformedFlag,
        },
    }
}

/// First variation whose cumulative weight exceeds the bucket; the last one when rounding leaves none.
fn choose(rollout: &Rollout, bucket: u32) -> Option<usize> {
    let mut sum: i64 = 0;
    for wv in &rollout.variations {
        sum = sum.saturating_add(wv.weight);
        if i64::from(bucket) < sum {
            return Some(wv.variation);
        }
    }
    rollout.variations.last().map(|wv| wv.variation)
}

/// Strings bucket as is, integers as their decimal string (as LD); other types do not bucket.
fn bucketable(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i.to_string())
            } else if let Some(u) = n.as_u64() {
                Some(u.to_string())
            } else {
                // LD treats integral floats (e.g. 5.0) as ints.
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| format!("{f:.0}"))
            }
        }
        _ => None,
    }
}

/// LaunchDarkly's legacy bucket in `0..=100000`: the first 15 hex digits of
/// `sha1("{flag_key}.{salt}.{value}")` divided by `0xFFFFFFFFFFFFFFF`, times 100000.
pub fn bucket_value(flag_key: &str, salt: &str, value: &str) -> u32 {
    let digest = Sha1::digest(format!("{flag_key}.{salt}.{value}").as_bytes());
    let mut first = [0u8; 8];
    for (dst, src) in first.iter_mut().zip(digest.iter()) {
        *dst = *src;
    }
    // 8 bytes are 16 hex digits; dropping the low nibble leaves the first 15.
    let hash = u64::from_be_bytes(first) >> 4;
    let fraction = hash as f64 / LONG_SCALE as f64;
    (fraction * BUCKET_SCALE) as u32
}

fn clause_matches(clause: &Clause, ctx: &Context) -> bool {
    // A missing attribute never matches, even negated (as LD).
    let Some(actual) = ctx.attribute(&clause.attribute) else {
        return false;
    };
    let matched = match &actual {
        // Arrays match when any scalar element matches.
        Value::Array(items) => items
            .iter()
            .filter(|item| !item.is_array() && !item.is_object())
            .any(|item| any_value_matches(clause, item)),
        other => any_value_matches(clause, other),
    };
    matched != clause.negate
}

fn any_value_matches(clause: &Clause, actual: &Value) -> bool {
    clause
        .values
        .iter()
        .any(|expected| op_matches(clause.op, actual, expected))
}

fn op_matches(op: ClauseOp, actual: &Value, expected: &Value) -> bool {
    match op {
        ClauseOp::In => match (actual.as_f64(), expected.as_f64()) {
            // Numbers compare numerically so 1 equals 1.0, as LD's float64 numbers do.
            (Some(a), Some(e)) => a == e,
            _ => actual == expected,
        },
        ClauseOp::StartsWith => strings(actual, expected, |a, e| a.starts_with(e)),
        ClauseOp::EndsWith => strings(actual, expected, |a, e| a.ends_with(e)),
        ClauseOp::Contains => strings(actual, expected, |a, e| a.contains(e)),
        ClauseOp::LessThan => numbers(actual, expected, |a, e| a < e),
        ClauseOp::LessThanOrEqual => numbers(actual, expected, |a, e| a <= e),
        ClauseOp::GreaterThan => numbers(actual, expected, |a, e| a > e),
        ClauseOp::GreaterThanOrEqual => numbers(actual, expected, |a, e| a >= e),
    }
}

fn strings(actual: &Value, expected: &Value, f: impl Fn(&str, &str) -> bool) -> bool {
    match (actual, expected) {
        (Value::String(a), Value::String(e)) => f(a, e),
        _ => false,
    }
}

fn numbers(actual: &Value, expected: &Value, f: impl Fn(f64, f64) -> bool) -> bool {
    match (actual, expected) {
        (Value::Number(a), Value::Number(e)) => match (a.as_f64(), e.as_f64()) {
            (Some(a), Some(e)) => f(a, e),
            _ => false,
        },
        _ => false,
    }
}
