//! The bootstrap token: `GATEHOUSE_BOOTSTRAP_TOKEN` makes an owner-role service token with
//! exactly that secret exist, so a fresh deployment can be driven at once.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::secrets::hash_secret;
use super::tokens::NewToken;
use super::{Ctx, Service};
use crate::domain::policy::BaseRole;
use crate::error::{Error, Result};

impl Service {
    /// Creates the token once; later starts find it and do nothing (and write no audit entry).
    pub async fn ensure_bootstrap_token(&self, secret: &str) -> Result<()> {
        let existing = entity::api_token::Entity::find()
            .filter(entity::api_token::Column::SecretHash.eq(hash_secret(secret)))
            .one(self.db())
            .await?;
        if existing.is_some() {
            return Ok(());
        }
        let created = self
            .insert_token(
                &Ctx::system(),
                NewToken {
                    name: "bootstrap".to_owned(),
                    description: None,
                    owner_id: None,
                    role: Some(BaseRole::Owner),
                    custom_roles: vec![],
                    inline_role: None,
                    expires_at: None,
                    secret: Some(secret.to_owned()),
                },
            )
            .await;
        match created {
            Ok(_) => Ok(()),
            // Another replica created it at the same moment: the unique hash decided.
            Err(Error::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `/ready`: the database answered the last probe and the schema is current.
    pub async fn readiness(&self) -> std::result::Result<(), String> {
        self.inner_readiness().check()
    }
}
