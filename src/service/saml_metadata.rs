//! IdP metadata fetched by URL (`saml.idpMetadataUrl`): which connections are due for a
//! fetch, and what a fetch brought. The sign-in edge fetches and reads the documents (it
//! knows SAML); this module keeps the last good one with its status on the connection.
//!
//! A fetch whose certificates differ from the last good ones is an audited change of the
//! connection (the IdP rotated its keys). A refused fetch (unreachable, not XML, another
//! entity, a redirect to a link-local address) keeps the last good metadata, shows on the
//! connection as `metadataStatus.lastError`, is counted in `/metrics`, and is audited with
//! its reason. A good fetch that changes no certificate only moves the status: housekeeping.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Statement, Value as DbValue};
use serde_json::json;

use super::connections::saml_settings;
use super::util::to_json;
use super::write::Chore;
use super::{AuditDraft, Ctx, Service};
use crate::domain::connection::{MetadataStatus, SamlSettings};
use crate::domain::policy::Resource;
use crate::error::Result;

/// A connection whose metadata is due for a fetch.
#[derive(Debug, Clone)]
pub struct MetadataSource {
    pub key: String,
    pub url: String,
    /// The entity ID the document must name: the configured one, else the one of the last
    /// good document; none before the first.
    pub entity_id: Option<String>,
}

/// A good document, read by the edge.
#[derive(Debug, Clone)]
pub struct FetchedMetadata {
    pub xml: String,
    pub entity_id: String,
    /// SHA-256 fingerprints (hex) of its signing certificates, in document order.
    pub certificates: Vec<String>,
}

/// Why a fetch was refused: a short code and what happened.
#[derive(Debug, Clone)]
pub struct MetadataRefusal {
    pub reason: &'static str,
    pub detail: String,
}

/// Connections' metadata to fetch: those never fetched, and those whose last attempt is older
/// than their refresh interval.
fn due(settings: &SamlSettings, now: i64) -> bool {
    let every = i64::from(settings.metadata_refresh_minutes()) * 60_000;
    settings
        .metadata_status
        .as_ref()
        .and_then(|s| s.last_attempt)
        .is_none_or(|at| now - at >= every)
}

impl Service {
    /// Wakes the metadata fetcher: a connection with a metadata URL was saved.
    pub fn saml_metadata_due(&self) -> &tokio::sync::Notify {
        &self.inner.metadata_due
    }

    /// The connections whose metadata should be fetched now.
    pub async fn saml_metadata_sources(&self) -> Result<Vec<MetadataSource>> {
        let now = self.now_ms();
        let mut out = Vec::new();
        for m in entity::connection::Entity::find()
            .filter(entity::connection::Column::Saml.is_not_null())
            .all(self.db())
            .await?
        {
            let Some(settings) = saml_settings(&m)? else {
                continue;
            };
            let Some(url) = settings.idp_metadata_url.clone() else {
                continue;
            };
            if due(&settings, now) {
                let pinned = settings
                    .metadata_status
                    .as_ref()
                    .and_then(|s| s.entity_id.clone());
                out.push(MetadataSource {
                    key: m.key,
                    url,
                    entity_id: settings.idp_entity_id.clone().or(pinned),
                });
            }
        }
        Ok(out)
    }

    /// Records what a fetch of `source` brought.
    pub async fn record_saml_metadata(
        &self,
        source: &MetadataSource,
        fetched: std::result::Result<FetchedMetadata, MetadataRefusal>,
    ) -> Result<()> {
        self.metrics().saml_metadata_fetched(fetched.is_ok());
        let ctx = Ctx::system();
        let mut tx = self.begin_write(&ctx).await?;
        let now = tx.now_ms();
        let Some(m) = entity::connection::Entity::find()
            .filter(entity::connection::Column::Key.eq(source.key.clone()))
            .one(tx.db())
            .await?
        else {
            return Ok(());
        };
        let Some(mut settings) = saml_settings(&m)? else {
            return Ok(());
        };
        // The settings changed while the fetch ran: the next round fetches the new URL.
        if settings.idp_metadata_url.as_deref() != Some(source.url.as_str()) {
            return Ok(());
        }
        let before = settings.metadata_status.clone().unwrap_or_default();
        let mut status = MetadataStatus {
            last_attempt: Some(now),
            ..before.clone()
        };
        let res = Resource::connection(&m.key);
        let draft = match fetched {
            Ok(doc) => {
                status.last_success = Some(now);
                status.last_error = None;
                status.last_error_at = None;
                status.entity_id = Some(doc.entity_id);
                status.certificates = doc.certificates;
                settings.fetched_metadata_xml = Some(doc.xml);
                (status.certificates != before.certificates).then(|| {
                    AuditDraft::new("connection", &m.name, "updateConnection", &res)
                        .describe(format!(
                            "the IdP metadata of {} brought new signing certificates",
                            m.key
                        ))
                        .before(Some(json!({"certificates": before.certificates})))
                        .after(Some(json!({"certificates": status.certificates})))
                        .delta(json!({"source": "idpMetadataUrl", "url": source.url}))
                })
            }
            Err(refusal) => {
                tracing::warn!(connection = %m.key, reason = refusal.reason, detail = %refusal.detail,
                    "IdP metadata refused; the last good metadata stays");
                status.last_error = Some(format!("{}: {}", refusal.reason, refusal.detail));
                status.last_error_at = Some(now);
                Some(
                    AuditDraft::new("connection", &m.name, "updateConnection", &res)
                        .describe(format!(
                            "refused the IdP metadata fetched for {}: {}",
                            m.key, refusal.reason
                        ))
                        .delta(json!({
                            "outcome": "refused",
                            "reason": refusal.reason,
                            "detail": refusal.detail,
                            "url": source.url,
                        })),
                )
            }
        };
        settings.metadata_status = Some(status);
        let column = to_json(&settings)?;
        let Some(draft) = draft else {
            // Nothing a sign-in trusts changed: the status moves as housekeeping, unless an
            // admin saved the connection meanwhile (its version moved): their settings win,
            // and the save fetches again.
            drop(tx);
            let statement = Statement::from_sql_and_values(
                self.db().get_database_backend(),
                "UPDATE connection SET saml = $1 WHERE id = $2 AND version = $3",
                [
                    DbValue::from(column),
                    DbValue::from(m.id),
                    DbValue::from(m.version),
                ],
            );
            self.housekeep(Chore::MetadataStatus, statement).await?;
            return Ok(());
        };
        let mut am: entity::connection::ActiveModel = m.into();
        am.saml = sea_orm::Set(Some(column));
        sea_orm::ActiveModelTrait::update(am, tx.db()).await?;
        tx.audit(draft);
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_due_when_never_tried_or_its_interval_has_passed() {
        let mut s = SamlSettings {
            idp_metadata_url: Some("https://idp/metadata".into()),
            metadata_refresh_minutes: Some(10),
            ..SamlSettings::default()
        };
        assert!(due(&s, 1_000_000));
        s.metadata_status = Some(MetadataStatus {
            last_attempt: Some(1_000_000),
            ..MetadataStatus::default()
        });
        assert!(!due(&s, 1_000_000 + 9 * 60_000));
        assert!(due(&s, 1_000_000 + 10 * 60_000));
    }
}
