//! One token's life after creation: read it, change its name, description or access, reset
//! its secret with a grace period for the old one; and the rules a token's access keeps
//! against its caller, shared with create.

use poem_openapi::Object;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde_json::{Value, json};

use super::{Token, ending, generate_secret, resource, to_rep};
use crate::domain::policy::{
    BaseRole, CompiledRole, PolicyError, Resource, ResourceType, action::actions_for,
};
use crate::error::{Error, Result};
use crate::service::access::compile_inline_role;
use crate::service::authz::authorize;
use crate::service::documented::Documented;
use crate::service::member_rows::{self, parse_role};
use crate::service::members::{check_custom_roles, check_role_requirements};
use crate::service::principal::AccessPolicy;
use crate::service::roles::StatementBody;
use crate::service::secrets::hash_secret;
use crate::service::spelled::{Key, Matches, Name, RoleName, Spelled};
use crate::service::util::{from_json, snapshot, to_json, validate_name};
use crate::service::{AuditDraft, Ctx, Principal, Service};

/// The longest an old secret keeps working after a reset: long enough to roll a fleet over,
/// short enough that a leaked secret cannot be kept alive by a reset.
pub const MAX_RESET_GRACE_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Body of `PATCH /api/v2/tokens/{id}`: the fields to change, as a member's patch is.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenPatch {
    /// Not blank, no control characters; at most 256.
    #[oai(validator(custom = "Matches::new()", max_length = 256))]
    pub name: Option<Spelled<Name>>,
    /// Free text, at most 1024 characters; `""` clears it.
    #[oai(validator(max_length = 1024))]
    pub description: Option<String>,
    /// Base role; never above the caller's own, nor a personal token's member's.
    #[oai(validator(custom = "Matches::new()"))]
    pub role: Option<Spelled<RoleName>>,
    /// Keys of the custom roles the token acts with (replaces the list).
    #[oai(validator(custom = "Matches::new()"))]
    pub custom_roles: Option<Vec<Spelled<Key>>>,
    /// Statements the service token holds itself (replaces them; `[]` removes them).
    pub inline_role: Option<Vec<StatementBody>>,
    pub comment: Option<String>,
}

/// What `POST /api/v2/tokens/{id}/reset` is asked.
#[derive(Debug, Clone, Copy)]
pub struct TokenReset {
    /// Epoch milliseconds until which the old secret keeps working; absent or past: it stops
    /// at once.
    pub expiry: Option<i64>,
}

/// Until when a reset token's old secret works: `None` when it stops at once. A grace longer
/// than `MAX_RESET_GRACE_MS` is refused rather than cut short behind the caller's back.
pub(super) fn grace_until(expiry: Option<i64>, now: i64) -> Result<Option<i64>> {
    match expiry {
        Some(e) if e > now.saturating_add(MAX_RESET_GRACE_MS) => Err(Error::invalid(format!(
            "expiry: the old secret may keep working at most {} days after a reset",
            MAX_RESET_GRACE_MS / (24 * 60 * 60 * 1000)
        ))),
        Some(e) if e > now => Ok(Some(e)),
        _ => Ok(None),
    }
}

/// The caller's own base role, when it has one to compare with.
fn caller_role(principal: &Principal) -> Option<BaseRole> {
    match principal {
        Principal::Token(t) => Some(t.role),
        Principal::Session(s) => Some(s.role),
        Principal::App(_) | Principal::System => None,
    }
}

/// A token's base role may not exceed the caller's own: a refusal of the caller (403).
pub(super) fn check_role_within_caller(
    principal: &Principal,
    role: Option<BaseRole>,
) -> Result<()> {
    if let (Some(own), Some(r)) = (caller_role(principal), role)
        && r.rank() > own.rank()
    {
        return Err(Error::forbidden(format!(
            "role: cannot give a token a role above your own role {}",
            own.as_str()
        )));
    }
    Ok(())
}

/// A personal token's base role may not exceed its member's (400: the request asks for
/// something the token cannot be).
pub(super) async fn check_role_within_member(
    db: &impl ConnectionTrait,
    owner_id: &str,
    role: Option<BaseRole>,
) -> Result<()> {
    let owner = member_rows::find(db, owner_id).await?;
    let owner_role = parse_role("role", &owner.role)?;
    if role.is_some_and(|r| r.rank() > owner_role.rank()) {
        return Err(Error::invalid(format!(
            "role: a personal token cannot exceed its member's role {}",
            owner_role.as_str()
        )));
    }
    Ok(())
}

