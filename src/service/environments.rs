//! Environments of a project: tags, the `critical` marker and approval settings.

use poem_openapi::Object;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde::Serialize;

use super::approval_settings::{
    self, ApprovalSettingsPatch, ApprovalSettingsRep, ResourceApprovalSettingsPatch,
    ResourceApprovalSettingsRep,
};
use super::authz::authorize;
use super::projects::{self, dup};
use super::util::{
    check_version, from_json, new_id, normalize_tags, snapshot, to_json, validate_key,
    validate_name,
};
use super::{AuditDraft, Ctx, Service};
use crate::domain::approval::ResourceKind;
use crate::domain::flag::{FlagEnvironmentState, FlagSettings};
use crate::domain::policy::Resource;
use crate::error::{Error, Result};
use crate::service::spelled::{Key, Matches, Name, Spelled};

/// An environment as the API shows it.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct Environment {
    pub id: String,
    pub key: String,
    pub name: String,
    pub tags: Vec<String>,
    /// Critical environments (usually production) can be singled out by policies with `{critical:true}`.
    pub critical: bool,
    /// Approval settings for flags (LaunchDarkly's `approvalSettings`).
    pub approval_settings: ApprovalSettingsRep,
    /// Approval settings of the other resource kinds (LaunchDarkly's
    /// `resourceApprovalSettings`): environment variables. Segments do not exist yet.
    pub resource_approval_settings: ResourceApprovalSettingsRep,
    pub version: i64,
    pub creation_date: i64,
}

/// Body of `POST /api/v2/projects/{projectKey}/environments`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentPost {
    /// Letters, digits, `.`, `_`, `-`, starting with a letter or digit; at most 128.
    #[oai(validator(custom = "Matches::new()", min_length = 1, max_length = 128))]
    pub key: Spelled<Key>,
    /// 1 to 256 characters, not blank, no control characters.
    #[oai(validator(custom = "Matches::new()", max_length = 256))]
    pub name: Spelled<Name>,
    /// Each one a key: letters, digits, `.`, `_`, `-`, starting with a letter or digit.
    #[oai(default, validator(custom = "Matches::new()", max_length = 128))]
    pub tags: Vec<Spelled<Key>>,
    #[oai(default)]
    pub critical: bool,
}

/// Body of `PATCH .../environments/{envKey}`: the fields to change.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentPatch {
    /// 1 to 256 characters, not blank, no control characters.
    #[oai(validator(custom = "Matches::new()", max_length = 256))]
    pub name: Option<Spelled<Name>>,
    /// Each one a key: letters, digits, `.`, `_`, `-`, starting with a letter or digit.
    #[oai(validator(custom = "Matches::new()", max_length = 128))]
    pub tags: Option<Vec<Spelled<Key>>>,
    pub critical: Option<bool>,
    /// Flag approval settings to change; fields left out keep their value.
    pub approval_settings: Option<ApprovalSettingsPatch>,
    /// Approval settings of other resource kinds to change (`variable`).
    pub resource_approval_settings: Option<ResourceApprovalSettingsPatch>,
    pub version: Option<i64>,
    pub comment: Option<String>,
}

pub(crate) fn to_rep(m: &entity::environment::Model) -> Result<Environment> {
    let settings = approval_settings::env_settings(m)?;
    Ok(Environment {
        id: m.id.clone(),
        key: m.key.clone(),
        name: m.name.clone(),
        tags: from_json(&m.tags)?,
        critical: m.critical,
        approval_settings: ApprovalSettingsRep::new(&settings.flag, ResourceKind::Flag),
        resource_approval_settings: ResourceApprovalSettingsRep {
            variable: ApprovalSettingsRep::new(&settings.variable, ResourceKind::Variable),
        },
        version: m.version,
        creation_date: m.created_at,
    })
}

/// The policy resource of an environment, with its project's and its own tags.
pub(crate) fn resource(
    p: &entity::project::Model,
    m: &entity::environment::Model,
) -> Result<Resource> {
    let tags: Vec<String> = from_json(&m.tags)?;
    Ok(projects::resource(p)?.env(&m.key, &tags, m.critical))
}

