//! What every lifecycle step shares: validation, the proposal, the guarded update, the
//! step's authorized transaction and audited refusals.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use super::stored::{Loaded, Proposal, Target, load};
use crate::domain::approval::{
    self as domain, FlagSnapshot, RequestStatus, ResourceKind, VariableInstruction,
};
use crate::domain::flag;
use crate::domain::policy::Resource;
use crate::error::{Error, Result};
use crate::service::authz::authorize;
use crate::service::flags;
use crate::service::util::to_json;
use crate::service::variables;
use crate::service::{AuditDraft, Ctx, Service, WriteTx, projects};

pub(super) fn check_description(description: &str) -> Result<String> {
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
pub(super) async fn check_notify(
    db: &impl ConnectionTrait,
    member_ids: &[String],
    team_keys: &[String],
) -> Result<(Vec<String>, Vec<String>)> {
    // Counted as sent, as the document's `maxItems` counts them.
    if member_ids.len() > domain::MAX_NOTIFY {
        return Err(Error::invalid(format!(
            "notifyMemberIds: at most {} members",
            domain::MAX_NOTIFY
        )));
    }
    let mut members = member_ids.to_vec();
    members.sort();
    members.dedup();
    for (i, id) in members.iter().enumerate() {
        if entity::member::Entity::find_by_id(id.clone())
            .one(db)
            .await?
            .is_none()
        {
            return Err(Error::NotFound(format!(
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
            return Err(Error::NotFound(format!(
                "notifyTeamKeys[{i}]: no team with key {key:?}"
            )));
        }
    }
    Ok((members, teams))
}

/// Parses and dry-runs the instructions against the resource as it is now: they must parse,
/// apply and change something. Nothing is written.
pub(super) async fn propose(
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
pub(super) fn lifecycle_draft(
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
pub(super) async fn guarded_update(
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

pub(super) fn raced() -> Error {
    Error::conflict(
        "the approval request changed while this call was deciding (another review, edit or apply landed first); reload it and try again",
    )
}

/// How lifecycle descriptions name a request's resource: `flag my-flag in production`.
pub(super) fn subject(row: &entity::approval_request::Model) -> String {
    format!(
        "{} {} in {}",
        row.resource_kind, row.resource_key, row.environment_key
    )
}

pub(super) fn closed(row: &entity::approval_request::Model) -> Error {
    Error::conflict(format!(
        "approval request {} is {} and closed",
        row.id, row.status
    ))
}

pub(super) fn list_filter<T>(
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
pub(super) struct Step<'a> {
    pub(super) tx: WriteTx<'a>,
    pub(super) loaded: Loaded,
    /// The step's audit entry, with both accesses.
    pub(super) draft: AuditDraft,
    /// The flag or variable resource as it is now.
    pub(super) target_resource: Resource,
}

impl Service {
    /// Opens the transaction of a lifecycle step: loads the request, prepares the step's
    /// audit draft and authorizes `action` on the request resource; a refusal is audited.
    pub(super) async fn begin_step<'a>(
        &'a self,
        ctx: &'a Ctx,
        id: &str,
        action: &str,
    ) -> Result<Step<'a>> {
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
    pub(super) async fn refuse(
        &self,
        mut tx: WriteTx<'_>,
        draft: AuditDraft,
        reason: String,
    ) -> Error {
        let draft = draft.describe(format!("REFUSED: {reason}"));
        tx.audit(draft);
        match tx.commit().await {
            Ok(_) => Error::forbidden(reason),
            Err(e) => e,
        }
    }
}
