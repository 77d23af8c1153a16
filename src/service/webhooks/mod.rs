//! Webhooks: subscriptions that push the audit log, from a cursor, to a receiver.
//!
//! * this module: the admin commands (create, read, change, delete, move the cursor), each one
//!   audited write; the secret is shown by the create only and never enters the log;
//! * [`delivery`]: the workers that deliver, one replica per webhook at a time (a lease in
//!   the database), moving the cursor only after the receiver said 2xx.

pub mod delivery;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use poem_openapi::Object;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, ModelTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::Serialize;
use serde_json::Value;

use super::authz::authorize;
use super::documented::Documented;
use super::roles::StatementBody;
use super::spelled::{EventPattern, Matches, Name, Spelled, WebhookSecret};
use super::util::{check_version, from_json, new_id, to_json, validate_name};
use super::{AuditDraft, Ctx, Service};
use crate::domain::policy::Resource;
use crate::domain::webhook::{WebhookError, WebhookFilter, check_url};
use crate::error::{Error, Result};

/// Delivery attempts kept per webhook.
pub const KEPT_DELIVERIES: u64 = 50;

/// Deployment settings of the webhooks.
#[derive(Debug, Default)]
pub struct WebhookSettings {
    /// `GATEHOUSE_WEBHOOK_ALLOW_LINK_LOCAL`: accept 169.254.0.0/16 and fe80::/10 receivers
    /// (shared with the delivery client's resolver).
    pub allow_link_local: Arc<AtomicBool>,
}

/// A webhook as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct Webhook {
    #[oai(rename = "_id")]
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub url: String,
    /// Off pauses deliveries; turning it on again continues from the cursor.
    pub on: bool,
    /// Policy statements filtering the entries delivered (none: all).
    pub statements: Vec<Value>,
    /// Event patterns (`member.*`) filtering the entries delivered (none: all).
    pub events: Vec<String>,
    /// The last seq delivered: deliveries continue after it.
    pub cursor_seq: i64,
    /// Failed attempts in a row.
    pub failures: i32,
    /// No attempt before this time (epoch ms; backoff after failures).
    pub next_attempt_at: i64,
    pub version: i64,
    pub creation_date: i64,
}

/// The create answer: the webhook and, this once, its secret.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct CreatedWebhook {
    #[oai(flatten)]
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The HMAC key of `X-Gatehouse-Signature`; shown only in this answer.
    pub secret: String,
}

/// Body of `POST /api/v2/webhooks`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookPost {
    /// Not blank, no control characters; at most 256.
    #[oai(validator(custom = "Matches::new()", max_length = 256))]
    pub name: Spelled<Name>,
    /// `http` or `https`, no credentials; link-local addresses are refused.
    pub url: String,
    /// The signing secret (16 to 256 characters, no control characters); generated when absent.
    #[oai(validator(custom = "Matches::new()"))]
    pub secret: Option<Spelled<WebhookSecret>>,
    #[oai(default = "default_on")]
    pub on: bool,
    /// Policy statements, as in roles: entries one of whose accesses they allow are delivered.
    #[oai(default)]
    pub statements: Vec<StatementBody>,
    /// Event name patterns: an exact name, `*`, or `<noun>.*`.
    #[oai(default)]
    pub events: Vec<Spelled<EventPattern>>,
}

fn default_on() -> bool {
    true
}

/// Body of `PATCH /api/v2/webhooks/{id}`: the fields to change.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookPatch {
    /// Not blank, no control characters; at most 256.
    #[oai(validator(custom = "Matches::new()", max_length = 256))]
    pub name: Option<Spelled<Name>>,
    pub url: Option<String>,
    /// 16 to 256 characters, no control characters.
    #[oai(validator(custom = "Matches::new()"))]
    pub secret: Option<Spelled<WebhookSecret>>,
    pub on: Option<bool>,
    /// Replaces the statements; `[]` delivers everything again.
    pub statements: Option<Vec<StatementBody>>,
    /// Replaces the event patterns; `[]` delivers every event again.
    pub events: Option<Vec<Spelled<EventPattern>>>,
    /// The version the change was made against (409 when it moved).
    pub version: Option<i64>,
}

