//! Custom roles: named sets of policy statements. A role is validated before it is stored;
//! an invalid role never reaches the database.

use poem_openapi::{Enum, Object};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};
use serde::Serialize;
use serde_json::Value;

use super::access::effective_statements;
use super::authz::authorize;
use super::documented::Documented;
use super::projects::dup;
use super::spelled::{BasePermissionsName, Key, Matches, Name, PolicySpecifier, Spelled};
use super::util::{
    check_version, from_json, new_id, snapshot, to_json, validate_key, validate_name,
};
use super::{AuditDraft, Ctx, Service};
use crate::domain::policy::{self, Resource, presets};
use crate::error::{Error, Result};

mod list;

/// A custom role as the API shows it.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct Role {
    pub id: String,
    pub key: String,
    pub name: String,
    pub description: String,
    /// `reader` (grants the view actions too) or `no_access`.
    pub base_permissions: String,
    /// Policy statements `[{"effect", "actions"|"notActions", "resources"|"notResources"}]`.
    pub policy: Vec<Value>,
    /// Role attribute keys that `${roleAttribute/<key>}` placeholders may name; an assignment
    /// of the role must give each of them.
    pub role_attributes: Vec<String>,
    /// The preset this role comes from, if any.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// A preset's built-in statements: the first entries of `policy`, which cannot be changed.
    #[oai(rename = "_presetStatements")]
    #[serde(rename = "_presetStatements")]
    pub preset_statements: Vec<Value>,
    pub version: i64,
    pub creation_date: i64,
    /// What the caller may do with this role.
    #[oai(rename = "_access", skip_serializing_if_is_none)]
    #[serde(skip)]
    pub access: Option<super::access::AccessSummary>,
}

/// One policy statement of a request, as the document shows it. The request keeps the JSON
/// as sent and the domain parses it, so its errors name the statement (`policy[2]`).
pub type StatementBody = Documented<StatementShape>;

/// A policy statement: `effect`, exactly one of `actions`/`notActions` and exactly one of
/// `resources`/`notResources`.
// Only documents the shape: the domain's `StatementInput` parses it, and a test below holds
// the two together.
#[derive(Debug, Clone, Object)]
#[oai(
    rename = "PolicyStatement",
    rename_all = "camelCase",
    deny_unknown_fields
)]
pub struct StatementShape {
    pub effect: StatementEffect,
    /// Action names or globs (`updateOn`, `update*`, `*`) the statement covers.
    #[oai(validator(min_items = 1))]
    pub actions: Option<Vec<String>>,
    /// Action names or globs the statement does not cover: it covers every other action.
    #[oai(validator(min_items = 1))]
    pub not_actions: Option<Vec<String>>,
    /// Resource specifiers (`proj/*:env/production:flag/*`) the statement covers.
    #[oai(validator(min_items = 1))]
    pub resources: Option<Vec<Spelled<PolicySpecifier>>>,
    /// Resource specifiers the statement does not cover: it covers every other resource.
    #[oai(validator(min_items = 1))]
    pub not_resources: Option<Vec<Spelled<PolicySpecifier>>>,
}

/// Whether a statement allows or denies what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum StatementEffect {
    Allow,
    Deny,
}

/// Body of `POST /api/v2/roles`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolePost {
    /// Letters, digits, `.`, `_`, `-`, starting with a letter or digit; at most 128.
    #[oai(validator(custom = "Matches::new()", min_length = 1, max_length = 128))]
    pub key: Spelled<Key>,
    /// 1 to 256 characters, not blank, no control characters.
    #[oai(validator(custom = "Matches::new()", max_length = 256))]
    pub name: Spelled<Name>,
    #[oai(default)]
    pub description: String,
    /// `reader` or `no_access` (default).
    #[oai(validator(custom = "Matches::new()"))]
    pub base_permissions: Option<Spelled<BasePermissionsName>>,
    pub policy: Vec<StatementBody>,
    /// The role attributes the policy's placeholders may name. Optional, as in LaunchDarkly:
    /// left out, the attributes the policy uses are declared; given, it must cover them.
    #[oai(validator(custom = "Matches::new()", max_length = 128))]
    pub role_attributes: Option<Vec<Spelled<Key>>>,
}

