//! `POST /api/v2/access/who`: every active member and live token allowed an action on a
//! resource, or on each stored resource a glob names, with the statement that decided.
//!
//! Members are grouped by their policy inputs (base role, own custom roles and attributes,
//! the role-holding teams they are on), and each group's policy is composed by the same
//! `policy_of` a single check uses, then decided once per resource: the work grows with the
//! number of distinct grants, not of people. Equal answers share one entry of `grants`,
//! which members and tokens point at, so the answer grows with people plus grants, never with
//! people times resources.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{ActionName, Attributes, DecidedByRep, resolve};
use crate::domain::policy::who::{
    Allowance, MAX_WHO_RESOURCES, ResourceScope, allowances, member_keys_named,
};
use crate::domain::policy::{
    ActionId, BaseRole, CompiledRole, Decision, DecisionReason, Effect, Resource, ResourceType,
    Specifier,
};
use crate::error::{Error, Result};
use crate::service::authz::{authorize, decides_alike_for_every};
use crate::service::principal::{AccessPolicy, token_is_live};
use crate::service::spelled::{FilterSpecifier, Spelled};
use crate::service::util::from_json;
use crate::service::{Ctx, Principal, Service, environments, member_rows, projects};

/// Body of `POST /api/v2/access/who`.
#[derive(Debug, Clone, poem_openapi::Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct WhoCan {
    pub action: ActionName,
    /// A concrete resource (tags and properties come from the stored one, as in
    /// `/access/check`), or a specifier with globs such as `proj/shop:env/production:flag/*`,
    /// answered for each stored resource it matches (at most 1000).
    pub resource: Spelled<FilterSpecifier>,
}

/// One resource a principal is allowed on, and why.
#[derive(Debug, Clone, serde::Serialize, poem_openapi::Object)]
#[oai(rename_all = "camelCase")]
pub struct AllowedOn {
    /// The resource as evaluated, with its stored tags and properties.
    pub resource: String,
    /// The deciding statement of the member's roles (for a service token, of its own
    /// grant): what `/access/check` names for the member. Null for an implicit allow.
    #[oai(nullable)]
    pub decided_by: Option<DecidedByRep>,
    /// `statement`, `basePermissions` or `viewProjectDefault`, as `/access/check` says.
    pub reason: String,
    /// For a personal token with a grant of its own (which limits its member's access):
    /// the statement of that grant that allowed.
    #[oai(skip_serializing_if_is_none)]
    pub token_decided_by: Option<DecidedByRep>,
    /// The reason of the token's own grant, when it has one.
    #[oai(skip_serializing_if_is_none)]
    pub token_reason: Option<String>,
}

/// One distinct way of being allowed: the resources allowed and why. Members and tokens with
/// the same answer share it.
#[derive(Debug, Clone, serde::Serialize, poem_openapi::Object)]
#[oai(rename_all = "camelCase")]
pub struct Grant {
    pub allowed: Vec<AllowedOn>,
}

/// A member allowed on at least one of the resources.
#[derive(Debug, Clone, serde::Serialize, poem_openapi::Object)]
#[oai(rename_all = "camelCase")]
pub struct MemberAllowed {
    pub id: String,
    pub email: String,
    /// Index into `grants`.
    pub grant: u32,
}

/// A live token allowed on at least one of the resources.
#[derive(Debug, Clone, serde::Serialize, poem_openapi::Object)]
#[oai(rename_all = "camelCase")]
pub struct TokenAllowed {
    pub id: String,
    pub name: String,
    pub service_token: bool,
    /// The member a personal token acts as.
    #[oai(skip_serializing_if_is_none)]
    pub owner_id: Option<String>,
    /// Index into `grants`.
    pub grant: u32,
}

/// The answer of `POST /api/v2/access/who`.
#[derive(Debug, Clone, serde::Serialize, poem_openapi::Object)]
#[oai(rename_all = "camelCase")]
pub struct WhoCanResult {
    pub action: String,
    /// The resource as asked.
    pub resource: String,
    /// The resources answered for, as evaluated: the one asked about, or the stored ones
    /// the glob matches.
    pub resources: Vec<String>,
    /// The distinct answers, which `members[].grant` and `tokens[].grant` point at.
    pub grants: Vec<Grant>,
    /// Active members allowed on at least one resource, by email; only those the caller may
    /// `viewMember`.
    pub members: Vec<MemberAllowed>,
    /// Live tokens allowed on at least one resource, by name; only those the caller may
    /// `viewToken`.
    pub tokens: Vec<TokenAllowed>,
    pub total_members: u64,
    pub total_tokens: u64,
}