/// Body of `POST /api/v2/webhooks/{id}/cursor`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct CursorMove {
    /// Deliveries continue after this seq: lower to replay, higher to skip (at most the head).
    pub seq: i64,
}

/// One delivery attempt.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct Delivery {
    /// When the attempt started (epoch ms).
    pub date: i64,
    pub from_seq: i64,
    pub to_seq: i64,
    /// Events in the body.
    pub event_count: i32,
    /// The receiver's HTTP status, when it answered.
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<i32>,
    /// Why there is no status (timeout, connection refused, ...).
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    pub latency_ms: i64,
}

fn invalid(e: WebhookError) -> Error {
    Error::invalid(e.to_string())
}

/// The stored JSON of a list, `None` when empty (no filter).
fn list_json<T: Serialize>(items: &[T]) -> Result<Option<String>> {
    if items.is_empty() {
        Ok(None)
    } else {
        to_json(&items).map(Some)
    }
}

/// A stored list; none stored is the empty list (no filter).
fn parse_list<T: serde::de::DeserializeOwned>(text: Option<&str>) -> Result<Vec<T>> {
    text.map_or_else(|| Ok(Vec::new()), from_json)
}

fn check_secret(secret: &str) -> Result<()> {
    let n = secret.chars().count();
    if !(16..=256).contains(&n) || secret.chars().any(char::is_control) {
        return Err(Error::invalid(
            "secret: 16 to 256 characters, no control characters",
        ));
    }
    Ok(())
}

pub(crate) fn to_rep(m: &entity::webhook::Model) -> Result<Webhook> {
    Ok(Webhook {
        id: m.id.clone(),
        name: m.name.clone(),
        url: m.url.clone(),
        on: m.on,
        statements: parse_list(m.statements.as_deref())?,
        events: parse_list(m.events.as_deref())?,
        cursor_seq: m.cursor_seq,
        failures: m.failures,
        next_attempt_at: m.next_attempt_at,
        version: m.version,
        creation_date: m.created_at,
    })
}

/// What the audit log keeps of a webhook: its settings, not its cursor, its retry state, nor
/// its secret.
fn audit_snapshot(rep: &Webhook) -> Result<Value> {
    Ok(serde_json::json!({
        "_id": rep.id,
        "name": rep.name,
        "url": rep.url,
        "on": rep.on,
        "statements": rep.statements,
        "events": rep.events,
        "version": rep.version,
    }))
}

async fn find(db: &impl sea_orm::ConnectionTrait, id: &str) -> Result<entity::webhook::Model> {
    entity::webhook::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found(format!("webhook {id:?}")))
}

impl Service {
    /// Sets whether link-local receivers are accepted (start-up and tests).
    pub fn set_webhook_allow_link_local(&self, allow: bool) {
        self.webhook_settings()
            .allow_link_local
            .store(allow, Ordering::Relaxed);
    }

    fn check_webhook_url(&self, url: &str) -> Result<String> {
        let allow = self
            .webhook_settings()
            .allow_link_local
            .load(Ordering::Relaxed);
        check_url(url, allow).map_err(invalid)?;
        Ok(url.to_owned())
    }

