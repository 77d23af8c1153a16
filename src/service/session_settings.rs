//! The account's session timeouts: idle and absolute, changed over REST without a restart.
//! The environment's values (`GATEHOUSE_SESSION_*`) stay the defaults; an account setting,
//! once put, replaces them.
//!
//! Every session check needs the timeouts, so each process keeps the stored setting in
//! memory: a change made here replaces the copy as it commits, and the copy is read again
//! after `REFRESH_MS`, so other replicas follow within seconds.

use poem_openapi::Object;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde::{Deserialize, Serialize};

use super::authz::authorize;
use super::sessions::SessionPolicy;
use super::{AuditDraft, Ctx, Service};
use crate::domain::policy::Resource;
use crate::domain::session::SessionTimeouts;
use crate::error::{Error, Result};

/// The `setting` row holding the account's timeouts (JSON of `StoredTimeouts`).
const TIMEOUTS_KEY: &str = "session.timeouts";

/// How long a process trusts its copy of the stored timeouts before reading them again.
pub(crate) const REFRESH_MS: i64 = 5_000;

/// The session timeouts in force, as REST shows them.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct SessionSettings {
    /// Minutes a session may go unused before it ends (1 to 10080).
    pub idle_timeout_minutes: i64,
    /// Hours after sign-in at which a session ends, used or not (1 to 720).
    pub absolute_timeout_hours: i64,
    /// `account` once the account set them, else `environment` (the
    /// `GATEHOUSE_SESSION_IDLE_MINUTES` and `GATEHOUSE_SESSION_ABSOLUTE_HOURS` defaults).
    pub source: String,
}

/// Body of `PUT /api/v2/account/session-settings`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionSettingsPut {
    /// Minutes a session may go unused before it ends: 1 to 10080 (one week), not longer than
    /// the absolute timeout.
    #[oai(validator(minimum(value = "1"), maximum(value = "10080")))]
    pub idle_timeout_minutes: i64,
    /// Hours after sign-in at which a session ends: 1 to 720 (30 days). Shortening it ends
    /// older sessions at once; lengthening it applies to sessions opened afterwards.
    #[oai(validator(minimum(value = "1"), maximum(value = "720")))]
    pub absolute_timeout_hours: i64,
    /// Recorded in the audit entry.
    pub comment: Option<String>,
}

/// The stored form of the account's timeouts; `version` grows with every change (0 in rows
/// written before it was kept), so a stale re-read never replaces a newer copy.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredTimeouts {
    idle_timeout_minutes: i64,
    absolute_timeout_hours: i64,
    #[serde(default)]
    version: i64,
}

impl From<StoredTimeouts> for SessionTimeouts {
    fn from(s: StoredTimeouts) -> Self {
        SessionTimeouts {
            idle_minutes: s.idle_timeout_minutes,
            absolute_hours: s.absolute_timeout_hours,
        }
    }
}

/// The account's stored timeouts, if it set any, and their version (0 when none).
async fn read_stored(db: &impl ConnectionTrait) -> Result<(Option<SessionTimeouts>, i64)> {
    let Some(row) = entity::setting::Entity::find_by_id(TIMEOUTS_KEY.to_owned())
        .one(db)
        .await?
    else {
        return Ok((None, 0));
    };
    let stored: StoredTimeouts = serde_json::from_str(&row.value)
        .map_err(|e| Error::internal(format!("stored session timeouts: {e}")))?;
    Ok((Some(stored.into()), stored.version))
}

/// The REST shape of the timeouts in force.
fn settings_of(stored: Option<SessionTimeouts>, default: SessionPolicy) -> SessionSettings {
    let (timeouts, source) = match stored {
        Some(t) => (t, "account"),
        None => (
            SessionTimeouts::from_ms(default.idle_ms, default.absolute_ms),
            "environment",
        ),
    };
    SessionSettings {
        idle_timeout_minutes: timeouts.idle_minutes,
        absolute_timeout_hours: timeouts.absolute_hours,
        source: source.to_owned(),
    }
}

impl Service {
    /// The session timeouts in force: the account's, else the environment's defaults.
    pub(crate) async fn session_policy(&self) -> Result<SessionPolicy> {
        let stored = self.stored_session_timeouts().await?;
        Ok(match stored {
            Some(t) => SessionPolicy {
                idle_ms: t.idle_ms(),
                absolute_ms: t.absolute_ms(),
            },
            None => self.sso_settings().session,
        })
    }

    async fn stored_session_timeouts(&self) -> Result<Option<SessionTimeouts>> {
        let db = self.db();
        self.session_timeouts()
            .get(|| self.now_ms(), || read_stored(db))
            .await
    }

    /// `GET /api/v2/account/session-settings`: any signed-in caller may read the timeouts.
    pub async fn get_session_settings(&self) -> Result<SessionSettings> {
        let stored = self.stored_session_timeouts().await?;
        Ok(settings_of(stored, self.sso_settings().session))
    }

    /// Sets the account's timeouts (audited as `updateSessionDuration` with before and after);
    /// they apply to the next request of every session.
    pub async fn set_session_settings(
        &self,
        ctx: &Ctx,
        input: SessionSettingsPut,
    ) -> Result<SessionSettings> {
        let res = Resource::acct();
        authorize(&ctx.principal, "updateSessionDuration", &res)?;
        let timeouts = SessionTimeouts {
            idle_minutes: input.idle_timeout_minutes,
            absolute_hours: input.absolute_timeout_hours,
        }
        .check()
        .map_err(|e| Error::invalid(e.to_string()))?;
        let default = self.sso_settings().session;
        let mut tx = self.begin_write(ctx).await?;
        let (stored, version) = read_stored(tx.db()).await?;
        let before = settings_of(stored, default);
        let value = serde_json::to_string(&StoredTimeouts {
            idle_timeout_minutes: timeouts.idle_minutes,
            absolute_timeout_hours: timeouts.absolute_hours,
            version: version + 1,
        })
        .map_err(Error::internal)?;
        let row = entity::setting::ActiveModel {
            key: Set(TIMEOUTS_KEY.to_owned()),
            value: Set(value),
        };
        if stored.is_some() {
            row.update(tx.db()).await?;
        } else {
            row.insert(tx.db()).await?;
        }
        let after = settings_of(Some(timeouts), default);
        tx.audit(
            AuditDraft::new("account", "account", "updateSessionDuration", &res)
                .describe(format!(
                    "set session timeouts to {} minutes idle, {} hours absolute",
                    timeouts.idle_minutes, timeouts.absolute_hours
                ))
                .before(Some(
                    serde_json::to_value(&before).map_err(Error::internal)?,
                ))
                .after(Some(serde_json::to_value(&after).map_err(Error::internal)?))
                .comment(input.comment),
        );
        tx.commit().await?;
        self.session_timeouts()
            .store(Some(timeouts), version + 1, self.now_ms());
        Ok(after)
    }
}