/// Body of `PATCH /api/v2/roles/{roleKey}`: the fields to change.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolePatch {
    /// 1 to 256 characters, not blank, no control characters.
    #[oai(validator(custom = "Matches::new()", max_length = 256))]
    pub name: Option<Spelled<Name>>,
    pub description: Option<String>,
    /// `reader` or `no_access`.
    #[oai(validator(custom = "Matches::new()"))]
    pub base_permissions: Option<Spelled<BasePermissionsName>>,
    pub policy: Option<Vec<StatementBody>>,
    /// Each one a key: letters, digits, `.`, `_`, `-`, starting with a letter or digit.
    #[oai(validator(custom = "Matches::new()", max_length = 128))]
    pub role_attributes: Option<Vec<Spelled<Key>>>,
    pub version: Option<i64>,
    pub comment: Option<String>,
}

fn to_rep(m: &entity::custom_role::Model) -> Result<Role> {
    let preset_statements = match m.preset.as_deref().and_then(presets::preset) {
        Some(p) => match p.statements {
            Value::Array(v) => v,
            _ => Vec::new(),
        },
        None => Vec::new(),
    };
    Ok(Role {
        id: m.id.clone(),
        key: m.key.clone(),
        name: m.name.clone(),
        description: m.description.clone(),
        base_permissions: m.base_permissions.clone(),
        policy: effective_statements(m)?,
        role_attributes: from_json(&m.role_attributes)?,
        preset: m.preset.clone(),
        preset_statements,
        version: m.version,
        creation_date: m.created_at,
        access: None,
    })
}

/// For a preset role, checks that `policy` keeps the built-in statements unchanged at its
/// start and returns only the added ones (what is stored).
fn added_statements(m: &entity::custom_role::Model, policy: &[Value]) -> Result<Vec<Value>> {
    let Some(preset) = m.preset.as_deref().and_then(presets::preset) else {
        return Ok(policy.to_vec());
    };
    let builtin = match preset.statements {
        Value::Array(v) => v,
        _ => Vec::new(),
    };
    for (i, b) in builtin.iter().enumerate() {
        if policy.get(i) != Some(b) {
            return Err(Error::invalid(format!(
                "policy[{i}]: the first {} statements are the built-ins of preset {} and cannot be changed or removed",
                builtin.len(),
                preset.key
            )));
        }
    }
    Ok(policy.iter().skip(builtin.len()).cloned().collect())
}

async fn find(db: &impl ConnectionTrait, key: &str) -> Result<entity::custom_role::Model> {
    entity::custom_role::Entity::find()
        .filter(entity::custom_role::Column::Key.eq(key))
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found(format!("custom role {key:?}")))
}

fn check_base_permissions(value: &str) -> Result<()> {
    match value {
        "reader" | "no_access" => Ok(()),
        other => Err(Error::invalid(format!(
            "basePermissions: {other:?} is not reader or no_access"
        ))),
    }
}

/// Validates a policy and says which role attributes the role declares: the explicit list
/// when one is given (it must cover every placeholder), else those the policy uses.
fn check_policy(statements: &[Value], explicit: Option<&[String]>) -> Result<Vec<String>> {
    let invalid = |e: policy::PolicyError| Error::invalid(e.to_string());
    match explicit {
        Some(attributes) => {
            for (i, a) in attributes.iter().enumerate() {
                validate_key(&format!("roleAttributes[{i}]"), a)?;
            }
            policy::validate(statements, attributes).map_err(invalid)?;
            Ok(attributes.to_vec())
        }
        None => {
            let (_, used) = policy::validate_declaring(statements).map_err(invalid)?;
            Ok(used)
        }
    }
}

impl Service {
    pub async fn get_role(&self, ctx: &Ctx, key: &str) -> Result<Role> {
        let m = find(self.db(), key).await?;
        let res = Resource::role(&m.key);
        authorize(&ctx.principal, "viewRole", &res)?;
        let mut rep = to_rep(&m)?;
        rep.access = super::access::summarize(&ctx.principal, &res);
        Ok(rep)
    }