    pub async fn create_webhook(&self, ctx: &Ctx, input: WebhookPost) -> Result<CreatedWebhook> {
        let name = validate_name("name", &input.name)?;
        let url = self.check_webhook_url(&input.url)?;
        let statements = Documented::values(&input.statements);
        let events = Spelled::texts(&input.events);
        WebhookFilter::new(&events, &statements).map_err(invalid)?;
        let secret = match input.secret {
            Some(s) => {
                check_secret(&s)?;
                s.into_text()
            }
            None => super::secrets::random_token(),
        };
        let id = new_id();
        let res = Resource::webhook(&id);
        authorize(&ctx.principal, "createWebhook", &res)?;
        let mut tx = self.begin_write(ctx).await?;
        let now = tx.now_ms();
        // Deliveries start with the entries after this change's own entry's predecessor: the
        // receiver's first event is this webhook's creation.
        let head = entity::audit_head::Entity::find_by_id(1)
            .one(tx.db())
            .await?
            .map_or(0, |h| h.seq);
        let m = entity::webhook::ActiveModel {
            id: Set(id.clone()),
            name: Set(name),
            url: Set(url),
            secret: Set(secret.clone()),
            on: Set(input.on),
            statements: Set(list_json(&statements)?),
            events: Set(list_json(&events)?),
            cursor_seq: Set(head),
            failures: Set(0),
            next_attempt_at: Set(0),
            lease_holder: Set(None),
            lease_expires_at: Set(None),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(tx.db())
        .await?;
        let rep = to_rep(&m)?;
        tx.audit(
            AuditDraft::new("webhook", &rep.name, "createWebhook", &res)
                .describe(format!("created webhook {} to {}", rep.name, rep.url))
                .after(Some(audit_snapshot(&rep)?)),
        );
        tx.commit().await?;
        Ok(CreatedWebhook {
            webhook: rep,
            secret,
        })
    }

    pub async fn list_webhooks(&self, ctx: &Ctx) -> Result<Vec<Webhook>> {
        let rows = entity::webhook::Entity::find()
            .order_by_asc(entity::webhook::Column::CreatedAt)
            .all(self.db())
            .await?;
        let mut out = Vec::new();
        for m in &rows {
            if authorize(&ctx.principal, "viewWebhook", &Resource::webhook(&m.id)).is_ok() {
                out.push(to_rep(m)?);
            }
        }
        Ok(out)
    }

    pub async fn get_webhook(&self, ctx: &Ctx, id: &str) -> Result<Webhook> {
        let m = find(self.db(), id).await?;
        authorize(&ctx.principal, "viewWebhook", &Resource::webhook(&m.id))?;
        to_rep(&m)
    }

    pub async fn update_webhook(
        &self,
        ctx: &Ctx,
        id: &str,
        patch: WebhookPatch,
    ) -> Result<Webhook> {
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), id).await?;
        check_version(patch.version, m.version, "webhook")?;
        let res = Resource::webhook(&m.id);
        let before = to_rep(&m)?;
        let mut am: entity::webhook::ActiveModel = m.clone().into();
        let mut draft = AuditDraft::new("webhook", &m.name, "updateName", &res);
        draft.accesses.clear();
        let mut step = |action: &str| -> Result<()> {
            authorize(&ctx.principal, action, &res)?;
            draft = std::mem::take(&mut draft).access(action, &res);
            Ok(())
        };
        if let Some(name) = &patch.name {
            step("updateName")?;
            am.name = Set(validate_name("name", name)?);
        }
        if let Some(url) = &patch.url {
            step("updateUrl")?;
            am.url = Set(self.check_webhook_url(url)?);
        }
        if let Some(secret) = &patch.secret {
            step("updateSecret")?;
            check_secret(secret)?;
            am.secret = Set(secret.to_string());
        }
        if let Some(on) = patch.on {
            step("updateOn")?;
            am.on = Set(on);
            // Turned on again: try at once rather than after the last backoff.
            am.next_attempt_at = Set(0);
        }
        let statements = match &patch.statements {
            Some(s) => {
                step("updateStatements")?;
                Documented::values(s)
            }
            None => before.statements.clone(),
        };
        let events = match &patch.events {
            Some(e) => {
                step("updateQuery")?;
                Spelled::texts(e)
            }
            None => before.events.clone(),
        };
        WebhookFilter::new(&events, &statements).map_err(invalid)?;
        am.statements = Set(list_json(&statements)?);
        am.events = Set(list_json(&events)?);
        if draft.accesses.is_empty() {
            // An empty patch changes nothing, as an empty merge patch does: no entry.
            authorize(&ctx.principal, "viewWebhook", &res)?;
            return Ok(before);
        }
        am.version = Set(m.version + 1);
        am.updated_at = Set(tx.now_ms());
        let updated = am.update(tx.db()).await?;
        let after = to_rep(&updated)?;
        let secret_note = if patch.secret.is_some() {
            " (new secret)"
        } else {
            ""
        };
        tx.audit(
            draft
                .describe(format!("updated webhook {}{secret_note}", after.name))
                .before(Some(audit_snapshot(&before)?))
                .after(Some(audit_snapshot(&after)?)),
        );
        tx.commit().await?;
        Ok(after)
    }

    pub async fn delete_webhook(&self, ctx: &Ctx, id: &str) -> Result<()> {
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), id).await?;
        let res = Resource::webhook(&m.id);
        authorize(&ctx.principal, "deleteWebhook", &res)?;
        let before = to_rep(&m)?;
        entity::webhook_delivery::Entity::delete_many()
            .filter(entity::webhook_delivery::Column::WebhookId.eq(m.id.clone()))
            .exec(tx.db())
            .await?;
        m.delete(tx.db()).await?;
        tx.audit(
            AuditDraft::new("webhook", &before.name, "deleteWebhook", &res)
                .describe(format!("deleted webhook {}", before.name))
                .before(Some(audit_snapshot(&before)?)),
        );
        tx.commit().await?;
        Ok(())
    }

    /// Moves the cursor (replay or skip); the retry state starts over.
    pub async fn move_webhook_cursor(
        &self,
        ctx: &Ctx,
        id: &str,
        to: CursorMove,
    ) -> Result<Webhook> {
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), id).await?;
        let res = Resource::webhook(&m.id);
        authorize(&ctx.principal, "updateWebhookCursor", &res)?;
        let head = entity::audit_head::Entity::find_by_id(1)
            .one(tx.db())
            .await?
            .map_or(0, |h| h.seq);
        if to.seq < 0 || to.seq > head {
            return Err(Error::invalid(format!(
                "seq: must be between 0 and the head of the log ({head})"
            )));
        }
        let from = m.cursor_seq;
        let mut am: entity::webhook::ActiveModel = m.clone().into();
        am.cursor_seq = Set(to.seq);
        am.failures = Set(0);
        am.next_attempt_at = Set(0);
        am.version = Set(m.version + 1);
        am.updated_at = Set(tx.now_ms());
        let updated = am.update(tx.db()).await?;
        tx.audit(
            AuditDraft::new("webhook", &m.name, "updateWebhookCursor", &res)
                .describe(format!(
                    "moved the cursor of webhook {} from {from} to {}",
                    m.name, to.seq
                ))
                .delta(serde_json::json!({"fromSeq": from, "toSeq": to.seq})),
        );
        tx.commit().await?;
        to_rep(&updated)
    }

    pub async fn list_webhook_deliveries(&self, ctx: &Ctx, id: &str) -> Result<Vec<Delivery>> {
        let m = find(self.db(), id).await?;
        authorize(&ctx.principal, "viewWebhook", &Resource::webhook(&m.id))?;
        let rows = entity::webhook_delivery::Entity::find()
            .filter(entity::webhook_delivery::Column::WebhookId.eq(m.id.clone()))
            .order_by_desc(entity::webhook_delivery::Column::At)
            .order_by_desc(entity::webhook_delivery::Column::Id)
            .limit(KEPT_DELIVERIES)
            .all(self.db())
            .await?;
        Ok(rows
            .into_iter()
            .map(|d| Delivery {
                date: d.at,
                from_seq: d.from_seq,
                to_seq: d.to_seq,
                event_count: d.event_count,
                status: d.status,
                error: d.error,
                latency_ms: d.latency_ms,
            })
            .collect())
    }
}
