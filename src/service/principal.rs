//! Who is acting: principals, the request context and token authentication.

use sea_orm::QueryTrait;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr};
use std::sync::Arc;

use super::secrets::hash_secret;
use super::write::Chore;
use crate::domain::policy::{CompiledRole, Decision, Resource, decide};

use super::Service;
use crate::domain::audit::Actor;
use crate::domain::grant_source::GrantSource;
use crate::domain::policy::BaseRole;
use crate::error::{Error, Result};

/// A set of roles held together: allowed when any role allows (LaunchDarkly's union).
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    pub roles: Vec<Arc<CompiledRole>>,
}

impl AccessPolicy {
    pub fn decide(&self, action: &str, resource: &Resource) -> Decision {
        decide(&self.roles, action, resource)
    }

    /// The role key of the `i`-th role, for explanations.
    pub fn role_key(&self, i: usize) -> Option<&str> {
        self.roles.get(i).map(|r| r.key())
    }
}

/// How often `last used` of a token is written: once a minute is plenty for people and keeps
/// the hot path free of a write per request.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// The member behind a principal, as the audit log names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub id: String,
    pub email: String,
}

/// An authenticated API token.
#[derive(Debug, Clone)]
pub struct TokenPrincipal {
    pub token_id: String,
    pub name: String,
    pub service_token: bool,
    /// The member a personal token acts as.
    pub owner: Option<MemberRef>,
    /// The base role shown for this principal (the member's, or a lower one the token asked for).
    pub role: BaseRole,
    /// What the member (or, for a service token, the token) may do.
    pub policy: AccessPolicy,
    /// A personal token's own grant: the token may do only what both allow.
    pub limit: Option<AccessPolicy>,
}

/// A member signed in through SSO with a browser session: acts as the member, with the
/// member's full policy (like a personal token without a limit).
#[derive(Debug, Clone)]
pub struct SessionPrincipal {
    /// Hex SHA-256 of the cookie secret (the session row's id).
    pub session_id: String,
    pub member: MemberRef,
    pub role: BaseRole,
    pub policy: AccessPolicy,
    /// What cookie-authenticated writes must send in `X-Gatehouse-CSRF`.
    pub csrf_token: String,
}

/// An identity connection acting on its own behalf: SCIM provisioning, or the member
/// changes a SAML/OIDC login makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPrincipal {
    pub connection_id: String,
    pub connection_key: String,
    pub name: String,
    pub is_scim: bool,
    pub is_sso: bool,
}

impl AppPrincipal {
    /// The connection as a SCIM client.
    pub fn scim(connection: &entity::connection::Model) -> Self {
        AppPrincipal {
            connection_id: connection.id.clone(),
            connection_key: connection.key.clone(),
            name: connection.name.clone(),
            is_scim: true,
            is_sso: false,
        }
    }

    /// The connection provisioning a member at sign-in.
    pub fn sso(connection: &entity::connection::Model) -> Self {
        AppPrincipal {
            is_scim: false,
            is_sso: true,
            ..Self::scim(connection)
        }
    }
}

/// Who is acting.
#[derive(Debug, Clone)]
pub enum Principal {
    Token(TokenPrincipal),
    /// A browser session opened by a SAML or OIDC sign-in.
    Session(SessionPrincipal),
    /// An identity connection (SCIM or SSO provisioning).
    App(AppPrincipal),
    /// The service itself (bootstrap, migrations, CLI).
    System,
}

impl Principal {
    /// The source of what this principal grants over REST (`rest:<member or token id>`); a
    /// connection grants as itself.
    pub fn grant_source(&self) -> GrantSource {
        match self {
            Principal::Token(t) => GrantSource::rest(&t.token_id),
            Principal::Session(s) => GrantSource::rest(&s.member.id),
            Principal::App(a) if a.is_scim => GrantSource::scim(&a.connection_key),
            Principal::App(a) => GrantSource::sso(&a.connection_key),
            Principal::System => GrantSource::rest("system"),
        }
    }

    /// The audit log's view of this principal.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Token(t) => Actor::Token {
                id: t.token_id.clone(),
                name: t.name.clone(),
                service_token: t.service_token,
                owner_id: t.owner.as_ref().map(|m| m.id.clone()),
            },
            Principal::Session(s) => Actor::Member {
                id: s.member.id.clone(),
                email: s.member.email.clone(),
            },
            Principal::App(a) => Actor::App {
                id: a.connection_id.clone(),
                name: a.name.clone(),
                is_scim: a.is_scim,
                is_sso: a.is_sso,
            },
            Principal::System => Actor::System,
        }
    }

    /// The member this principal acts as, if any.
    pub fn member(&self) -> Option<&MemberRef> {
        match self {
            Principal::Token(t) => t.owner.as_ref(),
            Principal::Session(s) => Some(&s.member),
            Principal::App(_) | Principal::System => None,
        }
    }
}

/// The request around a command: who, and the request id and address for the audit log.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub principal: Principal,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
}

impl Ctx {
    pub fn system() -> Self {
        Ctx {
            principal: Principal::System,
            request_id: None,
            source_ip: None,
        }
    }
}

