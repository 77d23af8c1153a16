//! `PATCH /api/v2/members`: LaunchDarkly's bulk member instructions. Each sets a base role,
//! custom roles or role attributes on the members it lists, or on every member a filter
//! matches; all of a request's instructions apply in one write transaction, with one audit
//! entry per member changed (before and after), or none of them apply.
//!
//! The owner is never changed in bulk: named in `memberIDs` it is refused with 400, the
//! `All` forms pass it by, and no instruction grants the owner role.

use std::collections::{BTreeMap, HashMap, HashSet};

use poem_openapi::Object;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QuerySelect,
    QueryTrait, Statement,
};
use serde::Deserialize;
use serde_json::Value;

use super::list::condition;
use super::rep_with_teams;
use super::{
    Member, RoleAttributes, RoleAttributesBody, check_custom_roles, check_role_attributes,
};
use crate::domain::directory_query::{FILTER_ROLES, MemberFilter, last_seen, query_text};
use crate::domain::grant_source::{
    CustomRoleSources, GrantSource, regrant_custom_roles, regrant_role,
};
use crate::domain::policy::{BaseRole, Resource};
use crate::error::{Error, Result};
use crate::service::authz::authorize;
use crate::service::documented::{
    Documented, InstructionKinds, InstructionUnion, KindDoc, ParamDoc,
};
use crate::service::member_rows::{member_rows, parse_role, team_keys_of};
use crate::service::spelled::KEY_PATTERN;
use crate::service::util::{
    from_json, parse_instructions, rows_where_in, snapshot, to_json, validate_key,
    values_per_statement,
};
use crate::service::{AuditDraft, Ctx, Service, WriteTx};

use entity::member::Column as C;

/// One bulk instruction on members, as sent (LaunchDarkly's kinds and field names).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum MembersInstruction {
    ReplaceMembersRoles {
        #[serde(rename = "memberIDs")]
        member_ids: Vec<String>,
        value: String,
    },
    #[serde(rename_all = "camelCase")]
    ReplaceAllMembersRoles {
        value: String,
        filter_last_seen: Option<Value>,
        filter_query: Option<String>,
        #[serde(rename = "ignoredMemberIDs")]
        ignored_member_ids: Option<Vec<String>>,
    },
    ReplaceMembersCustomRoles {
        #[serde(rename = "memberIDs")]
        member_ids: Vec<String>,
        values: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    ReplaceAllMembersCustomRoles {
        values: Vec<String>,
        filter_last_seen: Option<Value>,
        filter_query: Option<String>,
        #[serde(rename = "ignoredMemberIDs")]
        ignored_member_ids: Option<Vec<String>>,
    },
    ReplaceMembersRoleAttributes {
        #[serde(rename = "memberIDs")]
        member_ids: Vec<String>,
        value: RoleAttributes,
    },
}

/// The bulk member instruction kinds as the document shows them; `MembersInstruction`
/// parses them, and a test holds the two together.
pub struct MembersKinds;

const MEMBER_IDS: ParamDoc = ("memberIDs", Vec::<String>::schema_ref, true);
const ROLE: ParamDoc = ("value", granted_role, true);
const ROLE_KEYS: ParamDoc = ("values", role_keys, true);
const FILTER_LAST_SEEN: ParamDoc = ("filterLastSeen", last_seen_schema, false);
const FILTER_QUERY: ParamDoc = ("filterQuery", query_schema, false);
const IGNORED: ParamDoc = ("ignoredMemberIDs", Vec::<String>::schema_ref, false);

/// A base role bulk changes may grant: any but the owner.
fn granted_role() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        enum_items: ["reader", "writer", "admin", "no_access"]
            .into_iter()
            .map(Value::from)
            .collect(),
        ..MetaSchema::new("string")
    }))
}

/// Custom role keys, each naming an existing role.
pub(crate) fn role_keys() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        items: Some(Box::new(MetaSchemaRef::Inline(Box::new(MetaSchema {
            pattern: Some(KEY_PATTERN.to_owned()),
            max_length: Some(128),
            ..MetaSchema::new("string")
        })))),
        ..MetaSchema::new("array")
    }))
}

/// The member list's `lastSeen` filter as one JSON object.
pub(crate) fn last_seen_schema() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        description: Some(
            r#"Members by when they were last seen, as the member list's `lastSeen` filter: `{"never": true}`, `{"noData": true}` or `{"before": <ms>}`."#,
        ),
        ..MetaSchema::new("object")
    }))
}

