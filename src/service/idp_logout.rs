//! Logouts an identity provider starts: it names the sessions to end by its own session id
//! (OIDC `sid`, SAML SessionIndex) or by the subject it signed in (`sub`, NameID), always
//! within the one connection the message came through, so that one IdP can never end the
//! sessions of another. Every logout, and every refused logout message, is an audit entry
//! with the connection as the actor.

use std::collections::BTreeMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::sso_login::{Protocol, SignInConnection, app_ctx};
use super::{AuditDraft, Ctx, Service};
use crate::domain::policy::Resource;
use crate::domain::sso::Refusal;
use crate::error::Result;

/// Which of a connection's sessions an IdP logout names: those with its session id, those of
/// its subject, or (both given) those with both.
#[derive(Debug, Clone, Copy)]
pub struct IdpSessions<'a> {
    pub session: Option<&'a str>,
    pub subject: Option<&'a str>,
}

impl Service {
    /// Ends the live sessions of `connection` that the IdP's logout names; returns how many.
    /// One audit entry per member whose sessions ended, or one saying none matched.
    pub async fn end_idp_sessions(
        &self,
        ctx: &Ctx,
        connection: &SignInConnection,
        protocol: Protocol,
        named: IdpSessions<'_>,
    ) -> Result<usize> {
        use entity::session::Column as S;
        let app = app_ctx(ctx, connection);
        let mut tx = self.begin_write(&app).await?;
        let now = tx.now_ms();
        let mut query = entity::session::Entity::find()
            .filter(S::ConnectionKey.eq(connection.key.clone()))
            .filter(S::RevokedAt.is_null())
            .filter(S::ExpiresAt.gt(now));
        if let Some(session) = named.session {
            query = query.filter(S::IdpSession.eq(session));
        }
        if let Some(subject) = named.subject {
            query = query.filter(S::IdpSubject.eq(subject));
        }
        // A message naming neither would name every session of the connection.
        let rows = if named.session.is_none() && named.subject.is_none() {
            Vec::new()
        } else {
            query.all(tx.db()).await?
        };
        let mut by_member: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in &rows {
            by_member
                .entry(row.member_id.clone())
                .or_default()
                .push(row.public_id.clone());
        }
        if !rows.is_empty() {
            entity::session::Entity::update_many()
                .col_expr(S::RevokedAt, Expr::value(now))
                .filter(S::Id.is_in(rows.iter().map(|r| r.id.clone())))
                .exec(tx.db())
                .await?;
        }
        let delta = |sessions: &[String]| {
            json!({
                "outcome": if sessions.is_empty() { "noSession" } else { "signedOut" },
                "channel": "idp",
                "protocol": protocol.as_str(),
                "connection": connection.key,
                "idpSession": named.session,
                "subject": named.subject,
                "sessions": sessions,
                "sourceIp": ctx.source_ip,
            })
        };
        for (member_id, sessions) in &by_member {
            tx.audit(
                AuditDraft::new(
                    "session",
                    member_id,
                    "signOut",
                    &Resource::member(member_id),
                )
                .describe(format!(
                    "{} signed {member_id} out ({} session(s))",
                    connection.key,
                    sessions.len()
                ))
                .parent(&connection.key, &Resource::connection(&connection.key))
                .delta(delta(sessions)),
            );
        }
        if by_member.is_empty() {
            tx.audit(
                AuditDraft::new(
                    "session",
                    &connection.key,
                    "signOut",
                    &Resource::connection(&connection.key),
                )
                .describe(format!(
                    "{} sent a logout that matched no session",
                    connection.key
                ))
                .delta(delta(&[])),
            );
        }
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Audits a refused logout message with its reason (nothing else changes).
    pub async fn record_logout_refusal(
        &self,
        ctx: &Ctx,
        connection: &SignInConnection,
        protocol: Protocol,
        refusal: Refusal,
    ) -> Result<()> {
        let app = app_ctx(ctx, connection);
        let mut tx = self.begin_write(&app).await?;
        tx.audit(
            AuditDraft::new(
                "session",
                &connection.key,
                "signOut",
                &Resource::connection(&connection.key),
            )
            .describe(format!(
                "refused a {} logout through {}: {}",
                protocol.as_str(),
                connection.key,
                refusal.code()
            ))
            .delta(json!({
                "outcome": "refused",
                "reason": refusal.code(),
                "channel": "idp",
                "protocol": protocol.as_str(),
                "connection": connection.key,
                "sourceIp": ctx.source_ip,
            })),
        );
        tx.commit().await?;
        Ok(())
    }
}