    pub async fn create_role(&self, ctx: &Ctx, input: RolePost) -> Result<Role> {
        validate_key("key", &input.key)?;
        let name = validate_name("name", &input.name)?;
        let base = input
            .base_permissions
            .clone()
            .map_or_else(|| "no_access".to_owned(), String::from);
        check_base_permissions(&base)?;
        let policy = Documented::values(&input.policy);
        let role_attributes = check_policy(
            &policy,
            input
                .role_attributes
                .as_deref()
                .map(Spelled::texts)
                .as_deref(),
        )?;
        let res = Resource::role(&input.key);
        authorize(&ctx.principal, "createRole", &res)?;
        let mut tx = self.begin_write(ctx).await?;
        let now = tx.now_ms();
        let m = entity::custom_role::ActiveModel {
            id: Set(new_id()),
            key: Set(input.key.to_string()),
            name: Set(name),
            description: Set(input.description.clone()),
            base_permissions: Set(base),
            policy: Set(to_json(&policy)?),
            role_attributes: Set(to_json(&role_attributes)?),
            preset: Set(None),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(tx.db())
        .await
        .map_err(|e| dup(e, &input.key))?;
        let rep = to_rep(&m)?;
        tx.audit(
            AuditDraft::new("role", &rep.name, "createRole", &res)
                .describe(format!("created custom role {}", rep.key))
                .after(Some(snapshot(&rep)?)),
        );
        tx.commit().await?;
        Ok(rep)
    }

    pub async fn update_role(&self, ctx: &Ctx, key: &str, patch: RolePatch) -> Result<Role> {
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), key).await?;
        check_version(patch.version, m.version, "custom role")?;
        let res = Resource::role(&m.key);
        let before = to_rep(&m)?;
        let mut am: entity::custom_role::ActiveModel = m.clone().into();
        let mut draft = AuditDraft::new("role", &m.name, "updatePolicy", &res);
        draft.accesses.clear();
        if let Some(name) = &patch.name {
            authorize(&ctx.principal, "updateName", &res)?;
            am.name = Set(validate_name("name", name)?);
            draft = draft.access("updateName", &res);
        }
        if let Some(d) = &patch.description {
            authorize(&ctx.principal, "updateDescription", &res)?;
            am.description = Set(d.clone());
            draft = draft.access("updateDescription", &res);
        }
        if let Some(b) = &patch.base_permissions {
            authorize(&ctx.principal, "updateBasePermissions", &res)?;
            check_base_permissions(b)?;
            am.base_permissions = Set(b.to_string());
            draft = draft.access("updateBasePermissions", &res);
        }
        if patch.policy.is_some() || patch.role_attributes.is_some() {
            authorize(&ctx.principal, "updatePolicy", &res)?;
            let statements = patch
                .policy
                .as_deref()
                .map_or_else(|| before.policy.clone(), Documented::values);
            // Without a list, a new policy declares what it uses; a list alone is checked
            // against the stored policy.
            let attributes = check_policy(
                &statements,
                patch
                    .role_attributes
                    .as_deref()
                    .map(Spelled::texts)
                    .as_deref(),
            )?;
            let stored = added_statements(&m, &statements)?;
            am.policy = Set(to_json(&stored)?);
            am.role_attributes = Set(to_json(&attributes)?);
            draft = draft.access("updatePolicy", &res);
        }
        if draft.accesses.is_empty() {
            // An empty patch changes nothing, as an empty merge patch does: no entry.
            authorize(&ctx.principal, "viewRole", &res)?;
            return Ok(before);
        }
        am.version = Set(m.version + 1);
        am.updated_at = Set(tx.now_ms());
        let updated = am.update(tx.db()).await?;
        let after = to_rep(&updated)?;
        tx.audit(
            draft
                .describe(format!("updated custom role {key}"))
                .before(Some(snapshot(&before)?))
                .after(Some(snapshot(&after)?))
                .comment(patch.comment),
        );
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes a role that nobody holds; an assigned role gets 409 naming a holder.
    pub async fn delete_role(&self, ctx: &Ctx, key: &str) -> Result<()> {
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), key).await?;
        let res = Resource::role(&m.key);
        authorize(&ctx.principal, "deleteRole", &res)?;
        if m.preset.is_some() {
            return Err(Error::conflict(format!(
                "{key} is a preset role and cannot be deleted"
            )));
        }
        let quoted = format!("\"{key}\"");
        let holder = entity::member::Entity::find()
            .filter(entity::member::Column::CustomRoles.contains(&quoted))
            .one(tx.db())
            .await?;
        if let Some(h) = holder {
            return Err(Error::conflict(format!(
                "custom role {key} is assigned to member {}",
                h.email
            )));
        }
        let team = entity::team::Entity::find()
            .filter(entity::team::Column::CustomRoles.contains(&quoted))
            .one(tx.db())
            .await?;
        if let Some(t) = team {
            return Err(Error::conflict(format!(
                "custom role {key} is assigned to team {}",
                t.key
            )));
        }
        let before = to_rep(&m)?;
        entity::custom_role::Entity::delete_by_id(m.id.clone())
            .exec(tx.db())
            .await?;
        tx.audit(
            AuditDraft::new("role", &m.name, "deleteRole", &res)
                .describe(format!("deleted custom role {key}"))
                .before(Some(snapshot(&before)?)),
        );
        tx.commit().await?;
        Ok(())
    }
}

