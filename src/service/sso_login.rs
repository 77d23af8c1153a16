//! Completing an SSO sign-in: the verified identity becomes a member (just in time), its
//! names, base role, custom roles and teams follow the IdP through the connection's mapping
//! rules (the same rules as SCIM), and a session opens - all in one transaction with its
//! audit entries, the connection acting as `Actor::App { is_sso: true }`. A refusal changes
//! nothing and is audited on its own with its reason.
//!
//! Decisions where the issue is silent:
//! - The owner signs in but is never re-roled: only its names follow the IdP.
//! - A member bound to another connection cannot sign in through this one (`account_conflict`);
//!   a local member's first SSO sign-in binds it to the connection.
//! - Custom roles and teams follow the IdP only when it says something about them (a
//!   `customRole`/`teamKey` attribute, or a matching rule); silence keeps them. Okta clears
//!   with an empty `customRole` value.
//! - Teams named by rules are created when missing; unknown `teamKey` values (IdP data) are
//!   skipped and audited, as are unknown custom roles and roles lacking their role attributes.
//!   Teams synced from SCIM groups keep their SCIM-owned membership.
//! - Sign-in bookkeeping (issued request ids, OIDC states) is written without audit entries:
//!   an unauthenticated browser could otherwise flood the log.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait},
};
use serde_json::{Value, json};

use super::members::{self, Member};
use super::principal::{AppPrincipal, hash_secret};
use super::sessions::{NewSession, open_session};
use super::util::{from_json, new_id, snapshot, to_json, validate_key};
use super::{AuditDraft, Ctx, Principal, Service, WriteTx, connections, team_members};
use crate::domain::mapping::{self, IdpProfile, MappingOutcome, RoleAttributes};
use crate::domain::policy::{BaseRole, Resource};
use crate::domain::sso::Refusal;
use crate::error::{Error, Result};

/// How long a started sign-in may take.
pub const LOGIN_TTL_MS: i64 = 10 * 60 * 1000;

/// The protocol a sign-in came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Saml,
    Oidc,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Saml => "saml",
            Protocol::Oidc => "oidc",
        }
    }
}

/// What a verified SAML assertion or ID token says about the person.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    pub protocol: Protocol,
    /// NameID or `sub`.
    pub subject: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub profile: IdpProfile,
    /// SAML: the AuthnRequest this answers, consumed once.
    pub saml_request_id: Option<String>,
    /// SAML: (issuer, assertion id, keep-until) for the replay store.
    pub replay: Option<(String, String, i64)>,
    /// OIDC: where to land (the SAML one comes with the stored request).
    pub return_to: Option<String>,
}

/// A completed sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub member: Member,
    pub session: NewSession,
    pub return_to: String,
    pub created: bool,
}

/// Why a sign-in did not complete: refused (audited by the caller) or failed.
#[derive(Debug)]
pub enum LoginError {
    Refused(Refusal),
    Failed(Error),
}

impl From<Error> for LoginError {
    fn from(e: Error) -> Self {
        LoginError::Failed(e)
    }
}

impl From<sea_orm::DbErr> for LoginError {
    fn from(e: sea_orm::DbErr) -> Self {
        LoginError::Failed(e.into())
    }
}

/// What an OIDC login in flight carries from start to callback.
#[derive(Debug, Clone)]
pub struct PendingOidcLogin {
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
}

fn app_ctx(ctx: &Ctx, connection: &entity::connection::Model) -> Ctx {
    Ctx {
        principal: Principal::App(AppPrincipal::sso(connection)),
        request_id: ctx.request_id.clone(),
        source_ip: ctx.source_ip.clone(),
    }
}

/// Whether this connection leaves roles and teams to SCIM for this protocol.
fn leaves_roles_to_scim(
    connection: &entity::connection::Model,
    protocol: Protocol,
) -> Result<bool> {
    Ok(match protocol {
        Protocol::Saml => {
            connections::saml_settings(connection)?.is_some_and(|s| s.leave_roles_to_scim)
        }
        Protocol::Oidc => {
            connections::oidc_settings(connection)?.is_some_and(|s| s.leave_roles_to_scim)
        }
    })
}

