//! The commands and queries of the governance domain: every command runs authorize -> change
//! -> audit in one database transaction. The edges (REST in `api`, SCIM in `scim`, sign-in in
//! `sso`, and the CLI) call these and nothing below them; this layer knows no HTTP.
//!
//! Layout, lowest first (nothing imports a group listed after its own, and no file imports
//! back into a file that imports it):
//! - `write`: the one write path (`WriteTx`, the group-commit gate), and `write::Chore`, the
//!   only writes without an audit entry, each named with why;
//! - shared pieces the commands use: `util`, `documented` (request values documented exactly
//!   and parsed by the domain), `secrets` (tokens, hashes, comparison),
//!   `principal` (who is asking, and their `AccessPolicy`), `authz`, `member_rows`,
//!   `credentials` (revoking a member's tokens and sessions), `team_members`, `chain_scan`,
//!   `approval_settings` and `approval_gate` (which changes need an approved request);
//! - the commands, one module per area, each adding its methods to `Service`: a handler
//!   calling `service.create_team(..)` finds it in `teams`, `service.scim_create_user(..)` in
//!   `scim::users`; a command's name says its area. One area may use another's steps only
//!   downward: `approvals` applies changes through `flags` and `variables`, never back.
//!
//! Where a service type is itself the REST shape (a poem-openapi `Object`), it stays one type
//! rather than a copy at the edge.

pub mod access;
pub mod account;
pub(crate) mod approval_gate;
pub mod approval_settings;
pub mod approvals;
pub mod audit;
pub mod audit_stream;
pub mod authz;
pub mod bootstrap;
mod chain_scan;
pub mod connection_health;
pub mod connection_shapes;
pub mod connections;
pub(crate) mod credentials;
pub mod documented;
pub mod environments;
pub mod flags;
pub mod idp_logout;
pub mod ip_allowlist;
pub(crate) mod member_rows;
pub mod members;
pub mod metrics;
pub mod paging;
pub mod principal;
pub mod projects;
mod provisioning;
mod readiness;
pub(crate) mod refreshed;
pub mod roles;
pub mod saml_metadata;
pub mod scim;
mod scim_tokens;
pub mod secrets;
pub mod session_admin;
pub mod session_settings;
pub mod sessions;
pub mod spelled;
pub mod sso_login;
pub mod sso_policy;
pub mod team_members;
pub mod teams;
pub mod tokens;
mod util;
pub mod variables;
pub mod webhooks;
pub mod write;

use std::sync::Arc;

use sea_orm::{DatabaseBackend, DatabaseConnection};

use crate::clock::Clock;
use crate::domain::audit::CheckpointSigner;
use crate::domain::policy::{BaseRole, CompiledRole};
use crate::error::Error;

pub use principal::{AppPrincipal, Ctx, Principal};
pub use write::{AuditDraft, WriteTx};

/// Everything a command needs: the database, the clock, the checkpoint key and the metrics.
/// Cheap to clone; one per process.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    /// Writes run one at a time (SQLite has one writer; every change appends to the one
    /// audit chain). Writers queue here, and consecutive writers share one transaction
    /// (group commit, see `write::gate`); across processes the database's lock (SQLite's
    /// write lock, PostgreSQL's lock on the audit head row) orders the batches.
    write_gate: Arc<write::WriteGate>,
    signer: CheckpointSigner,
    metrics: Arc<metrics::Metrics>,
    /// Base roles compiled once; the writer's own-token statement needs the member's id, so
    /// a writer acting as a member gets its own compilation.
    base_roles: Vec<(BaseRole, Arc<CompiledRole>)>,
    role_cache: access::RoleCache,
    readiness: Arc<readiness::Readiness>,
    /// SCIM tokens looked up lately.
    scim_tokens: scim_tokens::RememberedTokens,
    /// Public URL and session lifetimes of the SSO edge, set once at start-up.
    sso: std::sync::RwLock<sessions::SsoSettings>,
    /// The account's session timeouts, as this process last read them.
    session_timeouts: refreshed::Refreshed<Option<crate::domain::session::SessionTimeouts>>,
    webhooks: webhooks::WebhookSettings,
    outbox: webhooks::delivery::Outbox,
    /// The account's IP allowlist, as this process last read or wrote it.
    ip_allowlist:
        refreshed::Refreshed<std::sync::Arc<crate::domain::ip_allowlist::AccountAllowlist>>,
    /// Wakes the SAML metadata fetcher when a connection with a metadata URL is saved.
    metadata_due: tokio::sync::Notify,
}

