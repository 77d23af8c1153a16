//! The flag instruction kinds as the OpenAPI document shows them. The domain's serde parser
//! stays the one that reads instructions (its errors name the instruction, `instructions[2]`);
//! this table only documents its kinds, and the tests below hold the two together.

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{Enum, Object};
use serde_json::Value;

use crate::service::documented::{
    Documented, InstructionKinds, InstructionUnion, KindDoc, ParamDoc,
};
use crate::service::spelled::{NOT_BLANK_PATTERN, TAG_PATTERN};

/// One instruction of a flag patch: documented as `FlagInstruction`, parsed by the domain.
pub type InstructionBody = Documented<FlagInstruction>;

/// The `FlagInstruction` union of the document.
pub type FlagInstruction = InstructionUnion<FlagKinds>;

/// The flag instruction kinds.
pub struct FlagKinds;

impl InstructionKinds for FlagKinds {
    const NAME: &'static str = "FlagInstruction";
    const DESCRIPTION: &'static str = "A semantic-patch instruction on a flag: `kind` names it, the other fields are its parameters. Variations are referred to by index.";
    const GROUPS: &'static [(&'static str, &'static [KindDoc])] =
        &[("FlagInstruction", FLAG_KINDS)];

    fn register_parameters(registry: &mut Registry) {
        ClauseShape::register(registry);
    }
}

// The example is in words, not an `example`: testers build whole requests around a schema
// example (schemathesis sent it without the `environmentKey` it needs); the REST operations
// carry complete examples.
fn weights() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        description: Some(
            "Variation index (as a string) to weight, in thousandths of a percent: `{\"0\": 25000, \"1\": 75000}` serves variation 0 to a quarter.",
        ),
        additional_properties: Some(Box::new(MetaSchemaRef::Inline(Box::new(MetaSchema {
            minimum: Some(0.0),
            maximum: Some(100_000.0),
            ..MetaSchema::new_with_format("integer", "int64")
        })))),
        min_properties: Some(1),
        ..MetaSchema::new("object")
    }))
}

/// A variation's index: from 0, below the flag's number of variations (the bound keeps
/// generated numbers within what JSON parsers read as integers).
fn variation_index() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        minimum: Some(0.0),
        maximum: Some(f64::from(i32::MAX)),
        ..MetaSchema::new_with_format("integer", "uint64")
    }))
}

const VARIATION: ParamDoc = ("variation", variation_index, true);
const OPTIONAL_VARIATION: ParamDoc = ("variation", variation_index, false);
/// A string that is not blank, of at most `max` characters when given.
fn not_blank(max: Option<usize>) -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        pattern: Some(NOT_BLANK_PATTERN.to_owned()),
        max_length: max,
        ..MetaSchema::new("string")
    }))
}

/// A list of at least one item of `items`.
fn some_of(items: MetaSchemaRef) -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        items: Some(Box::new(items)),
        min_items: Some(1),
        ..MetaSchema::new("array")
    }))
}

/// Context keys: 1 to 256 characters each.
fn context_keys() -> MetaSchemaRef {
    some_of(MetaSchemaRef::Inline(Box::new(MetaSchema {
        min_length: Some(1),
        max_length: Some(256),
        ..MetaSchema::new("string")
    })))
}

/// Tags: 1 to 64 letters, digits, `.`, `_`, `-`.
fn tags() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        items: Some(Box::new(MetaSchemaRef::Inline(Box::new(MetaSchema {
            pattern: Some(TAG_PATTERN.to_owned()),
            ..MetaSchema::new("string")
        })))),
        ..MetaSchema::new("array")
    }))
}

fn flag_name() -> MetaSchemaRef {
    not_blank(Some(256))
}

fn member_id() -> MetaSchemaRef {
    not_blank(None)
}

fn bucket_by() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        min_length: Some(1),
        ..MetaSchema::new("string")
    }))
}

fn clauses() -> MetaSchemaRef {
    some_of(ClauseShape::schema_ref())
}

const CONTEXT_KEYS: ParamDoc = ("values", context_keys, true);
const TAGS: ParamDoc = ("values", tags, true);
const VALUE: ParamDoc = ("value", String::schema_ref, true);
const WEIGHTS: ParamDoc = ("rolloutWeights", weights, false);
const BUCKET_BY: ParamDoc = ("rolloutBucketBy", bucket_by, false);

