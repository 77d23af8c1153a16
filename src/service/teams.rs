//! Teams: members sharing custom roles. A team synced from an identity provider keeps its
//! name and membership under the IdP's control; its role bindings stay editable here.

use poem_openapi::Object;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde::{Deserialize, Serialize};

use super::authz::authorize;
use super::members::{
    RoleAttributes, check_custom_roles, check_role_attributes, check_role_requirements,
};
use super::projects::dup;
use super::team_members;
use super::util::{
    check_version, from_json, new_id, snapshot, to_json, validate_key, validate_name,
};
use super::{AuditDraft, Ctx, Service};
use crate::domain::policy::Resource;
use crate::error::{Error, Result};

/// A team as the API shows it.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct Team {
    pub id: String,
    pub key: String,
    pub name: String,
    pub description: String,
    pub custom_roles: Vec<String>,
    pub role_attributes: RoleAttributes,
    pub member_ids: Vec<String>,
    /// True when an identity provider owns the name and membership.
    pub idp_synced: bool,
    pub version: i64,
    pub creation_date: i64,
}

/// Body of `POST /api/v2/teams`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamPost {
    pub key: String,
    pub name: String,
    #[oai(default)]
    pub description: String,
    #[oai(default)]
    pub custom_roles: Vec<String>,
    #[oai(default)]
    pub member_ids: Vec<String>,
    #[oai(default)]
    pub role_attributes: RoleAttributes,
}

/// One semantic-patch instruction on a team (LaunchDarkly's team instruction kinds).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum TeamInstruction {
    AddMembers { values: Vec<String> },
    RemoveMembers { values: Vec<String> },
    ReplaceMembers { values: Vec<String> },
    AddCustomRoles { values: Vec<String> },
    RemoveCustomRoles { values: Vec<String> },
    ReplaceCustomRoles { values: Vec<String> },
    UpdateName { value: String },
    UpdateDescription { value: String },
    ReplaceRoleAttributes { value: RoleAttributes },
    UpdateRoleAttribute { key: String, values: Vec<String> },
    RemoveRoleAttribute { key: String },
}

impl TeamInstruction {
    fn action(&self) -> &'static str {
        match self {
            Self::AddMembers { .. } | Self::RemoveMembers { .. } | Self::ReplaceMembers { .. } => {
                "updateTeamMembers"
            }
            Self::AddCustomRoles { .. }
            | Self::RemoveCustomRoles { .. }
            | Self::ReplaceCustomRoles { .. } => "updateTeamCustomRoles",
            Self::UpdateName { .. } => "updateTeamName",
            Self::UpdateDescription { .. } => "updateTeamDescription",
            Self::ReplaceRoleAttributes { .. }
            | Self::UpdateRoleAttribute { .. }
            | Self::RemoveRoleAttribute { .. } => "updateTeamRoleAttributes",
        }
    }

    /// Whether the IdP owns what this instruction changes.
    fn touches_idp_owned(&self) -> bool {
        matches!(
            self,
            Self::AddMembers { .. }
                | Self::RemoveMembers { .. }
                | Self::ReplaceMembers { .. }
                | Self::UpdateName { .. }
        )
    }
}

/// Body of `PATCH /api/v2/teams/{teamKey}`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamPatch {
    /// `[{"kind": "addMembers", "values": [memberId]}, {"kind": "addCustomRoles", "values": [roleKey]}, ...]`.
    pub instructions: Vec<serde_json::Value>,
    pub comment: Option<String>,
    pub version: Option<i64>,
}

async fn to_rep(db: &impl ConnectionTrait, t: &entity::team::Model) -> Result<Team> {
    Ok(Team {
        id: t.id.clone(),
        key: t.key.clone(),
        name: t.name.clone(),
        description: t.description.clone(),
        custom_roles: from_json(&t.custom_roles)?,
        role_attributes: from_json(&t.role_attributes)?,
        member_ids: team_members::ids_of(db, &t.id).await?,
        idp_synced: t.idp_synced,
        version: t.version,
        creation_date: t.created_at,
    })
}

async fn find(db: &impl ConnectionTrait, key: &str) -> Result<entity::team::Model> {
    entity::team::Entity::find()
        .filter(entity::team::Column::Key.eq(key))
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found(format!("team {key:?}")))
}

