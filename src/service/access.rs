//! What a principal may do: the member's custom roles (own and teams'), or its base role,
//! compiled once per role version and assignment and checked against the database version
//! on every request, so a role change is seen by every replica on its next request.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;

mod review;
mod summary;

pub use review::{REVIEW_PAGE, ReviewFormat};
pub use summary::{EnvironmentAccess, SUMMARY_ACTIONS, SummaryAction};

use super::documented::value_type_basics;
use super::principal::AccessPolicy;
use super::spelled::{ConcreteResource, Spelled};
use super::util::from_json;
use super::{Service, member_rows};
use crate::domain::policy::{
    BasePermissions, BaseRole, CompiledRole, PolicyError, Resource, presets, validate,
};
use crate::error::{Error, Result};

mod who;
pub use who::{WhoCan, WhoCanResult};

/// Compiled roles kept before the cache is cleared wholesale (bounded memory).
const CACHE_LIMIT: usize = 10_000;

/// Compiled roles by (key, assignment attributes), each with the role version it came from.
#[derive(Default)]
pub struct RoleCache {
    entries: RwLock<HashMap<String, (i64, Arc<CompiledRole>)>>,
}

/// Role attributes as assigned: attribute key -> values.
pub type Attributes = BTreeMap<String, Vec<String>>;

/// The full statement list of a stored role: a preset's built-ins first, then its own.
pub(crate) fn effective_statements(role: &entity::custom_role::Model) -> Result<Vec<Value>> {
    let mut statements: Vec<Value> = Vec::new();
    if let Some(key) = &role.preset {
        let preset =
            presets::preset(key).ok_or_else(|| Error::internal(format!("unknown preset {key}")))?;
        if let Value::Array(builtin) = preset.statements {
            statements.extend(builtin);
        }
    }
    statements.extend(from_json::<Vec<Value>>(&role.policy)?);
    Ok(statements)
}

/// The key a token's inline role is explained by: never a custom role's (keys have no `:`),
/// as `base:<role>` is not.
pub(crate) const INLINE_ROLE_KEY: &str = "token:inline";

/// Compiles a token's own statements as one role: no base permissions and no role attributes
/// (a token has none, so a placeholder is an error at its path).
pub(crate) fn compile_inline_role(
    statements: &[Value],
) -> std::result::Result<CompiledRole, PolicyError> {
    let validated = validate(statements, &[])?;
    CompiledRole::compile(
        INLINE_ROLE_KEY,
        &validated,
        BasePermissions::NoAccess,
        &Attributes::new(),
    )
}

impl RoleCache {
    /// A token's inline role, compiled once per distinct statement text: the text is the
    /// cache key, so an edited role can never be served stale.
    fn inline(&self, stored: &str) -> Result<Arc<CompiledRole>> {
        let cache_key = format!("\u{1}{stored}");
        if let Ok(map) = self.entries.read()
            && let Some((_, compiled)) = map.get(&cache_key)
        {
            return Ok(compiled.clone());
        }
        let statements: Vec<Value> = from_json(stored)?;
        let compiled = Arc::new(
            compile_inline_role(&statements)
                .map_err(|e| Error::internal(format!("stored inline role is invalid: {e}")))?,
        );
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= CACHE_LIMIT {
                map.clear();
            }
            map.insert(cache_key, (0, compiled.clone()));
        }
        Ok(compiled)
    }

    /// The compiled role for this assignment, compiling when the stored version moved on.
    fn get(
        &self,
        role: &entity::custom_role::Model,
        attributes: &Attributes,
    ) -> Result<Arc<CompiledRole>> {
        let cache_key = format!(
            "{}\u{0}{}",
            role.key,
            serde_json::to_string(attributes).map_err(Error::internal)?
        );
        if let Ok(map) = self.entries.read()
            && let Some((version, compiled)) = map.get(&cache_key)
            && *version == role.version
        {
            return Ok(compiled.clone());
        }
        let declared: Vec<String> = from_json(&role.role_attributes)?;
        let statements = validate(&effective_statements(role)?, &declared)
            .map_err(|e| Error::internal(format!("stored role {} is invalid: {e}", role.key)))?;
        let base = match role.base_permissions.as_str() {
            "reader" => BasePermissions::Reader,
            _ => BasePermissions::NoAccess,
        };
        let compiled = Arc::new(
            CompiledRole::compile(&role.key, &statements, base, attributes)
                .map_err(|e| Error::invalid(format!("role {}: {e}", role.key)))?,
        );
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= CACHE_LIMIT {
                map.clear();
            }
            map.insert(cache_key, (role.version, compiled.clone()));
        }
        Ok(compiled)
    }
}