/// Every kind of flag instruction (the approval requests' table reuses it).
pub const FLAG_KINDS: &[KindDoc] = &[
    KindDoc {
        kind: "turnFlagOn",
        description: "Turn targeting on.",
        params: &[],
    },
    KindDoc {
        kind: "turnFlagOff",
        description: "Turn targeting off.",
        params: &[],
    },
    KindDoc {
        kind: "updateOffVariation",
        description: "Set the variation served when targeting is off.",
        params: &[VARIATION],
    },
    KindDoc {
        kind: "updateFallthroughVariationOrRollout",
        description: "Set the fallthrough to a fixed `variation` or a rollout (`rolloutWeights`, optionally `rolloutBucketBy`, default `key`): exactly one of the two.",
        params: &[OPTIONAL_VARIATION, WEIGHTS, BUCKET_BY],
    },
    KindDoc {
        kind: "addTargets",
        description: "Target context keys individually; a key moves out of any other variation's list.",
        params: &[VARIATION, CONTEXT_KEYS],
    },
    KindDoc {
        kind: "removeTargets",
        description: "Stop targeting context keys; unknown keys are ignored.",
        params: &[VARIATION, ("values", Vec::<String>::schema_ref, true)],
    },
    KindDoc {
        kind: "addRule",
        description: "Add a rule at the end, or before `beforeRuleId`; it serves `variation` or a rollout (`rolloutWeights`), exactly one of the two.",
        params: &[
            ("clauses", clauses, true),
            OPTIONAL_VARIATION,
            WEIGHTS,
            BUCKET_BY,
            ("description", String::schema_ref, false),
            ("beforeRuleId", String::schema_ref, false),
        ],
    },
    KindDoc {
        kind: "removeRule",
        description: "Remove a rule; an unknown id is an error.",
        params: &[("ruleId", String::schema_ref, true)],
    },
    KindDoc {
        kind: "addTags",
        description: "Add tags (project-wide).",
        params: &[TAGS],
    },
    KindDoc {
        kind: "removeTags",
        description: "Remove tags; absent tags are ignored.",
        params: &[("values", Vec::<String>::schema_ref, true)],
    },
    KindDoc {
        kind: "updateName",
        description: "Rename the flag.",
        params: &[("value", flag_name, true)],
    },
    KindDoc {
        kind: "updateDescription",
        description: "Replace the description.",
        params: &[VALUE],
    },
    KindDoc {
        kind: "makeFlagTemporary",
        description: "Mark the flag temporary.",
        params: &[],
    },
    KindDoc {
        kind: "makeFlagPermanent",
        description: "Mark the flag permanent.",
        params: &[],
    },
    KindDoc {
        kind: "updateMaintainerMember",
        description: "Set the maintainer (`value`: a member id).",
        params: &[("value", member_id, true)],
    },
    KindDoc {
        kind: "removeMaintainer",
        description: "Clear the maintainer.",
        params: &[],
    },
    KindDoc {
        kind: "archiveFlag",
        description: "Archive the flag.",
        params: &[],
    },
    KindDoc {
        kind: "restoreFlag",
        description: "Restore an archived flag.",
        params: &[],
    },
];

/// One condition of a rule: matches when the context attribute matches any of `values`.
// Documents the domain's `Clause`; the tests below check the two name the same fields.
#[derive(Object)]
#[oai(rename = "RuleClause", rename_all = "camelCase", deny_unknown_fields)]
pub struct ClauseShape {
    /// Context attribute name; `key` is the context key.
    #[oai(validator(min_length = 1))]
    pub attribute: String,
    pub op: ClauseOperator,
    /// Candidate values: at least one.
    #[oai(validator(min_items = 1))]
    pub values: Vec<Value>,
    /// Invert the result (a missing attribute still never matches).
    #[oai(default)]
    pub negate: bool,
}

/// How a clause compares: `in` is JSON equality with any value (numbers numerically); the
/// string operators test a prefix, suffix or substring; the others compare numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "camelCase")]
pub enum ClauseOperator {
    In,
    StartsWith,
    EndsWith,
    Contains,
    LessThan,
    LessThanOrEqual,
    GreaterThan,
    GreaterThanOrEqual,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;
    use crate::domain::flag::{Clause, ClauseOp, Instruction};
    use crate::service::documented::testing::{check_kinds, known_to_serde};

    #[test]
    fn every_kind_the_domain_parses_is_documented_and_parses_from_the_document() {
        let mut registry = Registry::new();
        FlagInstruction::register(&mut registry);
        check_kinds::<Instruction>(&registry, FLAG_KINDS);
        let union = &registry.schemas["FlagInstruction"];
        assert_eq!(union.one_of.len(), FLAG_KINDS.len());
    }

    #[test]
    fn the_documented_variation_is_the_domain_s() {
        let mut registry = Registry::new();
        <crate::service::flags::VariationShape as Type>::register(&mut registry);
        let fields: BTreeSet<String> = registry.schemas["Variation"]
            .properties
            .iter()
            .map(|(n, _)| (*n).to_owned())
            .collect();
        let known =
            known_to_serde::<crate::domain::flag::Variation>(json!({"value": 1, "\u{0}": 0}));
        assert_eq!(fields, known);
    }

    #[test]
    fn the_documented_clause_is_the_domain_s() {
        let mut registry = Registry::new();
        FlagInstruction::register(&mut registry);
        let clause = &registry.schemas["RuleClause"];
        let fields: BTreeSet<String> = clause
            .properties
            .iter()
            .map(|(n, _)| (*n).to_owned())
            .collect();
        assert_eq!(fields, known_to_serde::<Clause>(json!({"\u{0}": 0})));
        let ops: BTreeSet<String> = registry.schemas["ClauseOperator"]
            .enum_items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        assert_eq!(ops, known_to_serde::<ClauseOp>(json!("\u{0}")));
    }
}