async fn check_members(
    db: &impl ConnectionTrait,
    field: &str,
    ids: &[String],
) -> Result<Vec<String>> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(ids);
    }
    let known: Vec<String> = entity::member::Entity::find()
        .filter(entity::member::Column::Id.is_in(ids.clone()))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect();
    if let Some(unknown) = ids.iter().find(|id| !known.contains(id)) {
        return Err(Error::invalid(format!(
            "{field}: unknown member {unknown:?}"
        )));
    }
    Ok(ids)
}

/// A new team made over REST or by sign-in's mapping rules: no members, no roles, not
/// synced from an identity provider.
pub(crate) fn new_team_row(
    key: &str,
    name: String,
    description: String,
    now: i64,
) -> entity::team::ActiveModel {
    entity::team::ActiveModel {
        id: Set(new_id()),
        key: Set(key.to_owned()),
        name: Set(name),
        description: Set(description),
        custom_roles: Set("[]".to_owned()),
        role_attributes: Set("{}".to_owned()),
        idp_synced: Set(false),
        connection_key: Set(None),
        external_id: Set(None),
        member_count: Set(0),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

impl Service {
    pub async fn list_teams(&self, ctx: &Ctx) -> Result<Vec<Team>> {
        let rows = entity::team::Entity::find()
            .order_by_asc(entity::team::Column::Key)
            .all(self.db())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for t in &rows {
            if authorize(&ctx.principal, "viewTeam", &Resource::team(&t.key)).is_ok() {
                out.push(to_rep(self.db(), t).await?);
            }
        }
        Ok(out)
    }

    pub async fn get_team(&self, ctx: &Ctx, key: &str) -> Result<Team> {
        let t = find(self.db(), key).await?;
        authorize(&ctx.principal, "viewTeam", &Resource::team(&t.key))?;
        to_rep(self.db(), &t).await
    }

    pub async fn create_team(&self, ctx: &Ctx, input: TeamPost) -> Result<Team> {
        validate_key("key", &input.key)?;
        let name = validate_name("name", &input.name)?;
        check_role_attributes("roleAttributes", &input.role_attributes)?;
        let res = Resource::team(&input.key);
        authorize(&ctx.principal, "createTeam", &res)?;
        let mut tx = self.begin_write(ctx).await?;
        let roles = check_custom_roles(tx.db(), "customRoles", &input.custom_roles).await?;
        check_role_requirements(tx.db(), "customRoles", &roles, &input.role_attributes).await?;
        let members = check_members(tx.db(), "memberIds", &input.member_ids).await?;
        let now = tx.now_ms();
        let t = entity::team::ActiveModel {
            custom_roles: Set(to_json(&roles)?),
            role_attributes: Set(to_json(&input.role_attributes)?),
            ..new_team_row(&input.key, name, input.description.clone(), now)
        }
        .insert(tx.db())
        .await
        .map_err(|e| dup(e, &input.key))?;
        team_members::run(tx.db(), team_members::add(tx.backend(), &t.id, &members)).await?;
        let rep = to_rep(tx.db(), &t).await?;
        tx.audit(
            AuditDraft::new("team", &rep.name, "createTeam", &res)
                .describe(format!(
                    "created team {} with {} member(s)",
                    rep.key,
                    rep.member_ids.len()
                ))
                .after(Some(snapshot(&rep)?)),
        );
        tx.commit().await?;
        Ok(rep)
    }

    /// Applies team instructions atomically.
    pub async fn patch_team(&self, ctx: &Ctx, key: &str, patch: TeamPatch) -> Result<Team> {
        if patch.instructions.is_empty() {
            return Err(Error::invalid(
                "instructions: at least one instruction is needed",
            ));
        }
        let instructions: Vec<TeamInstruction> = patch
            .instructions
            .iter()
            .enumerate()
            .map(|(i, v)| {
                serde_json::from_value(v.clone())
                    .map_err(|e| Error::invalid(format!("instructions[{i}]: {e}")))
            })
            .collect::<Result<_>>()?;
        let mut tx = self.begin_write(ctx).await?;
        let t = find(tx.db(), key).await?;
        check_version(patch.version, t.version, "team")?;
        let res = Resource::team(&t.key);
        let before = to_rep(tx.db(), &t).await?;
        let mut draft = AuditDraft::new("team", &t.name, "updateTeamMembers", &res);
        draft.accesses.clear();
        for (i, instruction) in instructions.iter().enumerate() {
            let action = instruction.action();
            authorize(&ctx.principal, action, &res)?;
            if t.idp_synced && instruction.touches_idp_owned() {
                return Err(Error::forbidden(format!(
                    "instructions[{i}]: team {key} is managed by identity provider: its name and members change only there"
                )));
            }
            if !draft.accesses.iter().any(|(a, _)| a == action) {
                draft = draft.access(action, &res);
            }
        }
        let mut name = before.name.clone();
        let mut description = before.description.clone();
        let mut roles = before.custom_roles.clone();
        let mut attrs = before.role_attributes.clone();
        let mut members = before.member_ids.clone();
        for (i, instruction) in instructions.into_iter().enumerate() {
            let field = format!("instructions[{i}]");
            match instruction {
                TeamInstruction::AddMembers { values } => {
                    members.extend(check_members(tx.db(), &field, &values).await?);
                }
                TeamInstruction::RemoveMembers { values } => {
                    members.retain(|m| !values.contains(m))
                }
                TeamInstruction::ReplaceMembers { values } => {
                    members = check_members(tx.db(), &field, &values).await?
                }
                TeamInstruction::AddCustomRoles { values } => {
                    roles.extend(check_custom_roles(tx.db(), &field, &values).await?);
                }
                TeamInstruction::RemoveCustomRoles { values } => {
                    roles.retain(|r| !values.contains(r))
                }
                TeamInstruction::ReplaceCustomRoles { values } => {
                    roles = check_custom_roles(tx.db(), &field, &values).await?;
                }
                TeamInstruction::UpdateName { value } => name = validate_name(&field, &value)?,
                TeamInstruction::UpdateDescription { value } => description = value,
                TeamInstruction::ReplaceRoleAttributes { value } => {
                    check_role_attributes(&field, &value)?;
                    attrs = value;
                }
                TeamInstruction::UpdateRoleAttribute { key, values } => {
                    let one: RoleAttributes = [(key, values)].into_iter().collect();
                    check_role_attributes(&field, &one)?;
                    attrs.extend(one);
                }
                TeamInstruction::RemoveRoleAttribute { key } => {
                    attrs.remove(&key);
                }
            }
        }
        members.sort();
        members.dedup();
        roles.sort();
        roles.dedup();
        check_role_requirements(tx.db(), "customRoles", &roles, &attrs).await?;
        if members != before.member_ids {
            let mut writes = team_members::clear(tx.backend(), &t.id);
            writes.extend(team_members::add(tx.backend(), &t.id, &members));
            team_members::run(tx.db(), writes).await?;
        }
        let mut am: entity::team::ActiveModel = t.clone().into();
        am.name = Set(name);
        am.description = Set(description);
        am.custom_roles = Set(to_json(&roles)?);
        am.role_attributes = Set(to_json(&attrs)?);
        am.version = Set(t.version + 1);
        am.updated_at = Set(tx.now_ms());
        let updated = am.update(tx.db()).await?;
        let after = to_rep(tx.db(), &updated).await?;
        tx.audit(
            draft
                .describe(format!("updated team {key}"))
                .before(Some(snapshot(&before)?))
                .after(Some(snapshot(&after)?))
                .delta(serde_json::Value::Array(patch.instructions.clone()))
                .comment(patch.comment),
        );
        tx.commit().await?;
        Ok(after)
    }

    pub async fn delete_team(&self, ctx: &Ctx, key: &str) -> Result<()> {
        let mut tx = self.begin_write(ctx).await?;
        let t = find(tx.db(), key).await?;
        let res = Resource::team(&t.key);
        authorize(&ctx.principal, "deleteTeam", &res)?;
        if t.idp_synced {
            return Err(Error::forbidden(format!(
                "team {key} is managed by identity provider: it is deleted there (its role bindings can be edited here)"
            )));
        }
        let before = to_rep(tx.db(), &t).await?;
        team_members::run(tx.db(), team_members::clear(tx.backend(), &t.id)).await?;
        entity::team::Entity::delete_by_id(t.id.clone())
            .exec(tx.db())
            .await?;
        tx.audit(
            AuditDraft::new("team", &t.name, "deleteTeam", &res)
                .describe(format!("deleted team {key}"))
                .before(Some(snapshot(&before)?)),
        );
        tx.commit().await?;
        Ok(())
    }
}