/// The custom roles a member holds: own ones with the member's attributes, each team's with
/// the team's attributes.
pub(crate) async fn assignments(
    db: &impl ConnectionTrait,
    member: &entity::member::Model,
) -> Result<Vec<(String, Attributes)>> {
    let mut out: Vec<(String, Attributes)> = Vec::new();
    let own_attrs: Attributes = from_json(&member.role_attributes)?;
    for key in from_json::<Vec<String>>(&member.custom_roles)? {
        out.push((key, own_attrs.clone()));
    }
    let team_ids: Vec<String> = entity::team_member::Entity::find()
        .filter(entity::team_member::Column::MemberId.eq(member.id.clone()))
        .all(db)
        .await?
        .into_iter()
        .map(|tm| tm.team_id)
        .collect();
    if !team_ids.is_empty() {
        // In team id order, so the role named as deciding is the same on every backend.
        for team in entity::team::Entity::find()
            .filter(entity::team::Column::Id.is_in(team_ids))
            .order_by_asc(entity::team::Column::Id)
            .all(db)
            .await?
        {
            let attrs: Attributes = from_json(&team.role_attributes)?;
            for key in from_json::<Vec<String>>(&team.custom_roles)? {
                out.push((key, attrs.clone()));
            }
        }
    }
    Ok(out)
}

impl Service {
    /// Compiles assigned custom roles, reading each role's current version from the database.
    /// A role that cannot compile for its assignment (say, a missing attribute) grants nothing.
    pub(crate) async fn compile_assignments(
        &self,
        db: &impl ConnectionTrait,
        assigned: &[(String, Attributes)],
    ) -> Result<Vec<Arc<CompiledRole>>> {
        if assigned.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = assigned.iter().map(|(k, _)| k.clone()).collect();
        let rows = entity::custom_role::Entity::find()
            .filter(entity::custom_role::Column::Key.is_in(keys))
            .all(db)
            .await?;
        let mut roles = Vec::with_capacity(assigned.len());
        for (key, attrs) in assigned {
            let Some(row) = rows.iter().find(|r| &r.key == key) else {
                continue;
            };
            match self.role_cache().get(row, attrs) {
                Ok(compiled) => roles.push(compiled),
                Err(e) => tracing::warn!(role = %key, error = %e, "assigned role grants nothing"),
            }
        }
        Ok(roles)
    }

    /// What a member may do. Custom roles (own and teams') supersede the base role, except
    /// that an owner keeps full access.
    pub(crate) async fn member_policy(
        &self,
        db: &impl ConnectionTrait,
        member: &entity::member::Model,
    ) -> Result<AccessPolicy> {
        let base = member_rows::parse_role("role", &member.role)?;
        let assigned = assignments(db, member).await?;
        self.policy_of(db, base, &assigned, &member.id).await
    }

    /// What a member with base role `base` and these custom role assignments may do: the
    /// one composition of roles, shared by single checks and by who-can.
    pub(crate) async fn policy_of(
        &self,
        db: &impl ConnectionTrait,
        base: BaseRole,
        assigned: &[(String, Attributes)],
        member_id: &str,
    ) -> Result<AccessPolicy> {
        let mut roles = self.compile_assignments(db, assigned).await?;
        if assigned.is_empty() || base.supersedes_custom_roles() {
            roles.push(self.base_role_policy(base, Some(member_id))?);
        }
        Ok(AccessPolicy { roles })
    }

