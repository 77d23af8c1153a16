//! How a connection's SCIM provisioning is doing, for the people who look after it: when its
//! IdP last called, what it provisioned, and the refusals it met.
//!
//! Every number comes from an indexed or bounded query, so the answer costs the same for a
//! connection of ten people as for one of a hundred thousand: the tokens by connection, the
//! members and teams by `connection_key`, and only the connection's latest audit entries
//! (by actor). Refusals are read from the audit log, which records the SCIM refusals that
//! touch roles (the owner, unknown custom roles, missing role attributes); other SCIM errors
//! (bad filters, taken user names, wrong tokens) are answered to the IdP and not kept.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::audit::AuditEntryRep;
use super::authz::authorize;
use super::connections::find;
use super::{Ctx, Service};
use crate::domain::policy::Resource;
use crate::error::{Error, Result};

/// The connection's latest audit entries looked at for refusals and changes: enough for
/// days of ordinary provisioning, bounded for a flood.
pub const AUDIT_SCAN: u64 = 1_000;
/// Refusals shown, newest first.
const REFUSALS_SHOWN: usize = 10;
/// SCIM changes shown, newest first.
const CHANGES_SHOWN: usize = 5;

/// The searchable text of an audit entry is `name\ndescription\ncomment`, lower-cased; SCIM
/// writes describe themselves as `SCIM <op> by connection ...` and refusals as
/// `refused SCIM <op> of ...` (see `service::scim`).
const SCIM_CHANGE_MARK: &str = "\nscim ";
const SCIM_REFUSAL_MARK: &str = "\nrefused scim ";

/// A connection's SCIM health.
#[derive(Debug, Clone)]
pub struct ScimHealth {
    /// The latest use of any of the connection's SCIM tokens (recorded to the minute).
    pub last_request: Option<i64>,
    /// Tokens not revoked.
    pub live_tokens: u64,
    /// Members tied to the connection: provisioned over SCIM or created at sign-in.
    pub linked_members: u64,
    /// Members SCIM provisioned and has not deleted.
    pub scim_users: u64,
    /// Of those, the deactivated ones.
    pub scim_users_deactivated: u64,
    /// Teams whose name and membership the connection's IdP owns.
    pub synced_teams: u64,
    /// Memberships of those teams.
    pub synced_memberships: u64,
    /// Entries of the connection looked at (at most [`AUDIT_SCAN`]).
    pub entries_scanned: u64,
    /// Refusals among them.
    pub refusals_found: u64,
    /// The latest refusals the caller may read in the audit log, newest first.
    pub recent_refusals: Vec<AuditEntryRep>,
    /// The latest SCIM changes the caller may read in the audit log, newest first.
    pub recent_changes: Vec<AuditEntryRep>,
}

/// An audit entry of the connection, as the scan reads it: seq, id, searchable text.
type Scanned = (i64, String, String);

impl Service {
    /// The SCIM health of connection `key`: `viewConnection` on it, as reading it needs;
    /// the audit entries shown are those the caller may read in the audit log.
    pub async fn scim_health(&self, ctx: &Ctx, key: &str) -> Result<ScimHealth> {
        authorize(&ctx.principal, "viewConnection", &Resource::connection(key))?;
        let connection = find(self.db(), key).await?;
        let (last_request, live_tokens) = self.scim_token_use(&connection.id).await?;
        let (linked_members, scim_users, scim_users_deactivated) =
            self.provisioned_members(key).await?;
        let (synced_teams, synced_memberships) = self.synced_teams(key).await?;
        let scanned = self.latest_entries_of(&connection.id).await?;
        let refusals: Vec<&Scanned> = scanned
            .iter()
            .filter(|(_, _, text)| text.contains(SCIM_REFUSAL_MARK))
            .collect();
        let changes = scanned
            .iter()
            .filter(|(_, _, text)| text.contains(SCIM_CHANGE_MARK));
        Ok(ScimHealth {
            last_request,
            live_tokens,
            linked_members,
            scim_users,
            scim_users_deactivated,
            synced_teams,
            synced_memberships,
            entries_scanned: count_of(scanned.len()),
            refusals_found: count_of(refusals.len()),
            recent_refusals: self
                .readable(ctx, refusals.into_iter(), REFUSALS_SHOWN)
                .await?,
            recent_changes: self.readable(ctx, changes, CHANGES_SHOWN).await?,
        })
    }

