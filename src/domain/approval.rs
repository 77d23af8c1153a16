//! Approvals: per-environment settings, the review tally, when a request may be applied, and
//! the three-way conflict check between the flag a request was made against, the flag now,
//! and what the request would write. Pure: no I/O, no clock.
//!
//! Terms:
//! * A **request** proposes semantic-patch instructions for one flag in one environment (or a
//!   value for one environment variable), made against a *base* snapshot of that resource.
//! * Its **revision** starts at 1 and grows with every edit of its description or
//!   instructions. A review belongs to the revision it was made on; reviews of earlier
//!   revisions no longer count (an edit voids earlier approvals and declines).
//! * Its **authors** are the requestor and every member who edited it. An author's approve or
//!   decline counts only when `canReviewOwnRequest` is on, so editing someone's request and
//!   then approving it is no back door.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::flag::{self, FlagEnvironmentState, FlagError, FlagSettings, Instruction};

/// The most approvals a setting may require (LaunchDarkly's limit).
pub const MAX_APPROVALS: u8 = 5;

/// The most members a request may notify (LaunchDarkly: "up to ten members").
pub const MAX_NOTIFY: usize = 10;

/// The longest description a request may carry (LaunchDarkly: 5000 characters).
pub const MAX_DESCRIPTION_CHARS: usize = 5000;

/// The kinds of resource approval settings exist for. Segments do not exist in Gatehouse yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ResourceKind {
    /// A flag's state in an environment (semantic-patch instructions).
    Flag,
    /// An environment variable.
    Variable,
}

impl ResourceKind {
    /// The wire name (`flag`, `variable`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Flag => "flag",
            ResourceKind::Variable => "variable",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<ResourceKind> {
        match name {
            "flag" => Some(ResourceKind::Flag),
            "variable" => Some(ResourceKind::Variable),
            _ => None,
        }
    }
}

/// One environment's approval setting for one resource kind (LaunchDarkly's `ApprovalSettings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ApprovalSetting {
    /// Every change of this kind in the environment needs an approved request.
    pub required: bool,
    /// Only flags carrying one of these tags need one (exclusive with `required`).
    pub required_approval_tags: Vec<String>,
    /// Distinct approvals needed before a request may be applied (1..=5).
    pub min_num_approvals: u8,
    /// Authors may approve or decline their own request (they may always comment).
    pub can_review_own_request: bool,
    /// A declined request may still be applied once it has enough approvals.
    pub can_apply_declined_changes: bool,
    /// LaunchDarkly: pending (scheduled) changes skip approval. Gatehouse has no scheduled
    /// changes, so the setting is kept and shown but changes nothing yet.
    pub bypass_approvals_for_pending_changes: bool,
    /// Service tokens may change the resource directly (audited as a bypass).
    pub service_tokens_bypass: bool,
}

impl Default for ApprovalSetting {
    fn default() -> Self {
        ApprovalSetting {
            required: false,
            required_approval_tags: Vec::new(),
            min_num_approvals: 1,
            can_review_own_request: false,
            can_apply_declined_changes: false,
            bypass_approvals_for_pending_changes: false,
            service_tokens_bypass: false,
        }
    }
}

/// Why a setting is refused: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SettingError {
    /// camelCase field name.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl ApprovalSetting {
    /// Checks the invariants: `minNumApprovals` in 1..=5, `required` xor tags, no tags on
    /// resources that have none. Tags are sorted and de-duplicated first.
    pub fn normalize_and_validate(&mut self, kind: ResourceKind) -> Result<(), SettingError> {
        self.required_approval_tags.sort();
        self.required_approval_tags.dedup();
        if !(1..=MAX_APPROVALS).contains(&self.min_num_approvals) {
            return Err(SettingError {
                field: "minNumApprovals",
                message: format!(
                    "must be between 1 and {MAX_APPROVALS}, not {}",
                    self.min_num_approvals
                ),
            });
        }
        if self.required && !self.required_approval_tags.is_empty() {
            return Err(SettingError {
                field: "requiredApprovalTags",
                message: "give either required: true or requiredApprovalTags, not both".into(),
            });
        }
        if kind == ResourceKind::Variable && !self.required_approval_tags.is_empty() {
            return Err(SettingError {
                field: "requiredApprovalTags",
                message: "environment variables have no tags; use required".into(),
            });
        }
        if let Some(bad) = self
            .required_approval_tags
            .iter()
            .find(|t| !flag::is_valid_key(t))
        {
            return Err(SettingError {
                field: "requiredApprovalTags",
                message: format!("{bad:?} is not a valid tag"),
            });
        }
        Ok(())
    }

    /// Whether a change to a resource carrying `tags` needs an approved request.
    pub fn requires_approval<S: AsRef<str>>(&self, tags: &[S]) -> bool {
        self.required
            || tags
                .iter()
                .any(|t| self.required_approval_tags.iter().any(|r| r == t.as_ref()))
    }

    /// The required tags among `tags` (what made a change need approval).
    pub fn matching_tags<'a, S: AsRef<str>>(&'a self, tags: &'a [S]) -> Vec<&'a str> {
        tags.iter()
            .map(AsRef::as_ref)
            .filter(|t| self.required_approval_tags.iter().any(|r| r == t))
            .collect()
    }
}

