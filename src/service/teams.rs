//! Teams: members sharing custom roles. A team synced from an identity provider keeps its
//! name and membership under the IdP's control; its role bindings stay editable here.

use poem_openapi::Object;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};
use serde::{Deserialize, Serialize};

use super::authz::authorize;
use super::documented::{Documented, InstructionKinds, InstructionUnion, KindDoc, ParamDoc};
use super::members::{
    RoleAttributes, RoleAttributesBody, aliased_list, check_custom_roles, check_role_attributes,
    check_role_requirements,
};
use super::projects::dup;
use super::team_members;
use super::util::{
    check_version, from_json, new_id, parse_instructions, snapshot, to_json, validate_key,
    validate_name,
};
use super::{AuditDraft, Ctx, Principal, Service, WriteTx};
use crate::domain::policy::Resource;
use crate::error::{Error, Result};
use crate::service::spelled::{KEY_PATTERN, Key, Matches, NAME_PATTERN, Name, Spelled};

mod list;

mod bulk;

pub use bulk::{TeamMembersPost, TeamsChanged, TeamsInstruction, TeamsKinds, TeamsPatch};

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

/// A team as a list shows it: its member count in place of its members, so that a page of
/// teams costs the same whether they hold ten people or fifty thousand. `GET
/// /api/v2/teams/{key}` lists a team's members; `GET /api/v2/members?filter=team:<key>`
/// pages them.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct TeamSummary {
    pub id: String,
    pub key: String,
    pub name: String,
    pub description: String,
    pub custom_roles: Vec<String>,
    pub role_attributes: RoleAttributes,
    pub member_count: i64,
    /// True when an identity provider owns the name and membership.
    pub idp_synced: bool,
    pub version: i64,
    pub creation_date: i64,
}

/// Body of `POST /api/v2/teams`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamPost {
    /// Letters, digits, `.`, `_`, `-`, starting with a letter or digit; at most 128.
    #[oai(validator(custom = "Matches::new()", min_length = 1, max_length = 128))]
    pub key: Spelled<Key>,
    /// Not blank, no control characters; at most 256.
    #[oai(validator(custom = "Matches::new()", max_length = 256))]
    pub name: Spelled<Name>,
    #[oai(default)]
    pub description: String,
    /// Keys of the team's custom roles.
    #[oai(validator(custom = "Matches::new()"))]
    pub custom_roles: Option<Vec<Spelled<Key>>>,
    /// LaunchDarkly alias of `customRoles`, as LaunchDarkly's `POST /api/v2/teams` names it.
    /// Giving both with different values is a 400.
    #[oai(validator(custom = "Matches::new()"), rename = "customRoleKeys")]
    pub ld_custom_role_keys: Option<Vec<Spelled<Key>>>,
    /// Ids of the team's members.
    pub member_ids: Option<Vec<String>>,
    /// LaunchDarkly alias of `memberIds`, as LaunchDarkly's `POST /api/v2/teams` names it.
    /// Giving both with different values is a 400.
    #[oai(rename = "memberIDs")]
    pub ld_member_ids: Option<Vec<String>>,
    #[oai(default)]
    pub role_attributes: RoleAttributesBody,
}

/// A list with the name of the field it came by.
type NamedList = (&'static str, Vec<String>);

impl TeamPost {
    /// The custom role keys and member ids, each given under our name or LaunchDarkly's.
    fn roles_and_members(&mut self) -> Result<(NamedList, NamedList)> {
        let roles = aliased_list(
            (
                "customRoles",
                self.custom_roles.take().map(Spelled::into_texts),
            ),
            (
                "customRoleKeys",
                self.ld_custom_role_keys.take().map(Spelled::into_texts),
            ),
        )?;
        let members = aliased_list(
            ("memberIds", self.member_ids.take()),
            ("memberIDs", self.ld_member_ids.take()),
        )?;
        Ok((roles, members))
    }
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

/// The team instruction kinds as the document shows them; `TeamInstruction` parses them, and
/// a test holds the two together.
pub struct TeamKinds;

const VALUES: ParamDoc = ("values", Vec::<String>::schema_ref, true);
const ROLE_KEYS: ParamDoc = ("values", role_keys, true);
const VALUE: ParamDoc = ("value", String::schema_ref, true);
const NAME: ParamDoc = ("value", name_schema, true);

/// A name, as `POST /api/v2/teams` takes it: not blank, no control characters, at most 256.
fn name_schema() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        pattern: Some(NAME_PATTERN.to_owned()),
        max_length: Some(256),
        ..MetaSchema::new("string")
    }))
}