    /// What a token's own grant allows (before intersecting with its member): its custom
    /// roles and inline role, else its base role.
    pub(crate) async fn token_grant(
        &self,
        db: &impl ConnectionTrait,
        role: Option<BaseRole>,
        custom_roles: &[String],
        inline_role: Option<&str>,
        member_id: Option<&str>,
    ) -> Result<Option<AccessPolicy>> {
        if !custom_roles.is_empty() || inline_role.is_some() {
            let assigned: Vec<(String, Attributes)> = custom_roles
                .iter()
                .map(|k| (k.clone(), Attributes::new()))
                .collect();
            let mut roles = self.compile_assignments(db, &assigned).await?;
            // The inline role is one more role of the token, as a custom role would be.
            if let Some(stored) = inline_role {
                match self.role_cache().inline(stored) {
                    Ok(compiled) => roles.push(compiled),
                    Err(e) => tracing::warn!(error = %e, "inline role grants nothing"),
                }
            }
            return Ok(Some(AccessPolicy { roles }));
        }
        match role {
            Some(r) => Ok(Some(AccessPolicy {
                roles: vec![self.base_role_policy(r, member_id)?],
            })),
            None => Ok(None),
        }
    }
}

/// `_access`: which actions of a resource's type the caller may and may not perform on it.
#[derive(Debug, Clone, serde::Serialize, poem_openapi::Object)]
pub struct AccessSummary {
    pub allowed: Vec<String>,
    pub denied: Vec<String>,
}

/// Summarises the caller's access to `resource` over every catalogue action of its type.
pub(crate) fn summarize(
    principal: &super::Principal,
    resource: &Resource,
) -> Option<AccessSummary> {
    let kind = resource.kind()?;
    let mut allowed = Vec::new();
    let mut denied = Vec::new();
    for id in crate::domain::policy::action::actions_for(kind).iter() {
        let name = id.name();
        if super::authz::authorize(principal, name, resource).is_ok() {
            allowed.push(name.to_owned());
        } else {
            denied.push(name.to_owned());
        }
    }
    Some(AccessSummary { allowed, denied })
}

/// An action's name in a request, documented as the catalogue's names (an enum); the
/// service checks it against the catalogue, naming where to find it.
#[derive(Debug, Clone)]
pub struct ActionName(pub String);

impl Type for ActionName {
    value_type_basics!();

    fn name() -> Cow<'static, str> {
        "ActionName".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference("ActionName".to_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>("ActionName".to_owned(), |_| {
            let names: BTreeSet<&str> = crate::domain::policy::ACTIONS
                .iter()
                .map(|a| a.action)
                .collect();
            MetaSchema {
                description: Some(
                    "An action of the catalogue (`GET /api/v2/actions`), e.g. `updateOn`.",
                ),
                enum_items: names.into_iter().map(Value::from).collect(),
                ..MetaSchema::new("string")
            }
        });
    }
}

impl ParseFromJSON for ActionName {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        String::parse_from_json(value)
            .map(ActionName)
            .map_err(ParseError::propagate)
    }
}

impl ToJSON for ActionName {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0.as_str()))
    }
}

/// Body of `POST /api/v2/access/check`.
#[derive(Debug, Clone, poem_openapi::Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessCheck {
    pub member_id: String,
    // Undocumented here: a described reference becomes an `allOf`, which generated
    // clients cannot take of an enum; `ActionName` describes itself.
    pub action: ActionName,
    /// A concrete resource, e.g. `proj/shop:env/production:flag/new-checkout`; tags and
    /// properties come from the stored resource.
    pub resource: Spelled<ConcreteResource>,
}

