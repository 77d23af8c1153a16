//! SCIM bearer tokens: authentication of every SCIM request, with a short-lived memory of the
//! tokens seen. An IdP sends thousands of requests a minute with one token; looking it up
//! each time was a database round trip per request. A token is remembered for
//! `REMEMBER_MS`; revoking a token or changing or deleting its connection forgets every
//! remembered token of this process at once, so only another replica may accept a revoked
//! token, and for at most that long.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sea_orm::QueryTrait;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr};

use super::Service;
use super::principal::{AppPrincipal, token_from_header};
use super::secrets::hash_secret;
use super::write::Chore;
use crate::domain::ip_allowlist::AddressList;
use crate::error::{Error, Result};

/// How long a looked-up token is trusted without looking again.
pub const REMEMBER_MS: i64 = 5_000;

/// How often a SCIM token's `last used` is written.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// Tokens remembered at most (a deployment has a handful; this bounds a flood of invalid
/// ones, which are never remembered anyway).
const MAX_REMEMBERED: usize = 256;

/// The tokens this process looked up lately, by the hash of their secret.
#[derive(Default)]
pub(crate) struct RememberedTokens {
    entries: Mutex<HashMap<String, Remembered>>,
}

#[derive(Clone)]
struct Remembered {
    caller: ScimCaller,
    until_ms: i64,
}

/// A SCIM client as its token identifies it.
#[derive(Clone)]
pub(crate) struct ScimCaller {
    pub principal: AppPrincipal,
    pub connection: entity::connection::Model,
    /// The connection's SCIM allowlist, parsed once per look-up (`None`: any address).
    pub allowlist: Option<Arc<AddressList>>,
}

impl RememberedTokens {
    fn get(&self, hash: &str, now: i64) -> Option<Remembered> {
        let entries = self.entries.lock().ok()?;
        entries.get(hash).filter(|r| r.until_ms > now).cloned()
    }

    fn put(&self, hash: String, remembered: Remembered, now: i64) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_REMEMBERED {
                entries.retain(|_, r| r.until_ms > now);
            }
            if entries.len() < MAX_REMEMBERED {
                entries.insert(hash, remembered);
            }
        }
    }

    /// Forgets every token: a token was revoked or a connection changed.
    pub fn forget_all(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

impl Service {
    /// Resolves a SCIM `Authorization: Bearer <secret>` to its connection (loaded with the
    /// token, in one query, unless remembered), or 401. SCIM tokens live in their own table:
    /// a REST token never opens SCIM and a SCIM token never opens REST.
    pub async fn authenticate_scim(
        &self,
        header: &str,
    ) -> Result<(AppPrincipal, entity::connection::Model)> {
        self.authenticate_scim_caller(header)
            .await
            .map(|c| (c.principal, c.connection))
    }

    /// `authenticate_scim`, with the connection's SCIM allowlist.
    pub(crate) async fn authenticate_scim_caller(&self, header: &str) -> Result<ScimCaller> {
        let secret = token_from_header(header);
        if secret.is_empty() {
            return Err(Error::Unauthorized("missing SCIM bearer token".into()));
        }
        let hash = hash_secret(secret);
        let now = self.now_ms();
        if let Some(r) = self.remembered_scim_tokens().get(&hash, now) {
            return Ok(r.caller);
        }
        let invalid = || Error::Unauthorized("invalid or revoked SCIM bearer token".into());
        let (token, connection) = entity::scim_token::Entity::find()
            .join(
                sea_orm::JoinType::InnerJoin,
                entity::scim_token::Entity::belongs_to(entity::connection::Entity)
                    .from(entity::scim_token::Column::ConnectionId)
                    .to(entity::connection::Column::Id)
                    .into(),
            )
            .filter(entity::scim_token::Column::SecretHash.eq(hash.clone()))
            .select_also(entity::connection::Entity)
            .one(self.db())
            .await?
            .filter(|(t, _)| t.revoked_at.is_none())
            .ok_or_else(invalid)?;
        let connection = connection.ok_or_else(invalid)?;
        if token
            .last_used
            .is_none_or(|t| now - t >= LAST_USED_RESOLUTION_MS)
        {
            let write = entity::scim_token::Entity::update_many()
                .col_expr(entity::scim_token::Column::LastUsed, Expr::value(now))
                .filter(entity::scim_token::Column::Id.eq(token.id.clone()))
                .build(self.db().get_database_backend());
            self.housekeep_later(Chore::CredentialUsed, write);
        }
        let caller = ScimCaller {
            principal: AppPrincipal::scim(&connection),
            allowlist: super::ip_allowlist::scim_addresses(&connection)?.map(Arc::new),
            connection,
        };
        self.remembered_scim_tokens().put(
            hash,
            Remembered {
                caller: caller.clone(),
                until_ms: now + REMEMBER_MS,
            },
            now,
        );
        Ok(caller)
    }
}