/// An active member's policy inputs, as stored.
struct PersonRow {
    id: String,
    email: String,
    role: String,
    custom_roles: String,
    role_attributes: String,
}

/// What every member of a group holds alike.
#[derive(Clone, PartialEq, Eq, Hash)]
struct PolicyInputs {
    role: String,
    custom_roles: String,
    role_attributes: String,
    /// Indexes into the role-holding teams, in team id order (as `assignments` reads them).
    teams: Vec<u32>,
    /// Set when the resources name this member, whose own statements may then decide.
    own_id: Option<String>,
}

/// A team that holds custom roles.
struct RoleTeam {
    id: String,
    assigned: Vec<(String, Attributes)>,
}

/// One group of members, decided once.
struct DecidedGroup {
    policy: AccessPolicy,
    allowances: Vec<Allowance>,
}

/// Distinct answers, numbered in order of first use.
#[derive(Default)]
struct GrantBook {
    by_answer: HashMap<String, u32>,
    grants: Vec<Grant>,
}

impl GrantBook {
    /// The number of this answer, or None when it allows nothing.
    fn number(&mut self, allowed: Vec<AllowedOn>) -> Result<Option<u32>> {
        if allowed.is_empty() {
            return Ok(None);
        }
        let answer = serde_json::to_string(&allowed).map_err(Error::internal)?;
        if let Some(n) = self.by_answer.get(&answer) {
            return Ok(Some(*n));
        }
        let n = u32::try_from(self.grants.len()).map_err(Error::internal)?;
        self.grants.push(Grant { allowed });
        self.by_answer.insert(answer, n);
        Ok(Some(n))
    }
}

impl Service {
    /// Every active member and live token allowed `action` on the resource (or on each
    /// stored resource a glob names), with the deciding statement: the same decision
    /// `/access/check` takes for each member.
    pub async fn who_can(&self, ctx: &Ctx, input: WhoCan) -> Result<WhoCanResult> {
        let action = crate::domain::policy::lookup(&input.action.0).ok_or_else(|| {
            Error::invalid(format!(
                "action: {:?} is not in the action catalogue (GET /api/v2/actions)",
                input.action.0
            ))
        })?;
        let resources = self.resources_named(&input.resource.text).await?;
        let people = active_people(self.db()).await?;
        let teams = role_teams(self.db()).await?;
        let teams_of = role_team_memberships(self.db(), &teams).await?;
        let named = member_keys_named(&resources);
        let (inputs, group_of) = group_people(&people, &teams_of, &named);
        let mut groups = Vec::with_capacity(inputs.len());
        for (group_inputs, representative) in &inputs {
            groups.push(
                self.decide_group(group_inputs, representative, &teams, action, &resources)
                    .await?,
            );
        }
        let mut book = GrantBook::default();
        let members = visible_members(ctx, &people, &group_of, &groups, &resources, &mut book)?;
        let tokens = self
            .tokens_allowed(
                ctx, &people, &group_of, &groups, action, &resources, &mut book,
            )
            .await?;
        Ok(WhoCanResult {
            action: input.action.0,
            resource: input.resource.text,
            resources: resources.iter().map(ToString::to_string).collect(),
            grants: book.grants,
            total_members: members.len() as u64,
            total_tokens: tokens.len() as u64,
            members,
            tokens,
        })
    }

    /// The resource asked about, resolved as `/access/check` resolves it, or the stored
    /// resources a glob names (at most `MAX_WHO_RESOURCES`).
    async fn resources_named(&self, text: &str) -> Result<Vec<Resource>> {
        if let Ok(concrete) = text.parse::<Resource>() {
            return Ok(vec![resolve(self.db(), concrete).await?]);
        }
        let spec = Specifier::parse(text).map_err(|e| Error::invalid(format!("resource: {e}")))?;
        let scope = ResourceScope::new(&spec)
            .map_err(|e| Error::invalid(format!("resource: {}", e.message)))?;
        let mut found = StoredResources {
            scope: &scope,
            text,
            found: Vec::new(),
        };
        match scope.kind() {
            ResourceType::Proj
            | ResourceType::Env
            | ResourceType::Flag
            | ResourceType::Var
            | ResourceType::Request => found.in_projects(self.db()).await?,
            ResourceType::Segment => {
                return Err(Error::invalid(
                    "resource: segments are not stored here, so a glob names none; name one segment",
                ));
            }
            kind => found.top_level(self.db(), kind).await?,
        }
        Ok(found.found)
    }

