//! Members: people with access. Exactly one owner; deactivation revokes access at once but
//! keeps the record and its history.

use std::collections::BTreeMap;

use poem_openapi::Object;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde::Serialize;

use super::access::summarize;
use super::authz::authorize;
use super::credentials::revoke_member_credentials;
use super::member_rows::{find, parse_role};
use super::util::{check_version, from_json, new_id, snapshot, to_json, validate_key};
use super::{AuditDraft, Ctx, Service};
use crate::domain::policy::{BaseRole, Resource};
use crate::error::{Error, Result};

/// Role attributes: key -> values, given where a custom role is assigned.
pub type RoleAttributes = BTreeMap<String, Vec<String>>;

/// A member as the API shows it.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct Member {
    pub id: String,
    pub email: String,
    pub user_name: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Base role: reader, writer, admin, owner or no_access.
    pub role: String,
    /// Keys of the custom roles assigned directly.
    pub custom_roles: Vec<String>,
    pub role_attributes: RoleAttributes,
    /// Keys of the teams the member belongs to.
    pub teams: Vec<String>,
    /// `active` or `deactivated`.
    pub status: String,
    /// Where the member came from: local, scim, saml or oidc.
    pub source: String,
    pub last_seen: Option<i64>,
    pub version: i64,
    pub creation_date: i64,
    /// What the caller may do with this member.
    #[oai(rename = "_access", skip_serializing_if_is_none)]
    #[serde(skip)]
    pub access: Option<super::access::AccessSummary>,
}

/// Body of `POST /api/v2/members`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberPost {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Base role (default `reader`). `owner` only when the account has none yet.
    pub role: Option<String>,
    #[oai(default)]
    pub custom_roles: Vec<String>,
    #[oai(default)]
    pub role_attributes: RoleAttributes,
}

/// Body of `PATCH /api/v2/members/{id}`: the fields to change.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: Option<String>,
    pub custom_roles: Option<Vec<String>>,
    pub role_attributes: Option<RoleAttributes>,
    /// `active` or `deactivated`; deactivating revokes the member's tokens at once.
    pub status: Option<String>,
    pub version: Option<i64>,
    pub comment: Option<String>,
}

pub(crate) async fn team_keys(db: &impl ConnectionTrait, member_id: &str) -> Result<Vec<String>> {
    let team_ids: Vec<String> = entity::team_member::Entity::find()
        .filter(entity::team_member::Column::MemberId.eq(member_id))
        .all(db)
        .await?
        .into_iter()
        .map(|tm| tm.team_id)
        .collect();
    if team_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(entity::team::Entity::find()
        .filter(entity::team::Column::Id.is_in(team_ids))
        .order_by_asc(entity::team::Column::Key)
        .all(db)
        .await?
        .into_iter()
        .map(|t| t.key)
        .collect())
}

pub(crate) async fn to_rep(db: &impl ConnectionTrait, m: &entity::member::Model) -> Result<Member> {
    rep_with_teams(m, team_keys(db, &m.id).await?)
}

/// The member as the API shows it, given the keys of its teams.
pub(crate) fn rep_with_teams(m: &entity::member::Model, teams: Vec<String>) -> Result<Member> {
    Ok(Member {
        id: m.id.clone(),
        email: m.email.clone(),
        user_name: m.user_name.clone(),
        first_name: m.first_name.clone(),
        last_name: m.last_name.clone(),
        role: m.role.clone(),
        custom_roles: from_json(&m.custom_roles)?,
        role_attributes: from_json(&m.role_attributes)?,
        teams,
        status: m.status.clone(),
        source: m.source.clone(),
        last_seen: m.last_seen,
        version: m.version,
        creation_date: m.created_at,
        access: None,
    })
}

pub(crate) fn validate_email(email: &str) -> Result<String> {
    super::util::plain("email", email)?;
    let email = email.trim();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.contains(char::is_whitespace);
    if !valid {
        return Err(Error::invalid(format!(
            "email: {email:?} is not an email address"
        )));
    }
    Ok(email.to_owned())
}