/// Custom role keys, as adding or replacing checks them (removing an absent one is no change).
fn role_keys() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        items: Some(Box::new(key_schema())),
        ..MetaSchema::new("array")
    }))
}

/// A key (a role attribute's, a custom role's): letters, digits, `.`, `_`, `-`.
fn key_schema() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        pattern: Some(KEY_PATTERN.to_owned()),
        max_length: Some(128),
        ..MetaSchema::new("string")
    }))
}

const TEAM_KINDS: &[KindDoc] = &[
    KindDoc {
        kind: "addMembers",
        description: "Add members (`values`: member ids).",
        params: &[VALUES],
    },
    KindDoc {
        kind: "removeMembers",
        description: "Remove members (`values`: member ids).",
        params: &[VALUES],
    },
    KindDoc {
        kind: "replaceMembers",
        description: "Replace the members (`values`: member ids).",
        params: &[VALUES],
    },
    KindDoc {
        kind: "addCustomRoles",
        description: "Add custom roles (`values`: role keys).",
        params: &[ROLE_KEYS],
    },
    KindDoc {
        kind: "removeCustomRoles",
        description: "Remove custom roles (`values`: role keys).",
        params: &[VALUES],
    },
    KindDoc {
        kind: "replaceCustomRoles",
        description: "Replace the custom roles (`values`: role keys).",
        params: &[ROLE_KEYS],
    },
    KindDoc {
        kind: "updateName",
        description: "Rename the team.",
        params: &[NAME],
    },
    KindDoc {
        kind: "updateDescription",
        description: "Replace the description.",
        params: &[VALUE],
    },
    KindDoc {
        kind: "replaceRoleAttributes",
        description: "Replace the role attributes (`value`: attribute key to values).",
        params: &[("value", RoleAttributesBody::schema_ref, true)],
    },
    KindDoc {
        kind: "updateRoleAttribute",
        description: "Set one role attribute's values.",
        params: &[("key", key_schema, true), VALUES],
    },
    KindDoc {
        kind: "removeRoleAttribute",
        description: "Remove one role attribute.",
        params: &[("key", key_schema, true)],
    },
];

impl InstructionKinds for TeamKinds {
    const NAME: &'static str = "TeamInstruction";
    const DESCRIPTION: &'static str = "A semantic-patch instruction on a team: `kind` names it, the other fields are its parameters.";
    const GROUPS: &'static [(&'static str, &'static [KindDoc])] =
        &[("TeamInstruction", TEAM_KINDS)];

    fn register_parameters(registry: &mut Registry) {
        RoleAttributesBody::register(registry);
    }
}

/// Body of `PATCH /api/v2/teams/{teamKey}`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamPatch {
    /// `[{"kind": "addMembers", "values": [memberId]}, {"kind": "addCustomRoles", "values": [roleKey]}, ...]`.
    #[oai(validator(min_items = 1))]
    pub instructions: Vec<Documented<InstructionUnion<TeamKinds>>>,
    pub comment: Option<String>,
    pub version: Option<i64>,
}

async fn to_rep(db: &impl ConnectionTrait, t: &entity::team::Model) -> Result<Team> {
    rep_with_members(t, team_members::ids_of(db, &t.id).await?)
}