    /// Composes a group's policy as `member_policy` composes a member's, and decides it on
    /// every resource.
    async fn decide_group(
        &self,
        inputs: &PolicyInputs,
        representative: &str,
        teams: &[RoleTeam],
        action: ActionId,
        resources: &[Resource],
    ) -> Result<DecidedGroup> {
        let base = member_rows::parse_role("role", &inputs.role)?;
        let attributes: Attributes = from_json(&inputs.role_attributes)?;
        let mut assigned: Vec<(String, Attributes)> =
            from_json::<Vec<String>>(&inputs.custom_roles)?
                .into_iter()
                .map(|key| (key, attributes.clone()))
                .collect();
        for &t in &inputs.teams {
            if let Some(team) = teams.get(t as usize) {
                assigned.extend(team.assigned.iter().cloned());
            }
        }
        let policy = self
            .policy_of(self.db(), base, &assigned, representative)
            .await?;
        let allowances = allowances(&policy.roles, None, action, resources);
        Ok(DecidedGroup { policy, allowances })
    }

    /// Live tokens allowed on at least one resource: a service token by its grant, a personal
    /// token by its member's policy limited by its own grant, as authentication decides.
    #[allow(clippy::too_many_arguments)]
    async fn tokens_allowed(
        &self,
        ctx: &Ctx,
        people: &[PersonRow],
        group_of: &[u32],
        groups: &[DecidedGroup],
        action: ActionId,
        resources: &[Resource],
        book: &mut GrantBook,
    ) -> Result<Vec<TokenAllowed>> {
        let now = self.now_ms();
        let rows = entity::api_token::Entity::find()
            .filter(entity::api_token::Column::RevokedAt.is_null())
            .order_by_asc(entity::api_token::Column::Name)
            .order_by_asc(entity::api_token::Column::Id)
            .all(self.db())
            .await?;
        let sso_only = self.sso_only().await?;
        let owners: HashMap<&str, usize> = {
            let wanted: BTreeSet<&str> =
                rows.iter().filter_map(|t| t.owner_id.as_deref()).collect();
            people
                .iter()
                .enumerate()
                .filter(|(_, p)| wanted.contains(p.id.as_str()))
                .map(|(i, p)| (p.id.as_str(), i))
                .collect()
        };
        let mut out = Vec::new();
        for token in rows {
            if !token_is_live(token.revoked_at, token.expires_at, now) {
                continue;
            }
            let token_role = token
                .role
                .as_deref()
                .map(|r| {
                    BaseRole::parse(r)
                        .ok_or_else(|| Error::internal("stored token role is unknown"))
                })
                .transpose()?;
            let custom_roles: Vec<String> = from_json(&token.custom_roles)?;
            let allowed = match &token.owner_id {
                None => {
                    let grant = self
                        .token_grant(
                            self.db(),
                            token_role,
                            &custom_roles,
                            token.inline_role.as_deref(),
                            None,
                        )
                        .await?
                        .unwrap_or(AccessPolicy { roles: Vec::new() });
                    let decided = allowances(&grant.roles, None, action, resources);
                    render(&decided, &grant, None, resources)
                }
                Some(owner_id) => {
                    let Some(&person) = owners.get(owner_id.as_str()) else {
                        continue; // the member is gone or deactivated: the token does not work
                    };
                    let Some(owner) = people.get(person) else {
                        continue;
                    };
                    if sso_only && owner.role != "owner" {
                        continue; // under SSO-only sign-in, members' personal tokens do not work
                    }
                    let Some(group) = group_of.get(person).and_then(|g| groups.get(*g as usize))
                    else {
                        continue;
                    };
                    let limit = self
                        .token_grant(self.db(), token_role, &custom_roles, None, Some(owner_id))
                        .await?;
                    match &limit {
                        None => render(&group.allowances, &group.policy, None, resources),
                        Some(limit) => {
                            let decided = allowances(
                                &group.policy.roles,
                                Some(&limit.roles),
                                action,
                                resources,
                            );
                            render(&decided, &group.policy, Some(limit), resources)
                        }
                    }
                }
            };
            let visible = authorize(&ctx.principal, "viewToken", &token_resource(&token)).is_ok();
            if !visible {
                continue;
            }
            if let Some(grant) = book.number(allowed)? {
                out.push(TokenAllowed {
                    id: token.id,
                    name: token.name,
                    service_token: token.service_token,
                    owner_id: token.owner_id,
                    grant,
                });
            }
        }
        Ok(out)
    }
}

