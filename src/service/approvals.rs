//! Approvals: per-environment settings, the gate every flag and variable change passes, and
//! approval requests with their reviews and apply.
//!
//! * A request names its resource as `proj/P:env/E:flag/F` or `proj/P:env/E:var/NAME`.
//! * Approval actions (`createApprovalRequest`, `updateApprovalRequest`,
//!   `deleteApprovalRequest`, `reviewApprovalRequest`, `applyApprovalRequest`) are checked on
//!   the request resource `proj/P:env/E:request/<id>` (with the project's and environment's
//!   tags and `{critical}`); refusals of approval actions are themselves audited.
//! * Every lifecycle entry carries two accesses, the request resource and the flag (or
//!   variable) resource, so `GET /api/v2/auditlog?spec=proj/P:env/E:flag/F` tells who
//!   requested, reviewed, applied or deleted, and when; each entry's `approvalRequestId`
//!   names the request.
//! * Concurrency: every change of a request is a conditional update
//!   `... WHERE id = ? AND status = 'pending' AND version = ?` inside the one write
//!   transaction, so of two racing applies one wins and the other gets 409, and a review that
//!   lands while an apply is deciding makes that apply fail with 409 instead of applying on a
//!   stale tally.

use std::collections::BTreeMap;

use poem_openapi::Object;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::Serialize;
use serde_json::Value;

use super::authz::authorize;
use super::flags::{self, ChangeOrigin, FlagSemanticPatch};
use super::util::{check_version, from_json, new_id, snapshot, to_json};
use super::variables::{self, VariablePut};
use super::{AuditDraft, Ctx, Principal, Service, WriteTx, environments, projects};
use crate::domain::approval::{
    self as domain, ApprovalSetting, Conflict, EnvironmentApprovalSettings, FlagSnapshot,
    RequestStatus, ResourceKind, ReviewFact, ReviewKind, ReviewStatus, Tally, VariableInstruction,
};
use crate::domain::flag::{self, Instruction};
use crate::domain::policy::{Resource, ResourceType};
use crate::error::{Error, Result};

/// Default and largest page of `GET /api/v2/approval-requests` (LaunchDarkly's numbers).
const DEFAULT_LIMIT: u64 = 20;
const MAX_LIMIT: u64 = 200;

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

/// A change of approval settings: the fields given replace the current ones, then the
/// whole setting is validated.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalSettingsPatch {
    pub required: Option<bool>,
    pub required_approval_tags: Option<Vec<String>>,
    /// 1 to 5.
    pub min_num_approvals: Option<i64>,
    pub can_review_own_request: Option<bool>,
    pub can_apply_declined_changes: Option<bool>,
    pub bypass_approvals_for_pending_changes: Option<bool>,
    pub service_tokens_bypass: Option<bool>,
    /// Accepted for LaunchDarkly compatibility; must name the kind being changed.
    pub resource_kind: Option<String>,
}

/// A change of the other kinds' approval settings.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ResourceApprovalSettingsPatch {
    pub variable: Option<ApprovalSettingsPatch>,
}

impl ApprovalSettingsPatch {
    /// Applies the patch to `setting` and validates the result; errors name `prefix.field`.
    pub(crate) fn merge_into(
        &self,
        setting: &mut ApprovalSetting,
        kind: ResourceKind,
        prefix: &str,
    ) -> Result<()> {
        if let Some(k) = &self.resource_kind
            && k != kind.as_str()
        {
            return Err(Error::invalid(format!(
                "{prefix}.resourceKind: {k:?} is not {:?}",
                kind.as_str()
            )));
        }
        let mut next = setting.clone();
        if let Some(v) = self.required {
            next.required = v;
        }
        if let Some(v) = &self.required_approval_tags {
            next.required_approval_tags.clone_from(v);
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

// ---------------------------------------------------------------------------------------
// The gate

/// One environment in which a change needs an approved request.
pub(crate) struct GateTarget {
    env_key: String,
    setting: ApprovalSetting,
    /// The resource `bypassRequiredApproval` is checked on.
    resource: Resource,
    /// Why approval is needed, for the 422 message.
    reason: String,
    /// The `resourceId` to create the request with.
    resource_id: String,
}

/// A required approval the caller was allowed to skip; recorded in the change's audit entry.
pub(crate) struct Bypass {
    pub env_key: String,
    pub resource: Resource,
    /// Skipped as a service token under `serviceTokensBypass` (not by permission).
    pub by_service_token_setting: bool,
}

/// Whether a flag change needs approval in `env`. Environment-scoped instructions
/// (`scoped_here`) need it when the environment requires approval for every flag, or for a
/// tag the flag carries before or after the change. Project-wide instructions (name, tags,
/// ...) have no environment and are not gated (as in LaunchDarkly), with one exception:
/// removing a tag that an environment requires approval for, which would otherwise lift the
/// requirement without anyone's approval.
pub(crate) fn flag_gate(
    env: &entity::environment::Model,
    project_key: &str,
    flag_key: &str,
    scoped_here: bool,
    before_tags: &[String],
    after_tags: &[String],
    resource: Resource,
) -> Result<Option<GateTarget>> {
    let setting = env_settings(env)?.flag;
    let reason = if scoped_here {
        if setting.required {
            Some(format!("flags in environment {} require approval", env.key))
        } else {
            let mut tags = setting.matching_tags(before_tags);
            tags.extend(setting.matching_tags(after_tags));
            tags.sort_unstable();
            tags.dedup();
            (!tags.is_empty()).then(|| {
                format!(
                    "flag {flag_key} is tagged {} and that requires approval in environment {}",
                    tags.join(", "),
                    env.key
                )
            })
        }
    } else if setting.required {
        None
    } else {
        let removed: Vec<&str> = before_tags
            .iter()
            .filter(|t| !after_tags.contains(t))
            .filter(|t| setting.required_approval_tags.contains(t))
            .map(String::as_str)
            .collect();
        (!removed.is_empty()).then(|| {
            format!(
                "removing tag {} from flag {flag_key} would lift the approval requirement of environment {}",
                removed.join(", "),
                env.key
            )
        })
    };
    Ok(reason.map(|reason| GateTarget {
        env_key: env.key.clone(),
        setting,
        resource,
        reason,
        resource_id: format!("proj/{project_key}:env/{}:flag/{flag_key}", env.key),
    }))
}

/// Whether a variable write needs approval in `env`.
pub(crate) fn variable_gate(
    env: &entity::environment::Model,
    project_key: &str,
    name: &str,
    resource: Resource,
) -> Result<Option<GateTarget>> {
    let setting = env_settings(env)?.variable;
    if !setting.required {
        return Ok(None);
    }
    Ok(Some(GateTarget {
        env_key: env.key.clone(),
        reason: format!(
            "environment variables in environment {} require approval",
            env.key
        ),
        setting,
        resource,
        resource_id: format!("proj/{project_key}:env/{}:var/{name}", env.key),
    }))
}

/// Lets the change through where the caller may bypass the requirement (the
/// `bypassRequiredApproval` action, or a service token under `serviceTokensBypass`), and
/// refuses it with 422 `approval_required` otherwise, before anything is written.
pub(crate) fn pass_gate(principal: &Principal, targets: Vec<GateTarget>) -> Result<Vec<Bypass>> {
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        let by_permission = authorize(principal, "bypassRequiredApproval", &t.resource).is_ok();
        let by_setting =
            !by_permission && t.setting.service_tokens_bypass && is_service_token(principal);
        if !by_permission && !by_setting {
            return Err(Error::ApprovalRequired(format!(
                "{}: this change needs an approved approval request. Create one with POST /api/v2/approval-requests \
                 {{\"resourceId\": \"{}\", \"description\": \"...\", \"instructions\": [...]}}",
                t.reason, t.resource_id
            )));
        }
        out.push(Bypass {
            env_key: t.env_key,
            resource: t.resource,
            by_service_token_setting: by_setting,
        });
    }
    Ok(out)
}

/// The audit description suffix that marks a bypass ("" when there was none).
pub(crate) fn describe_bypasses(bypasses: &[Bypass]) -> String {
    bypasses
        .iter()
        .map(|b| {
            let how = if b.by_service_token_setting {
                "service token; serviceTokensBypass is on"
            } else {
                "bypassRequiredApproval"
            };
            format!("; BYPASSED required approval in {} ({how})", b.env_key)
        })
        .collect()
}

fn is_service_token(principal: &Principal) -> bool {
    matches!(principal, Principal::Token(t) if t.service_token)
}

fn token_id(principal: &Principal) -> Option<String> {
    match principal {
        Principal::Token(t) => Some(t.token_id.clone()),
        _ => None,
    }
}

fn member_id(principal: &Principal) -> Option<String> {
    principal.member().map(|m| m.id.clone())
}

// ---------------------------------------------------------------------------------------
// API shapes

/// Body of `POST /api/v2/approval-requests`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalRequestPost {
    /// `proj/<project>:env/<environment>:flag/<flag>` or `proj/<project>:env/<environment>:var/<name>`.
    pub resource_id: String,
    /// Why the change is wanted (1 to 5000 characters).
    pub description: String,
    /// Flags: semantic-patch instructions as for `PATCH /api/v2/flags/{projectKey}/{flagKey}`.
    /// Variables: exactly one of `{"kind": "setVariable", "value", "secret"?}` or `{"kind": "deleteVariable"}`.
    pub instructions: Vec<Value>,
    /// Members to ask for a review (at most 10).
    #[oai(default)]
    pub notify_member_ids: Vec<String>,
    /// Teams to ask for a review.
    #[oai(default)]
    pub notify_team_keys: Vec<String>,
    /// Recorded in the audit entry.
    pub comment: Option<String>,
}

/// Body of `PATCH /api/v2/approval-requests/{id}`. Changing the description or the
/// instructions voids every approval and decline so far; changing the notify lists does not.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalRequestPatch {
    pub description: Option<String>,
    /// Re-validated against the resource as it is now, which becomes the request's new base.
    pub instructions: Option<Vec<Value>>,
    pub notify_member_ids: Option<Vec<String>>,
    pub notify_team_keys: Option<Vec<String>>,
    pub comment: Option<String>,
    /// The `_version` the edit was made against; 409 when stale.
    pub version: Option<i64>,
}