/// The replay-store key of an assertion: connection, issuer and id hashed together.
fn replay_key(connection_id: &str, issuer: &str, assertion_id: &str) -> String {
    hash_secret(&format!("{connection_id}\u{0}{issuer}\u{0}{assertion_id}"))
}

/// Maps the profile; a `role` the IdP may not give (owner, unknown) is dropped and noted.
fn map_with_notes(
    rules: &[mapping::MappingRule],
    profile: &IdpProfile,
    notes: &mut Vec<Value>,
) -> MappingOutcome {
    match mapping::map_profile(rules, profile) {
        Ok(out) => out,
        Err(e) => {
            notes.push(json!({"skipped": "role", "reason": e.to_string()}));
            let mut without_role = profile.clone();
            without_role
                .attributes
                .retain(|k, _| !k.eq_ignore_ascii_case(mapping::ROLE_ATTRIBUTE));
            mapping::map_profile(rules, &without_role).unwrap_or_default()
        }
    }
}

impl Service {
    /// Remembers an AuthnRequest id we are about to send; it can be answered once.
    pub async fn start_saml_login(
        &self,
        connection: &entity::connection::Model,
        request_id: &str,
        return_to: &str,
    ) -> Result<()> {
        let now = self.now_ms();
        self.purge_expired_sso_records(now).await?;
        entity::saml_request::ActiveModel {
            id: Set(request_id.to_owned()),
            connection_id: Set(connection.id.clone()),
            return_to: Set(return_to.to_owned()),
            created_at: Set(now),
            expires_at: Set(now + LOGIN_TTL_MS),
        }
        .insert(self.db())
        .await?;
        Ok(())
    }

    /// Remembers an OIDC login in flight under the hash of its `state`, bound to the hash of
    /// the browser cookie.
    pub async fn start_oidc_login(
        &self,
        connection: &entity::connection::Model,
        state: &str,
        browser_binding: &str,
        pending: &PendingOidcLogin,
    ) -> Result<()> {
        let now = self.now_ms();
        self.purge_expired_sso_records(now).await?;
        entity::oidc_login::ActiveModel {
            id: Set(hash_secret(state)),
            connection_id: Set(connection.id.clone()),
            browser_hash: Set(hash_secret(browser_binding)),
            nonce: Set(pending.nonce.clone()),
            pkce_verifier: Set(pending.pkce_verifier.clone()),
            return_to: Set(pending.return_to.clone()),
            created_at: Set(now),
            expires_at: Set(now + LOGIN_TTL_MS),
        }
        .insert(self.db())
        .await?;
        Ok(())
    }

    /// Takes (once) the OIDC login a callback's `state` names, if this browser started it.
    pub async fn take_oidc_login(
        &self,
        connection: &entity::connection::Model,
        state: &str,
        browser_binding: Option<&str>,
    ) -> std::result::Result<PendingOidcLogin, LoginError> {
        let id = hash_secret(state);
        let row = entity::oidc_login::Entity::find_by_id(id.clone())
            .one(self.db())
            .await?
            .filter(|r| r.connection_id == connection.id)
            .ok_or(LoginError::Refused(Refusal::StateMismatch))?;
        let bound = browser_binding
            .is_some_and(|b| super::sessions::constant_time_eq(&hash_secret(b), &row.browser_hash));
        if !bound {
            // A state without its browser is someone else's login: leave it for its owner.
            return Err(LoginError::Refused(Refusal::StateMismatch));
        }
        let deleted = entity::oidc_login::Entity::delete_by_id(id)
            .exec(self.db())
            .await?;
        if deleted.rows_affected != 1 {
            return Err(LoginError::Refused(Refusal::StateMismatch));
        }
        if row.expires_at <= self.now_ms() {
            return Err(LoginError::Refused(Refusal::Expired));
        }
        Ok(PendingOidcLogin {
            nonce: row.nonce,
            pkce_verifier: row.pkce_verifier,
            return_to: row.return_to,
        })
    }

