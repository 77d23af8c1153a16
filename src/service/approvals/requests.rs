//! Creating, reading, updating and deleting approval requests (listing is in `list`).

use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use super::shapes::{ApprovalRequest, ApprovalRequestPatch, ApprovalRequestPost};
use super::steps::{
    Step, check_description, check_notify, closed, guarded_update, lifecycle_draft, propose, raced,
    subject,
};
use super::stored::{Loaded, Proposal, Target, load, parse_resource_id, rep};
use crate::domain::approval::{RequestStatus, ResourceKind};
use crate::domain::policy::Resource;
use crate::error::{Error, Result};
use crate::service::approval_gate::{member_id, token_id};
use crate::service::approval_settings::env_settings;
use crate::service::authz::authorize;
use crate::service::documented::Documented;
use crate::service::util::{check_version, from_json, new_id, snapshot, to_json};
use crate::service::{Ctx, Service, WriteTx, environments, projects};

/// Columns an edit sets, in the order it decides them.
type Changes = Vec<(entity::approval_request::Column, SimpleExpr)>;

/// Everything a new request row is made of, validated.
struct NewRequest<'a> {
    id: &'a str,
    project: &'a entity::project::Model,
    environment: &'a entity::environment::Model,
    target: &'a Target,
    proposal: &'a Proposal,
    description: String,
    notify_member_ids: Vec<String>,
    notify_team_keys: Vec<String>,
    requestor_member_id: Option<String>,
    requestor_token_id: Option<String>,
    now: i64,
}

/// What an edit of a request changes.
struct Edit {
    changes: Changes,
    /// The description or the instructions: a new revision, voiding earlier votes.
    content_changed: bool,
    /// The notify lists: the reviewers asked, nothing voided.
    notify_changed: bool,
}

impl Service {
    /// Creates an approval request after validating it against the resource as it is now.
    pub async fn create_approval_request(
        &self,
        ctx: &Ctx,
        input: ApprovalRequestPost,
    ) -> Result<ApprovalRequest> {
        let target = parse_resource_id(&input.resource_id.text)?;
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
            // The request is never made, so its entry names no request.
            let draft = lifecycle_draft(
                "createApprovalRequest",
                &target.key,
                &request_resource,
                &target_resource(&env_resource, &target),
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
            &Documented::values(&input.instructions),
        )
        .await?;
        let (notify_member_ids, notify_team_keys) =
            check_notify(tx.db(), &input.notify_member_ids, &input.notify_team_keys).await?;
        let new = NewRequest {
            id: &id,
            project: &project,
            environment: &environment,
            target: &target,
            proposal: &proposal,
            description,
            notify_member_ids,
            notify_team_keys,
            requestor_member_id: member_id(&ctx.principal),
            requestor_token_id: token_id(&ctx.principal),
            now: tx.now_ms(),
        };
        let row = new_request_row(new)?.insert(tx.db()).await?;
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
        .describe(creation_description(&rep.instructions, &target))
        .after(Some(snapshot(&rep)?))
        .delta(Value::Array(rep.instructions.clone()))
        .comment(input.comment);
        tx.audit(draft);
        tx.commit().await?;
        Ok(rep)
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
        let mut edit = plan_edit(&tx, &loaded, &patch).await?;
        check_edit_changes_something(edit.content_changed, edit.notify_changed)?;
        let before = loaded.rep()?;
        let voided = if edit.content_changed {
            start_revision(&mut edit.changes, &loaded, member_id(&ctx.principal))?
        } else {
            0
        };
        if !guarded_update(&tx, &loaded.row, edit.changes).await? {
            return Err(raced());
        }
        let after = load(tx.db(), id).await?.rep()?;
        let description = edit_description(
            &subject(&loaded.row),
            edit.content_changed,
            after.revision,
            voided,
        );
        tx.audit(
            draft
                .describe(description)
                .before(Some(snapshot(&before)?))
                .after(Some(snapshot(&after)?))
                .comment(patch.comment),
        );
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
                    "deleted approval request for {}",
                    subject(&loaded.row)
                ))
                .before(Some(snapshot(&before)?)),
        );
        tx.commit().await?;
        Ok(())
    }
}

