//! The stored flag model. These types are also the REST shapes (camelCase JSON).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Sum every rollout's weights must reach: weights are thousandths of a percent.
pub const TOTAL_WEIGHT: i64 = 100_000;

/// One possible value a flag can serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Variation {
    /// The served JSON value.
    pub value: Value,
    /// Optional display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Optional longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Variation {
    /// A variation with just a value.
    pub fn new(value: Value) -> Self {
        Self {
            value,
            name: None,
            description: None,
        }
    }
}

/// Whether a flag is a plain on/off boolean or serves arbitrary values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlagKind {
    /// Exactly `[true, false]`.
    Boolean,
    /// Two or more values of one JSON type.
    Multivariate,
}

/// The project-wide part of a flag, shared by every environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlagSettings {
    /// Immutable identifier used by SDKs.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Boolean or multivariate.
    pub kind: FlagKind,
    /// Servable values; rules and targets refer to them by index.
    #[serde(default)]
    pub variations: Vec<Variation>,
    /// Kept sorted and deduplicated (see [`FlagSettings::normalize`]).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Temporary flags are expected to be removed eventually.
    #[serde(default)]
    pub temporary: bool,
    /// Member responsible for the flag.
    #[serde(default)]
    pub maintainer_id: Option<String>,
    /// Archived flags are hidden from the default list.
    #[serde(default)]
    pub archived: bool,
}

impl FlagSettings {
    /// A normalized flag with default variations for its kind
    /// (`[true, false]` for boolean, none for multivariate: the caller adds them).
    pub fn new(key: impl Into<String>, name: impl Into<String>, kind: FlagKind) -> Self {
        let mut settings = Self {
            key: key.into(),
            name: name.into(),
            description: String::new(),
            kind,
            variations: Vec::new(),
            tags: Vec::new(),
            temporary: false,
            maintainer_id: None,
            archived: false,
        };
        settings.normalize();
        settings
    }

    /// The only variations a boolean flag may have.
    pub fn boolean_variations() -> Vec<Variation> {
        vec![
            Variation::new(Value::Bool(true)),
            Variation::new(Value::Bool(false)),
        ]
    }

    /// Fill defaults a client may omit: boolean variations when empty, and sort + dedup tags.
    /// Call before [`FlagSettings::validate`] on client input.
    pub fn normalize(&mut self) {
        if self.kind == FlagKind::Boolean && self.variations.is_empty() {
            self.variations = Self::boolean_variations();
        }
        self.tags.sort();
        self.tags.dedup();
    }
}

/// Serve one fixed variation, or split contexts between variations by weight.
///
/// JSON is LaunchDarkly's: `{"variation": 0}` or `{"rollout": {"variations": [...], "bucketBy": "key"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "VariationOrRolloutRepr", into = "VariationOrRolloutRepr")]
pub enum VariationOrRollout {
    /// Index into the flag's variations.
    Variation(usize),
    /// Percentage rollout.
    Rollout(Rollout),
}

impl VariationOrRollout {
    /// Build from the two optional JSON members; exactly one must be present.
    pub fn from_parts(variation: Option<usize>, rollout: Option<Rollout>) -> Result<Self, String> {
        match (variation, rollout) {
            (Some(v), None) => Ok(Self::Variation(v)),
            (None, Some(r)) => Ok(Self::Rollout(r)),
            (Some(_), Some(_)) => {
                Err("expected exactly one of `variation` or `rollout`, got both".into())
            }
            (None, None) => {
                Err("expected exactly one of `variation` or `rollout`, got neither".into())
            }
        }
    }

    /// Split into the two optional JSON members.
    pub fn into_parts(self) -> (Option<usize>, Option<Rollout>) {
        match self {
            Self::Variation(v) => (Some(v), None),
            Self::Rollout(r) => (None, Some(r)),
        }
    }
}

/// Wire shape of [`VariationOrRollout`]; converting through it lets serde report bad shapes as errors.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariationOrRolloutRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    variation: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rollout: Option<Rollout>,
}

impl TryFrom<VariationOrRolloutRepr> for VariationOrRollout {
    type Error = String;
    fn try_from(repr: VariationOrRolloutRepr) -> Result<Self, String> {
        Self::from_parts(repr.variation, repr.rollout)
    }
}

