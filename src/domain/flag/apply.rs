//! Applying a semantic patch: all-or-nothing, with errors naming the instruction index.

use std::collections::{BTreeMap, HashSet};

use super::error::FlagError;
use super::instruction::Instruction;
use super::model::{
    FlagEnvironmentState, FlagSettings, Rollout, Rule, TOTAL_WEIGHT, Target, VariationOrRollout,
    WeightedVariation,
};
use super::validate::{
    check_clauses, check_context_key, check_index, check_name, check_tag, weight_sum_error,
};

/// The outcome of [`apply`]: the new values and whether each part changed
/// (so the caller bumps versions and writes audit entries only when needed).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// Project-wide settings after the patch.
    pub settings: FlagSettings,
    /// Environment state after the patch (`None` when none was given).
    pub state: Option<FlagEnvironmentState>,
    /// Settings differ from the input.
    pub settings_changed: bool,
    /// State differs from the input.
    pub state_changed: bool,
}

/// Apply `instructions` in order to copies of `settings` and `state`.
///
/// All-or-nothing: the first failing instruction aborts with an error whose path starts
/// with `instructions[i]`. `new_rule_ids` supplies ids for `addRule` (this module has no
/// randomness). The result is re-validated as a whole before it is returned.
pub fn apply(
    settings: &FlagSettings,
    state: Option<&FlagEnvironmentState>,
    instructions: &[Instruction],
    new_rule_ids: &mut dyn FnMut() -> String,
) -> Result<Applied, FlagError> {
    let mut next_settings = settings.clone();
    let mut next_state = state.cloned();
    for (i, instruction) in instructions.iter().enumerate() {
        let at = format!("instructions[{i}]");
        apply_one(
            &at,
            instruction,
            &mut next_settings,
            next_state.as_mut(),
            new_rule_ids,
        )?;
    }
    next_settings.validate()?;
    if let Some(s) = &next_state {
        s.validate(&next_settings)?;
    }
    Ok(Applied {
        settings_changed: next_settings != *settings,
        state_changed: next_state.as_ref() != state,
        settings: next_settings,
        state: next_state,
    })
}

/// The environment an env-scoped instruction works on, or the "needs environmentKey" error.
fn env<'a>(
    at: &str,
    instruction: &Instruction,
    state: Option<&'a mut FlagEnvironmentState>,
) -> Result<&'a mut FlagEnvironmentState, FlagError> {
    state.ok_or_else(|| FlagError::NeedsEnvironment {
        path: at.to_owned(),
        kind: instruction.kind(),
    })
}

fn apply_one(
    at: &str,
    instruction: &Instruction,
    settings: &mut FlagSettings,
    state: Option<&mut FlagEnvironmentState>,
    new_rule_ids: &mut dyn FnMut() -> String,
) -> Result<(), FlagError> {
    let count = settings.variations.len();
    match instruction {
        Instruction::TurnFlagOn {} => env(at, instruction, state)?.on = true,
        Instruction::TurnFlagOff {} => env(at, instruction, state)?.on = false,
        Instruction::UpdateOffVariation { variation } => {
            let s = env(at, instruction, state)?;
            check_index(&format!("{at}.variation"), *variation, count)?;
            s.off_variation = Some(*variation);
        }
        Instruction::UpdateFallthroughVariationOrRollout {
            variation,
            rollout_weights,
            rollout_bucket_by,
        } => {
            let s = env(at, instruction, state)?;
            s.fallthrough = build_variation_or_rollout(
                at,
                *variation,
                rollout_weights.as_ref(),
                rollout_bucket_by.as_deref(),
                count,
            )?;
        }
        Instruction::AddTargets { variation, values } => {
            let s = env(at, instruction, state)?;
            check_index(&format!("{at}.variation"), *variation, count)?;
            check_target_values(at, values)?;
            add_targets(s, *variation, values);
        }
        Instruction::RemoveTargets { variation, values } => {
            let s = env(at, instruction, state)?;
            check_index(&format!("{at}.variation"), *variation, count)?;
            let remove: HashSet<&str> = values.iter().map(String::as_str).collect();
            for target in s.targets.iter_mut().filter(|t| t.variation == *variation) {
                target.values.retain(|v| !remove.contains(v.as_str()));
            }
            s.targets.retain(|t| !t.values.is_empty());
        }
        Instruction::AddRule {
            clauses,
            variation,
            rollout_weights,
            rollout_bucket_by,
            description,
            before_rule_id,
        } => {
            let s = env(at, instruction, state)?;
            check_clauses(&format!("{at}.clauses"), clauses)?;
            let variation_or_rollout = build_variation_or_rollout(
                at,
                *variation,
                rollout_weights.as_ref(),
                rollout_bucket_by.as_deref(),
                count,
            )?;
            let position = match before_rule_id {
                None => s.rules.len(),
                Some(id) => rule_position(s, id).ok_or_else(|| {
                    FlagError::not_found(
                        format!("{at}.beforeRuleId"),
                        format!("no rule with id {id:?}"),
                    )
                })?,
            };
            let id = new_rule_ids();
            if id.is_empty() || rule_position(s, &id).is_some() {
                return Err(FlagError::invalid(
                    at,
                    format!("generated rule id {id:?} is empty or already in use"),
                ));
            }
            s.rules.insert(
                position,
                Rule {
                    id,
                    description: description.clone(),
                    clauses: clauses.clone(),
                    variation_or_rollout,
                },
            );
        }
        Instruction::RemoveRule { rule_id } => {
            let s = env(at, instruction, state)?;
            let position = rule_position(s, rule_id).ok_or_else(|| {
                FlagError::not_found(
                    format!("{at}.ruleId"),
                    format!("no rule with id {rule_id:?}"),
                )
            })?;
            s.rules.remove(position);
        }
        Instruction::AddTags { values } => {
            for (j, tag) in values.iter().enumerate() {
                check_tag(&format!("{at}.values[{j}]"), tag)?;
            }
            settings.tags.extend(values.iter().cloned());
            settings.tags.sort();
            settings.tags.dedup();
        }
        Instruction::RemoveTags { values } => settings.tags.retain(|t| !values.contains(t)),
        Instruction::UpdateName { value } => {
            check_name(&format!("{at}.value"), value)?;
            settings.name.clone_from(value);
        }
        Instruction::UpdateDescription { value } => settings.description.clone_from(value),
        Instruction::MakeFlagTemporary {} => settings.temporary = true,
        Instruction::MakeFlagPermanent {} => settings.temporary = false,
        Instruction::UpdateMaintainerMember { value } => {
            if value.trim().is_empty() {
                return Err(FlagError::invalid(
                    format!("{at}.value"),
                    "must not be empty",
                ));
            }
            settings.maintainer_id = Some(value.clone());
        }
        Instruction::RemoveMaintainer {} => settings.maintainer_id = None,
        Instruction::ArchiveFlag {} => settings.archived = true,
        Instruction::RestoreFlag {} => settings.archived = false,
    }
    Ok(())
}