/// The member list's `query` filter.
pub(crate) fn query_schema() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        description: Some(
            "Members whose email, display name or last name starts with this text, ignoring case, as the member list's `query` filter.",
        ),
        min_length: Some(1),
        pattern: Some(r"^[^\x00-\x1f\x7f]+$".to_owned()),
        ..MetaSchema::new("string")
    }))
}

const MEMBERS_KINDS: &[KindDoc] = &[
    KindDoc {
        kind: "replaceMembersRoles",
        description: "Give the listed members the base role `value`.",
        params: &[MEMBER_IDS, ROLE],
    },
    KindDoc {
        kind: "replaceAllMembersRoles",
        description: "Give every member the filters match (all when none is given), except the owner and `ignoredMemberIDs`, the base role `value`.",
        params: &[ROLE, FILTER_LAST_SEEN, FILTER_QUERY, IGNORED],
    },
    KindDoc {
        kind: "replaceMembersCustomRoles",
        description: "Replace the listed members' custom roles with `values` (role keys).",
        params: &[MEMBER_IDS, ROLE_KEYS],
    },
    KindDoc {
        kind: "replaceAllMembersCustomRoles",
        description: "Replace the custom roles of every member the filters match (all when none is given), except the owner and `ignoredMemberIDs`, with `values`.",
        params: &[ROLE_KEYS, FILTER_LAST_SEEN, FILTER_QUERY, IGNORED],
    },
    KindDoc {
        kind: "replaceMembersRoleAttributes",
        description: "Replace the listed members' role attributes with `value` (attribute key to values).",
        params: &[MEMBER_IDS, ("value", RoleAttributesBody::schema_ref, true)],
    },
];

impl InstructionKinds for MembersKinds {
    const NAME: &'static str = "MembersInstruction";
    const DESCRIPTION: &'static str =
        "A bulk instruction on members: `kind` names it, the other fields are its parameters.";
    const GROUPS: &'static [(&'static str, &'static [KindDoc])] =
        &[("MembersInstruction", MEMBERS_KINDS)];

    fn register_parameters(registry: &mut Registry) {
        RoleAttributesBody::register(registry);
    }
}

/// Body of `PATCH /api/v2/members`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct MembersPatch {
    /// `[{"kind": "replaceMembersRoles", "memberIDs": [id], "value": "writer"}, ...]`, applied
    /// in order, all or none.
    #[oai(validator(min_items = 1))]
    pub instructions: Vec<Documented<InstructionUnion<MembersKinds>>>,
    /// Recorded on every audit entry of the change.
    pub comment: Option<String>,
}

/// Answer of `PATCH /api/v2/members`: the members changed (those already as asked are not).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct MembersChanged {
    /// Ids of the members changed, sorted.
    pub members: Vec<String>,
    /// How many members changed.
    pub total_count: u64,
}

/// Which members an instruction changes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Selection {
    /// These, each of which must exist; sorted, each once.
    Listed(Vec<String>),
    /// Every member the filter matches but these.
    Matching {
        filter: MemberFilter,
        ignored: Vec<String>,
    },
}

/// What an instruction sets on each member it selects.
#[derive(Debug, Clone, PartialEq)]
enum Assignment {
    Role(BaseRole),
    CustomRoles(Vec<String>),
    RoleAttributes(RoleAttributes),
}

impl Assignment {
    /// The action a single-member PATCH exercises for the same change.
    fn action(&self) -> &'static str {
        match self {
            Assignment::Role(_) => "updateRole",
            Assignment::CustomRoles(_) => "updateCustomRole",
            Assignment::RoleAttributes(_) => "updateMemberRoleAttributes",
        }
    }
}

/// An instruction whose values are well-formed; what needs the database is checked later.
#[derive(Debug, Clone, PartialEq)]
struct Planned {
    selection: Selection,
    assignment: Assignment,
}

/// The filters of an `All` instruction, as sent.
#[derive(Debug, Clone, Default)]
pub(crate) struct FilterFields {
    pub last_seen: Option<Value>,
    pub query: Option<String>,
    pub roles: Option<Vec<String>>,
    pub team_keys: Option<Vec<String>>,
}

