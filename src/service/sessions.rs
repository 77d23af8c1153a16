//! Browser sessions opened by SSO sign-in: stored in the database (any replica serves them),
//! identified by an opaque random secret of which only the SHA-256 is kept, with idle and
//! absolute timeouts, a CSRF token for cookie-authenticated writes, and revoked at once when
//! the member is deactivated or deleted. Admins list and end them in `session_admin`; the
//! timeouts in force are `session_settings`'.

use sea_orm::QueryTrait;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr,
};

use super::principal::{MemberRef, SessionPrincipal};
use super::secrets::{hash_secret, random_token};
use super::write::Chore;
use super::{AuditDraft, Ctx, Principal, Service, WriteTx, member_rows};
use crate::domain::policy::{BaseRole, Resource};
use crate::domain::session::SessionTimes;
use crate::error::{Error, Result};

/// How often `last_seen_at` is written: idle timeouts are minutes long, so a minute of
/// resolution keeps reads free of writes.
const TOUCH_RESOLUTION_MS: i64 = 60_000;

/// How long sessions live: the environment's defaults, or the account's setting
/// (`Service::session_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle_ms: i64,
    /// A session ends this long after sign-in, used or not.
    pub absolute_ms: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle_ms: 8 * 60 * 60 * 1000,
            absolute_ms: 24 * 60 * 60 * 1000,
        }
    }
}

/// The SSO edge's deployment settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSettings {
    /// `GATEHOUSE_PUBLIC_URL` without a trailing slash: base of entity IDs, ACS and redirect URIs.
    pub public_url: String,
    /// The environment's timeouts: in force until the account sets its own.
    pub session: SessionPolicy,
}

impl Default for SsoSettings {
    fn default() -> Self {
        SsoSettings {
            public_url: "http://127.0.0.1:8080".to_owned(),
            session: SessionPolicy::default(),
        }
    }
}

impl SsoSettings {
    /// Cookies are `Secure` when the service is reached over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// A session just opened: the cookie secret (shown once, to the browser) and its CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub secret: String,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// Where a session is opened from, as its list shows it: the protocol and connection of the
/// sign-in and the browser's user agent (the address is the request context's).
/// A session `logout` ended: where it came from, for telling its identity provider.
#[derive(Debug, Clone)]
pub struct EndedSession {
    /// `saml` or `oidc`.
    pub protocol: String,
    pub connection_key: Option<String>,
    /// OIDC: the sign-in's ID token.
    pub id_token_hint: Option<String>,
    /// What the IdP calls the member and the session (NameID / `sub`, SessionIndex / `sid`).
    pub idp_subject: Option<String>,
    pub idp_session: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionOrigin<'a> {
    pub connection_key: &'a str,
    pub protocol: &'a str,
    pub user_agent: Option<&'a str>,
    /// What the IdP calls the sign-in: its subject and its session id, which its logouts
    /// name, and (OIDC) the ID token to send back as `id_token_hint`.
    pub idp_subject: Option<&'a str>,
    pub idp_session: Option<&'a str>,
    pub id_token_hint: Option<&'a str>,
}

/// Opens a session for a member inside the caller's (login) transaction.
pub(crate) async fn open_session(
    tx: &WriteTx<'_>,
    policy: SessionPolicy,
    member_id: &str,
    origin: SessionOrigin<'_>,
) -> Result<NewSession> {
    let secret = random_token();
    let csrf_token = random_token();
    let now = tx.now_ms();
    let expires_at = now.saturating_add(policy.absolute_ms);
    entity::session::ActiveModel {
        id: Set(hash_secret(&secret)),
        member_id: Set(member_id.to_owned()),
        connection_key: Set(Some(origin.connection_key.to_owned())),
        protocol: Set(origin.protocol.to_owned()),
        csrf_token: Set(csrf_token.clone()),
        source_ip: Set(tx.ctx().source_ip.clone()),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        public_id: Set(uuid::Uuid::new_v4().to_string()),
        user_agent: Set(origin.user_agent.map(str::to_owned)),
        idp_subject: Set(origin.idp_subject.map(str::to_owned)),
        idp_session: Set(origin.idp_session.map(str::to_owned)),
        id_token_hint: Set(origin.id_token_hint.map(str::to_owned)),
    }
    .insert(tx.db())
    .await?;
    Ok(NewSession {
        secret,
        csrf_token,
        expires_at,
    })
}

/// The times of a stored session, for the pure liveness rule.
pub(crate) fn session_times(row: &entity::session::Model) -> SessionTimes {
    SessionTimes {
        created_at: row.created_at,
        last_seen_at: row.last_seen_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
    }
}

impl Service {
    /// Resolves a session cookie to its member principal, or 401. Expired, idle, revoked
    /// sessions and sessions of members who are no longer active all fail the same way.
    pub async fn authenticate_session(&self, secret: &str) -> Result<Principal> {
        let invalid = || Error::Unauthorized("session expired or signed out; sign in again".into());
        if secret.is_empty() || secret.len() > 256 {
            return Err(invalid());
        }
        let row = entity::session::Entity::find_by_id(hash_secret(secret))
            .one(self.db())
            .await?
            .ok_or_else(invalid)?;
        let now = self.now_ms();
        let policy = self.session_policy().await?;
        if !session_times(&row).is_live(now, policy.idle_ms, policy.absolute_ms) {
            return Err(invalid());
        }
        let member = entity::member::Entity::find_by_id(row.member_id.clone())
            .one(self.db())
            .await?
            .ok_or_else(invalid)?;
        if member.status != "active" {
            return Err(invalid());
        }
        let role = BaseRole::parse(&member.role)
            .ok_or_else(|| Error::internal("stored member role is unknown"))?;
        let policy = self.member_policy(self.db(), &member).await?;
        if now - row.last_seen_at >= TOUCH_RESOLUTION_MS {
            let touch = entity::session::Entity::update_many()
                .col_expr(entity::session::Column::LastSeenAt, Expr::value(now))
                .filter(entity::session::Column::Id.eq(row.id.clone()))
                .build(self.db().get_database_backend());
            self.housekeep(Chore::SessionSeen, touch).await?;
        }
        Ok(Principal::Session(SessionPrincipal {
            session_id: row.id,
            member: MemberRef {
                id: member.id,
                email: member.email,
            },
            role,
            policy,
            csrf_token: row.csrf_token,
        }))
    }

