//! Reading the audit log as a stream, in chain order: the pull endpoint for SIEMs that poll,
//! and the reader webhook deliveries share. Reading it writes nothing, not even an entry.

use std::time::Duration;

use poem_openapi::Object;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use std::collections::{BTreeSet, HashMap};

use super::audit::{AuditEntryRep, Recipient, rep_from_row};
use super::authz::authorize;
use super::{Ctx, Service};
use crate::domain::audit::Event;
use crate::domain::policy::Resource;
use crate::error::{Error, Result};

/// The longest a stream read waits for new entries.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// Entries per stream read at most.
pub const MAX_LIMIT: u64 = 1000;
/// How often a waiting read looks at the database anyway: another replica's commits do not
/// wake this process.
const RECHECK: Duration = Duration::from_secs(1);

/// One read of the stream.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct StreamPage {
    /// Entries after `afterSeq`, ascending seq, as `GET /api/v2/auditlog/{id}` renders them.
    pub items: Vec<AuditEntryRep>,
    /// The seq to pass as `afterSeq` next: the last item's, or `afterSeq` when there is none.
    pub last_seq: i64,
    /// The chain head's seq when the read was made.
    pub head_seq: i64,
}

impl Service {
    /// Entries after `after_seq` (at most `limit`), waiting up to `wait` for the first one.
    ///
    /// **Permission:** `viewAuditLog` on `acct`, as for reading the log.
    pub async fn audit_stream(
        &self,
        ctx: &Ctx,
        after_seq: i64,
        limit: u64,
        wait: Duration,
    ) -> Result<StreamPage> {
        authorize(&ctx.principal, "viewAuditLog", &Resource::acct())?;
        if after_seq < 0 {
            return Err(Error::invalid("afterSeq: must be 0 or more"));
        }
        let limit = limit.clamp(1, MAX_LIMIT);
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        // Subscribed before the first read, so a commit between the read and the wait wakes it.
        let mut committed = self.write_gate().committed();
        loop {
            let rows = self.entries_after(after_seq, limit).await?;
            let now = tokio::time::Instant::now();
            if !rows.is_empty() || now >= deadline {
                let head_seq = self.head_seq().await?;
                let mut items = Vec::with_capacity(rows.len());
                for row in &rows {
                    items.push(rep_from_row(row)?);
                }
                self.add_recipients(&mut items).await?;
                let last_seq = items.last().map_or(after_seq, |e| e.seq);
                return Ok(StreamPage {
                    items,
                    last_seq,
                    head_seq,
                });
            }
            let nap = RECHECK.min(deadline - now);
            if let Ok(Err(_)) = tokio::time::timeout(nap, committed.changed()).await {
                // The gate is gone (shutting down): fall back to rechecking.
                tokio::time::sleep(nap).await;
            }
        }
    }

    /// Up to `limit` stored entries after `after_seq`, ascending.
    pub(crate) async fn entries_after(
        &self,
        after_seq: i64,
        limit: u64,
    ) -> Result<Vec<entity::audit_entry::Model>> {
        Ok(entity::audit_entry::Entity::find()
            .filter(entity::audit_entry::Column::Seq.gt(after_seq))
            .order_by_asc(entity::audit_entry::Column::Seq)
            .limit(limit)
            .all(self.db())
            .await?)
    }

    /// Resolves the recipients of approval events (requested, updated, reviewed, applied), so
    /// a receiver (a mail relay, a chat bridge) can notify them.
    pub(crate) async fn add_recipients(&self, items: &mut [AuditEntryRep]) -> Result<()> {
        let notifying = [
            Event::ApprovalRequested,
            Event::ApprovalUpdated,
            Event::ApprovalReviewed,
            Event::ApprovalApplied,
        ];
        let mut resolved: HashMap<String, Vec<Recipient>> = HashMap::new();
        for item in items.iter_mut() {
            if !notifying.iter().any(|e| e.name() == item.event) {
                continue;
            }
            let Some(id) = item.approval_request_id.clone() else {
                continue;
            };
            if !resolved.contains_key(&id) {
                let recipients = self.approval_recipients(&id).await?;
                resolved.insert(id.clone(), recipients);
            }
            item.recipients = resolved.get(&id).cloned();
        }
        Ok(())
    }

    /// The active members a request names, directly or through its teams, by email.
    async fn approval_recipients(&self, request_id: &str) -> Result<Vec<Recipient>> {
        let Some(request) = entity::approval_request::Entity::find_by_id(request_id.to_owned())
            .one(self.db())
            .await?
        else {
            return Ok(Vec::new());
        };
        let mut ids: BTreeSet<String> = serde_json::from_str(&request.notify_member_ids)?;
        let team_keys: Vec<String> = serde_json::from_str(&request.notify_team_keys)?;
        if !team_keys.is_empty() {
            let teams = entity::team::Entity::find()
                .filter(entity::team::Column::Key.is_in(team_keys))
                .all(self.db())
                .await?;
            let memberships = entity::team_member::Entity::find()
                .filter(entity::team_member::Column::TeamId.is_in(teams.into_iter().map(|t| t.id)))
                .all(self.db())
                .await?;
            ids.extend(memberships.into_iter().map(|m| m.member_id));
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut members: Vec<Recipient> = entity::member::Entity::find()
            .filter(entity::member::Column::Id.is_in(ids))
            .filter(entity::member::Column::Status.eq("active"))
            .all(self.db())
            .await?
            .into_iter()
            .map(|m| Recipient {
                id: m.id,
                email: m.email,
            })
            .collect();
        members.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(members)
    }

    /// The chain head's seq (0 for an empty log).
    pub(crate) async fn head_seq(&self) -> Result<i64> {
        Ok(entity::audit_head::Entity::find_by_id(1)
            .one(self.db())
            .await?
            .map_or(0, |h| h.seq))
    }
}
