//! Completing an SSO sign-in: the verified identity becomes a member (just in time), its
//! names, base role, custom roles and teams follow the IdP through the connection's mapping
//! rules (the same rules as SCIM), and a session opens - all in one transaction with its
//! audit entries, the connection acting as `Actor::App { is_sso: true }`. A refusal changes
//! nothing and is audited on its own with its reason.
//!
//! What sign-in decides, where an IdP could expect otherwise:
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
//!
//! The edge reads the connection through `Service::sign_in_connection` (in `connection`): its
//! SAML and OIDC settings parsed, and what these commands need from it.

mod connection;

use std::collections::BTreeMap;

use sea_orm::QueryTrait;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait},
};
use serde_json::{Value, json};

use super::authz::{authorize, authorize_draft};
use super::members::{self, Member};
use super::provisioning::{apply_plan, authorize_plan, current_member, role_catalogue};
use super::secrets::hash_secret;
use super::sessions::{NewSession, SessionOrigin, open_session};
use super::teams::new_team_row;
use super::util::{new_id, snapshot, validate_key};
use super::write::Chore;
use super::{AuditDraft, Ctx, Principal, Service, WriteTx, team_members};
use crate::domain::grant_source::GrantSource;
use crate::domain::mapping::{self, IdpProfile};
use crate::domain::policy::Resource;
use crate::domain::provisioning::{
    self, Activity, Channel, CurrentMember, NameUpdate, Plan, RoleCatalogue, Skipped, Statement,
};
use crate::domain::sso::Refusal;
use crate::domain::text::check_plain;
use crate::error::{Error, Result};

pub use connection::{SignInChoice, SignInConnection};

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
    /// The IdP's id for this sign-in session (SAML SessionIndex, OIDC `sid`), which its
    /// logout names.
    pub idp_session: Option<String>,
    /// OIDC: the ID token, sent back as `id_token_hint` when the member signs out here.
    pub id_token: Option<String>,
}

/// What a SAML request we sent asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamlRequestKind {
    Authn,
    Logout,
}

impl SamlRequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SamlRequestKind::Authn => "authn",
            SamlRequestKind::Logout => "logout",
        }
    }
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