/// Body of `POST /api/v2/approval-requests/{id}/reviews`.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ReviewPost {
    /// `approve`, `decline` or `comment`.
    pub kind: String,
    pub comment: Option<String>,
}

/// Body of `POST /api/v2/approval-requests/{id}/apply`.
#[derive(Debug, Clone, Default, Object)]
#[oai(deny_unknown_fields)]
pub struct ApplyPost {
    pub comment: Option<String>,
}

/// One review of a request.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct ReviewRep {
    #[oai(rename = "_id")]
    #[serde(rename = "_id")]
    pub id: String,
    /// `approve`, `decline` or `comment`.
    pub kind: String,
    pub creation_date: i64,
    #[oai(skip_serializing_if_is_none)]
    pub comment: Option<String>,
    /// The reviewing member (a personal token acts as its member).
    #[oai(skip_serializing_if_is_none)]
    pub member_id: Option<String>,
    /// The service token of a comment made by one (service tokens may only comment).
    #[oai(skip_serializing_if_is_none)]
    pub service_token_id: Option<String>,
    /// The request revision the review was made on.
    pub revision: i64,
    /// True when a later edit of the request voided this approve or decline.
    pub voided: bool,
}

/// Why an apply failed.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct ConflictRep {
    /// The instruction concerned, when one is.
    pub instruction: Option<Value>,
    /// The field it is about (`on`, `fallthrough`, `targets/<key>`, `rules/<id>`, `tags/<tag>`, `value`).
    pub field: Option<String>,
    pub reason: String,
}

/// An approval request as the API shows it.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct ApprovalRequest {
    #[oai(rename = "_id")]
    #[serde(rename = "_id")]
    pub id: String,
    /// Bumped by every edit, review and apply; send it back as `version` to edit safely.
    #[oai(rename = "_version")]
    #[serde(rename = "_version")]
    pub version: i64,
    pub creation_date: i64,
    pub last_modified: i64,
    /// The requesting member (absent when a service token made the request).
    pub requestor_id: Option<String>,
    /// The token the request was made with.
    pub requestor_token_id: Option<String>,
    pub description: String,
    /// `proj/<project>:env/<environment>:flag/<flag>` or `...:var/<name>`.
    pub resource_id: String,
    /// `flag` or `variable`.
    pub resource_kind: String,
    pub project_key: String,
    pub environment_key: String,
    /// `pending`, `completed` or `failed`.
    pub status: String,
    /// `pending`, `approved` or `declined`, from the standing reviews under the current settings.
    pub review_status: String,
    /// Members whose standing review approves.
    pub approved_by: Vec<String>,
    /// Members whose standing review declines.
    pub declined_by: Vec<String>,
    pub all_reviews: Vec<ReviewRep>,
    pub notify_member_ids: Vec<String>,
    pub notify_team_keys: Vec<String>,
    /// The proposed instructions (a secret variable value is never shown).
    pub instructions: Vec<Value>,
    pub conflicts: Vec<ConflictRep>,
    /// The flag-state (or variable) version the instructions were made against.
    pub base_version: Option<i64>,
    /// 1, plus one per edit of description or instructions.
    pub revision: i64,
    /// Requestor and editors: their own approvals count only with `canReviewOwnRequest`.
    pub authors: Vec<String>,
    pub applied_date: Option<i64>,
    pub applied_by_member_id: Option<String>,
    pub applied_by_service_token_id: Option<String>,
    /// The environment's settings for this kind, as they are now.
    pub approval_settings: ApprovalSettingsRep,
}