impl From<VariationOrRollout> for VariationOrRolloutRepr {
    fn from(v: VariationOrRollout) -> Self {
        let (variation, rollout) = v.into_parts();
        Self { variation, rollout }
    }
}

/// A percentage rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rollout {
    /// Weighted variations, walked in order when bucketing.
    pub variations: Vec<WeightedVariation>,
    /// Context attribute hashed for bucketing; `key` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_by: Option<String>,
}

/// One slice of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WeightedVariation {
    /// Index into the flag's variations.
    pub variation: usize,
    /// Thousandths of a percent. Signed so a negative input is a validation error, not a parse error.
    pub weight: i64,
}

/// Context keys served one variation individually.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    /// Index into the flag's variations.
    pub variation: usize,
    /// Context keys.
    #[serde(default)]
    pub values: Vec<String>,
}

/// Clause operators (no regex or semver).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ClauseOp {
    /// JSON equality with any value (numbers compare numerically).
    In,
    /// String prefix.
    StartsWith,
    /// String suffix.
    EndsWith,
    /// String substring.
    Contains,
    /// Numeric `<`.
    LessThan,
    /// Numeric `<=`.
    LessThanOrEqual,
    /// Numeric `>`.
    GreaterThan,
    /// Numeric `>=`.
    GreaterThanOrEqual,
}

/// One condition of a rule: matches when the attribute matches any of `values`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Clause {
    /// Context attribute name; `key` is the context key.
    pub attribute: String,
    /// Comparison.
    pub op: ClauseOp,
    /// Candidate values.
    #[serde(default, deserialize_with = "crate::domain::json::null_as_default")]
    pub values: Vec<Value>,
    /// Invert the result (a missing attribute still never matches).
    #[serde(default, deserialize_with = "crate::domain::json::null_as_default")]
    pub negate: bool,
}

/// A targeting rule: all clauses must match.
///
/// JSON puts `variation` or `rollout` at the top level, like LaunchDarkly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RuleRepr", into = "RuleRepr")]
pub struct Rule {
    /// Stable id, assigned by the caller when the rule is created.
    pub id: String,
    /// Optional free text.
    pub description: Option<String>,
    /// ANDed conditions.
    pub clauses: Vec<Clause>,
    /// What a match serves.
    pub variation_or_rollout: VariationOrRollout,
}

/// Wire shape of [`Rule`] (serde's `flatten` cannot be combined with `deny_unknown_fields`).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RuleRepr {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default)]
    clauses: Vec<Clause>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    variation: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rollout: Option<Rollout>,
}

impl TryFrom<RuleRepr> for Rule {
    type Error = String;
    fn try_from(repr: RuleRepr) -> Result<Self, String> {
        Ok(Self {
            id: repr.id,
            description: repr.description,
            clauses: repr.clauses,
            variation_or_rollout: VariationOrRollout::from_parts(repr.variation, repr.rollout)?,
        })
    }
}

impl From<Rule> for RuleRepr {
    fn from(rule: Rule) -> Self {
        let (variation, rollout) = rule.variation_or_rollout.into_parts();
        Self {
            id: rule.id,
            description: rule.description,
            clauses: rule.clauses,
            variation,
            rollout,
        }
    }
}

/// The per-environment part of a flag. The version counter is kept by the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlagEnvironmentState {
    /// Targeting on; when off everyone gets `off_variation`.
    pub on: bool,
    /// Served when off; `None` serves no value (SDK default).
    #[serde(default)]
    pub off_variation: Option<usize>,
    /// Served when no target or rule matches.
    pub fallthrough: VariationOrRollout,
    /// Individual targets, one entry per variation at most, sorted by variation.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// Rules, evaluated in order.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Bucketing salt, fixed at creation so rollouts stay sticky.
    pub salt: String,
}

impl FlagEnvironmentState {
    /// The state of a flag in a new environment: off, serving the last variation
    /// (`false` for boolean flags), falling through to variation 0.
    pub fn initial(settings: &FlagSettings, salt: String) -> Self {
        let count = match (settings.kind, settings.variations.len()) {
            // Un-normalized boolean settings still mean [true, false].
            (FlagKind::Boolean, 0) => 2,
            (_, n) => n,
        };
        Self {
            on: false,
            off_variation: count.checked_sub(1),
            fallthrough: VariationOrRollout::Variation(0),
            targets: Vec::new(),
            rules: Vec::new(),
            salt,
        }
    }
}