/// Which statement of which role decided.
#[derive(Debug, Clone, serde::Serialize, poem_openapi::Object)]
#[oai(rename_all = "camelCase")]
pub struct DecidedByRep {
    /// The role's key (`base:<role>` for a base role).
    pub role: String,
    pub statement_index: u64,
    /// `allow` or `deny`.
    pub effect: String,
}

/// The answer of `POST /api/v2/access/check`.
#[derive(Debug, Clone, serde::Serialize, poem_openapi::Object)]
#[oai(rename_all = "camelCase")]
pub struct AccessCheckResult {
    pub allowed: bool,
    /// The deciding statement, or null when no statement decided (nothing matched, or an
    /// implicit allow: `basePermissions: reader` or the `viewProject` default).
    #[oai(nullable)]
    pub decided_by: Option<DecidedByRep>,
    /// `statement`, `basePermissions`, `viewProjectDefault` or `notMatched`.
    pub reason: String,
    /// The resource as evaluated, with its stored tags and properties.
    pub resource: String,
}

/// Fills a resource's tags and properties from the stored project, environment and flag.
pub(crate) async fn resolve(db: &impl ConnectionTrait, given: Resource) -> Result<Resource> {
    use crate::domain::policy::ResourceType as T;
    let segs = &given.segments;
    let Some(first) = segs.first() else {
        return Ok(given);
    };
    if first.kind != T::Proj {
        return Ok(given);
    }
    let Ok(project) = super::projects::find(db, &first.key).await else {
        return Ok(given);
    };
    let mut out = super::projects::resource(&project)?;
    for seg in segs.iter().skip(1) {
        out = match seg.kind {
            T::Env => match super::environments::find(db, &project, &seg.key).await {
                Ok(env) => super::environments::resource(&project, &env)?,
                Err(_) => return Ok(given),
            },
            T::Flag => {
                let flag = entity::flag::Entity::find()
                    .filter(entity::flag::Column::ProjectId.eq(project.id.clone()))
                    .filter(entity::flag::Column::Key.eq(seg.key.clone()))
                    .one(db)
                    .await?;
                let tags: Vec<String> = match flag {
                    Some(f) => from_json::<crate::domain::flag::FlagSettings>(&f.settings)?.tags,
                    None => seg.tags.clone(),
                };
                out.flag(seg.key.clone(), &tags)
            }
            _ => {
                let mut r = out;
                r.segments.push(seg.clone());
                r
            }
        };
    }
    Ok(out)
}

impl Service {
    /// Explains whether a member may perform an action on a resource, and which statement of
    /// which role decided.
    pub async fn check_access(
        &self,
        ctx: &super::Ctx,
        input: AccessCheck,
    ) -> Result<AccessCheckResult> {
        if crate::domain::policy::lookup(&input.action.0).is_none() {
            return Err(Error::invalid(format!(
                "action: {:?} is not in the action catalogue (GET /api/v2/actions)",
                input.action.0
            )));
        }
        let given: Resource = input
            .resource
            .text
            .parse()
            .map_err(|e| Error::invalid(format!("resource: {e}")))?;
        let member = super::member_rows::find(self.db(), &input.member_id).await?;
        super::authz::authorize(&ctx.principal, "viewMember", &Resource::member(&member.id))?;
        let policy = self.member_policy(self.db(), &member).await?;
        let resource = resolve(self.db(), given).await?;
        let decision = policy.decide(&input.action.0, &resource);
        let reason = who::reason(&decision);
        let decided_by = decision.decided_by.map(|d| DecidedByRep {
            role: policy.role_key(d.role_index).unwrap_or_default().to_owned(),
            statement_index: d.statement_index as u64,
            effect: match d.effect {
                crate::domain::policy::Effect::Allow => "allow".to_owned(),
                crate::domain::policy::Effect::Deny => "deny".to_owned(),
            },
        });
        Ok(AccessCheckResult {
            allowed: decision.allowed,
            decided_by,
            reason: reason.to_owned(),
            resource: resource.to_string(),
        })
    }
}