    /// `POST /sso/logout`: ends the session of this cookie (audited) and returns it, so that
    /// the edge can tell its identity provider. An unknown or already ended session is not
    /// an error (None): logging out twice is harmless.
    pub async fn logout(&self, ctx: &Ctx, secret: &str) -> Result<Option<EndedSession>> {
        let Some(row) = entity::session::Entity::find_by_id(hash_secret(secret))
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        if row.revoked_at.is_some() {
            return Ok(None);
        }
        let member = member_rows::find(self.db(), &row.member_id).await.ok();
        let email = member
            .as_ref()
            .map(|m| m.email.clone())
            .unwrap_or_else(|| row.member_id.clone());
        let actor_ctx = Ctx {
            principal: match &member {
                Some(m) => Principal::Session(SessionPrincipal {
                    session_id: row.id.clone(),
                    member: MemberRef {
                        id: m.id.clone(),
                        email: m.email.clone(),
                    },
                    role: BaseRole::NoAccess,
                    policy: super::principal::AccessPolicy { roles: Vec::new() },
                    csrf_token: String::new(),
                }),
                None => Principal::System,
            },
            request_id: ctx.request_id.clone(),
            source_ip: ctx.source_ip.clone(),
        };
        let mut tx = self.begin_write(&actor_ctx).await?;
        let now = tx.now_ms();
        let mut am: entity::session::ActiveModel = row.clone().into();
        am.revoked_at = Set(Some(now));
        am.update(tx.db()).await?;
        let res = Resource::member(&row.member_id);
        tx.audit(
            AuditDraft::new("session", &email, "signOut", &res)
                .describe(format!("{email} signed out"))
                .delta(serde_json::json!({
                    "protocol": row.protocol,
                    "connection": row.connection_key,
                })),
        );
        tx.commit().await?;
        Ok(Some(EndedSession {
            protocol: row.protocol,
            connection_key: row.connection_key,
            id_token_hint: row.id_token_hint,
            idp_subject: row.idp_subject,
            idp_session: row.idp_session,
        }))
    }
}