/// All approval settings of one environment, as stored in its `approval_settings` column.
/// Missing kinds (and the empty object of environments created before approvals) mean the
/// defaults: nothing required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvironmentApprovalSettings {
    pub flag: ApprovalSetting,
    pub variable: ApprovalSetting,
}

impl EnvironmentApprovalSettings {
    /// The setting for one kind.
    pub fn for_kind(&self, kind: ResourceKind) -> &ApprovalSetting {
        match kind {
            ResourceKind::Flag => &self.flag,
            ResourceKind::Variable => &self.variable,
        }
    }
}

/// A request's lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RequestStatus {
    /// Open: may be reviewed, edited, applied or deleted.
    Pending,
    /// Applied.
    Completed,
    /// Apply found conflicts; closed.
    Failed,
}

impl RequestStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Completed => "completed",
            RequestStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<RequestStatus> {
        match s {
            "pending" => Some(RequestStatus::Pending),
            "completed" => Some(RequestStatus::Completed),
            "failed" => Some(RequestStatus::Failed),
            _ => None,
        }
    }
}

/// The aggregate of a request's standing reviews.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReviewStatus {
    Pending,
    Approved,
    Declined,
}

impl ReviewStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "pending",
            ReviewStatus::Approved => "approved",
            ReviewStatus::Declined => "declined",
        }
    }
    pub fn parse(s: &str) -> Option<ReviewStatus> {
        match s {
            "pending" => Some(ReviewStatus::Pending),
            "approved" => Some(ReviewStatus::Approved),
            "declined" => Some(ReviewStatus::Declined),
            _ => None,
        }
    }
}

/// What a review says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReviewKind {
    Approve,
    Decline,
    /// Never a vote: does not change the tally or replace an earlier vote.
    Comment,
}

impl ReviewKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ReviewKind::Approve => "approve",
            ReviewKind::Decline => "decline",
            ReviewKind::Comment => "comment",
        }
    }
    pub fn parse(s: &str) -> Option<ReviewKind> {
        match s {
            "approve" => Some(ReviewKind::Approve),
            "decline" => Some(ReviewKind::Decline),
            "comment" => Some(ReviewKind::Comment),
            _ => None,
        }
    }
    /// Approve and decline are votes; a comment is not.
    pub const fn is_vote(self) -> bool {
        matches!(self, ReviewKind::Approve | ReviewKind::Decline)
    }
}

/// One review as the tally sees it, in the order reviews were made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewFact<'a> {
    /// The reviewing member.
    pub member_id: &'a str,
    pub kind: ReviewKind,
    /// The request revision the review was made on.
    pub revision: i64,
}

/// The outcome of counting reviews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub status: ReviewStatus,
    /// Distinct members whose standing vote is approve.
    pub approvals: Vec<String>,
    /// Distinct members whose standing vote is decline.
    pub declines: Vec<String>,
}

/// Counts the standing votes: per member, the latest approve/decline made on the current
/// revision; authors' votes only when the setting lets them review their own request.
/// Declined if any standing decline, approved when distinct approvals reach
/// `minNumApprovals`, else pending.
pub fn tally(
    reviews: &[ReviewFact<'_>],
    current_revision: i64,
    authors: &[String],
    setting: &ApprovalSetting,
) -> Tally {
    let mut latest: BTreeMap<&str, ReviewKind> = BTreeMap::new();
    for review in reviews {
        if !review.kind.is_vote() || review.revision != current_revision {
            continue;
        }
        if !setting.can_review_own_request && authors.iter().any(|a| a == review.member_id) {
            continue;
        }
        latest.insert(review.member_id, review.kind);
    }
    let pick = |kind: ReviewKind| -> Vec<String> {
        latest
            .iter()
            .filter(|(_, k)| **k == kind)
            .map(|(m, _)| (*m).to_owned())
            .collect()
    };
    let approvals = pick(ReviewKind::Approve);
    let declines = pick(ReviewKind::Decline);
    let status = if !declines.is_empty() {
        ReviewStatus::Declined
    } else if approvals.len() >= usize::from(setting.min_num_approvals.max(1)) {
        ReviewStatus::Approved
    } else {
        ReviewStatus::Pending
    };
    Tally {
        status,
        approvals,
        declines,
    }
}

/// Whether a request may be applied now; the error says why not.
pub fn check_apply(
    status: RequestStatus,
    tally: &Tally,
    setting: &ApprovalSetting,
) -> Result<(), String> {
    if status != RequestStatus::Pending {
        return Err(format!(
            "the request is {} and cannot be applied again",
            status.as_str()
        ));
    }
    let needed = usize::from(setting.min_num_approvals.max(1));
    let have = tally.approvals.len();
    match tally.status {
        ReviewStatus::Approved => Ok(()),
        ReviewStatus::Declined if setting.can_apply_declined_changes && have >= needed => Ok(()),
        ReviewStatus::Declined if setting.can_apply_declined_changes => Err(format!(
            "the request is declined and has {have} of {needed} approvals needed to apply it anyway"
        )),
        ReviewStatus::Declined => Err(
            "the request is declined (canApplyDeclinedChanges is off in this environment)"
                .to_owned(),
        ),
        ReviewStatus::Pending => Err(format!(
            "the request is not approved yet: {have} of {needed} approvals"
        )),
    }
}

/// The state a flag request is made against and checked against at apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlagSnapshot {
    pub settings: FlagSettings,
    pub state: FlagEnvironmentState,
}

