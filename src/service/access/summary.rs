//! A principal's effective access in every project and environment it may view, for the
//! actions people ask about most: what the "You" page of the console shows.

use sea_orm::{EntityTrait, QueryOrder};

use crate::domain::policy::Resource;
use crate::error::Result;
use crate::service::authz::authorize;
use crate::service::{Ctx, Service, environments, projects};

/// The common actions, each asked of one resource of its environment. Flags and requests are
/// asked as `flag/*` and `request/*`: a statement that names only some flags by key does not
/// count, so "allowed" reads "allowed for any flag of the environment".
pub const SUMMARY_ACTIONS: [SummaryAction; 5] = [
    SummaryAction {
        label: "View",
        action: "viewProject",
        on: On::Project,
    },
    SummaryAction {
        label: "Toggle flags",
        action: "updateOn",
        on: On::Flag,
    },
    SummaryAction {
        label: "Change targeting",
        action: "updateRules",
        on: On::Flag,
    },
    SummaryAction {
        label: "Review requests",
        action: "reviewApprovalRequest",
        on: On::Request,
    },
    SummaryAction {
        label: "Apply requests",
        action: "applyApprovalRequest",
        on: On::Request,
    },
];

/// One column of the summary.
#[derive(Debug, Clone, Copy)]
pub struct SummaryAction {
    pub label: &'static str,
    pub action: &'static str,
    on: On,
}

#[derive(Debug, Clone, Copy)]
enum On {
    Project,
    Flag,
    Request,
}

/// One environment's row: whether each of `SUMMARY_ACTIONS` is allowed, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentAccess {
    pub project_key: String,
    pub project_name: String,
    pub environment_key: String,
    pub environment_name: String,
    pub critical: bool,
    pub allowed: Vec<bool>,
}

impl Service {
    /// Every environment of every project the caller may view, with what it may do there,
    /// decided by the same policy evaluation as every command.
    pub async fn effective_access(&self, ctx: &Ctx) -> Result<Vec<EnvironmentAccess>> {
        let projects = entity::project::Entity::find()
            .order_by_asc(entity::project::Column::Key)
            .all(self.db())
            .await?;
        let environments = entity::environment::Entity::find()
            .order_by_asc(entity::environment::Column::Key)
            .all(self.db())
            .await?;
        let mut rows = Vec::new();
        for project in &projects {
            let project_resource = projects::resource(project)?;
            if authorize(&ctx.principal, "viewProject", &project_resource).is_err() {
                continue;
            }
            for env in environments.iter().filter(|e| e.project_id == project.id) {
                let env_resource = environments::resource(project, env)?;
                let allowed = SUMMARY_ACTIONS
                    .iter()
                    .map(|a| {
                        let resource = match a.on {
                            On::Project => project_resource.clone(),
                            On::Flag => env_resource.clone().flag("*", &[] as &[&str]),
                            On::Request => env_resource.clone().request("*"),
                        };
                        allowed(ctx, a.action, &resource)
                    })
                    .collect();
                rows.push(EnvironmentAccess {
                    project_key: project.key.clone(),
                    project_name: project.name.clone(),
                    environment_key: env.key.clone(),
                    environment_name: env.name.clone(),
                    critical: env.critical,
                    allowed,
                });
            }
        }
        Ok(rows)
    }
}

fn allowed(ctx: &Ctx, action: &str, resource: &Resource) -> bool {
    authorize(&ctx.principal, action, resource).is_ok()
}
