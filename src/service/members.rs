//! Members: people with access. Exactly one owner; deactivation revokes access at once but
//! keeps the record and its history.

use std::collections::BTreeMap;

use std::borrow::Cow;

use poem_openapi::Object;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde::Serialize;

use super::access::summarize;
use super::authz::authorize;
use super::credentials::revoke_member_credentials;
use super::member_rows::{find, parse_role};
use super::provisioning::{set_custom_roles, set_role};
use super::util::{check_version, from_json, snapshot, to_json, validate_key};
use super::{AuditDraft, Ctx, Principal, Service, WriteTx};
use crate::domain::policy::{BaseRole, Resource};
use crate::error::{Error, Result};
use crate::service::documented::value_type_basics;
use crate::service::spelled::{Email, Key, Matches, PlainText, RoleName, Spelled};

mod bulk;
mod create;
mod list;

pub(crate) use bulk::{
    FilterFields, Selection, last_seen_schema, listed, matching_member_ids, member_filter,
    query_schema, within,
};
pub use bulk::{MembersChanged, MembersInstruction, MembersKinds, MembersPatch};
pub use create::{CreatedMembers, Members, NewMembers};

/// Role attributes: key -> values, given where a custom role is assigned.
pub type RoleAttributes = BTreeMap<String, Vec<String>>;

/// Role attributes in a request, documented with the rule their values keep (1 to 256
/// characters each, checked by `check_role_attributes` with the keys). A map's keys have no
/// schema in OpenAPI 3.0; the description states theirs.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub struct RoleAttributesBody(pub RoleAttributes);

impl std::ops::Deref for RoleAttributesBody {
    type Target = RoleAttributes;

    fn deref(&self) -> &RoleAttributes {
        &self.0
    }
}

impl Type for RoleAttributesBody {
    value_type_basics!();

    fn name() -> Cow<'static, str> {
        "RoleAttributes".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference("RoleAttributes".to_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>("RoleAttributes".to_owned(), |_| {
            let value = MetaSchema {
                min_length: Some(1),
                max_length: Some(256),
                ..MetaSchema::new("string")
            };
            let values = MetaSchema {
                items: Some(Box::new(MetaSchemaRef::Inline(Box::new(value)))),
                ..MetaSchema::new("array")
            };
            MetaSchema {
                description: Some(
                    "Role attribute key (a key: letters, digits, `.`, `_`, `-`, starting with a \
                     letter or digit) to its values, as `${roleAttribute/<key>}` placeholders \
                     name them.",
                ),
                additional_properties: Some(Box::new(MetaSchemaRef::Inline(Box::new(values)))),
                ..MetaSchema::new("object")
            }
        });
    }
}

impl ParseFromJSON for RoleAttributesBody {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        RoleAttributes::parse_from_json(value)
            .map(RoleAttributesBody)
            .map_err(ParseError::propagate)
    }
}

impl ToJSON for RoleAttributesBody {
    fn to_json(&self) -> Option<serde_json::Value> {
        self.0.to_json()
    }
}

/// A member as the API shows it.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct Member {
    pub id: String,
    pub email: String,
    pub user_name: String,
    #[oai(nullable)]
    pub first_name: Option<String>,
    #[oai(nullable)]
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
    #[oai(nullable)]
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
    /// An address: no whitespace or control characters, a domain with a dot inside it.
    // Whitespace is spelt out rather than `\s`, which generators of test data read
    // differently from the server's regex engine.
    #[oai(validator(custom = "Matches::new()", max_length = 254))]
    pub email: Spelled<Email>,
    /// No control characters.
    #[oai(validator(custom = "Matches::new()"))]
    pub first_name: Option<Spelled<PlainText>>,
    /// No control characters.
    #[oai(validator(custom = "Matches::new()"))]
    pub last_name: Option<Spelled<PlainText>>,
    /// Base role (default `reader`). `owner` only when the account has none yet.
    #[oai(validator(custom = "Matches::new()"))]
    pub role: Option<Spelled<RoleName>>,
    #[oai(default, validator(custom = "Matches::new()", max_length = 128))]
    pub custom_roles: Vec<Spelled<Key>>,
    #[oai(default)]
    pub role_attributes: RoleAttributesBody,
    /// Keys of existing teams the new member joins (LaunchDarkly's `teamKeys`).
    #[oai(default, validator(custom = "Matches::new()", max_length = 128))]
    pub team_keys: Vec<Spelled<Key>>,
}