/// One reason a request cannot be applied (LaunchDarkly's `conflicts[{instruction, reason}]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// Index of the instruction concerned, when one is.
    pub instruction_index: Option<usize>,
    /// The field path the conflict is about (`on`, `targets/alice`, `rules/<id>`, `tags/beta`).
    pub field: Option<String>,
    pub reason: String,
}

/// A piece of a flag an instruction writes, compared three ways at apply.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    On,
    OffVariation,
    Fallthrough,
    /// Which variation targets this context key (if any).
    Target(String),
    /// A rule by id (absent = removed).
    Rule(String),
    /// Whether the flag carries this tag.
    Tag(String),
    Name,
    Description,
    Temporary,
    Maintainer,
    Archived,
}

impl Field {
    /// The path shown in conflict reports.
    pub fn path(&self) -> String {
        match self {
            Field::On => "on".into(),
            Field::OffVariation => "offVariation".into(),
            Field::Fallthrough => "fallthrough".into(),
            Field::Target(k) => format!("targets/{k}"),
            Field::Rule(id) => format!("rules/{id}"),
            Field::Tag(t) => format!("tags/{t}"),
            Field::Name => "name".into(),
            Field::Description => "description".into(),
            Field::Temporary => "temporary".into(),
            Field::Maintainer => "maintainerId".into(),
            Field::Archived => "archived".into(),
        }
    }

    /// The field's value in a flag, as JSON (`null` when absent).
    pub fn value(&self, settings: &FlagSettings, state: &FlagEnvironmentState) -> Value {
        match self {
            Field::On => Value::Bool(state.on),
            Field::OffVariation => json(&state.off_variation),
            Field::Fallthrough => json(&state.fallthrough),
            Field::Target(key) => json(
                &state
                    .targets
                    .iter()
                    .find(|t| t.values.iter().any(|v| v == key))
                    .map(|t| t.variation),
            ),
            Field::Rule(id) => json(&state.rules.iter().find(|r| &r.id == id)),
            Field::Tag(tag) => Value::Bool(settings.tags.iter().any(|t| t == tag)),
            Field::Name => Value::String(settings.name.clone()),
            Field::Description => Value::String(settings.description.clone()),
            Field::Temporary => Value::Bool(settings.temporary),
            Field::Maintainer => json(&settings.maintainer_id),
            Field::Archived => Value::Bool(settings.archived),
        }
    }
}

/// A model value as JSON; the flag model always serializes, `null` is never reached.
fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The fields an instruction writes. `addRule` writes a new rule with a fresh id, which
/// nobody else can have touched, so it claims no existing field (its `beforeRuleId` must
/// still exist, which applying to the current flag checks).
pub fn touched_fields(instruction: &Instruction) -> Vec<Field> {
    match instruction {
        Instruction::TurnFlagOn {} | Instruction::TurnFlagOff {} => vec![Field::On],
        Instruction::UpdateOffVariation { .. } => vec![Field::OffVariation],
        Instruction::UpdateFallthroughVariationOrRollout { .. } => vec![Field::Fallthrough],
        Instruction::AddTargets { values, .. } | Instruction::RemoveTargets { values, .. } => {
            values.iter().cloned().map(Field::Target).collect()
        }
        Instruction::AddRule { .. } => Vec::new(),
        Instruction::RemoveRule { rule_id } => vec![Field::Rule(rule_id.clone())],
        Instruction::AddTags { values } | Instruction::RemoveTags { values } => {
            values.iter().cloned().map(Field::Tag).collect()
        }
        Instruction::UpdateName { .. } => vec![Field::Name],
        Instruction::UpdateDescription { .. } => vec![Field::Description],
        Instruction::MakeFlagTemporary {} | Instruction::MakeFlagPermanent {} => {
            vec![Field::Temporary]
        }
        Instruction::UpdateMaintainerMember { .. } | Instruction::RemoveMaintainer {} => {
            vec![Field::Maintainer]
        }
        Instruction::ArchiveFlag {} | Instruction::RestoreFlag {} => vec![Field::Archived],
    }
}

/// The instruction index named by a flag error path such as `instructions[2].variation`.
fn instruction_index(err: &FlagError) -> Option<usize> {
    let rest = err.path().strip_prefix("instructions[")?;
    let (digits, _) = rest.split_once(']')?;
    digits.parse().ok()
}