/// A policy error about the request's `inlineRole`: the same message, its path led by the
/// field the statements came in (`inlineRole[2].resources[0]`).
fn inline_error(e: PolicyError) -> Error {
    let path = match e.path.strip_prefix("policy") {
        Some(rest) => format!("inlineRole{rest}"),
        None => e.path,
    };
    Error::invalid(format!("{path}: {}", e.message))
}

/// Whether a policy holds the admin or owner base role in full (unions only widen it).
fn holds_admin(policy: &AccessPolicy) -> bool {
    policy
        .roles
        .iter()
        .any(|r| matches!(r.key(), "base:admin" | "base:owner"))
}

/// Inline statements never reach beyond the caller. The caller must hold the admin (or owner)
/// role in effect, which allows every action on every resource but `updateAccountOwner` on
/// `acct`; the account's own actions, the one place admin and owner differ, are then checked
/// one by one. Together this is exact: the statements allow nothing the caller may not do.
fn check_inline_within_caller(principal: &Principal, inline: &CompiledRole) -> Result<()> {
    let admin = match principal {
        Principal::System => return Ok(()),
        Principal::Token(t) => holds_admin(&t.policy) && t.limit.as_ref().is_none_or(holds_admin),
        Principal::Session(s) => holds_admin(&s.policy),
        Principal::App(_) => false,
    };
    if !admin {
        return Err(Error::forbidden(
            "inlineRole: only a caller whose admin or owner role is in effect may give a token its own statements",
        ));
    }
    let acct = Resource::acct();
    for id in actions_for(ResourceType::Acct).iter() {
        if inline.evaluate(id, &acct).is_allowed()
            && authorize(principal, id.name(), &acct).is_err()
        {
            return Err(Error::forbidden(format!(
                "inlineRole: allows {} on acct, which you may not do yourself",
                id.name()
            )));
        }
    }
    Ok(())
}

/// Checks the statements a token is to hold itself: service tokens only, valid as a custom
/// role's policy, and within the caller's access. `[]` holds none.
pub(super) fn inline_role(
    principal: &Principal,
    service_token: bool,
    given: Option<&[StatementBody]>,
) -> Result<Option<Vec<Value>>> {
    let Some(given) = given else {
        return Ok(None);
    };
    if !service_token {
        return Err(Error::invalid(
            "inlineRole: only a service token holds statements itself; a personal token acts as its member",
        ));
    }
    if given.is_empty() {
        return Ok(None);
    }
    let statements = Documented::values(given);
    let compiled = compile_inline_role(&statements).map_err(inline_error)?;
    check_inline_within_caller(principal, &compiled)?;
    Ok(Some(statements))
}

/// A token row, or 404.
async fn find(db: &impl ConnectionTrait, id: &str) -> Result<entity::api_token::Model> {
    entity::api_token::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found(format!("token {id:?}")))
}

/// Whether the caller is the member a personal token acts as.
fn is_own(ctx: &Ctx, m: &entity::api_token::Model) -> bool {
    ctx.principal
        .member()
        .is_some_and(|me| m.owner_id.as_deref() == Some(me.id.as_str()))
}

/// A revoked token stays for the record and changes no more.
fn refuse_revoked(m: &entity::api_token::Model) -> Result<()> {
    if m.revoked_at.is_some() {
        return Err(Error::conflict(format!(
            "token {:?} is revoked and cannot change",
            m.id
        )));
    }
    Ok(())
}

/// A token patch, authorized and checked, not yet written.
#[derive(Debug, Default)]
struct TokenChange {
    name: Option<String>,
    description: Option<Option<String>>,
    role: Option<BaseRole>,
    custom_roles: Option<Vec<String>>,
    inline_role: Option<Option<Vec<Value>>>,
    /// The actions exercised, in the order the fields are checked.
    actions: Vec<&'static str>,
}

impl TokenChange {
    fn touches_access(&self) -> bool {
        self.role.is_some() || self.custom_roles.is_some() || self.inline_role.is_some()
    }
}

