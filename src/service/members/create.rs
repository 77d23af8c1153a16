//! Adding members: one in our shape, or LaunchDarkly's JSON array of new members, created in
//! one write transaction with an audit entry each, all or nothing.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, Type};
use poem_openapi::{Object, Union};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};
use serde_json::Value;

use super::{
    Member, MemberPost, active_owner_count, check_custom_roles, check_role_attributes,
    check_role_requirements, to_rep, validate_email,
};
use crate::domain::grant_source::{CustomRoleSources, GrantSource};
use crate::domain::policy::{BaseRole, Resource};
use crate::error::{Error, Result};
use crate::service::authz::authorize;
use crate::service::documented::value_type_basics;
use crate::service::member_rows::parse_role;
use crate::service::spelled::Spelled;
use crate::service::team_members;
use crate::service::util::{new_id, plain, snapshot, to_json, validate_key};
use crate::service::{AuditDraft, Ctx, Principal, Service, WriteTx};

/// The most new members one request adds, as in LaunchDarkly's API.
pub const MAX_NEW_MEMBERS: usize = 50;

/// Body of `POST /api/v2/members`: one new member, or an array of them as LaunchDarkly's API
/// takes them.
#[derive(Debug, Clone)]
pub enum NewMembers {
    One(MemberPost),
    Many(Vec<MemberPost>),
}

impl Type for NewMembers {
    value_type_basics!();

    fn name() -> Cow<'static, str> {
        "NewMembers".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(Self::name().into_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(Self::name().into_owned(), |registry| {
            MemberPost::register(registry);
            let many = MetaSchema {
                ty: "array",
                description: Some(
                    "LaunchDarkly's form: 1 to 50 new members, created together in one transaction or not at all.",
                ),
                items: Some(Box::new(MemberPost::schema_ref())),
                min_items: Some(1),
                max_items: Some(MAX_NEW_MEMBERS),
                ..MetaSchema::ANY
            };
            MetaSchema {
                description: Some(
                    "One new member (answered with the member), or a JSON array of new members as LaunchDarkly's API takes them (answered with `{\"items\": [...]}`).",
                ),
                one_of: vec![MemberPost::schema_ref(), MetaSchemaRef::Inline(Box::new(many))],
                ..MetaSchema::ANY
            }
        });
    }
}

impl ParseFromJSON for NewMembers {
    /// An object is one member, parsed as before; an array's bad item is named by its index.
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    MemberPost::parse_from_json(Some(item))
                        .map_err(|e| ParseError::custom(format!("[{i}]: {}", e.into_message())))
                })
                .collect::<Result<Vec<_>, ParseError<Self>>>()
                .map(NewMembers::Many),
            one => MemberPost::parse_from_json(one)
                .map(NewMembers::One)
                .map_err(ParseError::propagate),
        }
    }
}

/// The members an array of new members created, in the order given (LaunchDarkly's answer).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Members {
    pub items: Vec<Member>,
    pub total_count: u64,
}

/// Answer of `POST /api/v2/members`: the member for one object, `{"items": [...]}` for an array.
#[derive(Debug, Clone, Union)]
#[oai(one_of)]
pub enum CreatedMembers {
    One(Box<Member>),
    Many(Members),
}

impl Service {
    /// Adds one member, or each of LaunchDarkly's array of new members in one transaction.
    pub async fn create_members(&self, ctx: &Ctx, input: NewMembers) -> Result<CreatedMembers> {
        match input {
            NewMembers::One(one) => Ok(CreatedMembers::One(Box::new(
                self.create_member(ctx, one).await?,
            ))),
            NewMembers::Many(many) => {
                let items = self.create_member_batch(ctx, many).await?;
                Ok(CreatedMembers::Many(Members {
                    total_count: items.len() as u64,
                    items,
                }))
            }
        }
    }

    pub async fn create_member(&self, ctx: &Ctx, input: MemberPost) -> Result<Member> {
        let checked = check_new_member(&ctx.principal, input)?;
        let mut tx = self.begin_write(ctx).await?;
        let rep = insert_member(&mut tx, checked).await?;
        tx.commit().await?;
        Ok(rep)
    }