/// Three-way conflict check of a flag request.
///
/// `base` is the flag the request was made against, `current` the flag now. A conflict is
/// either (a) the instructions no longer apply to `current` (an unknown rule id, a variation
/// that is gone, ...), or (b) a field the instructions write was changed since `base` to a
/// value other than the one the request would write: someone else decided that field
/// differently in the meantime. A field changed since to exactly the requested value is no
/// conflict (both sides agree), nor is any change to a field the request does not write.
pub fn flag_conflicts(
    base: &FlagSnapshot,
    current: &FlagSnapshot,
    instructions: &[Instruction],
) -> Vec<Conflict> {
    let mut out = Vec::new();
    let mut base_ids = rule_id_source("base");
    let mut current_ids = rule_id_source("current");
    if let Err(e) = flag::apply(
        &current.settings,
        Some(&current.state),
        instructions,
        &mut current_ids,
    ) {
        out.push(Conflict {
            instruction_index: instruction_index(&e),
            field: None,
            reason: format!("no longer applies to the flag: {e}"),
        });
    }
    let proposed = match flag::apply(
        &base.settings,
        Some(&base.state),
        instructions,
        &mut base_ids,
    ) {
        Ok(applied) => applied,
        Err(e) => {
            // Validated at creation against this very base, so this means the stored request
            // is unreadable in a new way; report it rather than apply blindly.
            out.push(Conflict {
                instruction_index: instruction_index(&e),
                field: None,
                reason: format!("does not apply to the flag it was made against: {e}"),
            });
            return out;
        }
    };
    let Some(proposed_state) = proposed.state.as_ref() else {
        return out;
    };
    let mut seen: Vec<Field> = Vec::new();
    for (i, instruction) in instructions.iter().enumerate() {
        for field in touched_fields(instruction) {
            if seen.contains(&field) {
                continue;
            }
            let was = field.value(&base.settings, &base.state);
            let now = field.value(&current.settings, &current.state);
            let wants = field.value(&proposed.settings, proposed_state);
            if was != now && now != wants {
                out.push(Conflict {
                    instruction_index: Some(i),
                    field: Some(field.path()),
                    reason: format!(
                        "{} changed since the request was made: it was {was}, it is now {now}, the request would set {wants}",
                        field.path()
                    ),
                });
            }
            seen.push(field);
        }
    }
    out
}

/// Deterministic rule ids for dry runs (the real write draws fresh ids).
fn rule_id_source(prefix: &'static str) -> impl FnMut() -> String {
    let mut n = 0u32;
    move || {
        n += 1;
        format!("dry-run-{prefix}-{n}")
    }
}

/// What a variable request proposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum VariableInstruction {
    /// Create or replace the variable.
    SetVariable {
        value: String,
        #[serde(default, deserialize_with = "crate::domain::json::null_as_default")]
        secret: bool,
    },
    /// Delete the variable.
    DeleteVariable {},
}

impl VariableInstruction {
    /// Parses a request's instruction list: exactly one variable instruction.
    pub fn parse_list(values: &[Value]) -> Result<VariableInstruction, String> {
        match values {
            [one] => VariableInstruction::deserialize(one).map_err(|e| {
                format!("instructions[0]: {e} (expected setVariable or deleteVariable)")
            }),
            _ => Err(format!(
                "instructions: a variable request holds exactly one instruction, not {}",
                values.len()
            )),
        }
    }

    /// The instruction as shown to readers: a secret value is never shown.
    pub fn redacted(&self) -> Value {
        match self {
            VariableInstruction::SetVariable {
                value,
                secret: false,
            } => serde_json::json!({"kind": "setVariable", "value": value, "secret": false}),
            VariableInstruction::SetVariable { secret: true, .. } => {
                serde_json::json!({"kind": "setVariable", "secret": true})
            }
            VariableInstruction::DeleteVariable {} => serde_json::json!({"kind": "deleteVariable"}),
        }
    }
}

/// The version of a variable a request was made against (`None`: it did not exist).
pub type VariableVersion = Option<i64>;

