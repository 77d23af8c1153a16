//! Applying an approved request through the same command a direct change runs.

use sea_orm::sea_query::Expr;
use sea_orm::{EntityTrait, QuerySelect};
use serde_json::Value;

use super::shapes::{ApplyPost, ApprovalRequest};
use super::steps::{Step, guarded_update, raced, subject};
use super::stored::{Loaded, load};
use crate::domain::approval::{
    self as domain, Conflict, FlagSnapshot, RequestStatus, ResourceKind, VariableInstruction,
};
use crate::domain::flag::Instruction;
use crate::domain::policy::Resource;
use crate::error::{Error, Result};
use crate::service::approval_gate::{member_id, token_id};
use crate::service::authz::authorize;
use crate::service::documented::Documented;
use crate::service::flags::{self, ChangeOrigin, FlagSemanticPatch};
use crate::service::util::{from_json, snapshot, to_json};
use crate::service::variables::{self, VariablePut};
use crate::service::{AuditDraft, Ctx, Service, WriteTx};

/// What the pre-apply check found: `Err(reason)` when the applier may not make the change
/// itself, else the conflicts with changes made since the request.
type ApplyCheck = std::result::Result<Vec<Conflict>, String>;

/// What an apply does once the request and the resource are checked.
#[derive(Debug, PartialEq)]
enum ApplyDecision {
    /// The applier may not make the change: the apply is refused (403), the request stays.
    Refuse(String),
    /// The resource changed in a way that conflicts: the request fails (409).
    Fail(Vec<Conflict>),
    /// Nothing stands in the way.
    Apply,
}

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
            tx,
            loaded,
            draft,
            target_resource,
        } = self.begin_step(ctx, id, "applyApprovalRequest").await?;
        let draft = draft.comment(input.comment.clone());
        let kind = loaded.kind()?;
        check_applicable(&loaded)?;
        let stored: Vec<Value> = from_json(&loaded.row.instructions)?;
        // Re-check the applier's own permission for the change itself, before deciding
        // anything: an apply that may not write is refused, not failed.
        let check = match kind {
            ResourceKind::Flag => {
                let instructions = flags::parse_instructions(&stored)?;
                self.flag_apply_conflicts(&tx, &loaded.row, &instructions)
                    .await?
            }
            ResourceKind::Variable => {
                variable_apply_conflicts(&tx, &loaded, &stored, &target_resource).await?
            }
        };
        match decide_apply(check) {
            ApplyDecision::Refuse(reason) => Err(self.refuse(tx, draft, reason).await),
            ApplyDecision::Fail(conflicts) => {
                record_failed_apply(tx, &loaded, draft, &conflicts).await?;
                Err(Error::conflict(failed_apply_message(
                    id,
                    &loaded.row.resource_kind,
                    &conflicts,
                )))
            }
            ApplyDecision::Apply => {
                complete_apply(tx, &loaded, kind, &stored, draft, input.comment).await
            }
        }
    }

    /// The flag half of apply: lock the flag row (so nothing changes it between this check
    /// and the write), re-check the applier's permission for every instruction, then compare
    /// base, current and proposed. `Err(reason)` is a permission refusal.
    async fn flag_apply_conflicts(
        &self,
        tx: &WriteTx<'_>,
        row: &entity::approval_request::Model,
        instructions: &[Instruction],
    ) -> Result<ApplyCheck> {
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
                return Ok(Ok(vec![flag_gone(
                    &row.resource_key,
                    &row.environment_key,
                    locked.is_some(),
                )]));
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

/// Refuses (409) an apply the request's status and standing reviews do not allow.
fn check_applicable(loaded: &Loaded) -> Result<()> {
    let setting = loaded.setting()?;
    let status = RequestStatus::parse(&loaded.row.status)
        .ok_or_else(|| Error::internal("stored approval request has an unknown status"))?;
    domain::check_apply(status, &loaded.tally()?, &setting).map_err(Error::conflict)
}

/// The variable half of apply: re-check the applier's permission for the variable as it is
/// now, then compare the version the request was made against with the current one.
async fn variable_apply_conflicts(
    tx: &WriteTx<'_>,
    loaded: &Loaded,
    stored: &[Value],
    target_resource: &Resource,
) -> Result<ApplyCheck> {
    let row = &loaded.row;
    let instruction = VariableInstruction::parse_list(stored)
        .map_err(|e| Error::internal(format!("stored variable request: {e}")))?;
    let action = variable_action(&instruction, tx, loaded).await?;
    match authorize(&tx.ctx().principal, action, target_resource) {
        Err(Error::Forbidden(reason)) => return Ok(Err(reason)),
        Err(other) => return Err(other),
        Ok(()) => {}
    }
    let current = variables::find_variable(tx.db(), &row.environment_id, &row.resource_key)
        .await?
        .map(|m| m.version);
    Ok(Ok(domain::variable_conflicts(
        row.base_version,
        current,
        &instruction,
    )))
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

/// Closes a conflicting request as `failed` with its conflicts, audits that and commits:
/// the failure is part of the record even though the call answers 409.
async fn record_failed_apply(
    mut tx: WriteTx<'_>,
    loaded: &Loaded,
    draft: AuditDraft,
    conflicts: &[Conflict],
) -> Result<()> {
    let row = &loaded.row;
    let before = loaded.rep()?;
    use entity::approval_request::Column as C;
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
    let after = load(tx.db(), &row.id).await?.rep()?;
    tx.audit(
        draft
            .describe(failed_apply_description(&subject(row), conflicts))
            .before(Some(snapshot(&before)?))
            .after(Some(snapshot(&after)?))
            .delta(snapshot(&after.conflicts)?),
    );
    tx.commit().await?;
    Ok(())
}

/// Marks the request completed (guarded), runs its change through the flag or variable
/// command, audits the apply and commits.
async fn complete_apply(
    mut tx: WriteTx<'_>,
    loaded: &Loaded,
    kind: ResourceKind,
    stored: &[Value],
    draft: AuditDraft,
    comment: Option<String>,
) -> Result<ApprovalRequest> {
    let row = &loaded.row;
    let before = loaded.rep()?;
    mark_completed(&tx, row).await?;
    let comment = change_comment(comment, &row.id, &row.description);
    let changed = run_approved_change(&mut tx, row, kind, stored, comment).await?;
    let after = load(tx.db(), &row.id).await?.rep()?;
    tx.audit(
        draft
            .describe(applied_description(
                &subject(row),
                changed,
                &after.approved_by,
            ))
            .before(Some(snapshot(&before)?))
            .after(Some(snapshot(&after)?)),
    );
    tx.commit().await?;
    Ok(after)
}

/// The guarded update that closes the request as completed by the applier.
async fn mark_completed(tx: &WriteTx<'_>, row: &entity::approval_request::Model) -> Result<()> {
    use entity::approval_request::Column as C;
    let principal = &tx.ctx().principal;
    let landed = guarded_update(
        tx,
        row,
        vec![
            (C::Status, Expr::value(RequestStatus::Completed.as_str())),
            (C::AppliedAt, Expr::value(tx.now_ms())),
            (C::AppliedByMemberId, Expr::value(member_id(principal))),
            (C::AppliedByTokenId, Expr::value(token_id(principal))),
        ],
    )
    .await?;
    if !landed {
        return Err(raced());
    }
    Ok(())
}

/// Runs the request's instructions through the flag or variable command, marked as coming
/// from this request so the approval gate lets it pass. Returns whether anything changed.
async fn run_approved_change(
    tx: &mut WriteTx<'_>,
    row: &entity::approval_request::Model,
    kind: ResourceKind,
    stored: &[Value],
    comment: Option<String>,
) -> Result<bool> {
    let origin = ChangeOrigin::ApprovalRequest {
        id: &row.id,
        environment_key: &row.environment_key,
    };
    match kind {
        ResourceKind::Flag => {
            let instructions = flags::parse_instructions(stored)?;
            let patch = FlagSemanticPatch {
                environment_key: Some(row.environment_key.clone()),
                instructions: stored.iter().cloned().map(Documented::new).collect(),
                comment,
                version: None,
            };
            let outcome = flags::patch_flag_in(
                tx,
                &row.project_key,
                &row.resource_key,
                &patch,
                &instructions,
                origin,
            )
            .await?;
            Ok(outcome.changed)
        }
        ResourceKind::Variable => {
            let instruction = VariableInstruction::parse_list(stored).map_err(Error::internal)?;
            write_variable(tx, row, instruction, comment, origin).await?;
            Ok(true)
        }
    }
}

/// Sets or deletes the request's variable through the variable commands.
async fn write_variable(
    tx: &mut WriteTx<'_>,
    row: &entity::approval_request::Model,
    instruction: VariableInstruction,
    comment: Option<String>,
    origin: ChangeOrigin<'_>,
) -> Result<()> {
    match instruction {
        VariableInstruction::SetVariable { value, secret } => {
            let put = VariablePut {
                value,
                secret,
                comment,
            };
            variables::put_variable_in(
                tx,
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
                tx,
                &row.project_key,
                &row.environment_key,
                &row.resource_key,
                origin,
            )
            .await?;
        }
    }
    Ok(())
}

/// A permission refusal wins over conflicts; no conflicts means the change applies.
fn decide_apply(check: ApplyCheck) -> ApplyDecision {
    match check {
        Err(reason) => ApplyDecision::Refuse(reason),
        Ok(conflicts) if conflicts.is_empty() => ApplyDecision::Apply,
        Ok(conflicts) => ApplyDecision::Fail(conflicts),
    }
}

/// The conflict of a flag the request's key no longer names in the environment. When the
/// flag's row remains, the key may have been deleted and re-created, and the message says so.
fn flag_gone(flag_key: &str, env_key: &str, row_remains: bool) -> Conflict {
    Conflict {
        instruction_index: None,
        field: None,
        reason: format!(
            "flag {flag_key} no longer exists in {env_key} (it was deleted{} since the request)",
            if row_remains { " or re-created" } else { "" }
        ),
    }
}

fn conflict_reasons(conflicts: &[Conflict]) -> String {
    conflicts
        .iter()
        .map(|c| c.reason.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

fn failed_apply_description(subject: &str, conflicts: &[Conflict]) -> String {
    format!(
        "apply of the approval request for {subject} FAILED: {}",
        conflict_reasons(conflicts)
    )
}

fn failed_apply_message(id: &str, resource_kind: &str, conflicts: &[Conflict]) -> String {
    format!(
        "approval request {id} failed: the {resource_kind} changed since the request in a way that conflicts: {}",
        conflict_reasons(conflicts)
    )
}

/// The comment the applied change carries: the applier's, else one naming the request.
fn change_comment(given: Option<String>, id: &str, description: &str) -> Option<String> {
    given.or_else(|| Some(format!("approval request {id}: {description}")))
}

fn applied_description(subject: &str, changed: bool, approved_by: &[String]) -> String {
    let outcome = if changed {
        "applied"
    } else {
        "applied (the resource was already in the requested state; nothing changed)"
    };
    let approvers = if approved_by.is_empty() {
        "nobody".to_owned()
    } else {
        approved_by.join(", ")
    };
    format!("{outcome} the approval request for {subject} (approved by {approvers})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict(reason: &str) -> Conflict {
        Conflict {
            instruction_index: None,
            field: None,
            reason: reason.to_owned(),
        }
    }

    #[test]
    fn a_permission_refusal_is_a_refusal_not_a_failure() {
        assert_eq!(
            decide_apply(Err("may not".to_owned())),
            ApplyDecision::Refuse("may not".to_owned())
        );
    }

    #[test]
    fn conflicts_fail_the_request_and_none_let_it_apply() {
        let found = vec![conflict("the flag changed")];
        assert_eq!(decide_apply(Ok(found.clone())), ApplyDecision::Fail(found));
        assert_eq!(decide_apply(Ok(Vec::new())), ApplyDecision::Apply);
    }

    #[test]
    fn a_gone_flag_says_whether_it_was_re_created() {
        assert_eq!(
            flag_gone("checkout", "production", false).reason,
            "flag checkout no longer exists in production (it was deleted since the request)"
        );
        assert_eq!(
            flag_gone("checkout", "production", true).reason,
            "flag checkout no longer exists in production (it was deleted or re-created since the request)"
        );
    }

    #[test]
    fn a_failed_apply_names_every_conflict_in_its_entry_and_its_error() {
        let found = [conflict("on changed"), conflict("rules/r1 changed")];
        assert_eq!(
            failed_apply_description("flag checkout in production", &found),
            "apply of the approval request for flag checkout in production FAILED: on changed; rules/r1 changed"
        );
        assert_eq!(
            failed_apply_message("r-1", "flag", &found),
            "approval request r-1 failed: the flag changed since the request in a way that conflicts: on changed; rules/r1 changed"
        );
    }

    #[test]
    fn the_change_carries_the_appliers_comment_or_names_the_request() {
        assert_eq!(
            change_comment(Some("go".to_owned()), "r-1", "ship it"),
            Some("go".to_owned())
        );
        assert_eq!(
            change_comment(None, "r-1", "ship it"),
            Some("approval request r-1: ship it".to_owned())
        );
    }

    #[test]
    fn the_apply_entry_says_who_approved_and_whether_anything_changed() {
        assert_eq!(
            applied_description(
                "flag checkout in production",
                true,
                &["m1".to_owned(), "m2".to_owned()]
            ),
            "applied the approval request for flag checkout in production (approved by m1, m2)"
        );
        assert_eq!(
            applied_description("variable API_URL in production", false, &[]),
            "applied (the resource was already in the requested state; nothing changed) the approval request for variable API_URL in production (approved by nobody)"
        );
    }
}
