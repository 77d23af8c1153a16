//! Housekeeping: the writes that are not changes to the governance domain and so carry no
//! audit entry. Every other write goes through [`super::WriteTx`].
//!
//! Why no entry: they record use or protocol state, not who may do what. A session's
//! last-seen time and a credential's last use are read back only to expire or show them; the
//! sign-in state in flight (a SAML request id, an OIDC state, and their expiry) lives for
//! minutes and is consumed by the sign-in, whose outcome (a session opened, or a refusal) is
//! audited by that sign-in's own transaction. A webhook's delivery state (its lease, its
//! cursor as deliveries succeed, its retry schedule, the record of recent attempts) says how
//! far a receiver got, not who may do what; moving a cursor by hand is an audited change.
//! When IdP metadata was last fetched says when trust was last checked, not what is
//! trusted: a fetch that changes the certificates, or is refused, is audited.
//!
//! How they relate to the gate: they do not pass it. Each is one autocommitted statement on
//! the pool, so it never joins, delays or fails a batch of audited changes; on SQLite it
//! waits for the write lock like any connection (busy timeout) and holds it for its one
//! statement only.

use sea_orm::{ConnectionTrait, Statement};

use crate::error::Result;
use crate::service::Service;

/// Which housekeeping a write is: named, so that every unaudited write says why it is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chore {
    /// A session's last-seen time, for the idle timeout (a minute's resolution).
    SessionSeen,
    /// A token's last use, shown to admins (a minute's resolution, off the request's path).
    CredentialUsed,
    /// Sign-in state in flight: a SAML request id, an OIDC state, and dropping expired ones.
    SignInState,
    /// Which replica delivers a webhook, until when.
    WebhookLease,
    /// A webhook's cursor after a delivery, and its retry schedule after a failure.
    WebhookCursor,
    /// The record of a webhook's recent delivery attempts.
    WebhookDelivery,
    /// When a connection's IdP metadata was last fetched, after a fetch that changed no
    /// certificate (a change of certificates, or a refused fetch, is audited).
    MetadataStatus,
}

impl Chore {
    fn as_str(self) -> &'static str {
        match self {
            Chore::SessionSeen => "session_seen",
            Chore::CredentialUsed => "credential_used",
            Chore::SignInState => "sign_in_state",
            Chore::WebhookLease => "webhook_lease",
            Chore::WebhookCursor => "webhook_cursor",
            Chore::WebhookDelivery => "webhook_delivery",
            Chore::MetadataStatus => "metadata_status",
        }
    }
}

impl Service {
    /// Runs one housekeeping statement; returns the rows it touched.
    pub(crate) async fn housekeep(&self, chore: Chore, statement: Statement) -> Result<u64> {
        let done = self.db().execute_raw(statement).await?;
        tracing::trace!(
            chore = chore.as_str(),
            rows = done.rows_affected(),
            "housekeeping"
        );
        Ok(done.rows_affected())
    }

    /// Runs one housekeeping statement off the request's path: a request must never wait for
    /// SQLite's write lock just to be authenticated. A lost write only leaves the recorded
    /// time older.
    pub(crate) fn housekeep_later(&self, chore: Chore, statement: Statement) {
        let service = self.clone();
        tokio::spawn(async move {
            if let Err(error) = service.housekeep(chore, statement).await {
                tracing::debug!(%error, chore = chore.as_str(), "housekeeping write failed");
            }
        });
    }
}