/// Conflict check of a variable request: a variable has one value, so any write since the
/// request (a new version, a creation or a deletion) conflicts, and deleting a variable that
/// no longer exists does not apply.
pub fn variable_conflicts(
    base: VariableVersion,
    current: VariableVersion,
    instruction: &VariableInstruction,
) -> Vec<Conflict> {
    let reason = match (base, current) {
        (_, None) if matches!(instruction, VariableInstruction::DeleteVariable {}) => {
            Some("no longer applies: the variable does not exist".to_owned())
        }
        (Some(b), Some(c)) if b != c => Some(format!(
            "the variable changed since the request was made (version {b}, now {c})"
        )),
        (Some(b), None) => Some(format!(
            "the variable was deleted since the request was made (it was at version {b})"
        )),
        (None, Some(c)) => Some(format!(
            "the variable was created since the request was made (now at version {c})"
        )),
        _ => None,
    };
    reason
        .map(|reason| Conflict {
            instruction_index: Some(0),
            field: Some("value".to_owned()),
            reason,
        })
        .into_iter()
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::flag::FlagKind;

    fn setting(min: u8) -> ApprovalSetting {
        ApprovalSetting {
            required: true,
            min_num_approvals: min,
            ..Default::default()
        }
    }

    fn r(member: &str, kind: ReviewKind, revision: i64) -> ReviewFact<'_> {
        ReviewFact {
            member_id: member,
            kind,
            revision,
        }
    }

    use ReviewKind::{Approve, Comment, Decline};

    #[test]
    fn settings_validate_their_invariants() {
        let mut s = ApprovalSetting::default();
        assert!(s.normalize_and_validate(ResourceKind::Flag).is_ok());
        for bad in [0u8, 6, 255] {
            let mut s = ApprovalSetting {
                min_num_approvals: bad,
                ..Default::default()
            };
            let e = s.normalize_and_validate(ResourceKind::Flag).unwrap_err();
            assert_eq!(e.field, "minNumApprovals");
        }
        let mut both = ApprovalSetting {
            required: true,
            required_approval_tags: vec!["x".into()],
            ..Default::default()
        };
        assert_eq!(
            both.normalize_and_validate(ResourceKind::Flag)
                .unwrap_err()
                .field,
            "requiredApprovalTags"
        );
        let mut var_tags = ApprovalSetting {
            required_approval_tags: vec!["x".into()],
            ..Default::default()
        };
        assert!(
            var_tags
                .normalize_and_validate(ResourceKind::Variable)
                .is_err()
        );
        let mut bad_tag = ApprovalSetting {
            required_approval_tags: vec!["no spaces".into()],
            ..Default::default()
        };
        assert!(bad_tag.normalize_and_validate(ResourceKind::Flag).is_err());
        let mut dup = ApprovalSetting {
            required_approval_tags: vec!["b".into(), "a".into(), "b".into()],
            ..Default::default()
        };
        dup.normalize_and_validate(ResourceKind::Flag).unwrap();
        assert_eq!(dup.required_approval_tags, vec!["a", "b"]);
    }

    #[test]
    fn defaults_follow_the_issue_not_launchdarkly() {
        // LaunchDarkly defaults canApplyDeclinedChanges to true; Gatehouse is stricter.
        let s: EnvironmentApprovalSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, EnvironmentApprovalSettings::default());
        assert!(!s.flag.required && !s.flag.can_review_own_request);
        assert!(!s.flag.can_apply_declined_changes && !s.flag.service_tokens_bypass);
        assert_eq!(s.flag.min_num_approvals, 1);
        let partial: EnvironmentApprovalSettings =
            serde_json::from_value(json!({"flag": {"required": true}})).unwrap();
        assert!(partial.flag.required && partial.flag.min_num_approvals == 1);
    }

    #[test]
    fn requirement_by_flag_or_by_tag() {
        let all = setting(1);
        assert!(all.requires_approval::<&str>(&[]));
        let tagged = ApprovalSetting {
            required_approval_tags: vec!["prod-gated".into()],
            ..Default::default()
        };
        assert!(!tagged.requires_approval(&["beta"]));
        assert!(tagged.requires_approval(&["beta", "prod-gated"]));
        assert_eq!(
            tagged.matching_tags(&["beta", "prod-gated"]),
            vec!["prod-gated"]
        );
        assert!(!ApprovalSetting::default().requires_approval(&["prod-gated"]));
    }

    #[test]
    fn one_member_counts_once_and_their_latest_vote_stands() {
        let s = setting(2);
        let reviews = [
            r("ann", Approve, 1),
            r("ann", Approve, 1),
            r("ann", Comment, 1),
        ];
        let t = tally(&reviews, 1, &[], &s);
        assert_eq!(t.status, ReviewStatus::Pending);
        assert_eq!(t.approvals, vec!["ann"]);
        let reviews = [r("ann", Approve, 1), r("bob", Approve, 1)];
        assert_eq!(tally(&reviews, 1, &[], &s).status, ReviewStatus::Approved);
        // A later decline replaces the same member's approval; a comment does not.
        let reviews = [
            r("ann", Approve, 1),
            r("bob", Approve, 1),
            r("bob", Decline, 1),
        ];
        let t = tally(&reviews, 1, &[], &s);
        assert_eq!(t.status, ReviewStatus::Declined);
        assert_eq!((t.approvals.len(), t.declines.len()), (1, 1));
        let reviews = [
            r("bob", Decline, 1),
            r("bob", Approve, 1),
            r("bob", Comment, 1),
        ];
        assert_eq!(
            tally(&reviews, 1, &[], &setting(1)).status,
            ReviewStatus::Approved
        );
    }

    #[test]
    fn any_standing_decline_wins_over_enough_approvals() {
        let reviews = [
            r("a", Approve, 1),
            r("b", Approve, 1),
            r("c", Approve, 1),
            r("d", Decline, 1),
        ];
        assert_eq!(
            tally(&reviews, 1, &[], &setting(2)).status,
            ReviewStatus::Declined
        );
    }

    #[test]
    fn an_edit_voids_earlier_votes() {
        let reviews = [r("a", Approve, 1), r("b", Decline, 1), r("c", Approve, 2)];
        let t = tally(&reviews, 2, &[], &setting(1));
        assert_eq!(t.status, ReviewStatus::Approved);
        assert_eq!(t.approvals, vec!["c"]);
        let t = tally(&reviews, 3, &[], &setting(1));
        assert_eq!(t.status, ReviewStatus::Pending);
        assert!(t.approvals.is_empty() && t.declines.is_empty());
    }

    #[test]
    fn authors_votes_count_only_when_self_review_is_allowed() {
        let authors = vec!["req".to_owned(), "editor".to_owned()];
        let reviews = [r("req", Approve, 1), r("editor", Approve, 1)];
        assert_eq!(
            tally(&reviews, 1, &authors, &setting(1)).status,
            ReviewStatus::Pending
        );
        let lenient = ApprovalSetting {
            can_review_own_request: true,
            ..setting(2)
        };
        assert_eq!(
            tally(&reviews, 1, &authors, &lenient).status,
            ReviewStatus::Approved
        );
    }

    #[test]
    fn apply_needs_approval_or_an_allowed_decline() {
        let s = setting(2);
        let approved = tally(&[r("a", Approve, 1), r("b", Approve, 1)], 1, &[], &s);
        assert!(check_apply(RequestStatus::Pending, &approved, &s).is_ok());
        assert!(check_apply(RequestStatus::Completed, &approved, &s).is_err());
        assert!(check_apply(RequestStatus::Failed, &approved, &s).is_err());
        let pending = tally(&[r("a", Approve, 1)], 1, &[], &s);
        assert!(
            check_apply(RequestStatus::Pending, &pending, &s)
                .unwrap_err()
                .contains("1 of 2")
        );
        let declined = tally(
            &[r("a", Approve, 1), r("b", Approve, 1), r("c", Decline, 1)],
            1,
            &[],
            &s,
        );
        assert!(check_apply(RequestStatus::Pending, &declined, &s).is_err());
        let lenient = ApprovalSetting {
            can_apply_declined_changes: true,
            ..s.clone()
        };
        assert!(check_apply(RequestStatus::Pending, &declined, &lenient).is_ok());
        let declined_short = tally(&[r("a", Approve, 1), r("c", Decline, 1)], 1, &[], &s);
        assert!(check_apply(RequestStatus::Pending, &declined_short, &lenient).is_err());
    }

    fn flag() -> FlagSnapshot {
        let settings = FlagSettings::new("f", "F", FlagKind::Boolean);
        let state = FlagEnvironmentState::initial(&settings, "salt".into());
        FlagSnapshot { settings, state }
    }

    fn ins(v: Value) -> Vec<Instruction> {
        Instruction::parse_list(&v).unwrap()
    }

    fn with(base: &FlagSnapshot, v: Value) -> FlagSnapshot {
        let mut n = 0;
        let a = flag::apply(&base.settings, Some(&base.state), &ins(v), &mut || {
            n += 1;
            format!("rule-{n}")
        })
        .unwrap();
        FlagSnapshot {
            settings: a.settings,
            state: a.state.unwrap(),
        }
    }

    #[test]
    fn unrelated_changes_do_not_conflict() {
        let base = flag();
        let request = ins(json!([{"kind": "turnFlagOn"}]));
        let current = with(
            &base,
            json!([{"kind": "addTargets", "variation": 0, "values": ["alice"]}, {"kind": "addTags", "values": ["x"]}]),
        );
        assert!(flag_conflicts(&base, &current, &request).is_empty());
        assert!(flag_conflicts(&base, &base, &request).is_empty());
    }

    #[test]
    fn a_touched_field_changed_differently_conflicts() {
        let base = flag();
        let request = ins(json!([{"kind": "updateFallthroughVariationOrRollout", "variation": 1}]));
        let current = with(
            &base,
            json!([{"kind": "updateFallthroughVariationOrRollout", "rolloutWeights": {"0": 50000, "1": 50000}}]),
        );
        let c = flag_conflicts(&base, &current, &request);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].field.as_deref(), Some("fallthrough"));
        assert_eq!(c[0].instruction_index, Some(0));
    }

    #[test]
    fn the_same_change_on_both_sides_is_no_conflict() {
        let base = flag();
        let request = ins(json!([{"kind": "turnFlagOn"}]));
        let current = with(&base, json!([{"kind": "turnFlagOn"}]));
        assert!(flag_conflicts(&base, &current, &request).is_empty());
    }

    #[test]
    fn a_reverted_intent_conflicts_even_when_the_request_wrote_no_difference() {
        // The request was made when the flag was on ("keep it on"), someone turned it off
        // since: applying would silently overrule them.
        let base = with(&flag(), json!([{"kind": "turnFlagOn"}]));
        let request = ins(
            json!([{"kind": "turnFlagOn"}, {"kind": "addTargets", "variation": 0, "values": ["a"]}]),
        );
        let current = with(&base, json!([{"kind": "turnFlagOff"}]));
        let c = flag_conflicts(&base, &current, &request);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].field.as_deref(), Some("on"));
    }

    #[test]
    fn targets_are_compared_per_context_key() {
        let base = flag();
        let request = ins(json!([{"kind": "addTargets", "variation": 0, "values": ["alice"]}]));
        let other_key = with(
            &base,
            json!([{"kind": "addTargets", "variation": 1, "values": ["bob"]}]),
        );
        assert!(flag_conflicts(&base, &other_key, &request).is_empty());
        let same_key = with(
            &base,
            json!([{"kind": "addTargets", "variation": 1, "values": ["alice"]}]),
        );
        let c = flag_conflicts(&base, &same_key, &request);
        assert_eq!(c[0].field.as_deref(), Some("targets/alice"));
    }

    #[test]
    fn instructions_that_no_longer_apply_conflict() {
        let base = with(
            &flag(),
            json!([{"kind": "addRule", "clauses": [{"attribute": "country", "op": "in", "values": ["fr"]}], "variation": 0}]),
        );
        let request = ins(json!([{"kind": "removeRule", "ruleId": "rule-1"}]));
        let current = with(&base, json!([{"kind": "removeRule", "ruleId": "rule-1"}]));
        let c = flag_conflicts(&base, &current, &request);
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].reason.contains("no longer applies"), "{c:?}");
        assert_eq!(c[0].instruction_index, Some(0));
        // A rule edited since its removal was requested conflicts too.
        let edited = FlagSnapshot {
            state: FlagEnvironmentState {
                rules: base
                    .state
                    .rules
                    .iter()
                    .cloned()
                    .map(|mut r| {
                        r.description = Some("now important".into());
                        r
                    })
                    .collect(),
                ..base.state.clone()
            },
            ..base.clone()
        };
        let c = flag_conflicts(&base, &edited, &request);
        assert_eq!(c[0].field.as_deref(), Some("rules/rule-1"));
    }

    #[test]
    fn tags_and_project_wide_fields_are_compared_too() {
        let base = flag();
        let request = ins(
            json!([{"kind": "addTags", "values": ["a", "b"]}, {"kind": "updateName", "value": "New"}]),
        );
        let current = with(
            &base,
            json!([{"kind": "addTags", "values": ["a"]}, {"kind": "updateName", "value": "Other"}]),
        );
        let c = flag_conflicts(&base, &current, &request);
        assert_eq!(c.len(), 1, "tag a was added on both sides: {c:?}");
        assert_eq!(c[0].field.as_deref(), Some("name"));
    }

    #[test]
    fn variable_requests_conflict_on_any_write_since() {
        let set = VariableInstruction::SetVariable {
            value: "v".into(),
            secret: false,
        };
        let del = VariableInstruction::DeleteVariable {};
        assert!(variable_conflicts(Some(2), Some(2), &set).is_empty());
        assert!(variable_conflicts(None, None, &set).is_empty());
        assert_eq!(variable_conflicts(Some(2), Some(3), &set).len(), 1);
        assert_eq!(variable_conflicts(Some(2), None, &set).len(), 1);
        assert_eq!(variable_conflicts(None, Some(1), &set).len(), 1);
        assert!(variable_conflicts(Some(2), Some(2), &del).is_empty());
        assert_eq!(variable_conflicts(Some(2), None, &del).len(), 1);
    }

    #[test]
    fn variable_instructions_parse_strictly_and_hide_secrets() {
        let one = VariableInstruction::parse_list(&[
            json!({"kind": "setVariable", "value": "s3cret", "secret": true}),
        ])
        .unwrap();
        assert!(!one.redacted().to_string().contains("s3cret"));
        assert!(VariableInstruction::parse_list(&[]).is_err());
        assert!(VariableInstruction::parse_list(&[json!({"kind": "turnFlagOn"})]).is_err());
        assert!(
            VariableInstruction::parse_list(&[json!({"kind": "deleteVariable", "x": 1})]).is_err()
        );
        let plain =
            VariableInstruction::parse_list(&[json!({"kind": "setVariable", "value": "x"})])
                .unwrap();
        assert_eq!(plain.redacted()["value"], "x");
    }

    mod props {
        use proptest::prelude::*;
        use serde_json::json;

        use super::super::*;
        use super::flag as base_flag;

        fn arb_kind() -> impl Strategy<Value = ReviewKind> {
            prop_oneof![
                Just(ReviewKind::Approve),
                Just(ReviewKind::Decline),
                Just(ReviewKind::Comment)
            ]
        }

        const MEMBERS: [&str; 4] = ["a", "b", "c", "d"];

        fn arb_reviews() -> impl Strategy<Value = Vec<(usize, ReviewKind, i64)>> {
            prop::collection::vec((0..MEMBERS.len(), arb_kind(), 1i64..=3), 0..12)
        }

        fn facts(raw: &[(usize, ReviewKind, i64)]) -> Vec<ReviewFact<'static>> {
            raw.iter()
                .map(|(m, kind, revision)| ReviewFact {
                    member_id: MEMBERS[*m],
                    kind: *kind,
                    revision: *revision,
                })
                .collect()
        }

        fn arb_setting() -> impl Strategy<Value = ApprovalSetting> {
            (1u8..=5, any::<bool>()).prop_map(|(min, own)| ApprovalSetting {
                required: true,
                min_num_approvals: min,
                can_review_own_request: own,
                ..Default::default()
            })
        }

        /// Instructions over a boolean flag's environment and settings; some may not apply.
        fn arb_instruction() -> impl Strategy<Value = serde_json::Value> {
            let key = prop::sample::select(vec!["alice", "bob", "carol"]);
            let tag = prop::sample::select(vec!["x", "y"]);
            prop_oneof![
                Just(json!({"kind": "turnFlagOn"})),
                Just(json!({"kind": "turnFlagOff"})),
                (0usize..2).prop_map(|v| json!({"kind": "updateOffVariation", "variation": v})),
                (0usize..2).prop_map(
                    |v| json!({"kind": "updateFallthroughVariationOrRollout", "variation": v})
                ),
                (0usize..2, key.clone()).prop_map(
                    |(v, k)| json!({"kind": "addTargets", "variation": v, "values": [k]})
                ),
                (0usize..2, key).prop_map(
                    |(v, k)| json!({"kind": "removeTargets", "variation": v, "values": [k]})
                ),
                tag.clone()
                    .prop_map(|t| json!({"kind": "addTags", "values": [t]})),
                tag.prop_map(|t| json!({"kind": "removeTags", "values": [t]})),
                Just(
                    json!({"kind": "addRule", "clauses": [{"attribute": "country", "op": "in", "values": ["fr"]}], "variation": 0})
                ),
                Just(json!({"kind": "archiveFlag"})),
            ]
        }

        fn arb_instructions() -> impl Strategy<Value = Vec<Instruction>> {
            prop::collection::vec(arb_instruction(), 1..5)
                .prop_map(|v| Instruction::parse_list(&serde_json::Value::Array(v)).unwrap())
        }

        /// A base flag that some instructions already changed.
        fn arb_base() -> impl Strategy<Value = FlagSnapshot> {
            arb_instructions().prop_map(|ins| {
                let f = base_flag();
                let mut n = 0;
                match crate::domain::flag::apply(&f.settings, Some(&f.state), &ins, &mut || {
                    n += 1;
                    format!("base-{n}")
                }) {
                    Ok(a) => FlagSnapshot {
                        settings: a.settings,
                        state: a.state.unwrap(),
                    },
                    Err(_) => f,
                }
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn comments_and_repeated_votes_never_change_the_tally(
                raw in arb_reviews(),
                setting in arb_setting(),
                revision in 1i64..=3,
                extra in 0..MEMBERS.len(),
            ) {
                let authors = vec!["d".to_owned()];
                let reviews = facts(&raw);
                let t = tally(&reviews, revision, &authors, &setting);
                let mut with_comment = reviews.clone();
                with_comment.push(ReviewFact { member_id: MEMBERS[extra], kind: ReviewKind::Comment, revision });
                prop_assert_eq!(&tally(&with_comment, revision, &authors, &setting), &t);
                // Repeating a member's standing vote changes nothing.
                if let Some(last) = reviews.iter().rev().find(|r| r.kind.is_vote() && r.revision == revision) {
                    let mut repeated = reviews.clone();
                    repeated.push(last.clone());
                    prop_assert_eq!(&tally(&repeated, revision, &authors, &setting), &t);
                }
                // Votes on other revisions count for nothing.
                let current_only: Vec<_> = reviews.iter().filter(|r| r.revision == revision).cloned().collect();
                prop_assert_eq!(&tally(&current_only, revision, &authors, &setting), &t);
            }

            #[test]
            fn the_tally_is_what_the_rule_says(
                raw in arb_reviews(),
                setting in arb_setting(),
            ) {
                let authors = vec!["d".to_owned()];
                let t = tally(&facts(&raw), 1, &authors, &setting);
                prop_assert!(!t.approvals.iter().any(|a| t.declines.contains(a)), "one vote per member");
                if !setting.can_review_own_request {
                    prop_assert!(!t.approvals.contains(&"d".to_owned()) && !t.declines.contains(&"d".to_owned()));
                }
                let expected = if !t.declines.is_empty() {
                    ReviewStatus::Declined
                } else if t.approvals.len() >= usize::from(setting.min_num_approvals) {
                    ReviewStatus::Approved
                } else {
                    ReviewStatus::Pending
                };
                prop_assert_eq!(t.status, expected);
                prop_assert_eq!(check_apply(RequestStatus::Pending, &t, &setting).is_ok(), t.status == ReviewStatus::Approved);
            }

            #[test]
            fn nothing_changed_since_means_no_conflict(base in arb_base(), ins in arb_instructions()) {
                let mut n = 0;
                let applies = crate::domain::flag::apply(&base.settings, Some(&base.state), &ins, &mut || {
                    n += 1;
                    format!("r-{n}")
                })
                .is_ok();
                let conflicts = flag_conflicts(&base, &base, &ins);
                // Either the request applies and nothing conflicts, or it never applied.
                prop_assert_eq!(conflicts.is_empty(), applies, "{:?}", conflicts);
            }

            #[test]
            fn someone_else_making_the_same_change_is_no_conflict(base in arb_base(), ins in arb_instructions()) {
                let mut n = 0;
                let Ok(theirs) = crate::domain::flag::apply(&base.settings, Some(&base.state), &ins, &mut || {
                    n += 1;
                    format!("theirs-{n}")
                }) else {
                    return Ok(());
                };
                let current = FlagSnapshot { settings: theirs.settings, state: theirs.state.unwrap() };
                let field_conflicts: Vec<_> = flag_conflicts(&base, &current, &ins)
                    .into_iter()
                    .filter(|c| c.field.is_some())
                    .collect();
                prop_assert!(field_conflicts.is_empty(), "{:?}", field_conflicts);
            }
        }
    }
}
