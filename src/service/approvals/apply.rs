//! Applying an approved request through the same command a direct change runs.

use sea_orm::sea_query::Expr;
use sea_orm::{EntityTrait, QuerySelect};
use serde_json::Value;

use super::shapes::{ApplyPost, ApprovalRequest};
use super::steps::{Step, guarded_update, raced};
use super::stored::{Loaded, load};
use crate::domain::approval::{
    self as domain, Conflict, FlagSnapshot, RequestStatus, ResourceKind, VariableInstruction,
};
use crate::domain::flag::Instruction;
use crate::error::{Error, Result};
use crate::service::approval_gate::{member_id, token_id};
use crate::service::authz::authorize;
use crate::service::flags::{self, ChangeOrigin, FlagSemanticPatch};
use crate::service::util::{from_json, snapshot, to_json};
use crate::service::variables::{self, VariablePut};
use crate::service::{Ctx, Service, WriteTx};

impl Service {
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
            );
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
        );
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