    /// Drops expired request ids, OIDC states and replay records.
    async fn purge_expired_sso_records(&self, now: i64) -> Result<()> {
        entity::saml_request::Entity::delete_many()
            .filter(entity::saml_request::Column::ExpiresAt.lt(now))
            .exec(self.db())
            .await?;
        entity::oidc_login::Entity::delete_many()
            .filter(entity::oidc_login::Column::ExpiresAt.lt(now))
            .exec(self.db())
            .await?;
        entity::saml_replay::Entity::delete_many()
            .filter(entity::saml_replay::Column::ExpiresAt.lt(now))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Audits a refused sign-in with its reason (its own transaction: nothing else changed).
    pub async fn record_login_refusal(
        &self,
        ctx: &Ctx,
        connection: &entity::connection::Model,
        protocol: Protocol,
        refusal: Refusal,
        subject: Option<&str>,
    ) -> Result<()> {
        let app = app_ctx(ctx, connection);
        let mut tx = self.begin_write(&app).await?;
        let res = Resource::connection(&connection.key);
        let name = subject.unwrap_or(&connection.key).to_owned();
        tx.audit(
            AuditDraft::new("session", &name, "signIn", &res)
                .describe(format!(
                    "refused {} sign-in through {}: {}",
                    protocol.as_str(),
                    connection.key,
                    refusal.code()
                ))
                .delta(json!({
                    "outcome": "refused",
                    "reason": refusal.code(),
                    "protocol": protocol.as_str(),
                    "connection": connection.key,
                    "subject": subject,
                    "sourceIp": ctx.source_ip,
                })),
        );
        tx.commit().await?;
        Ok(())
    }

    /// Completes a verified sign-in: provisioning, mapping, session, audit - one transaction.
    pub async fn complete_sso_login(
        &self,
        ctx: &Ctx,
        connection: &entity::connection::Model,
        identity: VerifiedIdentity,
    ) -> std::result::Result<SignedIn, LoginError> {
        let app = app_ctx(ctx, connection);
        let mut tx = self.begin_write(&app).await?;
        let now = tx.now_ms();
        // ---- one-time request id and assertion id ----
        let mut return_to = identity.return_to.clone().unwrap_or_else(|| "/".to_owned());
        if let Some(request_id) = &identity.saml_request_id {
            let row = entity::saml_request::Entity::find_by_id(request_id.clone())
                .one(tx.db())
                .await?
                .filter(|r| r.connection_id == connection.id && r.expires_at > now)
                .ok_or(LoginError::Refused(Refusal::InResponseToMismatch))?;
            entity::saml_request::Entity::delete_by_id(row.id)
                .exec(tx.db())
                .await?;
            return_to = row.return_to;
        }
        if let Some((issuer, assertion_id, until)) = &identity.replay {
            let key = replay_key(&connection.id, issuer, assertion_id);
            if entity::saml_replay::Entity::find_by_id(key.clone())
                .one(tx.db())
                .await?
                .is_some()
            {
                return Err(LoginError::Refused(Refusal::Replay));
            }
            entity::saml_replay::ActiveModel {
                id: Set(key),
                connection_id: Set(connection.id.clone()),
                expires_at: Set(*until),
            }
            .insert(tx.db())
            .await
            .map_err(|e| match Error::from(e) {
                // Another replica took it between our read and insert.
                Error::Conflict(_) => LoginError::Refused(Refusal::Replay),
                other => LoginError::Failed(other),
            })?;
        }
        // ---- who ----
        let email = identity.email.trim().to_owned();
        let existing = entity::member::Entity::find()
            .filter(entity::member::Column::EmailLower.eq(email.to_lowercase()))
            .one(tx.db())
            .await?;
        let leave_roles = leaves_roles_to_scim(connection, identity.protocol)?;
        let rules = connections::mapping_rules(connection)?;
        let mut notes: Vec<Value> = Vec::new();
        let outcome = map_with_notes(&rules, &identity.profile, &mut notes);
        let (member, before, created) = match existing {
            Some(m) => {
                if m.status != "active" {
                    return Err(LoginError::Refused(Refusal::Deactivated));
                }
                if m.connection_key
                    .as_deref()
                    .is_some_and(|k| k != connection.key)
                {
                    return Err(LoginError::Refused(Refusal::AccountConflict));
                }
                let before = members::to_rep(tx.db(), &m).await?;
                (m, Some(before), false)
            }
            None => {
                if !connection.jit {
                    return Err(LoginError::Refused(Refusal::UnknownUserJitOff));
                }
                let default_role = BaseRole::parse(&connection.default_role)
                    .filter(|r| *r != BaseRole::Owner)
                    .unwrap_or(BaseRole::Reader);
                let role = if leave_roles {
                    default_role
                } else {
                    outcome
                        .role
                        .filter(|r| *r != BaseRole::Owner)
                        .unwrap_or(default_role)
                };
                let m = entity::member::ActiveModel {
                    id: Set(new_id()),
                    email: Set(email.clone()),
                    email_lower: Set(email.to_lowercase()),
                    user_name: Set(email.clone()),
                    user_name_lower: Set(email.to_lowercase()),
                    first_name: Set(identity.first_name.clone()),
                    last_name: Set(identity.last_name.clone()),
                    role: Set(role.as_str().to_owned()),
                    custom_roles: Set("[]".to_owned()),
                    role_attributes: Set("{}".to_owned()),
                    status: Set("active".to_owned()),
                    source: Set(identity.protocol.as_str().to_owned()),
                    connection_key: Set(Some(connection.key.clone())),
                    external_id: Set(None),
                    last_seen: Set(Some(now)),
                    scim_attributes: Set(None),
                    scim_deleted_at: Set(None),
                    version: Set(1),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(tx.db())
                .await
                .map_err(|e| match Error::from(e) {
                    // The user name of someone else: not ours to take over.
                    Error::Conflict(_) => LoginError::Refused(Refusal::AccountConflict),
                    other => LoginError::Failed(other),
                })?;
                (m, None, true)
            }
        };
        let is_owner = member.role == "owner";
        let mut am: entity::member::ActiveModel = member.clone().into();
        // ---- names ----
        if let Some(first) = identity.first_name.as_ref().filter(|f| !f.is_empty())
            && member.first_name.as_deref() != Some(first.as_str())
        {
            am.first_name = Set(Some(first.clone()));
        }
        if let Some(last) = identity.last_name.as_ref().filter(|l| !l.is_empty())
            && member.last_name.as_deref() != Some(last.as_str())
        {
            am.last_name = Set(Some(last.clone()));
        }
        if member.connection_key.is_none() && !is_owner {
            am.connection_key = Set(Some(connection.key.clone()));
        }
        let mut team_plan: Option<Vec<String>> = None;
        if leave_roles {
            notes.push(json!({"skipped": "roles and teams", "reason": "the connection leaves roles to SCIM"}));
        } else if is_owner {
            notes.push(json!({"skipped": "roles and teams", "reason": "the owner is never re-roled by an identity provider"}));
        } else {
            // ---- base role ----
            if !created
                && let Some(role) = outcome.role.filter(|r| *r != BaseRole::Owner)
                && role.as_str() != member.role
            {
                am.role = Set(role.as_str().to_owned());
            }
            // ---- custom roles (only when the IdP speaks about them) ----
            let speaks_roles = identity
                .profile
                .values(mapping::CUSTOM_ROLE_ATTRIBUTE)
                .next()
                .is_some()
                || !outcome.custom_roles.is_empty();
            if speaks_roles {
                let (roles, attrs) = usable_custom_roles(
                    &tx,
                    &outcome.custom_roles,
                    &outcome.role_attributes,
                    &mut notes,
                )
                .await?;
                am.custom_roles = Set(to_json(&roles)?);
                am.role_attributes = Set(to_json(&attrs)?);
            }
            // ---- teams (only when the IdP speaks about them) ----
            let speaks_teams = identity
                .profile
                .values(mapping::TEAM_KEY_ATTRIBUTE)
                .next()
                .is_some()
                || !outcome.teams.is_empty();
            if speaks_teams {
                team_plan = Some(outcome.teams.clone());
            }
        }
        am.last_seen = Set(Some(now));
        am.updated_at = Set(now);
        am.version = Set(member.version + if created { 0 } else { 1 });
        let updated = am.update(tx.db()).await?;
        if let Some(desired) = team_plan {
            let explicit: Vec<String> = identity
                .profile
                .values(mapping::TEAM_KEY_ATTRIBUTE)
                .flat_map(|v| v.split(','))
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect();
            sync_teams(
                &mut tx,
                &updated.id,
                &desired,
                &explicit,
                connection,
                &mut notes,
            )
            .await?;
        }
        let after = members::to_rep(tx.db(), &updated).await?;
        let res = Resource::member(&updated.id);
        // ---- audit: the member change, then the sign-in ----
        if created {
            tx.audit(
                AuditDraft::new("member", &after.email, "createMember", &res)
                    .describe(format!(
                        "{} created member {} as {} at first sign-in",
                        connection.key, after.email, after.role
                    ))
                    .after(Some(snapshot(&after)?)),
            );
        } else if let Some(before) = &before
            && changed(before, &after)
        {
            let mut draft = AuditDraft::new("member", &after.email, "updateMemberName", &res);
            draft.accesses.clear();
            if before.first_name != after.first_name || before.last_name != after.last_name {
                draft = draft.access("updateMemberName", &res);
            }
            if before.role != after.role {
                draft = draft.access("updateRole", &res);
            }
            if before.custom_roles != after.custom_roles
                || before.role_attributes != after.role_attributes
            {
                draft = draft.access("updateCustomRole", &res);
            }
            if before.teams != after.teams {
                for team in before.teams.iter().chain(&after.teams) {
                    if before.teams.contains(team) != after.teams.contains(team) {
                        draft = draft.access("updateTeamMembers", &Resource::team(team));
                    }
                }
            }
            tx.audit(
                draft
                    .describe(format!(
                        "{} updated member {} at sign-in",
                        connection.key, after.email
                    ))
                    .before(Some(snapshot(before)?))
                    .after(Some(snapshot(&after)?)),
            );
        }
        let session = open_session(
            &tx,
            self.session_policy(),
            &updated.id,
            &connection.key,
            identity.protocol.as_str(),
        )
        .await?;
        let changes = login_changes(before.as_ref(), &after);
        tx.audit(
            AuditDraft::new("session", &after.email, "signIn", &res)
                .describe(format!(
                    "{} signed in through {} ({})",
                    after.email,
                    connection.key,
                    identity.protocol.as_str()
                ))
                .parent(&connection.key, &Resource::connection(&connection.key))
                .delta(json!({
                    "outcome": "signedIn",
                    "protocol": identity.protocol.as_str(),
                    "connection": connection.key,
                    "subject": identity.subject,
                    "sourceIp": ctx.source_ip,
                    "created": created,
                    "changes": changes,
                    "matchedRules": outcome.matched_rules,
                    "notes": notes,
                })),
        );
        tx.commit().await?;
        Ok(SignedIn {
            member: after,
            session,
            return_to,
            created,
        })
    }
}

fn changed(before: &Member, after: &Member) -> bool {
    before.first_name != after.first_name
        || before.last_name != after.last_name
        || before.role != after.role
        || before.custom_roles != after.custom_roles
        || before.role_attributes != after.role_attributes
        || before.teams != after.teams
}

/// Role and team changes of a sign-in, before/after.
fn login_changes(before: Option<&Member>, after: &Member) -> Value {
    let pick =
        |m: &Member| json!({"role": m.role, "customRoles": m.custom_roles, "teams": m.teams});
    json!({
        "before": before.map(pick),
        "after": pick(after),
    })
}

/// The custom roles that exist and have the role attributes they declare; the rest is
/// skipped and noted.
async fn usable_custom_roles(
    tx: &WriteTx<'_>,
    wanted: &[String],
    attrs: &RoleAttributes,
    notes: &mut Vec<Value>,
) -> Result<(Vec<String>, RoleAttributes)> {
    let rows = if wanted.is_empty() {
        Vec::new()
    } else {
        entity::custom_role::Entity::find()
            .filter(entity::custom_role::Column::Key.is_in(wanted.to_vec()))
            .all(tx.db())
            .await?
    };
    let mut out = Vec::new();
    for key in wanted {
        let Some(role) = rows.iter().find(|r| &r.key == key) else {
            notes.push(
                json!({"skipped": "customRole", "key": key, "reason": "unknown custom role"}),
            );
            continue;
        };
        let declared: Vec<String> = from_json(&role.role_attributes)?;
        if let Some(missing) = declared
            .iter()
            .find(|a| attrs.get(*a).is_none_or(|v| v.is_empty()))
        {
            notes.push(json!({"skipped": "customRole", "key": key, "reason": format!("needs role attribute {missing}")}));
            continue;
        }
        if !out.contains(key) {
            out.push(key.clone());
        }
    }
    out.sort();
    let attrs = if out.is_empty() {
        RoleAttributes::new()
    } else {
        attrs.clone()
    };
    Ok((out, attrs))
}

/// Makes the member's memberships of Gatehouse-managed teams exactly `desired`: teams named by
/// rules are created when missing, unknown explicit `teamKey` values are skipped, SCIM-synced
/// teams are left to SCIM.
async fn sync_teams(
    tx: &mut WriteTx<'_>,
    member_id: &str,
    desired: &[String],
    explicit: &[String],
    connection: &entity::connection::Model,
    notes: &mut Vec<Value>,
) -> Result<()> {
    let now = tx.now_ms();
    let mut wanted_ids: Vec<String> = Vec::new();
    for key in desired {
        if validate_key("teamKey", key).is_err() {
            notes.push(json!({"skipped": "team", "key": key, "reason": "not a valid team key"}));
            continue;
        }
        let team = entity::team::Entity::find()
            .filter(entity::team::Column::Key.eq(key.clone()))
            .one(tx.db())
            .await?;
        let team = match team {
            Some(t) => t,
            None if explicit.contains(key) => {
                notes.push(json!({"skipped": "team", "key": key, "reason": "unknown team"}));
                continue;
            }
            None => {
                let t = entity::team::ActiveModel {
                    id: Set(new_id()),
                    key: Set(key.clone()),
                    name: Set(key.clone()),
                    description: Set(format!(
                        "Created by mapping rules of connection {}",
                        connection.key
                    )),
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
                .insert(tx.db())
                .await?;
                tx.audit(
                    AuditDraft::new("team", key, "createTeam", &Resource::team(key))
                        .describe(format!(
                            "{} created team {key} for a mapping rule",
                            connection.key
                        ))
                        .after(Some(json!({"key": key, "name": key}))),
                );
                t
            }
        };
        if team.idp_synced {
            notes.push(
                json!({"skipped": "team", "key": key, "reason": "membership is synced from SCIM"}),
            );
            continue;
        }
        wanted_ids.push(team.id);
    }
    let current = entity::team_member::Entity::find()
        .filter(entity::team_member::Column::MemberId.eq(member_id))
        .all(tx.db())
        .await?;
    let current_ids: Vec<String> = current.iter().map(|tm| tm.team_id.clone()).collect();
    let managed: Vec<String> = if current_ids.is_empty() {
        Vec::new()
    } else {
        entity::team::Entity::find()
            .filter(entity::team::Column::Id.is_in(current_ids.clone()))
            .filter(entity::team::Column::IdpSynced.eq(false))
            .all(tx.db())
            .await?
            .into_iter()
            .map(|t| t.id)
            .collect()
    };
    let remove: Vec<String> = managed
        .iter()
        .filter(|id| !wanted_ids.contains(id))
        .cloned()
        .collect();
    let mut writes = Vec::new();
    for team_id in &remove {
        writes.extend(team_members::remove(
            tx.backend(),
            team_id,
            std::slice::from_ref(&member_id.to_owned()),
        ));
    }
    for team_id in wanted_ids.iter().filter(|id| !current_ids.contains(id)) {
        writes.extend(team_members::add(
            tx.backend(),
            team_id,
            std::slice::from_ref(&member_id.to_owned()),
        ));
    }
    team_members::run(tx.db(), writes).await?;
    // Team versions move with their membership, so caches and ETags see the change.
    let touched: Vec<String> = wanted_ids
        .iter()
        .filter(|id| !current_ids.contains(id))
        .chain(managed.iter().filter(|id| !wanted_ids.contains(id)))
        .cloned()
        .collect();
    if !touched.is_empty() {
        entity::team::Entity::update_many()
            .col_expr(
                entity::team::Column::Version,
                Expr::col(entity::team::Column::Version).add(1),
            )
            .col_expr(entity::team::Column::UpdatedAt, Expr::value(now))
            .filter(entity::team::Column::Id.is_in(touched))
            .exec(tx.db())
            .await?;
    }
    Ok(())
}
