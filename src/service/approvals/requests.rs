//! Creating, listing, reading, updating and deleting approval requests.

use std::collections::BTreeMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::Value;

use super::shapes::{
    ApprovalRequest, ApprovalRequestPage, ApprovalRequestPatch, ApprovalRequestPost,
    ApprovalRequestQuery,
};
use super::steps::{
    Step, check_description, check_notify, closed, guarded_update, lifecycle_draft, list_filter,
    propose, raced,
};
use super::stored::{load, parse_resource_id, rep};
use crate::domain::approval::{
    EnvironmentApprovalSettings, RequestStatus, ResourceKind, ReviewStatus,
};
use crate::error::{Error, Result};
use crate::service::approval_gate::{member_id, token_id};
use crate::service::approval_settings::env_settings;
use crate::service::authz::authorize;
use crate::service::util::{check_version, from_json, new_id, snapshot, to_json};
use crate::service::{Ctx, Service, environments, projects};

/// Default and largest page of `GET /api/v2/approval-requests` (LaunchDarkly's numbers).
const DEFAULT_LIMIT: u64 = 20;
const MAX_LIMIT: u64 = 200;

impl Service {
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
        tx.audit(draft);
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
                    "deleted approval request for {} {} in {}",
                    loaded.row.resource_kind, loaded.row.resource_key, loaded.row.environment_key
                ))
                .before(Some(snapshot(&before)?)),
        );
        tx.commit().await?;
        Ok(())
    }
}

/// "turnFlagOn, addTargets" from instruction JSON.
fn kinds_of(instructions: &[Value]) -> String {
    instructions
        .iter()
        .filter_map(|v| v.get("kind").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(", ")
}