/// Stored resources a glob names, gathered level by level, refusing past the bound.
struct StoredResources<'a> {
    scope: &'a ResourceScope,
    text: &'a str,
    found: Vec<Resource>,
}

impl StoredResources<'_> {
    /// Keeps `candidate` when the glob matches it whole.
    fn offer(&mut self, candidate: Resource) -> Result<()> {
        if candidate.segments.len() != self.scope.depth() || !self.scope.admits(&candidate) {
            return Ok(());
        }
        if self.found.len() >= MAX_WHO_RESOURCES {
            return Err(Error::invalid(format!(
                "resource: {} matches more than {MAX_WHO_RESOURCES} stored resources; narrow it (name the project and environment, or a key prefix)",
                self.text
            )));
        }
        self.found.push(candidate);
        Ok(())
    }

    /// Projects, their environments, and the flags, variables or approval requests in them.
    async fn in_projects(&mut self, db: &impl ConnectionTrait) -> Result<()> {
        use entity::{approval_request, env_variable, environment, project};
        let depth = self.scope.depth();
        for p in project::Entity::find()
            .order_by_asc(project::Column::Key)
            .all(db)
            .await?
        {
            let pr = projects::resource(&p)?;
            if !self.scope.admits(&pr) {
                continue;
            }
            if depth == 1 {
                self.offer(pr)?;
                continue;
            }
            let mut flags: Option<Vec<(String, Vec<String>)>> = None;
            for e in environment::Entity::find()
                .filter(environment::Column::ProjectId.eq(p.id.clone()))
                .order_by_asc(environment::Column::Key)
                .all(db)
                .await?
            {
                let er = environments::resource(&p, &e)?;
                if !self.scope.admits(&er) {
                    continue;
                }
                match self.scope.kind() {
                    ResourceType::Flag => {
                        if flags.is_none() {
                            flags = Some(flag_tags(db, &p.id).await?);
                        }
                        for (key, tags) in flags.iter().flatten() {
                            self.offer(er.clone().flag(key.clone(), tags))?;
                        }
                    }
                    ResourceType::Var => {
                        for v in env_variable::Entity::find()
                            .filter(env_variable::Column::EnvironmentId.eq(e.id.clone()))
                            .order_by_asc(env_variable::Column::Name)
                            .all(db)
                            .await?
                        {
                            self.offer(er.clone().var(v.name))?;
                        }
                    }
                    ResourceType::Request => {
                        for r in approval_request::Entity::find()
                            .filter(approval_request::Column::EnvironmentId.eq(e.id.clone()))
                            .order_by_asc(approval_request::Column::Id)
                            .all(db)
                            .await?
                        {
                            self.offer(er.clone().request(r.id))?;
                        }
                    }
                    _ => self.offer(er)?,
                }
            }
        }
        Ok(())
    }

    /// Members, personal and service tokens, teams, roles, connections and webhooks.
    async fn top_level(&mut self, db: &impl ConnectionTrait, kind: ResourceType) -> Result<()> {
        use entity::{api_token, connection, custom_role, member, team, webhook};
        let candidates: Vec<Resource> = match kind {
            ResourceType::Member => keys(db, member::Entity::find(), member::Column::Id)
                .await?
                .into_iter()
                .map(Resource::member)
                .collect(),
            ResourceType::Token => api_token::Entity::find()
                .select_only()
                .columns([api_token::Column::OwnerId, api_token::Column::Id])
                .filter(api_token::Column::OwnerId.is_not_null())
                .order_by_asc(api_token::Column::OwnerId)
                .order_by_asc(api_token::Column::Id)
                .into_tuple::<(Option<String>, String)>()
                .all(db)
                .await?
                .into_iter()
                .filter_map(|(owner, id)| owner.map(|o| Resource::member(o).token(id)))
                .collect(),
            ResourceType::ServiceToken => api_token::Entity::find()
                .select_only()
                .column(api_token::Column::Id)
                .filter(api_token::Column::OwnerId.is_null())
                .order_by_asc(api_token::Column::Id)
                .into_tuple::<String>()
                .all(db)
                .await?
                .into_iter()
                .map(Resource::service_token)
                .collect(),
            ResourceType::Team => keys(db, team::Entity::find(), team::Column::Key)
                .await?
                .into_iter()
                .map(Resource::team)
                .collect(),
            ResourceType::Role => keys(db, custom_role::Entity::find(), custom_role::Column::Key)
                .await?
                .into_iter()
                .map(Resource::role)
                .collect(),
            ResourceType::Connection => {
                keys(db, connection::Entity::find(), connection::Column::Key)
                    .await?
                    .into_iter()
                    .map(Resource::connection)
                    .collect()
            }
            ResourceType::Webhook => keys(db, webhook::Entity::find(), webhook::Column::Id)
                .await?
                .into_iter()
                .map(Resource::webhook)
                .collect(),
            _ => vec![Resource::acct()],
        };
        for candidate in candidates {
            self.offer(candidate)?;
        }
        Ok(())
    }
}