/// The team as the API shows it, given its member ids (sorted).
fn rep_with_members(t: &entity::team::Model, member_ids: Vec<String>) -> Result<Team> {
    Ok(Team {
        id: t.id.clone(),
        key: t.key.clone(),
        name: t.name.clone(),
        description: t.description.clone(),
        custom_roles: from_json(&t.custom_roles)?,
        role_attributes: from_json(&t.role_attributes)?,
        member_ids,
        idp_synced: t.idp_synced,
        version: t.version,
        creation_date: t.created_at,
    })
}

/// The team as a list shows it.
fn summary(t: &entity::team::Model) -> Result<TeamSummary> {
    Ok(TeamSummary {
        id: t.id.clone(),
        key: t.key.clone(),
        name: t.name.clone(),
        description: t.description.clone(),
        custom_roles: from_json(&t.custom_roles)?,
        role_attributes: from_json(&t.role_attributes)?,
        member_count: t.member_count,
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
        // Something the request names does not exist: 404, naming the field.
        return Err(Error::NotFound(format!(
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
    pub async fn get_team(&self, ctx: &Ctx, key: &str) -> Result<Team> {
        let t = find(self.db(), key).await?;
        authorize(&ctx.principal, "viewTeam", &Resource::team(&t.key))?;
        to_rep(self.db(), &t).await
    }

    /// Creates a team; LaunchDarkly's `customRoleKeys` and `memberIDs` stand for
    /// `customRoles` and `memberIds`.
    pub async fn create_team(&self, ctx: &Ctx, mut input: TeamPost) -> Result<Team> {
        validate_key("key", &input.key)?;
        let name = validate_name("name", &input.name)?;
        check_role_attributes("roleAttributes", &input.role_attributes)?;
        let ((roles_field, roles), (members_field, members)) = input.roles_and_members()?;
        let res = Resource::team(&input.key);
        authorize(&ctx.principal, "createTeam", &res)?;
        let mut tx = self.begin_write(ctx).await?;
        let roles = check_custom_roles(tx.db(), roles_field, &roles).await?;
        check_role_requirements(tx.db(), roles_field, &roles, &input.role_attributes).await?;
        let members = check_members(tx.db(), members_field, &members).await?;
        let now = tx.now_ms();
        let t = entity::team::ActiveModel {
            custom_roles: Set(to_json(&roles)?),
            role_attributes: Set(to_json(&input.role_attributes)?),
            ..new_team_row(&input.key, name, input.description.clone(), now)
        }
        .insert(tx.db())
        .await
        .map_err(|e| dup(e, &input.key))?;
        let source = ctx.principal.grant_source();
        let joins = team_members::add(tx.backend(), &t.id, &members, &source);
        team_members::run(tx.db(), joins).await?;
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

    /// Applies team instructions atomically: each is authorized, then all are applied, or
    /// none.
    pub async fn patch_team(&self, ctx: &Ctx, key: &str, patch: TeamPatch) -> Result<Team> {
        let instructions: Vec<TeamInstruction> =
            parse_instructions(&Documented::values(&patch.instructions))?;
        let mut tx = self.begin_write(ctx).await?;
        let t = find(tx.db(), key).await?;
        check_version(patch.version, t.version, "team")?;
        let res = Resource::team(&t.key);
        let before = to_rep(tx.db(), &t).await?;
        let actions = authorize_instructions(&ctx.principal, &t, key, &res, &instructions)?;
        let fields = edit_fields(tx.db(), &before, instructions).await?;
        check_role_requirements(
            tx.db(),
            "customRoles",
            &fields.custom_roles,
            &fields.role_attributes,
        )
        .await?;
        let updated = write_fields(&tx, &t, &before, fields).await?;
        let after = to_rep(tx.db(), &updated).await?;
        tx.audit(patch_audit(&t, key, &actions, (&before, &after), patch)?);
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

/// Authorizes each instruction in turn, refusing one that changes what the identity provider
/// owns; returns the actions exercised, each once, in the order first used.
fn authorize_instructions(
    principal: &Principal,
    team: &entity::team::Model,
    key: &str,
    res: &Resource,
    instructions: &[TeamInstruction],
) -> Result<Vec<&'static str>> {
    let mut actions = Vec::new();
    for (i, instruction) in instructions.iter().enumerate() {
        let action = instruction.action();
        authorize(principal, action, res)?;
        refuse_idp_owned(team.idp_synced, key, i, instruction)?;
        if !actions.contains(&action) {
            actions.push(action);
        }
    }
    Ok(actions)
}

/// A synced team's name and members change only at the identity provider.
fn refuse_idp_owned(
    idp_synced: bool,
    key: &str,
    index: usize,
    instruction: &TeamInstruction,
) -> Result<()> {
    if idp_synced && instruction.touches_idp_owned() {
        return Err(Error::forbidden(format!(
            "instructions[{index}]: team {key} is managed by identity provider: its name and members change only there"
        )));
    }
    Ok(())
}

/// What a team patch edits, as it stands after each instruction.
#[derive(Debug, Clone, PartialEq)]
struct TeamFields {
    name: String,
    description: String,
    custom_roles: Vec<String>,
    role_attributes: RoleAttributes,
    member_ids: Vec<String>,
}

impl TeamFields {
    fn of(team: &Team) -> Self {
        TeamFields {
            name: team.name.clone(),
            description: team.description.clone(),
            custom_roles: team.custom_roles.clone(),
            role_attributes: team.role_attributes.clone(),
            member_ids: team.member_ids.clone(),
        }
    }

    /// Applies one instruction whose member ids and role keys are already checked
    /// (`check_references`); `field` names the instruction in errors.
    fn apply(&mut self, field: &str, instruction: TeamInstruction) -> Result<()> {
        match instruction {
            TeamInstruction::AddMembers { values } => self.member_ids.extend(values),
            TeamInstruction::RemoveMembers { values } => {
                self.member_ids.retain(|m| !values.contains(m))
            }
            TeamInstruction::ReplaceMembers { values } => self.member_ids = values,
            TeamInstruction::AddCustomRoles { values } => self.custom_roles.extend(values),
            TeamInstruction::RemoveCustomRoles { values } => {
                self.custom_roles.retain(|r| !values.contains(r))
            }
            TeamInstruction::ReplaceCustomRoles { values } => self.custom_roles = values,
            TeamInstruction::UpdateName { value } => self.name = validate_name(field, &value)?,
            TeamInstruction::UpdateDescription { value } => self.description = value,
            TeamInstruction::ReplaceRoleAttributes { value } => {
                check_role_attributes(field, &value)?;
                self.role_attributes = value;
            }
            TeamInstruction::UpdateRoleAttribute { key, values } => {
                let one: RoleAttributes = [(key, values)].into_iter().collect();
                check_role_attributes(field, &one)?;
                self.role_attributes.extend(one);
            }
            TeamInstruction::RemoveRoleAttribute { key } => {
                validate_key(&format!("{field}.key"), &key)?;
                self.role_attributes.remove(&key);
            }
        }
        Ok(())
    }

    /// Member ids and role keys as stored: sorted, each once.
    fn normalized(mut self) -> Self {
        self.member_ids.sort();
        self.member_ids.dedup();
        self.custom_roles.sort();
        self.custom_roles.dedup();
        self
    }
}

/// Applies the instructions in order to the team's fields; each one's member ids and role keys
/// are checked against the database just before it applies, so errors come in order.
async fn edit_fields(
    db: &impl ConnectionTrait,
    before: &Team,
    instructions: Vec<TeamInstruction>,
) -> Result<TeamFields> {
    let mut fields = TeamFields::of(before);
    for (i, instruction) in instructions.into_iter().enumerate() {
        let field = format!("instructions[{i}]");
        let instruction = check_references(db, &field, instruction).await?;
        fields.apply(&field, instruction)?;
    }
    Ok(fields.normalized())
}

/// The instruction with the members and custom roles it adds or sets checked to exist (and
/// sorted, each once); other instructions pass unchanged.
async fn check_references(
    db: &impl ConnectionTrait,
    field: &str,
    instruction: TeamInstruction,
) -> Result<TeamInstruction> {
    Ok(match instruction {
        TeamInstruction::AddMembers { values } => TeamInstruction::AddMembers {
            values: check_members(db, field, &values).await?,
        },
        TeamInstruction::ReplaceMembers { values } => TeamInstruction::ReplaceMembers {
            values: check_members(db, field, &values).await?,
        },
        TeamInstruction::AddCustomRoles { values } => TeamInstruction::AddCustomRoles {
            values: check_custom_roles(db, field, &values).await?,
        },
        TeamInstruction::ReplaceCustomRoles { values } => TeamInstruction::ReplaceCustomRoles {
            values: check_custom_roles(db, field, &values).await?,
        },
        other => other,
    })
}

/// Writes the edited fields: the membership only when it changed, then the row at its next
/// version.
async fn write_fields(
    tx: &WriteTx<'_>,
    t: &entity::team::Model,
    before: &Team,
    fields: TeamFields,
) -> Result<entity::team::Model> {
    if fields.member_ids != before.member_ids {
        // Only the members that come and go: those who stay keep their membership's source.
        let not_in = |ids: &[String], of: &[String]| -> Vec<String> {
            ids.iter().filter(|id| !of.contains(id)).cloned().collect()
        };
        let leaving = not_in(&before.member_ids, &fields.member_ids);
        let joining = not_in(&fields.member_ids, &before.member_ids);
        let source = tx.ctx().principal.grant_source();
        let mut writes = team_members::remove(tx.backend(), &t.id, &leaving);
        writes.extend(team_members::add(tx.backend(), &t.id, &joining, &source));
        team_members::run(tx.db(), writes).await?;
    }
    let mut am: entity::team::ActiveModel = t.clone().into();
    am.name = Set(fields.name);
    am.description = Set(fields.description);
    am.custom_roles = Set(to_json(&fields.custom_roles)?);
    am.role_attributes = Set(to_json(&fields.role_attributes)?);
    am.version = Set(t.version + 1);
    am.updated_at = Set(tx.now_ms());
    Ok(am.update(tx.db()).await?)
}

/// The audit entry of a team patch: one access per action exercised, the instructions as the
/// delta.
fn patch_audit(
    t: &entity::team::Model,
    key: &str,
    actions: &[&str],
    (before, after): (&Team, &Team),
    patch: TeamPatch,
) -> Result<AuditDraft> {
    let res = Resource::team(&t.key);
    // `new` sets the target; the accesses are exactly the actions exercised.
    let mut draft = AuditDraft::new("team", &t.name, "updateTeamMembers", &res);
    draft.accesses.clear();
    for action in actions {
        draft = draft.access(action, &res);
    }
    Ok(draft
        .describe(format!("updated team {key}"))
        .before(Some(snapshot(before)?))
        .after(Some(snapshot(after)?))
        .delta(serde_json::Value::Array(Documented::values(
            &patch.instructions,
        )))
        .comment(patch.comment))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields() -> TeamFields {
        TeamFields {
            name: "Platform".into(),
            description: "Runs the platform".into(),
            custom_roles: vec!["deployer".into()],
            role_attributes: [("projects".to_owned(), vec!["shop".to_owned()])]
                .into_iter()
                .collect(),
            member_ids: vec!["m2".into(), "m1".into()],
        }
    }

    #[test]
    fn every_team_instruction_kind_is_documented_and_parses_from_the_document() {
        let mut registry = poem_openapi::registry::Registry::new();
        InstructionUnion::<TeamKinds>::register(&mut registry);
        crate::service::documented::testing::check_kinds::<TeamInstruction>(&registry, TEAM_KINDS);
    }

    fn instruction(value: serde_json::Value) -> TeamInstruction {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_patch_needs_instructions_and_names_the_first_bad_one() {
        let err = parse_instructions::<TeamInstruction>(&[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "instructions: at least one instruction is needed"
        );
        let values = [
            json!({"kind": "addMembers", "values": ["m1"]}),
            json!({"kind": "addMembers", "value": "m1"}),
        ];
        let err = parse_instructions::<TeamInstruction>(&values).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)));
        assert!(err.to_string().starts_with("instructions[1]: "), "{err}");
    }

    #[test]
    fn a_synced_team_keeps_its_name_and_members_at_the_identity_provider() {
        let rename = instruction(json!({"kind": "updateName", "value": "Ops"}));
        let add = instruction(json!({"kind": "addMembers", "values": ["m3"]}));
        let roles = instruction(json!({"kind": "addCustomRoles", "values": ["reader"]}));
        let err = refuse_idp_owned(true, "platform", 2, &rename).unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)));
        assert_eq!(
            err.to_string(),
            "instructions[2]: team platform is managed by identity provider: its name and members change only there"
        );
        assert!(refuse_idp_owned(true, "platform", 0, &add).is_err());
        // Role bindings stay editable here, and a local team is all ours.
        assert!(refuse_idp_owned(true, "platform", 0, &roles).is_ok());
        assert!(refuse_idp_owned(false, "platform", 0, &rename).is_ok());
    }

    #[test]
    fn instructions_apply_in_order_and_store_sorted_unique_keys() {
        let mut f = fields();
        for (i, v) in [
            json!({"kind": "addMembers", "values": ["m3", "m1"]}),
            json!({"kind": "removeMembers", "values": ["m2"]}),
            json!({"kind": "addCustomRoles", "values": ["auditor"]}),
            json!({"kind": "updateName", "value": "  Platform Ops "}),
            json!({"kind": "updateRoleAttribute", "key": "envs", "values": ["prod"]}),
            json!({"kind": "removeRoleAttribute", "key": "projects"}),
        ]
        .into_iter()
        .enumerate()
        {
            f.apply(&format!("instructions[{i}]"), instruction(v))
                .unwrap();
        }
        let f = f.normalized();
        assert_eq!(f.member_ids, ["m1", "m3"]);
        assert_eq!(f.custom_roles, ["auditor", "deployer"]);
        assert_eq!(f.name, "Platform Ops");
        assert_eq!(f.description, "Runs the platform");
        let expected: RoleAttributes = [("envs".to_owned(), vec!["prod".to_owned()])]
            .into_iter()
            .collect();
        assert_eq!(f.role_attributes, expected);
    }

    #[test]
    fn replacing_sets_the_whole_list() {
        let mut f = fields();
        f.apply(
            "i",
            instruction(json!({"kind": "replaceMembers", "values": []})),
        )
        .unwrap();
        f.apply(
            "i",
            instruction(json!({"kind": "replaceCustomRoles", "values": ["a", "b"]})),
        )
        .unwrap();
        f.apply(
            "i",
            instruction(json!({"kind": "replaceRoleAttributes", "value": {}})),
        )
        .unwrap();
        assert!(f.member_ids.is_empty());
        assert_eq!(f.custom_roles, ["a", "b"]);
        assert!(f.role_attributes.is_empty());
    }

    #[test]
    fn a_bad_name_or_attribute_is_named_by_its_instruction() {
        let mut f = fields();
        let err = f
            .apply(
                "instructions[3]",
                instruction(json!({"kind": "updateName", "value": "   "})),
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "instructions[3]: must be 1 to 256 characters"
        );
        let err = f
            .apply(
                "instructions[4]",
                instruction(json!({"kind": "updateRoleAttribute", "key": "envs", "values": [""]})),
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "instructions[4].envs: values must be 1 to 256 characters"
        );
        assert_eq!(f, fields());
    }
}