/// Decides the columns an edit sets: a changed description, re-proposed instructions that
/// differ, new notify lists. Nothing is written.
async fn plan_edit(
    tx: &WriteTx<'_>,
    loaded: &Loaded,
    patch: &ApprovalRequestPatch,
) -> Result<Edit> {
    use entity::approval_request::Column as C;
    let mut edit = Edit {
        changes: Vec::new(),
        content_changed: false,
        notify_changed: false,
    };
    if let Some(d) = changed_description(patch.description.as_deref(), &loaded.row.description)? {
        edit.changes.push((C::Description, Expr::value(d)));
        edit.content_changed = true;
    }
    if let Some(values) = &patch.instructions {
        let changes = instruction_changes(tx, loaded, &Documented::values(values)).await?;
        edit.content_changed |= !changes.is_empty();
        edit.changes.extend(changes);
    }
    if patch.notify_member_ids.is_some() || patch.notify_team_keys.is_some() {
        edit.changes
            .extend(notify_changes(tx, &loaded.row, patch).await?);
        edit.notify_changed = true;
    }
    Ok(edit)
}

/// Re-validates new instructions against the resource as it is now, which becomes the new
/// base; no columns when neither the instructions nor the base changed.
async fn instruction_changes(
    tx: &WriteTx<'_>,
    loaded: &Loaded,
    values: &[Value],
) -> Result<Changes> {
    use entity::approval_request::Column as C;
    let row = &loaded.row;
    let target = parse_resource_id(&row.resource_id)?;
    let env_resource = environments::resource(&loaded.project, &loaded.environment)?;
    let proposal = propose(tx.db(), &target, &loaded.environment, &env_resource, values).await?;
    let stored: Vec<Value> = from_json(&row.instructions)?;
    if !proposal_differs(
        &proposal.instructions,
        proposal.base_version,
        &stored,
        row.base_version,
    ) {
        return Ok(Vec::new());
    }
    Ok(vec![
        (
            C::Instructions,
            Expr::value(to_json(&proposal.instructions)?),
        ),
        (C::Base, Expr::value(proposal.base)),
        (C::BaseVersion, Expr::value(proposal.base_version)),
        (C::FlagId, Expr::value(proposal.flag_id)),
    ])
}

/// The notify lists after the edit (a list not given stays), validated.
async fn notify_changes(
    tx: &WriteTx<'_>,
    row: &entity::approval_request::Model,
    patch: &ApprovalRequestPatch,
) -> Result<Changes> {
    use entity::approval_request::Column as C;
    let current_members: Vec<String> = from_json(&row.notify_member_ids)?;
    let current_teams: Vec<String> = from_json(&row.notify_team_keys)?;
    let (members, teams) = check_notify(
        tx.db(),
        patch.notify_member_ids.as_ref().unwrap_or(&current_members),
        patch.notify_team_keys.as_ref().unwrap_or(&current_teams),
    )
    .await?;
    Ok(vec![
        (C::NotifyMemberIds, Expr::value(to_json(&members)?)),
        (C::NotifyTeamKeys, Expr::value(to_json(&teams)?)),
    ])
}

/// A content edit starts a new revision, which voids the standing votes, and makes the
/// editor an author. Returns how many votes it voids.
fn start_revision(changes: &mut Changes, loaded: &Loaded, editor: Option<String>) -> Result<usize> {
    use entity::approval_request::Column as C;
    let tally = loaded.tally()?;
    changes.push((C::Revision, Expr::value(loaded.row.revision + 1)));
    let authors = with_author(loaded.authors()?, editor);
    changes.push((C::Authors, Expr::value(to_json(&authors)?)));
    Ok(tally.approvals.len() + tally.declines.len())
}

/// The row of a new request: pending, at revision and version 1, its requestor its only
/// author.
fn new_request_row(new: NewRequest<'_>) -> Result<entity::approval_request::ActiveModel> {
    let authors = to_json(&new.requestor_member_id.iter().collect::<Vec<_>>())?;
    Ok(entity::approval_request::ActiveModel {
        id: Set(new.id.to_owned()),
        project_id: Set(new.project.id.clone()),
        project_key: Set(new.project.key.clone()),
        environment_id: Set(new.environment.id.clone()),
        environment_key: Set(new.environment.key.clone()),
        resource_kind: Set(new.target.kind.as_str().to_owned()),
        resource_key: Set(new.target.key.clone()),
        resource_id: Set(new.target.canonical()),
        flag_id: Set(new.proposal.flag_id.clone()),
        requestor_member_id: Set(new.requestor_member_id),
        requestor_token_id: Set(new.requestor_token_id),
        authors: Set(authors),
        description: Set(new.description),
        instructions: Set(to_json(&new.proposal.instructions)?),
        base: Set(new.proposal.base.clone()),
        base_version: Set(new.proposal.base_version),
        revision: Set(1),
        status: Set(RequestStatus::Pending.as_str().to_owned()),
        conflicts: Set("[]".to_owned()),
        notify_member_ids: Set(to_json(&new.notify_member_ids)?),
        notify_team_keys: Set(to_json(&new.notify_team_keys)?),
        applied_at: Set(None),
        applied_by_member_id: Set(None),
        applied_by_token_id: Set(None),
        version: Set(1),
        created_at: Set(new.now),
        updated_at: Set(new.now),
    })
}

