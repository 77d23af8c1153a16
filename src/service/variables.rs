//! Environment variables: key/value configuration per environment. Secret values are
//! write-only: they never appear in a response or in the audit log.

use poem_openapi::Object;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;

use super::approval_gate;
use super::authz::authorize;
use super::flags::ChangeOrigin;
use super::util::{new_id, snapshot, validate_key};
use super::{AuditDraft, Ctx, Service, WriteTx, environments, projects};
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

    /// Creates or replaces a variable. Refused with 422 when the environment requires
    /// approval for variables and the caller may not bypass it.
    pub async fn put_variable(
        &self,
        ctx: &Ctx,
        project_key: &str,
        env_key: &str,
        name: &str,
        input: VariablePut,
    ) -> Result<(Variable, bool)> {
        let mut tx = self.begin_write(ctx).await?;
        let out = put_variable_in(
            &mut tx,
            project_key,
            env_key,
            name,
            &input,
            ChangeOrigin::Direct,
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn delete_variable(
        &self,
        ctx: &Ctx,
        project_key: &str,
        env_key: &str,
        name: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write(ctx).await?;
        delete_variable_in(&mut tx, project_key, env_key, name, ChangeOrigin::Direct).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Checks a value before anything is opened or written.
pub(crate) fn validate_variable(name: &str, value: &str) -> Result<()> {
    validate_key("name", name)?;
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::invalid(format!(
            "value: longer than {MAX_VALUE_BYTES} bytes"
        )));
    }
    Ok(())
}

/// A variable of an environment, if it exists.
pub(crate) async fn find_variable(
    db: &impl sea_orm::ConnectionTrait,
    environment_id: &str,
    name: &str,
) -> Result<Option<entity::env_variable::Model>> {
    Ok(entity::env_variable::Entity::find()
        .filter(entity::env_variable::Column::EnvironmentId.eq(environment_id))
        .filter(entity::env_variable::Column::Name.eq(name))
        .one(db)
        .await?)
}

/// The variable write command inside a write transaction: authorize, pass the approval
/// gate, write, audit. A direct PUT and the apply of an approved request both run it.
pub(crate) async fn put_variable_in(
    tx: &mut WriteTx<'_>,
    project_key: &str,
    env_key: &str,
    name: &str,
    input: &VariablePut,
    origin: ChangeOrigin<'_>,
) -> Result<(Variable, bool)> {
    validate_variable(name, &input.value)?;
    let p = projects::find(tx.db(), project_key).await?;
    let e = environments::find(tx.db(), &p, env_key).await?;
    let res = environments::resource(&p, &e)?.var(name);
    let existing = find_variable(tx.db(), &e.id, name).await?;
    let action = if existing.is_some() {
        "updateVariable"
    } else {
        "createVariable"
    };
    authorize(&tx.ctx().principal, action, &res)?;
    let bypasses = variable_gate(tx, &e, project_key, name, &res, origin)?;
    let now = tx.now_ms();
    let (before, saved, created) = match existing {
        Some(m) => {
            let before = to_rep(&m);
            let mut am: entity::env_variable::ActiveModel = m.clone().into();
            am.value = Set(input.value.clone());
            am.secret = Set(input.secret);
            am.version = Set(m.version + 1);
            am.updated_at = Set(now);
            (Some(before), am.update(tx.db()).await?, false)
        }
        None => {
            let m = entity::env_variable::ActiveModel {
                id: Set(new_id()),
                environment_id: Set(e.id.clone()),
                name: Set(name.to_owned()),
                value: Set(input.value.clone()),
                secret: Set(input.secret),
                version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(tx.db())
            .await?;
            (None, m, true)
        }
    };
    let rep = to_rep(&saved);
    let mut draft = AuditDraft::new("variable", name, action, &res)
        .describe(format!(
            "set variable {name} in {project_key}/{env_key}{}{}",
            origin_note(origin),
            approval_gate::describe_bypasses(&bypasses)
        ))
        .parent(&e.name, &environments::resource(&p, &e)?)
        .environment(Some(env_key.to_owned()))
        .before(before.as_ref().map(snapshot).transpose()?)
        .after(Some(snapshot(&rep)?))
        .comment(input.comment.clone())
        .approval_request(origin.request_id());
    for bypass in &bypasses {
        draft = draft.access("bypassRequiredApproval", &bypass.resource);
    }
    tx.audit(draft);
    Ok((rep, created))
}

/// Deletes a variable inside a write transaction, through the same gate.
pub(crate) async fn delete_variable_in(
    tx: &mut WriteTx<'_>,
    project_key: &str,
    env_key: &str,
    name: &str,
    origin: ChangeOrigin<'_>,
) -> Result<()> {
    let p = projects::find(tx.db(), project_key).await?;
    let e = environments::find(tx.db(), &p, env_key).await?;
    let res = environments::resource(&p, &e)?.var(name);
    authorize(&tx.ctx().principal, "deleteVariable", &res)?;
    let m = find_variable(tx.db(), &e.id, name)
        .await?
        .ok_or_else(|| Error::not_found(format!("variable {name:?} in {project_key}/{env_key}")))?;
    let bypasses = variable_gate(tx, &e, project_key, name, &res, origin)?;
    let before = to_rep(&m);
    entity::env_variable::Entity::delete_by_id(m.id.clone())
        .exec(tx.db())
        .await?;
    let mut draft = AuditDraft::new("variable", name, "deleteVariable", &res)
        .describe(format!(
            "deleted variable {name} from {project_key}/{env_key}{}{}",
            origin_note(origin),
            approval_gate::describe_bypasses(&bypasses)
        ))
        .parent(&e.name, &environments::resource(&p, &e)?)
        .environment(Some(env_key.to_owned()))
        .before(Some(snapshot(&before)?))
        .approval_request(origin.request_id());
    for bypass in &bypasses {
        draft = draft.access("bypassRequiredApproval", &bypass.resource);
    }
    tx.audit(draft);
    Ok(())
}

fn origin_note(origin: ChangeOrigin<'_>) -> String {
    match origin {
        ChangeOrigin::Direct => String::new(),
        ChangeOrigin::ApprovalRequest { id, .. } => format!(" (approval request {id})"),
    }
}

/// The approval gate for a variable write: refused (422) or the bypasses to record.
fn variable_gate(
    tx: &WriteTx<'_>,
    env: &entity::environment::Model,
    project_key: &str,
    name: &str,
    res: &crate::domain::policy::Resource,
    origin: ChangeOrigin<'_>,
) -> Result<Vec<approval_gate::Bypass>> {
    if origin.approved_in(&env.key) {
        return Ok(Vec::new());
    }
    let gate = approval_gate::variable_gate(env, project_key, name, res.clone())?;
    approval_gate::pass_gate(&tx.ctx().principal, gate.into_iter().collect())
}
