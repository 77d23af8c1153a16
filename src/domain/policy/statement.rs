//! Policy statements: the serde input shape and its validation.
//!
//! ```json
//! { "effect": "allow" | "deny",
//!   "actions" | "notActions": ["updateOn", "update*", "*"],
//!   "resources" | "notResources": ["proj/*:env/production:flag/*"] }
//! ```
//!
//! Exactly one of `actions`/`notActions` and exactly one of `resources`/`notResources` must
//! be present (LaunchDarkly documents the pairs as mutually exclusive; `null` counts as
//! absent), and the present list must be non-empty.

use serde::{Deserialize, Serialize};

use super::action;
use super::specifier::Specifier;

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// `allow`
    Allow,
    /// `deny`
    Deny,
}

/// A statement as written by users and stored (the wire shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StatementInput {
    /// `allow` or `deny`.
    pub effect: Effect,
    /// Action names or globs this statement covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<String>>,
    /// Action names or globs this statement does *not* cover (it covers every other action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_actions: Option<Vec<String>>,
    /// Resource specifiers this statement covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    /// Resource specifiers this statement does *not* cover (it covers every other resource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_resources: Option<Vec<String>>,
}

/// A validation or compilation error with the JSON path of the culprit,
/// e.g. `policy[2].resources[0]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PolicyError {
    /// Where, e.g. `policy[2].resources[0]`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl PolicyError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> PolicyError {
        PolicyError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The action side of a validated statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionsClause {
    /// `true` for `notActions`.
    pub negated: bool,
    /// The names or globs as written; each matches at least one catalogue action.
    pub patterns: Vec<String>,
}

/// The resource side of a validated statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcesClause {
    /// `true` for `notResources`.
    pub negated: bool,
    /// The parsed specifiers, in order.
    pub specifiers: Vec<Specifier>,
}

/// A validated statement, ready to be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyStatement {
    /// `allow` or `deny`.
    pub effect: Effect,
    /// Which actions.
    pub actions: ActionsClause,
    /// Which resources.
    pub resources: ResourcesClause,
}

impl PolicyStatement {
    /// Back to the wire shape (specifiers in canonical form).
    pub fn to_input(&self) -> StatementInput {
        let actions = Some(self.actions.patterns.clone());
        let resources = Some(
            self.resources
                .specifiers
                .iter()
                .map(ToString::to_string)
                .collect(),
        );
        let (actions, not_actions) = if self.actions.negated {
            (None, actions)
        } else {
            (actions, None)
        };
        let (resources, not_resources) = if self.resources.negated {
            (None, resources)
        } else {
            (resources, None)
        };
        StatementInput {
            effect: self.effect,
            actions,
            not_actions,
            resources,
            not_resources,
        }
    }
}

/// Validates a policy given as JSON values (one per statement). Paths start at `policy[i]`.
pub fn validate(
    statements: &[serde_json::Value],
    declared_role_attributes: &[String],
) -> Result<Vec<PolicyStatement>, PolicyError> {
    let inputs = parse_inputs(statements)?;
    validate_inputs(&inputs, declared_role_attributes)
}

/// Validates a policy whose role attributes are declared by using them, as LaunchDarkly's
/// API has it: any `${roleAttribute/...}` placeholder is accepted, and the attributes used
/// come back in order of first use, each once.
pub fn validate_declaring(
    statements: &[serde_json::Value],
) -> Result<(Vec<PolicyStatement>, Vec<String>), PolicyError> {
    let inputs = parse_inputs(statements)?;
    let validated = inputs
        .iter()
        .enumerate()
        .map(|(i, s)| validate_one(i, s, Declared::ByUse))
        .collect::<Result<Vec<_>, _>>()?;
    let used = used_role_attributes(&validated);
    Ok((validated, used))
}

/// The role attributes a policy's placeholders name, in order of first use, each once.
pub fn used_role_attributes(statements: &[PolicyStatement]) -> Vec<String> {
    let mut used: Vec<String> = Vec::new();
    let names = statements
        .iter()
        .flat_map(|s| s.resources.specifiers.iter())
        .flat_map(|spec| spec.attributes());
    for name in names {
        if !used.iter().any(|u| u == name) {
            used.push(name.to_owned());
        }
    }
    used
}

