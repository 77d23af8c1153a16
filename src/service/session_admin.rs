//! Admin control of browser sessions: a member's live sessions, ending one or all of them, and
//! ending every session of the account but the caller's.
//!
//! A session is named by its public id: the stored key is the hash of the cookie secret, the
//! one value a lookup needs, so it never leaves the database. Members may always list and end
//! their own sessions; for anyone else's, listing needs what reading the member needs
//! (`viewMember`) and ending needs `revokeSessions` on `member/<id>`; the account-wide revoke
//! needs `revokeSessions` on `acct`. Every revoke is one audited change naming the sessions
//! it ended.

use poem_openapi::Object;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use serde_json::{Value, json};

use super::authz::authorize;
use super::sessions::{SessionPolicy, session_times};
use super::{AuditDraft, Ctx, Principal, Service, WriteTx, member_rows};
use crate::domain::policy::Resource;
use crate::error::{Error, Result};

/// Sessions ended per UPDATE: far below every backend's bind-parameter limit.
const REVOKE_CHUNK: usize = 500;

/// A live browser session as REST shows it.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct SessionInfo {
    /// The session's public id (never the cookie or anything derived from it).
    pub id: String,
    pub member_id: String,
    /// Sign-in time, epoch milliseconds.
    pub creation_date: i64,
    /// Last request seen, epoch milliseconds, to the minute.
    pub last_used: i64,
    /// When the session ends if it stays unused from now on (the idle or the absolute
    /// timeout, whichever comes first), epoch milliseconds.
    pub expires_at: i64,
    /// The address the sign-in came from.
    #[oai(nullable)]
    pub ip: Option<String>,
    /// The browser's `User-Agent` at sign-in.
    #[oai(nullable)]
    pub user_agent: Option<String>,
    /// The key of the identity connection signed in through.
    #[oai(nullable)]
    pub connection: Option<String>,
    /// `saml` or `oidc`.
    pub protocol: String,
    /// True for the session this request came with.
    pub current: bool,
}

/// Body of `POST /api/v2/account/sessions/revoke`.
#[derive(Debug, Clone, Default, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionsRevokePost {
    /// Recorded in the audit entry.
    pub comment: Option<String>,
}

/// What a revoke ended.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct SessionsRevoked {
    /// How many live sessions were ended.
    pub revoked_count: u64,
}

/// A member may always see and end their own sessions; anyone else needs `action` on them.
fn may_act_on(principal: &Principal, member_id: &str, action: &str) -> Result<()> {
    if principal.member().is_some_and(|me| me.id == member_id) {
        return Ok(());
    }
    authorize(principal, action, &Resource::member(member_id))
}

/// The session this request came with, if it came with one.
fn current_session(principal: &Principal) -> Option<&str> {
    match principal {
        Principal::Session(s) => Some(&s.session_id),
        _ => None,
    }
}

/// The live sessions of one member (or of everyone), newest use first.
async fn live_sessions(
    db: &impl ConnectionTrait,
    member_id: Option<&str>,
    policy: SessionPolicy,
    now: i64,
) -> Result<Vec<entity::session::Model>> {
    use entity::session::Column as C;
    let mut query = entity::session::Entity::find()
        .filter(C::RevokedAt.is_null())
        .filter(C::ExpiresAt.gt(now));
    if let Some(id) = member_id {
        query = query.filter(C::MemberId.eq(id));
    }
    let mut rows: Vec<_> = query
        .all(db)
        .await?
        .into_iter()
        .filter(|r| session_times(r).is_live(now, policy.idle_ms, policy.absolute_ms))
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.last_seen_at));
    Ok(rows)
}

fn to_info(
    row: entity::session::Model,
    policy: SessionPolicy,
    current: Option<&str>,
) -> SessionInfo {
    let ends = session_times(&row).ends_at(policy.absolute_ms);
    SessionInfo {
        current: current == Some(row.id.as_str()),
        id: row.public_id,
        member_id: row.member_id,
        creation_date: row.created_at,
        last_used: row.last_seen_at,
        expires_at: ends.min(row.last_seen_at.saturating_add(policy.idle_ms)),
        ip: row.source_ip,
        user_agent: row.user_agent,
        connection: row.connection_key,
        protocol: row.protocol,
    }
}

/// Ends `rows` inside the caller's transaction.
async fn end_sessions(tx: &WriteTx<'_>, rows: &[entity::session::Model]) -> Result<()> {
    use entity::session::Column as C;
    for chunk in rows.chunks(REVOKE_CHUNK) {
        entity::session::Entity::update_many()
            .col_expr(C::RevokedAt, Expr::value(tx.now_ms()))
            .filter(C::Id.is_in(chunk.iter().map(|r| r.id.clone())))
            .filter(C::RevokedAt.is_null())
            .exec(tx.db())
            .await?;
    }
    Ok(())
}

