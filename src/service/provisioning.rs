//! What SCIM provisioning and SSO sign-in share around the planner (`domain::provisioning`):
//! loading the member and the custom roles a statement names, authorizing the plan's actions
//! with the connection as the principal, and writing the plan onto the member's row.

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::Principal;
use super::authz::authorize;
use super::util::{from_json, to_json};
use crate::domain::policy::{BaseRole, Resource};
use crate::domain::provisioning::{CurrentMember, Plan, RoleCatalogue};
use crate::error::{Error, Result};

/// Status values of the member row.
pub(crate) const ACTIVE: &str = "active";
pub(crate) const DEACTIVATED: &str = "deactivated";

/// The member as the planner sees it, for a statement of connection `connection_key`.
pub(crate) fn current_member(
    m: &entity::member::Model,
    connection_key: &str,
) -> Result<CurrentMember> {
    Ok(CurrentMember {
        role: BaseRole::parse(&m.role)
            .ok_or_else(|| Error::internal("stored member role is unknown"))?,
        custom_roles: from_json(&m.custom_roles)?,
        role_attributes: from_json(&m.role_attributes)?,
        active: m.status == ACTIVE,
        email: m.email.clone(),
        first_name: m.first_name.clone(),
        last_name: m.last_name.clone(),
        of_other_connection: m
            .connection_key
            .as_deref()
            .is_some_and(|k| k != connection_key),
    })
}

/// The custom roles among `keys` that exist, with the role attributes each declares. No
/// query when the statement names none.
pub(crate) async fn role_catalogue(
    db: &impl ConnectionTrait,
    keys: &[String],
) -> Result<RoleCatalogue> {
    if keys.is_empty() {
        return Ok(RoleCatalogue::new());
    }
    let rows = entity::custom_role::Entity::find()
        .filter(entity::custom_role::Column::Key.is_in(keys.to_vec()))
        .all(db)
        .await?;
    rows.into_iter()
        .map(|r| Ok((r.key, from_json(&r.role_attributes)?)))
        .collect()
}

/// Authorizes every action of a plan on the member, for the principal acting (the
/// connection): the same check as a REST change.
pub(crate) fn authorize_plan(principal: &Principal, plan: &Plan, member: &Resource) -> Result<()> {
    plan.actions
        .iter()
        .try_for_each(|action| authorize(principal, action, member))
}

/// Writes a plan's role, custom roles, status and names onto the member's row (the email,
/// when the plan has one, is the caller's to check and write).
pub(crate) fn apply_plan(am: &mut entity::member::ActiveModel, plan: &Plan) -> Result<()> {
    am.role = Set(plan.role.as_str().to_owned());
    am.custom_roles = Set(to_json(&plan.custom_roles)?);
    am.role_attributes = Set(to_json(&plan.role_attributes)?);
    am.status = Set(if plan.active { ACTIVE } else { DEACTIVATED }.to_owned());
    am.first_name = Set(plan.first_name.clone());
    am.last_name = Set(plan.last_name.clone());
    Ok(())
}