/// Filters of `GET /api/v2/approval-requests`.
#[derive(Debug, Clone, Default)]
pub struct ApprovalRequestQuery {
    /// Comma-separated statuses.
    pub status: Option<String>,
    /// Comma-separated review statuses.
    pub review_status: Option<String>,
    pub requestor_id: Option<String>,
    pub resource_id: Option<String>,
    pub project_key: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// A page of requests, newest first.
pub struct ApprovalRequestPage {
    pub items: Vec<ApprovalRequest>,
    pub total_count: u64,
    pub next: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Internals

/// What a `resourceId` names.
struct Target {
    project_key: String,
    env_key: String,
    kind: ResourceKind,
    key: String,
}

impl Target {
    fn canonical(&self) -> String {
        let t = match self.kind {
            ResourceKind::Flag => "flag",
            ResourceKind::Variable => "var",
        };
        format!(
            "proj/{}:env/{}:{t}/{}",
            self.project_key, self.env_key, self.key
        )
    }
}

fn parse_resource_id(text: &str) -> Result<Target> {
    let shape = || {
        Error::invalid(format!(
            "resourceId: {text:?} must name a flag or a variable in an environment: \
             proj/<project>:env/<environment>:flag/<flag> or proj/<project>:env/<environment>:var/<name>"
        ))
    };
    let resource: Resource = text
        .parse()
        .map_err(|e| Error::invalid(format!("resourceId: {e}")))?;
    let [p, e, t] = resource.segments.as_slice() else {
        return Err(shape());
    };
    let kind = match t.kind {
        ResourceType::Flag => ResourceKind::Flag,
        ResourceType::Var => ResourceKind::Variable,
        _ => return Err(shape()),
    };
    if p.kind != ResourceType::Proj || e.kind != ResourceType::Env {
        return Err(shape());
    }
    Ok(Target {
        project_key: p.key.clone(),
        env_key: e.key.clone(),
        kind,
        key: t.key.clone(),
    })
}

/// The proposed change, parsed and checked against the resource as it is now.
struct Proposal {
    instructions: Vec<Value>,
    base: String,
    base_version: Option<i64>,
    flag_id: Option<String>,
    /// The flag or variable resource (with tags), for audit accesses.
    resource: Resource,
}

/// A request row with its environment and reviews, loaded in one go.
struct Loaded {
    row: entity::approval_request::Model,
    reviews: Vec<entity::approval_review::Model>,
    project: entity::project::Model,
    environment: entity::environment::Model,
}

impl Loaded {
    fn kind(&self) -> Result<ResourceKind> {
        ResourceKind::parse(&self.row.resource_kind)
            .ok_or_else(|| Error::internal("stored approval request has an unknown kind"))
    }

    fn setting(&self) -> Result<ApprovalSetting> {
        Ok(env_settings(&self.environment)?
            .for_kind(self.kind()?)
            .clone())
    }

    fn request_resource(&self) -> Result<Resource> {
        Ok(environments::resource(&self.project, &self.environment)?.request(&self.row.id))
    }

    /// The flag or variable resource as it is now (tags may have changed since creation).
    async fn target_resource(&self, db: &impl ConnectionTrait) -> Result<Resource> {
        let env = environments::resource(&self.project, &self.environment)?;
        Ok(match self.kind()? {
            ResourceKind::Variable => env.var(&self.row.resource_key),
            ResourceKind::Flag => {
                match flags::load_in_env(
                    db,
                    &self.row.project_key,
                    &self.row.resource_key,
                    &self.row.environment_key,
                )
                .await
                {
                    Ok(f) => f.resource,
                    Err(Error::NotFound(_)) => env.flag(&self.row.resource_key, &[] as &[&str]),
                    Err(e) => return Err(e),
                }
            }
        })
    }

    fn authors(&self) -> Result<Vec<String>> {
        from_json(&self.row.authors)
    }

    fn tally(&self) -> Result<Tally> {
        tally_of(&self.row, &self.reviews, &self.setting()?)
    }

    fn rep(&self) -> Result<ApprovalRequest> {
        rep(&self.row, &self.reviews, &self.setting()?)
    }
}

fn tally_of(
    row: &entity::approval_request::Model,
    reviews: &[entity::approval_review::Model],
    setting: &ApprovalSetting,
) -> Result<Tally> {
    let authors: Vec<String> = from_json(&row.authors)?;
    let facts: Vec<ReviewFact<'_>> = reviews
        .iter()
        .filter_map(|r| {
            Some(ReviewFact {
                member_id: r.member_id.as_deref()?,
                kind: ReviewKind::parse(&r.kind)?,
                revision: r.revision,
            })
        })
        .collect();
    Ok(domain::tally(&facts, row.revision, &authors, setting))
}

/// The instructions as readers see them: a secret variable value is never shown.
fn shown_instructions(row: &entity::approval_request::Model) -> Result<Vec<Value>> {
    let stored: Vec<Value> = from_json(&row.instructions)?;
    if row.resource_kind == ResourceKind::Variable.as_str() {
        return Ok(VariableInstruction::parse_list(&stored)
            .map(|i| vec![i.redacted()])
            .unwrap_or_default());
    }
    Ok(stored)
}

fn rep(
    row: &entity::approval_request::Model,
    reviews: &[entity::approval_review::Model],
    setting: &ApprovalSetting,
) -> Result<ApprovalRequest> {
    let tally = tally_of(row, reviews, setting)?;
    let kind = ResourceKind::parse(&row.resource_kind)
        .ok_or_else(|| Error::internal("stored approval request has an unknown kind"))?;
    let instructions = shown_instructions(row)?;
    let conflicts: Vec<Conflict> = from_json(&row.conflicts)?;
    Ok(ApprovalRequest {
        id: row.id.clone(),
        version: row.version,
        creation_date: row.created_at,
        last_modified: row.updated_at,
        requestor_id: row.requestor_member_id.clone(),
        requestor_token_id: row.requestor_token_id.clone(),
        description: row.description.clone(),
        resource_id: row.resource_id.clone(),
        resource_kind: row.resource_kind.clone(),
        project_key: row.project_key.clone(),
        environment_key: row.environment_key.clone(),
        status: row.status.clone(),
        review_status: tally.status.as_str().to_owned(),
        approved_by: tally.approvals,
        declined_by: tally.declines,
        all_reviews: reviews
            .iter()
            .map(|r| ReviewRep {
                id: r.id.clone(),
                kind: r.kind.clone(),
                creation_date: r.created_at,
                comment: r.comment.clone(),
                member_id: r.member_id.clone(),
                service_token_id: r.member_id.is_none().then(|| r.token_id.clone()).flatten(),
                revision: r.revision,
                voided: r.kind != ReviewKind::Comment.as_str() && r.revision != row.revision,
            })
            .collect(),
        notify_member_ids: from_json(&row.notify_member_ids)?,
        notify_team_keys: from_json(&row.notify_team_keys)?,
        conflicts: conflicts
            .into_iter()
            .map(|c| ConflictRep {
                instruction: c
                    .instruction_index
                    .and_then(|i| instructions.get(i).cloned()),
                field: c.field,
                reason: c.reason,
            })
            .collect(),
        instructions,
        base_version: row.base_version,
        revision: row.revision,
        authors: from_json(&row.authors)?,
        applied_date: row.applied_at,
        applied_by_member_id: row.applied_by_member_id.clone(),
        applied_by_service_token_id: row
            .applied_by_member_id
            .is_none()
            .then(|| row.applied_by_token_id.clone())
            .flatten(),
        approval_settings: ApprovalSettingsRep::new(setting, kind),
    })
}

async fn reviews_of(
    db: &impl ConnectionTrait,
    request_id: &str,
) -> Result<Vec<entity::approval_review::Model>> {
    Ok(entity::approval_review::Entity::find()
        .filter(entity::approval_review::Column::RequestId.eq(request_id))
        .order_by_asc(entity::approval_review::Column::Position)
        .all(db)
        .await?)
}

async fn load(db: &impl ConnectionTrait, id: &str) -> Result<Loaded> {
    let row = entity::approval_request::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found(format!("approval request {id:?}")))?;
    let project = entity::project::Entity::find_by_id(row.project_id.clone())
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found(format!("project {:?}", row.project_key)))?;
    let environment = entity::environment::Entity::find_by_id(row.environment_id.clone())
        .one(db)
        .await?
        .ok_or_else(|| {
            Error::not_found(format!(
                "environment {:?} of approval request {id:?}",
                row.environment_key
            ))
        })?;
    let reviews = reviews_of(db, id).await?;
    Ok(Loaded {
        row,
        reviews,
        project,
        environment,
    })
}

