//! Projects: the top of the flag domain.

use poem_openapi::Object;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde::Serialize;

use super::authz::authorize;
use super::util::{
    check_version, from_json, new_id, normalize_tags, snapshot, to_json, validate_key,
    validate_name,
};
use super::{AuditDraft, Ctx, Service};
use crate::domain::policy::Resource;
use crate::error::{Error, Result};
use crate::service::spelled::{Key, Matches, Name, Spelled};

/// A project as the API shows it (and as the audit log records it).
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct Project {
    pub id: String,
    pub key: String,
    pub name: String,
    pub tags: Vec<String>,
    pub version: i64,
    pub creation_date: i64,
}

/// Body of `POST /api/v2/projects`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectPost {
    /// Letters, digits, `.`, `_`, `-`, starting with a letter or digit; at most 128.
    #[oai(validator(custom = "Matches::new()", min_length = 1, max_length = 128))]
    pub key: Spelled<Key>,
    /// 1 to 256 characters, not blank, no control characters.
    #[oai(validator(custom = "Matches::new()", max_length = 256))]
    pub name: Spelled<Name>,
    /// Each one a key: letters, digits, `.`, `_`, `-`, starting with a letter or digit.
    #[oai(default, validator(custom = "Matches::new()", max_length = 128))]
    pub tags: Vec<Spelled<Key>>,
}

/// Body of `PATCH /api/v2/projects/{projectKey}`: the fields to change.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectPatch {
    /// 1 to 256 characters, not blank, no control characters.
    #[oai(validator(custom = "Matches::new()", max_length = 256))]
    pub name: Option<Spelled<Name>>,
    /// Each one a key: letters, digits, `.`, `_`, `-`, starting with a letter or digit.
    #[oai(validator(custom = "Matches::new()", max_length = 128))]
    pub tags: Option<Vec<Spelled<Key>>>,
    /// The version the change was made against; 409 when it is stale.
    pub version: Option<i64>,
    pub comment: Option<String>,
}

pub(crate) fn to_rep(m: &entity::project::Model) -> Result<Project> {
    Ok(Project {
        id: m.id.clone(),
        key: m.key.clone(),
        name: m.name.clone(),
        tags: from_json(&m.tags)?,
        version: m.version,
        creation_date: m.created_at,
    })
}

pub(crate) fn resource(m: &entity::project::Model) -> Result<Resource> {
    let tags: Vec<String> = from_json(&m.tags)?;
    Ok(Resource::project(&m.key, &tags))
}

/// Loads a project by key or 404.
pub(crate) async fn find(db: &impl ConnectionTrait, key: &str) -> Result<entity::project::Model> {
    entity::project::Entity::find()
        .filter(entity::project::Column::Key.eq(key))
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found(format!("project {key:?}")))
}

impl Service {
    pub async fn list_projects(&self, ctx: &Ctx) -> Result<Vec<Project>> {
        let rows = entity::project::Entity::find()
            .order_by_asc(entity::project::Column::Key)
            .all(self.db())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for m in &rows {
            if authorize(&ctx.principal, "viewProject", &resource(m)?).is_ok() {
                out.push(to_rep(m)?);
            }
        }
        Ok(out)
    }

    pub async fn get_project(&self, ctx: &Ctx, key: &str) -> Result<Project> {
        let m = find(self.db(), key).await?;
        authorize(&ctx.principal, "viewProject", &resource(&m)?)?;
        to_rep(&m)
    }