    /// Every new member is checked and authorized first, then each is written with its audit
    /// entry in one transaction: the first refusal, named by its index, leaves nothing written.
    async fn create_member_batch(&self, ctx: &Ctx, inputs: Vec<MemberPost>) -> Result<Vec<Member>> {
        if inputs.is_empty() || inputs.len() > MAX_NEW_MEMBERS {
            return Err(Error::invalid(format!(
                "a request adds 1 to {MAX_NEW_MEMBERS} members; this one has {}",
                inputs.len()
            )));
        }
        let checked = inputs
            .into_iter()
            .enumerate()
            .map(|(i, input)| check_new_member(&ctx.principal, input).map_err(|e| at_index(i, e)))
            .collect::<Result<Vec<_>>>()?;
        let mut tx = self.begin_write(ctx).await?;
        let mut created = Vec::with_capacity(checked.len());
        for (i, member) in checked.into_iter().enumerate() {
            let rep = insert_member(&mut tx, member)
                .await
                .map_err(|e| at_index(i, e))?;
            created.push(rep);
        }
        tx.commit().await?;
        Ok(created)
    }
}

/// A new member whose fields are well-formed and whose creation the caller may make; what
/// needs the database (custom roles, teams, the one owner) is checked as it is written.
#[derive(Debug)]
struct CheckedMember {
    id: String,
    email: String,
    role: BaseRole,
    team_keys: Vec<String>,
    input: MemberPost,
}

/// Checks a new member's fields, then authorizes each change it makes: `createMember`, and
/// `updateCustomRole`, `updateAccountOwner`, `updateTeamMembers` when it carries those.
fn check_new_member(principal: &Principal, input: MemberPost) -> Result<CheckedMember> {
    let email = validate_email(&input.email)?;
    let role = parse_role("role", input.role.as_deref().unwrap_or("reader"))?;
    check_role_attributes("roleAttributes", &input.role_attributes)?;
    for (field, name) in [
        ("firstName", &input.first_name),
        ("lastName", &input.last_name),
    ] {
        if let Some(name) = name {
            plain(field, name)?;
        }
    }
    let team_keys = sorted_keys("teamKeys", &Spelled::texts(&input.team_keys))?;
    let id = new_id();
    let res = Resource::member(&id);
    authorize(principal, "createMember", &res)?;
    if !input.custom_roles.is_empty() {
        authorize(principal, "updateCustomRole", &res)?;
    }
    if role == BaseRole::Owner {
        authorize(principal, "updateAccountOwner", &Resource::acct())?;
    }
    for key in &team_keys {
        authorize(principal, "updateTeamMembers", &Resource::team(key))?;
    }
    Ok(CheckedMember {
        id,
        email,
        role,
        team_keys,
        input,
    })
}