/// The member filter an `All` instruction's fields ask for, built with the member list's
/// parsers so the two agree; errors name `<field>.filter...`.
pub(crate) fn member_filter(field: &str, fields: FilterFields) -> Result<MemberFilter> {
    let refused = |name: &str, e: crate::domain::directory_query::QueryError| {
        Error::invalid(format!("{field}.{name}: {}", e.reason))
    };
    let mut filter = MemberFilter::default();
    if let Some(seen) = fields.last_seen {
        let text = serde_json::to_string(&seen).map_err(Error::internal)?;
        let seen = last_seen("filterLastSeen", &text).map_err(|e| refused("filterLastSeen", e))?;
        filter.last_seen.push(seen);
    }
    if let Some(query) = fields.query {
        filter.query =
            Some(query_text("filterQuery", &query).map_err(|e| refused("filterQuery", e))?);
    }
    for (i, role) in fields.roles.unwrap_or_default().into_iter().enumerate() {
        if !FILTER_ROLES.contains(&role.as_str()) {
            return Err(Error::invalid(format!(
                "{field}.filterRoles[{i}]: {role:?} is not one of {}",
                FILTER_ROLES.join(", ")
            )));
        }
        filter.roles.push(role);
    }
    for (i, key) in fields.team_keys.unwrap_or_default().into_iter().enumerate() {
        validate_key(&format!("{field}.filterTeamKeys[{i}]"), &key)?;
        filter.teams.push(key);
    }
    Ok(filter)
}

/// Member ids as a selection lists them: sorted, each once.
pub(crate) fn listed(ids: Vec<String>) -> Selection {
    let mut ids = ids;
    ids.sort();
    ids.dedup();
    Selection::Listed(ids)
}

/// Checks an instruction's values: the role (never the owner), role keys, role attributes,
/// filters.
fn plan(field: &str, instruction: MembersInstruction) -> Result<Planned> {
    use MembersInstruction as I;
    let matching = |last_seen, query, ignored: Option<Vec<String>>| {
        let fields = FilterFields {
            last_seen,
            query,
            ..FilterFields::default()
        };
        Ok::<_, Error>(Selection::Matching {
            filter: member_filter(field, fields)?,
            ignored: ignored.unwrap_or_default(),
        })
    };
    let (selection, assignment) = match instruction {
        I::ReplaceMembersRoles { member_ids, value } => (
            listed(member_ids),
            Assignment::Role(granted(field, &value)?),
        ),
        I::ReplaceAllMembersRoles {
            value,
            filter_last_seen,
            filter_query,
            ignored_member_ids,
        } => (
            matching(filter_last_seen, filter_query, ignored_member_ids)?,
            Assignment::Role(granted(field, &value)?),
        ),
        I::ReplaceMembersCustomRoles { member_ids, values } => {
            (listed(member_ids), Assignment::CustomRoles(values))
        }
        I::ReplaceAllMembersCustomRoles {
            values,
            filter_last_seen,
            filter_query,
            ignored_member_ids,
        } => (
            matching(filter_last_seen, filter_query, ignored_member_ids)?,
            Assignment::CustomRoles(values),
        ),
        I::ReplaceMembersRoleAttributes { member_ids, value } => {
            check_role_attributes(&format!("{field}.value"), &value)?;
            (listed(member_ids), Assignment::RoleAttributes(value))
        }
    };
    Ok(Planned {
        selection,
        assignment,
    })
}

/// A base role a bulk change may grant: ownership moves only one member at a time.
fn granted(field: &str, value: &str) -> Result<BaseRole> {
    let role = parse_role(&format!("{field}.value"), value)?;
    if role == BaseRole::Owner {
        return Err(Error::invalid(format!(
            "{field}.value: bulk changes never grant the owner role; make a member owner with PATCH /api/v2/members/{{id}}"
        )));
    }
    Ok(role)
}

/// What a bulk change edits on a member, as it stands after each instruction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RoleFields {
    role: String,
    custom_roles: Vec<String>,
    role_attributes: RoleAttributes,
}

/// A member some instruction selected: as found, and as the instructions leave it.
struct Staged {
    row: entity::member::Model,
    before: Member,
    now: RoleFields,
    /// The actions exercised on it, each once.
    actions: Vec<&'static str>,
    /// The last instruction that set its custom roles or role attributes, for errors.
    roles_touched_by: Option<String>,
}