/// Body of `PATCH /api/v2/members/{id}`: the fields to change.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberPatch {
    /// No control characters.
    #[oai(validator(custom = "Matches::new()"))]
    pub first_name: Option<Spelled<PlainText>>,
    /// No control characters.
    #[oai(validator(custom = "Matches::new()"))]
    pub last_name: Option<Spelled<PlainText>>,
    #[oai(validator(custom = "Matches::new()"))]
    pub role: Option<Spelled<RoleName>>,
    #[oai(validator(custom = "Matches::new()", max_length = 128))]
    pub custom_roles: Option<Vec<Spelled<Key>>>,
    pub role_attributes: Option<RoleAttributesBody>,
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
    let valid = email.chars().count() <= 254
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
        // Something the request names does not exist: 404, naming the field.
        return Err(Error::NotFound(format!(
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
        if values
            .iter()
            .any(|v| v.is_empty() || v.chars().count() > 256)
        {
            return Err(Error::invalid(format!(
                "{field}.{k}: values must be 1 to 256 characters"
            )));
        }
    }
    Ok(())
}

/// A list field that LaunchDarkly's API names differently, given under our name, under
/// LaunchDarkly's (`alias`), or both: both must hold the same values, in any order and with
/// repeats ignored, else the request is refused naming both fields. Neither gives an empty list.
/// Returns the list with the name it came by, for errors about its values.
pub(crate) fn aliased_list<'a>(
    (name, ours): (&'a str, Option<Vec<String>>),
    (alias, theirs): (&'a str, Option<Vec<String>>),
) -> Result<(&'a str, Vec<String>)> {
    match (ours, theirs) {
        (Some(ours), Some(theirs)) => {
            let as_set = |list: &[String]| {
                let mut list = list.to_vec();
                list.sort();
                list.dedup();
                list
            };
            if as_set(&ours) != as_set(&theirs) {
                return Err(Error::invalid(format!(
                    "{name} and {alias} (LaunchDarkly's name for {name}) differ: give one of them, or the same values in both"
                )));
            }
            Ok((name, ours))
        }
        (Some(ours), None) => Ok((name, ours)),
        (None, Some(theirs)) => Ok((alias, theirs)),
        (None, None) => Ok((name, Vec::new())),
    }
}

async fn active_owner_count(db: &impl ConnectionTrait) -> Result<usize> {
    Ok(entity::member::Entity::find()
        .filter(entity::member::Column::Role.eq("owner"))
        .all(db)
        .await?
        .len())
}

impl Service {
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

    /// Changes the fields a patch sets, each under its own permission; deactivating revokes
    /// the member's tokens and sessions in the same transaction.
    pub async fn update_member(&self, ctx: &Ctx, id: &str, patch: MemberPatch) -> Result<Member> {
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), id).await?;
        check_version(patch.version, m.version, "member")?;
        let before = to_rep(tx.db(), &m).await?;
        let change = decide_change(tx.db(), &ctx.principal, &m, &patch).await?;
        if change.actions.is_empty() {
            // An empty patch changes nothing, as an empty merge patch does: no entry.
            drop(tx);
            return self.get_member(ctx, id).await;
        }
        let (updated, revoked) = write_change(&tx, &m, &change).await?;
        let after = to_rep(tx.db(), &updated).await?;
        tx.audit(update_audit(
            &m,
            &change.actions,
            revoked,
            (&before, &after),
            patch.comment,
        )?);
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

/// A member patch, authorized and checked, not yet written.
#[derive(Debug, Default)]
struct MemberChange {
    first_name: Option<String>,
    last_name: Option<String>,
    role: Option<BaseRole>,
    custom_roles: Option<Vec<String>>,
    role_attributes: Option<RoleAttributes>,
    status: Option<String>,
    /// The actions exercised, in the order the fields are checked.
    actions: Vec<&'static str>,
    /// Deactivating an active member revokes its tokens and sessions.
    revoke: bool,
}

/// Authorizes and checks each field the patch sets, in a fixed order (names, role, custom
/// roles, role attributes, status), so the first refusal is always the same one.
async fn decide_change(
    db: &impl ConnectionTrait,
    principal: &Principal,
    m: &entity::member::Model,
    patch: &MemberPatch,
) -> Result<MemberChange> {
    let res = Resource::member(&m.id);
    let is_owner = m.role == "owner";
    let mut change = MemberChange::default();
    if patch.first_name.is_some() || patch.last_name.is_some() {
        authorize(principal, "updateMemberName", &res)?;
        if let Some(f) = &patch.first_name {
            super::util::plain("firstName", f)?;
        }
        if let Some(l) = &patch.last_name {
            super::util::plain("lastName", l)?;
        }
        change.first_name = patch.first_name.clone().map(String::from);
        change.last_name = patch.last_name.clone().map(String::from);
        change.actions.push("updateMemberName");
    }
    if let Some(role) = &patch.role {
        change.role = Some(decide_role(db, principal, &res, is_owner, role).await?);
        change.actions.push("updateRole");
    }
    if let Some(keys) = &patch.custom_roles {
        authorize(principal, "updateCustomRole", &res)?;
        change.custom_roles =
            Some(check_custom_roles(db, "customRoles", &Spelled::texts(keys)).await?);
        change.actions.push("updateCustomRole");
    }
    if let Some(attrs) = &patch.role_attributes {
        authorize(principal, "updateMemberRoleAttributes", &res)?;
        check_role_attributes("roleAttributes", attrs)?;
        change.role_attributes = Some(attrs.0.clone());
        change.actions.push("updateMemberRoleAttributes");
    }
    if let Some(status) = &patch.status {
        check_status(status)?;
        authorize(principal, "updateMemberStatus", &res)?;
        change.revoke = deactivation_revokes(is_owner, &m.status, status)?;
        change.status = Some(status.clone());
        change.actions.push("updateMemberStatus");
    }
    if change.custom_roles.is_some() || change.role_attributes.is_some() {
        let roles = match &change.custom_roles {
            Some(roles) => roles.clone(),
            None => from_json(&m.custom_roles)?,
        };
        let attrs = match &change.role_attributes {
            Some(attrs) => attrs.clone(),
            None => from_json(&m.role_attributes)?,
        };
        check_role_requirements(db, "customRoles", &roles, &attrs).await?;
    }
    Ok(change)
}

/// Checks a base-role change: `updateRole`, and for a change touching the owner also
/// `updateAccountOwner`, the demotion rule and the one-owner rule.
async fn decide_role(
    db: &impl ConnectionTrait,
    principal: &Principal,
    res: &Resource,
    is_owner: bool,
    role: &str,
) -> Result<BaseRole> {
    let role = parse_role("role", role)?;
    authorize(principal, "updateRole", res)?;
    let effect = owner_effect(is_owner, role);
    if effect != OwnerEffect::Unaffected {
        // Ownership moves only by the owner's own hand, and never leaves the account ownerless.
        authorize(principal, "updateAccountOwner", &Resource::acct())?;
    }
    match effect {
        OwnerEffect::Demotion => Err(Error::conflict(
            "role: the owner cannot be demoted; make another member owner first",
        )),
        OwnerEffect::Promotion if active_owner_count(db).await? > 0 => Err(Error::conflict(
            "role: the account already has its one owner",
        )),
        _ => Ok(role),
    }
}

/// How a base-role change touches the account's one owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnerEffect {
    /// Neither the member nor the new role is the owner.
    Unaffected,
    /// The owner stays owner.
    OwnerStays,
    /// The owner would lose the role: refused.
    Demotion,
    /// Another member would become owner: only while the account has none.
    Promotion,
}

fn owner_effect(is_owner: bool, role: BaseRole) -> OwnerEffect {
    match (is_owner, role == BaseRole::Owner) {
        (false, false) => OwnerEffect::Unaffected,
        (true, true) => OwnerEffect::OwnerStays,
        (true, false) => OwnerEffect::Demotion,
        (false, true) => OwnerEffect::Promotion,
    }
}

fn check_status(status: &str) -> Result<()> {
    if status != "active" && status != "deactivated" {
        return Err(Error::invalid(format!(
            "status: {status:?} is not active or deactivated"
        )));
    }
    Ok(())
}

/// Whether setting `status` revokes the member's credentials: only deactivating an active
/// member does. The owner is never deactivated.
fn deactivation_revokes(is_owner: bool, current: &str, status: &str) -> Result<bool> {
    if is_owner && status == "deactivated" {
        return Err(Error::conflict("status: the owner cannot be deactivated"));
    }
    Ok(status == "deactivated" && current == "active")
}

/// Writes the change: a deactivation's revocations first, then the row at its next version.
/// Returns the row and how many tokens and sessions were revoked.
async fn write_change(
    tx: &WriteTx<'_>,
    m: &entity::member::Model,
    change: &MemberChange,
) -> Result<(entity::member::Model, (u64, u64))> {
    let revoked = if change.revoke {
        revoke_member_credentials(tx, &m.id).await?
    } else {
        (0, 0)
    };
    let mut am: entity::member::ActiveModel = m.clone().into();
    if let Some(f) = &change.first_name {
        am.first_name = Set(Some(f.clone()));
    }
    if let Some(l) = &change.last_name {
        am.last_name = Set(Some(l.clone()));
    }
    let source = tx.ctx().principal.grant_source();
    if let Some(role) = change.role {
        set_role(&mut am, role, &source)?;
    }
    if let Some(roles) = &change.custom_roles {
        set_custom_roles(&mut am, roles, |_| source.clone())?;
    }
    if let Some(attrs) = &change.role_attributes {
        am.role_attributes = Set(to_json(attrs)?);
    }
    if let Some(status) = &change.status {
        am.status = Set(status.clone());
    }
    am.version = Set(m.version + 1);
    am.updated_at = Set(tx.now_ms());
    Ok((am.update(tx.db()).await?, revoked))
}

/// The audit entry of a member update: one access per action exercised.
fn update_audit(
    m: &entity::member::Model,
    actions: &[&str],
    revoked: (u64, u64),
    (before, after): (&Member, &Member),
    comment: Option<String>,
) -> Result<AuditDraft> {
    let res = Resource::member(&m.id);
    // `new` sets the target; the accesses are exactly the actions exercised.
    let mut draft = AuditDraft::new("member", &m.email, "updateRole", &res);
    draft.accesses.clear();
    for action in actions {
        draft = draft.access(action, &res);
    }
    Ok(draft
        .describe(update_description(&m.email, revoked))
        .before(Some(snapshot(before)?))
        .after(Some(snapshot(after)?))
        .comment(comment))
}

/// What a member update did, in words, counting what a deactivation revoked.
fn update_description(email: &str, (tokens, sessions): (u64, u64)) -> String {
    let mut description = format!("updated member {email}");
    if tokens > 0 {
        description.push_str(&format!("; revoked {tokens} token(s)"));
    }
    if sessions > 0 {
        description.push_str(&format!("; ended {sessions} session(s)"));
    }
    description
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(values: &[&str]) -> Option<Vec<String>> {
        Some(values.iter().map(|v| v.to_string()).collect())
    }

    #[test]
    fn an_aliased_list_comes_from_either_name() {
        let ours = |v| ("customRoles", v);
        let alias = |v| ("customRoleKeys", v);
        let given = |name: &str, values: &[&str]| (name.to_owned(), list(values).unwrap());
        let got = |r: Result<(&str, Vec<String>)>| {
            let (name, values) = r.unwrap();
            (name.to_owned(), values)
        };
        assert_eq!(
            got(aliased_list(ours(list(&["a"])), alias(None))),
            given("customRoles", &["a"])
        );
        assert_eq!(
            got(aliased_list(ours(None), alias(list(&["b", "a"])))),
            given("customRoleKeys", &["b", "a"])
        );
        assert_eq!(
            got(aliased_list(ours(None), alias(None))),
            given("customRoles", &[])
        );
        // The same values twice are one statement, whatever their order or repeats.
        assert_eq!(
            got(aliased_list(
                ours(list(&["a", "b"])),
                alias(list(&["b", "a", "a"]))
            )),
            given("customRoles", &["a", "b"])
        );
        assert_eq!(
            got(aliased_list(ours(list(&[])), alias(list(&[])))),
            given("customRoles", &[])
        );
    }

    #[test]
    fn an_aliased_list_given_twice_differently_names_both_fields() {
        for (ours, theirs) in [
            (list(&["a"]), list(&["b"])),
            (list(&[]), list(&["a"])),
            (list(&["a", "b"]), list(&["a"])),
        ] {
            let err = aliased_list(("memberIds", ours), ("memberIDs", theirs)).unwrap_err();
            assert!(matches!(err, Error::InvalidRequest(_)));
            assert_eq!(
                err.to_string(),
                "memberIds and memberIDs (LaunchDarkly's name for memberIds) differ: give one of them, or the same values in both"
            );
        }
    }

    #[test]
    fn only_the_owner_moves_ownership_and_never_away() {
        use OwnerEffect::*;
        assert_eq!(owner_effect(false, BaseRole::Writer), Unaffected);
        assert_eq!(owner_effect(true, BaseRole::Owner), OwnerStays);
        assert_eq!(owner_effect(true, BaseRole::Admin), Demotion);
        assert_eq!(owner_effect(false, BaseRole::Owner), Promotion);
    }

    #[test]
    fn a_status_is_active_or_deactivated() {
        assert!(check_status("active").is_ok());
        assert!(check_status("deactivated").is_ok());
        let err = check_status("suspended").unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)));
        assert_eq!(
            err.to_string(),
            r#"status: "suspended" is not active or deactivated"#
        );
    }

    #[test]
    fn deactivating_an_active_member_revokes_but_never_the_owner() {
        assert!(deactivation_revokes(false, "active", "deactivated").unwrap());
        assert!(!deactivation_revokes(false, "deactivated", "deactivated").unwrap());
        assert!(!deactivation_revokes(false, "deactivated", "active").unwrap());
        assert!(!deactivation_revokes(true, "active", "active").unwrap());
        let err = deactivation_revokes(true, "active", "deactivated").unwrap_err();
        assert!(matches!(err, Error::Conflict(_)));
        assert_eq!(err.to_string(), "status: the owner cannot be deactivated");
    }

    #[test]
    fn the_description_counts_what_was_revoked() {
        assert_eq!(
            update_description("ada@example.com", (0, 0)),
            "updated member ada@example.com"
        );
        assert_eq!(
            update_description("ada@example.com", (2, 1)),
            "updated member ada@example.com; revoked 2 token(s); ended 1 session(s)"
        );
        assert_eq!(
            update_description("ada@example.com", (0, 3)),
            "updated member ada@example.com; ended 3 session(s)"
        );
    }
}
