//! Revoking what a member signs in with (personal API tokens, browser sessions), inside the
//! caller's transaction: deactivation and deletion over REST and SCIM, and sign-out.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::WriteTx;
use crate::error::Result;

/// Revokes everything a member signs in with, inside the caller's transaction: personal API
/// tokens and browser sessions. Deactivation and deletion (REST, SCIM) call this, so a
/// deactivated member is locked out on every replica with the commit.
pub(crate) async fn revoke_member_credentials(
    tx: &WriteTx<'_>,
    member_id: &str,
) -> Result<(u64, u64)> {
    let tokens = revoke_member_tokens(tx, member_id).await?;
    let sessions = revoke_member_sessions(tx.db(), tx.now_ms(), member_id).await?;
    Ok((tokens, sessions))
}

/// Revokes every personal token of a member inside the caller's transaction.
pub(crate) async fn revoke_member_tokens(tx: &WriteTx<'_>, member_id: &str) -> Result<u64> {
    let res = entity::api_token::Entity::update_many()
        .col_expr(
            entity::api_token::Column::RevokedAt,
            Expr::value(tx.now_ms()),
        )
        .filter(entity::api_token::Column::OwnerId.eq(member_id))
        .filter(entity::api_token::Column::RevokedAt.is_null())
        .exec(tx.db())
        .await?;
    Ok(res.rows_affected)
}

/// Ends every live session of a member inside the caller's transaction.
pub(crate) async fn revoke_member_sessions(
    db: &impl ConnectionTrait,
    now: i64,
    member_id: &str,
) -> Result<u64> {
    let res = entity::session::Entity::update_many()
        .col_expr(entity::session::Column::RevokedAt, Expr::value(now))
        .filter(entity::session::Column::MemberId.eq(member_id))
        .filter(entity::session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