impl Service {
    /// Builds the service over a migrated database, loading (or creating, once) the audit
    /// checkpoint key.
    pub async fn new(db: DatabaseConnection, clock: Arc<dyn Clock>) -> crate::error::Result<Self> {
        let metrics = Arc::new(metrics::Metrics::default());
        if db.get_database_backend() == DatabaseBackend::Sqlite {
            crate::db::spawn_wal_checkpointer(db.clone());
            crate::db::spawn_planner_statistics(db.clone());
        }
        let write_gate = write::WriteGate::start(metrics.clone());
        let readiness = readiness::Readiness::start(db.clone()).await;
        let placeholder = CheckpointSigner::from_seed([0u8; 32]);
        let mut base_roles = Vec::new();
        for role in BaseRole::ALL {
            let compiled = role
                .compile("")
                .map_err(|e| Error::internal(format!("base role {}: {e}", role.as_str())))?;
            base_roles.push((role, Arc::new(compiled)));
        }
        let webhook_settings = webhooks::WebhookSettings::default();
        let outbox = webhooks::delivery::Outbox::new(webhook_settings.allow_link_local.clone());
        let mut service = Service {
            inner: Arc::new(Inner {
                db,
                clock,
                write_gate,
                signer: placeholder,
                metrics,
                role_cache: access::RoleCache::default(),
                scim_tokens: scim_tokens::RememberedTokens::default(),
                readiness,
                base_roles,
                sso: std::sync::RwLock::new(sessions::SsoSettings::default()),
                session_timeouts: refreshed::Refreshed::new(session_settings::REFRESH_MS),
                webhooks: webhook_settings,
                outbox,
                ip_allowlist: refreshed::Refreshed::new(ip_allowlist::REFRESH_MS),
                metadata_due: tokio::sync::Notify::new(),
            }),
        };
        let seed = audit::load_or_create_checkpoint_seed(&service).await?;
        if let Some(inner) = Arc::get_mut(&mut service.inner) {
            inner.signer = CheckpointSigner::from_seed(seed);
        }
        service.ensure_preset_roles().await?;
        Ok(service)
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    /// The public base URL (`GATEHOUSE_PUBLIC_URL`), without a trailing slash: the base of SCIM
    /// `meta.location`, SAML entity IDs and ACS URLs, and OIDC redirect URIs.
    pub fn public_url(&self) -> String {
        self.sso_settings().public_url
    }

    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    pub fn metrics(&self) -> &Arc<metrics::Metrics> {
        &self.inner.metrics
    }

    pub(crate) fn signer(&self) -> &CheckpointSigner {
        &self.inner.signer
    }

    /// The compiled policy of a base role, for the member it acts as (if any).
    pub(crate) fn base_role_policy(
        &self,
        role: BaseRole,
        member_id: Option<&str>,
    ) -> crate::error::Result<Arc<CompiledRole>> {
        if let (BaseRole::Writer, Some(id)) = (role, member_id) {
            let compiled = role
                .compile(id)
                .map_err(|e| Error::internal(format!("base role writer: {e}")))?;
            return Ok(Arc::new(compiled));
        }
        self.inner
            .base_roles
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, c)| c.clone())
            .ok_or_else(|| Error::internal(format!("base role {} is not compiled", role.as_str())))
    }

    /// Sets the public URL and session lifetimes (start-up and tests).
    pub fn set_sso_settings(&self, settings: sessions::SsoSettings) {
        if let Ok(mut guard) = self.inner.sso.write() {
            *guard = settings;
        }
    }

    /// The SSO edge's settings.
    pub fn sso_settings(&self) -> sessions::SsoSettings {
        self.inner.sso.read().map(|g| g.clone()).unwrap_or_default()
    }

    pub(crate) fn session_timeouts(
        &self,
    ) -> &refreshed::Refreshed<Option<crate::domain::session::SessionTimeouts>> {
        &self.inner.session_timeouts
    }

    pub(crate) fn ip_allowlist_copy(
        &self,
    ) -> &refreshed::Refreshed<std::sync::Arc<crate::domain::ip_allowlist::AccountAllowlist>> {
        &self.inner.ip_allowlist
    }

    pub(crate) fn role_cache(&self) -> &access::RoleCache {
        &self.inner.role_cache
    }

    pub(crate) fn inner_readiness(&self) -> &readiness::Readiness {
        &self.inner.readiness
    }

    pub(crate) fn remembered_scim_tokens(&self) -> &scim_tokens::RememberedTokens {
        &self.inner.scim_tokens
    }

    /// How long a change waits at most for the writes queued before it (then it is refused
    /// as too busy).
    pub fn set_max_write_wait(&self, wait: std::time::Duration) {
        self.inner.write_gate.set_max_wait(wait);
    }

    pub(crate) fn webhook_settings(&self) -> &webhooks::WebhookSettings {
        &self.inner.webhooks
    }

    pub(crate) fn outbox(&self) -> &webhooks::delivery::Outbox {
        &self.inner.outbox
    }

    pub(crate) fn write_gate(&self) -> &Arc<write::WriteGate> {
        &self.inner.write_gate
    }
}