impl Staged {
    fn apply(&mut self, field: &str, assignment: &Assignment) {
        match assignment {
            Assignment::Role(role) => self.now.role = role.as_str().to_owned(),
            Assignment::CustomRoles(keys) => {
                self.now.custom_roles = keys.clone();
                self.roles_touched_by = Some(field.to_owned());
            }
            Assignment::RoleAttributes(attrs) => {
                self.now.role_attributes = attrs.clone();
                self.roles_touched_by = Some(field.to_owned());
            }
        }
        let action = assignment.action();
        if !self.actions.contains(&action) {
            self.actions.push(action);
        }
    }

    fn changed(&self) -> bool {
        self.now.role != self.before.role
            || self.now.custom_roles != self.before.custom_roles
            || self.now.role_attributes != self.before.role_attributes
    }
}

/// The error of instruction `field`: its message led by the field unless it already is.
pub(crate) fn within(field: &str, err: Error) -> Error {
    let label = |m: String| {
        if m.starts_with(field) {
            m
        } else {
            format!("{field}: {m}")
        }
    };
    match err {
        Error::InvalidRequest(m) => Error::InvalidRequest(label(m)),
        Error::Forbidden(m) => Error::Forbidden(label(m)),
        Error::NotFound(m) => Error::NotFound(label(m)),
        Error::Conflict(m) => Error::Conflict(label(m)),
        other => other,
    }
}

impl Service {
    /// Applies bulk member instructions in order, in one transaction: each selected member is
    /// authorized as a single-member PATCH would be, and each member changed gets one audit
    /// entry; members already as asked are left alone.
    pub async fn patch_members(&self, ctx: &Ctx, patch: MembersPatch) -> Result<MembersChanged> {
        let instructions: Vec<MembersInstruction> =
            parse_instructions(&Documented::values(&patch.instructions))?;
        let planned = instructions
            .into_iter()
            .enumerate()
            .map(|(i, instruction)| plan(&format!("instructions[{i}]"), instruction))
            .collect::<Result<Vec<_>>>()?;
        let mut tx = self.begin_write(ctx).await?;
        let mut staged: BTreeMap<String, Staged> = BTreeMap::new();
        for (i, planned) in planned.into_iter().enumerate() {
            let field = format!("instructions[{i}]");
            stage_instruction(&tx, &field, planned, &mut staged)
                .await
                .map_err(|e| within(&field, e))?;
        }
        check_role_requirements(tx.db(), &staged).await?;
        let changed: Vec<&Staged> = staged.values().filter(|s| s.changed()).collect();
        let answer = MembersChanged {
            members: changed.iter().map(|s| s.row.id.clone()).collect(),
            total_count: changed.len() as u64,
        };
        if changed.is_empty() {
            // Nothing to change: no write, no entry.
            return Ok(answer);
        }
        let source = ctx.principal.grant_source();
        let writes = role_updates(tx.backend(), &changed, &source, tx.now_ms())?;
        let mut drafts = changed
            .iter()
            .map(|s| bulk_audit(s, patch.comment.clone()))
            .collect::<Result<Vec<_>>>()?;
        let last = drafts
            .pop()
            .ok_or_else(|| Error::internal("a change without an entry"))?;
        for draft in drafts {
            tx.audit(draft);
        }
        tx.write_audited(writes, last).await?;
        tx.commit().await?;
        Ok(answer)
    }
}

/// Selects an instruction's members, authorizes each change and applies it to the staged
/// members.
async fn stage_instruction(
    tx: &WriteTx<'_>,
    field: &str,
    planned: Planned,
    staged: &mut BTreeMap<String, Staged>,
) -> Result<()> {
    let assignment = match planned.assignment {
        Assignment::CustomRoles(keys) => Assignment::CustomRoles(
            check_custom_roles(tx.db(), &format!("{field}.values"), &keys).await?,
        ),
        other => other,
    };
    let ids = match &planned.selection {
        Selection::Listed(ids) => {
            load_members(tx.db(), field, staged, ids).await?;
            refuse_owner(field, staged, ids)?;
            ids.clone()
        }
        Selection::Matching { filter, ignored } => {
            let ids = matching_member_ids(tx.db(), filter, ignored, false).await?;
            load_members(tx.db(), field, staged, &ids).await?;
            ids
        }
    };
    let action = assignment.action();
    let principal = &tx.ctx().principal;
    for id in &ids {
        authorize(principal, action, &Resource::member(id))?;
        if let Some(member) = staged.get_mut(id) {
            member.apply(field, &assignment);
        }
    }
    Ok(())
}