impl From<Refusal> for LoginError {
    fn from(r: Refusal) -> Self {
        LoginError::Refused(r)
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

pub(crate) fn app_ctx(ctx: &Ctx, connection: &SignInConnection) -> Ctx {
    Ctx {
        principal: Principal::App(connection.principal.clone()),
        request_id: ctx.request_id.clone(),
        source_ip: ctx.source_ip.clone(),
    }
}

/// Whether this connection leaves roles and teams to SCIM for this protocol.
fn leaves_roles_to_scim(connection: &SignInConnection, protocol: Protocol) -> bool {
    match protocol {
        Protocol::Saml => connection
            .saml
            .as_ref()
            .is_some_and(|s| s.leave_roles_to_scim),
        Protocol::Oidc => connection
            .oidc
            .as_ref()
            .is_some_and(|s| s.leave_roles_to_scim),
    }
}

/// The replay-store key of an assertion: connection, issuer and id hashed together.
fn replay_key(connection_id: &str, issuer: &str, assertion_id: &str) -> String {
    hash_secret(&format!("{connection_id}\u{0}{issuer}\u{0}{assertion_id}"))
}

impl Service {
    /// Remembers an AuthnRequest id we are about to send; it can be answered once.
    pub async fn start_saml_login(
        &self,
        connection: &SignInConnection,
        request_id: &str,
        return_to: &str,
    ) -> Result<()> {
        self.remember_saml_request(connection, request_id, return_to, SamlRequestKind::Authn)
            .await
    }

    /// Takes the LogoutRequest of ours that a LogoutResponse answers (once, on its own
    /// connection, before it expires): where the browser lands; None if there is none.
    pub async fn take_saml_logout_request(
        &self,
        connection: &SignInConnection,
        request_id: &str,
    ) -> Result<Option<String>> {
        let now = self.now_ms();
        let Some(row) = entity::saml_request::Entity::find_by_id(request_id.to_owned())
            .one(self.db())
            .await?
            .filter(|r| {
                r.connection_id == connection.id
                    && r.expires_at > now
                    && r.kind == SamlRequestKind::Logout.as_str()
            })
        else {
            return Ok(None);
        };
        let delete = entity::saml_request::Entity::delete_by_id(row.id)
            .build(self.db().get_database_backend());
        let taken = self.housekeep(Chore::SignInState, delete).await?;
        Ok((taken == 1).then_some(row.return_to))
    }

    /// Remembers a request id we are about to send, of its kind; answered once.
    pub async fn remember_saml_request(
        &self,
        connection: &SignInConnection,
        request_id: &str,
        return_to: &str,
        kind: SamlRequestKind,
    ) -> Result<()> {
        let now = self.now_ms();
        self.purge_expired_sso_records(now).await?;
        let request = entity::saml_request::ActiveModel {
            id: Set(request_id.to_owned()),
            connection_id: Set(connection.id.clone()),
            return_to: Set(return_to.to_owned()),
            created_at: Set(now),
            expires_at: Set(now + LOGIN_TTL_MS),
            kind: Set(kind.as_str().to_owned()),
        };
        let insert =
            entity::saml_request::Entity::insert(request).build(self.db().get_database_backend());
        self.housekeep(Chore::SignInState, insert).await?;
        Ok(())
    }

    /// Remembers an OIDC login in flight under the hash of its `state`, bound to the hash of
    /// the browser cookie.
    pub async fn start_oidc_login(
        &self,
        connection: &SignInConnection,
        state: &str,
        browser_binding: &str,
        pending: &PendingOidcLogin,
    ) -> Result<()> {
        let now = self.now_ms();
        self.purge_expired_sso_records(now).await?;
        let login = entity::oidc_login::ActiveModel {
            id: Set(hash_secret(state)),
            connection_id: Set(connection.id.clone()),
            browser_hash: Set(hash_secret(browser_binding)),
            nonce: Set(pending.nonce.clone()),
            pkce_verifier: Set(pending.pkce_verifier.clone()),
            return_to: Set(pending.return_to.clone()),
            created_at: Set(now),
            expires_at: Set(now + LOGIN_TTL_MS),
        };
        let insert =
            entity::oidc_login::Entity::insert(login).build(self.db().get_database_backend());
        self.housekeep(Chore::SignInState, insert).await?;
        Ok(())
    }

    /// Takes (once) the OIDC login a callback's `state` names, if this browser started it.
    pub async fn take_oidc_login(
        &self,
        connection: &SignInConnection,
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
            .is_some_and(|b| super::secrets::constant_time_eq(&hash_secret(b), &row.browser_hash));
        if !bound {
            // A state without its browser is someone else's login: leave it for its owner.
            return Err(LoginError::Refused(Refusal::StateMismatch));
        }
        let take = entity::oidc_login::Entity::delete_many()
            .filter(entity::oidc_login::Column::Id.eq(id))
            .build(self.db().get_database_backend());
        if self.housekeep(Chore::SignInState, take).await? != 1 {
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
        let backend = self.db().get_database_backend();
        let purges = [
            entity::saml_request::Entity::delete_many()
                .filter(entity::saml_request::Column::ExpiresAt.lt(now))
                .build(backend),
            entity::oidc_login::Entity::delete_many()
                .filter(entity::oidc_login::Column::ExpiresAt.lt(now))
                .build(backend),
            entity::saml_replay::Entity::delete_many()
                .filter(entity::saml_replay::Column::ExpiresAt.lt(now))
                .build(backend),
        ];
        for purge in purges {
            self.housekeep(Chore::SignInState, purge).await?;
        }
        Ok(())
    }

    /// Audits a refused sign-in with its reason (its own transaction: nothing else changed).
    pub async fn record_login_refusal(
        &self,
        ctx: &Ctx,
        connection: &SignInConnection,
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

    /// Completes a verified sign-in - one transaction: the one-time ids are spent, then
    /// load (the member and the IdP's statement), plan (the provisioning planner decides, the
    /// connection is authorized for it), write (the member and its teams), a session opens,
    /// and audit (the member change, then the sign-in).
    pub async fn complete_sso_login(
        &self,
        ctx: &Ctx,
        connection: &SignInConnection,
        identity: VerifiedIdentity,
        user_agent: Option<&str>,
    ) -> std::result::Result<SignedIn, LoginError> {
        let app = app_ctx(ctx, connection);
        // Read before taking the write lock, which the login then holds no longer than it must.
        let policy = self.session_policy().await?;
        let mut tx = self.begin_write(&app).await?;
        let now = tx.now_ms();
        let return_to = spend_one_time_ids(&tx, connection, &identity, now).await?;
        check_identity_text(&identity)?;
        let loaded = load_sign_in(&tx, connection, &identity).await?;
        let mut planned = plan_sign_in(&app.principal, &loaded)?;
        let written =
            write_sign_in(&mut tx, connection, &identity, &loaded, &mut planned, now).await?;
        let origin = SessionOrigin {
            connection_key: &connection.key,
            protocol: identity.protocol.as_str(),
            user_agent,
            idp_subject: Some(identity.subject.as_str()).filter(|s| !s.is_empty()),
            idp_session: identity.idp_session.as_deref(),
            id_token_hint: identity.id_token.as_deref(),
        };
        let session = open_session(&tx, policy, &written.after.id, origin).await?;
        audit_sign_in(&mut tx, connection, &identity, &loaded, &planned, &written)?;
        tx.commit().await?;
        Ok(SignedIn {
            member: written.after,
            session,
            return_to,
            created: planned.plan.created,
        })
    }
}

/// What a sign-in starts from: the member its email names, and the IdP's claims as the
/// planner's statement with the custom roles it names.
struct Loaded {
    existing: Option<entity::member::Model>,
    current: Option<CurrentMember>,
    statement: Statement,
    catalogue: RoleCatalogue,
}

/// What the planner decided for the member with this id (new or existing), and the notes
/// of what the sign-in skipped.
struct Planned {
    plan: Plan,
    id: String,
    notes: Vec<Value>,
}

/// The member as shown before and after the sign-in's writes.
struct Written {
    before: Option<Member>,
    after: Member,
}

/// Load: the member the email names, and the statement the claims make about it.
async fn load_sign_in(
    tx: &WriteTx<'_>,
    connection: &SignInConnection,
    identity: &VerifiedIdentity,
) -> Result<Loaded> {
    let email = identity.email.trim().to_owned();
    let existing = entity::member::Entity::find()
        .filter(entity::member::Column::EmailLower.eq(email.to_lowercase()))
        .one(tx.db())
        .await?;
    let statement = sign_in_statement(connection, identity, &email, existing.is_none())?;
    let catalogue = role_catalogue(tx.db(), &statement.mapped.custom_roles).await?;
    let current = existing
        .as_ref()
        .map(|m| current_member(m, &connection.key))
        .transpose()?;
    Ok(Loaded {
        existing,
        current,
        statement,
        catalogue,
    })
}

/// Plan: the provisioning planner decides what the statement changes, and the connection
/// must be allowed every action of it.
fn plan_sign_in(
    principal: &Principal,
    loaded: &Loaded,
) -> std::result::Result<Planned, LoginError> {
    let plan = provisioning::plan(
        loaded.current.as_ref(),
        &loaded.statement,
        &loaded.catalogue,
    )
    .map_err(|r| LoginError::Refused(sign_in_refusal(&r)))?;
    let id = loaded
        .existing
        .as_ref()
        .map_or_else(new_id, |m| m.id.clone());
    authorize_plan(principal, &plan, &Resource::member(&id))?;
    let notes = plan.skipped.iter().map(skipped_note).collect();
    Ok(Planned { plan, id, notes })
}

/// Write: the member row after the plan, then its teams when the plan speaks about them
/// (teams the sync skips join the notes).
async fn write_sign_in(
    tx: &mut WriteTx<'_>,
    connection: &SignInConnection,
    identity: &VerifiedIdentity,
    loaded: &Loaded,
    planned: &mut Planned,
    now: i64,
) -> std::result::Result<Written, LoginError> {
    let existing = loaded.existing.as_ref();
    let before = match existing {
        Some(m) => Some(members::to_rep(tx.db(), m).await?),
        None => None,
    };
    let member = write_member(
        tx,
        connection,
        identity,
        existing,
        &planned.plan,
        &planned.id,
        now,
    )
    .await?;
    if let Some(desired) = &planned.plan.teams {
        let explicit = explicit_team_keys(&identity.profile);
        let rules = planned.plan.rules.teams.clone();
        sync_teams(
            tx,
            &member.id,
            (desired, &explicit, &rules),
            connection,
            &mut planned.notes,
        )
        .await?;
    }
    let after = members::to_rep(tx.db(), &member).await?;
    Ok(Written { before, after })
}

/// The `teamKey` values the IdP sent itself (comma-separated or several values), as opposed
/// to the teams mapping rules derive.
fn explicit_team_keys(profile: &IdpProfile) -> Vec<String> {
    profile
        .values(mapping::TEAM_KEY_ATTRIBUTE)
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Audit: the member change, if there was one (authorized like any change of the
/// connection's), then the sign-in with its outcome, changes, matched rules and notes.
fn audit_sign_in(
    tx: &mut WriteTx<'_>,
    connection: &SignInConnection,
    identity: &VerifiedIdentity,
    loaded: &Loaded,
    planned: &Planned,
    written: &Written,
) -> Result<()> {
    let (before, after) = (written.before.as_ref(), &written.after);
    if let Some(draft) = member_change_draft(connection, before, after, &planned.plan)? {
        authorize_draft(&tx.ctx().principal, &draft)?;
        tx.audit(draft);
    }
    let protocol = identity.protocol.as_str();
    let source_ip = tx.ctx().source_ip.clone();
    let mut delta = json!({
        "outcome": "signedIn",
        "protocol": protocol,
        "connection": connection.key,
        "subject": identity.subject,
        "sourceIp": source_ip,
        "created": planned.plan.created,
        "changes": login_changes(before, after),
        "matchedRules": loaded.statement.mapped.matched_rules,
        "notes": planned.notes,
    });
    if identity.profile.groups_overage
        && let Some(fields) = delta.as_object_mut()
    {
        // The IdP left the groups out: group rules were not applied.
        fields.insert("groupsOverage".to_owned(), json!(true));
    }
    tx.audit(
        AuditDraft::new(
            "session",
            &after.email,
            "signIn",
            &Resource::member(&planned.id),
        )
        .describe(format!(
            "{} signed in through {} ({protocol})",
            after.email, connection.key
        ))
        .parent(&connection.key, &Resource::connection(&connection.key))
        .delta(delta),
    );
    Ok(())
}

/// Spends the one-time ids of a sign-in: the AuthnRequest it answers (whose `return_to` it
/// takes) and the assertion id (into the replay store).
async fn spend_one_time_ids(
    tx: &WriteTx<'_>,
    connection: &SignInConnection,
    identity: &VerifiedIdentity,
    now: i64,
) -> std::result::Result<String, LoginError> {
    let mut return_to = identity.return_to.clone().unwrap_or_else(|| "/".to_owned());
    if let Some(request_id) = &identity.saml_request_id {
        let row = entity::saml_request::Entity::find_by_id(request_id.clone())
            .one(tx.db())
            .await?
            .filter(|r| {
                r.connection_id == connection.id
                    && r.expires_at > now
                    && r.kind == SamlRequestKind::Authn.as_str()
            })
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
    Ok(return_to)
}

/// Refuses an identity whose email or names hold what no member's may.
fn check_identity_text(identity: &VerifiedIdentity) -> std::result::Result<(), LoginError> {
    let fields = [
        ("email", Some(&identity.email)),
        ("firstName", identity.first_name.as_ref()),
        ("lastName", identity.last_name.as_ref()),
    ];
    for (field, value) in fields {
        if let Some(v) = value
            && check_plain(field, v).is_err()
        {
            return Err(LoginError::Refused(Refusal::InvalidIdentity));
        }
    }
    Ok(())
}

/// The sign-in's claims as a statement for the provisioning planner.
fn sign_in_statement(
    connection: &SignInConnection,
    identity: &VerifiedIdentity,
    email: &str,
    new: bool,
) -> Result<Statement> {
    let rules = connection.rules()?;
    let profile = &identity.profile;
    let (mapped, mapping_error) = match mapping::map_profile(rules, profile) {
        Ok(o) => (o, None),
        // A `role` the IdP may not give (owner, unknown) is dropped; the rest still maps.
        Err(e) => {
            let mut without_role = profile.clone();
            without_role
                .attributes
                .retain(|k, _| !k.eq_ignore_ascii_case(mapping::ROLE_ATTRIBUTE));
            (
                mapping::map_profile(rules, &without_role).unwrap_or_default(),
                Some(e),
            )
        }
    };
    let speaks = |attribute: &str| profile.values(attribute).next().is_some();
    // With the groups unknown, grants that group rules give are left as they are.
    let unknown = mapped.unknown;
    Ok(Statement {
        channel: Channel::SignIn,
        default_role: connection.default_role,
        owns_roles: !leaves_roles_to_scim(connection, identity.protocol),
        creates: connection.jit,
        speaks_custom_roles: !unknown.custom_roles
            && (speaks(mapping::CUSTOM_ROLE_ATTRIBUTE) || !mapped.custom_roles.is_empty()),
        speaks_teams: !unknown.teams
            && (speaks(mapping::TEAM_KEY_ATTRIBUTE) || !mapped.teams.is_empty()),
        mapped,
        mapping_error,
        previous: None,
        activity: Activity::Unchanged,
        // The email is what finds the member: a new one takes it, an existing one keeps it.
        email: new.then(|| email.to_owned()),
        first_name: NameUpdate::IfGiven(identity.first_name.clone()),
        last_name: NameUpdate::IfGiven(identity.last_name.clone()),
        record_changed: false,
    })
}

/// The sign-in refusal of a planner refusal (sign-in skips what SCIM would refuse, so only
/// the sign-in ones reach here).
fn sign_in_refusal(r: &provisioning::Refusal) -> Refusal {
    use provisioning::Refusal as R;
    match r {
        R::Deactivated => Refusal::Deactivated,
        R::OtherConnection => Refusal::AccountConflict,
        R::NotProvisioned => Refusal::UnknownUserJitOff,
        R::NoEmail => Refusal::MissingEmail,
        R::OwnerDeactivated
        | R::Mapping(_)
        | R::UnknownCustomRole(_)
        | R::MissingRoleAttribute { .. } => Refusal::AccountConflict,
    }
}

/// A skipped part of the claims, as the sign-in's audit entry notes it.
fn skipped_note(s: &Skipped) -> Value {
    let mut note = json!({"skipped": s.what, "reason": s.reason});
    if let (Some(key), Some(obj)) = (&s.key, note.as_object_mut()) {
        obj.insert("key".to_owned(), json!(key));
    }
    note
}

/// Writes the member after a plan: a new member (just in time) or the signed-in one, bound
/// to the connection on its first SSO sign-in (the owner stays local).
async fn write_member(
    tx: &WriteTx<'_>,
    connection: &SignInConnection,
    identity: &VerifiedIdentity,
    existing: Option<&entity::member::Model>,
    plan: &Plan,
    id: &str,
    now: i64,
) -> std::result::Result<entity::member::Model, LoginError> {
    let mut am: entity::member::ActiveModel = match existing {
        Some(m) => m.clone().into(),
        None => {
            let email = plan.email.clone().unwrap_or_default();
            entity::member::ActiveModel {
                id: Set(id.to_owned()),
                email: Set(email.clone()),
                email_lower: Set(email.to_lowercase()),
                user_name: Set(email.clone()),
                user_name_lower: Set(email.to_lowercase()),
                source: Set(identity.protocol.as_str().to_owned()),
                connection_key: Set(Some(connection.key.clone())),
                external_id: Set(None),
                scim_attributes: Set(None),
                scim_deleted_at: Set(None),
                created_at: Set(now),
                ..Default::default()
            }
        }
    };
    apply_plan(&mut am, plan, &GrantSource::sso(&connection.key))?;
    if existing.is_some_and(|m| m.connection_key.is_none() && !plan.owner) {
        am.connection_key = Set(Some(connection.key.clone()));
    }
    am.last_seen = Set(Some(now));
    am.last_sign_in_at = Set(Some(now));
    am.last_sign_in_connection = Set(Some(connection.key.clone()));
    am.last_sign_in_protocol = Set(Some(identity.protocol.as_str().to_owned()));
    am.updated_at = Set(now);
    am.version = Set(existing.map_or(1, |m| m.version + 1));
    let written = match existing {
        Some(_) => am.update(tx.db()).await,
        None => am.insert(tx.db()).await,
    };
    written.map_err(|e| match Error::from(e) {
        // The user name of someone else: not ours to take over.
        Error::Conflict(_) => LoginError::Refused(Refusal::AccountConflict),
        other => LoginError::Failed(other),
    })
}

/// The audit entry of the member change a sign-in made, if it made one: the member's own
/// actions, and `updateTeamMembers` on each team it joined or left.
fn member_change_draft(
    connection: &SignInConnection,
    before: Option<&Member>,
    after: &Member,
    plan: &Plan,
) -> Result<Option<AuditDraft>> {
    let res = Resource::member(&after.id);
    let Some(before) = before else {
        return Ok(Some(
            AuditDraft::new("member", &after.email, "createMember", &res)
                .describe(format!(
                    "{} created member {} as {} at first sign-in",
                    connection.key, after.email, after.role
                ))
                .after(Some(snapshot(after)?)),
        ));
    };
    if !changed(before, after) {
        return Ok(None);
    }
    let mut draft = AuditDraft::new("member", &after.email, "updateMemberName", &res);
    draft.accesses.clear();
    for action in &plan.actions {
        draft = draft.access(action, &res);
    }
    for team in before.teams.iter().chain(&after.teams) {
        if before.teams.contains(team) != after.teams.contains(team) {
            draft = draft.access("updateTeamMembers", &Resource::team(team));
        }
    }
    Ok(Some(
        draft
            .describe(format!(
                "{} updated member {} at sign-in",
                connection.key, after.email
            ))
            .before(Some(snapshot(before)?))
            .after(Some(snapshot(after)?)),
    ))
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

/// Makes the member's memberships of Gatehouse-managed teams exactly `desired`: teams named by
/// rules are created when missing, unknown explicit `teamKey` values are skipped, SCIM-synced
/// teams are left to SCIM. A team joined through mapping rule N has source
/// `mapping:<connection>#N`, one the IdP named itself `sso:<connection>`.
async fn sync_teams(
    tx: &mut WriteTx<'_>,
    member_id: &str,
    (desired, explicit, rules): (&[String], &[String], &BTreeMap<String, usize>),
    connection: &SignInConnection,
    notes: &mut Vec<Value>,
) -> Result<()> {
    let wanted_keys = wanted_teams(tx, desired, explicit, connection, notes).await?;
    let stated_by = GrantSource::sso(&connection.key);
    let source_of: BTreeMap<String, GrantSource> = wanted_keys
        .iter()
        .map(|(id, key)| (id.clone(), stated_by.through_rule(rules.get(key).copied())))
        .collect();
    let wanted: Vec<String> = wanted_keys.into_iter().map(|(id, _)| id).collect();
    let current: Vec<String> = entity::team_member::Entity::find()
        .filter(entity::team_member::Column::MemberId.eq(member_id))
        .all(tx.db())
        .await?
        .into_iter()
        .map(|tm| tm.team_id)
        .collect();
    let managed = managed_teams(tx, &current).await?;
    let changes = TeamChanges::between(&current, &managed, &wanted);
    let member = &[member_id.to_owned()];
    let mut writes = Vec::new();
    for team_id in &changes.leave {
        writes.extend(team_members::remove(tx.backend(), team_id, member));
    }
    for team_id in &changes.join {
        let source = source_of.get(team_id).unwrap_or(&stated_by);
        writes.extend(team_members::add(tx.backend(), team_id, member, source));
    }
    team_members::run(tx.db(), writes).await?;
    bump_team_versions(tx, changes.touched()).await
}

/// The ids and keys of the teams the mapping rules put the member in: existing teams, and new ones
/// created for implicit (rule-derived) keys. Explicit keys of unknown teams, invalid keys and
/// SCIM-synced teams are skipped with a note.
async fn wanted_teams(
    tx: &mut WriteTx<'_>,
    desired: &[String],
    explicit: &[String],
    connection: &SignInConnection,
    notes: &mut Vec<Value>,
) -> Result<Vec<(String, String)>> {
    let mut wanted = Vec::new();
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
            None => create_mapped_team(tx, key, connection).await?,
        };
        if team.idp_synced {
            notes.push(
                json!({"skipped": "team", "key": key, "reason": "membership is synced from SCIM"}),
            );
            continue;
        }
        wanted.push((team.id, key.clone()));
    }
    Ok(wanted)
}

/// Creates the team a mapping rule names, audited as the connection's change.
async fn create_mapped_team(
    tx: &mut WriteTx<'_>,
    key: &str,
    connection: &SignInConnection,
) -> Result<entity::team::Model> {
    authorize(&tx.ctx().principal, "createTeam", &Resource::team(key))?;
    let now = tx.now_ms();
    let description = format!("Created by mapping rules of connection {}", connection.key);
    let team = new_team_row(key, key.to_owned(), description, now)
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
    Ok(team)
}

/// Of the member's teams, those sign-in manages (not synced from SCIM).
async fn managed_teams(tx: &WriteTx<'_>, current: &[String]) -> Result<Vec<String>> {
    if current.is_empty() {
        return Ok(Vec::new());
    }
    Ok(entity::team::Entity::find()
        .filter(entity::team::Column::Id.is_in(current.to_vec()))
        .filter(entity::team::Column::IdpSynced.eq(false))
        .all(tx.db())
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect())
}

/// Team versions move with their membership, so caches and ETags see the change.
async fn bump_team_versions(tx: &WriteTx<'_>, touched: Vec<String>) -> Result<()> {
    if touched.is_empty() {
        return Ok(());
    }
    entity::team::Entity::update_many()
        .col_expr(
            entity::team::Column::Version,
            Expr::col(entity::team::Column::Version).add(1),
        )
        .col_expr(entity::team::Column::UpdatedAt, Expr::value(tx.now_ms()))
        .filter(entity::team::Column::Id.is_in(touched))
        .exec(tx.db())
        .await?;
    Ok(())
}

/// Which teams a sign-in's member joins and leaves: it joins the wanted teams it is not in,
/// and leaves the managed teams it is in that are no longer wanted (SCIM-synced teams are
/// never left here).
#[derive(Debug, PartialEq, Eq)]
struct TeamChanges {
    join: Vec<String>,
    leave: Vec<String>,
}

impl TeamChanges {
    fn between(current: &[String], managed: &[String], wanted: &[String]) -> TeamChanges {
        TeamChanges {
            join: wanted
                .iter()
                .filter(|id| !current.contains(id))
                .cloned()
                .collect(),
            leave: managed
                .iter()
                .filter(|id| !wanted.contains(id))
                .cloned()
                .collect(),
        }
    }

    fn touched(self) -> Vec<String> {
        self.join.into_iter().chain(self.leave).collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::TeamChanges;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn joins_the_wanted_and_leaves_only_managed_teams_no_longer_wanted() {
        // In a, b (managed) and s (synced from SCIM); the rules want b and c.
        let changes =
            TeamChanges::between(&ids(&["a", "b", "s"]), &ids(&["a", "b"]), &ids(&["b", "c"]));
        assert_eq!(
            changes,
            TeamChanges {
                join: ids(&["c"]),
                leave: ids(&["a"]),
            }
        );
        assert_eq!(changes.touched(), ids(&["c", "a"]));
        let none = TeamChanges::between(&ids(&["a"]), &ids(&["a"]), &ids(&["a"]));
        assert!(none.touched().is_empty());
    }
}