fn check_description(description: &str) -> Result<String> {
    let d = description.trim();
    if d.is_empty() || d.chars().count() > domain::MAX_DESCRIPTION_CHARS {
        return Err(Error::invalid(format!(
            "description: must be 1 to {} characters",
            domain::MAX_DESCRIPTION_CHARS
        )));
    }
    Ok(d.to_owned())
}

/// Validates the notify lists against existing members and teams.
async fn check_notify(
    db: &impl ConnectionTrait,
    member_ids: &[String],
    team_keys: &[String],
) -> Result<(Vec<String>, Vec<String>)> {
    let mut members = member_ids.to_vec();
    members.sort();
    members.dedup();
    if members.len() > domain::MAX_NOTIFY {
        return Err(Error::invalid(format!(
            "notifyMemberIds: at most {} members",
            domain::MAX_NOTIFY
        )));
    }
    for (i, id) in members.iter().enumerate() {
        if entity::member::Entity::find_by_id(id.clone())
            .one(db)
            .await?
            .is_none()
        {
            return Err(Error::invalid(format!(
                "notifyMemberIds[{i}]: no member with id {id:?}"
            )));
        }
    }
    let mut teams = team_keys.to_vec();
    teams.sort();
    teams.dedup();
    for (i, key) in teams.iter().enumerate() {
        if entity::team::Entity::find()
            .filter(entity::team::Column::Key.eq(key.clone()))
            .one(db)
            .await?
            .is_none()
        {
            return Err(Error::invalid(format!(
                "notifyTeamKeys[{i}]: no team with key {key:?}"
            )));
        }
    }
    Ok((members, teams))
}

/// Parses and dry-runs the instructions against the resource as it is now: they must parse,
/// apply and change something. Nothing is written.
async fn propose(
    db: &impl ConnectionTrait,
    target: &Target,
    environment: &entity::environment::Model,
    env_resource: &Resource,
    values: &[Value],
) -> Result<Proposal> {
    match target.kind {
        ResourceKind::Flag => {
            let instructions = flags::parse_instructions(values)?;
            let f =
                flags::load_in_env(db, &target.project_key, &target.key, &target.env_key).await?;
            let mut ids = dry_run_ids();
            let applied = flag::apply(&f.settings, Some(&f.state), &instructions, &mut ids)
                .map_err(|e| Error::invalid(e.to_string()))?;
            if !applied.settings_changed && !applied.state_changed {
                return Err(Error::invalid(format!(
                    "instructions: they would not change flag {} in {}",
                    target.key, target.env_key
                )));
            }
            let base = FlagSnapshot {
                settings: f.settings.clone(),
                state: f.state.clone(),
            };
            Ok(Proposal {
                instructions: values.to_vec(),
                base: to_json(&base)?,
                base_version: Some(f.state_version),
                flag_id: Some(f.flag.id.clone()),
                resource: f.resource,
            })
        }
        ResourceKind::Variable => {
            let instruction = VariableInstruction::parse_list(values).map_err(Error::invalid)?;
            let existing = variables::find_variable(db, &environment.id, &target.key).await?;
            match (&instruction, &existing) {
                (VariableInstruction::SetVariable { value, secret }, current) => {
                    variables::validate_variable(&target.key, value)?;
                    if current
                        .as_ref()
                        .is_some_and(|m| &m.value == value && m.secret == *secret)
                    {
                        return Err(Error::invalid(format!(
                            "instructions: variable {} already has this value",
                            target.key
                        )));
                    }
                }
                (VariableInstruction::DeleteVariable {}, None) => {
                    return Err(Error::invalid(format!(
                        "instructions[0]: variable {} does not exist in {}/{}",
                        target.key, target.project_key, target.env_key
                    )));
                }
                (VariableInstruction::DeleteVariable {}, Some(_)) => {}
            }
            Ok(Proposal {
                instructions: values.to_vec(),
                base: "{}".to_owned(),
                base_version: existing.as_ref().map(|m| m.version),
                flag_id: None,
                resource: env_resource.clone().var(&target.key),
            })
        }
    }
}

fn dry_run_ids() -> impl FnMut() -> String {
    let mut n = 0u32;
    move || {
        n += 1;
        format!("dry-run-{n}")
    }
}

/// A draft for one lifecycle step of a request: the approval action on the request resource
/// and on the flag (or variable), so spec filters on either find it.
fn lifecycle_draft(
    action: &str,
    name: &str,
    request_resource: &Resource,
    target_resource: &Resource,
    project: &entity::project::Model,
    env_key: &str,
    request_id: &str,
) -> Result<AuditDraft> {
    Ok(
        AuditDraft::new("approvalRequest", name, action, request_resource)
            .access(action, target_resource)
            .parent(&project.name, &projects::resource(project)?)
            .environment(Some(env_key.to_owned()))
            .approval_request(Some(request_id.to_owned())),
    )
}

/// The one conditional update every request change goes through: it lands only if the
/// request is still pending at the version the caller read. Returns whether it landed.
async fn guarded_update(
    tx: &WriteTx<'_>,
    row: &entity::approval_request::Model,
    changes: Vec<(
        entity::approval_request::Column,
        sea_orm::sea_query::SimpleExpr,
    )>,
) -> Result<bool> {
    let mut update = entity::approval_request::Entity::update_many()
        .col_expr(
            entity::approval_request::Column::Version,
            Expr::value(row.version + 1),
        )
        .col_expr(
            entity::approval_request::Column::UpdatedAt,
            Expr::value(tx.now_ms()),
        );
    for (col, value) in changes {
        update = update.col_expr(col, value);
    }
    let result = update
        .filter(entity::approval_request::Column::Id.eq(row.id.clone()))
        .filter(entity::approval_request::Column::Status.eq(RequestStatus::Pending.as_str()))
        .filter(entity::approval_request::Column::Version.eq(row.version))
        .exec(tx.db())
        .await?;
    Ok(result.rows_affected == 1)
}