/// Strips an optional `Bearer ` prefix from an Authorization header value.
pub fn token_from_header(value: &str) -> &str {
    let value = value.trim();
    match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => value,
    }
}

/// One answer for an unknown, revoked or expired token and an unusable owner, so the
/// answer does not tell which.
fn invalid_token() -> Error {
    Error::Unauthorized("invalid or revoked API token".into())
}

/// Whether a stored token may still be used at `now`.
pub(crate) fn token_is_live(revoked_at: Option<i64>, expires_at: Option<i64>, now: i64) -> bool {
    revoked_at.is_none() && expires_at.is_none_or(|e| e > now)
}

/// Whether the secret hashed `hash` opens `token` at `now`: its current secret, or the one a
/// reset replaced until that one's grace ends (exclusive, as expiry is).
fn secret_is_accepted(token: &entity::api_token::Model, hash: &str, now: i64) -> bool {
    token.secret_hash == hash
        || (token.previous_secret_hash.as_deref() == Some(hash)
            && token.previous_secret_expires_at.is_some_and(|e| e > now))
}

/// The base role a token row asks for, if any.
fn stored_token_role(role: Option<&str>) -> Result<Option<BaseRole>> {
    role.map(|r| BaseRole::parse(r).ok_or_else(|| Error::internal("stored token role is unknown")))
        .transpose()
}

/// The role shown for a personal token: the member's, or the lower one the token asked for.
fn personal_token_role(token_role: Option<BaseRole>, member_role: BaseRole) -> BaseRole {
    match token_role {
        Some(t) if t.rank() < member_role.rank() => t,
        _ => member_role,
    }
}

/// Whether `last used` is old enough to write again (see `LAST_USED_RESOLUTION_MS`).
fn last_use_is_stale(last_used: Option<i64>, now: i64) -> bool {
    last_used.is_none_or(|t| now - t >= LAST_USED_RESOLUTION_MS)
}

/// What a token may do and whom it acts as.
struct TokenGrant {
    owner: Option<MemberRef>,
    role: BaseRole,
    policy: AccessPolicy,
    limit: Option<AccessPolicy>,
}

impl Service {
    /// Resolves an Authorization header to a principal, or 401.
    pub async fn authenticate(&self, header: &str) -> Result<Principal> {
        let secret = token_from_header(header);
        if secret.is_empty() {
            return Err(Error::Unauthorized("missing API token".into()));
        }
        // Looked up by its hash: the secret itself is never compared. A secret a reset
        // replaced is found by its own hash while its grace lasts.
        let hash = hash_secret(secret);
        let now = self.now_ms();
        let candidates = entity::api_token::Entity::find()
            .filter(
                Condition::any()
                    .add(entity::api_token::Column::SecretHash.eq(hash.clone()))
                    .add(entity::api_token::Column::PreviousSecretHash.eq(hash.clone())),
            )
            .limit(2)
            .all(self.db())
            .await?;
        // A current secret wins over a replaced one: the bootstrap secret is created again at
        // start even while a reset of its token keeps it alive as an old secret.
        let (current, replaced): (Vec<_>, Vec<_>) =
            candidates.into_iter().partition(|t| t.secret_hash == hash);
        let token = current
            .into_iter()
            .chain(replaced)
            .next()
            .ok_or_else(invalid_token)?;
        if !secret_is_accepted(&token, &hash, now)
            || !token_is_live(token.revoked_at, token.expires_at, now)
        {
            return Err(invalid_token());
        }
        let token_role = stored_token_role(token.role.as_deref())?;
        let custom_roles: Vec<String> = super::util::from_json(&token.custom_roles)?;
        let grant = match &token.owner_id {
            Some(owner_id) => {
                self.personal_token_grant(owner_id, token_role, &custom_roles)
                    .await?
            }
            None => {
                self.service_token_grant(token_role, &custom_roles, token.inline_role.as_deref())
                    .await?
            }
        };
        if last_use_is_stale(token.last_used, now) {
            self.note_token_used(&token.id, now);
        }
        Ok(Principal::Token(TokenPrincipal {
            token_id: token.id,
            name: token.name,
            service_token: token.service_token,
            owner: grant.owner,
            role: grant.role,
            policy: grant.policy,
            limit: grant.limit,
        }))
    }

    /// A personal token acts as its member, while the member is active (and, under an
    /// SSO-only policy, only for owners); its own grant limits what it may do.
    async fn personal_token_grant(
        &self,
        owner_id: &str,
        token_role: Option<BaseRole>,
        custom_roles: &[String],
    ) -> Result<TokenGrant> {
        let member = entity::member::Entity::find_by_id(owner_id.to_owned())
            .one(self.db())
            .await?
            .ok_or_else(invalid_token)?;
        if member.status != "active" {
            return Err(invalid_token());
        }
        if member.role != "owner" && self.sso_only().await? {
            return Err(Error::Unauthorized(
                "this account requires sign-in through SSO: personal API tokens of members do not work".into(),
            ));
        }
        let member_role = BaseRole::parse(&member.role)
            .ok_or_else(|| Error::internal("stored member role is unknown"))?;
        let policy = self.member_policy(self.db(), &member).await?;
        let limit = self
            .token_grant(self.db(), token_role, custom_roles, None, Some(&member.id))
            .await?;
        Ok(TokenGrant {
            owner: Some(MemberRef {
                id: member.id,
                email: member.email,
            }),
            role: personal_token_role(token_role, member_role),
            policy,
            limit,
        })
    }