/// The owner named in `memberIDs`: refused, as LaunchDarkly does.
fn refuse_owner(field: &str, staged: &BTreeMap<String, Staged>, ids: &[String]) -> Result<()> {
    match ids
        .iter()
        .filter_map(|id| staged.get(id))
        .find(|s| s.row.role == BaseRole::Owner.as_str())
    {
        Some(owner) => Err(Error::invalid(format!(
            "{field}.memberIDs: {} is the account owner, whom bulk changes never change",
            owner.row.id
        ))),
        None => Ok(()),
    }
}

/// The ids of the members `filter` matches, sorted, but `ignored` (and the owner unless
/// `with_owner`).
pub(crate) async fn matching_member_ids(
    db: &impl ConnectionTrait,
    filter: &MemberFilter,
    ignored: &[String],
    with_owner: bool,
) -> Result<Vec<String>> {
    let mut select = entity::member::Entity::find()
        .select_only()
        .column(C::Id)
        .filter(condition(filter));
    if !with_owner {
        select = select.filter(C::Role.ne(BaseRole::Owner.as_str()));
    }
    let mut ids: Vec<String> = select.into_tuple().all(db).await?;
    let ignored: HashSet<&String> = ignored.iter().collect();
    ids.retain(|id| !ignored.contains(id));
    ids.sort();
    Ok(ids)
}

/// Reads the members of `ids` not staged yet, with their teams; the first id that names no
/// member is a 404.
async fn load_members(
    db: &impl ConnectionTrait,
    field: &str,
    staged: &mut BTreeMap<String, Staged>,
    ids: &[String],
) -> Result<()> {
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| !staged.contains_key(*id))
        .cloned()
        .collect();
    let rows = member_rows(db, &missing).await?;
    let mut teams = team_keys_of(db, &missing).await?;
    for row in rows {
        let before = rep_with_teams(&row, teams.remove(&row.id).unwrap_or_default())?;
        let now = RoleFields {
            role: before.role.clone(),
            custom_roles: before.custom_roles.clone(),
            role_attributes: before.role_attributes.clone(),
        };
        staged.insert(
            row.id.clone(),
            Staged {
                row,
                before,
                now,
                actions: Vec::new(),
                roles_touched_by: None,
            },
        );
    }
    if let Some(unknown) = ids.iter().find(|id| !staged.contains_key(*id)) {
        return Err(Error::NotFound(format!(
            "{field}.memberIDs: unknown member {unknown:?}"
        )));
    }
    Ok(())
}

/// Every changed member's custom roles get the role attributes they declare, as a single
/// PATCH requires; the roles' declarations are read once for all members.
async fn check_role_requirements(
    db: &impl ConnectionTrait,
    staged: &BTreeMap<String, Staged>,
) -> Result<()> {
    let touched: Vec<&Staged> = staged
        .values()
        .filter(|s| s.roles_touched_by.is_some() && s.changed())
        .collect();
    let mut keys: Vec<String> = touched
        .iter()
        .flat_map(|s| s.now.custom_roles.iter().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    if keys.is_empty() {
        return Ok(());
    }
    let mut declared: HashMap<String, Vec<String>> = HashMap::new();
    let roles =
        rows_where_in::<entity::custom_role::Entity>(db, entity::custom_role::Column::Key, &keys)
            .await?;
    for role in roles {
        declared.insert(role.key.clone(), from_json(&role.role_attributes)?);
    }
    for member in touched {
        if let Some((role, attr)) = missing_attribute(&member.now, &declared) {
            let field = member.roles_touched_by.as_deref().unwrap_or("instructions");
            return Err(Error::invalid(format!(
                "{field}: member {}: custom role {role} needs role attribute {attr:?} (roleAttributes.{attr})",
                member.row.id
            )));
        }
    }
    Ok(())
}

/// The first of a member's custom roles lacking a role attribute it declares, with the
/// attribute.
fn missing_attribute<'a>(
    fields: &'a RoleFields,
    declared: &'a HashMap<String, Vec<String>>,
) -> Option<(&'a str, &'a str)> {
    fields.custom_roles.iter().find_map(|role| {
        declared.get(role)?.iter().find_map(|attr| {
            fields
                .role_attributes
                .get(attr)
                .is_none_or(|v| v.is_empty())
                .then_some((role.as_str(), attr.as_str()))
        })
    })
}