fn raced() -> Error {
    Error::conflict(
        "the approval request changed while this call was deciding (another review, edit or apply landed first); reload it and try again",
    )
}

fn closed(row: &entity::approval_request::Model) -> Error {
    Error::conflict(format!(
        "approval request {} is {} and closed",
        row.id, row.status
    ))
}

fn list_filter<T>(
    field: &str,
    value: Option<&str>,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<Vec<T>>> {
    value
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .map(|s| {
                    parse(s).ok_or_else(|| {
                        Error::invalid(format!("{field}: {s:?} is not a known value"))
                    })
                })
                .collect()
        })
        .transpose()
}

/// A lifecycle step of a request, authorized, inside its write transaction.
struct Step<'a> {
    tx: WriteTx<'a>,
    loaded: Loaded,
    /// The step's audit entry, with both accesses.
    draft: AuditDraft,
    /// The flag or variable resource as it is now.
    target_resource: Resource,
}

impl Service {
    /// Opens the transaction of a lifecycle step: loads the request, prepares the step's
    /// audit draft and authorizes `action` on the request resource; a refusal is audited.
    async fn begin_step<'a>(&'a self, ctx: &'a Ctx, id: &str, action: &str) -> Result<Step<'a>> {
        let tx = self.begin_write(ctx).await?;
        let loaded = load(tx.db(), id).await?;
        let request_resource = loaded.request_resource()?;
        let target_resource = loaded.target_resource(tx.db()).await?;
        let draft = lifecycle_draft(
            action,
            &loaded.row.resource_key,
            &request_resource,
            &target_resource,
            &loaded.project,
            &loaded.row.environment_key,
            id,
        )?;
        if let Err(Error::Forbidden(reason)) = authorize(&ctx.principal, action, &request_resource)
        {
            return Err(self.refuse(tx, draft, reason).await);
        }
        Ok(Step {
            tx,
            loaded,
            draft,
            target_resource,
        })
    }
}

impl Service {
    /// Writes the audit entry of a refused approval action, commits it and returns the 403:
    /// refusals on approvals are part of the trail.
    async fn refuse(&self, mut tx: WriteTx<'_>, draft: AuditDraft, reason: String) -> Error {
        let draft = draft.describe(format!("REFUSED: {reason}"));
        let written = match tx.audit(draft) {
            Ok(_) => tx.commit().await.map(|_| ()),
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => Error::forbidden(reason),
            Err(e) => e,
        }
    }

