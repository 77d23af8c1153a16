//! A reviewer's inbox: the pending requests the caller may review (not its own) and the
//! approved ones it may apply, decided by the policy engine on each request resource, with
//! every project and environment read once however many requests they hold.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::list::{matching_rows, parse_list_query, reviews_by_request};
use super::shapes::{ApprovalRequest, ApprovalRequestQuery};
use crate::domain::policy::Resource;
use crate::error::Result;
use crate::service::authz::authorize;
use crate::service::{Ctx, Service, environments};

/// The requests waiting for the caller, newest first.
#[derive(Debug, Clone, Default)]
pub struct ApprovalInbox {
    /// Pending, not authored by the caller, `reviewApprovalRequest` allowed.
    pub to_review: Vec<ApprovalRequest>,
    /// Pending and approved, `applyApprovalRequest` allowed.
    pub to_apply: Vec<ApprovalRequest>,
}

impl Service {
    /// The caller's inbox among the pending requests of projects it may view.
    pub async fn approval_inbox(&self, ctx: &Ctx) -> Result<ApprovalInbox> {
        let filter = parse_list_query(&ApprovalRequestQuery {
            status: Some("pending".to_owned()),
            ..Default::default()
        })?;
        let rows = matching_rows(self.db(), &filter).await?;
        let reviews = reviews_by_request(self.db(), &rows).await?;
        let visible = self.visible_reps(ctx, &rows, &reviews, None).await?;
        let environment_of: HashMap<&str, &str> = rows
            .iter()
            .map(|r| (r.id.as_str(), r.environment_id.as_str()))
            .collect();
        let resources = self.environment_resources(&rows).await?;
        let me = ctx.principal.member().map(|m| m.id.as_str());
        let mut inbox = ApprovalInbox::default();
        for request in visible {
            let Some(env) = environment_of
                .get(request.id.as_str())
                .and_then(|e| resources.get(*e))
            else {
                continue;
            };
            let resource = env.clone().request(&request.id);
            let may = |action: &str| authorize(&ctx.principal, action, &resource).is_ok();
            let authored = me.is_some_and(|me| request.authors.iter().any(|a| a == me));
            if request.review_status == "approved" && may("applyApprovalRequest") {
                inbox.to_apply.push(request);
            } else if !authored && may("reviewApprovalRequest") {
                inbox.to_review.push(request);
            }
        }
        Ok(inbox)
    }

    /// The resource of each environment the rows name, by environment id: two queries.
    async fn environment_resources(
        &self,
        rows: &[entity::approval_request::Model],
    ) -> Result<HashMap<String, Resource>> {
        let mut env_ids: Vec<String> = rows.iter().map(|r| r.environment_id.clone()).collect();
        env_ids.sort();
        env_ids.dedup();
        let envs = entity::environment::Entity::find()
            .filter(entity::environment::Column::Id.is_in(env_ids))
            .all(self.db())
            .await?;
        let mut project_ids: Vec<String> = envs.iter().map(|e| e.project_id.clone()).collect();
        project_ids.sort();
        project_ids.dedup();
        let projects: HashMap<String, entity::project::Model> = entity::project::Entity::find()
            .filter(entity::project::Column::Id.is_in(project_ids))
            .all(self.db())
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let mut out = HashMap::new();
        for env in &envs {
            if let Some(project) = projects.get(&env.project_id) {
                out.insert(env.id.clone(), environments::resource(project, env)?);
            }
        }
        Ok(out)
    }
}
