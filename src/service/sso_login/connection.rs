//! The connection as sign-in sees it: the SSO edge gets its parsed SAML and OIDC settings
//! from `Service::sign_in_connection`, never the stored row, and hands the same value back to
//! the sign-in commands, which read what completing a sign-in needs from it.

use crate::domain::connection::{OidcSettings, SamlSettings};
use crate::domain::mapping::MappingRule;
use crate::domain::policy::BaseRole;
use crate::error::{Error, Result};
use crate::service::Service;
use crate::service::connections::{self, mapping_rules, oidc_settings, saml_settings};
use crate::service::principal::AppPrincipal;

/// A connection a person signs in through. A stored SAML or OIDC document that does not
/// parse counts as absent: that protocol is not configured.
#[derive(Clone)]
pub struct SignInConnection {
    pub id: String,
    pub key: String,
    /// SAML settings, with the SP private key: for the SSO edge only, never shown.
    pub saml: Option<SamlSettings>,
    /// OIDC settings, with the client secret: for the SSO edge only, never shown.
    pub oidc: Option<OidcSettings>,
    /// The connection acting on the member at sign-in.
    pub(super) principal: AppPrincipal,
    /// Whether an unknown person becomes a member at first sign-in.
    pub(super) jit: bool,
    /// The base role of members it creates (never the owner).
    pub(super) default_role: BaseRole,
    /// The mapping rules, or the internal error reading them: unreadable rules fail the
    /// sign-in that needs them, not the metadata or login pages.
    rules: std::result::Result<Vec<MappingRule>, String>,
}

impl SignInConnection {
    fn from_row(m: &entity::connection::Model) -> SignInConnection {
        SignInConnection {
            id: m.id.clone(),
            key: m.key.clone(),
            saml: readable(&m.key, "SAML", saml_settings(m)),
            oidc: readable(&m.key, "OIDC", oidc_settings(m)),
            principal: AppPrincipal::sso(m),
            jit: m.jit,
            default_role: BaseRole::parse(&m.default_role)
                .filter(|r| *r != BaseRole::Owner)
                .unwrap_or(BaseRole::Reader),
            rules: mapping_rules(m).map_err(|e| match e {
                Error::Internal(detail) => detail,
                other => other.to_string(),
            }),
        }
    }

    /// The connection's mapping rules.
    pub(super) fn rules(&self) -> Result<&[MappingRule]> {
        self.rules
            .as_deref()
            .map_err(|detail| Error::Internal(detail.clone()))
    }
}

/// Settings that parsed; unreadable ones are logged and count as absent.
fn readable<T>(key: &str, protocol: &str, parsed: Result<Option<T>>) -> Option<T> {
    parsed.unwrap_or_else(|e| {
        tracing::warn!(connection = %key, error = %e, "stored {protocol} settings are unreadable");
        None
    })
}

impl Service {
    /// The connection with this key as sign-in uses it, or 404.
    pub async fn sign_in_connection(&self, key: &str) -> Result<SignInConnection> {
        let row = connections::find(self.db(), key).await?;
        Ok(SignInConnection::from_row(&row))
    }
}

/// One way to sign in, as the console's sign-in page lists it: public, so nothing secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInChoice {
    pub key: String,
    pub name: String,
    /// `saml` or `oidc`.
    pub protocol: &'static str,
}

impl Service {
    /// Every configured SAML or OIDC sign-in, by connection name (a connection with both
    /// offers both).
    pub async fn sign_in_choices(&self) -> Result<Vec<SignInChoice>> {
        use sea_orm::{EntityTrait, QueryOrder};
        let rows = entity::connection::Entity::find()
            .order_by_asc(entity::connection::Column::Name)
            .all(self.db())
            .await?;
        let mut choices = Vec::new();
        for m in &rows {
            let c = SignInConnection::from_row(m);
            for (protocol, present) in [("saml", c.saml.is_some()), ("oidc", c.oidc.is_some())] {
                if present {
                    choices.push(SignInChoice {
                        key: m.key.clone(),
                        name: m.name.clone(),
                        protocol,
                    });
                }
            }
        }
        Ok(choices)
    }
}