/// Loads an environment of a project or 404.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    project: &entity::project::Model,
    key: &str,
) -> Result<entity::environment::Model> {
    entity::environment::Entity::find()
        .filter(entity::environment::Column::ProjectId.eq(project.id.clone()))
        .filter(entity::environment::Column::Key.eq(key))
        .one(db)
        .await?
        .ok_or_else(|| {
            Error::not_found(format!("environment {key:?} in project {:?}", project.key))
        })
}

/// All environments of a project, by key.
pub(crate) async fn all(
    db: &impl ConnectionTrait,
    project: &entity::project::Model,
) -> Result<Vec<entity::environment::Model>> {
    Ok(entity::environment::Entity::find()
        .filter(entity::environment::Column::ProjectId.eq(project.id.clone()))
        .order_by_asc(entity::environment::Column::Key)
        .all(db)
        .await?)
}

impl Service {
    pub async fn list_environments(
        &self,
        ctx: &Ctx,
        project_key: &str,
    ) -> Result<Vec<Environment>> {
        let p = projects::find(self.db(), project_key).await?;
        authorize(&ctx.principal, "viewProject", &projects::resource(&p)?)?;
        all(self.db(), &p).await?.iter().map(to_rep).collect()
    }

    pub async fn get_environment(
        &self,
        ctx: &Ctx,
        project_key: &str,
        env_key: &str,
    ) -> Result<Environment> {
        let p = projects::find(self.db(), project_key).await?;
        authorize(&ctx.principal, "viewProject", &projects::resource(&p)?)?;
        to_rep(&find(self.db(), &p, env_key).await?)
    }