/// The statements that write the changed members' base roles, custom roles and role
/// attributes: one set-based UPDATE per chunk of members left alike, each row at its next
/// version.
fn role_updates(
    backend: DatabaseBackend,
    changed: &[&Staged],
    source: &GrantSource,
    now: i64,
) -> Result<Vec<Statement>> {
    let mut groups: HashMap<(&RoleFields, Sources), Vec<String>> = HashMap::new();
    for member in changed {
        groups
            .entry((&member.now, member.sources_after(source)?))
            .or_default()
            .push(member.row.id.clone());
    }
    let mut statements = Vec::new();
    for ((fields, sources), ids) in groups {
        let custom_roles = to_json(&fields.custom_roles)?;
        let role_attributes = to_json(&fields.role_attributes)?;
        for chunk in ids.chunks(values_per_statement(backend, 1)) {
            statements.push(
                entity::member::Entity::update_many()
                    .col_expr(C::Role, Expr::value(fields.role.clone()))
                    .col_expr(C::RoleSource, Expr::value(sources.role.clone()))
                    .col_expr(C::CustomRoles, Expr::value(custom_roles.clone()))
                    .col_expr(
                        C::CustomRoleSources,
                        Expr::value(sources.custom_roles.clone()),
                    )
                    .col_expr(C::RoleAttributes, Expr::value(role_attributes.clone()))
                    .col_expr(C::Version, Expr::col(C::Version).add(1))
                    .col_expr(C::UpdatedAt, Expr::value(now))
                    .filter(C::Id.is_in(chunk.to_vec()))
                    .build(backend),
            );
        }
    }
    Ok(statements)
}

/// Where a changed member's role and custom roles come from after the change, as stored:
/// grants it keeps keep their source, new ones are the caller's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Sources {
    role: Option<String>,
    custom_roles: Option<String>,
}

impl Staged {
    fn sources_after(&self, source: &GrantSource) -> Result<Sources> {
        let row = &self.row;
        let role = regrant_role(
            Some((row.role.as_str(), row.role_source.as_deref())),
            &self.now.role,
            source,
        );
        let before: CustomRoleSources = match &row.custom_role_sources {
            Some(json) => from_json(json)?,
            None => CustomRoleSources::new(),
        };
        let held = &self.before.custom_roles;
        let after = regrant_custom_roles(
            &before,
            &self.now.custom_roles,
            |key| held.iter().any(|h| h == key),
            |_| source.clone(),
        );
        // Nothing recorded and nothing to record stays NULL, as single changes leave it.
        let custom_roles = if after.is_empty() && row.custom_role_sources.is_none() {
            None
        } else {
            Some(to_json(&after)?)
        };
        Ok(Sources { role, custom_roles })
    }
}