/// The public ids of ended sessions, for the audit entry.
fn ended_ids(rows: &[entity::session::Model]) -> Value {
    Value::from_iter(rows.iter().map(|r| Value::from(r.public_id.clone())))
}

/// The audit entry of ending sessions of one member.
fn member_revoke_draft(
    member: &entity::member::Model,
    ended: &[entity::session::Model],
) -> AuditDraft {
    let res = Resource::member(&member.id);
    AuditDraft::new("member", &member.email, "revokeSessions", &res)
        .describe(format!(
            "ended {} session(s) of {}",
            ended.len(),
            member.email
        ))
        .delta(json!({ "sessions": ended_ids(ended), "count": ended.len() }))
}

impl Service {
    /// `GET /api/v2/members/{id}/sessions`: the member's live sessions, newest use first.
    pub async fn list_member_sessions(
        &self,
        ctx: &Ctx,
        member_id: &str,
    ) -> Result<Vec<SessionInfo>> {
        let member = member_rows::find(self.db(), member_id).await?;
        may_act_on(&ctx.principal, &member.id, "viewMember")?;
        let policy = self.session_policy().await?;
        let rows = live_sessions(self.db(), Some(&member.id), policy, self.now_ms()).await?;
        let current = current_session(&ctx.principal);
        Ok(rows
            .into_iter()
            .map(|r| to_info(r, policy, current))
            .collect())
    }

    /// `DELETE /api/v2/members/{id}/sessions/{sessionId}`: ends one live session of the
    /// member; 404 when the member has no live session by that id.
    pub async fn revoke_member_session(
        &self,
        ctx: &Ctx,
        member_id: &str,
        session_id: &str,
    ) -> Result<()> {
        let policy = self.session_policy().await?;
        let mut tx = self.begin_write(ctx).await?;
        let member = member_rows::find(tx.db(), member_id).await?;
        may_act_on(&ctx.principal, &member.id, "revokeSessions")?;
        let row = entity::session::Entity::find()
            .filter(entity::session::Column::PublicId.eq(session_id))
            .filter(entity::session::Column::MemberId.eq(member.id.clone()))
            .one(tx.db())
            .await?
            .filter(|r| session_times(r).is_live(tx.now_ms(), policy.idle_ms, policy.absolute_ms))
            .ok_or_else(|| {
                Error::not_found(format!(
                    "live session {session_id:?} of member {member_id:?}"
                ))
            })?;
        let ended = [row];
        end_sessions(&tx, &ended).await?;
        tx.audit(member_revoke_draft(&member, &ended));
        tx.commit().await?;
        Ok(())
    }

    /// `DELETE /api/v2/members/{id}/sessions`: ends every live session of the member
    /// (audited even when there was none, as the admin's deliberate act).
    pub async fn revoke_member_sessions(
        &self,
        ctx: &Ctx,
        member_id: &str,
    ) -> Result<SessionsRevoked> {
        let policy = self.session_policy().await?;
        let mut tx = self.begin_write(ctx).await?;
        let member = member_rows::find(tx.db(), member_id).await?;
        may_act_on(&ctx.principal, &member.id, "revokeSessions")?;
        let ended = live_sessions(tx.db(), Some(&member.id), policy, tx.now_ms()).await?;
        end_sessions(&tx, &ended).await?;
        tx.audit(member_revoke_draft(&member, &ended));
        tx.commit().await?;
        Ok(SessionsRevoked {
            revoked_count: ended.len() as u64,
        })
    }

    /// `POST /api/v2/account/sessions/revoke`: ends every live session of every member but
    /// the caller (a service token has no sessions of its own to keep).
    pub async fn revoke_account_sessions(
        &self,
        ctx: &Ctx,
        input: SessionsRevokePost,
    ) -> Result<SessionsRevoked> {
        let res = Resource::acct();
        authorize(&ctx.principal, "revokeSessions", &res)?;
        let policy = self.session_policy().await?;
        let caller = ctx.principal.member().map(|m| m.id.clone());
        let mut tx = self.begin_write(ctx).await?;
        let ended: Vec<_> = live_sessions(tx.db(), None, policy, tx.now_ms())
            .await?
            .into_iter()
            .filter(|r| caller.as_deref() != Some(r.member_id.as_str()))
            .collect();
        end_sessions(&tx, &ended).await?;
        let named: Vec<Value> = ended
            .iter()
            .map(|r| json!({ "id": r.public_id, "memberId": r.member_id }))
            .collect();
        tx.audit(
            AuditDraft::new("account", "account", "revokeSessions", &res)
                .describe(format!(
                    "ended {} session(s) of every member but the caller",
                    ended.len()
                ))
                .delta(json!({ "sessions": named, "count": ended.len(), "keptMemberId": caller }))
                .comment(input.comment),
        );
        tx.commit().await?;
        Ok(SessionsRevoked {
            revoked_count: ended.len() as u64,
        })
    }
}