/// Checks that every custom role key exists; the error names the first unknown key.
pub(crate) async fn check_custom_roles(
    db: &impl ConnectionTrait,
    field: &str,
    keys: &[String],
) -> Result<Vec<String>> {
    let mut keys = keys.to_vec();
    keys.sort();
    keys.dedup();
    for (i, k) in keys.iter().enumerate() {
        validate_key(&format!("{field}[{i}]"), k)?;
    }
    if keys.is_empty() {
        return Ok(keys);
    }
    let known: Vec<String> = entity::custom_role::Entity::find()
        .filter(entity::custom_role::Column::Key.is_in(keys.clone()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.key)
        .collect();
    if let Some(unknown) = keys.iter().find(|k| !known.contains(k)) {
        return Err(Error::invalid(format!(
            "{field}: unknown custom role {unknown:?}"
        )));
    }
    Ok(keys)
}

/// Checks that an assignment gives every role the role attributes it declares: a role used
/// without them would silently grant nothing, so it is refused with the path of the gap.
pub(crate) async fn check_role_requirements(
    db: &impl ConnectionTrait,
    field: &str,
    keys: &[String],
    attrs: &RoleAttributes,
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let roles = entity::custom_role::Entity::find()
        .filter(entity::custom_role::Column::Key.is_in(keys.to_vec()))
        .all(db)
        .await?;
    for role in roles {
        let declared: Vec<String> = from_json(&role.role_attributes)?;
        for attr in declared {
            if attrs.get(&attr).is_none_or(|v| v.is_empty()) {
                return Err(Error::invalid(format!(
                    "{field}: custom role {} needs role attribute {attr:?} (roleAttributes.{attr})",
                    role.key
                )));
            }
        }
    }
    Ok(())
}

pub(crate) fn check_role_attributes(field: &str, attrs: &RoleAttributes) -> Result<()> {
    for (k, values) in attrs {
        validate_key(&format!("{field}.{k}"), k)?;
        if values.iter().any(|v| v.is_empty() || v.len() > 256) {
            return Err(Error::invalid(format!(
                "{field}.{k}: values must be 1 to 256 characters"
            )));
        }
    }
    Ok(())
}

async fn active_owner_count(db: &impl ConnectionTrait) -> Result<usize> {
    Ok(entity::member::Entity::find()
        .filter(entity::member::Column::Role.eq("owner"))
        .all(db)
        .await?
        .len())
}

impl Service {
    pub async fn list_members(&self, ctx: &Ctx) -> Result<Vec<Member>> {
        let rows = entity::member::Entity::find()
            .order_by_asc(entity::member::Column::EmailLower)
            .all(self.db())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for m in &rows {
            let res = Resource::member(&m.id);
            if authorize(&ctx.principal, "viewMember", &res).is_ok() {
                let mut rep = to_rep(self.db(), m).await?;
                rep.access = summarize(&ctx.principal, &res);
                out.push(rep);
            }
        }
        Ok(out)
    }

    pub async fn get_member(&self, ctx: &Ctx, id: &str) -> Result<Member> {
        let m = find(self.db(), id).await?;
        let own = ctx.principal.member().is_some_and(|me| me.id == m.id);
        let res = Resource::member(&m.id);
        if !own {
            authorize(&ctx.principal, "viewMember", &res)?;
        }
        let mut rep = to_rep(self.db(), &m).await?;
        rep.access = summarize(&ctx.principal, &res);
        Ok(rep)
    }

    pub async fn create_member(&self, ctx: &Ctx, input: MemberPost) -> Result<Member> {
        let email = validate_email(&input.email)?;
        let role = parse_role("role", input.role.as_deref().unwrap_or("reader"))?;
        check_role_attributes("roleAttributes", &input.role_attributes)?;
        let id = new_id();
        let res = Resource::member(&id);
        authorize(&ctx.principal, "createMember", &res)?;
        if !input.custom_roles.is_empty() {
            authorize(&ctx.principal, "updateCustomRole", &res)?;
        }
        let mut tx = self.begin_write(ctx).await?;
        if role == BaseRole::Owner {
            authorize(&ctx.principal, "updateAccountOwner", &Resource::acct())?;
            if active_owner_count(tx.db()).await? > 0 {
                return Err(Error::conflict(
                    "role: the account already has its one owner",
                ));
            }
        }
        let custom_roles = check_custom_roles(tx.db(), "customRoles", &input.custom_roles).await?;
        check_role_requirements(
            tx.db(),
            "customRoles",
            &custom_roles,
            &input.role_attributes,
        )
        .await?;
        for (field, name) in [
            ("firstName", &input.first_name),
            ("lastName", &input.last_name),
        ] {
            if let Some(name) = name {
                super::util::plain(field, name)?;
            }
        }
        let now = tx.now_ms();
        let m = entity::member::ActiveModel {
            id: Set(id.clone()),
            email: Set(email.clone()),
            email_lower: Set(email.to_lowercase()),
            user_name: Set(email.clone()),
            user_name_lower: Set(email.to_lowercase()),
            first_name: Set(input.first_name.clone()),
            last_name: Set(input.last_name.clone()),
            role: Set(role.as_str().to_owned()),
            custom_roles: Set(to_json(&custom_roles)?),
            role_attributes: Set(to_json(&input.role_attributes)?),
            status: Set("active".to_owned()),
            source: Set("local".to_owned()),
            connection_key: Set(None),
            external_id: Set(None),
            last_seen: Set(None),
            scim_attributes: Set(None),
            scim_deleted_at: Set(None),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(tx.db())
        .await
        .map_err(|e| match Error::from(e) {
            Error::Conflict(_) => {
                Error::conflict(format!("a member with email {email:?} already exists"))
            }
            other => other,
        })?;
        let rep = to_rep(tx.db(), &m).await?;
        tx.audit(
            AuditDraft::new("member", &rep.email, "createMember", &res)
                .describe(format!("added member {} as {}", rep.email, rep.role))
                .after(Some(snapshot(&rep)?)),
        );
        tx.commit().await?;
        Ok(rep)
    }

    pub async fn update_member(&self, ctx: &Ctx, id: &str, patch: MemberPatch) -> Result<Member> {
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), id).await?;
        check_version(patch.version, m.version, "member")?;
        let res = Resource::member(&m.id);
        let before = to_rep(tx.db(), &m).await?;
        let mut am: entity::member::ActiveModel = m.clone().into();
        let mut draft = AuditDraft::new("member", &m.email, "updateRole", &res);
        draft.accesses.clear();
        let is_owner = m.role == "owner";
        if patch.first_name.is_some() || patch.last_name.is_some() {
            authorize(&ctx.principal, "updateMemberName", &res)?;
            if let Some(f) = &patch.first_name {
                super::util::plain("firstName", f)?;
                am.first_name = Set(Some(f.clone()));
            }
            if let Some(l) = &patch.last_name {
                super::util::plain("lastName", l)?;
                am.last_name = Set(Some(l.clone()));
            }
            draft = draft.access("updateMemberName", &res);
        }
        if let Some(role) = &patch.role {
            let role = parse_role("role", role)?;
            authorize(&ctx.principal, "updateRole", &res)?;
            if role == BaseRole::Owner || is_owner {
                // Ownership moves only by the owner's own hand, and never leaves the account ownerless.
                authorize(&ctx.principal, "updateAccountOwner", &Resource::acct())?;
                if is_owner && role != BaseRole::Owner {
                    return Err(Error::conflict(
                        "role: the owner cannot be demoted; make another member owner first",
                    ));
                }
                if !is_owner && active_owner_count(tx.db()).await? > 0 {
                    return Err(Error::conflict(
                        "role: the account already has its one owner",
                    ));
                }
            }
            am.role = Set(role.as_str().to_owned());
            draft = draft.access("updateRole", &res);
        }
        if let Some(keys) = &patch.custom_roles {
            authorize(&ctx.principal, "updateCustomRole", &res)?;
            am.custom_roles = Set(to_json(
                &check_custom_roles(tx.db(), "customRoles", keys).await?,
            )?);
            draft = draft.access("updateCustomRole", &res);
        }
        if let Some(attrs) = &patch.role_attributes {
            authorize(&ctx.principal, "updateMemberRoleAttributes", &res)?;
            check_role_attributes("roleAttributes", attrs)?;
            am.role_attributes = Set(to_json(attrs)?);
            draft = draft.access("updateMemberRoleAttributes", &res);
        }
        let mut revoked = 0;
        let mut revoked_sessions = 0;
        if let Some(status) = &patch.status {
            if status != "active" && status != "deactivated" {
                return Err(Error::invalid(format!(
                    "status: {status:?} is not active or deactivated"
                )));
            }
            authorize(&ctx.principal, "updateMemberStatus", &res)?;
            if is_owner && status == "deactivated" {
                return Err(Error::conflict("status: the owner cannot be deactivated"));
            }
            if status == "deactivated" && m.status == "active" {
                (revoked, revoked_sessions) = revoke_member_credentials(&tx, &m.id).await?;
            }
            am.status = Set(status.clone());
            draft = draft.access("updateMemberStatus", &res);
        }
        if draft.accesses.is_empty() {
            return Err(Error::invalid("nothing to change"));
        }
        if patch.custom_roles.is_some() || patch.role_attributes.is_some() {
            let roles: Vec<String> = match &am.custom_roles {
                sea_orm::ActiveValue::Set(v) | sea_orm::ActiveValue::Unchanged(v) => from_json(v)?,
                sea_orm::ActiveValue::NotSet => from_json(&m.custom_roles)?,
            };
            let attrs: RoleAttributes = match &am.role_attributes {
                sea_orm::ActiveValue::Set(v) | sea_orm::ActiveValue::Unchanged(v) => from_json(v)?,
                sea_orm::ActiveValue::NotSet => from_json(&m.role_attributes)?,
            };
            check_role_requirements(tx.db(), "customRoles", &roles, &attrs).await?;
        }
        am.version = Set(m.version + 1);
        am.updated_at = Set(tx.now_ms());
        let updated = am.update(tx.db()).await?;
        let after = to_rep(tx.db(), &updated).await?;
        let mut description = format!("updated member {}", m.email);
        if revoked > 0 {
            description.push_str(&format!("; revoked {revoked} token(s)"));
        }
        if revoked_sessions > 0 {
            description.push_str(&format!("; ended {revoked_sessions} session(s)"));
        }
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

    /// Removes a member: team memberships go, personal tokens are revoked, history stays.
    pub async fn delete_member(&self, ctx: &Ctx, id: &str) -> Result<()> {
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), id).await?;
        let res = Resource::member(&m.id);
        authorize(&ctx.principal, "deleteMember", &res)?;
        if m.role == "owner" {
            return Err(Error::conflict("the owner cannot be deleted"));
        }
        let before = to_rep(tx.db(), &m).await?;
        revoke_member_credentials(&tx, &m.id).await?;
        super::team_members::run(
            tx.db(),
            super::team_members::remove_everywhere(tx.backend(), &m.id),
        )
        .await?;
        entity::member::Entity::delete_by_id(m.id.clone())
            .exec(tx.db())
            .await?;
        tx.audit(
            AuditDraft::new("member", &m.email, "deleteMember", &res)
                .describe(format!("removed member {}", m.email))
                .before(Some(snapshot(&before)?)),
        );
        tx.commit().await?;
        Ok(())
    }
}