impl Service {
    /// One token, without its secret: the caller's own personal tokens always, others with
    /// `viewToken`, as the list shows them.
    pub async fn get_token(&self, ctx: &Ctx, id: &str) -> Result<Token> {
        let m = find(self.db(), id).await?;
        if !is_own(ctx, &m) {
            authorize(&ctx.principal, "viewToken", &resource(&m))?;
        }
        to_rep(&m)
    }

    /// Changes the fields a patch sets, each under its own permission (own personal tokens
    /// need none), in one audited transaction.
    pub async fn update_token(&self, ctx: &Ctx, id: &str, patch: TokenPatch) -> Result<Token> {
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), id).await?;
        let change = decide_change(tx.db(), ctx, &m, &patch).await?;
        if change.actions.is_empty() {
            // An empty patch changes nothing, as an empty merge patch does: no entry.
            drop(tx);
            return self.get_token(ctx, id).await;
        }
        refuse_revoked(&m)?;
        let before = to_rep(&m)?;
        let mut am: entity::api_token::ActiveModel = m.clone().into();
        if let Some(name) = &change.name {
            am.name = Set(name.clone());
        }
        if let Some(description) = &change.description {
            am.description = Set(description.clone());
        }
        if let Some(role) = change.role {
            am.role = Set(Some(role.as_str().to_owned()));
        }
        if let Some(roles) = &change.custom_roles {
            am.custom_roles = Set(to_json(roles)?);
        }
        if let Some(inline) = &change.inline_role {
            am.inline_role = Set(inline.as_ref().map(to_json).transpose()?);
        }
        let updated = am.update(tx.db()).await?;
        let after = to_rep(&updated)?;
        let res = resource(&m);
        let mut draft = AuditDraft::new("token", &after.name, "updateAccessTokenName", &res);
        draft.accesses.clear();
        for action in &change.actions {
            draft = draft.access(action, &res);
        }
        tx.audit(
            draft
                .describe(format!("updated token {}", after.name))
                .before(Some(snapshot(&before)?))
                .after(Some(snapshot(&after)?))
                .comment(patch.comment),
        );
        tx.commit().await?;
        Ok(after)
    }

    /// Gives a token a new secret, answered once. The old secret keeps working until `expiry`
    /// (absent or past: it stops at once); a second reset ends the first one's grace, so at
    /// most one old secret is ever alive.
    pub async fn reset_token(&self, ctx: &Ctx, id: &str, reset: TokenReset) -> Result<Token> {
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), id).await?;
        let res = resource(&m);
        if !is_own(ctx, &m) {
            authorize(&ctx.principal, "resetAccessToken", &res)?;
        }
        refuse_revoked(&m)?;
        let grace = grace_until(reset.expiry, tx.now_ms())?;
        let before = to_rep(&m)?;
        let secret = generate_secret();
        let mut am: entity::api_token::ActiveModel = m.clone().into();
        am.secret_hash = Set(hash_secret(&secret));
        am.ending = Set(ending(&secret));
        am.previous_secret_hash = Set(grace.map(|_| m.secret_hash.clone()));
        am.previous_secret_expires_at = Set(grace);
        let updated = am.update(tx.db()).await?;
        let after = to_rep(&updated)?;
        let old_secret = match grace {
            Some(until) => format!("the old secret works until {until}"),
            None => "the old secret stopped at once".to_owned(),
        };
        // Neither secret nor hash goes into the entry: only when the old one stops.
        tx.audit(
            AuditDraft::new("token", &m.name, "resetAccessToken", &res)
                .describe(format!(
                    "reset the secret of token {}; {old_secret}",
                    m.name
                ))
                .before(Some(snapshot(&before)?))
                .after(Some(snapshot(&after)?))
                .delta(json!({"previousSecretExpiresAt": grace})),
        );
        tx.commit().await?;
        Ok(Token {
            token: Some(secret),
            ..after
        })
    }
}