    /// Creates an environment; every existing flag gets its initial state there.
    pub async fn create_environment(
        &self,
        ctx: &Ctx,
        project_key: &str,
        input: EnvironmentPost,
    ) -> Result<Environment> {
        validate_key("key", &input.key)?;
        let name = validate_name("name", &input.name)?;
        let tags = normalize_tags("tags", &Spelled::texts(&input.tags))?;
        let mut tx = self.begin_write(ctx).await?;
        let p = projects::find(tx.db(), project_key).await?;
        let res = projects::resource(&p)?.env(&input.key, &tags, input.critical);
        authorize(&ctx.principal, "createEnvironment", &res)?;
        let now = tx.now_ms();
        let m = entity::environment::ActiveModel {
            id: Set(new_id()),
            project_id: Set(p.id.clone()),
            key: Set(input.key.to_string()),
            name: Set(name),
            tags: Set(to_json(&tags)?),
            critical: Set(input.critical),
            approval_settings: Set("{}".to_owned()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(tx.db())
        .await
        .map_err(|e| dup(e, &input.key))?;
        let flags = entity::flag::Entity::find()
            .filter(entity::flag::Column::ProjectId.eq(p.id.clone()))
            .all(tx.db())
            .await?;
        for f in &flags {
            let settings: FlagSettings = from_json(&f.settings)?;
            let state = FlagEnvironmentState::initial(&settings, new_id());
            entity::flag_state::ActiveModel {
                id: Set(new_id()),
                flag_id: Set(f.id.clone()),
                environment_id: Set(m.id.clone()),
                state: Set(to_json(&state)?),
                version: Set(1),
                updated_at: Set(now),
            }
            .insert(tx.db())
            .await?;
        }
        let rep = to_rep(&m)?;
        tx.audit(
            AuditDraft::new("environment", &rep.name, "createEnvironment", &res)
                .describe(format!(
                    "created environment {} in project {}",
                    rep.key, p.key
                ))
                .parent(&p.name, &projects::resource(&p)?)
                .environment(Some(rep.key.clone()))
                .after(Some(snapshot(&rep)?)),
        );
        tx.commit().await?;
        Ok(rep)
    }

    pub async fn update_environment(
        &self,
        ctx: &Ctx,
        project_key: &str,
        env_key: &str,
        patch: EnvironmentPatch,
    ) -> Result<Environment> {
        let mut tx = self.begin_write(ctx).await?;
        let p = projects::find(tx.db(), project_key).await?;
        let m = find(tx.db(), &p, env_key).await?;
        check_version(patch.version, m.version, "environment")?;
        let res = resource(&p, &m)?;
        let before = to_rep(&m)?;
        let mut am: entity::environment::ActiveModel = m.clone().into();
        let mut draft = AuditDraft::new("environment", &before.name, "updateName", &res);
        draft.accesses.clear();
        if let Some(name) = &patch.name {
            authorize(&ctx.principal, "updateName", &res)?;
            am.name = Set(validate_name("name", name)?);
            draft = draft.access("updateName", &res);
        }
        if let Some(tags) = &patch.tags {
            authorize(&ctx.principal, "updateTags", &res)?;
            am.tags = Set(to_json(&normalize_tags("tags", &Spelled::texts(tags))?)?);
            draft = draft.access("updateTags", &res);
        }
        if let Some(critical) = patch.critical {
            authorize(&ctx.principal, "updateCritical", &res)?;
            am.critical = Set(critical);
            draft = draft.access("updateCritical", &res);
        }
        if patch.approval_settings.is_some() || patch.resource_approval_settings.is_some() {
            authorize(&ctx.principal, "updateApprovalSettings", &res)?;
            let mut settings = approval_settings::env_settings(&m)?;
            if let Some(flag) = &patch.approval_settings {
                flag.merge_into(&mut settings.flag, ResourceKind::Flag, "approvalSettings")?;
            }
            if let Some(variable) = patch
                .resource_approval_settings
                .as_ref()
                .and_then(|r| r.variable.as_ref())
            {
                variable.as_settings_patch().merge_into(
                    &mut settings.variable,
                    ResourceKind::Variable,
                    "resourceApprovalSettings.variable",
                )?;
            }
            // Re-sending the settings an environment already has changes nothing and
            // writes no entry (idempotent clients such as Terraform do that).
            if settings != approval_settings::env_settings(&m)? {
                am.approval_settings = Set(to_json(&settings)?);
                draft = draft.access("updateApprovalSettings", &res);
            } else if patch.name.is_none() && patch.tags.is_none() && patch.critical.is_none() {
                return Ok(before);
            }
        }
        if draft.accesses.is_empty() {
            // An empty patch changes nothing, as an empty merge patch does.
            authorize(&ctx.principal, "viewProject", &projects::resource(&p)?)?;
            return Ok(before);
        }
        am.version = Set(m.version + 1);
        am.updated_at = Set(tx.now_ms());
        let updated = am.update(tx.db()).await?;
        let after = to_rep(&updated)?;
        tx.audit(
            draft
                .describe(format!(
                    "updated environment {env_key} in project {project_key}"
                ))
                .parent(&p.name, &projects::resource(&p)?)
                .environment(Some(env_key.to_owned()))
                .before(Some(snapshot(&before)?))
                .after(Some(snapshot(&after)?))
                .comment(patch.comment),
        );
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes an environment with its flag states and variables.
    pub async fn delete_environment(
        &self,
        ctx: &Ctx,
        project_key: &str,
        env_key: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write(ctx).await?;
        let p = projects::find(tx.db(), project_key).await?;
        let m = find(tx.db(), &p, env_key).await?;
        let res = resource(&p, &m)?;
        authorize(&ctx.principal, "deleteEnvironment", &res)?;
        let before = to_rep(&m)?;
        entity::flag_state::Entity::delete_many()
            .filter(entity::flag_state::Column::EnvironmentId.eq(m.id.clone()))
            .exec(tx.db())
            .await?;
        entity::env_variable::Entity::delete_many()
            .filter(entity::env_variable::Column::EnvironmentId.eq(m.id.clone()))
            .exec(tx.db())
            .await?;
        entity::environment::Entity::delete_by_id(m.id.clone())
            .exec(tx.db())
            .await?;
        tx.audit(
            AuditDraft::new("environment", &before.name, "deleteEnvironment", &res)
                .describe(format!(
                    "deleted environment {env_key} from project {project_key}"
                ))
                .parent(&p.name, &projects::resource(&p)?)
                .environment(Some(env_key.to_owned()))
                .before(Some(snapshot(&before)?)),
        );
        tx.commit().await?;
        Ok(())
    }
}