impl Service {
    /// Creates the preset roles a deployment does not have yet (audited, once).
    pub async fn ensure_preset_roles(&self) -> Result<()> {
        let all = presets::presets();
        let keys: Vec<String> = all.iter().map(|p| p.key.to_owned()).collect();
        let existing: Vec<String> = entity::custom_role::Entity::find()
            .filter(entity::custom_role::Column::Key.is_in(keys))
            .all(self.db())
            .await?
            .into_iter()
            .map(|r| r.key)
            .collect();
        let missing: Vec<_> = all
            .into_iter()
            .filter(|p| !existing.iter().any(|k| k == p.key))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let ctx = Ctx::system();
        let mut tx = self.begin_write(&ctx).await?;
        for p in missing {
            let now = tx.now_ms();
            let m = entity::custom_role::ActiveModel {
                id: Set(new_id()),
                key: Set(p.key.to_owned()),
                name: Set(p.name.to_owned()),
                description: Set(p.description.to_owned()),
                base_permissions: Set(p.base_permissions.to_owned()),
                policy: Set("[]".to_owned()),
                role_attributes: Set(to_json(&vec![presets::PROJECTS_ATTRIBUTE])?),
                preset: Set(Some(p.key.to_owned())),
                version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
            };
            let m = match m.insert(tx.db()).await {
                Ok(m) => m,
                // Another replica created it at the same moment.
                Err(e)
                    if matches!(
                        e.sql_err(),
                        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                    ) =>
                {
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
            let rep = to_rep(&m)?;
            tx.audit(
                AuditDraft::new("role", &rep.name, "createRole", &Resource::role(&rep.key))
                    .describe(format!("created preset role {}", rep.key))
                    .after(Some(snapshot(&rep)?)),
            );
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::registry::Registry;
    use poem_openapi::types::Type;
    use serde_json::{Value, json};

    use super::StatementShape;
    use crate::domain::policy::{Effect, StatementInput, validate_declaring};

    /// The documented statement and the domain's `StatementInput` name the same fields and
    /// effects, and a statement built from the document passes the domain's validation.
    #[test]
    fn the_documented_statement_is_the_domain_s() {
        let mut registry = Registry::new();
        StatementShape::register(&mut registry);
        let schema = &registry.schemas["PolicyStatement"];
        let documented: Vec<&str> = schema.properties.iter().map(|(name, _)| *name).collect();
        let full = StatementInput {
            effect: Effect::Allow,
            actions: Some(vec![]),
            not_actions: Some(vec![]),
            resources: Some(vec![]),
            not_resources: Some(vec![]),
        };
        let Value::Object(fields) = serde_json::to_value(full).unwrap() else {
            panic!("a statement is an object");
        };
        let mut domain: Vec<&str> = fields.keys().map(String::as_str).collect();
        let mut sorted = documented.clone();
        sorted.sort_unstable();
        domain.sort_unstable();
        assert_eq!(sorted, domain);
        assert_eq!(schema.required, vec!["effect"]);

        let effects = &registry.schemas["StatementEffect"].enum_items;
        let domain_effects =
            [Effect::Allow, Effect::Deny].map(|e| serde_json::to_value(e).unwrap());
        assert_eq!(effects.as_slice(), domain_effects.as_slice());

        let statement = json!({"effect": "deny", "notActions": ["*"], "resources": ["proj/*"]});
        assert!(validate_declaring(&[statement]).is_ok());
    }
}