/// Authorizes and checks each field a patch sets, in a fixed order (name, description, access),
/// so the first refusal is always the same one.
async fn decide_change(
    db: &impl ConnectionTrait,
    ctx: &Ctx,
    m: &entity::api_token::Model,
    patch: &TokenPatch,
) -> Result<TokenChange> {
    let principal = &ctx.principal;
    let res = resource(m);
    let own = is_own(ctx, m);
    let may = |action: &str| {
        if own {
            Ok(())
        } else {
            authorize(principal, action, &res)
        }
    };
    let mut change = TokenChange::default();
    if let Some(name) = &patch.name {
        may("updateAccessTokenName")?;
        change.name = Some(validate_name("name", name)?);
        change.actions.push("updateAccessTokenName");
    }
    if let Some(description) = &patch.description {
        may("updateAccessTokenDescription")?;
        change.description = Some(Some(description.clone()).filter(|d| !d.is_empty()));
        change.actions.push("updateAccessTokenDescription");
    }
    if patch.role.is_some() || patch.custom_roles.is_some() || patch.inline_role.is_some() {
        may("updateAccessTokenPolicy")?;
        change.actions.push("updateAccessTokenPolicy");
    }
    if let Some(role) = &patch.role {
        let role = parse_role("role", role)?;
        check_role_within_caller(principal, Some(role))?;
        if let Some(owner_id) = &m.owner_id {
            check_role_within_member(db, owner_id, Some(role)).await?;
        }
        change.role = Some(role);
    }
    if let Some(keys) = &patch.custom_roles {
        let keys = check_custom_roles(db, "customRoles", &Spelled::texts(keys)).await?;
        // Tokens carry no role attributes, so roles that need them cannot be given to one.
        check_role_requirements(db, "customRoles", &keys, &Default::default()).await?;
        change.custom_roles = Some(keys);
    }
    if let Some(given) = &patch.inline_role {
        change.inline_role = Some(inline_role(principal, m.service_token, Some(given))?);
    }
    if m.service_token && change.touches_access() {
        check_service_token_keeps_access(m, &change)?;
    }
    Ok(change)
}

/// A service token acts as nothing but itself, so a change may not leave it without a role,
/// custom roles or inline statements.
fn check_service_token_keeps_access(
    m: &entity::api_token::Model,
    change: &TokenChange,
) -> Result<()> {
    let has_role = change.role.is_some() || m.role.is_some();
    let has_custom = match &change.custom_roles {
        Some(keys) => !keys.is_empty(),
        None => !from_json::<Vec<String>>(&m.custom_roles)?.is_empty(),
    };
    let has_inline = match &change.inline_role {
        Some(inline) => inline.is_some(),
        None => m.inline_role.is_some(),
    };
    if has_role || has_custom || has_inline {
        Ok(())
    } else {
        Err(Error::invalid(
            "customRoles: a service token needs a role, custom roles or an inline role",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_secret_stops_at_once_unless_a_future_expiry_is_given() {
        assert_eq!(grace_until(None, 1_000).unwrap(), None);
        assert_eq!(grace_until(Some(500), 1_000).unwrap(), None);
        // Expiry is exclusive: the old secret stops at that instant, so `now` is no grace.
        assert_eq!(grace_until(Some(1_000), 1_000).unwrap(), None);
        assert_eq!(grace_until(Some(1_001), 1_000).unwrap(), Some(1_001));
        let longest = 1_000 + MAX_RESET_GRACE_MS;
        assert_eq!(grace_until(Some(longest), 1_000).unwrap(), Some(longest));
        let err = grace_until(Some(longest + 1), 1_000).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)));
        assert_eq!(
            err.to_string(),
            "expiry: the old secret may keep working at most 30 days after a reset"
        );
    }

    #[test]
    fn inline_errors_name_the_request_field() {
        let e = inline_error(PolicyError {
            path: "policy[2].resources[0]".into(),
            message: "bad specifier".into(),
        });
        assert_eq!(e.to_string(), "inlineRole[2].resources[0]: bad specifier");
        assert!(matches!(e, Error::InvalidRequest(_)));
    }

    #[test]
    fn a_personal_token_holds_no_statements() {
        let statements: Vec<StatementBody> = Vec::new();
        let err = inline_role(&Principal::System, false, Some(&statements)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("inlineRole: only a service token")
        );
        assert_eq!(
            inline_role(&Principal::System, true, Some(&statements)).unwrap(),
            None
        );
        assert_eq!(inline_role(&Principal::System, false, None).unwrap(), None);
    }
}