/// The flag or variable a refused request names, for the refusal's audit entry: the
/// request is refused before the resource is read, so a flag carries no tags.
fn target_resource(env_resource: &Resource, target: &Target) -> Resource {
    match target.kind {
        ResourceKind::Flag => env_resource.clone().flag(&target.key, &[] as &[&str]),
        ResourceKind::Variable => env_resource.clone().var(&target.key),
    }
}

fn creation_description(instructions: &[Value], target: &Target) -> String {
    format!(
        "requested approval for {} on {} {} in {}",
        kinds_of(instructions),
        target.kind.as_str(),
        target.key,
        target.env_key
    )
}

/// "turnFlagOn, addTargets" from instruction JSON.
fn kinds_of(instructions: &[Value]) -> String {
    instructions
        .iter()
        .filter_map(|v| v.get("kind").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The edited description when one is given and differs from the current one.
fn changed_description(given: Option<&str>, current: &str) -> Result<Option<String>> {
    Ok(given
        .map(check_description)
        .transpose()?
        .filter(|d| d != current))
}

/// Whether re-proposed instructions change the request: other instructions, or the same
/// ones against a resource that changed since.
fn proposal_differs(
    proposed: &[Value],
    proposed_base: Option<i64>,
    stored: &[Value],
    stored_base: Option<i64>,
) -> bool {
    proposed != stored || proposed_base != stored_base
}

fn check_edit_changes_something(content_changed: bool, notify_changed: bool) -> Result<()> {
    if !content_changed && !notify_changed {
        return Err(Error::invalid(
            "nothing to change: give a new description, instructions, notifyMemberIds or notifyTeamKeys",
        ));
    }
    Ok(())
}

/// The authors after an edit: the editor joins them (a service token adds no one).
fn with_author(mut authors: Vec<String>, editor: Option<String>) -> Vec<String> {
    if let Some(m) = editor
        && !authors.contains(&m)
    {
        authors.push(m);
    }
    authors
}

fn edit_description(subject: &str, content_changed: bool, revision: i64, voided: usize) -> String {
    if content_changed {
        format!(
            "edited approval request for {subject}: revision {revision}; {voided} earlier approval(s) and decline(s) voided"
        )
    } else {
        format!("changed the reviewers asked on approval request for {subject}")
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::TryIntoModel;
    use serde_json::json;

    use super::*;

    fn target(kind: ResourceKind, key: &str) -> Target {
        Target {
            project_key: "web".to_owned(),
            env_key: "production".to_owned(),
            kind,
            key: key.to_owned(),
        }
    }

    fn message(result: Result<impl std::fmt::Debug>) -> String {
        match result {
            Err(Error::InvalidRequest(m)) => m,
            other => panic!("expected an invalid request, got {other:?}"),
        }
    }

    #[test]
    fn a_new_request_is_pending_at_revision_one_with_its_requestor_as_author() {
        let project = entity::project::Model {
            id: "p1".to_owned(),
            key: "web".to_owned(),
            name: "Web".to_owned(),
            tags: "[]".to_owned(),
            version: 1,
            created_at: 0,
            updated_at: 0,
        };
        let environment = entity::environment::Model {
            id: "e1".to_owned(),
            project_id: "p1".to_owned(),
            key: "production".to_owned(),
            name: "Production".to_owned(),
            tags: "[]".to_owned(),
            critical: true,
            approval_settings: "{}".to_owned(),
            version: 1,
            created_at: 0,
            updated_at: 0,
        };
        let target = target(ResourceKind::Flag, "checkout");
        let proposal = Proposal {
            instructions: vec![json!({"kind": "turnFlagOn"})],
            base: "{}".to_owned(),
            base_version: Some(7),
            flag_id: Some("f1".to_owned()),
            resource: "proj/web:env/production:flag/checkout".parse().unwrap(),
        };
        let new = |requestor: Option<&str>| NewRequest {
            id: "r1",
            project: &project,
            environment: &environment,
            target: &target,
            proposal: &proposal,
            description: "ship it".to_owned(),
            notify_member_ids: vec!["m2".to_owned()],
            notify_team_keys: Vec::new(),
            requestor_member_id: requestor.map(str::to_owned),
            requestor_token_id: Some("t1".to_owned()),
            now: 1_000,
        };
        let row = new_request_row(new(Some("m1")))
            .unwrap()
            .try_into_model()
            .unwrap();
        assert_eq!(row.status, "pending");
        assert_eq!((row.revision, row.version), (1, 1));
        assert_eq!(row.authors, r#"["m1"]"#);
        assert_eq!(row.resource_id, "proj/web:env/production:flag/checkout");
        assert_eq!(row.instructions, r#"[{"kind":"turnFlagOn"}]"#);
        assert_eq!(
            (row.base_version, row.flag_id.as_deref()),
            (Some(7), Some("f1"))
        );
        assert_eq!(row.conflicts, "[]");
        assert_eq!(row.notify_member_ids, r#"["m2"]"#);
        assert_eq!((row.created_at, row.updated_at), (1_000, 1_000));
        assert_eq!(row.applied_at, None);
        let by_token = new_request_row(new(None))
            .unwrap()
            .try_into_model()
            .unwrap();
        assert_eq!(by_token.authors, "[]");
    }

    #[test]
    fn a_refused_request_names_its_flag_or_variable() {
        let env: Resource = "proj/web:env/production".parse().unwrap();
        assert_eq!(
            target_resource(&env, &target(ResourceKind::Flag, "checkout")).to_string(),
            "proj/web:env/production:flag/checkout"
        );
        assert_eq!(
            target_resource(&env, &target(ResourceKind::Variable, "API_URL")).to_string(),
            "proj/web:env/production:var/API_URL"
        );
    }

    #[test]
    fn the_creation_entry_names_the_instruction_kinds() {
        let instructions = [
            json!({"kind": "turnFlagOn"}),
            json!({"kind": "addTargets", "variation": 0, "values": ["alice"]}),
        ];
        assert_eq!(
            creation_description(&instructions, &target(ResourceKind::Flag, "checkout")),
            "requested approval for turnFlagOn, addTargets on flag checkout in production"
        );
    }

    #[test]
    fn only_a_different_description_is_an_edit() {
        assert_eq!(changed_description(None, "ship it").unwrap(), None);
        assert_eq!(
            changed_description(Some(" ship it "), "ship it").unwrap(),
            None
        );
        assert_eq!(
            changed_description(Some("ship it today"), "ship it").unwrap(),
            Some("ship it today".to_owned())
        );
        assert_eq!(
            message(changed_description(Some("  "), "ship it")),
            "description: must be 1 to 5000 characters"
        );
    }

    #[test]
    fn instructions_change_the_request_when_they_or_their_base_differ() {
        let on = [json!({"kind": "turnFlagOn"})];
        let off = [json!({"kind": "turnFlagOff"})];
        assert!(!proposal_differs(&on, Some(3), &on, Some(3)));
        assert!(proposal_differs(&off, Some(3), &on, Some(3)));
        assert!(proposal_differs(&on, Some(4), &on, Some(3)));
        assert!(proposal_differs(&on, None, &on, Some(3)));
    }

    #[test]
    fn an_edit_must_change_something() {
        assert!(check_edit_changes_something(true, false).is_ok());
        assert!(check_edit_changes_something(false, true).is_ok());
        assert_eq!(
            message(check_edit_changes_something(false, false)),
            "nothing to change: give a new description, instructions, notifyMemberIds or notifyTeamKeys"
        );
    }

    #[test]
    fn an_editing_member_becomes_an_author_once() {
        let authors = vec!["m1".to_owned()];
        assert_eq!(
            with_author(authors.clone(), Some("m2".to_owned())),
            ["m1", "m2"]
        );
        assert_eq!(with_author(authors.clone(), Some("m1".to_owned())), ["m1"]);
        assert_eq!(with_author(authors, None), ["m1"]);
    }

    #[test]
    fn the_edit_entry_says_what_was_voided_or_that_only_reviewers_changed() {
        assert_eq!(
            edit_description("flag checkout in production", true, 3, 2),
            "edited approval request for flag checkout in production: revision 3; 2 earlier approval(s) and decline(s) voided"
        );
        assert_eq!(
            edit_description("flag checkout in production", false, 2, 0),
            "changed the reviewers asked on approval request for flag checkout in production"
        );
    }
}
