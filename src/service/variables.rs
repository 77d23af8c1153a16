//! Environment variables: key/value configuration per environment. Secret values are
//! write-only: they never appear in a response or in the audit log.

use poem_openapi::Object;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;

use super::authz::authorize;
use super::util::{new_id, snapshot, validate_key};
use super::{AuditDraft, Ctx, Service, environments, projects};
use crate::error::{Error, Result};

/// Largest value accepted, in bytes.
const MAX_VALUE_BYTES: usize = 64 * 1024;

/// A variable as the API shows it; `value` is absent for secrets (a changed secret shows as
/// a new `version`, never as a value or a hash of it).
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct Variable {
    pub name: String,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub secret: bool,
    pub version: i64,
    pub last_modified: i64,
}

/// Body of `PUT .../variables/{name}`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct VariablePut {
    pub value: String,
    #[oai(default)]
    pub secret: bool,
    pub comment: Option<String>,
}

fn to_rep(m: &entity::env_variable::Model) -> Variable {
    Variable {
        name: m.name.clone(),
        value: (!m.secret).then(|| m.value.clone()),
        secret: m.secret,
        version: m.version,
        last_modified: m.updated_at,
    }
}

impl Service {
    pub async fn list_variables(
        &self,
        ctx: &Ctx,
        project_key: &str,
        env_key: &str,
    ) -> Result<Vec<Variable>> {
        let p = projects::find(self.db(), project_key).await?;
        let e = environments::find(self.db(), &p, env_key).await?;
        authorize(&ctx.principal, "viewProject", &projects::resource(&p)?)?;
        Ok(entity::env_variable::Entity::find()
            .filter(entity::env_variable::Column::EnvironmentId.eq(e.id.clone()))
            .order_by_asc(entity::env_variable::Column::Name)
            .all(self.db())
            .await?
            .iter()
            .map(to_rep)
            .collect())
    }

    /// Creates or replaces a variable.
    pub async fn put_variable(
        &self,
        ctx: &Ctx,
        project_key: &str,
        env_key: &str,
        name: &str,
        input: VariablePut,
    ) -> Result<(Variable, bool)> {
        validate_key("name", name)?;
        if input.value.len() > MAX_VALUE_BYTES {
            return Err(Error::invalid(format!(
                "value: longer than {MAX_VALUE_BYTES} bytes"
            )));
        }
        let mut tx = self.begin_write(ctx).await?;
        let p = projects::find(tx.db(), project_key).await?;
        let e = environments::find(tx.db(), &p, env_key).await?;
        let res = environments::resource(&p, &e)?.var(name);
        let existing = entity::env_variable::Entity::find()
            .filter(entity::env_variable::Column::EnvironmentId.eq(e.id.clone()))
            .filter(entity::env_variable::Column::Name.eq(name))
            .one(tx.db())
            .await?;
        let now = tx.now_ms();
        let (action, before, saved, created) = match existing {
            Some(m) => {
                authorize(&ctx.principal, "updateVariable", &res)?;
                let before = to_rep(&m);
                let mut am: entity::env_variable::ActiveModel = m.clone().into();
                am.value = Set(input.value);
                am.secret = Set(input.secret);
                am.version = Set(m.version + 1);
                am.updated_at = Set(now);
                (
                    "updateVariable",
                    Some(before),
                    am.update(tx.db()).await?,
                    false,
                )
            }
            None => {
                authorize(&ctx.principal, "createVariable", &res)?;
                let m = entity::env_variable::ActiveModel {
                    id: Set(new_id()),
                    environment_id: Set(e.id.clone()),
                    name: Set(name.to_owned()),
                    value: Set(input.value),
                    secret: Set(input.secret),
                    version: Set(1),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(tx.db())
                .await?;
                ("createVariable", None, m, true)
            }
        };
        let rep = to_rep(&saved);
        tx.audit(
            AuditDraft::new("variable", name, action, &res)
                .describe(format!("set variable {name} in {project_key}/{env_key}"))
                .parent(&e.name, &environments::resource(&p, &e)?)
                .environment(Some(env_key.to_owned()))
                .before(before.as_ref().map(snapshot).transpose()?)
                .after(Some(snapshot(&rep)?))
                .comment(input.comment),
        )
        .await?;
        tx.commit().await?;
        Ok((rep, created))
    }

    pub async fn delete_variable(
        &self,
        ctx: &Ctx,
        project_key: &str,
        env_key: &str,
        name: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write(ctx).await?;
        let p = projects::find(tx.db(), project_key).await?;
        let e = environments::find(tx.db(), &p, env_key).await?;
        let res = environments::resource(&p, &e)?.var(name);
        authorize(&ctx.principal, "deleteVariable", &res)?;
        let m = entity::env_variable::Entity::find()
            .filter(entity::env_variable::Column::EnvironmentId.eq(e.id.clone()))
            .filter(entity::env_variable::Column::Name.eq(name))
            .one(tx.db())
            .await?
            .ok_or_else(|| {
                Error::not_found(format!("variable {name:?} in {project_key}/{env_key}"))
            })?;
        let before = to_rep(&m);
        entity::env_variable::Entity::delete_by_id(m.id.clone())
            .exec(tx.db())
            .await?;
        tx.audit(
            AuditDraft::new("variable", name, "deleteVariable", &res)
                .describe(format!(
                    "deleted variable {name} from {project_key}/{env_key}"
                ))
                .parent(&e.name, &environments::resource(&p, &e)?)
                .environment(Some(env_key.to_owned()))
                .before(Some(snapshot(&before)?)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