/// One text column of every row, in order.
async fn keys<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: sea_orm::Select<E>,
    column: E::Column,
) -> Result<Vec<String>> {
    Ok(select
        .select_only()
        .column(column)
        .order_by_asc(column)
        .into_tuple::<String>()
        .all(db)
        .await?)
}

/// A project's flags with their stored tags, by key.
async fn flag_tags(
    db: &impl ConnectionTrait,
    project_id: &str,
) -> Result<Vec<(String, Vec<String>)>> {
    let rows = entity::flag::Entity::find()
        .filter(entity::flag::Column::ProjectId.eq(project_id.to_owned()))
        .order_by_asc(entity::flag::Column::Key)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|f| {
            let tags = from_json::<crate::domain::flag::FlagSettings>(&f.settings)?.tags;
            Ok((f.key, tags))
        })
        .collect()
}

/// Every active member's policy inputs, by email.
async fn active_people(db: &impl ConnectionTrait) -> Result<Vec<PersonRow>> {
    use entity::member::Column as C;
    let rows: Vec<(String, String, String, String, String)> = entity::member::Entity::find()
        .select_only()
        .columns([C::Id, C::Email, C::Role, C::CustomRoles, C::RoleAttributes])
        .filter(C::Status.eq("active"))
        .order_by_asc(C::EmailLower)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, email, role, custom_roles, role_attributes)| PersonRow {
                id,
                email,
                role,
                custom_roles,
                role_attributes,
            },
        )
        .collect())
}

/// The teams that hold custom roles, in team id order, with their assignments.
async fn role_teams(db: &impl ConnectionTrait) -> Result<Vec<RoleTeam>> {
    let mut out = Vec::new();
    for team in entity::team::Entity::find()
        .order_by_asc(entity::team::Column::Id)
        .all(db)
        .await?
    {
        let roles: Vec<String> = from_json(&team.custom_roles)?;
        if roles.is_empty() {
            continue;
        }
        let attributes: Attributes = from_json(&team.role_attributes)?;
        out.push(RoleTeam {
            id: team.id,
            assigned: roles.into_iter().map(|k| (k, attributes.clone())).collect(),
        });
    }
    Ok(out)
}

/// Member id -> indexes of the role-holding teams the member is on, ascending (team id
/// order, since `teams` is in it).
async fn role_team_memberships(
    db: &impl ConnectionTrait,
    teams: &[RoleTeam],
) -> Result<HashMap<String, Vec<u32>>> {
    let mut out: HashMap<String, Vec<u32>> = HashMap::new();
    if teams.is_empty() {
        return Ok(out);
    }
    let index: HashMap<&str, u32> = teams
        .iter()
        .enumerate()
        .filter_map(|(i, t)| Some((t.id.as_str(), u32::try_from(i).ok()?)))
        .collect();
    use entity::team_member::Column as C;
    let rows: Vec<(String, String)> = entity::team_member::Entity::find()
        .select_only()
        .columns([C::MemberId, C::TeamId])
        .filter(C::TeamId.is_in(teams.iter().map(|t| t.id.clone())))
        .into_tuple()
        .all(db)
        .await?;
    for (member_id, team_id) in rows {
        if let Some(&i) = index.get(team_id.as_str()) {
            out.entry(member_id).or_default().push(i);
        }
    }
    for list in out.values_mut() {
        list.sort_unstable();
    }
    Ok(out)
}

