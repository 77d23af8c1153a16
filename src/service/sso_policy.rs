//! "SSO required": the account setting that makes SSO the only way in for non-owner members,
//! and the per-connection `ssoRequired` that forbids API-token creation by its members.
//!
//! Decision: with the account setting on, personal API tokens of non-owner members stop
//! working at once (401) and cannot be created (403); service tokens and the owner's tokens
//! keep working, so automation and break-glass access survive an IdP outage.

use poem_openapi::Object;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;

use super::authz::authorize;
use super::{AuditDraft, Ctx, Service, member_rows};
use crate::domain::policy::Resource;
use crate::error::{Error, Result};

/// The `setting` row holding the account-wide switch.
const SSO_ONLY_KEY: &str = "sso.required";

/// The account's SSO policy as REST shows it.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct SsoPolicy {
    /// When true, non-owner members can only get in through SSO: their personal API tokens
    /// stop working and cannot be created.
    pub sso_required: bool,
}

/// Body of `PUT /api/v2/account/sso`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct SsoPolicyPut {
    pub sso_required: bool,
    pub comment: Option<String>,
}

impl Service {
    /// Whether the account requires SSO for non-owner members.
    pub async fn sso_only(&self) -> Result<bool> {
        Ok(entity::setting::Entity::find_by_id(SSO_ONLY_KEY.to_owned())
            .one(self.db())
            .await?
            .is_some_and(|s| s.value == "true"))
    }

    /// The account's SSO policy; any authenticated caller may read it.
    pub async fn get_sso_policy(&self) -> Result<SsoPolicy> {
        Ok(SsoPolicy {
            sso_required: self.sso_only().await?,
        })
    }

    /// Turns the account's SSO requirement on or off (audited as `updateSamlRequireSso`).
    pub async fn set_sso_policy(&self, ctx: &Ctx, input: SsoPolicyPut) -> Result<SsoPolicy> {
        let res = Resource::acct();
        authorize(&ctx.principal, "updateSamlRequireSso", &res)?;
        let mut tx = self.begin_write(ctx).await?;
        let existing = entity::setting::Entity::find_by_id(SSO_ONLY_KEY.to_owned())
            .one(tx.db())
            .await?;
        let before = existing.as_ref().is_some_and(|s| s.value == "true");
        let value = if input.sso_required { "true" } else { "false" };
        match existing {
            Some(row) => {
                let mut am: entity::setting::ActiveModel = row.into();
                am.value = Set(value.to_owned());
                am.update(tx.db()).await?;
            }
            None => {
                entity::setting::ActiveModel {
                    key: Set(SSO_ONLY_KEY.to_owned()),
                    value: Set(value.to_owned()),
                }
                .insert(tx.db())
                .await?;
            }
        }
        tx.audit(
            AuditDraft::new("account", "account", "updateSamlRequireSso", &res)
                .describe(format!(
                    "{} SSO as the only sign-in for non-owner members",
                    if input.sso_required {
                        "required"
                    } else {
                        "stopped requiring"
                    }
                ))
                .before(Some(serde_json::json!({ "ssoRequired": before })))
                .after(Some(
                    serde_json::json!({ "ssoRequired": input.sso_required }),
                ))
                .comment(input.comment),
        );
        tx.commit().await?;
        Ok(SsoPolicy {
            sso_required: input.sso_required,
        })
    }

    /// Refuses personal-token creation for a member who must sign in through SSO: members of
    /// a connection with `ssoRequired`, and every non-owner member when the account requires SSO.
    pub(crate) async fn check_token_creation_allowed(&self, member_id: &str) -> Result<()> {
        let member = member_rows::find(self.db(), member_id).await?;
        if member.role == "owner" {
            return Ok(());
        }
        if self.sso_only().await? {
            return Err(Error::forbidden(
                "this account requires sign-in through SSO; members cannot create API tokens",
            ));
        }
        if let Some(key) = &member.connection_key {
            let required = entity::connection::Entity::find()
                .filter(entity::connection::Column::Key.eq(key.clone()))
                .one(self.db())
                .await?
                .is_some_and(|c| c.sso_required);
            if required {
                return Err(Error::forbidden(format!(
                    "connection {key} requires SSO; its members cannot create API tokens"
                )));
            }
        }
        Ok(())
    }
}
