//! A stored request as the lifecycle steps read it: its target, tally and representation.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;

use super::shapes::{ApprovalRequest, ConflictRep, ReviewRep};
use crate::domain::approval::{
    self as domain, ApprovalSetting, Conflict, ResourceKind, ReviewFact, ReviewKind, Tally,
    VariableInstruction,
};
use crate::domain::policy::{Resource, ResourceType};
use crate::error::{Error, Result};
use crate::service::approval_settings::{ApprovalSettingsRep, env_settings};
use crate::service::environments;
use crate::service::flags;
use crate::service::util::from_json;

/// What a `resourceId` names.
pub(super) struct Target {
    pub(super) project_key: String,
    pub(super) env_key: String,
    pub(super) kind: ResourceKind,
    pub(super) key: String,
}

impl Target {
    pub(super) fn canonical(&self) -> String {
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

pub(super) fn parse_resource_id(text: &str) -> Result<Target> {
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
pub(super) struct Proposal {
    pub(super) instructions: Vec<Value>,
    pub(super) base: String,
    pub(super) base_version: Option<i64>,
    pub(super) flag_id: Option<String>,
    /// The flag or variable resource (with tags), for audit accesses.
    pub(super) resource: Resource,
}

/// A request row with its environment and reviews, loaded in one go.
pub(super) struct Loaded {
    pub(super) row: entity::approval_request::Model,
    pub(super) reviews: Vec<entity::approval_review::Model>,
    pub(super) project: entity::project::Model,
    pub(super) environment: entity::environment::Model,
}

impl Loaded {
    pub(super) fn kind(&self) -> Result<ResourceKind> {
        ResourceKind::parse(&self.row.resource_kind)
            .ok_or_else(|| Error::internal("stored approval request has an unknown kind"))
    }

    pub(super) fn setting(&self) -> Result<ApprovalSetting> {
        Ok(env_settings(&self.environment)?
            .for_kind(self.kind()?)
            .clone())
    }

    pub(super) fn request_resource(&self) -> Result<Resource> {
        Ok(environments::resource(&self.project, &self.environment)?.request(&self.row.id))
    }

    /// The flag or variable resource as it is now (tags may have changed since creation).
    pub(super) async fn target_resource(&self, db: &impl ConnectionTrait) -> Result<Resource> {
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

    pub(super) fn authors(&self) -> Result<Vec<String>> {
        from_json(&self.row.authors)
    }

    pub(super) fn tally(&self) -> Result<Tally> {
        tally_of(&self.row, &self.reviews, &self.setting()?)
    }

    pub(super) fn rep(&self) -> Result<ApprovalRequest> {
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

pub(super) fn rep(
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

pub(super) async fn load(db: &impl ConnectionTrait, id: &str) -> Result<Loaded> {
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