    /// The latest use of the connection's tokens, and how many are live.
    async fn scim_token_use(&self, connection_id: &str) -> Result<(Option<i64>, u64)> {
        let tokens = entity::scim_token::Entity::find()
            .filter(entity::scim_token::Column::ConnectionId.eq(connection_id))
            .all(self.db())
            .await?;
        let last = tokens.iter().filter_map(|t| t.last_used).max();
        let live = tokens.iter().filter(|t| t.revoked_at.is_none()).count();
        Ok((last, count_of(live)))
    }

    /// Members tied to the connection, those SCIM provisioned (and did not delete), and the
    /// deactivated ones among them: one pass over the connection's rows of the index. (Sums
    /// are cast: PostgreSQL sums a bigint column as numeric.)
    async fn provisioned_members(&self, key: &str) -> Result<(u64, u64, u64)> {
        use entity::member::Column as C;
        const SCIM_KEPT: &str = "scim_attributes IS NOT NULL AND scim_deleted_at IS NULL";
        let row: Option<(i64, i64, i64)> = entity::member::Entity::find()
            .select_only()
            .column_as(Expr::cust("COUNT(*)"), "linked")
            .column_as(
                Expr::cust(format!(
                    "CAST(COALESCE(SUM(CASE WHEN {SCIM_KEPT} THEN 1 ELSE 0 END), 0) AS BIGINT)"
                )),
                "scim",
            )
            .column_as(
                Expr::cust(format!(
                    "CAST(COALESCE(SUM(CASE WHEN {SCIM_KEPT} AND status = 'deactivated' THEN 1 ELSE 0 END), 0) AS BIGINT)"
                )),
                "deactivated",
            )
            .filter(C::ConnectionKey.eq(key))
            .into_tuple()
            .one(self.db())
            .await?;
        let (linked, scim, deactivated) =
            row.ok_or_else(|| Error::internal("COUNT answered no row"))?;
        Ok((to_u64(linked), to_u64(scim), to_u64(deactivated)))
    }

    /// The teams the connection's IdP owns and their memberships (each team keeps its count).
    async fn synced_teams(&self, key: &str) -> Result<(u64, u64)> {
        use entity::team::Column as C;
        let row: Option<(i64, i64)> = entity::team::Entity::find()
            .select_only()
            .column_as(Expr::cust("COUNT(*)"), "teams")
            .column_as(
                Expr::cust("CAST(COALESCE(SUM(member_count), 0) AS BIGINT)"),
                "memberships",
            )
            .filter(C::ConnectionKey.eq(key))
            .filter(C::IdpSynced.eq(true))
            .into_tuple()
            .one(self.db())
            .await?;
        let (teams, memberships) = row.ok_or_else(|| Error::internal("COUNT answered no row"))?;
        Ok((to_u64(teams), to_u64(memberships)))
    }

    /// The connection's latest audit entries (it is their actor), newest first: their seq, id
    /// and searchable text only, read through the actor index.
    async fn latest_entries_of(&self, connection_id: &str) -> Result<Vec<Scanned>> {
        use entity::audit_entry::Column as C;
        Ok(entity::audit_entry::Entity::find()
            .filter(C::ActorId.eq(connection_id))
            .select_only()
            .column(C::Seq)
            .column(C::Id)
            .column(C::SearchText)
            .order_by_desc(C::Seq)
            .limit(AUDIT_SCAN)
            .into_tuple()
            .all(self.db())
            .await?)
    }

    /// Up to `shown` of the entries, read as the audit log shows them to the caller; those
    /// it may not read are left out.
    async fn readable<'a>(
        &self,
        ctx: &Ctx,
        entries: impl Iterator<Item = &'a Scanned>,
        shown: usize,
    ) -> Result<Vec<AuditEntryRep>> {
        let mut out = Vec::new();
        for (_, id, _) in entries {
            if out.len() >= shown {
                break;
            }
            match self.get_audit_entry(ctx, id).await {
                Ok(entry) => out.push(entry),
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

fn count_of(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marks_find_scim_changes_and_refusals_in_searchable_text() {
        let text =
            |name: &str, description: &str| format!("{name}\n{description}\n").to_lowercase();
        let change = text(
            "ann@example.com",
            "SCIM POST by connection okta: created member ann@example.com as reader",
        );
        let refusal = text(
            "dev@example.com",
            "refused SCIM POST of dev@example.com: unknown custom role \"x\"",
        );
        let sign_in = text("ann@example.com", "signed in through okta (saml)");
        assert!(change.contains(SCIM_CHANGE_MARK) && !change.contains(SCIM_REFUSAL_MARK));
        assert!(refusal.contains(SCIM_REFUSAL_MARK) && !refusal.contains(SCIM_CHANGE_MARK));
        assert!(!sign_in.contains(SCIM_CHANGE_MARK) && !sign_in.contains(SCIM_REFUSAL_MARK));
    }
}