/// Groups people by identical policy inputs: the distinct inputs, each with the id of a
/// member holding them, and each person's group.
fn group_people(
    people: &[PersonRow],
    teams_of: &HashMap<String, Vec<u32>>,
    named: &BTreeSet<&str>,
) -> (Vec<(PolicyInputs, String)>, Vec<u32>) {
    let mut index: HashMap<PolicyInputs, u32> = HashMap::new();
    let mut inputs: Vec<(PolicyInputs, String)> = Vec::new();
    let mut group_of = Vec::with_capacity(people.len());
    for person in people {
        // A member's own statements can single it out only where the resources name it (a
        // glob character in an id would match others: such an id is its own group too).
        let own = named.contains(person.id.as_str()) || person.id.contains(['*', '?']);
        let key = PolicyInputs {
            role: person.role.clone(),
            custom_roles: person.custom_roles.clone(),
            role_attributes: person.role_attributes.clone(),
            teams: teams_of.get(&person.id).cloned().unwrap_or_default(),
            own_id: own.then(|| person.id.clone()),
        };
        let next = u32::try_from(inputs.len()).unwrap_or(u32::MAX);
        let group = *index.entry(key.clone()).or_insert_with(|| {
            inputs.push((key, person.id.clone()));
            next
        });
        group_of.push(group);
    }
    (inputs, group_of)
}

/// The allowed members the caller may view, each pointing at its group's answer.
fn visible_members(
    ctx: &Ctx,
    people: &[PersonRow],
    group_of: &[u32],
    groups: &[DecidedGroup],
    resources: &[Resource],
    book: &mut GrantBook,
) -> Result<Vec<MemberAllowed>> {
    let mut numbers: Vec<Option<u32>> = Vec::with_capacity(groups.len());
    for group in groups {
        numbers.push(book.number(render(&group.allowances, &group.policy, None, resources))?);
    }
    let may_view = |p: &Principal, id: &str| {
        authorize(p, "viewMember", &Resource::member(id.to_owned())).is_ok()
    };
    // Usually the caller sees every member or none: decided once, not 100,000 times.
    let alike = decides_alike_for_every(&ctx.principal, ResourceType::Member, "viewMember");
    let everyone = alike && may_view(&ctx.principal, "*");
    let mut out = Vec::new();
    if alike && !everyone {
        return Ok(out);
    }
    for (person, group) in people.iter().zip(group_of) {
        let Some(Some(grant)) = numbers.get(*group as usize) else {
            continue;
        };
        if !alike && !may_view(&ctx.principal, &person.id) {
            continue;
        }
        out.push(MemberAllowed {
            id: person.id.clone(),
            email: person.email.clone(),
            grant: *grant,
        });
    }
    Ok(out)
}

/// The resource a token is, as `viewToken` is decided on it.
fn token_resource(token: &entity::api_token::Model) -> Resource {
    match &token.owner_id {
        Some(owner) => Resource::member(owner.clone()).token(token.id.clone()),
        None => Resource::service_token(token.id.clone()),
    }
}

/// Allowances as the answer shows them, naming roles by key as `/access/check` does.
fn render(
    allowed: &[Allowance],
    policy: &AccessPolicy,
    limit: Option<&AccessPolicy>,
    resources: &[Resource],
) -> Vec<AllowedOn> {
    allowed
        .iter()
        .map(|a| AllowedOn {
            resource: resources
                .get(a.resource)
                .map(ToString::to_string)
                .unwrap_or_default(),
            decided_by: decided_by(&a.decision, &policy.roles),
            reason: reason(&a.decision).to_owned(),
            token_decided_by: limit
                .zip(a.limit)
                .and_then(|(l, d)| decided_by(&d, &l.roles)),
            token_reason: a.limit.map(|d| reason(&d).to_owned()),
        })
        .collect()
}

fn decided_by(decision: &Decision, roles: &[Arc<CompiledRole>]) -> Option<DecidedByRep> {
    decision.decided_by.map(|d| DecidedByRep {
        role: roles
            .get(d.role_index)
            .map(|r| r.key().to_owned())
            .unwrap_or_default(),
        statement_index: d.statement_index as u64,
        effect: match d.effect {
            Effect::Allow => "allow".to_owned(),
            Effect::Deny => "deny".to_owned(),
        },
    })
}

/// The reason's name, as `/access/check` spells it.
pub(super) fn reason(decision: &Decision) -> &'static str {
    match decision.reason {
        DecisionReason::Statement => "statement",
        DecisionReason::BasePermissions { .. } => "basePermissions",
        DecisionReason::ViewProjectDefault { .. } => "viewProjectDefault",
        DecisionReason::NotMatched => "notMatched",
        DecisionReason::UnknownAction => "unknownAction",
    }
}