    pub async fn create_project(&self, ctx: &Ctx, input: ProjectPost) -> Result<Project> {
        validate_key("key", &input.key)?;
        let name = validate_name("name", &input.name)?;
        let tags = normalize_tags("tags", &Spelled::texts(&input.tags))?;
        let res = Resource::project(&input.key, &tags);
        authorize(&ctx.principal, "createProject", &res)?;
        let mut tx = self.begin_write(ctx).await?;
        let now = tx.now_ms();
        let m = entity::project::ActiveModel {
            id: Set(new_id()),
            key: Set(input.key.to_string()),
            name: Set(name),
            tags: Set(to_json(&tags)?),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(tx.db())
        .await
        .map_err(|e| dup(e, &input.key))?;
        let rep = to_rep(&m)?;
        tx.audit(
            AuditDraft::new("project", &rep.name, "createProject", &res)
                .describe(format!("created project {}", rep.key))
                .after(Some(snapshot(&rep)?)),
        );
        tx.commit().await?;
        Ok(rep)
    }

    pub async fn update_project(
        &self,
        ctx: &Ctx,
        key: &str,
        patch: ProjectPatch,
    ) -> Result<Project> {
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), key).await?;
        check_version(patch.version, m.version, "project")?;
        let before = to_rep(&m)?;
        let old_res = resource(&m)?;
        let mut am: entity::project::ActiveModel = m.clone().into();
        let mut draft = AuditDraft::new("project", &before.name, "updateProjectName", &old_res);
        draft.accesses.clear();
        if let Some(name) = &patch.name {
            authorize(&ctx.principal, "updateProjectName", &old_res)?;
            am.name = Set(validate_name("name", name)?);
            draft = draft.access("updateProjectName", &old_res);
        }
        if let Some(tags) = &patch.tags {
            authorize(&ctx.principal, "updateTags", &old_res)?;
            am.tags = Set(to_json(&normalize_tags("tags", &Spelled::texts(tags))?)?);
            draft = draft.access("updateTags", &old_res);
        }
        if draft.accesses.is_empty() {
            // An empty patch changes nothing, as an empty merge patch does: the project as
            // it is, to a caller who may see it, and no entry.
            authorize(&ctx.principal, "viewProject", &old_res)?;
            return Ok(before);
        }
        am.version = Set(m.version + 1);
        am.updated_at = Set(tx.now_ms());
        let updated = am.update(tx.db()).await?;
        let after = to_rep(&updated)?;
        tx.audit(
            draft
                .describe(format!("updated project {key}"))
                .before(Some(snapshot(&before)?))
                .after(Some(snapshot(&after)?))
                .comment(patch.comment),
        );
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes a project with its environments, flags and variables.
    pub async fn delete_project(&self, ctx: &Ctx, key: &str) -> Result<()> {
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), key).await?;
        let res = resource(&m)?;
        authorize(&ctx.principal, "deleteProject", &res)?;
        let before = to_rep(&m)?;
        let envs = entity::environment::Entity::find()
            .filter(entity::environment::Column::ProjectId.eq(m.id.clone()))
            .all(tx.db())
            .await?;
        let env_ids: Vec<String> = envs.iter().map(|e| e.id.clone()).collect();
        entity::flag_state::Entity::delete_many()
            .filter(entity::flag_state::Column::EnvironmentId.is_in(env_ids.clone()))
            .exec(tx.db())
            .await?;
        entity::env_variable::Entity::delete_many()
            .filter(entity::env_variable::Column::EnvironmentId.is_in(env_ids))
            .exec(tx.db())
            .await?;
        entity::flag::Entity::delete_many()
            .filter(entity::flag::Column::ProjectId.eq(m.id.clone()))
            .exec(tx.db())
            .await?;
        entity::environment::Entity::delete_many()
            .filter(entity::environment::Column::ProjectId.eq(m.id.clone()))
            .exec(tx.db())
            .await?;
        entity::project::Entity::delete_by_id(m.id.clone())
            .exec(tx.db())
            .await?;
        tx.audit(
            AuditDraft::new("project", &before.name, "deleteProject", &res)
                .describe(format!(
                    "deleted project {key} with {} environment(s)",
                    envs.len()
                ))
                .before(Some(snapshot(&before)?)),
        );
        tx.commit().await?;
        Ok(())
    }
}

/// Maps a unique-index violation to a 409 that names the key.
pub(crate) fn dup(err: sea_orm::DbErr, key: &str) -> Error {
    match Error::from(err) {
        Error::Conflict(_) => Error::conflict(format!("{key:?} already exists")),
        other => other,
    }
}