/// Keys, each valid, sorted, each once.
fn sorted_keys(field: &str, keys: &[String]) -> Result<Vec<String>> {
    for (i, key) in keys.iter().enumerate() {
        validate_key(&format!("{field}[{i}]"), key)?;
    }
    let mut keys = keys.to_vec();
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// Writes a checked member with its team memberships, and records its audit entry.
async fn insert_member(tx: &mut WriteTx<'_>, new: CheckedMember) -> Result<Member> {
    if new.role == BaseRole::Owner && active_owner_count(tx.db()).await? > 0 {
        return Err(Error::conflict(
            "role: the account already has its one owner",
        ));
    }
    let input = &new.input;
    let custom_roles =
        check_custom_roles(tx.db(), "customRoles", &Spelled::texts(&input.custom_roles)).await?;
    check_role_requirements(
        tx.db(),
        "customRoles",
        &custom_roles,
        &input.role_attributes,
    )
    .await?;
    let teams = find_teams(tx.db(), &new.team_keys).await?;
    let source = tx.ctx().principal.grant_source();
    let m = member_row(&new, &custom_roles, &source, tx.now_ms())?
        .insert(tx.db())
        .await
        .map_err(|e| match Error::from(e) {
            Error::Conflict(_) => Error::conflict(format!(
                "a member with email {:?} already exists",
                new.email
            )),
            other => other,
        })?;
    join_teams(tx, &m.id, &teams).await?;
    let rep = to_rep(tx.db(), &m).await?;
    tx.audit(create_audit(&rep)?);
    Ok(rep)
}

/// The row of a new local member.
fn member_row(
    new: &CheckedMember,
    custom_roles: &[String],
    source: &GrantSource,
    now: i64,
) -> Result<entity::member::ActiveModel> {
    let email = new.email.clone();
    let custom_role_sources: CustomRoleSources = custom_roles
        .iter()
        .filter_map(|k| Some((k.clone(), source.stored()?)))
        .collect();
    Ok(entity::member::ActiveModel {
        id: Set(new.id.clone()),
        email_lower: Set(email.to_lowercase()),
        user_name: Set(email.clone()),
        user_name_lower: Set(email.to_lowercase()),
        email: Set(email),
        first_name: Set(new.input.first_name.clone().map(String::from)),
        last_name: Set(new.input.last_name.clone().map(String::from)),
        role: Set(new.role.as_str().to_owned()),
        custom_roles: Set(to_json(&custom_roles)?),
        role_attributes: Set(to_json(&new.input.role_attributes)?),
        status: Set("active".to_owned()),
        source: Set("local".to_owned()),
        connection_key: Set(None),
        external_id: Set(None),
        last_seen: Set(None),
        scim_attributes: Set(None),
        scim_deleted_at: Set(None),
        role_source: Set(source.stored()),
        custom_role_sources: Set(Some(to_json(&custom_role_sources)?)),
        last_sign_in_at: Set(None),
        last_sign_in_connection: Set(None),
        last_sign_in_protocol: Set(None),
        team_count: Set(0),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    })
}

/// The teams a new member joins: each must exist and be managed here, not by an identity
/// provider (whose teams' members change only there).
async fn find_teams(
    db: &impl ConnectionTrait,
    keys: &[String],
) -> Result<Vec<entity::team::Model>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let teams = entity::team::Entity::find()
        .filter(entity::team::Column::Key.is_in(keys.to_vec()))
        .all(db)
        .await?;
    for key in keys {
        match teams.iter().find(|t| &t.key == key) {
            None => return Err(Error::NotFound(format!("teamKeys: unknown team {key:?}"))),
            Some(t) if t.idp_synced => {
                return Err(Error::forbidden(format!(
                    "teamKeys: team {key} is managed by identity provider: its members change only there"
                )));
            }
            Some(_) => {}
        }
    }
    Ok(teams)
}

/// Adds the new member to its teams; each team's version moves, as its membership is part of
/// what the version covers.
async fn join_teams(
    tx: &WriteTx<'_>,
    member_id: &str,
    teams: &[entity::team::Model],
) -> Result<()> {
    if teams.is_empty() {
        return Ok(());
    }
    let member = [member_id.to_owned()];
    let source = tx.ctx().principal.grant_source();
    let writes = teams
        .iter()
        .flat_map(|t| team_members::add(tx.backend(), &t.id, &member, &source))
        .collect();
    team_members::run(tx.db(), writes).await?;
    entity::team::Entity::update_many()
        .col_expr(
            entity::team::Column::Version,
            Expr::col(entity::team::Column::Version).add(1),
        )
        .col_expr(entity::team::Column::UpdatedAt, Expr::value(tx.now_ms()))
        .filter(entity::team::Column::Id.is_in(teams.iter().map(|t| t.id.clone())))
        .exec(tx.db())
        .await?;
    Ok(())
}

/// The audit entry of a new member: `createMember`, and `updateTeamMembers` on each team it
/// joined.
fn create_audit(rep: &Member) -> Result<AuditDraft> {
    let mut draft = AuditDraft::new(
        "member",
        &rep.email,
        "createMember",
        &Resource::member(&rep.id),
    );
    let mut description = format!("added member {} as {}", rep.email, rep.role);
    if !rep.teams.is_empty() {
        description.push_str(&format!(" in team(s) {}", rep.teams.join(", ")));
    }
    for team in &rep.teams {
        draft = draft.access("updateTeamMembers", &Resource::team(team));
    }
    Ok(draft.describe(description).after(Some(snapshot(rep)?)))
}