/// The audit entry of one member a bulk change changed: the actions exercised on it, the
/// member before and after.
fn bulk_audit(member: &Staged, comment: Option<String>) -> Result<AuditDraft> {
    let res = Resource::member(&member.row.id);
    let mut after = member.before.clone();
    after.role = member.now.role.clone();
    after.custom_roles = member.now.custom_roles.clone();
    after.role_attributes = member.now.role_attributes.clone();
    after.version = member.before.version + 1;
    let mut draft = AuditDraft::new("member", &member.row.email, "updateRole", &res);
    draft.accesses.clear();
    for action in &member.actions {
        draft = draft.access(action, &res);
    }
    Ok(draft
        .describe(format!("updated member {} in bulk", member.row.email))
        .before(Some(snapshot(&member.before)?))
        .after(Some(snapshot(&after)?))
        .comment(comment))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::directory_query::LastSeen;

    fn planned(value: Value) -> Result<Planned> {
        let instruction: MembersInstruction = serde_json::from_value(value).unwrap();
        plan("instructions[1]", instruction)
    }

    #[test]
    fn every_bulk_kind_is_documented_and_parses_from_the_document() {
        let mut registry = Registry::new();
        InstructionUnion::<MembersKinds>::register(&mut registry);
        crate::service::documented::testing::check_kinds::<MembersInstruction>(
            &registry,
            MEMBERS_KINDS,
        );
    }

    #[test]
    fn listed_members_are_sorted_once_and_filters_parse_as_the_list_does() {
        let p = planned(json!({"kind": "replaceMembersRoles", "memberIDs": ["b", "a", "b"], "value": "noAccess"}))
            .unwrap();
        assert_eq!(p.selection, Selection::Listed(vec!["a".into(), "b".into()]));
        assert_eq!(p.assignment, Assignment::Role(BaseRole::NoAccess));
        let p = planned(json!({
            "kind": "replaceAllMembersCustomRoles", "values": ["dev"],
            "filterLastSeen": {"before": 1700}, "filterQuery": "Ann", "ignoredMemberIDs": ["x"]
        }))
        .unwrap();
        let Selection::Matching { filter, ignored } = p.selection else {
            panic!("an All form matches")
        };
        assert_eq!(filter.last_seen, [LastSeen::Before(1700)]);
        assert_eq!(filter.query.as_deref(), Some("ann"));
        assert_eq!(ignored, ["x"]);
    }

    #[test]
    fn bad_values_are_named_by_their_instruction() {
        let cases = [
            (
                json!({"kind": "replaceMembersRoles", "memberIDs": [], "value": "owner"}),
                "instructions[1].value: bulk changes never grant the owner role",
            ),
            (
                json!({"kind": "replaceAllMembersRoles", "value": "boss"}),
                "instructions[1].value: \"boss\" is not one of",
            ),
            (
                json!({"kind": "replaceAllMembersRoles", "value": "reader", "filterLastSeen": {"after": 1}}),
                "instructions[1].filterLastSeen: expected",
            ),
            (
                json!({"kind": "replaceAllMembersRoles", "value": "reader", "filterQuery": ""}),
                "instructions[1].filterQuery: an empty query",
            ),
            (
                json!({"kind": "replaceMembersRoleAttributes", "memberIDs": ["a"], "value": {"no way": ["x"]}}),
                "instructions[1].value.no way: ",
            ),
        ];
        for (instruction, message) in cases {
            let err = planned(instruction.clone()).unwrap_err();
            assert!(matches!(err, Error::InvalidRequest(_)), "{instruction}");
            assert!(err.to_string().starts_with(message), "{instruction}: {err}");
        }
    }

    #[test]
    fn team_filters_check_roles_and_keys() {
        let fields = FilterFields {
            roles: Some(vec!["admin".into(), "boss".into()]),
            ..FilterFields::default()
        };
        let err = member_filter("instructions[0]", fields).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("instructions[0].filterRoles[1]: \"boss\""),
            "{err}"
        );
        let fields = FilterFields {
            roles: Some(vec!["writer".into()]),
            team_keys: Some(vec!["eng".into()]),
            ..FilterFields::default()
        };
        let filter = member_filter("instructions[0]", fields).unwrap();
        assert_eq!(
            (filter.roles, filter.teams),
            (vec!["writer".to_owned()], vec!["eng".to_owned()])
        );
    }

    #[test]
    fn a_role_without_its_declared_attribute_is_found() {
        let declared: HashMap<String, Vec<String>> =
            [("dev".to_owned(), vec!["projects".to_owned()])]
                .into_iter()
                .collect();
        let mut fields = RoleFields {
            role: "reader".into(),
            custom_roles: vec!["ops".into(), "dev".into()],
            role_attributes: RoleAttributes::new(),
        };
        assert_eq!(
            missing_attribute(&fields, &declared),
            Some(("dev", "projects"))
        );
        fields.role_attributes.insert("projects".into(), vec![]);
        assert_eq!(
            missing_attribute(&fields, &declared),
            Some(("dev", "projects"))
        );
        fields
            .role_attributes
            .insert("projects".into(), vec!["shop".into()]);
        assert_eq!(missing_attribute(&fields, &declared), None);
    }

    #[test]
    fn an_error_is_led_by_its_instruction_once() {
        let err = within(
            "instructions[2]",
            Error::forbidden("not allowed to updateRole on member/m1"),
        );
        assert!(matches!(err, Error::Forbidden(_)));
        assert_eq!(
            err.to_string(),
            "instructions[2]: not allowed to updateRole on member/m1"
        );
        let err = within(
            "instructions[2]",
            Error::invalid("instructions[2].value: bad"),
        );
        assert_eq!(err.to_string(), "instructions[2].value: bad");
    }
}