fn parse_inputs(statements: &[serde_json::Value]) -> Result<Vec<StatementInput>, PolicyError> {
    statements
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if !v.is_object() {
                return Err(PolicyError::new(
                    format!("policy[{i}]"),
                    "a statement must be a JSON object",
                ));
            }
            StatementInput::deserialize(v)
                .map_err(|e| PolicyError::new(format!("policy[{i}]"), e.to_string()))
        })
        .collect()
}

/// Validates a whole policy document: a JSON array of statements.
pub fn validate_document(
    policy: &serde_json::Value,
    declared_role_attributes: &[String],
) -> Result<Vec<PolicyStatement>, PolicyError> {
    match policy.as_array() {
        Some(items) => validate(items, declared_role_attributes),
        None => Err(PolicyError::new(
            "policy",
            "a policy must be a JSON array of statements",
        )),
    }
}

/// Validates typed statements.
pub fn validate_inputs(
    statements: &[StatementInput],
    declared_role_attributes: &[String],
) -> Result<Vec<PolicyStatement>, PolicyError> {
    statements
        .iter()
        .enumerate()
        .map(|(i, s)| validate_one(i, s, Declared::Listed(declared_role_attributes)))
        .collect()
}

fn pick<'a>(
    base: &str,
    positive: (&str, &'a Option<Vec<String>>),
    negative: (&str, &'a Option<Vec<String>>),
) -> Result<(bool, &'a [String]), PolicyError> {
    match (positive.1, negative.1) {
        (Some(_), Some(_)) => Err(PolicyError::new(
            base,
            format!("use either `{}` or `{}`, not both", positive.0, negative.0),
        )),
        (None, None) => Err(PolicyError::new(
            base,
            format!("one of `{}` or `{}` is required", positive.0, negative.0),
        )),
        (Some(list), None) => Ok((false, list.as_slice())),
        (None, Some(list)) => Ok((true, list.as_slice())),
    }
}

/// Which role attributes a policy may name.
#[derive(Clone, Copy)]
enum Declared<'a> {
    /// Only these (an explicit `roleAttributes` list).
    Listed(&'a [String]),
    /// Any: using one declares it.
    ByUse,
}

impl Declared<'_> {
    fn allows(self, name: &str) -> bool {
        match self {
            Declared::Listed(list) => list.iter().any(|d| d == name),
            Declared::ByUse => true,
        }
    }
}

fn validate_one(
    i: usize,
    s: &StatementInput,
    declared: Declared<'_>,
) -> Result<PolicyStatement, PolicyError> {
    let base = format!("policy[{i}]");
    let (neg_a, actions) = pick(
        &base,
        ("actions", &s.actions),
        ("notActions", &s.not_actions),
    )?;
    let a_field = if neg_a { "notActions" } else { "actions" };
    if actions.is_empty() {
        return Err(PolicyError::new(
            format!("{base}.{a_field}"),
            "must not be empty",
        ));
    }
    for (j, a) in actions.iter().enumerate() {
        if action::matching(a).next().is_none() {
            return Err(PolicyError::new(
                format!("{base}.{a_field}[{j}]"),
                format!("`{a}` matches no known action (action names are case-sensitive)"),
            ));
        }
    }
    let (neg_r, resources) = pick(
        &base,
        ("resources", &s.resources),
        ("notResources", &s.not_resources),
    )?;
    let r_field = if neg_r { "notResources" } else { "resources" };
    if resources.is_empty() {
        return Err(PolicyError::new(
            format!("{base}.{r_field}"),
            "must not be empty",
        ));
    }
    let mut specifiers = Vec::with_capacity(resources.len());
    for (j, r) in resources.iter().enumerate() {
        let path = format!("{base}.{r_field}[{j}]");
        let spec = Specifier::parse(r).map_err(|e| PolicyError::new(&path, e.message))?;
        if let Some(undeclared) = spec.attributes().find(|a| !declared.allows(a)) {
            return Err(PolicyError::new(
                &path,
                format!("role attribute `{undeclared}` is not declared in `roleAttributes`"),
            ));
        }
        specifiers.push(spec);
    }
    Ok(PolicyStatement {
        effect: s.effect,
        actions: ActionsClause {
            negated: neg_a,
            patterns: actions.to_vec(),
        },
        resources: ResourcesClause {
            negated: neg_r,
            specifiers,
        },
    })
}
