//! LaunchDarkly-style semantic-patch instructions.
//!
//! JSON is `{"kind": "...", ...camelCase params}`; variations are referred to by index
//! (LaunchDarkly uses variation ids). Unknown kinds and unknown parameters are rejected.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::FlagError;
use super::model::Clause;

/// Whether an instruction changes one environment or the whole flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InstructionScope {
    /// Needs an environment (`environmentKey` in the request).
    Environment,
    /// Project-wide flag settings.
    Project,
}

/// One semantic-patch instruction.
///
/// Parameterless kinds are empty struct variants so `deny_unknown_fields` also rejects
/// stray parameters on them (serde ignores extra fields on internally tagged unit variants).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Instruction {
    /// Turn targeting on.
    TurnFlagOn {},
    /// Turn targeting off.
    TurnFlagOff {},
    /// Set the variation served when off.
    UpdateOffVariation {
        /// Variation index.
        variation: usize,
    },
    /// Set the fallthrough to a fixed variation or a rollout (exactly one of the two).
    UpdateFallthroughVariationOrRollout {
        /// Variation index.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variation: Option<usize>,
        /// Variation index (as a string) to weight in thousandths of a percent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rollout_weights: Option<BTreeMap<String, i64>>,
        /// Attribute to bucket by (default `key`); only with `rolloutWeights`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rollout_bucket_by: Option<String>,
    },
    /// Target context keys individually; a key moves out of any other variation's list.
    AddTargets {
        /// Variation index.
        variation: usize,
        /// Context keys.
        values: Vec<String>,
    },
    /// Stop targeting context keys; unknown keys are ignored.
    RemoveTargets {
        /// Variation index.
        variation: usize,
        /// Context keys.
        values: Vec<String>,
    },
    /// Add a rule at the end, or before `beforeRuleId`.
    AddRule {
        /// ANDed conditions.
        clauses: Vec<Clause>,
        /// Variation index (exactly one of this and `rolloutWeights`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variation: Option<usize>,
        /// Variation index (as a string) to weight.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rollout_weights: Option<BTreeMap<String, i64>>,
        /// Attribute to bucket by; only with `rolloutWeights`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rollout_bucket_by: Option<String>,
        /// Optional free text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// Insert before this rule instead of appending.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before_rule_id: Option<String>,
    },
    /// Remove a rule; an unknown id is an error.
    RemoveRule {
        /// Id of the rule.
        rule_id: String,
    },
    /// Add tags (project-wide).
    AddTags {
        /// Tags.
        values: Vec<String>,
    },
    /// Remove tags; absent tags are ignored.
    RemoveTags {
        /// Tags.
        values: Vec<String>,
    },
    /// Rename the flag.
    UpdateName {
        /// New name.
        value: String,
    },
    /// Replace the description.
    UpdateDescription {
        /// New description.
        value: String,
    },
    /// Mark the flag temporary.
    MakeFlagTemporary {},
    /// Mark the flag permanent.
    MakeFlagPermanent {},
    /// Set the maintainer.
    UpdateMaintainerMember {
        /// Member id.
        value: String,
    },
    /// Clear the maintainer.
    RemoveMaintainer {},
    /// Archive the flag.
    ArchiveFlag {},
    /// Restore an archived flag.
    RestoreFlag {},
}

impl Instruction {
    /// The `kind` string of this instruction, as in its JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TurnFlagOn {} => "turnFlagOn",
            Self::TurnFlagOff {} => "turnFlagOff",
            Self::UpdateOffVariation { .. } => "updateOffVariation",
            Self::UpdateFallthroughVariationOrRollout { .. } => {
                "updateFallthroughVariationOrRollout"
            }
            Self::AddTargets { .. } => "addTargets",
            Self::RemoveTargets { .. } => "removeTargets",
            Self::AddRule { .. } => "addRule",
            Self::RemoveRule { .. } => "removeRule",
            Self::AddTags { .. } => "addTags",
            Self::RemoveTags { .. } => "removeTags",
            Self::UpdateName { .. } => "updateName",
            Self::UpdateDescription { .. } => "updateDescription",
            Self::MakeFlagTemporary {} => "makeFlagTemporary",
            Self::MakeFlagPermanent {} => "makeFlagPermanent",
            Self::UpdateMaintainerMember { .. } => "updateMaintainerMember",
            Self::RemoveMaintainer {} => "removeMaintainer",
            Self::ArchiveFlag {} => "archiveFlag",
            Self::RestoreFlag {} => "restoreFlag",
        }
    }

    /// The LaunchDarkly policy action a member needs to run this instruction.
    pub fn action(&self) -> &'static str {
        match self {
            Self::TurnFlagOn {} | Self::TurnFlagOff {} => "updateOn",
            Self::UpdateOffVariation { .. } => "updateOffVariation",
            Self::UpdateFallthroughVariationOrRollout { .. } => "updateFallthrough",
            Self::AddTargets { .. } | Self::RemoveTargets { .. } => "updateTargets",
            Self::AddRule { .. } | Self::RemoveRule { .. } => "updateRules",
            Self::AddTags { .. } | Self::RemoveTags { .. } => "updateTags",
            Self::UpdateName { .. } => "updateName",
            Self::UpdateDescription { .. } => "updateDescription",
            Self::MakeFlagTemporary {} | Self::MakeFlagPermanent {} => "updateTemporary",
            Self::UpdateMaintainerMember { .. } | Self::RemoveMaintainer {} => "updateMaintainer",
            Self::ArchiveFlag {} | Self::RestoreFlag {} => "updateGlobalArchived",
        }
    }

    /// Whether the instruction needs an environment.
    pub fn scope(&self) -> InstructionScope {
        match self {
            Self::TurnFlagOn {}
            | Self::TurnFlagOff {}
            | Self::UpdateOffVariation { .. }
            | Self::UpdateFallthroughVariationOrRollout { .. }
            | Self::AddTargets { .. }
            | Self::RemoveTargets { .. }
            | Self::AddRule { .. }
            | Self::RemoveRule { .. } => InstructionScope::Environment,
            Self::AddTags { .. }
            | Self::RemoveTags { .. }
            | Self::UpdateName { .. }
            | Self::UpdateDescription { .. }
            | Self::MakeFlagTemporary {}
            | Self::MakeFlagPermanent {}
            | Self::UpdateMaintainerMember { .. }
            | Self::RemoveMaintainer {}
            | Self::ArchiveFlag {}
            | Self::RestoreFlag {} => InstructionScope::Project,
        }
    }

    /// Parse a JSON array of instructions one by one, so a parse error names its index
    /// (`instructions[2]: unknown variant ...`), which plain `serde_json::from_value` cannot.
    pub fn parse_list(value: &Value) -> Result<Vec<Instruction>, FlagError> {
        let Value::Array(items) = value else {
            return Err(FlagError::invalid("instructions", "must be an array"));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                Instruction::deserialize(item)
                    .map_err(|e| FlagError::invalid(format!("instructions[{i}]"), e.to_string()))
            })
            .collect()
    }
}
