//! What SCIM provisioning and SSO sign-in share around the planner (`domain::provisioning`):
//! loading the member and the custom roles a statement names, authorizing the plan's actions
//! with the connection as the principal, and writing the plan onto the member's row.

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::Principal;
use super::authz::authorize;
use super::util::{from_json, to_json};
use crate::domain::grant_source::{
    CustomRoleSources, GrantSource, regrant_custom_roles, regrant_role,
};
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
/// when the plan has one, is the caller's to check and write). `stated_by` is the
/// connection's statement (`scim:<key>` or `sso:<key>`): what the plan grants anew takes it
/// as its source, or the mapping rule's behind it.
pub(crate) fn apply_plan(
    am: &mut entity::member::ActiveModel,
    plan: &Plan,
    stated_by: &GrantSource,
) -> Result<()> {
    let role_source = stated_by.through_rule(plan.rules.role);
    let custom_source =
        |key: &str| stated_by.through_rule(plan.rules.custom_roles.get(key).copied());
    set_role(am, plan.role, &role_source)?;
    set_custom_roles(am, &plan.custom_roles, custom_source)?;
    am.role_attributes = Set(to_json(&plan.role_attributes)?);
    am.status = Set(if plan.active { ACTIVE } else { DEACTIVATED }.to_owned());
    am.first_name = Set(plan.first_name.clone());
    am.last_name = Set(plan.last_name.clone());
    Ok(())
}

/// Sets the member's base role with its source; a role that stays keeps its own.
pub(crate) fn set_role(
    am: &mut entity::member::ActiveModel,
    role: BaseRole,
    source: &GrantSource,
) -> Result<()> {
    let before = am.role.try_as_ref().map(|r| {
        let kept = am.role_source.try_as_ref().and_then(|s| s.as_deref());
        (r.as_str(), kept)
    });
    let role_source = regrant_role(before, role.as_str(), source);
    if am.role_source.try_as_ref() != Some(&role_source) {
        am.role_source = Set(role_source);
    }
    am.role = Set(role.as_str().to_owned());
    Ok(())
}

/// Sets the member's custom roles with their sources: roles it keeps keep theirs, new ones
/// take `source_of(key)`.
pub(crate) fn set_custom_roles(
    am: &mut entity::member::ActiveModel,
    roles: &[String],
    source_of: impl Fn(&str) -> GrantSource,
) -> Result<()> {
    let held: Vec<String> = match am.custom_roles.try_as_ref() {
        Some(json) => from_json(json)?,
        None => Vec::new(),
    };
    let before: CustomRoleSources = match am.custom_role_sources.try_as_ref() {
        Some(Some(json)) => from_json(json)?,
        _ => CustomRoleSources::new(),
    };
    let after = regrant_custom_roles(&before, roles, |k| held.iter().any(|h| h == k), source_of);
    // Nothing recorded and nothing to record stays NULL: an unchanged member stays unchanged.
    if after != before {
        am.custom_role_sources = Set(Some(to_json(&after)?));
    }
    am.custom_roles = Set(to_json(&roles)?);
    Ok(())
}