    /// A service token acts as itself: its grant is all it may do.
    async fn service_token_grant(
        &self,
        token_role: Option<BaseRole>,
        custom_roles: &[String],
        inline_role: Option<&str>,
    ) -> Result<TokenGrant> {
        let policy = self
            .token_grant(self.db(), token_role, custom_roles, inline_role, None)
            .await?
            .unwrap_or(AccessPolicy { roles: Vec::new() });
        Ok(TokenGrant {
            owner: None,
            role: token_role.unwrap_or(BaseRole::NoAccess),
            policy,
            limit: None,
        })
    }

    /// Records the use off the request's path, as a chore without an audit entry.
    fn note_token_used(&self, token_id: &str, now: i64) {
        let write = entity::api_token::Entity::update_many()
            .col_expr(entity::api_token::Column::LastUsed, Expr::value(now))
            .filter(entity::api_token::Column::Id.eq(token_id.to_owned()))
            .build(self.db().get_database_backend());
        self.housekeep_later(Chore::CredentialUsed, write);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_prefix_is_optional() {
        assert_eq!(token_from_header("  Bearer  abc "), "abc");
        assert_eq!(token_from_header("bearer abc"), "abc");
        assert_eq!(token_from_header("abc"), "abc");
        assert_eq!(token_from_header("Basic abc"), "Basic abc");
        assert_eq!(token_from_header("   "), "");
    }

    #[test]
    fn a_token_is_live_until_revoked_or_expired() {
        assert!(token_is_live(None, None, 1_000));
        assert!(token_is_live(None, Some(1_001), 1_000));
        // Expiry is exclusive: at the instant it expires the token no longer works.
        assert!(!token_is_live(None, Some(1_000), 1_000));
        assert!(!token_is_live(None, Some(10), 1_000));
        assert!(!token_is_live(Some(5), None, 1_000));
        assert!(!token_is_live(Some(5), Some(2_000), 1_000));
    }

    #[test]
    fn a_replaced_secret_opens_its_token_only_until_its_grace_ends() {
        let token = entity::api_token::Model {
            id: "t".into(),
            name: "t".into(),
            owner_id: None,
            service_token: true,
            role: None,
            custom_roles: "[]".into(),
            secret_hash: "new".into(),
            ending: "abcd".into(),
            last_used: None,
            expires_at: None,
            revoked_at: None,
            created_by: None,
            created_at: 0,
            description: None,
            inline_role: None,
            previous_secret_hash: Some("old".into()),
            previous_secret_expires_at: Some(1_000),
        };
        assert!(secret_is_accepted(&token, "new", 5_000));
        assert!(secret_is_accepted(&token, "old", 999));
        assert!(!secret_is_accepted(&token, "old", 1_000));
        assert!(!secret_is_accepted(&token, "other", 0));
        let no_grace = entity::api_token::Model {
            previous_secret_expires_at: None,
            ..token
        };
        assert!(!secret_is_accepted(&no_grace, "old", 0));
    }

    #[test]
    fn stored_roles_parse_or_fail_as_internal() {
        assert_eq!(stored_token_role(None).unwrap(), None);
        assert_eq!(
            stored_token_role(Some("writer")).unwrap(),
            Some(BaseRole::Writer)
        );
        assert_eq!(
            stored_token_role(Some("noAccess")).unwrap(),
            Some(BaseRole::NoAccess)
        );
        let e = stored_token_role(Some("root")).unwrap_err();
        assert!(
            matches!(&e, Error::Internal(m) if m == "stored token role is unknown"),
            "{e:?}"
        );
    }

    #[test]
    fn a_personal_token_never_outranks_its_member() {
        use BaseRole::*;
        assert_eq!(personal_token_role(None, Admin), Admin);
        assert_eq!(personal_token_role(Some(Reader), Admin), Reader);
        assert_eq!(personal_token_role(Some(NoAccess), Reader), NoAccess);
        assert_eq!(personal_token_role(Some(Owner), Writer), Writer);
        assert_eq!(personal_token_role(Some(Writer), Writer), Writer);
    }

    #[test]
    fn last_use_is_written_at_most_once_a_minute() {
        assert!(last_use_is_stale(None, 0));
        assert!(!last_use_is_stale(Some(1_000), 1_000));
        assert!(!last_use_is_stale(
            Some(1_000),
            1_000 + LAST_USED_RESOLUTION_MS - 1
        ));
        assert!(last_use_is_stale(
            Some(1_000),
            1_000 + LAST_USED_RESOLUTION_MS
        ));
    }

    #[test]
    fn every_refused_token_gets_the_same_answer() {
        let e = invalid_token();
        assert!(matches!(e, Error::Unauthorized(_)));
        assert_eq!(e.to_string(), "invalid or revoked API token");
    }
}