    /// Creates an approval request after validating it against the resource as it is now.
    pub async fn create_approval_request(
        &self,
        ctx: &Ctx,
        input: ApprovalRequestPost,
    ) -> Result<ApprovalRequest> {
        let target = parse_resource_id(&input.resource_id)?;
        let description = check_description(&input.description)?;
        let mut tx = self.begin_write(ctx).await?;
        let project = projects::find(tx.db(), &target.project_key).await?;
        let environment = environments::find(tx.db(), &project, &target.env_key).await?;
        let env_resource = environments::resource(&project, &environment)?;
        let id = new_id();
        let request_resource = env_resource.clone().request(&id);
        if let Err(Error::Forbidden(reason)) =
            authorize(&ctx.principal, "createApprovalRequest", &request_resource)
        {
            let target_resource = match target.kind {
                ResourceKind::Flag => env_resource.clone().flag(&target.key, &[] as &[&str]),
                ResourceKind::Variable => env_resource.clone().var(&target.key),
            };
            let draft = lifecycle_draft(
                "createApprovalRequest",
                &target.key,
                &request_resource,
                &target_resource,
                &project,
                &target.env_key,
                &id,
            )?
            .approval_request(None);
            return Err(self.refuse(tx, draft, reason).await);
        }
        let proposal = propose(
            tx.db(),
            &target,
            &environment,
            &env_resource,
            &input.instructions,
        )
        .await?;
        let (notify_members, notify_teams) =
            check_notify(tx.db(), &input.notify_member_ids, &input.notify_team_keys).await?;
        let requestor = member_id(&ctx.principal);
        let now = tx.now_ms();
        let row = entity::approval_request::ActiveModel {
            id: Set(id.clone()),
            project_id: Set(project.id.clone()),
            project_key: Set(project.key.clone()),
            environment_id: Set(environment.id.clone()),
            environment_key: Set(environment.key.clone()),
            resource_kind: Set(target.kind.as_str().to_owned()),
            resource_key: Set(target.key.clone()),
            resource_id: Set(target.canonical()),
            flag_id: Set(proposal.flag_id.clone()),
            requestor_member_id: Set(requestor.clone()),
            requestor_token_id: Set(token_id(&ctx.principal)),
            authors: Set(to_json(&requestor.iter().collect::<Vec<_>>())?),
            description: Set(description),
            instructions: Set(to_json(&proposal.instructions)?),
            base: Set(proposal.base.clone()),
            base_version: Set(proposal.base_version),
            revision: Set(1),
            status: Set(RequestStatus::Pending.as_str().to_owned()),
            conflicts: Set("[]".to_owned()),
            notify_member_ids: Set(to_json(&notify_members)?),
            notify_team_keys: Set(to_json(&notify_teams)?),
            applied_at: Set(None),
            applied_by_member_id: Set(None),
            applied_by_token_id: Set(None),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(tx.db())
        .await?;
        let setting = env_settings(&environment)?.for_kind(target.kind).clone();
        let rep = rep(&row, &[], &setting)?;
        let draft = lifecycle_draft(
            "createApprovalRequest",
            &target.key,
            &request_resource,
            &proposal.resource,
            &project,
            &environment.key,
            &id,
        )?
        .describe(format!(
            "requested approval for {} on {} {} in {}",
            kinds_of(&rep.instructions),
            target.kind.as_str(),
            target.key,
            target.env_key
        ))
        .after(Some(snapshot(&rep)?))
        .delta(Value::Array(rep.instructions.clone()))
        .comment(input.comment);
        tx.audit(draft)?;
        tx.commit().await?;
        Ok(rep)
    }

    /// Lists requests the caller may see (`viewProject` on their project), newest first.
    pub async fn list_approval_requests(
        &self,
        ctx: &Ctx,
        query: ApprovalRequestQuery,
    ) -> Result<ApprovalRequestPage> {
        let statuses = list_filter("status", query.status.as_deref(), RequestStatus::parse)?;
        let review_statuses = list_filter(
            "reviewStatus",
            query.review_status.as_deref(),
            ReviewStatus::parse,
        )?;
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid(format!(
                "limit: must be between 1 and {MAX_LIMIT}"
            )));
        }
        let offset: usize = match &query.cursor {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| Error::invalid("cursor: not a cursor this API returned"))?,
        };
        use entity::approval_request::Column as C;
        let mut find = entity::approval_request::Entity::find();
        if let Some(s) = &statuses {
            find = find.filter(C::Status.is_in(s.iter().map(|s| s.as_str())));
        }
        if let Some(r) = &query.requestor_id {
            find = find.filter(C::RequestorMemberId.eq(r.clone()));
        }
        if let Some(r) = &query.resource_id {
            let canonical = parse_resource_id(r)?.canonical();
            find = find.filter(C::ResourceId.eq(canonical));
        }
        if let Some(p) = &query.project_key {
            find = find.filter(C::ProjectKey.eq(p.clone()));
        }
        let rows = find
            .order_by_desc(C::CreatedAt)
            .order_by_desc(C::Id)
            .all(self.db())
            .await?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut reviews: BTreeMap<String, Vec<entity::approval_review::Model>> = BTreeMap::new();
        for chunk in ids.chunks(500) {
            for r in entity::approval_review::Entity::find()
                .filter(entity::approval_review::Column::RequestId.is_in(chunk.to_vec()))
                .order_by_asc(entity::approval_review::Column::Position)
                .all(self.db())
                .await?
            {
                reviews.entry(r.request_id.clone()).or_default().push(r);
            }
        }
        let mut envs: BTreeMap<String, Option<EnvironmentApprovalSettings>> = BTreeMap::new();
        let mut visible_projects: BTreeMap<String, bool> = BTreeMap::new();
        let mut items = Vec::new();
        for row in &rows {
            if !visible_projects.contains_key(&row.project_id) {
                let visible = match entity::project::Entity::find_by_id(row.project_id.clone())
                    .one(self.db())
                    .await?
                {
                    Some(p) => {
                        authorize(&ctx.principal, "viewProject", &projects::resource(&p)?).is_ok()
                    }
                    None => false,
                };
                visible_projects.insert(row.project_id.clone(), visible);
            }
            if visible_projects.get(&row.project_id) != Some(&true) {
                continue;
            }
            if !envs.contains_key(&row.environment_id) {
                let settings =
                    match entity::environment::Entity::find_by_id(row.environment_id.clone())
                        .one(self.db())
                        .await?
                    {
                        Some(e) => Some(env_settings(&e)?),
                        None => None,
                    };
                envs.insert(row.environment_id.clone(), settings);
            }
            let settings = envs
                .get(&row.environment_id)
                .cloned()
                .flatten()
                .unwrap_or_default();
            let kind = ResourceKind::parse(&row.resource_kind)
                .ok_or_else(|| Error::internal("stored approval request has an unknown kind"))?;
            let r = rep(
                row,
                reviews.get(&row.id).map(Vec::as_slice).unwrap_or(&[]),
                settings.for_kind(kind),
            )?;
            if let Some(wanted) = &review_statuses
                && !wanted.iter().any(|w| w.as_str() == r.review_status)
            {
                continue;
            }
            items.push(r);
        }
        let total_count = items.len() as u64;
        let page_size = usize::try_from(limit).unwrap_or(usize::MAX);
        let next = (offset.saturating_add(page_size) < items.len())
            .then(|| (offset + page_size).to_string());
        let items = items.into_iter().skip(offset).take(page_size).collect();
        Ok(ApprovalRequestPage {
            items,
            total_count,
            next,
        })
    }

    /// One request (`viewProject` on its project).
    pub async fn get_approval_request(&self, ctx: &Ctx, id: &str) -> Result<ApprovalRequest> {
        let loaded = load(self.db(), id).await?;
        authorize(
            &ctx.principal,
            "viewProject",
            &projects::resource(&loaded.project)?,
        )?;
        loaded.rep()
    }

    /// Edits a pending request. A new description or new instructions void every earlier
    /// approve and decline (the revision grows) and make the editor an author.
    pub async fn update_approval_request(
        &self,
        ctx: &Ctx,
        id: &str,
        patch: ApprovalRequestPatch,
    ) -> Result<ApprovalRequest> {
        let Step {
            mut tx,
            loaded,
            draft,
            ..
        } = self.begin_step(ctx, id, "updateApprovalRequest").await?;
        if loaded.row.status != RequestStatus::Pending.as_str() {
            return Err(closed(&loaded.row));
        }
        check_version(patch.version, loaded.row.version, "approval request")?;
        let row = &loaded.row;
        use entity::approval_request::Column as C;
        let mut changes: Vec<(C, sea_orm::sea_query::SimpleExpr)> = Vec::new();
        let mut content_changed = false;
        if let Some(d) = &patch.description {
            let d = check_description(d)?;
            if d != row.description {
                changes.push((C::Description, Expr::value(d)));
                content_changed = true;
            }
        }
        if let Some(values) = &patch.instructions {
            let target = parse_resource_id(&row.resource_id)?;
            let env_resource = environments::resource(&loaded.project, &loaded.environment)?;
            let proposal =
                propose(tx.db(), &target, &loaded.environment, &env_resource, values).await?;
            let same: Vec<Value> = from_json(&row.instructions)?;
            if proposal.instructions != same || proposal.base_version != row.base_version {
                changes.push((
                    C::Instructions,
                    Expr::value(to_json(&proposal.instructions)?),
                ));
                changes.push((C::Base, Expr::value(proposal.base)));
                changes.push((C::BaseVersion, Expr::value(proposal.base_version)));
                changes.push((C::FlagId, Expr::value(proposal.flag_id)));
                content_changed = true;
            }
        }
        let notify_changed = patch.notify_member_ids.is_some() || patch.notify_team_keys.is_some();
        if notify_changed {
            let current_members: Vec<String> = from_json(&row.notify_member_ids)?;
            let current_teams: Vec<String> = from_json(&row.notify_team_keys)?;
            let (members, teams) = check_notify(
                tx.db(),
                patch.notify_member_ids.as_ref().unwrap_or(&current_members),
                patch.notify_team_keys.as_ref().unwrap_or(&current_teams),
            )
            .await?;
            changes.push((C::NotifyMemberIds, Expr::value(to_json(&members)?)));
            changes.push((C::NotifyTeamKeys, Expr::value(to_json(&teams)?)));
        }
        if !content_changed && !notify_changed {
            return Err(Error::invalid(
                "nothing to change: give a new description, instructions, notifyMemberIds or notifyTeamKeys",
            ));
        }
        let before = loaded.rep()?;
        let voided = if content_changed {
            let tally = loaded.tally()?;
            changes.push((C::Revision, Expr::value(row.revision + 1)));
            let mut authors = loaded.authors()?;
            if let Some(m) = member_id(&ctx.principal)
                && !authors.contains(&m)
            {
                authors.push(m);
            }
            changes.push((C::Authors, Expr::value(to_json(&authors)?)));
            tally.approvals.len() + tally.declines.len()
        } else {
            0
        };
        if !guarded_update(&tx, row, changes).await? {
            return Err(raced());
        }
        let after_loaded = load(tx.db(), id).await?;
        let after = after_loaded.rep()?;
        let description = if content_changed {
            format!(
                "edited approval request for {} {} in {}: revision {}; {voided} earlier approval(s) and decline(s) voided",
                row.resource_kind, row.resource_key, row.environment_key, after.revision
            )
        } else {
            format!(
                "changed the reviewers asked on approval request for {} {} in {}",
                row.resource_kind, row.resource_key, row.environment_key
            )
        };
        tx.audit(
            draft
                .describe(description)
                .before(Some(snapshot(&before)?))
                .after(Some(snapshot(&after)?))
                .comment(patch.comment),
        )?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes (withdraws) a pending request. Closed requests stay: they are the record of
    /// an applied or failed change.
    pub async fn delete_approval_request(&self, ctx: &Ctx, id: &str) -> Result<()> {
        let Step {
            mut tx,
            loaded,
            draft,
            ..
        } = self.begin_step(ctx, id, "deleteApprovalRequest").await?;
        if loaded.row.status != RequestStatus::Pending.as_str() {
            return Err(Error::conflict(format!(
                "approval request {id} is {}: closed requests are kept as the record of the change",
                loaded.row.status
            )));
        }
        let before = loaded.rep()?;
        use entity::approval_request::Column as C;
        let deleted = entity::approval_request::Entity::delete_many()
            .filter(C::Id.eq(id))
            .filter(C::Status.eq(RequestStatus::Pending.as_str()))
            .filter(C::Version.eq(loaded.row.version))
            .exec(tx.db())
            .await?;
        if deleted.rows_affected != 1 {
            return Err(raced());
        }
        entity::approval_review::Entity::delete_many()
            .filter(entity::approval_review::Column::RequestId.eq(id))
            .exec(tx.db())
            .await?;
        tx.audit(
            draft
                .describe(format!(
                    "deleted approval request for {} {} in {}",
                    loaded.row.resource_kind, loaded.row.resource_key, loaded.row.environment_key
                ))
                .before(Some(snapshot(&before)?)),
        )?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a review. Approve and decline need a member (a personal token acts as its
    /// member; a service token may only comment); an author may vote only when the
    /// environment allows reviewing one's own request, and a refused self-review is audited.
    pub async fn review_approval_request(
        &self,
        ctx: &Ctx,
        id: &str,
        input: ReviewPost,
    ) -> Result<ApprovalRequest> {
        let kind = ReviewKind::parse(&input.kind).ok_or_else(|| {
            Error::invalid(format!(
                "kind: {:?} is not approve, decline or comment",
                input.kind
            ))
        })?;
        let Step {
            mut tx,
            loaded,
            draft,
            ..
        } = self.begin_step(ctx, id, "reviewApprovalRequest").await?;
        let draft = draft.comment(input.comment.clone());
        if loaded.row.status != RequestStatus::Pending.as_str() {
            return Err(closed(&loaded.row));
        }
        let reviewer = member_id(&ctx.principal);
        let setting = loaded.setting()?;
        if kind.is_vote() {
            let Some(member) = &reviewer else {
                let reason = format!(
                    "{} needs a member: a service token may only comment",
                    kind.as_str()
                );
                return Err(self.refuse(tx, draft, reason).await);
            };
            if !setting.can_review_own_request && loaded.authors()?.contains(member) {
                let reason = format!(
                    "member {member} may not {} a request they made or edited (canReviewOwnRequest is off in {})",
                    kind.as_str(),
                    loaded.row.environment_key
                );
                return Err(self.refuse(tx, draft, reason).await);
            }
        }
        let before = loaded.rep()?;
        if !guarded_update(&tx, &loaded.row, Vec::new()).await? {
            return Err(raced());
        }
        entity::approval_review::ActiveModel {
            id: Set(new_id()),
            request_id: Set(id.to_owned()),
            kind: Set(kind.as_str().to_owned()),
            comment: Set(input.comment.clone().filter(|c| !c.is_empty())),
            member_id: Set(reviewer.clone()),
            token_id: Set(token_id(&ctx.principal)),
            revision: Set(loaded.row.revision),
            position: Set(loaded.row.version + 1),
            created_at: Set(tx.now_ms()),
        }
        .insert(tx.db())
        .await?;
        let after = load(tx.db(), id).await?.rep()?;
        let verb = match kind {
            ReviewKind::Approve => "approved",
            ReviewKind::Decline => "declined",
            ReviewKind::Comment => "commented on",
        };
        tx.audit(
            draft
                .describe(format!(
                    "{verb} the approval request for {} {} in {} (review status {}, {} of {} approvals)",
                    loaded.row.resource_kind,
                    loaded.row.resource_key,
                    loaded.row.environment_key,
                    after.review_status,
                    after.approved_by.len(),
                    setting.min_num_approvals
                ))
                .before(Some(snapshot(&before)?))
                .after(Some(snapshot(&after)?)),
        )?;
        tx.commit().await?;
        Ok(after)
    }

    /// Applies an approved request through the same command a direct change runs, in one
    /// transaction with the request's status change and both audit entries. A conflict with
    /// changes made since the request marks it `failed` (audited) and answers 409.
    pub async fn apply_approval_request(
        &self,
        ctx: &Ctx,
        id: &str,
        input: ApplyPost,
    ) -> Result<ApprovalRequest> {
        let Step {
            mut tx,
            loaded,
            draft,
            target_resource,
        } = self.begin_step(ctx, id, "applyApprovalRequest").await?;
        let draft = draft.comment(input.comment.clone());
        let kind = loaded.kind()?;
        let setting = loaded.setting()?;
        let status = RequestStatus::parse(&loaded.row.status)
            .ok_or_else(|| Error::internal("stored approval request has an unknown status"))?;
        domain::check_apply(status, &loaded.tally()?, &setting).map_err(Error::conflict)?;
        let stored: Vec<Value> = from_json(&loaded.row.instructions)?;
        let row = &loaded.row;
        // Re-check the applier's own permission for the change itself, before deciding
        // anything: an apply that may not write is refused, not failed.
        let checked: std::result::Result<Vec<Conflict>, String> = match kind {
            ResourceKind::Flag => {
                let instructions = flags::parse_instructions(&stored)?;
                self.flag_apply_conflicts(&tx, row, &instructions).await?
            }
            ResourceKind::Variable => {
                let instruction = VariableInstruction::parse_list(&stored)
                    .map_err(|e| Error::internal(format!("stored variable request: {e}")))?;
                let action = variable_action(&instruction, &tx, &loaded).await?;
                match authorize(&ctx.principal, action, &target_resource) {
                    Err(Error::Forbidden(reason)) => Err(reason),
                    Err(other) => return Err(other),
                    Ok(()) => {
                        let current = variables::find_variable(
                            tx.db(),
                            &row.environment_id,
                            &row.resource_key,
                        )
                        .await?
                        .map(|m| m.version);
                        Ok(domain::variable_conflicts(
                            row.base_version,
                            current,
                            &instruction,
                        ))
                    }
                }
            }
        };
        let conflicts = match checked {
            Ok(c) => c,
            Err(reason) => return Err(self.refuse(tx, draft, reason).await),
        };
        let before = loaded.rep()?;
        use entity::approval_request::Column as C;
        if !conflicts.is_empty() {
            let landed = guarded_update(
                &tx,
                row,
                vec![
                    (C::Status, Expr::value(RequestStatus::Failed.as_str())),
                    (C::Conflicts, Expr::value(to_json(&conflicts)?)),
                ],
            )
            .await?;
            if !landed {
                return Err(raced());
            }
            let after = load(tx.db(), id).await?.rep()?;
            let reasons: Vec<String> = conflicts.iter().map(|c| c.reason.clone()).collect();
            tx.audit(
                draft
                    .describe(format!(
                        "apply of the approval request for {} {} in {} FAILED: {}",
                        row.resource_kind,
                        row.resource_key,
                        row.environment_key,
                        reasons.join("; ")
                    ))
                    .before(Some(snapshot(&before)?))
                    .after(Some(snapshot(&after)?))
                    .delta(snapshot(&after.conflicts)?),
            )?;
            tx.commit().await?;
            return Err(Error::conflict(format!(
                "approval request {id} failed: the {} changed since the request in a way that conflicts: {}",
                row.resource_kind,
                reasons.join("; ")
            )));
        }
        let landed = guarded_update(
            &tx,
            row,
            vec![
                (C::Status, Expr::value(RequestStatus::Completed.as_str())),
                (C::AppliedAt, Expr::value(tx.now_ms())),
                (C::AppliedByMemberId, Expr::value(member_id(&ctx.principal))),
                (C::AppliedByTokenId, Expr::value(token_id(&ctx.principal))),
            ],
        )
        .await?;
        if !landed {
            return Err(raced());
        }
        let origin = ChangeOrigin::ApprovalRequest {
            id,
            environment_key: &row.environment_key,
        };
        let comment = input
            .comment
            .clone()
            .or_else(|| Some(format!("approval request {id}: {}", row.description)));
        let changed = match kind {
            ResourceKind::Flag => {
                let instructions = flags::parse_instructions(&stored)?;
                let patch = FlagSemanticPatch {
                    environment_key: Some(row.environment_key.clone()),
                    instructions: stored.clone(),
                    comment,
                    version: None,
                };
                flags::patch_flag_in(
                    &mut tx,
                    &row.project_key,
                    &row.resource_key,
                    &patch,
                    &instructions,
                    origin,
                )
                .await?
                .changed
            }
            ResourceKind::Variable => {
                match VariableInstruction::parse_list(&stored).map_err(Error::internal)? {
                    VariableInstruction::SetVariable { value, secret } => {
                        let put = VariablePut {
                            value,
                            secret,
                            comment,
                        };
                        variables::put_variable_in(
                            &mut tx,
                            &row.project_key,
                            &row.environment_key,
                            &row.resource_key,
                            &put,
                            origin,
                        )
                        .await?;
                    }
                    VariableInstruction::DeleteVariable {} => {
                        variables::delete_variable_in(
                            &mut tx,
                            &row.project_key,
                            &row.environment_key,
                            &row.resource_key,
                            origin,
                        )
                        .await?;
                    }
                }
                true
            }
        };
        let after = load(tx.db(), id).await?.rep()?;
        let outcome = if changed {
            "applied"
        } else {
            "applied (the resource was already in the requested state; nothing changed)"
        };
        tx.audit(
            draft
                .describe(format!(
                    "{outcome} the approval request for {} {} in {} (approved by {})",
                    row.resource_kind,
                    row.resource_key,
                    row.environment_key,
                    if after.approved_by.is_empty() {
                        "nobody".to_owned()
                    } else {
                        after.approved_by.join(", ")
                    }
                ))
                .before(Some(snapshot(&before)?))
                .after(Some(snapshot(&after)?)),
        )?;
        tx.commit().await?;
        Ok(after)
    }

    /// The flag half of apply: lock the flag row (so nothing changes it between this check
    /// and the write), re-check the applier's permission for every instruction, then compare
    /// base, current and proposed. `Err(reason)` is a permission refusal.
    async fn flag_apply_conflicts(
        &self,
        tx: &WriteTx<'_>,
        row: &entity::approval_request::Model,
        instructions: &[Instruction],
    ) -> Result<std::result::Result<Vec<Conflict>, String>> {
        let Some(flag_id) = &row.flag_id else {
            return Err(Error::internal("stored flag request has no flag id"));
        };
        let locked = entity::flag::Entity::find_by_id(flag_id.clone())
            .lock_exclusive()
            .one(tx.db())
            .await?;
        let current = match flags::load_in_env(
            tx.db(),
            &row.project_key,
            &row.resource_key,
            &row.environment_key,
        )
        .await
        {
            Ok(f) if locked.is_some() && &f.flag.id == flag_id => f,
            Ok(_) | Err(Error::NotFound(_)) => {
                return Ok(Ok(vec![Conflict {
                    instruction_index: None,
                    field: None,
                    reason: format!(
                        "flag {} no longer exists in {} (it was deleted{} since the request)",
                        row.resource_key,
                        row.environment_key,
                        if locked.is_none() {
                            ""
                        } else {
                            " or re-created"
                        }
                    ),
                }]));
            }
            Err(e) => return Err(e),
        };
        if let Err(e) = flags::authorize_patch(
            tx.db(),
            &tx.ctx().principal,
            &row.project_key,
            &row.resource_key,
            &row.environment_key,
            instructions,
        )
        .await
        {
            return match e {
                Error::Forbidden(reason) => Ok(Err(reason)),
                other => Err(other),
            };
        }
        let base: FlagSnapshot = from_json(&row.base)?;
        let now = FlagSnapshot {
            settings: current.settings,
            state: current.state,
        };
        Ok(Ok(domain::flag_conflicts(&base, &now, instructions)))
    }
}

/// The action a variable instruction exercises on the variable as it is now.
async fn variable_action(
    instruction: &VariableInstruction,
    tx: &WriteTx<'_>,
    loaded: &Loaded,
) -> Result<&'static str> {
    Ok(match instruction {
        VariableInstruction::DeleteVariable {} => "deleteVariable",
        VariableInstruction::SetVariable { .. } => {
            match variables::find_variable(
                tx.db(),
                &loaded.row.environment_id,
                &loaded.row.resource_key,
            )
            .await?
            {
                Some(_) => "updateVariable",
                None => "createVariable",
            }
        }
    })
}

/// "turnFlagOn, addTargets" from instruction JSON.
fn kinds_of(instructions: &[Value]) -> String {
    instructions
        .iter()
        .filter_map(|v| v.get("kind").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(", ")
}