/// The error of the array item at `index`, led by it: `[2].email: ...` when the message
/// names a field, `[2]: ...` otherwise. The kind of error (and so the status) stays.
fn at_index(index: usize, err: Error) -> Error {
    let label = |message: String| {
        if names_field(&message) {
            format!("[{index}].{message}")
        } else {
            format!("[{index}]: {message}")
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

/// Whether a message starts with a field path and a colon (`customRoles[0]: ...`).
fn names_field(message: &str) -> bool {
    message.split_once(": ").is_some_and(|(path, _)| {
        path.starts_with(|c: char| c.is_ascii_lowercase())
            && path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '[' | ']' | '_' | '-'))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_item_error_is_led_by_its_index_and_keeps_its_kind() {
        let err = at_index(2, Error::invalid(r#"email: "x" is not an email address"#));
        assert!(matches!(err, Error::InvalidRequest(_)));
        assert_eq!(err.to_string(), r#"[2].email: "x" is not an email address"#);
        let err = at_index(
            0,
            Error::invalid(r#"customRoles[1]: "" is not a valid key"#),
        );
        assert_eq!(
            err.to_string(),
            r#"[0].customRoles[1]: "" is not a valid key"#
        );
        let err = at_index(
            1,
            Error::conflict(r#"a member with email "a@b.c" already exists"#),
        );
        assert!(matches!(err, Error::Conflict(_)));
        assert_eq!(
            err.to_string(),
            r#"[1]: a member with email "a@b.c" already exists"#
        );
        let err = at_index(
            3,
            Error::forbidden("not allowed to createMember on member/m1"),
        );
        assert!(matches!(err, Error::Forbidden(_)));
        assert_eq!(
            err.to_string(),
            "[3]: not allowed to createMember on member/m1"
        );
        assert!(matches!(
            at_index(0, Error::internal("db down")),
            Error::Internal(m) if m == "db down"
        ));
    }

    #[test]
    fn team_keys_are_valid_sorted_and_unique() {
        let keys = ["ops".to_owned(), "eng".to_owned(), "ops".to_owned()];
        assert_eq!(sorted_keys("teamKeys", &keys).unwrap(), ["eng", "ops"]);
        let err = sorted_keys("teamKeys", &["ok".to_owned(), "no way".to_owned()]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(r#"teamKeys[1]: "no way" is not a valid key"#)
        );
    }

    #[test]
    fn a_body_is_one_member_or_an_array_naming_its_bad_item() {
        let one = NewMembers::parse_from_json(Some(json!({"email": "a@example.com"}))).unwrap();
        assert!(matches!(one, NewMembers::One(m) if m.email == "a@example.com"));
        let many = NewMembers::parse_from_json(Some(json!([
            {"email": "a@example.com", "teamKeys": ["ops"]},
            {"email": "b@example.com", "firstName": "Bo", "customRoles": ["dev"]}
        ])))
        .unwrap();
        let NewMembers::Many(many) = many else {
            panic!("an array is many members")
        };
        assert_eq!(many.len(), 2);
        assert_eq!(Spelled::texts(&many[0].team_keys), ["ops"]);
        assert_eq!(Spelled::texts(&many[1].custom_roles), ["dev"]);
        let err = NewMembers::parse_from_json(Some(json!([
            {"email": "a@example.com"},
            {"email": "b@example.com", "password": "x"}
        ])))
        .unwrap_err();
        assert!(err.message().contains("[1]: "), "{}", err.message());
        assert!(err.message().contains("password"), "{}", err.message());
        // One object fails as it did before the array form existed.
        let err = NewMembers::parse_from_json(Some(json!({"firstName": "Ann"}))).unwrap_err();
        assert!(err.message().contains("MemberPost"), "{}", err.message());
    }
}
