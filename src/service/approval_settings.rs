//! Per-environment approval settings: what the REST API shows and how a patch changes them.

use poem_openapi::{Enum, Object};
use serde::Serialize;

use crate::domain::approval::{
    self as domain, ApprovalSetting, EnvironmentApprovalSettings, ResourceKind,
};
use crate::error::{Error, Result};
use crate::service::spelled::{Key, Matches, Spelled};
use crate::service::util::from_json;

// ---------------------------------------------------------------------------------------
// Settings

/// One resource kind's approval settings in an environment (LaunchDarkly's `approvalSettings`).
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct ApprovalSettingsRep {
    /// Every change of this kind in the environment needs an approved request.
    pub required: bool,
    /// Only flags with one of these tags need one (exclusive with `required`).
    pub required_approval_tags: Vec<String>,
    /// Distinct approvals needed before apply (1 to 5).
    pub min_num_approvals: u8,
    /// Authors may approve or decline their own request (they may always comment).
    pub can_review_own_request: bool,
    /// A declined request may still be applied once it has enough approvals.
    pub can_apply_declined_changes: bool,
    /// Kept for LaunchDarkly compatibility; Gatehouse has no scheduled changes, so it has no effect yet.
    pub bypass_approvals_for_pending_changes: bool,
    /// Service tokens may change the resource directly; each such change is audited as a bypass.
    pub service_tokens_bypass: bool,
    /// `flag` or `variable`.
    pub resource_kind: String,
}

impl ApprovalSettingsRep {
    pub fn new(s: &ApprovalSetting, kind: ResourceKind) -> Self {
        ApprovalSettingsRep {
            required: s.required,
            required_approval_tags: s.required_approval_tags.clone(),
            min_num_approvals: s.min_num_approvals,
            can_review_own_request: s.can_review_own_request,
            can_apply_declined_changes: s.can_apply_declined_changes,
            bypass_approvals_for_pending_changes: s.bypass_approvals_for_pending_changes,
            service_tokens_bypass: s.service_tokens_bypass,
            resource_kind: kind.as_str().to_owned(),
        }
    }
}

/// Approval settings of the resource kinds other than flags.
#[derive(Debug, Clone, Serialize, Object)]
pub struct ResourceApprovalSettingsRep {
    /// Environment variables (`required` only: variables have no tags).
    pub variable: ApprovalSettingsRep,
}

/// A change of flags' approval settings: the fields given replace the current ones, then
/// the whole setting is validated (`required: true` and tags exclude each other).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalSettingsPatch {
    pub required: Option<bool>,
    /// Changes of flags carrying one of these tags need an approved request.
    #[oai(validator(custom = "Matches::new()"))]
    pub required_approval_tags: Option<Vec<Spelled<Key>>>,
    /// 1 to 5.
    #[oai(validator(minimum(value = "1"), maximum(value = "5")))]
    pub min_num_approvals: Option<i64>,
    pub can_review_own_request: Option<bool>,
    pub can_apply_declined_changes: Option<bool>,
    pub bypass_approvals_for_pending_changes: Option<bool>,
    pub service_tokens_bypass: Option<bool>,
    // Accepted for LaunchDarkly compatibility. Undocumented here: a described reference
    // becomes an `allOf`, which generated clients cannot take of an enum.
    pub resource_kind: Option<FlagKindName>,
}

/// A change of environment variables' approval settings: as for flags, without tags.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct VariableApprovalSettingsPatch {
    pub required: Option<bool>,
    /// Always empty: variables have no tags. Accepted so that settings read back can be
    /// sent again.
    #[oai(validator(max_items = 0))]
    pub required_approval_tags: Option<Vec<String>>,
    /// 1 to 5.
    #[oai(validator(minimum(value = "1"), maximum(value = "5")))]
    pub min_num_approvals: Option<i64>,
    pub can_review_own_request: Option<bool>,
    pub can_apply_declined_changes: Option<bool>,
    pub bypass_approvals_for_pending_changes: Option<bool>,
    pub service_tokens_bypass: Option<bool>,
    // Accepted for symmetry with `approvalSettings` (undocumented: see above).
    pub resource_kind: Option<VariableKindName>,
}

/// The kind a flag setting names (LaunchDarkly's `resourceKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum FlagKindName {
    Flag,
}

/// The kind a variable setting names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum VariableKindName {
    Variable,
}

/// A change of the other kinds' approval settings.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ResourceApprovalSettingsPatch {
    pub variable: Option<VariableApprovalSettingsPatch>,
}

impl VariableApprovalSettingsPatch {
    /// The same change in the flag settings' shape, which `merge_into` applies.
    pub(crate) fn as_settings_patch(&self) -> ApprovalSettingsPatch {
        ApprovalSettingsPatch {
            required: self.required,
            required_approval_tags: self
                .required_approval_tags
                .as_ref()
                .map(|tags| tags.iter().map(Spelled::new).collect()),
            min_num_approvals: self.min_num_approvals,
            can_review_own_request: self.can_review_own_request,
            can_apply_declined_changes: self.can_apply_declined_changes,
            bypass_approvals_for_pending_changes: self.bypass_approvals_for_pending_changes,
            service_tokens_bypass: self.service_tokens_bypass,
            resource_kind: None,
        }
    }
}

impl ApprovalSettingsPatch {
    /// Applies the patch to `setting` and validates the result; errors name `prefix.field`.
    pub(crate) fn merge_into(
        &self,
        setting: &mut ApprovalSetting,
        kind: ResourceKind,
        prefix: &str,
    ) -> Result<()> {
        let mut next = setting.clone();
        if let Some(v) = self.required {
            next.required = v;
        }
        if let Some(v) = &self.required_approval_tags {
            next.required_approval_tags = Spelled::texts(v);
        }
        if let Some(v) = self.min_num_approvals {
            next.min_num_approvals = u8::try_from(v)
                .ok()
                .filter(|n| (1..=domain::MAX_APPROVALS).contains(n))
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "{prefix}.minNumApprovals: must be between 1 and {}, not {v}",
                        domain::MAX_APPROVALS
                    ))
                })?;
        }
        if let Some(v) = self.can_review_own_request {
            next.can_review_own_request = v;
        }
        if let Some(v) = self.can_apply_declined_changes {
            next.can_apply_declined_changes = v;
        }
        if let Some(v) = self.bypass_approvals_for_pending_changes {
            next.bypass_approvals_for_pending_changes = v;
        }
        if let Some(v) = self.service_tokens_bypass {
            next.service_tokens_bypass = v;
        }
        next.normalize_and_validate(kind)
            .map_err(|e| Error::invalid(format!("{prefix}.{e}")))?;
        *setting = next;
        Ok(())
    }
}

/// An environment's approval settings (defaults where none were set).
pub(crate) fn env_settings(
    env: &entity::environment::Model,
) -> Result<EnvironmentApprovalSettings> {
    from_json(&env.approval_settings)
}