fn rule_position(state: &FlagEnvironmentState, id: &str) -> Option<usize> {
    state.rules.iter().position(|r| r.id == id)
}

fn check_target_values(at: &str, values: &[String]) -> Result<(), FlagError> {
    if values.is_empty() {
        return Err(FlagError::invalid(
            format!("{at}.values"),
            "must not be empty",
        ));
    }
    for (j, key) in values.iter().enumerate() {
        check_context_key(&format!("{at}.values[{j}]"), key)?;
    }
    Ok(())
}

/// Target `values` at `variation`, moving them out of other variations' lists so a key
/// is targeted at most once. Target lists stay sorted by variation; keys keep insertion order.
fn add_targets(state: &mut FlagEnvironmentState, variation: usize, values: &[String]) {
    let moving: HashSet<&str> = values.iter().map(String::as_str).collect();
    for target in state
        .targets
        .iter_mut()
        .filter(|t| t.variation != variation)
    {
        target.values.retain(|v| !moving.contains(v.as_str()));
    }
    let position = state
        .targets
        .iter()
        .position(|t| t.variation >= variation)
        .unwrap_or(state.targets.len());
    let needs_new = state
        .targets
        .get(position)
        .is_none_or(|t| t.variation != variation);
    if needs_new {
        state.targets.insert(
            position,
            Target {
                variation,
                values: Vec::new(),
            },
        );
    }
    if let Some(target) = state.targets.get_mut(position) {
        let mut present: HashSet<String> = target.values.iter().cloned().collect();
        for value in values {
            if present.insert(value.clone()) {
                target.values.push(value.clone());
            }
        }
    }
    state.targets.retain(|t| !t.values.is_empty());
}

/// Turn an instruction's `variation` / `rolloutWeights` / `rolloutBucketBy` into a
/// [`VariationOrRollout`], reporting errors against the instruction's parameter names.
fn build_variation_or_rollout(
    at: &str,
    variation: Option<usize>,
    weights: Option<&BTreeMap<String, i64>>,
    bucket_by: Option<&str>,
    count: usize,
) -> Result<VariationOrRollout, FlagError> {
    match (variation, weights) {
        (Some(v), None) => {
            if bucket_by.is_some() {
                return Err(FlagError::invalid(
                    format!("{at}.rolloutBucketBy"),
                    "only applies together with rolloutWeights",
                ));
            }
            check_index(&format!("{at}.variation"), v, count)?;
            Ok(VariationOrRollout::Variation(v))
        }
        (None, Some(weights)) => {
            let path = format!("{at}.rolloutWeights");
            let mut variations: Vec<WeightedVariation> = Vec::with_capacity(weights.len());
            let mut sum: i128 = 0;
            for (key, &weight) in weights {
                let key_path = format!("{path}[{key:?}]");
                let index: usize = key.parse().map_err(|_| {
                    FlagError::invalid(&key_path, format!("key {key:?} is not a variation index"))
                })?;
                check_index(&key_path, index, count)?;
                if weight < 0 {
                    return Err(FlagError::invalid(
                        key_path,
                        format!("weight {weight} is negative"),
                    ));
                }
                // "1" and "01" parse to the same index.
                if variations.iter().any(|wv| wv.variation == index) {
                    return Err(FlagError::invalid(
                        key_path,
                        format!("variation {index} is given more than once"),
                    ));
                }
                sum += i128::from(weight);
                variations.push(WeightedVariation {
                    variation: index,
                    weight,
                });
            }
            if sum != i128::from(TOTAL_WEIGHT) {
                return Err(weight_sum_error(&path, sum));
            }
            // BTreeMap orders "10" before "2"; bucketing walks in variation order.
            variations.sort_by_key(|wv| wv.variation);
            if bucket_by == Some("") {
                return Err(FlagError::invalid(
                    format!("{at}.rolloutBucketBy"),
                    "must not be empty",
                ));
            }
            Ok(VariationOrRollout::Rollout(Rollout {
                variations,
                bucket_by: bucket_by.map(str::to_owned),
            }))
        }
        _ => Err(FlagError::invalid(
            at,
            "exactly one of variation or rolloutWeights is required",
        )),
    }
}
